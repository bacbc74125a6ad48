package hnsw

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/index"
)

// TestChurnReachability replaces points over and over (delete the old
// offset, insert a new one), repairing after each round, and checks that
// every live node is still found by a search for its own vector: Repair must
// not leave live nodes without incoming links.
func TestChurnReachability(t *testing.T) {
	for _, step := range []int{50, 300} {
		for trial := range testSize(12) / 3 {
			r := rand.New(rand.NewPCG(uint64(trial), 9))
			st := index.NewStore(8)
			g := New(Options{M: 16, EfConstruct: 64, Distance: api.DistanceEuclid}, st)
			live := map[int]uint32{}
			next := uint32(0)
			for round := range 1500 / step {
				for range step {
					id := r.IntN(300)
					if old, ok := live[id]; ok {
						g.Delete(old)
						delete(live, id)
					}
					if r.IntN(4) != 0 {
						st.Set(next, randomVec(r, api.DistanceEuclid, 8))
						g.Insert(next)
						live[id] = next
						next++
					}
				}
				g.Repair()
				if round%3 == 2 { // the repaired graph also survives a save and load
					var buf bytes.Buffer
					if _, err := g.WriteTo(&buf); err != nil {
						t.Fatal(err)
					}
					g2, err := Load(&buf, g.Options(), st)
					if err != nil {
						t.Fatal(err)
					}
					g = g2
				}
				miss := 0
				for _, off := range live {
					if res := g.Search(st.Get(off), 1, 300, nil); len(res) == 0 || res[0].Dist != 0 {
						miss++
					}
				}
				if miss > 0 {
					t.Fatalf("step %d trial %d round %d: %d of %d live nodes unreachable", step, trial, round, miss, len(live))
				}
			}
		}
	}
}
