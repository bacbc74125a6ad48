package shard

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/api"
)

// TestRSSOnDisk measures the resident memory of a shard of synthetic
// 128-dimensional vectors (SHOAL_BENCH_RSS_N, default 1,000,000) served
// with its originals on the heap (mode ram) or on_disk with scalar int8
// codes in memory (mode ondisk). Each mode runs in its own process on the
// same directory, built first by mode build:
//
//	SHOAL_BENCH_RSS_DIR=/tmp/rss SHOAL_BENCH_RSS_MODE=build  go test -run TestRSSOnDisk -v -timeout 60m ./internal/shard
//	SHOAL_BENCH_RSS_DIR=/tmp/rss SHOAL_BENCH_RSS_MODE=ram    go test -run TestRSSOnDisk -v ./internal/shard
//	SHOAL_BENCH_RSS_DIR=/tmp/rss SHOAL_BENCH_RSS_MODE=ondisk go test -run TestRSSOnDisk -v ./internal/shard
//
// ram and ondisk open the shard (from its index files), run 2,000 top-10
// searches, collect garbage and report VmRSS, RssAnon and RssFile.
func TestRSSOnDisk(t *testing.T) {
	dir, mode := os.Getenv("SHOAL_BENCH_RSS_DIR"), os.Getenv("SHOAL_BENCH_RSS_MODE")
	if dir == "" || mode == "" {
		t.Skip("set SHOAL_BENCH_RSS_DIR and SHOAL_BENCH_RSS_MODE (build, ram, ondisk)")
	}
	n := 1_000_000
	if v := os.Getenv("SHOAL_BENCH_RSS_N"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	const dim = 128
	onDisk := mode == "ondisk"
	opts := Options{
		Dir:        dir,
		Vectors:    api.VectorsConfig{"": {Size: dim, Distance: api.DistanceEuclid, OnDisk: &onDisk}},
		Hnsw:       map[string]api.HnswConfig{"": api.DefaultHnswConfig()},
		Optimizers: api.DefaultOptimizersConfig(),
	}
	if onDisk {
		q, err := api.ParseQuantization([]byte(`{"scalar":{"type":"int8","quantile":0.99}}`))
		if err != nil {
			t.Fatal(err)
		}
		opts.Quantization = map[string]*api.QuantizationConfig{"": q}
	}
	r := rand.New(rand.NewPCG(11, 12))
	vec := func() []float32 {
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(r.NormFloat64())
		}
		return v
	}
	start := time.Now()
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if mode == "build" {
		for i := 0; i < n; i += 1000 {
			pts := make([]api.PointStruct, 0, 1000)
			for j := i; j < min(i+1000, n); j++ {
				pts = append(pts, pt(uint64(j), vec(), nil))
			}
			apply(t, s, upsert(pts...))
		}
		if err := s.WaitIndexed(bg); err != nil {
			t.Fatal(err)
		}
		t.Logf("built %d vectors in %v", n, time.Since(start))
		return
	}
	t.Logf("after open: RssFile %s", procStatus(t)["RssFile"])
	if err := s.WaitIndexed(bg); err != nil {
		t.Fatal(err)
	}
	t.Logf("after WaitIndexed: RssFile %s", procStatus(t)["RssFile"])
	opened := time.Since(start)
	begin := time.Now()
	const nq = 2000
	for range nq {
		if _, err := s.Search(bg, SearchRequest{Vector: vec(), Limit: 10}); err != nil {
			t.Fatal(err)
		}
	}
	took := time.Since(begin)
	runtime.GC()
	debug.FreeOSMemory()
	st := procStatus(t)
	t.Logf("mode %s: %d vectors, open %v, %.0f qps; VmRSS %s, RssAnon %s, RssFile %s; codes %d MiB, store heap %d MiB",
		mode, n, opened.Round(time.Millisecond), nq/took.Seconds(), st["VmRSS"], st["RssAnon"], st["RssFile"],
		s.QuantizedBytes("")>>20, s.spaces[""].store.Bytes()>>20)
}

func procStatus(t *testing.T) map[string]string {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok {
			out[k] = strings.TrimSpace(v)
		}
	}
	_ = fmt.Sprint
	return out
}
