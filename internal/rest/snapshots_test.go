package rest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/auth"
	"github.com/shoal-db/shoal/internal/snapshot"
)

// recordingSnapshots is a SnapshotManager that records each call (method,
// arguments, the caller's access) and answers with err when set. The real
// manager behind these routes is exercised end to end by the snapshot
// package's TestRESTEndpoints; this one pins the routing, the parameters
// and the envelope.
type recordingSnapshots struct {
	mu    sync.Mutex
	calls []string
	err   error
	done  chan struct{} // receives after each call, for background runs
}

func (f *recordingSnapshots) rec(ctx context.Context, format string, args ...any) error {
	f.mu.Lock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...)+fmt.Sprintf(" global=%v", auth.FromContext(ctx).Global))
	err := f.err
	f.mu.Unlock()
	select {
	case f.done <- struct{}{}:
	default:
	}
	return err
}

func (f *recordingSnapshots) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

var testDesc = snapshot.Description{Name: "c-1.snapshot", Size: 5, Checksum: "abc", CreationTime: "2026-01-02T03:04:05"}

func (f *recordingSnapshots) ListCollectionSnapshots(ctx context.Context, c string) ([]snapshot.Description, error) {
	return nil, f.rec(ctx, "list %s", c)
}
func (f *recordingSnapshots) ListShardSnapshots(ctx context.Context, c string, s int) ([]snapshot.Description, error) {
	return []snapshot.Description{testDesc}, f.rec(ctx, "list %s/%d", c, s)
}
func (f *recordingSnapshots) ListFullSnapshots(ctx context.Context) ([]snapshot.Description, error) {
	return nil, f.rec(ctx, "list full")
}
func (f *recordingSnapshots) CreateCollectionSnapshot(ctx context.Context, c string) (snapshot.Description, error) {
	return testDesc, f.rec(ctx, "create %s", c)
}
func (f *recordingSnapshots) CreateShardSnapshot(ctx context.Context, c string, s int) (snapshot.Description, error) {
	return testDesc, f.rec(ctx, "create %s/%d", c, s)
}
func (f *recordingSnapshots) CreateFullSnapshot(ctx context.Context) (snapshot.Description, error) {
	return testDesc, f.rec(ctx, "create full")
}
func (f *recordingSnapshots) DeleteCollectionSnapshot(ctx context.Context, c, n string) error {
	return f.rec(ctx, "delete %s %s", c, n)
}
func (f *recordingSnapshots) DeleteShardSnapshot(ctx context.Context, c string, s int, n string) error {
	return f.rec(ctx, "delete %s/%d %s", c, s, n)
}
func (f *recordingSnapshots) DeleteFullSnapshot(ctx context.Context, n string) error {
	return f.rec(ctx, "delete full %s", n)
}
func (f *recordingSnapshots) open(ctx context.Context, what string) (io.ReadCloser, snapshot.Description, error) {
	if err := f.rec(ctx, "%s", what); err != nil {
		return nil, snapshot.Description{}, err
	}
	return io.NopCloser(strings.NewReader("tar!!")), testDesc, nil
}
func (f *recordingSnapshots) OpenCollectionSnapshot(ctx context.Context, c, n string) (io.ReadCloser, snapshot.Description, error) {
	return f.open(ctx, "open "+c+" "+n)
}
func (f *recordingSnapshots) OpenShardSnapshot(ctx context.Context, c string, s int, n string) (io.ReadCloser, snapshot.Description, error) {
	return f.open(ctx, fmt.Sprintf("open %s/%d %s", c, s, n))
}
func (f *recordingSnapshots) OpenFullSnapshot(ctx context.Context, n string) (io.ReadCloser, snapshot.Description, error) {
	return f.open(ctx, "open full "+n)
}
func (f *recordingSnapshots) StreamShardSnapshot(ctx context.Context, c string, s int) (io.ReadCloser, snapshot.Description, error) {
	return f.open(ctx, fmt.Sprintf("stream %s/%d", c, s))
}
func (f *recordingSnapshots) CheckRecover(ctx context.Context, c string, s int, o snapshot.RecoverOptions) error {
	if !snapshot.ValidPriority(o.Priority) {
		return api.ErrBadInput("unknown snapshot priority %q", o.Priority)
	}
	return nil
}
func (f *recordingSnapshots) RecoverFromLocation(ctx context.Context, c string, s int, loc, key string, o snapshot.RecoverOptions) (*snapshot.Manifest, error) {
	return nil, f.rec(ctx, "recover %s/%d from %s key=%s priority=%s checksum=%s", c, s, loc, key, o.Priority, o.Checksum)
}
func (f *recordingSnapshots) RecoverCollection(ctx context.Context, c string, r io.Reader, o snapshot.RecoverOptions) (*snapshot.Manifest, error) {
	b, _ := io.ReadAll(r)
	return nil, f.rec(ctx, "upload %s %q priority=%s checksum=%s", c, b, o.Priority, o.Checksum)
}
func (f *recordingSnapshots) RecoverShard(ctx context.Context, c string, s int, r io.Reader, o snapshot.RecoverOptions) (*snapshot.Manifest, error) {
	b, _ := io.ReadAll(r)
	return nil, f.rec(ctx, "upload %s/%d %q", c, s, b)
}

func TestSnapshotRoutes(t *testing.T) {
	c, _ := newFaultServer(t, &faultService{}, Options{})
	c.do("GET", "/collections/c/snapshots", nil).wantError(t, http.StatusNotImplemented, "Snapshots are not available")

	f := &recordingSnapshots{done: make(chan struct{}, 1)}
	a := auth.New(auth.Options{APIKey: "k", ReadOnlyAPIKey: "ro"})
	c, _ = newFaultServer(t, &faultService{}, Options{Snapshots: f, Auth: a})
	c.do("GET", "/collections/c/snapshots", nil).wantError(t, 401, "")
	c.key = "k"

	// JSON routes: the envelope, the arguments, the access.
	r := c.do("GET", "/collections/c/snapshots", nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"result":[],"status":"ok"`) {
		t.Errorf("empty list: %d %s", r.status, r.body)
	}
	r = c.do("GET", "/collections/c/shards/3/snapshots", nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"name":"c-1.snapshot"`) {
		t.Errorf("shard list: %d %s", r.status, r.body)
	}
	spec(t).validateResponse(t, "GET", "/collections/c/shards/3/snapshots", r.status, r.header, r.body)
	r = c.do("POST", "/collections/c/snapshots", nil)
	spec(t).validateResponse(t, "POST", "/collections/c/snapshots", r.status, r.header, r.body)
	c.do("POST", "/snapshots?wait=true", nil)
	c.do("DELETE", "/collections/c/shards/0/snapshots/s1", nil)
	c.do("DELETE", "/snapshots/full-1", nil)
	c.do("GET", "/snapshots", nil)
	want := []string{
		"list c global=3", "list c/3 global=3", "create c global=3", "create full global=3",
		"delete c/0 s1 global=3", "delete full full-1 global=3", "list full global=3",
	}
	if got := f.take(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("calls\n%q\nwant\n%q", got, want)
	}

	// wait=false answers 202 accepted and runs in the background.
	for len(f.done) > 0 {
		<-f.done
	}
	r = c.do("POST", "/collections/c/shards/1/snapshots?wait=false", nil)
	if r.status != 202 || !strings.HasPrefix(string(r.body), `{"status":"accepted","time":`) {
		t.Errorf("wait=false: %d %s", r.status, r.body)
	}
	select {
	case <-f.done:
	case <-time.After(10 * time.Second):
		t.Fatal("background create never ran")
	}
	spec(t).validateResponse(t, "POST", "/collections/c/shards/1/snapshots", r.status, r.header, r.body)
	if got := f.take(); fmt.Sprint(got) != "[create c/1 global=3]" {
		t.Errorf("background calls %q", got)
	}

	// Downloads stream with the archive's headers.
	for path, call := range map[string]string{
		"/collections/c/snapshots/s1":          "open c s1",
		"/collections/c/shards/2/snapshots/s2": "open c/2 s2",
		"/snapshots/f1":                        "open full f1",
		"/collections/c/shards/2/snapshot":     "stream c/2",
	} {
		r := c.do("GET", path, nil)
		if r.status != 200 || string(r.body) != "tar!!" || r.header.Get("Content-Length") != "5" ||
			r.header.Get("X-Snapshot-Checksum") != "abc" || !strings.Contains(r.header.Get("Content-Disposition"), `"c-1.snapshot"`) {
			t.Errorf("GET %s: %d %q %v", path, r.status, r.body, r.header)
		}
		if got := f.take(); len(got) != 1 || got[0] != call+" global=3" {
			t.Errorf("GET %s called %q", path, got)
		}
	}

	// Recover from a location; the body is decoded strictly.
	r = c.do("PUT", "/collections/c/shards/1/snapshots/recover", `{"location":"http://x/s","api_key":"pk","priority":"replica","checksum":"ff"}`)
	if r.status != 200 {
		t.Errorf("recover: %d %s", r.status, r.body)
	}
	if got := f.take(); fmt.Sprint(got) != "[recover c/1 from http://x/s key=pk priority=replica checksum=ff global=3]" {
		t.Errorf("recover calls %q", got)
	}
	c.do("PUT", "/collections/c/snapshots/recover", `{}`).wantError(t, 400, "Format error in JSON body: missing field `location`")
	c.do("PUT", "/collections/c/snapshots/recover", `{"location":"x","priority":"sometimes"}`).wantError(t, 400, "unknown snapshot priority")
	c.do("PUT", "/collections/c/snapshots/recover", `{"location":"x","locaton":"y"}`).wantError(t, 400, "unknown field `locaton`")
	c.do("POST", "/collections/c/snapshots?wait=maybe", nil).wantError(t, 400, "Deserialize error in query parameters")
	c.do("GET", "/collections/c/shards/x/snapshots", nil).wantError(t, 400, "invalid shard id")

	// Upload: the "snapshot" part is streamed to the manager.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("other", "ignored")
	fw, _ := mw.CreateFormFile("snapshot", "c.snapshot")
	fw.Write([]byte("archive bytes"))
	mw.Close()
	req, _ := http.NewRequest("POST", c.base+"/collections/up/snapshots/upload?priority=snapshot&checksum=aa", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("api-key", "k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("upload: %d %s", resp.StatusCode, raw)
	}
	if got := f.take(); fmt.Sprint(got) != `[upload up "archive bytes" priority=snapshot checksum=aa global=3]` {
		t.Errorf("upload calls %q", got)
	}
	c.do("POST", "/collections/up/snapshots/upload", `{}`).wantError(t, 400, "multipart/form-data")

	// Manager errors go through the one error table.
	f.err = api.ErrNotFound("Snapshot s9 not found")
	c.do("GET", "/collections/c/snapshots/s9", nil).wantError(t, 404, "Not found: Snapshot s9 not found")
	c.do("DELETE", "/collections/c/snapshots/s9", nil).wantError(t, 404, "Not found: Snapshot s9 not found")
	f.err = context.DeadlineExceeded
	c.do("POST", "/snapshots", nil).wantError(t, 408, "Timeout: Operation timed out")
	f.err = api.ErrChecksumMismatch("a", "b")
	c.do("PUT", "/collections/c/snapshots/recover", `{"location":"x"}`).wantError(t, 400, "Checksum mismatch")
}
