package shard

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"

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
