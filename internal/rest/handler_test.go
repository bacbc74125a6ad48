package rest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/auth"
	"github.com/shoal-db/shoal/internal/service"
)

// faultService injects failures the real service cannot be made to produce
// on demand: an arbitrary error, a panic, a call that blocks until its
// context ends. Methods it does not override panic (nil embedded
// interface), which the handler must also survive.
type faultService struct {
	service.API
	err     error
	panicky bool
	block   bool
	many    int // extra collections ListCollections returns
	// lastCtx records the deadline the handler gave the service.
	mu       sync.Mutex
	deadline time.Time
}

func (f *faultService) ListCollections(ctx context.Context) ([]api.CollectionDescription, error) {
	if d, ok := ctx.Deadline(); ok {
		f.mu.Lock()
		f.deadline = d
		f.mu.Unlock()
	}
	if f.panicky {
		panic("injected panic")
	}
	if f.block {
		<-ctx.Done()
		return nil, fmt.Errorf("cannot list collections: %w", ctx.Err())
	}
	if f.err != nil {
		return nil, f.err
	}
	out := []api.CollectionDescription{{Name: "a"}}
	for i := range f.many {
		out = append(out, api.CollectionDescription{Name: fmt.Sprintf("collection-%d", i)})
	}
	return out, nil
}

func (f *faultService) CollectionInfo(ctx context.Context, name string) (*api.CollectionInfo, error) {
	if name != "a" {
		return nil, api.ErrCollectionNotFound(name)
	}
	return &api.CollectionInfo{
		Status: api.StatusGreen, OptimizerStatus: "ok", SegmentsCount: 1,
		Config: api.CollectionConfig{
			Params:          api.CollectionParams{Vectors: api.VectorsConfig{"": {Size: 2, Distance: api.DistanceDot}}, ShardNumber: 2, ReplicationFactor: 1, WriteConsistencyFactor: 1},
			HnswConfig:      api.DefaultHnswConfig(),
			OptimizerConfig: api.DefaultOptimizersConfig(),
			WalConfig:       api.DefaultWalConfig(),
		},
		PayloadSchema: map[string]api.PayloadIndexInfo{},
	}, nil
}

// The cluster methods answer as a standalone service does.
func (f *faultService) ClusterStatus(context.Context) (any, error) {
	return map[string]string{"status": "disabled"}, nil
}
func (f *faultService) RemovePeer(context.Context, uint64, bool) error { return api.ErrStandalone }
func (f *faultService) RecoverPeer(context.Context) error              { return api.ErrStandalone }

func (f *faultService) Telemetry(ctx context.Context) (*service.Telemetry, error) {
	return &service.Telemetry{Collections: []service.CollectionTelemetry{{Name: "a", Status: api.StatusGreen, Shards: 2, Points: 10}}}, nil
}

// errorBody is Qdrant's ErrorResponse.
type errorBody struct {
	Status struct {
		Error string `json:"error"`
	} `json:"status"`
	Time   *float64 `json:"time"`
	Result any      `json:"result"`
}

type testClient struct {
	t    testing.TB
	base string
	key  string
	h    *Handler
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (c *testClient) do(method, path string, body any) response {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		js, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.key != "" {
		req.Header.Set("api-key", c.key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// wantError checks status and that the body is an ErrorResponse whose text
// contains want.
func (r response) wantError(t testing.TB, status int, want string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status %d, want %d; body %s", r.status, status, r.body)
		return
	}
	var e errorBody
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Errorf("error body is not JSON: %v: %s", err, r.body)
		return
	}
	if e.Time == nil || e.Status.Error == "" {
		t.Errorf("error body lacks status.error or time: %s", r.body)
	}
	if !strings.Contains(e.Status.Error, want) {
		t.Errorf("error %q does not contain %q", e.Status.Error, want)
	}
	spec(t).validateSchema(t, "ErrorResponse", r.body)
}

func newFaultServer(t *testing.T, f *faultService, opts Options) (*testClient, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	opts.Service = f
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := New(opts)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &testClient{t: t, base: srv.URL, h: h}, logs
}

// logBuffer collects log output from concurrent handlers.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(b)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func TestErrorTable(t *testing.T) {
	cases := []struct {
		kind   api.Kind
		status int
	}{
		{api.KindInternal, 500},
		{api.KindBadInput, 400},
		{api.KindBadRequest, 400},
		{api.KindNotFound, 404},
		{api.KindAlreadyExists, 409},
		{api.KindForbidden, 403},
		{api.KindUnauthorized, 401},
		{api.KindTimeout, 408},
		{api.KindChecksumMismatch, 400},
		{api.KindUnavailable, 503},
		{api.KindStandalone, 405},
		{api.KindTooLarge, 413},
		{api.KindRateLimited, 429},
		{api.KindInsufficientStorage, 507},
		{api.KindCanceled, 499},
		{api.KindValidation, 422},
	}
	f := &faultService{}
	c, _ := newFaultServer(t, f, Options{})
	for _, tc := range cases {
		msg := fmt.Sprintf("message for kind %d", tc.kind)
		// Wrapped, as the service wraps its errors with context.
		f.err = fmt.Errorf("cannot list collections: %w", &api.Error{Kind: tc.kind, Message: msg})
		c.do("GET", "/collections", nil).wantError(t, tc.status, msg)
	}
	// A plain error is an internal error with Qdrant's prefix.
	f.err = errors.New("disk on fire")
	c.do("GET", "/collections", nil).wantError(t, 500, "Service internal error: disk on fire")
	// Bare context errors go through api.ContextError, as on gRPC.
	f.err = fmt.Errorf("cannot list collections: %w", context.DeadlineExceeded)
	c.do("GET", "/collections", nil).wantError(t, 408, "Timeout: Operation timed out")
	f.err = fmt.Errorf("cannot list collections: %w", context.Canceled)
	c.do("GET", "/collections", nil).wantError(t, 499, "Operation cancelled")
}

func TestTimeoutParamBecomesDeadline(t *testing.T) {
	f := &faultService{block: true}
	c, _ := newFaultServer(t, f, Options{})
	start := time.Now()
	c.do("GET", "/collections?timeout=1", nil).wantError(t, http.StatusRequestTimeout, "Timeout")
	if el := time.Since(start); el < 900*time.Millisecond || el > 10*time.Second {
		t.Errorf("timeout=1 answered after %v", el)
	}
	f.block = false
	before := time.Now()
	if r := c.do("GET", "/collections?timeout=30", nil); r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	f.mu.Lock()
	d := f.deadline
	f.mu.Unlock()
	if d.Before(before.Add(29*time.Second)) || d.After(time.Now().Add(30*time.Second)) {
		t.Errorf("deadline %v is not 30 s after the request", d.Sub(before))
	}
}

func TestClientDisconnect(t *testing.T) {
	f := &faultService{block: true}
	reg := prometheus.NewRegistry()
	c, logs := newFaultServer(t, f, Options{Registerer: reg})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", c.base+"/collections", nil)
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("request did not fail")
	}
	// The handler finishes after the client is gone; wait for its log line.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "status=499") {
		if time.Now().After(deadline) {
			t.Fatalf("no 499 log line:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("client disconnect logged as an error:\n%s", logs.String())
	}
}

func TestPanicIsRecovered(t *testing.T) {
	f := &faultService{panicky: true}
	c, logs := newFaultServer(t, f, Options{})
	c.do("GET", "/collections", nil).wantError(t, 500, "injected panic")
	// An unimplemented method of the fault service panics with a nil
	// dereference: also a 500, and the server keeps serving.
	c.do("GET", "/aliases", nil).wantError(t, 500, "Service internal error")
	f.panicky = false
	if r := c.do("GET", "/collections", nil); r.status != 200 {
		t.Fatalf("server did not recover: %d %s", r.status, r.body)
	}
	if !strings.Contains(logs.String(), "panic serving request") || !strings.Contains(logs.String(), "injected panic") {
		t.Errorf("panic not logged:\n%s", logs.String())
	}
}

func TestRequestLogLine(t *testing.T) {
	c, logs := newFaultServer(t, &faultService{}, Options{})
	c.do("GET", "/collections", nil)
	line := logs.String()
	for _, want := range []string{"rest request", "method=GET", "route=/collections", "status=200", "duration="} {
		if !strings.Contains(line, want) {
			t.Errorf("log line lacks %q: %s", want, line)
		}
	}
}

func TestBodyLimit(t *testing.T) {
	c, _ := newFaultServer(t, &faultService{}, Options{MaxRequestBytes: 1000})
	big := `{"points":[{"id":1,"vector":[` + strings.Repeat("0.5,", 400) + `0.5]}]}`
	// Declared length above the limit: refused before reading.
	c.do("PUT", "/collections/c/points", big).wantError(t, http.StatusRequestEntityTooLarge, "is larger than allowed (limit: 1000 bytes)")
	// Chunked (no declared length): cut off at the limit.
	req, _ := http.NewRequest("PUT", c.base+"/collections/c/points", io.MultiReader(strings.NewReader(big)))
	req.ContentLength = -1
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	response{status: resp.StatusCode, body: b}.wantError(t, http.StatusRequestEntityTooLarge, "exceeded limit (1000 bytes)")
}

func TestGzipRequestBody(t *testing.T) {
	c, _ := newFaultServer(t, &faultService{}, Options{MaxRequestBytes: 4096})
	post := func(body []byte, enc string) response {
		req, _ := http.NewRequest("PUT", c.base+"/collections/c/points", bytes.NewReader(body))
		req.Header.Set("Content-Encoding", enc)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return response{status: resp.StatusCode, body: b}
	}
	gz := func(s string) []byte {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, _ = zw.Write([]byte(s))
		_ = zw.Close()
		return b.Bytes()
	}
	// A compressed syntax error proves the body was decompressed and
	// decoded: the position is in the decompressed text.
	post(gz("{\n\"points\": [}"), "gzip").wantError(t, 400, "Format error in JSON body: invalid character '}' looking for beginning of value at line 2 column 12")
	// A small compressed body that inflates above the limit is refused.
	post(gz(`{"points": [`+strings.Repeat(" ", 10000)+`]}`), "gzip").wantError(t, 413, "exceeded limit (4096 bytes)")
	post([]byte("not gzip"), "gzip").wantError(t, 400, "cannot decompress")
	post([]byte("{}"), "br").wantError(t, 400, "unsupported Content-Encoding")
}

func TestResponseCompression(t *testing.T) {
	get := func(c *testClient, acceptEncoding string) (*http.Response, []byte) {
		req, _ := http.NewRequest("GET", c.base+"/collections", nil)
		if acceptEncoding != "" {
			// Set explicitly, so the transport leaves the body compressed.
			req.Header.Set("Accept-Encoding", acceptEncoding)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	f := &faultService{many: 500}
	c, _ := newFaultServer(t, f, Options{})
	resp, z := get(c, "br, gzip;q=0.8")
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("large answer not gzipped: %v", resp.Header)
	}
	zr, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(plain), `"collection-499"`) || len(z) >= len(plain) {
		t.Errorf("gzip body: %d compressed, %d plain", len(z), len(plain))
	}
	spec(t).validateResponse(t, "GET", "/collections", 200, resp.Header, plain)
	// Refused, absent, or the answer is small: not compressed.
	for _, ae := range []string{"gzip;q=0", "identity", "br"} {
		if resp, b := get(c, ae); resp.Header.Get("Content-Encoding") != "" || !strings.Contains(string(b), `"collection-499"`) {
			t.Errorf("Accept-Encoding %q: compressed", ae)
		}
	}
	f.many = 0
	if resp, _ := get(c, "gzip"); resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("small answer compressed")
	}
	// Both methods round-trip.
	for _, heavy := range []bool{false, true} {
		src := []byte(strings.Repeat(`{"vector":[0.12345678,-9.876543e-05,1],"id":7}`, 200))
		var dst bytes.Buffer
		if err := c.h.gzip(&dst, src, heavy); err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(&dst)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(got, src) {
			t.Errorf("vectorHeavy=%v: gzip round trip failed: %v", heavy, err)
		}
	}
	// Compression can be turned off.
	c2, _ := newFaultServer(t, &faultService{many: 500}, Options{DisableCompression: true})
	if resp, _ := get(c2, "gzip"); resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("compressed with DisableCompression")
	}
}

func TestAuthentication(t *testing.T) {
	a := auth.New(auth.Options{APIKey: "secret", ReadOnlyAPIKey: "reader"})
	c, _ := newFaultServer(t, &faultService{}, Options{Auth: a})
	c.do("GET", "/collections", nil).wantError(t, 401, "Must provide an API key")
	c.key = "wrong"
	c.do("GET", "/collections", nil).wantError(t, 401, "Invalid API key")
	c.key = "secret"
	if r := c.do("GET", "/collections", nil); r.status != 200 {
		t.Errorf("api-key: %d %s", r.status, r.body)
	}
	// Bearer form.
	req, _ := http.NewRequest("GET", c.base+"/collections", nil)
	req.Header.Set("Authorization", "Bearer reader")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("bearer: %d", resp.StatusCode)
	}
	// Open endpoints need no key.
	c.key = ""
	for _, p := range []string{"/", "/healthz", "/livez", "/readyz"} {
		if r := c.do("GET", p, nil); r.status != 200 {
			t.Errorf("%s without key: %d %s", p, r.status, r.body)
		}
	}
	for _, p := range []string{"/metrics", "/telemetry", "/cluster"} {
		if r := c.do("GET", p, nil); r.status != 401 {
			t.Errorf("%s without key: %d, want 401", p, r.status)
		}
	}
}

func TestHealthAndRoot(t *testing.T) {
	ready := true
	var mu sync.Mutex
	c, _ := newFaultServer(t, &faultService{}, Options{Version: "0.1.0", Commit: "abc", Ready: func() bool {
		mu.Lock()
		defer mu.Unlock()
		return ready
	}})
	s := spec(t)
	for p, want := range map[string]string{"/healthz": "healthz check passed", "/livez": "healthz check passed", "/readyz": "all shards are ready"} {
		r := c.do("GET", p, nil)
		if r.status != 200 || string(r.body) != want || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
			t.Errorf("%s: %d %q %s", p, r.status, r.body, r.header.Get("Content-Type"))
		}
		s.validateResponse(t, "GET", p, r.status, r.header, r.body)
	}
	mu.Lock()
	ready = false
	mu.Unlock()
	if r := c.do("GET", "/readyz", nil); r.status != 503 || string(r.body) != "some shards are not ready" {
		t.Errorf("/readyz not ready: %d %q", r.status, r.body)
	}
	r := c.do("GET", "/", nil)
	s.validateResponse(t, "GET", "/", r.status, r.header, r.body)
	var v map[string]any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatal(err)
	}
	if v["title"] != api.QdrantTitle || v["version"] != api.QdrantVersion || v["shoal_version"] != "0.1.0" || v["commit"] != "abc" {
		t.Errorf("root: %s", r.body)
	}
	// Unknown routes get a Qdrant-shaped 404.
	c.do("GET", "/nope", nil).wantError(t, 404, "Not found")
	c.do("DELETE", "/collections/c/points", nil).wantError(t, 404, "Not found")
}

func TestCORS(t *testing.T) {
	c, _ := newFaultServer(t, &faultService{}, Options{EnableCORS: true})
	req, _ := http.NewRequest("OPTIONS", c.base+"/collections/c/points/search", nil)
	req.Header.Set("Origin", "http://example.com")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "api-key, content-type")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "http://example.com" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") ||
		resp.Header.Get("Access-Control-Allow-Headers") != "api-key, content-type" {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	// Without EnableCORS there are no CORS headers.
	c2, _ := newFaultServer(t, &faultService{}, Options{})
	req, _ = http.NewRequest("GET", c2.base+"/collections", nil)
	req.Header.Set("Origin", "http://example.com")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("CORS header without EnableCORS")
	}
}

func TestMetricsAndTelemetry(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := &faultService{}
	c, _ := newFaultServer(t, f, Options{Registerer: reg, Gatherer: reg})
	for range 3 {
		c.do("GET", "/collections", nil)
	}
	f.err = api.ErrNotFound("x")
	c.do("GET", "/collections", nil)
	r := c.do("GET", "/metrics", nil)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %s", r.status, r.header.Get("Content-Type"))
	}
	text := string(r.body)
	for _, want := range []string{
		`rest_responses_total{endpoint="/collections",method="GET",status="200"} 3`,
		`rest_responses_total{endpoint="/collections",method="GET",status="404"} 1`,
		`rest_responses_fail_total{endpoint="/collections",method="GET",status="404"} 1`,
		`rest_responses_avg_duration_seconds{endpoint="/collections",method="GET",status="200"}`,
		`rest_responses_min_duration_seconds{endpoint="/collections",method="GET",status="200"}`,
		`rest_responses_max_duration_seconds{endpoint="/collections",method="GET",status="200"}`,
		`rest_responses_duration_seconds_count{endpoint="/collections",method="GET"} 3`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(text, `rest_responses_fail_total{endpoint="/collections",method="GET",status="200"}`) {
		t.Errorf("successes counted as failures")
	}

	s := spec(t)
	for _, lvl := range []string{"", "?details_level=1", "?details_level=3"} {
		r := c.do("GET", "/telemetry"+lvl, nil)
		if r.status != 200 {
			t.Fatalf("telemetry%s: %d %s", lvl, r.status, r.body)
		}
		s.validateResponse(t, "GET", "/telemetry"+lvl, r.status, r.header, r.body)
	}
	r = c.do("GET", "/telemetry?details_level=3", nil)
	var tel struct {
		Result struct {
			Collections struct {
				Number      int `json:"number_of_collections"`
				Collections []struct {
					ID     string `json:"id"`
					Shards []any  `json:"shards"`
				} `json:"collections"`
			} `json:"collections"`
			Requests struct {
				Rest struct {
					Responses map[string]map[string]struct {
						Count uint64 `json:"count"`
					} `json:"responses"`
				} `json:"rest"`
			} `json:"requests"`
		} `json:"result"`
	}
	if err := json.Unmarshal(r.body, &tel); err != nil {
		t.Fatal(err)
	}
	if tel.Result.Collections.Number != 1 || len(tel.Result.Collections.Collections) != 1 ||
		tel.Result.Collections.Collections[0].ID != "a" || len(tel.Result.Collections.Collections[0].Shards) != 2 {
		t.Errorf("telemetry collections: %s", r.body)
	}
	if got := tel.Result.Requests.Rest.Responses["GET /collections"]["200"].Count; got != 3 {
		t.Errorf("telemetry counts %d GET /collections 200, want 3", got)
	}
	c.do("GET", "/telemetry?details_level=x", nil).wantError(t, 400, "Deserialize error in query parameters")
}

func TestClusterStandalone(t *testing.T) {
	c, _ := newFaultServer(t, &faultService{}, Options{})
	r := c.do("GET", "/cluster", nil)
	spec(t).validateResponse(t, "GET", "/cluster", r.status, r.header, r.body)
	if !strings.Contains(string(r.body), `"result":{"status":"disabled"}`) {
		t.Errorf("/cluster: %s", r.body)
	}
	c.do("POST", "/cluster/recover", nil).wantError(t, 405, "Qdrant is running in standalone mode")
	c.do("DELETE", "/cluster/peer/2", nil).wantError(t, 405, "Qdrant is running in standalone mode")
}
