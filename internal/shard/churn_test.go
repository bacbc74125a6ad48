package shard

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/api"
)

// TestChurnKeepsPointsFindable updates and deletes a small set of ids many
// times (each update retires a graph node) and checks that every live point
// stays findable through the graph, with and without repairs.
func TestChurnKeepsPointsFindable(t *testing.T) {
	opts := indexedOptions(t.TempDir(), 8, api.DistanceEuclid)
	s := openShard(t, opts)
	r := rand.New(rand.NewPCG(1, 1))
	m := model{}
	rebuilds := 0
	for i := range 400 {
		var op *api.UpdateOperation
		if r.IntN(4) == 0 {
			op = &api.UpdateOperation{Delete: &api.PointsSelector{Points: []api.PointID{api.NumID(uint64(r.IntN(300)))}}}
		} else {
			var pts []api.PointStruct
			for range 1 + r.IntN(20) {
				pts = append(pts, pt(uint64(r.IntN(300)), randVec(r, 8), api.Payload{"i": json.Number(fmt.Sprint(i))}))
			}
			op = upsert(pts...)
		}
		g := s.spaces[""].graph.Load()
		apply(t, s, op)
		m.apply(op)
		if s.spaces[""].graph.Load() != g {
			rebuilds++
		}
		if i%100 == 99 {
			verifyModel(t, s, m, i)
		}
	}
	waitIndexed(t, s)
	g := s.spaces[""].graph.Load()
	t.Logf("graph len %d, tombstones %d, rebuilds seen %d", g.Len(), g.Deleted(), rebuilds)
	verifyModel(t, s, m, 400)
}

// TestWaitIndexedWaitsForRunningReachPass checks that WaitIndexed waits for
// a reachability pass the maintenance loop is running: such a pass clears
// the graph's changed flag when it begins, and WaitIndexed used to take the
// cleared flag for a checked graph and return while nodes were still being
// linked.
func TestWaitIndexedWaitsForRunningReachPass(t *testing.T) {
	s := openShard(t, indexedOptions(t.TempDir(), 8, api.DistanceEuclid))
	r := rand.New(rand.NewPCG(2, 2))
	var pts []api.PointStruct
	for i := range 50 {
		pts = append(pts, pt(uint64(i), randVec(r, 8), nil))
	}
	apply(t, s, upsert(pts...))
	waitIndexed(t, s)
	sp := s.spaces[""]
	// What a background pass does while it runs.
	sp.repairMu.Lock()
	sp.unchecked.Store(false)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.WaitIndexed(t.Context()); err != nil {
			t.Error(err)
		}
	}()
	select {
	case <-done:
		t.Fatal("WaitIndexed returned while a reachability pass was running")
	case <-time.After(200 * time.Millisecond):
	}
	sp.repairMu.Unlock()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("WaitIndexed still waiting 10 s after the pass ended")
	}
}
