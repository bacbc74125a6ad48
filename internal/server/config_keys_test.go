package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/config"
	"github.com/shoal-db/shoal/internal/service"
	"github.com/shoal-db/shoal/internal/snapshot"
)

// keyEnv is one row's world: the config loaded through the real loader
// from environment variables, and a server built from it on demand.
type keyEnv struct {
	t   *testing.T
	dir string
	cfg config.Config
	err error // Load's error
	srv *Server
}

func (e *keyEnv) loaded() {
	e.t.Helper()
	if e.err != nil {
		e.t.Fatalf("config refused: %v", e.err)
	}
}

// server starts a server from the row's config.
func (e *keyEnv) server() *Server {
	e.t.Helper()
	if e.srv == nil {
		e.loaded()
		e.srv = start(e.t, e.cfg)
	}
	return e.srv
}

func (e *keyEnv) rest() *restClient { return newREST(e.t, e.server()) }

// newCollection creates a collection without any optional setting and
// returns its config as GET /collections/{name} reports it.
func (e *keyEnv) newCollection() map[string]any {
	e.t.Helper()
	c := e.rest()
	c.ok("PUT", "/collections/k", map[string]any{"vectors": map[string]any{"size": 4, "distance": "Dot"}})
	return c.ok("GET", "/collections/k", nil)["result"].(map[string]any)["config"].(map[string]any)
}

// at returns the value at a dotted path of a decoded JSON object.
func at(m map[string]any, path string) any {
	var v any = m
	for p := range strings.SplitSeq(path, ".") {
		o, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = o[p]
	}
	return v
}

// collectionShows checks that a new collection's config has want at path.
func (e *keyEnv) collectionShows(path string, want any) {
	e.t.Helper()
	if got := at(e.newCollection(), path); fmt.Sprint(got) != fmt.Sprint(want) {
		e.t.Fatalf("new collection's %s = %v, want %v", path, got, want)
	}
}

// warned checks that a warning names key.
func (e *keyEnv) warned(key string) {
	e.t.Helper()
	e.loaded()
	for _, w := range e.cfg.Warnings() {
		if w.Key == key && strings.Contains(w.Message, key) && strings.Contains(w.Message, "has no effect") {
			return
		}
	}
	e.t.Fatalf("no warning names %s: %+v", key, e.cfg.Warnings())
}

// notWarned checks that no warning names key (it takes effect).
func (e *keyEnv) notWarned(key string) {
	e.t.Helper()
	e.loaded()
	for _, w := range e.cfg.Warnings() {
		if w.Key == key {
			e.t.Fatalf("warning for %s, which takes effect: %s", key, w.Message)
		}
	}
}

// refused checks that loading failed naming key.
func (e *keyEnv) refused(key string) {
	e.t.Helper()
	if e.err == nil || !strings.Contains(e.err.Error(), "invalid config: "+key+":") {
		e.t.Fatalf("not refused naming %s: %v", key, e.err)
	}
}

// status sends a request with headers and returns the status code.
func (e *keyEnv) status(method, path string, header map[string]string) int {
	e.t.Helper()
	req, err := http.NewRequest(method, "http://"+e.server().HTTPAddr()+path, strings.NewReader(`{"vectors":{"size":2,"distance":"Dot"}}`))
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (e *keyEnv) s3Store() *snapshot.S3Store {
	e.t.Helper()
	e.loaded()
	st, _, err := snapshotStore(e.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	s3, ok := st.(*snapshot.S3Store)
	if !ok {
		e.t.Fatalf("snapshot store %T, want S3", st)
	}
	return s3
}

func (e *keyEnv) file(name, body string) string {
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// env spells a key as its QDRANT__ variable.
func env(key string, value any) string {
	return "QDRANT__" + strings.ToUpper(strings.ReplaceAll(key, ".", "__")) + "=" + fmt.Sprint(value)
}

func hs256(t *testing.T, key string, claims map[string]any) string {
	enc := base64.RawURLEncoding
	h := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	msg := h + "." + enc.EncodeToString(b)
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(msg))
	return msg + "." + enc.EncodeToString(mac.Sum(nil))
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

const keysSecret = "0123456789abcdef0123456789abcdef"

// keyRow changes one config key (env, possibly with companions) and checks
// an observable effect of the change.
type keyRow struct {
	key   string
	env   func(e *keyEnv) []string
	check func(e *keyEnv)
}

func set(kv ...any) func(*keyEnv) []string {
	return func(*keyEnv) []string {
		var out []string
		for i := 0; i < len(kv); i += 2 {
			out = append(out, env(kv[i].(string), kv[i+1]))
		}
		return out
	}
}

func keyRows() []keyRow {
	s3 := func(kv ...any) func(*keyEnv) []string {
		return set(append([]any{"storage.snapshots_config.snapshots_storage", "s3", "storage.snapshots_config.s3_config.bucket", "b",
			"storage.snapshots_config.s3_config.endpoint_url", "http://127.0.0.1:9"}, kv...)...)
	}
	clusterAs := func(key string, value, want any, got func(c config.ClusterConfig) any) keyRow {
		return keyRow{key, set(key, value), func(e *keyEnv) {
			e.loaded()
			if g := got(e.cfg.Cluster); fmt.Sprint(g) != fmt.Sprint(want) {
				e.t.Fatalf("%s = %v, want %v", key, g, want)
			}
		}}
	}
	cluster := func(key string, value any, got func(c config.ClusterConfig) any) keyRow {
		return clusterAs(key, value, value, got)
	}
	return []keyRow{
		{"log_level", set("log_level", "DEBUG"), func(e *keyEnv) {
			e.loaded()
			if e.cfg.SlogLevel() != slog.LevelDebug {
				e.t.Fatalf("level %v", e.cfg.SlogLevel())
			}
		}},
		{"logger.format", set("logger.format", "json"), func(e *keyEnv) {
			// The logger is built by internal/cli (TestServeUntilSignal
			// reads its JSON lines); here: the value reaches it.
			e.loaded()
			if e.cfg.Logger.Format != "json" {
				e.t.Fatal(e.cfg.Logger.Format)
			}
		}},
		{"storage.storage_path", func(e *keyEnv) []string { return []string{env("storage.storage_path", filepath.Join(e.dir, "data"))} }, func(e *keyEnv) {
			e.newCollection()
			if _, err := os.Stat(filepath.Join(e.dir, "data", "meta.json")); err != nil {
				e.t.Fatal(err)
			}
		}},
		{"storage.snapshots_path", func(e *keyEnv) []string {
			return []string{env("storage.snapshots_path", filepath.Join(e.dir, "snaps"))}
		}, func(e *keyEnv) {
			e.newCollection()
			e.rest().ok("POST", "/collections/k/snapshots", nil)
			m, _ := filepath.Glob(filepath.Join(e.dir, "snaps", "k", "*.snapshot"))
			if len(m) != 1 {
				e.t.Fatalf("snapshots in snapshots_path: %v", m)
			}
		}},
		{"storage.temp_path", func(e *keyEnv) []string { return []string{env("storage.temp_path", filepath.Join(e.dir, "tmp"))} }, func(e *keyEnv) {
			e.server()
			if st, err := os.Stat(filepath.Join(e.dir, "tmp")); err != nil || !st.IsDir() {
				e.t.Fatalf("temp_path not created: %v", err)
			}
		}},
		{"storage.snapshots_config.snapshots_storage", set("storage.snapshots_config.snapshots_storage", "s3"), func(e *keyEnv) {
			e.refused("storage.snapshots_config.s3_config.bucket") // s3 needs a bucket
		}},
		{"storage.snapshots_config.s3_config.bucket", s3(), func(e *keyEnv) {
			if got := e.s3Store().String(); got != "s3://b" {
				e.t.Fatal(got)
			}
		}},
		{"storage.snapshots_config.s3_config.endpoint_url", s3("storage.snapshots_config.s3_config.endpoint_url", "https://s3.example:9000/pre"), func(e *keyEnv) {
			o := e.s3Store().Options()
			if o.Endpoint != "s3.example:9000" || o.Insecure || o.Prefix != "pre" || !o.PathStyle {
				e.t.Fatalf("%+v", o)
			}
		}},
		{"storage.snapshots_config.s3_config.region", s3("storage.snapshots_config.s3_config.region", "eu-west-3"), func(e *keyEnv) {
			if o := e.s3Store().Options(); o.Region != "eu-west-3" {
				e.t.Fatal(o.Region)
			}
		}},
		{"storage.snapshots_config.s3_config.access_key", s3("storage.snapshots_config.s3_config.access_key", "AK"), func(e *keyEnv) {
			if o := e.s3Store().Options(); o.AccessKey != "AK" {
				e.t.Fatal(o.AccessKey)
			}
		}},
		{"storage.snapshots_config.s3_config.secret_key", s3("storage.snapshots_config.s3_config.access_key", "AK", "storage.snapshots_config.s3_config.secret_key", "SK"), func(e *keyEnv) {
			if o := e.s3Store().Options(); o.SecretKey != "SK" {
				e.t.Fatal("secret key not passed")
			}
		}},
		{"storage.on_disk_payload", set("storage.on_disk_payload", true), func(e *keyEnv) {
			e.notWarned("storage.on_disk_payload")
			e.collectionShows("params.on_disk_payload", true)
		}},
		{"storage.performance.max_search_threads", set("storage.performance.max_search_threads", 3), func(e *keyEnv) {
			if n := e.server().Service().Options().Limits.MaxConcurrentReads; n != 3 {
				e.t.Fatalf("read slots %d", n)
			}
		}},
		{"storage.performance.max_optimization_threads", set("storage.performance.max_optimization_threads", 4), func(e *keyEnv) {
			e.warned("storage.performance.max_optimization_threads")
			if n := e.server().Service().Options().IndexingThreads; n != 0 {
				e.t.Fatalf("indexing threads %d", n)
			}
		}},
		{"storage.performance.optimizer_cpu_budget", set("storage.performance.optimizer_cpu_budget", -1), func(e *keyEnv) {
			if n := e.server().Service().Options().IndexingThreads; n != max(1, runtime.GOMAXPROCS(0)-1) {
				e.t.Fatalf("indexing threads %d", n)
			}
		}},
		{"storage.performance.update_rate_limit", set("storage.performance.update_rate_limit", 2), func(e *keyEnv) {
			if n := e.server().Service().Options().Limits.MaxConcurrentUpdates; n != 2 {
				e.t.Fatalf("update slots %d", n)
			}
		}},
		// The allocator's use of the transfer limits is tested in
		// internal/placement (TestAllocateProperties draws them).
		{"storage.performance.incoming_shard_transfers_limit", set("storage.performance.incoming_shard_transfers_limit", 3), func(e *keyEnv) {
			e.loaded()
			if l := e.cfg.Storage.Performance.IncomingShardTransfersLimit; l == nil || *l != 3 {
				e.t.Fatalf("incoming limit %v", l)
			}
		}},
		{"storage.performance.outgoing_shard_transfers_limit", set("storage.performance.outgoing_shard_transfers_limit", 0), func(e *keyEnv) {
			e.loaded()
			if l := e.cfg.Storage.Performance.OutgoingShardTransfersLimit; l == nil || *l != 0 {
				e.t.Fatalf("outgoing limit %v", l)
			}
		}},
		{"storage.optimizers.deleted_threshold", set("storage.optimizers.deleted_threshold", 0.5), func(e *keyEnv) {
			e.collectionShows("optimizer_config.deleted_threshold", 0.5)
		}},
		{"storage.optimizers.vacuum_min_vector_number", set("storage.optimizers.vacuum_min_vector_number", 500), func(e *keyEnv) {
			e.warned("storage.optimizers.vacuum_min_vector_number")
			e.collectionShows("optimizer_config.vacuum_min_vector_number", 500)
		}},
		{"storage.optimizers.default_segment_number", set("storage.optimizers.default_segment_number", 4), func(e *keyEnv) {
			e.warned("storage.optimizers.default_segment_number")
			e.collectionShows("optimizer_config.default_segment_number", 4)
		}},
		{"storage.optimizers.max_segment_size_kb", set("storage.optimizers.max_segment_size_kb", 100000), func(e *keyEnv) {
			e.warned("storage.optimizers.max_segment_size_kb")
			e.collectionShows("optimizer_config.max_segment_size", 100000)
		}},
		{"storage.optimizers.memmap_threshold_kb", set("storage.optimizers.memmap_threshold_kb", 3000), func(e *keyEnv) {
			e.notWarned("storage.optimizers.memmap_threshold_kb")
			e.collectionShows("optimizer_config.memmap_threshold", 3000)
		}},
		{"storage.optimizers.indexing_threshold_kb", set("storage.optimizers.indexing_threshold_kb", 2000), func(e *keyEnv) {
			e.collectionShows("optimizer_config.indexing_threshold", 2000)
		}},
		{"storage.optimizers.flush_interval_sec", set("storage.optimizers.flush_interval_sec", 9), func(e *keyEnv) {
			e.collectionShows("optimizer_config.flush_interval_sec", 9)
		}},
		{"storage.optimizers.max_optimization_threads", set("storage.optimizers.max_optimization_threads", 2), func(e *keyEnv) {
			e.collectionShows("optimizer_config.max_optimization_threads", 2)
			if n := e.server().Service().Options().IndexingThreads; n != 2 {
				e.t.Fatalf("indexing threads %d", n)
			}
		}},
		{"storage.hnsw_index.m", set("storage.hnsw_index.m", 32), func(e *keyEnv) { e.collectionShows("hnsw_config.m", 32) }},
		{"storage.hnsw_index.ef_construct", set("storage.hnsw_index.ef_construct", 200), func(e *keyEnv) { e.collectionShows("hnsw_config.ef_construct", 200) }},
		{"storage.hnsw_index.full_scan_threshold_kb", set("storage.hnsw_index.full_scan_threshold_kb", 5000), func(e *keyEnv) {
			e.collectionShows("hnsw_config.full_scan_threshold", 5000)
		}},
		{"storage.hnsw_index.max_indexing_threads", set("storage.hnsw_index.max_indexing_threads", 2), func(e *keyEnv) {
			e.collectionShows("hnsw_config.max_indexing_threads", 2)
		}},
		{"storage.hnsw_index.on_disk", set("storage.hnsw_index.on_disk", true), func(e *keyEnv) {
			e.notWarned("storage.hnsw_index.on_disk")
			e.collectionShows("hnsw_config.on_disk", true)
		}},
		{"storage.hnsw_index.payload_m", set("storage.hnsw_index.payload_m", 8), func(e *keyEnv) {
			e.warned("storage.hnsw_index.payload_m")
			e.collectionShows("hnsw_config.payload_m", 8)
		}},
		{"storage.max_collections", set("storage.max_collections", 1), func(e *keyEnv) {
			e.newCollection()
			code, out := e.rest().do("PUT", "/collections/k2", map[string]any{"vectors": map[string]any{"size": 4, "distance": "Dot"}})
			if code != 400 || !strings.Contains(fmt.Sprint(out), "limited to 1") {
				e.t.Fatalf("%d %v", code, out)
			}
		}},
		{"storage.min_free_disk_mb", set("storage.min_free_disk_mb", 1<<30), func(e *keyEnv) {
			// No file system here has an EiB free: every write is refused.
			e.newCollection()
			code, out := e.rest().do("PUT", "/collections/k/points?wait=true", map[string]any{"points": []any{map[string]any{"id": 1, "vector": []float32{1, 0, 0, 0}}}})
			if code != 500 || !strings.Contains(fmt.Sprint(out), "No space left on device") {
				e.t.Fatalf("%d %v", code, out)
			}
		}},
		{"service.host", set("service.host", "127.0.0.2"), func(e *keyEnv) {
			if a := e.server().HTTPAddr(); !strings.HasPrefix(a, "127.0.0.2:") {
				e.t.Fatal(a)
			}
		}},
		{"service.http_port", func(e *keyEnv) []string { return []string{env("service.http_port", freePort(e.t))} }, func(e *keyEnv) {
			if a := e.server().HTTPAddr(); a != "127.0.0.1:"+strconv.Itoa(e.cfg.Service.HTTPPort) {
				e.t.Fatal(a)
			}
		}},
		{"service.grpc_port", set("service.grpc_port", "null"), func(e *keyEnv) {
			if a := e.server().GRPCAddr(); a != "" {
				e.t.Fatalf("gRPC listens on %s", a)
			}
		}},
		{"service.max_request_size_mb", set("service.max_request_size_mb", 1), func(e *keyEnv) {
			put := func(name string, pad int) (int, error) {
				body := strings.Repeat(" ", pad) + `{"vectors":{"size":2,"distance":"Dot"}}`
				req, _ := http.NewRequest("PUT", "http://"+e.server().HTTPAddr()+"/collections/"+name, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
				if err != nil {
					return 0, err
				}
				resp.Body.Close()
				return resp.StatusCode, nil
			}
			if code, err := put("small", 900<<10); err != nil || code != 200 {
				e.t.Fatalf("0.9 MiB body with a 1 MiB limit: %d %v", code, err)
			}
			// The server answers 413 and may close before the client has
			// sent the whole body (the client then sees a reset).
			code, err := put("big", 2<<20)
			if err == nil && code != http.StatusRequestEntityTooLarge ||
				err != nil && !strings.Contains(err.Error(), "reset") && !strings.Contains(err.Error(), "broken pipe") {
				e.t.Fatalf("2 MiB body with a 1 MiB limit: %d %v", code, err)
			}
		}},
		{"service.max_workers", set("service.max_workers", 1), func(e *keyEnv) {
			// TestMaxWorkers shows requests waiting; here: the limit.
			if n := cap(e.server().workers); n != 1 {
				e.t.Fatalf("workers %d", n)
			}
		}},
		{"service.enable_cors", set("service.enable_cors", false), func(e *keyEnv) {
			req, _ := http.NewRequest("GET", "http://"+e.server().HTTPAddr()+"/collections", nil)
			req.Header.Set("Origin", "http://app.example")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				e.t.Fatal(err)
			}
			resp.Body.Close()
			if h := resp.Header.Get("Access-Control-Allow-Origin"); h != "" {
				e.t.Fatalf("CORS header with enable_cors false: %q", h)
			}
		}},
		{"service.enable_tls", func(e *keyEnv) []string {
			cert, key := selfSigned(e.t)
			return []string{env("service.enable_tls", true), env("tls.cert", e.file("c.pem", string(cert))), env("tls.key", e.file("k.pem", string(key)))}
		}, func(e *keyEnv) {
			// Go's TLS server answers plain HTTP with 400 and serves nothing.
			resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + e.server().HTTPAddr() + "/collections")
			if err != nil {
				e.t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				e.t.Fatalf("plain HTTP answered %d over TLS", resp.StatusCode)
			}
			certPEM, err := os.ReadFile(e.cfg.TLS.Cert)
			if err != nil {
				e.t.Fatal(err)
			}
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(certPEM)
			hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
			if resp, err = hc.Get("https://" + e.server().HTTPAddr() + "/collections"); err != nil {
				e.t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				e.t.Fatalf("https: %d", resp.StatusCode)
			}
		}},
		{"service.verify_https_client_certificate", set("service.verify_https_client_certificate", true), func(e *keyEnv) {
			e.refused("service.verify_https_client_certificate") // needs enable_tls (TestTLS covers mutual TLS)
		}},
		{"service.api_key", set("service.api_key", "k1"), func(e *keyEnv) {
			if a, b := e.status("GET", "/collections", nil), e.status("GET", "/collections", map[string]string{"api-key": "k1"}); a != 401 || b != 200 {
				e.t.Fatalf("without key %d, with %d", a, b)
			}
		}},
		{"service.alt_api_key", set("service.alt_api_key", "k2"), func(e *keyEnv) {
			if a, b := e.status("GET", "/collections", nil), e.status("GET", "/collections", map[string]string{"api-key": "k2"}); a != 401 || b != 200 {
				e.t.Fatalf("without key %d, with %d", a, b)
			}
		}},
		{"service.read_only_api_key", set("service.read_only_api_key", "r1"), func(e *keyEnv) {
			ro := map[string]string{"api-key": "r1"}
			if a, b := e.status("GET", "/collections", ro), e.status("PUT", "/collections/x", ro); a != 200 || b != 403 {
				e.t.Fatalf("read %d, write %d", a, b)
			}
		}},
		{"service.jwt_rbac", set("service.jwt_rbac", true, "service.api_key", "k1"), func(e *keyEnv) {
			tok := hs256(e.t, "k1", map[string]any{"access": "r", "exp": time.Now().Add(time.Minute).Unix()})
			if a := e.status("GET", "/collections", map[string]string{"Authorization": "Bearer " + tok}); a != 200 {
				e.t.Fatalf("JWT: %d", a)
			}
		}},
		{"service.enforce_internal_auth", set("service.enforce_internal_auth", true, "service.api_key", "k1"), func(e *keyEnv) {
			e.loaded()
			if e.cfg.ClusterSecret() != "k1" {
				e.t.Fatal("api key is not the peers' secret")
			}
		}},
		{"tls.cert", set("service.enable_tls", true, "tls.cert", "/nonexistent/c.pem"), func(e *keyEnv) { e.refused("tls.cert") }},
		{"tls.key", set("service.enable_tls", true, "tls.key", "/nonexistent/k.pem"), func(e *keyEnv) { e.refused("tls.key") }},
		{"tls.ca_cert", set("service.enable_tls", true, "service.verify_https_client_certificate", true, "tls.ca_cert", "/nonexistent/ca.pem"), func(e *keyEnv) {
			e.refused("tls.ca_cert")
		}},
		{"tls.cert_ttl", set("tls.cert_ttl", -1), func(e *keyEnv) { e.refused("tls.cert_ttl") }},
		{"telemetry_disabled", set("telemetry_disabled", true), func(e *keyEnv) {
			// Shoal sends no telemetry at either value.
			e.loaded()
			if !e.cfg.TelemetryDisabled {
				e.t.Fatal("not decoded")
			}
		}},
		{"canary.enabled", set("canary.enabled", false, "canary.interval_sec", 1), func(e *keyEnv) {
			// canary.interval_sec's row shows a canary at this interval
			// running; turned off, none runs.
			e.server()
			time.Sleep(2500 * time.Millisecond)
			m := e.rest().metricsText()
			if strings.Contains(m, "shoal_canary_success") || e.srv.canary != nil {
				e.t.Fatalf("a canary ran with canary.enabled false:\n%s", m)
			}
			if ok, _ := e.srv.Service().CollectionExists(context.Background(), service.CanaryCollection(e.srv.Service().Options().PeerID)); ok {
				e.t.Fatal("canary collection created")
			}
		}},
		{"canary.interval_sec", set("canary.interval_sec", 1), func(e *keyEnv) {
			// The default (30 s) runs nothing within the first seconds;
			// 1 s runs every step within a few.
			e.server()
			deadline := time.Now().Add(20 * time.Second)
			for {
				m := e.rest().metricsText()
				if strings.Contains(m, `shoal_canary_success{op="search"} 1`) && strings.Contains(m, `shoal_canary_runs_total{op="search",result="ok"}`) {
					break
				}
				if time.Now().After(deadline) {
					e.t.Fatalf("no successful canary run at a 1 s interval:\n%s", m)
				}
				time.Sleep(200 * time.Millisecond)
			}
		}},
		{"cluster.enabled", set("cluster.enabled", true), func(e *keyEnv) { e.refused("cluster.enabled") }},
		{"cluster.peer_id", set("cluster.peer_id", 4242), func(e *keyEnv) {
			e.newCollection()
			if id := clusterPeerID(e.t, e.rest(), "k"); id != 4242 {
				e.t.Fatalf("peer id %d", id)
			}
		}},
		{"cluster.p2p.enable_tls", set("cluster.p2p.enable_tls", true, "tls.ca_cert", ""), func(e *keyEnv) { e.refused("tls.ca_cert") }},
		cluster("cluster.p2p.port", 7335, func(c config.ClusterConfig) any { return c.P2P.Port }),
		cluster("cluster.p2p.host", "127.0.0.3", func(c config.ClusterConfig) any { return c.P2P.Host }),
		cluster("cluster.p2p.insecure", true, func(c config.ClusterConfig) any { return c.P2P.Insecure }),
		cluster("cluster.p2p.connection_pool_size", 3, func(c config.ClusterConfig) any { return c.P2P.ConnectionPoolSize }),
		clusterAs("cluster.join", "a.example:6335,b.example:6335", "[a.example:6335 b.example:6335]", func(c config.ClusterConfig) any { return c.Join }),
		cluster("cluster.bootstrap_expect", 1, func(c config.ClusterConfig) any { return c.BootstrapExpect }),
		cluster("cluster.advertise_uri", "http://node1:6335", func(c config.ClusterConfig) any { return c.AdvertiseURI }),
		cluster("cluster.secret", keysSecret, func(c config.ClusterConfig) any { return c.Secret }),
		cluster("cluster.zone", "z1", func(c config.ClusterConfig) any { return c.Zone }),
		cluster("cluster.region", "r1", func(c config.ClusterConfig) any { return c.Region }),
		{"cluster.labels", set("cluster.labels.rack", "a7"), func(e *keyEnv) {
			e.loaded()
			if e.cfg.Cluster.Labels["rack"] != "a7" {
				e.t.Fatal(e.cfg.Cluster.Labels)
			}
		}},
		cluster("cluster.dead_node_timeout", "1m0s", func(c config.ClusterConfig) any { return c.DeadNodeTimeout }),
		cluster("cluster.node_down_after", "5s", func(c config.ClusterConfig) any { return c.NodeDownAfter }),
		cluster("cluster.max_transfers_per_node", 2, func(c config.ClusterConfig) any { return c.MaxTransfersPerNode }),
		cluster("cluster.transfer_rate_limit_mb", 50, func(c config.ClusterConfig) any { return c.TransferRateLimitMB }),
		cluster("cluster.restore_stage_timeout", "2m0s", func(c config.ClusterConfig) any { return c.RestoreStageTimeout }),
		cluster("cluster.auto_heal", false, func(c config.ClusterConfig) any { return c.AutoHeal }),
		cluster("cluster.rebalance", false, func(c config.ClusterConfig) any { return c.Rebalance }),
		cluster("cluster.grpc_timeout_ms", 700, func(c config.ClusterConfig) any { return c.GRPCTimeoutMS }),
		cluster("cluster.connection_timeout_ms", 800, func(c config.ClusterConfig) any { return c.ConnectionTimeoutMS }),
		cluster("cluster.consensus.tick_period_ms", 50, func(c config.ClusterConfig) any { return c.Consensus.TickPeriodMS }),
		cluster("cluster.consensus.bootstrap_timeout_sec", 30, func(c config.ClusterConfig) any { return c.Consensus.BootstrapTimeoutSec }),
		cluster("cluster.consensus.max_message_queue_size", 200, func(c config.ClusterConfig) any { return c.Consensus.MaxMessageQueueSize }),
		cluster("cluster.consensus.compact_wal_entries", 256, func(c config.ClusterConfig) any { return c.Consensus.CompactWALEntries }),
	}
}

// TestEveryConfigKeyHasAnEffect changes each config key in turn, through
// the real loader, and checks an observable effect: a new collection's
// defaults, a limit, a listener, a refusal naming the key, a warning that
// it has no effect, or (for the cluster keys the cluster code consumes)
// the decoded value. Every key of the config has a row, and every key is
// in README.md's configuration table.
func TestEveryConfigKeyHasAnEffect(t *testing.T) {
	rows := keyRows()
	byKey := map[string]bool{}
	for _, r := range rows {
		if byKey[r.key] {
			t.Fatalf("two rows for %s", r.key)
		}
		byKey[r.key] = true
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("`([a-z_.0-9]+)`").FindAllStringSubmatch(string(readme), -1) {
		documented[m[1]] = true
	}
	keys := config.Keys()
	if len(keys) < 70 {
		t.Fatalf("only %d config keys", len(keys))
	}
	for _, k := range keys {
		if !byKey[k] {
			t.Errorf("config key %s has no row", k)
		}
		if !documented[k] {
			t.Errorf("config key %s is not in README.md", k)
		}
		delete(byKey, k)
	}
	for k := range byKey {
		t.Errorf("row for %s, which is not a config key", k)
	}
	for _, r := range rows {
		t.Run(r.key, func(t *testing.T) {
			dir := t.TempDir()
			e := &keyEnv{t: t, dir: dir}
			environ := []string{
				"QDRANT__SERVICE__HOST=127.0.0.1", "QDRANT__SERVICE__HTTP_PORT=0", "QDRANT__SERVICE__GRPC_PORT=0",
				"QDRANT__STORAGE__STORAGE_PATH=" + filepath.Join(dir, "storage"),
				"QDRANT__STORAGE__SNAPSHOTS_PATH=" + filepath.Join(dir, "snapshots"),
			}
			environ = append(environ, r.env(e)...)
			e.cfg, e.err = config.Load(config.LoadOptions{Dir: dir, Environ: environ})
			r.check(e)
		})
	}
}
