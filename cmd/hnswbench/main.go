// Command hnswbench measures Shoal's HNSW index on a TEXMEX data set: build
// time, single-threaded search QPS and recall@k per ef, memory per point,
// and optionally filtered recall. It prints one JSON object per line, the
// same shape as bench/hnswlib/bench.py. See docs/benchmarks.md.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/index/bench"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "hnswbench:", err)
		os.Exit(1)
	}
}

func run() error {
	var o bench.Options
	var efs, sels, dist, cpuprofile string
	flag.StringVar(&o.DataDir, "data", "/work/shared/data/fashion-mnist-784-euclidean", "TEXMEX data set directory")
	flag.StringVar(&dist, "distance", "Euclid", "distance: Cosine, Euclid, Dot or Manhattan")
	flag.IntVar(&o.M, "m", 16, "HNSW M")
	flag.IntVar(&o.EfConstruct, "efc", 200, "HNSW ef_construct")
	flag.IntVar(&o.Threads, "threads", 2, "insert goroutines")
	flag.StringVar(&efs, "ef", "10,20,40,80,120,200,400", "comma-separated search ef values")
	flag.IntVar(&o.K, "k", 10, "neighbours per query (recall@k)")
	flag.IntVar(&o.Limit, "limit", 0, "use only the first N base vectors (exact ground truth is then computed)")
	flag.IntVar(&o.Queries, "queries", 0, "use only the first N queries")
	flag.StringVar(&sels, "filter", "", "comma-separated selectivities for filtered runs, e.g. 0.5,0.1,0.01")
	flag.IntVar(&o.FilterQueries, "filter-queries", 1000, "queries per filtered run")
	flag.Int64Var(&o.Seed, "seed", 100, "seed of levels and allow sets")
	flag.StringVar(&o.GraphFile, "graph", "", "cache file for the graph: loaded if it exists, else written after the build")
	flag.StringVar(&cpuprofile, "cpuprofile", "", "write a CPU profile to this file")
	flag.Parse()
	o.Distance = api.Distance(dist)
	if !o.Distance.Valid() {
		return fmt.Errorf("unknown distance %q", dist)
	}
	var err error
	if o.Efs, err = parseInts(efs); err != nil {
		return err
	}
	if sels != "" {
		for _, s := range strings.Split(sels, ",") {
			f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil || f <= 0 || f > 1 {
				return fmt.Errorf("bad selectivity %q", s)
			}
			o.Selectivities = append(o.Selectivities, f)
		}
	}
	o.Log = os.Stderr
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	return bench.Run(o, os.Stdout)
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, p := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("bad integer %q", p)
		}
		out = append(out, v)
	}
	return out, nil
}
