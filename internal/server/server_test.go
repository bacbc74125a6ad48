package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qdrant/go-client/qdrant"

	"github.com/shoal-db/shoal/internal/auth"
	"github.com/shoal-db/shoal/internal/config"
)

// testConfig returns a config on loopback with free ports and data under a
// temporary directory.
func testConfig(t *testing.T, dir string) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Service.Host = "127.0.0.1"
	cfg.Service.HTTPPort = 0
	zero := 0
	cfg.Service.GRPCPort = &zero
	cfg.Storage.StoragePath = filepath.Join(dir, "storage")
	cfg.Storage.SnapshotsPath = filepath.Join(dir, "snapshots")
	return cfg
}

func start(t *testing.T, cfg config.Config) *Server {
	t.Helper()
	s, err := New(cfg, Options{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Ready() {
		t.Fatal("ready before Start")
	}
	if err := s.Start(context.Background()); err != nil {
		s.Close(context.Background())
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

type restClient struct {
	t      *testing.T
	base   string
	http   *http.Client
	header http.Header
}

func newREST(t *testing.T, s *Server) *restClient {
	return &restClient{t: t, base: "http://" + s.HTTPAddr(), http: &http.Client{Timeout: 30 * time.Second}, header: http.Header{}}
}

// do sends a JSON request and returns the status and the decoded body.
func (c *restClient) do(method, path string, body any) (int, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range c.header {
		req.Header[k] = v
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &out); err != nil {
			c.t.Fatalf("%s %s: bad JSON %q: %v", method, path, raw, err)
		}
	} else {
		out = map[string]any{"text": string(raw)}
	}
	return resp.StatusCode, out
}

func (c *restClient) ok(method, path string, body any) map[string]any {
	c.t.Helper()
	code, out := c.do(method, path, body)
	if code != http.StatusOK || out["status"] != "ok" {
		c.t.Fatalf("%s %s: %d %v", method, path, code, out)
	}
	return out
}

func seed(c *restClient, name string) {
	c.ok("PUT", "/collections/"+name, map[string]any{"vectors": map[string]any{"size": 4, "distance": "Dot"}})
	c.ok("PUT", "/collections/"+name+"/points?wait=true", map[string]any{"points": []any{
		map[string]any{"id": 1, "vector": []float32{1, 0, 0, 0}, "payload": map[string]any{"city": "Berlin"}},
		map[string]any{"id": 2, "vector": []float32{0, 1, 0, 0}, "payload": map[string]any{"city": "London"}},
		map[string]any{"id": 3, "vector": []float32{0.9, 0.1, 0, 0}, "payload": map[string]any{"city": "London"}},
	}})
}

func searchIDs(c *restClient, name string, filter any) []float64 {
	c.t.Helper()
	body := map[string]any{"query": []float32{1, 0, 0, 0}, "limit": 3}
	if filter != nil {
		body["filter"] = filter
	}
	out := c.ok("POST", "/collections/"+name+"/points/query", body)
	var ids []float64
	for _, p := range out["result"].(map[string]any)["points"].([]any) {
		ids = append(ids, p.(map[string]any)["id"].(float64))
	}
	return ids
}

func grpcClient(t *testing.T, addr string, cfg qdrant.Config) *qdrant.Client {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Host = host
	cfg.Port, _ = strconv.Atoi(port)
	cfg.PoolSize = 1
	c, err := qdrant.NewClient(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestServeRESTAndGRPC runs a real server on free ports and talks to it
// with plain HTTP and with the official Qdrant Go client, then restarts it
// on the same storage.
func TestServeRESTAndGRPC(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	s := start(t, cfg)
	if !s.Ready() || s.HTTPAddr() == "" || s.GRPCAddr() == "" || strings.HasSuffix(s.HTTPAddr(), ":0") {
		t.Fatalf("addresses %q %q ready %v", s.HTTPAddr(), s.GRPCAddr(), s.Ready())
	}
	c := newREST(t, s)
	if code, out := c.do("GET", "/readyz", nil); code != 200 {
		t.Fatalf("readyz %d %v", code, out)
	}
	seed(c, "cities")
	if got := searchIDs(c, "cities", nil); fmt.Sprint(got) != "[1 3 2]" {
		t.Fatalf("REST search order %v", got)
	}
	if got := searchIDs(c, "cities", map[string]any{"must": []any{map[string]any{"key": "city", "match": map[string]any{"value": "London"}}}}); fmt.Sprint(got) != "[3 2]" {
		t.Fatalf("REST filtered search %v", got)
	}

	// gRPC with the official client: the same data.
	g := grpcClient(t, s.GRPCAddr(), qdrant.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := g.HealthCheck(ctx); err != nil {
		t.Fatal(err)
	}
	names, err := g.ListCollections(ctx)
	if err != nil || fmt.Sprint(names) != "[cities]" {
		t.Fatalf("gRPC list %v %v", names, err)
	}
	limit := uint64(2)
	hits, err := g.Query(ctx, &qdrant.QueryPoints{CollectionName: "cities", Query: qdrant.NewQuery(1, 0, 0, 0), Limit: &limit})
	if err != nil || len(hits) != 2 || hits[0].Id.GetNum() != 1 || hits[1].Id.GetNum() != 3 {
		t.Fatalf("gRPC query %v %v", hits, err)
	}
	if _, err := g.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "cities", Points: []*qdrant.PointStruct{
		{Id: qdrant.NewIDNum(4), Vectors: qdrant.NewVectors(2, 0, 0, 0), Payload: qdrant.NewValueMap(map[string]any{"city": "Paris"})},
	}}); err != nil {
		t.Fatal(err)
	}

	// Cluster information names this node: a peer id generated once (no
	// cluster.peer_id configured), the same over both protocols.
	peer := clusterPeerID(t, c, "cities")
	if peer == 0 {
		t.Fatal("cluster info reports peer id 0")
	}
	if gi, err := g.GetCollectionClusterInfo(ctx, "cities"); err != nil || gi.GetPeerId() != peer {
		t.Fatalf("gRPC cluster info peer %d (%v), REST %d", gi.GetPeerId(), err, peer)
	}

	// Metrics carry Qdrant's names.
	code, out := c.do("GET", "/metrics", nil)
	text := fmt.Sprint(out["text"])
	for _, want := range []string{"collections_total 1", `app_info{name="shoal",version="test"} 1`, "collection_points{id=\"cities\"} 4",
		`collection_vectors{collection="cities",vector=""} 4`, "process_open_fds"} {
		if code != 200 || !strings.Contains(text, want) {
			t.Fatalf("/metrics (%d) lacks %q:\n%s", code, want, text)
		}
	}

	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.Ready() {
		t.Fatal("ready after Close")
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	// Restart on the same storage: everything is still there, and the
	// node keeps its generated peer id.
	s2 := start(t, cfg)
	c2 := newREST(t, s2)
	if got := searchIDs(c2, "cities", nil); fmt.Sprint(got) != "[4 1 3]" {
		t.Fatalf("after restart: %v", got)
	}
	if p2 := clusterPeerID(t, c2, "cities"); p2 != peer {
		t.Fatalf("peer id %d after restart, was %d", p2, peer)
	}
}

// clusterPeerID returns the peer_id of GET /collections/{name}/cluster.
func clusterPeerID(t *testing.T, c *restClient, name string) uint64 {
	t.Helper()
	code, out := c.do("GET", "/collections/"+name+"/cluster", nil)
	res, _ := out["result"].(map[string]any)
	id, ok := res["peer_id"].(float64)
	if code != 200 || !ok {
		t.Fatalf("cluster info (%d): %v", code, out)
	}
	return uint64(id)
}

// TestGracefulShutdownFinishesInFlightRequest holds a request open (body
// half sent), starts Close, checks that new connections are refused, then
// finishes the request: it must succeed, and Close must return only after.
func TestGracefulShutdownFinishesInFlightRequest(t *testing.T) {
	s := start(t, testConfig(t, t.TempDir()))
	c := newREST(t, s)
	c.ok("PUT", "/collections/c", map[string]any{"vectors": map[string]any{"size": 2, "distance": "Cosine"}})

	body := []byte(`{"points":[{"id":7,"vector":[0.6,0.8],"payload":{"k":"v"}}]}`)
	conn, err := net.Dial("tcp", s.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT /collections/c/points?wait=true HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
	half := len(body) / 2
	if _, err := conn.Write(body[:half]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // let the server read the headers

	closed := make(chan error, 1)
	var closedAt time.Time
	go func() {
		err := s.Close(context.Background())
		closedAt = time.Now()
		closed <- err
	}()
	// The listener goes away at the start of the shutdown.
	deadline := time.Now().Add(10 * time.Second)
	for {
		probe, err := net.DialTimeout("tcp", s.HTTPAddr(), time.Second)
		if err != nil {
			break
		}
		probe.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting connections during shutdown")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned before the in-flight request finished: %v", err)
	default:
	}
	if _, err := conn.Write(body[half:]); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	answeredAt := time.Now()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(raw), `"completed"`) {
		t.Fatalf("in-flight upsert: %d %s", resp.StatusCode, raw)
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not return after the request finished")
	}
	if closedAt.Before(answeredAt.Add(-time.Second)) {
		t.Fatalf("Close finished %v before the answer", answeredAt.Sub(closedAt))
	}

	// The write that finished during shutdown is durable.
	s2 := start(t, s.Config())
	out := newREST(t, s2).ok("GET", "/collections/c/points/7", nil)
	if out["result"].(map[string]any)["payload"].(map[string]any)["k"] != "v" {
		t.Fatalf("point written during shutdown lost: %v", out)
	}
}

// TestShutdownDeadlineCutsStuckRequests: a request that never completes
// does not hold Close past its context.
func TestShutdownDeadlineCutsStuckRequests(t *testing.T) {
	s := start(t, testConfig(t, t.TempDir()))
	conn, err := net.Dial("tcp", s.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT /collections/x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	begin := time.Now()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(begin); d > 10*time.Second {
		t.Fatalf("Close took %v with a 300ms deadline", d)
	}
}

func TestTwoServersInOneProcessAndPortInUse(t *testing.T) {
	a := start(t, testConfig(t, t.TempDir()))
	b := start(t, testConfig(t, t.TempDir()))
	newREST(t, a).ok("PUT", "/collections/only_a", map[string]any{"vectors": map[string]any{"size": 2, "distance": "Dot"}})
	out := newREST(t, b).ok("GET", "/collections", nil)
	if cols := out["result"].(map[string]any)["collections"].([]any); len(cols) != 0 {
		t.Fatalf("servers share state: %v", cols)
	}

	// A server whose gRPC port is taken fails to start and leaves its REST
	// port free.
	cfg := testConfig(t, t.TempDir())
	_, port, _ := net.SplitHostPort(a.GRPCAddr())
	p, _ := strconv.Atoi(port)
	cfg.Service.GRPCPort = &p
	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, hp, _ := net.SplitHostPort(httpLn.Addr().String())
	httpLn.Close()
	cfg.Service.HTTPPort, _ = strconv.Atoi(hp)
	s, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	if err := s.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "service.grpc_port") {
		t.Fatalf("start with a taken port: %v", err)
	}
	if ln, err := net.Listen("tcp", httpLn.Addr().String()); err != nil {
		t.Fatalf("REST port left bound after a failed start: %v", err)
	} else {
		ln.Close()
	}
}

func TestAuthWiring(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.Service.APIKey = "secret-key"
	cfg.Service.ReadOnlyAPIKey = "ro-key"
	cfg.Service.JWTRBAC = true
	s := start(t, cfg)
	c := newREST(t, s)
	if code, _ := c.do("GET", "/collections", nil); code != http.StatusUnauthorized {
		t.Fatalf("no key: %d", code)
	}
	if code, _ := c.do("GET", "/healthz", nil); code != 200 {
		t.Fatalf("healthz needs no key: %d", code)
	}
	c.header.Set("api-key", "secret-key")
	seed(c, "docs")

	ro := newREST(t, s)
	ro.header.Set("Authorization", "Bearer ro-key")
	if got := searchIDs(ro, "docs", nil); len(got) != 3 {
		t.Fatalf("read-only search %v", got)
	}
	if code, _ := ro.do("DELETE", "/collections/docs", nil); code != http.StatusForbidden {
		t.Fatalf("read-only delete: %d", code)
	}

	tok, err := auth.IssueJWT("secret-key", []auth.CollectionGrant{{Collection: "docs", Access: "r"}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	j := newREST(t, s)
	j.header.Set("Authorization", "Bearer "+tok)
	if got := searchIDs(j, "docs", nil); len(got) != 3 {
		t.Fatalf("JWT read %v", got)
	}
	if code, _ := j.do("PUT", "/collections/docs/points?wait=true", map[string]any{"points": []any{map[string]any{"id": 9, "vector": []float32{1, 1, 1, 1}}}}); code != http.StatusForbidden {
		t.Fatalf("JWT write on a read grant: %d", code)
	}
	expired, _ := auth.IssueJWT("secret-key", "m", -time.Hour)
	j.header.Set("Authorization", "Bearer "+expired)
	if code, _ := j.do("GET", "/collections", nil); code != http.StatusForbidden {
		t.Fatalf("expired JWT: %d", code)
	}

	// gRPC honours the same keys.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	g := grpcClient(t, s.GRPCAddr(), qdrant.Config{APIKey: "ro-key"})
	if names, err := g.ListCollections(ctx); err != nil || len(names) != 1 {
		t.Fatalf("gRPC with read-only key: %v %v", names, err)
	}
	if err := g.DeleteCollection(ctx, "docs"); err == nil {
		t.Fatal("gRPC delete with a read-only key succeeded")
	}
}

// TestTLS serves both APIs over TLS with a certificate made here.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM := selfSigned(t)
	cfg := testConfig(t, dir)
	cfg.Service.EnableTLS = true
	cfg.TLS.Cert = filepath.Join(dir, "cert.pem")
	cfg.TLS.Key = filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cfg.TLS.Cert, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg.TLS.Key, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	s := start(t, cfg)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	tc := &tls.Config{RootCAs: pool, ServerName: "localhost"}

	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
	resp, err := hc.Get("https://" + s.HTTPAddr() + "/collections")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("https status %d", resp.StatusCode)
	}
	// Go's TLS server answers plain HTTP with a 400 and serves nothing.
	if resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + s.HTTPAddr() + "/collections"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("plain HTTP on the TLS port: %d", resp.StatusCode)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	g := grpcClient(t, s.GRPCAddr(), qdrant.Config{UseTLS: true, TLSConfig: tc})
	if _, err := g.HealthCheck(ctx); err != nil {
		t.Fatalf("gRPC over TLS: %v", err)
	}

	// A missing key file is reported by New, naming the file.
	bad := cfg
	bad.TLS.Key = filepath.Join(dir, "cert.pem") // a cert is not a key
	if _, err := New(bad, Options{}); err == nil || !strings.Contains(err.Error(), "cannot load TLS certificate") {
		t.Fatalf("bad key: %v", err)
	}
}

func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}
