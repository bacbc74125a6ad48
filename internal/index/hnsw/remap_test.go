package hnsw

import (
	"math/rand/v2"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/index"
)

// TestRemap renumbers a graph with deleted nodes densely (in reverse
// order) and checks that the copy holds exactly the kept nodes, searches
// as well as the original, finds every node once reconnected, and takes
// inserts.
func TestRemap(t *testing.T) {
	const dim = 16
	n := testSize(4000)
	r := rand.New(rand.NewPCG(7, 7))
	st := randomStore(r, api.DistanceEuclid, n, dim)
	g := build(t, Options{M: 12, EfConstruct: 64, Distance: api.DistanceEuclid}, st, n, 2)
	for off := range uint32(n) {
		if off%4 == 1 {
			g.Delete(off)
		}
	}
	// New offsets: the kept nodes in reverse order, the last one left
	// out by the mapping itself.
	newOff := map[uint32]uint32{}
	ns := index.NewStore(dim)
	next := uint32(0)
	for off := uint32(n) - 2; ; off-- {
		if g.Contains(off) {
			newOff[off] = next
			ns.Set(next, st.Get(off))
			next++
		}
		if off == 0 {
			break
		}
	}
	ng := g.Remap(ns, func(off uint32) (uint32, bool) { no, ok := newOff[off]; return no, ok })
	if ng.Len() != len(newOff) || ng.Deleted() != 0 {
		t.Fatalf("remapped graph has %d nodes (%d deleted), want %d", ng.Len(), ng.Deleted(), len(newOff))
	}
	for off, no := range newOff {
		if !ng.Contains(no) {
			t.Fatalf("node %d (was %d) missing", no, off)
		}
	}
	if g.Len() != n-n/4 {
		t.Fatalf("the original changed: %d nodes", g.Len())
	}
	qs := queries(r, api.DistanceEuclid, 50, dim)
	before := recall(t, g, st, api.DistanceEuclid, qs, 10, 64, nil)
	after := recall(t, ng, ns, api.DistanceEuclid, qs, 10, 64, nil)
	t.Logf("recall %.3f before, %.3f after remapping", before, after)
	if after < before-0.03 || after < 0.9 {
		t.Fatalf("recall %.3f after remapping, %.3f before", after, before)
	}
	ng.Reconnect()
	if un := ng.Unreachable(); len(un) > 0 {
		t.Fatalf("%d nodes unreachable after Reconnect", len(un))
	}
	for no := range next {
		if res := ng.Search(ns.Get(no), 1, int(next), nil); len(res) == 0 || res[0].Off != no {
			t.Fatalf("node %d not found by an exhaustive search: %v", no, res)
		}
	}
	// Inserts go on at new offsets.
	for i := range 100 {
		ns.Set(next+uint32(i), randomVec(r, api.DistanceEuclid, dim))
		ng.Insert(next + uint32(i))
	}
	if ng.Len() != len(newOff)+100 {
		t.Fatalf("%d nodes after 100 inserts", ng.Len())
	}
}
