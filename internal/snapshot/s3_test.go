package snapshot

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

// versitygwPath finds the VersityGW binary that scripts/install-versitygw.sh
// installs: $SHOAL_VERSITYGW, then $SHOAL_TOOLS_DIR/bin or
// ~/.cache/shoal-tools/bin, then $PATH.
func versitygwPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SHOAL_VERSITYGW"); p != "" {
		return p
	}
	dir := os.Getenv("SHOAL_TOOLS_DIR")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "shoal-tools")
	}
	if p := filepath.Join(dir, "bin", "versitygw"); fileExists(p) {
		return p
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	t.Fatal("the S3 tests need the VersityGW server: run scripts/install-versitygw.sh (or set SHOAL_VERSITYGW to the binary)")
	return ""
}

func fileExists(p string) bool { st, err := os.Stat(p); return err == nil && !st.IsDir() }

// s3Server is a real VersityGW process serving a posix directory on loopback.
type s3Server struct {
	t    *testing.T
	bin  string
	dir  string
	addr string
	cmd  *exec.Cmd
}

const testAccess, testSecret = "shoalaccess", "shoalsecret123"

func startS3(t *testing.T) *s3Server {
	s := &s3Server{t: t, bin: versitygwPath(t), dir: t.TempDir()}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	l.Close()
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *s3Server) start() {
	s.t.Helper()
	if err := s.tryStart(); err != nil {
		s.t.Fatal(err)
	}
}

// tryStart starts the server and waits until it listens; it is safe to
// call from any goroutine.
func (s *s3Server) tryStart() error {
	cmd := exec.Command(s.bin, "--access", testAccess, "--secret", testSecret, "--port", s.addr, "posix", s.dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("cannot start versitygw: %w", err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			s.stop()
			return fmt.Errorf("versitygw did not listen on %s: %s", s.addr, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *s3Server) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
		s.cmd = nil
	}
}

func (s *s3Server) store(t *testing.T, bucket, prefix string, mut func(*S3Options)) *S3Store {
	t.Helper()
	opts := S3Options{Endpoint: s.addr, Bucket: bucket, Prefix: prefix, Region: "us-east-1",
		AccessKey: testAccess, SecretKey: testSecret, Insecure: true, PathStyle: true, RetryBase: 20 * time.Millisecond}
	if mut != nil {
		mut(&opts)
	}
	st, err := NewS3Store(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if ok, err := st.Client().BucketExists(ctx, bucket); err != nil {
		t.Fatal(err)
	} else if !ok {
		if err := st.Client().MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func TestS3StoreAgainstVersityGW(t *testing.T) {
	srv := startS3(t)
	t.Run("contract", func(t *testing.T) { storeContract(t, srv.store(t, "snaps", "shoal/prod", nil)) })
	t.Run("contract without prefix", func(t *testing.T) { storeContract(t, srv.store(t, "bare", "", nil)) })

	t.Run("multipart", func(t *testing.T) {
		ctx := context.Background()
		st := srv.store(t, "big", "p", func(o *S3Options) { o.PartSize = 5 << 20 })
		src := filepath.Join(t.TempDir(), "archive")
		data := make([]byte, 12<<20+12345) // three parts
		rand.Read(data)
		os.WriteFile(src, data, 0o644)
		name := CollectionSnapshotName("c", 1, time.Now())
		if err := PutArchive(ctx, st, "c", name, src, sum(data), false); err != nil {
			t.Fatal(err)
		}
		ds, err := ListSnapshots(ctx, st, "c")
		if err != nil || len(ds) != 1 || ds[0].Size != int64(len(data)) || ds[0].Checksum != sum(data) {
			t.Fatalf("ListSnapshots = %+v, %v", ds, err)
		}
		rc, err := st.Get(ctx, Key("c", name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || sum(got) != sum(data) {
			t.Fatalf("downloaded %d bytes (%v), differs from upload", len(got), err)
		}
		// An upload a killed writer left unfinished is never listed as an
		// object, and AbortIncompleteUploads removes it.
		core := minio.Core{Client: st.Client()}
		if _, err := core.NewMultipartUpload(ctx, "big", "p/c/killed.snapshot", minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		pending := func() int {
			n := 0
			for u := range st.Client().ListIncompleteUploads(ctx, "big", "p", true) {
				if u.Err != nil {
					t.Fatal(u.Err)
				}
				n++
			}
			return n
		}
		if n := pending(); n != 1 {
			t.Fatalf("%d incomplete uploads, want 1", n)
		}
		if ds, _ := ListSnapshots(ctx, st, "c"); len(ds) != 1 {
			t.Fatalf("incomplete upload listed: %+v", ds)
		}
		if err := st.AbortIncompleteUploads(ctx); err != nil {
			t.Fatal(err)
		}
		if n := pending(); n != 0 {
			t.Fatalf("%d incomplete uploads after abort", n)
		}
	})

	t.Run("archive round trip through S3", func(t *testing.T) {
		ctx := context.Background()
		st := srv.store(t, "roundtrip", "", nil)
		src := makeTree(t, 21)
		data, checksum := buildArchive(t, testManifest("books"), src)
		if err := st.Put(ctx, "books/x.snapshot", bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
		rc, err := st.Get(ctx, "books/x.snapshot")
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		target := filepath.Join(t.TempDir(), "books")
		if _, err := Restore(ctx, rc, target, ReadOptions{ExpectedChecksum: checksum}); err != nil {
			t.Fatal(err)
		}
		if a, b := treeDigest(t, src), treeDigest(t, target); fmt.Sprint(a) != fmt.Sprint(b) {
			t.Fatal("restored tree differs")
		}
	})

	t.Run("a failed part is retried alone", func(t *testing.T) {
		ctx := context.Background()
		ft := &failingParts{base: http.DefaultTransport.(*http.Transport).Clone(), failPart: "2", sent: map[string]int{}}
		st := srv.store(t, "parts", "", func(o *S3Options) { o.PartSize = 5 << 20; o.Transport = ft })
		data := make([]byte, 11<<20) // three parts
		rand.Read(data)
		if err := st.Put(ctx, "c/parts.snapshot", bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
		ft.mu.Lock()
		sent := fmt.Sprint(ft.sent)
		ft.mu.Unlock()
		// Part 2 failed once and went again; parts 1 and 3 went once: the
		// whole object was not uploaded twice.
		if sent != "map[1:1 2:2 3:1]" {
			t.Fatalf("part uploads %s, want map[1:1 2:2 3:1]", sent)
		}
		rc, err := st.Get(ctx, "c/parts.snapshot")
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("downloaded %d bytes (%v), differs from upload", len(got), err)
		}
	})

	t.Run("retries until the server is back", func(t *testing.T) {
		ctx := context.Background()
		st := srv.store(t, "flaky", "", func(o *S3Options) { o.MaxAttempts = 12; o.RetryBase = 50 * time.Millisecond })
		srv.stop()
		restarted := make(chan error, 1)
		go func() {
			time.Sleep(400 * time.Millisecond)
			restarted <- srv.tryStart()
		}()
		body := bytes.Repeat([]byte("z"), 1000)
		err := st.Put(ctx, "c/y.snapshot", bytes.NewReader(body), int64(len(body)))
		if rerr := <-restarted; rerr != nil {
			t.Fatal(rerr)
		}
		if err != nil {
			t.Fatalf("Put did not survive a server restart: %v", err)
		}
		if info, err := st.Stat(ctx, "c/y.snapshot"); err != nil || info.Size != 1000 {
			t.Fatalf("Stat = %+v, %v", info, err)
		}
	})

	t.Run("gives up when the server stays down", func(t *testing.T) {
		st := srv.store(t, "down", "", func(o *S3Options) { o.MaxAttempts = 3; o.RetryBase = 10 * time.Millisecond })
		srv.stop()
		defer srv.start()
		start := time.Now()
		_, err := st.Stat(context.Background(), "x")
		if err == nil {
			t.Fatal("Stat succeeded with the server down")
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("gave up after %v", time.Since(start))
		}
	})

	t.Run("scheduler ships to S3 and prunes there", func(t *testing.T) {
		local, _ := OpenDirStore(filepath.Join(t.TempDir(), "local"), "local")
		remote := srv.store(t, "sched", "nightly", nil)
		prod := &treeProducer{t: t, src: makeTree(t, 22, 100), staging: local, names: []string{"books"}}
		pol := &Policy{Name: "p", Collections: []string{"*"}, Interval: time.Hour, Retention: Retention{KeepLast: 2},
			Destinations: []Store{remote, local}, Verify: true}
		s, err := NewScheduler(SchedulerOptions{Policies: []*Policy{pol}, Producer: prod, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			res := s.RunPolicy(context.Background(), pol)
			if len(res) != 1 || len(res[0].Errors) != 0 || len(res[0].Stored) != 2 {
				t.Fatalf("run %d: %+v", i, res)
			}
			time.Sleep(1100 * time.Millisecond) // names have one-second resolution
		}
		for _, st := range []Store{remote, local} {
			if got := names(t, st, "books"); len(got) != 2 {
				t.Fatalf("%s keeps %v", st, got)
			}
		}
	})
}

// failingParts is an HTTP transport that counts multipart part uploads by
// part number and fails the first attempt of failPart before sending it.
type failingParts struct {
	base     http.RoundTripper
	failPart string

	mu     sync.Mutex
	sent   map[string]int // part number -> attempts
	failed bool
}

func (f *failingParts) RoundTrip(r *http.Request) (*http.Response, error) {
	if part := r.URL.Query().Get("partNumber"); r.Method == http.MethodPut && part != "" {
		f.mu.Lock()
		f.sent[part]++
		fail := part == f.failPart && !f.failed
		if fail {
			f.failed = true
		}
		f.mu.Unlock()
		if fail {
			if r.Body != nil {
				r.Body.Close()
			}
			return nil, errors.New("injected connection reset")
		}
	}
	return f.base.RoundTrip(r)
}
