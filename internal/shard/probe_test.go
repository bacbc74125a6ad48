package shard

import (
	"bytes"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/index"
	"github.com/shoal-db/shoal/internal/index/hnsw"
)

// TestProbeHNSWRepairReachability checks what the shard relies on from
// index/hnsw under churn (deletes and inserts of the same ids, repaired
// when repairGraphs is on, persisted and reloaded): every live node stays
// reachable by a search for its own vector. SHOAL_PROBE_HNSW_REPAIR=1
// forces Repair on.
func TestProbeHNSWRepairReachability(t *testing.T) {
	repair := repairGraphs || os.Getenv("SHOAL_PROBE_HNSW_REPAIR") != ""
	for _, stepN := range []int{50, 300} {
		for trial := range 3 {
			r := rand.New(rand.NewPCG(uint64(trial), 9))
			st := index.NewStore(8)
			opts := hnsw.Options{M: 16, EfConstruct: 64, Distance: api.DistanceEuclid}
			g := hnsw.New(opts, st)
			live := map[uint64]uint32{} // id -> offset
			next := uint32(0)
			check := func(stage string) {
				t.Helper()
				miss := 0
				for _, off := range live {
					res := g.Search(st.Get(off), 1, 300, nil)
					if len(res) == 0 || res[0].Dist != 0 {
						miss++
					}
				}
				if miss > 0 {
					t.Errorf("step %d trial %d %s: %d of %d live nodes unreachable (len %d, deleted %d)", stepN, trial, stage, miss, len(live), g.Len(), g.Deleted())
				}
			}
			for range 1500 / stepN {
				for range stepN {
					id := uint64(r.IntN(300))
					if old, ok := live[id]; ok {
						g.Delete(old)
						delete(live, id)
					}
					if r.IntN(4) != 0 {
						st.Set(next, randVec(r, 8))
						g.Insert(next)
						live[id] = next
						next++
					}
				}
				if repair {
					g.Repair()
				}
				check("after churn")
				var buf bytes.Buffer
				if _, err := g.WriteTo(&buf); err != nil {
					t.Fatal(err)
				}
				g2, err := hnsw.Load(&buf, opts, st)
				if err != nil {
					t.Fatal(err)
				}
				g = g2
				check("after reload")
			}
		}
	}
}
