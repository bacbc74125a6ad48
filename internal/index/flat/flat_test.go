package flat

import (
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/index"
	"github.com/shoal-db/shoal/internal/vecmath"
)

func TestSearchMatchesSort(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	const n, dim = 700, 5
	store := index.NewStore(dim)
	for i := 0; i < n; i++ {
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(r.IntN(5)) // many ties
		}
		store.Set(uint32(i), v)
	}
	q := []float32{1, 2, 3, 2, 1}
	for _, d := range []api.Distance{api.DistanceCosine, api.DistanceDot, api.DistanceEuclid, api.DistanceManhattan} {
		allow := func(off uint32) bool { return off%3 != 0 }
		var all []index.Result
		for i := 0; i < n; i++ {
			if allow(uint32(i)) {
				all = append(all, index.Result{Off: uint32(i), Dist: vecmath.Dist(d)(q, store.Get(uint32(i)))})
			}
		}
		sort.Slice(all, func(i, j int) bool {
			if all[i].Dist != all[j].Dist {
				return all[i].Dist < all[j].Dist
			}
			return all[i].Off < all[j].Off
		})
		for _, k := range []int{0, 1, 10, 1000} {
			got := Search(store, d, q, k, allow)
			want := all[:min(k, len(all))]
			if len(got) != len(want) {
				t.Fatalf("%s k=%d: %d results, want %d", d, k, len(got), len(want))
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("%s k=%d: result %d = %+v, want %+v", d, k, i, got[i], want[i])
				}
			}
		}
		cands := []uint32{5, 6, 7, 8, 9, 10}
		got := SearchCandidates(store, d, q, 3, cands, allow)
		gotF := SearchCandidatesFunc(cands, func(off uint32) float32 { return vecmath.Dist(d)(q, store.Get(off)) }, 3, allow)
		if len(got) != 3 || len(gotF) != 3 {
			t.Fatalf("candidates: %v %v", got, gotF)
		}
		for i := range got {
			if got[i] != gotF[i] || got[i].Off%3 == 0 || got[i].Off < 5 || got[i].Off > 10 {
				t.Fatalf("candidates: %v %v", got, gotF)
			}
		}
	}
}

func TestSearchFunc(t *testing.T) {
	got := SearchFunc(100, func(off uint32) float32 { return float32((int(off) - 50) * (int(off) - 50)) }, 3, nil)
	want := []index.Result{{Off: 50, Dist: 0}, {Off: 49, Dist: 1}, {Off: 51, Dist: 1}}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}
