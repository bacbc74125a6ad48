//go:build linux

package shard

import (
	"bufio"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/vecmath"
)

// rssDim is the dimension of TestRSSOnDisk's synthetic vectors.
const rssDim = 128

// rssQueries is the number of queries with exact ground truth
// TestRSSOnDisk's search modes sweep hnsw_ef with.
const rssQueries = 500

// rssEfs is the hnsw_ef sweep of TestRSSOnDisk's search modes.
var rssEfs = []int{16, 32, 64, 128, 256, 512}

// rssLatent is the dimension of the space TestRSSOnDisk's vectors come
// from, and rssNoise the deviation of the noise added to each element.
// Independent Gaussian elements in 128 dimensions are the worst case of
// any nearest-neighbour index (every point nearly as far as the nearest:
// recall@10 0.86 at hnsw_ef 512 with 100,000 points); real embeddings have
// far fewer intrinsic dimensions.
const (
	rssLatent = 16
	rssNoise  = 0.05
)

// TestRSSOnDisk measures a shard of synthetic 128-dimensional vectors
// (SHOAL_BENCH_RSS_N, default 1,000,000; a fixed random linear map of
// rssLatent-dimensional Gaussian points plus noise): the import time (mode
// build), and the resident memory and the search throughput at recall@10
// >= 0.95 with its originals on the heap (mode ram), on_disk with scalar
// int8 codes in memory (mode ondisk), or the same with the HNSW graph's
// lists on_disk too (mode ondiskgraph, hnsw_config.on_disk). Each mode
// runs in its own process on the same directory, built first by mode
// build; mode truth writes the exact top 10 of the queries (brute force)
// for the search modes:
//
//	SHOAL_BENCH_RSS_DIR=/tmp/rss SHOAL_BENCH_RSS_MODE=build  go test -run TestRSSOnDisk -v -timeout 120m ./internal/shard
//	SHOAL_BENCH_RSS_DIR=/tmp/rss SHOAL_BENCH_RSS_MODE=truth  go test -run TestRSSOnDisk -v ./internal/shard
//	SHOAL_BENCH_RSS_DIR=/tmp/rss SHOAL_BENCH_RSS_MODE=ram    go test -run TestRSSOnDisk -v ./internal/shard
//	SHOAL_BENCH_RSS_DIR=/tmp/rss SHOAL_BENCH_RSS_MODE=ondisk go test -run TestRSSOnDisk -v ./internal/shard
//	SHOAL_BENCH_RSS_DIR=/tmp/rss SHOAL_BENCH_RSS_MODE=ondiskgraph go test -run TestRSSOnDisk -v ./internal/shard
//
// The search modes open the shard (from its index files), run the queries
// once per hnsw_ef of rssEfs (one goroutine locked to its thread), collect
// garbage and report VmRSS, RssAnon and RssFile, the memory cgroup's
// usage when the process runs in one, and recall@10, qps and cpu-qps
// (queries per second of the thread's CPU time) per hnsw_ef; with
// SHOAL_BENCH_RSS_HEAPPROFILE they write a heap profile there.
// docs/benchmarks.md has the commands of the scaling curve and of the run
// in a memory cgroup.
func TestRSSOnDisk(t *testing.T) {
	dir, mode := os.Getenv("SHOAL_BENCH_RSS_DIR"), os.Getenv("SHOAL_BENCH_RSS_MODE")
	if dir == "" || mode == "" {
		t.Skip("set SHOAL_BENCH_RSS_DIR and SHOAL_BENCH_RSS_MODE (build, truth, ram, ondisk, ondiskgraph)")
	}
	n := 1_000_000
	if v := os.Getenv("SHOAL_BENCH_RSS_N"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	// The points are drawn from one seeded generator in id order, the
	// queries from another, so that mode truth can draw them again.
	r := rand.New(rand.NewPCG(11, 12))
	qr := rand.New(rand.NewPCG(13, 14))
	mr := rand.New(rand.NewPCG(15, 16))
	var lin [rssDim][rssLatent]float64
	for i := range lin {
		for j := range lin[i] {
			lin[i][j] = mr.NormFloat64() / 4 // rssLatent = 16: unit variance per element
		}
	}
	vec := func(r *rand.Rand) []float32 {
		var z [rssLatent]float64
		for j := range z {
			z[j] = r.NormFloat64()
		}
		v := make([]float32, rssDim)
		for i := range v {
			x := rssNoise * r.NormFloat64()
			for j, zj := range z {
				x += lin[i][j] * zj
			}
			v[i] = float32(x)
		}
		return v
	}
	queries := make([][]float32, rssQueries)
	for i := range queries {
		queries[i] = vec(qr)
	}
	truthPath := filepath.Join(dir, "truth.bin")
	if mode == "truth" {
		base := make([][]float32, n)
		for i := range base {
			base[i] = vec(r)
		}
		writeTruth(t, truthPath, bruteTop10(base, queries))
		t.Logf("wrote the exact top 10 of %d queries over %d vectors", len(queries), n)
		return
	}
	onDisk, graphOnDisk := mode == "ondisk" || mode == "ondiskgraph", mode == "ondiskgraph"
	hc := api.DefaultHnswConfig()
	hc.OnDisk = &graphOnDisk
	opts := Options{
		Dir:        dir,
		Vectors:    api.VectorsConfig{"": {Size: rssDim, Distance: api.DistanceEuclid, OnDisk: &onDisk}},
		Hnsw:       map[string]api.HnswConfig{"": hc},
		Optimizers: api.DefaultOptimizersConfig(),
	}
	if onDisk {
		q, err := api.ParseQuantization([]byte(`{"scalar":{"type":"int8","quantile":0.99}}`))
		if err != nil {
			t.Fatal(err)
		}
		opts.Quantization = map[string]*api.QuantizationConfig{"": q}
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
				pts = append(pts, pt(uint64(j), vec(r), nil))
			}
			apply(t, s, upsert(pts...))
		}
		if err := s.WaitIndexed(bg); err != nil {
			t.Fatal(err)
		}
		t.Logf("built %d vectors in %v", n, time.Since(start))
		return
	}
	truth := readTruth(t, truthPath, len(queries))
	t.Logf("after open: RssFile %s", procStatus(t)["RssFile"])
	if err := s.WaitIndexed(bg); err != nil {
		t.Fatal(err)
	}
	t.Logf("after WaitIndexed: RssFile %s", procStatus(t)["RssFile"])
	opened := time.Since(start)
	// ondisk also sweeps with oversampling 2: the codes alone find about
	// 0.95 of the true top 10 (rescoring only reorders what they found).
	sweeps := []string{""}
	if onDisk {
		sweeps = append(sweeps, `{"rescore":true,"oversampling":2}`)
	}
	for _, qp := range sweeps {
		for _, ef := range rssEfs {
			params := api.SearchParams{HnswEf: &ef}
			label := ""
			if qp != "" {
				params.Quantization, label = []byte(qp), ", oversampling 2"
			}
			rec := 0.0
			runtime.LockOSThread()
			begin, cpu := time.Now(), threadCPU()
			for i, q := range queries {
				hits, err := s.Search(bg, SearchRequest{Vector: q, Limit: 10, Params: params})
				if err != nil {
					t.Fatal(err)
				}
				rec += recall(ids(hits), truth[i])
			}
			took, cpuTook := time.Since(begin), threadCPU()-cpu
			runtime.UnlockOSThread()
			t.Logf("mode %s%s: hnsw_ef %d: recall@10 %.4f, %.0f qps, %.0f cpu-qps", mode, label, ef, rec/float64(len(queries)),
				float64(len(queries))/took.Seconds(), float64(len(queries))/cpuTook.Seconds())
		}
	}
	runtime.GC()
	debug.FreeOSMemory()
	st := procStatus(t)
	g := s.spaces[""].graph.Load()
	t.Logf("mode %s: %d vectors, open %v; VmRSS %s, RssAnon %s, RssFile %s; codes %d MiB, store heap %d MiB, graph heap %d MiB (lists in a file: %v)",
		mode, n, opened.Round(time.Millisecond), st["VmRSS"], st["RssAnon"], st["RssFile"],
		s.QuantizedBytes("")>>20, s.spaces[""].store.Bytes()>>20, g.MemoryBytes()>>20, g.OnDisk())
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("mode %s: Go heap in use %d MiB (idle, not released %d MiB), stacks %d MiB, runtime metadata %d MiB",
		mode, ms.HeapInuse>>20, (ms.HeapIdle-ms.HeapReleased)>>20, ms.StackInuse>>20, (ms.GCSys+ms.MSpanSys+ms.MCacheSys+ms.BuckHashSys+ms.OtherSys)>>20)
	if cg := cgroupMemory(); cg != "" {
		t.Logf("mode %s: memory cgroup: %s", mode, cg)
	}
	if path := os.Getenv("SHOAL_BENCH_RSS_HEAPPROFILE"); path != "" {
		// What the heap holds with the shard open (go tool pprof
		// -sample_index=inuse_space).
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := pprof.WriteHeapProfile(f); err != nil {
			t.Fatal(err)
		}
	}
}

// cgroupMemory describes the memory cgroup (v1) the process runs in when
// it has a limit: the limit, the usage now and at its peak, and the
// resident anonymous, page cache and mapped file bytes charged to it
// ("" outside a limited cgroup).
func cgroupMemory() string {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 || parts[1] != "memory" {
			continue
		}
		dir := filepath.Join("/sys/fs/cgroup/memory", parts[2])
		read := func(name string) string {
			v, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				return "?"
			}
			return strings.TrimSpace(string(v))
		}
		mib := func(v string) string {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return v
			}
			return strconv.FormatInt(n>>20, 10) + " MiB"
		}
		limit := read("memory.limit_in_bytes")
		if n, err := strconv.ParseInt(limit, 10, 64); err != nil || n > 1<<50 {
			return ""
		}
		stat := map[string]string{}
		for _, l := range strings.Split(read("memory.stat"), "\n") {
			if k, v, ok := strings.Cut(l, " "); ok {
				stat[k] = v
			}
		}
		return "limit " + mib(limit) + ", usage " + mib(read("memory.usage_in_bytes")) + ", peak " + mib(read("memory.max_usage_in_bytes")) +
			", failcnt " + read("memory.failcnt") + "; rss " + mib(stat["rss"]) + ", cache " + mib(stat["cache"]) + ", mapped_file " + mib(stat["mapped_file"])
	}
	return ""
}

// threadCPU returns the CPU time of the calling OS thread: the search
// loop's throughput by it is far less disturbed by other processes on a
// shared machine than by wall-clock time.
func threadCPU() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// bruteTop10 returns the ids of the 10 vectors of base nearest (Euclid) to
// each query, nearest first, computed on all CPUs.
func bruteTop10(base, queries [][]float32) [][]uint64 {
	out := make([][]uint64, len(queries))
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for qi := range next {
				type cand struct {
					id uint64
					d  float32
				}
				var top []cand
				for id, v := range base {
					d := vecmath.L2Squared(queries[qi], v)
					if len(top) == 10 && d >= top[9].d {
						continue
					}
					i, _ := slices.BinarySearchFunc(top, d, func(c cand, d float32) int {
						if c.d <= d {
							return -1
						}
						return 1
					})
					top = slices.Insert(top, i, cand{uint64(id), d})
					if len(top) > 10 {
						top = top[:10]
					}
				}
				ids := make([]uint64, len(top))
				for i, c := range top {
					ids[i] = c.id
				}
				out[qi] = ids
			}
		})
	}
	for qi := range queries {
		next <- qi
	}
	close(next)
	wg.Wait()
	return out
}

// writeTruth writes the ground truth: per query 10 little-endian uint64s.
func writeTruth(t *testing.T, path string, truth [][]uint64) {
	var buf []byte
	for _, ids := range truth {
		for i := range 10 {
			var id uint64
			if i < len(ids) {
				id = ids[i]
			}
			buf = binary.LittleEndian.AppendUint64(buf, id)
		}
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

// readTruth reads the ground truth of nq queries written by writeTruth.
func readTruth(t *testing.T, path string, nq int) [][]uint64 {
	buf, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run mode truth first)", err)
	}
	if len(buf) != nq*80 {
		t.Fatalf("%s holds %d bytes, want %d", path, len(buf), nq*80)
	}
	out := make([][]uint64, nq)
	for i := range out {
		out[i] = make([]uint64, 10)
		for j := range out[i] {
			out[i][j] = binary.LittleEndian.Uint64(buf[(i*10+j)*8:])
		}
	}
	return out
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
	return out
}
