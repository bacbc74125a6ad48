package hnsw

import (
	"math/rand/v2"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/index"
)

// TestInsertIntoTombstones inserts into a graph whose every node is
// deleted (a graph loaded from an index file whose points have all been
// replaced since, or a region emptied by deletes): the new nodes must form
// a searchable graph among themselves, before and after Repair unlinks the
// tombstones. Inserts that linked only to live nodes used to leave each new
// node isolated here (out-degree 0, reachable only through the links
// Reconnect adds), and searches for their own vectors missed most of them.
func TestInsertIntoTombstones(t *testing.T) {
	for _, dead := range []int{1, 5, 40} {
		r := rand.New(rand.NewPCG(uint64(dead), 3))
		st := index.NewStore(8)
		g := New(Options{M: 16, EfConstruct: 64, Distance: api.DistanceEuclid}, st)
		off := uint32(0)
		for ; off < uint32(dead); off++ {
			st.Set(off, randomVec(r, api.DistanceEuclid, 8))
			g.Insert(off)
		}
		for o := range off {
			g.Delete(o)
		}
		var live []uint32
		for range 300 {
			st.Set(off, randomVec(r, api.DistanceEuclid, 8))
			g.Insert(off)
			live = append(live, off)
			off++
		}
		misses := func() int {
			n := 0
			for _, o := range live {
				if res := g.Search(st.Get(o), 1, 32, nil); len(res) == 0 || res[0].Off != o {
					n++
				}
			}
			return n
		}
		if n := misses(); n > 0 {
			t.Errorf("%d dead nodes, then 300 inserts: %d of 300 not found by their own vector at ef 32", dead, n)
		}
		g.Repair()
		if n := misses(); n > 0 {
			t.Errorf("%d dead nodes, 300 inserts, Repair: %d of 300 not found by their own vector at ef 32", dead, n)
		}
		if d := g.Deleted(); d != 0 {
			t.Errorf("%d deleted nodes left after Repair", d)
		}
	}
}
