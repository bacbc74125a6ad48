package loadtool

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/config"
	"github.com/shoal-db/shoal/internal/server"
)

// startServer runs a real Shoal server (REST and gRPC on loopback ports,
// data in a temporary directory) for the test.
func startServer(tb testing.TB) *server.Server {
	tb.Helper()
	dir := tb.TempDir()
	cfg := config.Default()
	cfg.Service.Host = "127.0.0.1"
	cfg.Service.HTTPPort = 0
	zero := 0
	cfg.Service.GRPCPort = &zero
	cfg.Storage.StoragePath = filepath.Join(dir, "storage")
	cfg.Storage.SnapshotsPath = filepath.Join(dir, "snapshots")
	s, err := server.New(cfg, server.Options{Version: "test"})
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		s.Close(context.Background())
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// TestMainAgainstRealServer runs the whole command (dataset files on disk,
// upload, wait for green, search) over REST and gRPC against an in-process
// server and checks that the JSON lines parse and report what happened:
// every point imported and indexed, and recall about 1 at a high ef.
func TestMainAgainstRealServer(t *testing.T) {
	s := startServer(t)
	r := rand.New(rand.NewPCG(7, 8))
	base := randVecs(r, 2000, 16)
	queries := randVecs(r, 50, 16)
	gt := BruteForceGroundTruth(base, queries, 10)
	dir := t.TempDir()
	writeDataset(t, dir, base, queries, gt, false)

	_, grpcPort, err := net.SplitHostPort(s.GRPCAddr())
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := Main([]string{
		"-data", dir, "-url", "http://" + s.HTTPAddr(), "-grpc", "127.0.0.1:" + grpcPort,
		"-protocols", "rest,grpc", "-ef", "8,256", "-threads", "1,2", "-batch", "300",
		"-upload-threads", "2", "-queries", "0", "-json", "-progress=false",
		// Index from 1 KB of vectors on, so that the searches go through
		// the HNSW graph and the upload waits for it to be built.
		"-indexing-threshold", "1",
	}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit code %d, stderr:\n%s", code, stderr.String())
	}
	var uploads, searches int
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var line struct {
			Upload *UploadResult `json:"upload"`
			SearchResult
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if line.Upload != nil {
			uploads++
			u := line.Upload
			if u.Points != 2000 || u.UploadSeconds <= 0 || u.IndexedSeconds < u.UploadSeconds || u.PointsPerSec <= 0 {
				t.Errorf("bad upload line: %+v", *u)
			}
			continue
		}
		searches++
		if line.Queries != 50 || line.QPS <= 0 || line.P99ms < line.P50ms {
			t.Errorf("bad search line: %s", sc.Text())
		}
		if line.EF == 256 && line.Recall < 0.99 {
			t.Errorf("%s ef 256 threads %d: recall %.4f, want about 1", line.Protocol, line.Threads, line.Recall)
		}
		if line.Recall <= 0 || line.Recall > 1 {
			t.Errorf("recall out of range: %s", sc.Text())
		}
	}
	if uploads != 2 || searches != 8 {
		t.Fatalf("got %d upload and %d search lines, want 2 and 8:\n%s", uploads, searches, stdout.String())
	}
	// The searches ran on a built graph: every vector is indexed.
	resp, err := http.Get("http://" + s.HTTPAddr() + "/collections/bench")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info struct {
		Result struct {
			Status              string `json:"status"`
			PointsCount         uint64 `json:"points_count"`
			IndexedVectorsCount uint64 `json:"indexed_vectors_count"`
		} `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatal(err)
	}
	if info.Result.Status != "green" || info.Result.PointsCount != 2000 || info.Result.IndexedVectorsCount != 2000 {
		t.Errorf("collection after the run: %+v, want green with 2000 points, all indexed", info.Result)
	}
}

// TestTargetsAgree checks that both protocols return the same neighbours
// for the same queries on the same collection, and that an upsert of a bad
// vector fails over both.
func TestTargetsAgree(t *testing.T) {
	s := startServer(t)
	_, grpcPort, _ := net.SplitHostPort(s.GRPCAddr())
	port, _ := strconv.Atoi(grpcPort)
	rt := NewRESTTarget("http://"+s.HTTPAddr(), "")
	defer rt.Close()
	gt, err := NewGRPCTarget("127.0.0.1", port, "")
	if err != nil {
		t.Fatal(err)
	}
	defer gt.Close()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	base := randVecs(r, 500, 8)
	spec := CollectionSpec{Name: "agree", Dim: 8, Distance: "Euclid", M: 16, EfConstruct: 100, Shards: 1}
	ds := &Dataset{Base: base}
	if _, err := Upload(ctx, rt, "rest", ds, Options{Collection: spec, BatchSize: 128, UploadThreads: 2, GreenTimeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		q := base[i*7]
		a, err := rt.Search(ctx, "agree", q, 5, 200)
		if err != nil {
			t.Fatal(err)
		}
		b, err := gt.Search(ctx, "agree", q, 5, 200)
		if err != nil {
			t.Fatal(err)
		}
		if len(a) != 5 || len(b) != 5 || a[0] != uint64(i*7) {
			t.Fatalf("query %d: rest %v grpc %v", i, a, b)
		}
		for j := range a {
			if a[j] != b[j] {
				t.Fatalf("query %d: rest %v grpc %v", i, a, b)
			}
		}
	}
	if err := rt.Upsert(ctx, "agree", []uint64{1}, [][]float32{{1, 2}}); err == nil {
		t.Error("REST upsert of a vector of the wrong size succeeded")
	}
	if err := gt.Upsert(ctx, "agree", []uint64{1}, [][]float32{{1, 2}}); err == nil {
		t.Error("gRPC upsert of a vector of the wrong size succeeded")
	}
}

// BenchmarkRESTSearch measures one client thread searching over REST
// against an in-process server (client and server costs together; profile
// with -cpuprofile). SHOAL_BENCH_DIM sets the dimension (default 784).
func BenchmarkRESTSearch(b *testing.B) {
	benchSearch(b, "rest")
}

// BenchmarkGRPCSearch is BenchmarkRESTSearch over gRPC.
func BenchmarkGRPCSearch(b *testing.B) {
	benchSearch(b, "grpc")
}

func benchSearch(b *testing.B, proto string) {
	dim := 784
	if s := os.Getenv("SHOAL_BENCH_DIM"); s != "" {
		dim, _ = strconv.Atoi(s)
	}
	s := startServer(b)
	_, grpcPort, _ := net.SplitHostPort(s.GRPCAddr())
	t, err := newTarget(proto, "http://"+s.HTTPAddr(), "127.0.0.1:"+grpcPort, "")
	if err != nil {
		b.Fatal(err)
	}
	defer t.Close()
	r := rand.New(rand.NewPCG(1, 2))
	base := make([][]float32, 4000)
	for i := range base {
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(r.IntN(256)) // Fashion-MNIST-like: integers 0..255
		}
		base[i] = v
	}
	ctx := context.Background()
	spec := CollectionSpec{Name: "b", Dim: dim, Distance: "Euclid", M: 16, EfConstruct: 64, Shards: 1}
	if _, err := Upload(ctx, t, proto, &Dataset{Base: base}, Options{Collection: spec, BatchSize: 256, UploadThreads: 2, GreenTimeout: time.Minute}); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		if _, err := t.Search(ctx, "b", base[i%len(base)], 10, 16); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkRESTUpload measures importing 10,000 Fashion-MNIST-like points
// (dimension 784, batches of 256, 2 upload threads) over REST against an
// in-process server, until the upserts return (not until indexed).
func BenchmarkRESTUpload(b *testing.B) {
	benchUpload(b, "rest", nil)
}

// BenchmarkGRPCUpload is BenchmarkRESTUpload over gRPC.
func BenchmarkGRPCUpload(b *testing.B) {
	benchUpload(b, "grpc", nil)
}

// BenchmarkRESTUploadNoIndex is BenchmarkRESTUpload into a collection with
// indexing off (indexing_threshold 0): protocol and write path alone,
// without background HNSW building competing for the CPU.
func BenchmarkRESTUploadNoIndex(b *testing.B) {
	benchUpload(b, "rest", new(int))
}

// BenchmarkGRPCUploadNoIndex is BenchmarkRESTUploadNoIndex over gRPC.
func BenchmarkGRPCUploadNoIndex(b *testing.B) {
	benchUpload(b, "grpc", new(int))
}

func benchUpload(b *testing.B, proto string, indexingThreshold *int) {
	s := startServer(b)
	_, grpcPort, _ := net.SplitHostPort(s.GRPCAddr())
	t, err := newTarget(proto, "http://"+s.HTTPAddr(), "127.0.0.1:"+grpcPort, "")
	if err != nil {
		b.Fatal(err)
	}
	defer t.Close()
	r := rand.New(rand.NewPCG(1, 2))
	base := make([][]float32, 10000)
	for i := range base {
		v := make([]float32, 784)
		for j := range v {
			v[j] = float32(r.IntN(256))
		}
		base[i] = v
	}
	ctx := context.Background()
	spec := CollectionSpec{Name: "u", Dim: 784, Distance: "Euclid", M: 16, EfConstruct: 200, Shards: 1, IndexingThreshold: indexingThreshold}
	o := Options{Collection: spec, BatchSize: 256, UploadThreads: 2, GreenTimeout: time.Nanosecond}
	for b.Loop() {
		if _, err := Upload(ctx, t, proto, &Dataset{Base: base}, o); err != nil && !strings.Contains(err.Error(), "not green") {
			b.Fatal(err)
		}
	}
}
