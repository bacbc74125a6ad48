package shard

import (
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/api"
)

// A synthetic 100-dimensional angular (Cosine) set: no real one (such as
// GloVe-100) is on the machines this runs on. Each vector is a point of a
// 16-dimensional Gaussian mixture (64 clusters) mapped linearly into 100
// dimensions, plus noise, then normalised: embeddings have far fewer
// intrinsic dimensions than elements, and independent Gaussians would
// leave every point nearly as far as its nearest.
const (
	angularDim      = 100
	angularLatent   = 16
	angularClusters = 64
	angularN        = 100_000
	angularQueries  = 1000
)

// angularSet is the built shard of the synthetic angular set, shared by
// the benchmarks of one process.
type angularSet struct {
	once    sync.Once
	dir     string
	queries [][]float32
	truth   [][]int32
	err     error
}

var angular angularSet

func angularOptions(dir string) Options {
	return Options{
		Dir:        dir,
		Vectors:    api.VectorsConfig{"": {Size: angularDim, Distance: api.DistanceCosine}},
		Hnsw:       map[string]api.HnswConfig{"": api.DefaultHnswConfig()},
		Optimizers: api.DefaultOptimizersConfig(),
	}
}

// buildAngular generates the set (seeded), computes the exact top 10 of
// the queries by brute force, and builds the shard once.
func buildAngular(b *testing.B) *angularSet {
	angular.once.Do(func() {
		r := rand.New(rand.NewPCG(21, 22))
		var lin [angularDim][angularLatent]float64
		for i := range lin {
			for j := range lin[i] {
				lin[i][j] = r.NormFloat64() / 4
			}
		}
		centres := make([][angularLatent]float64, angularClusters)
		for c := range centres {
			for j := range centres[c] {
				centres[c][j] = 2 * r.NormFloat64()
			}
		}
		gen := func() []float32 {
			c := centres[r.IntN(angularClusters)]
			var z [angularLatent]float64
			for j := range z {
				z[j] = c[j] + r.NormFloat64()
			}
			v := make([]float32, angularDim)
			var norm float64
			for i := range v {
				x := 0.05 * r.NormFloat64()
				for j, zj := range z {
					x += lin[i][j] * zj
				}
				v[i] = float32(x)
				norm += x * x
			}
			inv := float32(1 / math.Sqrt(norm))
			for i := range v {
				v[i] *= inv
			}
			return v
		}
		base := make([][]float32, angularN)
		for i := range base {
			base[i] = gen()
		}
		angular.queries = make([][]float32, angularQueries)
		for i := range angular.queries {
			angular.queries[i] = gen()
		}
		// Exact top 10 by cosine (the vectors are unit length: the dot).
		angular.truth = make([][]int32, angularQueries)
		var wg sync.WaitGroup
		for w := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				type cand struct {
					id  int32
					dot float32
				}
				for qi := w; qi < angularQueries; qi += 2 {
					q := angular.queries[qi]
					best := make([]cand, 0, 11)
					for id, v := range base {
						var d float32
						for i := range v {
							d += v[i] * q[i]
						}
						if len(best) == 10 && d <= best[9].dot {
							continue
						}
						best = append(best, cand{int32(id), d})
						sort.Slice(best, func(i, j int) bool { return best[i].dot > best[j].dot })
						if len(best) > 10 {
							best = best[:10]
						}
					}
					ids := make([]int32, len(best))
					for i, c := range best {
						ids[i] = c.id
					}
					angular.truth[qi] = ids
				}
			}()
		}
		wg.Wait()
		angular.dir, angular.err = os.MkdirTemp("", "shoal-angular-bench-")
		if angular.err != nil {
			return
		}
		start := time.Now()
		s, err := Open(angularOptions(angular.dir))
		if err != nil {
			angular.err = err
			return
		}
		for i := 0; i < angularN; i += 1000 {
			pts := make([]api.PointStruct, 0, 1000)
			for j := i; j < i+1000; j++ {
				pts = append(pts, pt(uint64(j), base[j], nil))
			}
			if _, err := s.Apply(bg, upsert(pts...)); err != nil {
				angular.err = err
				return
			}
		}
		if err := s.WaitIndexed(bg); err != nil {
			angular.err = err
			return
		}
		angular.err = s.Close()
		b.Logf("built the synthetic angular set (%d × %d) in %v", angularN, angularDim, time.Since(start))
	})
	if angular.err != nil {
		b.Fatal(angular.err)
	}
	return &angular
}

// BenchmarkQuantizedSearchAngular100 is BenchmarkQuantizedSearch60k on the
// synthetic 100-dimensional angular set (100,000 points, 1,000 queries):
// float32 and scalar int8 with rescoring, interleaved query by query.
func BenchmarkQuantizedSearchAngular100(b *testing.B) {
	a := buildAngular(b)
	s, err := Open(angularOptions(a.dir))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	runQuantized(b, s, a.queries, a.truth, "int8", `{"scalar":{"type":"int8","quantile":0.99,"always_ram":true}}`, []quantBenchCase{
		{"os1-ef64", `{"rescore":true}`, 64},
		{"os2-ef64", `{"rescore":true,"oversampling":2}`, 64},
		{"os2-ef100", `{"rescore":true,"oversampling":2}`, 100},
		{"norescore-ef100", `{"rescore":false}`, 100},
	})
}
