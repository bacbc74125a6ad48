package hnsw

import (
	"bytes"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/index"
)

// Benchmarks on random data; the real-data comparison with hnswlib is
// cmd/hnswbench (docs/benchmarks.md).

var benchGraph struct {
	once sync.Once
	s    *index.Store
	g    *Graph
	qs   [][]float32
}

const benchN, benchDim = 20000, 128

func sharedGraph(b *testing.B) (*Graph, [][]float32) {
	benchGraph.once.Do(func() {
		r := rand.New(rand.NewPCG(11, 11))
		benchGraph.s = randomStore(r, api.DistanceEuclid, benchN, benchDim)
		benchGraph.g = build(b, Options{M: 16, EfConstruct: 100, Distance: api.DistanceEuclid, Seed: 1}, benchGraph.s, benchN, 2)
		benchGraph.qs = queries(r, api.DistanceEuclid, 1000, benchDim)
	})
	return benchGraph.g, benchGraph.qs
}

func BenchmarkSearchEf64(b *testing.B) {
	g, qs := sharedGraph(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		g.Search(qs[i%len(qs)], 10, 64, nil)
		i++
	}
}

func BenchmarkSearchEf64Filter10(b *testing.B) {
	g, qs := sharedGraph(b)
	allow := func(off uint32) bool { return off%10 == 3 }
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		g.Search(qs[i%len(qs)], 10, 64, allow)
		i++
	}
}

func BenchmarkInsert(b *testing.B) {
	r := rand.New(rand.NewPCG(12, 12))
	const n = 5000
	s := randomStore(r, api.DistanceEuclid, n, benchDim)
	b.ReportAllocs()
	for b.Loop() {
		g := New(Options{M: 16, EfConstruct: 100, Distance: api.DistanceEuclid, Seed: 1}, s)
		for i := uint32(0); i < n; i++ {
			g.Insert(i)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/insert")
}

// BenchmarkRepair measures Repair of a 10,000-node graph (dim 128) after
// deleting 10 % of its nodes; the build is not timed.
func BenchmarkRepair(b *testing.B) {
	r := rand.New(rand.NewPCG(13, 13))
	const n = 10000
	s := randomStore(r, api.DistanceEuclid, n, benchDim)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		g := build(b, Options{M: 16, EfConstruct: 64, Distance: api.DistanceEuclid, Seed: int64(i)}, s, n, 2)
		for off := uint32(0); off < n; off += 10 {
			g.Delete(off)
		}
		b.StartTimer()
		if got := g.Repair(); got != n/10 {
			b.Fatalf("Repair removed %d", got)
		}
	}
}

// BenchmarkSearchEf64Lists searches one graph with its level-0 lists on
// the heap, in the mapped links file, and packed (pack.go).
func BenchmarkSearchEf64Lists(b *testing.B) {
	g, qs := sharedGraph(b)
	img := image(b, g)
	load := func(b *testing.B, unpack bool) *Graph {
		lg, err := Load(bytes.NewReader(img), Options{M: 16, Distance: api.DistanceEuclid, Dir: b.TempDir()}, benchGraph.s)
		if err != nil {
			b.Fatal(err)
		}
		if unpack {
			for ci := range len(*lg.chunks.Load()) {
				lg.unpack(ci)
			}
		}
		b.Cleanup(func() { _ = lg.Close() })
		return lg
	}
	for _, c := range []struct {
		name string
		g    func(b *testing.B) *Graph
	}{
		{"heap", func(*testing.B) *Graph { return g }},
		{"mapped", func(b *testing.B) *Graph { return load(b, true) }},
		{"packed", func(b *testing.B) *Graph { return load(b, false) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			g := c.g(b)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				g.Search(qs[i%len(qs)], 10, 64, nil)
				i++
			}
		})
	}
}
