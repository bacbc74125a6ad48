// Package bench measures the HNSW index on TEXMEX data sets (fvecs/ivecs,
// optionally gzipped): build time with N threads, single-threaded search
// QPS and recall@k per ef, memory per point, and filtered recall at given
// selectivities with exact filtered ground truth from index/flat. It backs
// cmd/hnswbench and prints one JSON object per line, in the same shape as
// bench/hnswlib/bench.py so that the two can be compared line by line.
package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/index"
	"github.com/shoal-db/shoal/internal/index/flat"
	"github.com/shoal-db/shoal/internal/index/hnsw"
	"github.com/shoal-db/shoal/internal/texmex"
	"github.com/shoal-db/shoal/internal/vecmath"
)

// Options configure a benchmark run.
type Options struct {
	// DataDir holds base.fvecs[.gz], query.fvecs[.gz] and
	// groundtruth.ivecs[.gz].
	DataDir string
	// Distance of the data set (Euclid for the TEXMEX sets).
	Distance api.Distance
	// M and EfConstruct are the graph parameters.
	M, EfConstruct int
	// Threads is the number of insert goroutines.
	Threads int
	// Efs are the search ef values to measure.
	Efs []int
	// K is the number of neighbours (recall@K).
	K int
	// Limit caps the number of base vectors (0: all); the ground truth file
	// is then ignored and exact ground truth is computed with flat.
	Limit int
	// Queries caps the number of queries (0: all).
	Queries int
	// Selectivities, if any, add filtered runs with random allow sets that
	// admit that fraction of the points.
	Selectivities []float64
	// FilterQueries caps the queries of filtered runs (0: 1000).
	FilterQueries int
	// Seed drives the graph's levels and the random allow sets.
	Seed int64
	// GraphFile, if set, caches the built graph: when the file exists the
	// graph is loaded from it instead of built (build_seconds is then 0),
	// otherwise it is written there after the build.
	GraphFile string
	// Log receives progress lines (nil: none).
	Log io.Writer
}

// BuildResult is the first JSON line.
type BuildResult struct {
	Engine             string  `json:"engine"`
	N                  int     `json:"n"`
	Dim                int     `json:"dim"`
	M                  int     `json:"m"`
	EfConstruct        int     `json:"ef_construct"`
	Threads            int     `json:"threads"`
	BuildSeconds       float64 `json:"build_seconds"`
	BuildCPUSeconds    float64 `json:"build_cpu_seconds"`
	BytesPerPoint      float64 `json:"bytes_per_point"`
	HeapBytesPerPoint  float64 `json:"heap_bytes_per_point"`
	GraphBytesPerPoint float64 `json:"graph_bytes_per_point"`
	Asm                bool    `json:"asm"`
	Loaded             bool    `json:"loaded,omitempty"`
}

// SearchResult is one line per ef (and selectivity).
type SearchResult struct {
	Ef          int      `json:"ef"`
	Recall      float64  `json:"recall"`
	QPS         float64  `json:"qps"`
	CPUQPS      float64  `json:"cpu_qps"`
	Selectivity *float64 `json:"selectivity,omitempty"`
	Queries     int      `json:"queries"`
}

func findFile(dir, name string) (string, error) {
	for _, p := range []string{filepath.Join(dir, name), filepath.Join(dir, name+".gz")} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("cannot find %s in %s", name, dir)
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// Run executes the benchmark and writes JSON lines to out.
func Run(opts Options, out io.Writer) error {
	logf := func(format string, args ...any) {
		if opts.Log != nil {
			fmt.Fprintf(opts.Log, format+"\n", args...)
		}
	}
	if opts.K <= 0 {
		opts.K = 10
	}
	if opts.Threads <= 0 {
		opts.Threads = 1
	}
	if opts.Distance == "" {
		opts.Distance = api.DistanceEuclid
	}
	enc := json.NewEncoder(out)
	basePath, err := findFile(opts.DataDir, "base.fvecs")
	if err != nil {
		return err
	}
	queryPath, err := findFile(opts.DataDir, "query.fvecs")
	if err != nil {
		return err
	}
	queries, err := texmex.ReadFvecs(queryPath, opts.Queries)
	if err != nil {
		return err
	}
	if opts.Distance == api.DistanceCosine {
		for _, q := range queries {
			vecmath.Normalize(q)
		}
	}

	baseline := heapInUse()
	var store *index.Store
	vec := []float32{}
	dim, n, err := texmex.ReadVecs(basePath, opts.Limit, func(i int, raw []uint32) error {
		if store == nil {
			store = index.NewStore(len(raw))
			vec = make([]float32, len(raw))
		}
		for j, x := range raw {
			vec[j] = float32frombits(x)
		}
		if opts.Distance == api.DistanceCosine {
			vecmath.Normalize(vec)
		}
		store.Set(uint32(i), vec)
		return nil
	})
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("cannot benchmark: %s is empty", basePath)
	}
	logf("loaded %d base vectors of dim %d, %d queries", n, dim, len(queries))

	var truth [][]int32
	if opts.Limit == 0 {
		gtPath, err := findFile(opts.DataDir, "groundtruth.ivecs")
		if err == nil {
			truth, err = texmex.ReadIvecs(gtPath, len(queries))
			if err != nil {
				return err
			}
		}
	}
	if truth == nil {
		logf("computing exact ground truth with flat")
		truth = exactTruth(store, opts.Distance, queries, opts.K, nil, opts.Threads)
	}

	hopts := hnsw.Options{M: opts.M, EfConstruct: opts.EfConstruct, Distance: opts.Distance, Seed: opts.Seed}
	var g *hnsw.Graph
	var buildSec, buildCPU float64
	loaded := false
	if f, err := os.Open(opts.GraphFile); opts.GraphFile != "" && err == nil {
		g, err = hnsw.Load(f, hopts, store)
		f.Close()
		if err != nil {
			return err
		}
		loaded = true
	} else {
		g = hnsw.New(hopts, store)
		cpu0 := processCPU()
		start := time.Now()
		var next atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < opts.Threads; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1) - 1
					if i >= int64(n) {
						return
					}
					g.Insert(uint32(i))
				}
			}()
		}
		wg.Wait()
		buildSec = time.Since(start).Seconds()
		buildCPU = (processCPU() - cpu0).Seconds()
		if opts.GraphFile != "" {
			if err := saveGraph(g, opts.GraphFile); err != nil {
				return err
			}
		}
	}
	heap := heapInUse()
	graphBytes := g.MemoryBytes()
	if err := enc.Encode(BuildResult{
		Engine: "shoal", N: n, Dim: dim, M: opts.M, EfConstruct: opts.EfConstruct, Threads: opts.Threads,
		BuildSeconds:       buildSec,
		BuildCPUSeconds:    buildCPU,
		BytesPerPoint:      float64(store.Bytes()+graphBytes) / float64(n),
		HeapBytesPerPoint:  float64(int64(heap)-int64(baseline)) / float64(n),
		GraphBytesPerPoint: float64(graphBytes) / float64(n),
		Asm:                vecmath.Accelerated(),
		Loaded:             loaded,
	}); err != nil {
		return err
	}

	for _, ef := range opts.Efs {
		res := searchRun(g, queries, truth, opts.K, ef, nil)
		if err := enc.Encode(res); err != nil {
			return err
		}
	}

	if len(opts.Selectivities) > 0 {
		fq := opts.FilterQueries
		if fq <= 0 {
			fq = 1000
		}
		fqs := queries[:min(fq, len(queries))]
		r := rand.New(rand.NewPCG(uint64(opts.Seed), 77))
		for _, sel := range opts.Selectivities {
			allowed := make([]bool, n)
			for i := range allowed {
				allowed[i] = r.Float64() < sel
			}
			allow := func(off uint32) bool { return allowed[off] }
			ft := exactTruth(store, opts.Distance, fqs, opts.K, allow, opts.Threads)
			for _, ef := range opts.Efs {
				res := searchRun(g, fqs, ft, opts.K, ef, allow)
				s := sel
				res.Selectivity = &s
				if err := enc.Encode(res); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func float32frombits(x uint32) float32 { return math.Float32frombits(x) }

// searchRun times single-threaded searches of all queries at one ef, in
// wall-clock time and in CPU time of the searching thread (the latter is
// robust against other processes competing for the cores).
func searchRun(g *hnsw.Graph, queries [][]float32, truth [][]int32, k, ef int, allow func(uint32) bool) SearchResult {
	results := make([][]index.Result, len(queries))
	runtime.LockOSThread()
	cpu0 := threadCPU()
	start := time.Now()
	for i, q := range queries {
		results[i] = g.Search(q, k, ef, allow)
	}
	elapsed := time.Since(start).Seconds()
	cpu := (threadCPU() - cpu0).Seconds()
	runtime.UnlockOSThread()
	hit, total := 0, 0
	for i, res := range results {
		want := truth[i]
		if len(want) > k {
			want = want[:k]
		}
		set := make(map[int32]bool, len(want))
		for _, w := range want {
			set[w] = true
		}
		for _, r := range res {
			if set[int32(r.Off)] {
				hit++
			}
		}
		total += len(want)
	}
	rec := 1.0
	if total > 0 {
		rec = float64(hit) / float64(total)
	}
	res := SearchResult{Ef: ef, Recall: rec, QPS: float64(len(queries)) / elapsed, Queries: len(queries)}
	if cpu > 0 {
		res.CPUQPS = float64(len(queries)) / cpu
	}
	return res
}

// exactTruth computes the exact top k of each query under allow with flat,
// in parallel.
func exactTruth(store *index.Store, d api.Distance, queries [][]float32, k int, allow func(uint32) bool, threads int) [][]int32 {
	out := make([][]int32, len(queries))
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < max(threads, 1); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(queries) {
					return
				}
				res := flat.Search(store, d, queries[i], k, allow)
				ids := make([]int32, len(res))
				for j, r := range res {
					ids[j] = int32(r.Off)
				}
				out[i] = ids
			}
		}()
	}
	wg.Wait()
	return out
}

func saveGraph(g *hnsw.Graph, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("cannot save graph: %w", err)
	}
	if _, err := g.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("cannot save graph: %w", err)
	}
	return nil
}
