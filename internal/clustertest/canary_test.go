package clustertest

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/config"
	"github.com/shoal-db/shoal/internal/service"
)

// TestCanaryInCluster runs the canary on three nodes at a 1 s interval:
// each node keeps its own collection (three canary collections, none in
// the listing), every step succeeds on every node, and after a peer is
// removed by force, the nodes whose canary collection lost its only
// replica of a shard report the readable step failing.
func TestCanaryInCluster(t *testing.T) {
	c := New(t, Options{Configure: func(_ int, cfg *config.Config) {
		cfg.Canary.Enabled = true
		cfg.Canary.IntervalSec = 1
	}})
	for i := range c.Nodes {
		c.Start(i)
	}
	if err := c.WaitFormed(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	for i := range c.Nodes {
		waitMetric(t, c, i, `shoal_canary_success{op="search"}`, func(v float64) bool { return v == 1 })
	}
	// Several runs each, none failed.
	for i := range c.Nodes {
		waitMetric(t, c, i, `shoal_canary_runs_total{op="search",result="ok"}`, func(v float64) bool { return v >= 3 })
		m := c.scrape(i)
		for _, op := range []string{"create", "readable", "upsert", "read", "search"} {
			if v := metricValue(m, fmt.Sprintf(`shoal_canary_runs_total{op=%q,result="failed"}`, op)); v > 0 {
				t.Fatalf("node %d: %s failed %v times:\n%s", i, op, v, grepLines(m, "canary"))
			}
		}
	}
	st := c.Nodes[0].Srv.Cluster().State()
	for i := range c.Nodes {
		name := service.CanaryCollection(c.Nodes[i].Srv.Cluster().ID())
		if _, ok := st.Collections[name]; !ok {
			t.Fatalf("no collection %s: %v", name, st.CollectionNames())
		}
	}
	if len(st.Collections) != 3 {
		t.Fatalf("collections %v", st.CollectionNames())
	}
	var list struct {
		Collections []struct{ Name string } `json:"collections"`
	}
	c.MustDo(1, "GET", "/collections", nil, &list)
	if len(list.Collections) != 0 {
		t.Fatalf("listing shows %v", list.Collections)
	}

	// Pick a node j holding the only replica of a shard of node i's
	// canary collection (2 shards on 2 of the 3 nodes: one of them is
	// on another node than i), stop and remove j by force: i's readable
	// step fails from then on; the third node's succeeds unless its
	// collection also lost a shard.
	ids := make([]uint64, 3)
	for i := range ids {
		ids[i] = c.Nodes[i].Srv.Cluster().ID()
	}
	holds := func(i, j int) bool {
		for _, sp := range st.Collections[service.CanaryCollection(ids[i])].Shards {
			if len(sp.Replicas) == 1 && sp.Replicas[0].Peer == ids[j] {
				return true
			}
		}
		return false
	}
	vi, vj := -1, -1
	for i := range 3 {
		for j := range 3 {
			if i != j && vi < 0 && holds(i, j) {
				vi, vj = i, j
			}
		}
	}
	if vi < 0 {
		t.Fatal("no canary shard on another node")
	}
	c.Stop(vj)
	c.MustDo(vi, "DELETE", "/cluster/peer/"+strconv.FormatUint(ids[vj], 10)+"?force=true", nil, nil)
	for i := range 3 {
		if i == vj {
			continue
		}
		want := 1.0
		if holds(i, vj) {
			want = 0
		}
		waitMetric(t, c, i, `shoal_canary_success{op="readable"}`, func(v float64) bool { return v == want })
		if want == 0 {
			waitMetric(t, c, i, `shoal_canary_runs_total{op="readable",result="failed"}`, func(v float64) bool { return v >= 1 })
		}
	}
}
