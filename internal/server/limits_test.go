package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// holdRequest sends the headers and the start of an upsert's body and
// returns a function that sends the rest and reads the response status:
// until then the request occupies a worker.
func holdRequest(t *testing.T, addr string) (finish func() int) {
	t.Helper()
	body := []byte(`{"points":[{"id":7,"vector":[0.6,0.8]}]}`)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "PUT /collections/c/points?wait=true HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
	if _, err := conn.Write(body[:10]); err != nil {
		t.Fatal(err)
	}
	return func() int {
		if _, err := conn.Write(body[10:]); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
}

// TestMaxWorkers: with service.max_workers: 1, a request in flight makes
// the next REST and gRPC requests wait (here until their clients give up),
// while health checks and metrics answer; once it finishes, requests run.
// Without the limit the same request does not block others.
func TestMaxWorkers(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.Service.MaxWorkers = 1
	s := start(t, cfg)
	c := newREST(t, s)
	c.ok("PUT", "/collections/c", map[string]any{"vectors": map[string]any{"size": 2, "distance": "Cosine"}})

	finish := holdRequest(t, s.HTTPAddr())
	time.Sleep(100 * time.Millisecond) // let the server take the request

	short := &http.Client{Timeout: 500 * time.Millisecond}
	if _, err := short.Get("http://" + s.HTTPAddr() + "/collections"); err == nil || !strings.Contains(err.Error(), "Timeout") {
		t.Fatalf("a second request ran beside the first with max_workers 1: %v", err)
	}
	g := grpcClient(t, s.GRPCAddr(), qdrant.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	_, err := g.ListCollections(ctx)
	cancel()
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("a gRPC request ran beside the REST one with max_workers 1: %v", err)
	}
	for _, p := range []string{"/healthz", "/readyz", "/livez", "/metrics", "/"} {
		resp, err := short.Get("http://" + s.HTTPAddr() + p)
		if err != nil {
			t.Fatalf("%s waited for a worker: %v", p, err)
		}
		resp.Body.Close()
	}
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
	if _, err := g.HealthCheck(ctx); err != nil {
		t.Fatalf("gRPC health check waited for a worker: %v", err)
	}
	cancel()

	if code := finish(); code != 200 {
		t.Fatalf("held request: %d", code)
	}
	c.ok("GET", "/collections", nil)
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := g.ListCollections(ctx); err != nil {
		t.Fatal(err)
	}

	// Unbounded by default.
	s2 := start(t, testConfig(t, t.TempDir()))
	c2 := newREST(t, s2)
	c2.ok("PUT", "/collections/c", map[string]any{"vectors": map[string]any{"size": 2, "distance": "Cosine"}})
	finish2 := holdRequest(t, s2.HTTPAddr())
	time.Sleep(100 * time.Millisecond)
	resp, err := short.Get("http://" + s2.HTTPAddr() + "/collections")
	if err != nil {
		t.Fatalf("without max_workers a request waited: %v", err)
	}
	resp.Body.Close()
	if code := finish2(); code != 200 {
		t.Fatalf("held request: %d", code)
	}
}
