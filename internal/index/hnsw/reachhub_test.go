package hnsw

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/index"
)

// TestReconnectConvergesOnHubs checks that one reachability pass links
// every stranded node without stranding others, on data where most of a
// fresh graph is unreachable and the nearest nodes of a stranded one are a
// few hubs with full lists (uniform positive vectors under Dot). Linking
// into full lists used to displace any link, so that every pass found
// about as many stranded nodes as the last.
// (20,000 points: with 4,000 the old code still converged within a pass,
// with 10,000 it left 5 nodes unreachable, with 20,000 its second pass
// linked 8,844.)
func TestReconnectConvergesOnHubs(t *testing.T) {
	if raceEnabled {
		t.Skip("single-threaded pass over 20,000 512-d vectors: too slow under the race detector; the concurrent reach tests cover races")
	}
	const n, dim = 20000, 512
	r := rand.New(rand.NewPCG(3, 3))
	st := index.NewStore(dim)
	for off := range uint32(n) {
		v := make([]float32, dim)
		for j := range v {
			v[j] = r.Float32()
		}
		st.Set(off, v)
	}
	g := build(t, Options{M: 16, EfConstruct: 100, Distance: api.DistanceDot, Seed: 1}, st, n, 2)
	stranded := len(g.Unreachable())
	if stranded < n/10 {
		t.Fatalf("only %d of %d nodes unreachable after the build: the data no longer makes hubs", stranded, n)
	}
	t0 := time.Now()
	linked := g.Reconnect()
	t.Logf("pass took %s", time.Since(t0))
	if un := g.Unreachable(); len(un) != 0 {
		t.Fatalf("%d nodes unreachable after a pass that linked %d (%d before)", len(un), linked, stranded)
	}
	if linked > stranded+stranded/100 {
		t.Errorf("the pass linked %d nodes for %d stranded ones: its links displaced others", linked, stranded)
	}
	again := g.Reconnect()
	t.Logf("stranded %d, linked %d, again %d", stranded, linked, again)
	if again != 0 {
		t.Errorf("a second pass linked %d nodes, want 0", again)
	}
}
