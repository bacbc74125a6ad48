package clustertest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/clustertest/history"
	"github.com/shoal-db/shoal/internal/config"
)

// healFast makes peers Dead after 3 s of silence (and backups Dead, and
// primaries replaced, within a second).
func healFast(deadAfter time.Duration) func(int, *config.Config) {
	return func(_ int, cfg *config.Config) {
		cfg.Cluster.NodeDownAfter = config.Duration(time.Second)
		cfg.Cluster.DeadNodeTimeout = config.Duration(deadAfter)
	}
}

// registerWriters runs clients that write unique values to a few point ids
// through the given nodes until ctx ends, recording every call.
type registerWriters struct {
	rec  *history.Recorder
	keys int
	wg   sync.WaitGroup
	// strict makes any failed write fail the test (drains promise none).
	strict bool
	mu     sync.Mutex
	errs   []string
}

// startWriters starts one writer client per entry of nodes, each writing
// through its node.
func startWriters(ctx context.Context, c *Cluster, name string, nodes []int, keys int, seed uint64, strict bool) *registerWriters {
	return startRoutedWriters(ctx, c, name, len(nodes), keys, seed, strict, func(client int, _ *rand.Rand) (int, func()) {
		return nodes[client], func() {}
	})
}

// startRoutedWriters starts clients writer clients; before each write,
// route picks the node to write through, and the write's done is called
// once the call returned.
func startRoutedWriters(ctx context.Context, c *Cluster, name string, clients, keys int, seed uint64, strict bool,
	route func(client int, rng *rand.Rand) (node int, done func())) *registerWriters {
	w := &registerWriters{rec: history.NewRecorder(), keys: keys, strict: strict}
	for client := range clients {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(client)+1))
			for n := 0; ctx.Err() == nil; n++ {
				id := 1 + rng.IntN(keys)
				v := fmt.Sprintf("c%d-%d", client, n)
				node, done := route(client, rng)
				call := w.rec.Invoke(client, history.KindPut, strconv.Itoa(id), v)
				code, raw := c.Do(node, "PUT", "/collections/"+name+"/points?wait=true&timeout=10", map[string]any{
					"points": []any{map[string]any{"id": id, "vector": []float32{1, float32(id), 0, 1}, "payload": map[string]any{"v": v}}}}, nil)
				done()
				switch {
				case code == 200:
					call.OK("")
				case code >= 400 && code < 500 && code != 408:
					call.Fail(fmt.Errorf("%d %s", code, raw))
				default:
					call.Info(fmt.Errorf("%d %s", code, raw))
				}
				if code != 200 && w.strict {
					w.mu.Lock()
					w.errs = append(w.errs, fmt.Sprintf("node %d: %d %s", node, code, raw))
					w.mu.Unlock()
				}
				time.Sleep(time.Duration(rng.IntN(5)) * time.Millisecond)
			}
		}()
	}
	return w
}

// check waits for the writers, then reads every key at consistency=all
// through node and checks that no acknowledged write was lost.
func (w *registerWriters) check(t *testing.T, c *Cluster, node int, name string) {
	t.Helper()
	w.wg.Wait()
	final := map[string]string{}
	for id := 1; id <= w.keys; id++ {
		var rec struct {
			Payload map[string]any `json:"payload"`
		}
		code, raw := c.Do(node, "GET", "/collections/"+name+"/points/"+strconv.Itoa(id)+"?consistency=all", nil, &rec)
		switch code {
		case 200:
			final[strconv.Itoa(id)], _ = rec.Payload["v"].(string)
		case 404:
		default:
			t.Fatalf("final read of %d: %d %s", id, code, raw)
		}
	}
	h := w.rec.History()
	if err := history.CheckNoLostWrites(h, final); err != nil {
		t.Fatal(err)
	}
	oks := 0
	for _, op := range h {
		if op.Outcome == history.OK {
			oks++
		}
	}
	t.Logf("%d writes, %d acknowledged", len(h), oks)
	if oks < 50 {
		t.Fatalf("too few acknowledged writes: %d", oks)
	}
	if len(w.errs) > 0 {
		t.Fatalf("%d writes failed, none may: first %s", len(w.errs), w.errs[0])
	}
}

// clusterPeers is GET /cluster's peers as node i sees them.
func clusterPeers(t *testing.T, c *Cluster, i int) map[string]map[string]any {
	t.Helper()
	var out struct {
		Peers map[string]map[string]any `json:"peers"`
	}
	c.MustDo(i, "GET", "/cluster", nil, &out)
	return out.Peers
}

// waitFor polls cond until it returns "" or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		why := cond()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", timeout, why)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestHealDeadNode stops one node of four for good while clients write
// through the others: after cluster.dead_node_timeout its replicas are
// re-created on the others with no API call, every shard is back at its
// replication factor with equal digests, the dead peer is removed, and no
// acknowledged write is lost. Then the node comes back with its old disk:
// it is taken back as a peer holding nothing (its copies are surplus and
// dropped), and reads through it see every write.
func TestHealDeadNode(t *testing.T) {
	c := New(t, Options{Nodes: 4, Configure: healFast(3 * time.Second)})
	for i := range c.Nodes {
		c.Start(i)
	}
	if err := c.WaitFormed(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.MustDo(0, "PUT", "/collections/heal", map[string]any{"vectors": map[string]any{"size": 4, "distance": "Dot"},
		"shard_number": 4, "replication_factor": 2}, nil)
	victim := 3
	if c.Leader() == victim {
		victim = 2
	}
	var others []int
	for i := range c.Nodes {
		if i != victim {
			others = append(others, i)
		}
	}
	deadID := c.Nodes[victim].Srv.Cluster().ID()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := startWriters(ctx, c, "heal", others, 16, 11, false)
	time.Sleep(500 * time.Millisecond)
	c.Stop(victim)
	start := time.Now()
	waitFor(t, 60*time.Second, func() string {
		if _, ok := clusterPeers(t, c, others[0])[strconv.FormatUint(deadID, 10)]; ok {
			return fmt.Sprintf("peer %d is still a member", deadID)
		}
		v, err := replicasOf(c, "heal")
		if err != nil {
			return err.Error()
		}
		_, why := v.converged(4, 2)
		return why
	})
	t.Logf("healed %s after the stop", time.Since(start).Round(100*time.Millisecond))
	// The node that led the healing counts what it did (a leader change
	// meanwhile moves the count to another node: look at all of them). It
	// counts once its removal call returned, which may be a moment after
	// the other nodes applied the removal.
	waitFor(t, 10*time.Second, func() string {
		var all string
		for _, i := range others {
			_, raw := c.Do(i, "GET", "/metrics", nil, nil)
			all += string(raw)
			for _, want := range []string{"shoal_cluster_heal_actions_total ", "shoal_cluster_transfers_total ", "shoal_cluster_peer_down_seconds{peer=\""} {
				if !strings.Contains(string(raw), want) {
					return fmt.Sprintf("node %d's /metrics lacks %q", i, want)
				}
			}
		}
		if !strings.Contains(all, "shoal_cluster_dead_peers_replaced_total 1") {
			return "no node counts the dead peer it replaced"
		}
		return ""
	})
	time.Sleep(500 * time.Millisecond) // writes against the healed placement
	// The removed node comes back with its old disk: it is taken back
	// (readmit_peer) and drops the replicas it still holds, while the
	// writers go on.
	c.Start(victim)
	waitFor(t, 30*time.Second, func() string {
		for _, i := range c.Running() {
			if _, ok := clusterPeers(t, c, i)[strconv.FormatUint(deadID, 10)]; !ok {
				return fmt.Sprintf("node %d does not list peer %d again", i, deadID)
			}
		}
		v, err := replicasOf(c, "heal")
		if err != nil {
			return err.Error()
		}
		_, why := v.converged(4, 2) // no surplus replica left on the returned node
		return why
	})
	time.Sleep(500 * time.Millisecond)
	cancel()
	w.check(t, c, others[0], "heal")
	waitConverged(t, c, "heal", 4, 2, 20*time.Second)
	var want struct {
		Count int `json:"count"`
	}
	c.MustDo(others[0], "POST", "/collections/heal/points/count?consistency=all", map[string]any{"exact": true}, &want)
	wantCountEverywhere(t, c, "heal", want.Count)
}

// TestScaleOutDrainIn grows a cluster from 3 to 6 nodes (rebalancing
// gives every node the mean ± 1 replicas) and drains it back to 3 through
// DELETE /cluster/peer/{id}, while clients write through the nodes that
// stay: no write fails, none is lost, replicas end equal.
func TestScaleOutDrainIn(t *testing.T) {
	c := New(t, Options{Nodes: 6, Configure: func(i int, cfg *config.Config) {
		healFast(time.Minute)(i, cfg)
		cfg.Cluster.BootstrapExpect = 3
		cfg.Cluster.Join = cfg.Cluster.Join[:3] // the first three are the seeds
		cfg.Cluster.Rebalance = true
	}})
	for i := range 3 {
		c.Start(i)
	}
	if err := c.WaitFormed(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.MustDo(0, "PUT", "/collections/sc", map[string]any{"vectors": map[string]any{"size": 4, "distance": "Dot"},
		"shard_number": 6, "replication_factor": 2}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := startWriters(ctx, c, "sc", []int{0, 1, 2}, 24, 5, true)
	for i := 3; i < 6; i++ {
		c.Start(i)
	}
	if err := c.WaitFormed(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	// 12 replicas over 6 nodes: 2 each once rebalanced.
	waitFor(t, 120*time.Second, func() string {
		v, err := replicasOf(c, "sc")
		if err != nil {
			return err.Error()
		}
		if ok, why := v.converged(6, 2); !ok {
			return why
		}
		per := map[int]int{}
		for _, rs := range v {
			for _, r := range rs {
				per[r.Node]++
			}
		}
		for i := range 6 {
			if per[i] < 1 || per[i] > 3 {
				return fmt.Sprintf("replicas per node %v", per)
			}
		}
		return ""
	})
	for i := 5; i >= 3; i-- {
		id := c.Nodes[i].Srv.Cluster().ID()
		if code, raw := c.Do(0, "DELETE", "/cluster/peer/"+strconv.FormatUint(id, 10)+"?timeout=120", nil, nil); code != 200 {
			t.Fatalf("drain of node %d: %d %s", i, code, raw)
		}
		c.Stop(i)
	}
	time.Sleep(500 * time.Millisecond)
	cancel()
	w.check(t, c, 0, "sc")
	waitConverged(t, c, "sc", 6, 2, 20*time.Second)
	if peers := clusterPeers(t, c, 0); len(peers) != 3 {
		t.Fatalf("%d peers after the drains, want 3: %v", len(peers), peers)
	}
}

// TestLoseZoneAndReplace runs 6 nodes in 3 zones with 2 shards × 3
// replicas (one per zone), loses a whole zone (both its nodes, for good)
// while clients write through the others, then brings up two empty
// replacement nodes in that zone: the dead peers are removed and every
// shard spans 3 zones again, with nothing acknowledged lost.
func TestLoseZoneAndReplace(t *testing.T) {
	zone := func(i int) string { return "z" + strconv.Itoa(min(i/2, 2)) }
	c := New(t, Options{Nodes: 8, Configure: func(i int, cfg *config.Config) {
		healFast(4*time.Second)(i, cfg)
		cfg.Cluster.BootstrapExpect = 6
		cfg.Cluster.Join = cfg.Cluster.Join[:6]
		cfg.Cluster.Zone = zone(i)
	}})
	for i := range 6 {
		c.Start(i)
	}
	if err := c.WaitFormed(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.MustDo(0, "PUT", "/collections/zn", map[string]any{"vectors": map[string]any{"size": 4, "distance": "Dot"},
		"shard_number": 2, "replication_factor": 3}, nil)
	zonesOK := func() string {
		v, err := replicasOf(c, "zn")
		if err != nil {
			return err.Error()
		}
		if ok, why := v.converged(2, 3); !ok {
			return why
		}
		for s, rs := range v {
			zs := map[string]bool{}
			for _, r := range rs {
				zs[zone(r.Node)] = true
			}
			if len(zs) != 3 {
				return fmt.Sprintf("shard %d spans zones %v", s, zs)
			}
		}
		return ""
	}
	waitFor(t, 10*time.Second, zonesOK)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := startWriters(ctx, c, "zn", []int{0, 1, 2, 3}, 16, 3, false)
	time.Sleep(300 * time.Millisecond)
	dead := []uint64{c.Nodes[4].Srv.Cluster().ID(), c.Nodes[5].Srv.Cluster().ID()}
	c.Stop(4)
	c.Stop(5)
	time.Sleep(2 * time.Second)
	// Writes go on through the surviving zones.
	if code, raw := c.Do(0, "PUT", "/collections/zn/points?wait=true", map[string]any{
		"points": []any{map[string]any{"id": 100, "vector": []float32{1, 2, 3, 4}}}}, nil); code != 200 {
		t.Fatalf("write with a zone down: %d %s", code, raw)
	}
	c.Start(6)
	c.Start(7)
	waitFor(t, 90*time.Second, func() string {
		peers := clusterPeers(t, c, 0)
		for _, id := range dead {
			if _, ok := peers[strconv.FormatUint(id, 10)]; ok {
				return fmt.Sprintf("dead peer %d is still a member", id)
			}
		}
		return zonesOK()
	})
	time.Sleep(300 * time.Millisecond)
	cancel()
	w.check(t, c, 0, "zn")
}

// TestNoQuorum stops two nodes of three: the survivor keeps serving reads
// and searches of its replicas, refuses metadata changes within seconds
// with a clear 503 (not after the propose timeout), and once the others
// are back everything works again.
func TestNoQuorum(t *testing.T) {
	c := New(t, Options{Configure: healFast(time.Minute)})
	for i := range c.Nodes {
		c.Start(i)
	}
	if err := c.WaitFormed(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.MustDo(0, "PUT", "/collections/q", map[string]any{"vectors": map[string]any{"size": 4, "distance": "Dot"},
		"shard_number": 2, "replication_factor": 3}, nil)
	var pts []any
	for id := 1; id <= 40; id++ {
		pts = append(pts, map[string]any{"id": id, "vector": []float32{1, float32(id), 0, 1}})
	}
	c.MustDo(0, "PUT", "/collections/q/points?wait=true", map[string]any{"points": pts}, nil)
	waitConverged(t, c, "q", 2, 3, 10*time.Second)
	c.Stop(1)
	c.Stop(2)
	time.Sleep(3 * time.Second) // the survivor notices it has no leader
	var hits []any
	c.MustDo(0, "POST", "/collections/q/points/search", map[string]any{"vector": []float32{1, 1, 1, 1}, "limit": 5}, &hits)
	if len(hits) != 5 {
		t.Fatalf("search without quorum: %d hits", len(hits))
	}
	c.MustDo(0, "GET", "/collections/q/points/7", nil, nil)
	start := time.Now()
	code, raw := c.Do(0, "PUT", "/collections/q2", map[string]any{"vectors": map[string]any{"size": 4, "distance": "Dot"}}, nil)
	if took := time.Since(start); code != 503 || !strings.Contains(string(raw), "no quorum") || took > 5*time.Second {
		t.Fatalf("metadata change without quorum: %d %s after %s", code, raw, took)
	}
	c.Start(1)
	c.Start(2)
	if err := c.WaitFormed(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.MustDo(0, "PUT", "/collections/q2", map[string]any{"vectors": map[string]any{"size": 4, "distance": "Dot"}}, nil)
	c.MustDo(0, "PUT", "/collections/q/points?wait=true", map[string]any{"points": pts[:1]}, nil)
}

// TestReplacementTakesOverAddress stops a node for good and starts an
// empty one at the same address (a compose service or StatefulSet pod
// back with a new volume): it joins as a new peer, the old peer is removed
// at once (its address now answers as the newcomer) and every shard is
// back at its replication factor, with nothing acknowledged lost and no
// wait for dead_node_timeout.
func TestReplacementTakesOverAddress(t *testing.T) {
	c := New(t, Options{Configure: healFast(10 * time.Minute)})
	for i := range c.Nodes {
		c.Start(i)
	}
	if err := c.WaitFormed(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.MustDo(0, "PUT", "/collections/ta", map[string]any{"vectors": map[string]any{"size": 4, "distance": "Dot"},
		"shard_number": 3, "replication_factor": 2}, nil)
	victim := 2
	if c.Leader() == victim {
		victim = 1
	}
	var others []int
	for i := range c.Nodes {
		if i != victim {
			others = append(others, i)
		}
	}
	old := c.Nodes[victim].Srv.Cluster().ID()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := startWriters(ctx, c, "ta", others, 12, 9, false)
	time.Sleep(300 * time.Millisecond)
	c.Stop(victim)
	if err := os.RemoveAll(c.Nodes[victim].Cfg.Storage.StoragePath); err != nil {
		t.Fatal(err)
	}
	c.Start(victim)
	start := time.Now()
	waitFor(t, 60*time.Second, func() string {
		peers := clusterPeers(t, c, others[0])
		if _, ok := peers[strconv.FormatUint(old, 10)]; ok {
			return fmt.Sprintf("old peer %d is still a member", old)
		}
		if len(peers) != 3 {
			return fmt.Sprintf("%d peers", len(peers))
		}
		v, err := replicasOf(c, "ta")
		if err != nil {
			return err.Error()
		}
		_, why := v.converged(3, 2)
		return why
	})
	if id := c.Nodes[victim].Srv.Cluster().ID(); id == old {
		t.Fatalf("the replacement kept the old id %d", id)
	}
	t.Logf("healed %s after the replacement started", time.Since(start).Round(100*time.Millisecond))
	cancel()
	w.check(t, c, others[0], "ta")
}

// TestVotersSpreadOverZones starts a cluster from three nodes of one zone
// and grows it to seven over three zones: the leader spreads the five
// Raft voters so that no zone holds more than two, and losing the first
// zone (three nodes) leaves a quorum that still accepts metadata changes.
func TestVotersSpreadOverZones(t *testing.T) {
	zone := func(i int) string { return []string{"z0", "z0", "z0", "z1", "z1", "z2", "z2"}[i] }
	c := New(t, Options{Nodes: 7, Configure: func(i int, cfg *config.Config) {
		healFast(time.Minute)(i, cfg)
		cfg.Cluster.BootstrapExpect = 3
		cfg.Cluster.Join = cfg.Cluster.Join[:3]
		cfg.Cluster.Zone = zone(i)
	}})
	for i := range 3 {
		c.Start(i)
	}
	if err := c.WaitFormed(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	for i := 3; i < 7; i++ {
		c.Start(i)
	}
	if err := c.WaitFormed(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	zoneOf := map[uint64]string{}
	for i, n := range c.Nodes {
		zoneOf[n.Srv.Cluster().ID()] = zone(i)
	}
	waitFor(t, 60*time.Second, func() string {
		l := c.Leader()
		if l < 0 {
			return "no leader"
		}
		votes := map[string]int{}
		vs := c.Nodes[l].Srv.Cluster().Voters()
		for _, v := range vs {
			votes[zoneOf[v]]++
		}
		if len(vs) != 5 || votes["z0"] > 2 || votes["z1"] > 2 || votes["z2"] > 2 {
			return fmt.Sprintf("%d voters, per zone %v", len(vs), votes)
		}
		return ""
	})
	for i := range 3 {
		c.Stop(i)
	}
	waitFor(t, 60*time.Second, func() string {
		code, raw := c.Do(3, "PUT", "/collections/after-z0", map[string]any{"vectors": map[string]any{"size": 2, "distance": "Dot"}}, nil)
		if code != 200 {
			return fmt.Sprintf("%d %s", code, raw)
		}
		return ""
	})
}

// TestRollingRestart restarts every node of a 3-node cluster in turn
// (2 shards × RF 2) while clients write through all of them, as an
// orchestrator does: the next node goes only once the last one reports
// ready (/readyz). A node must not report ready before each of its
// replicas is Active again; at the end the replicas converge and nothing
// acknowledged is lost.
func TestRollingRestart(t *testing.T) {
	c := New(t, Options{Nodes: 3, Configure: healFast(time.Minute)})
	for i := range c.Nodes {
		c.Start(i)
	}
	if err := c.WaitFormed(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.MustDo(0, "PUT", "/collections/rr", map[string]any{"vectors": map[string]any{"size": 4, "distance": "Dot"},
		"shard_number": 2, "replication_factor": 2}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Clients write through the nodes that are up, each call under a
	// read lock that the restarts take to change which node is down.
	var upMu sync.RWMutex
	down := -1
	w := startRoutedWriters(ctx, c, "rr", 3, 24, 11, false, func(_ int, rng *rand.Rand) (int, func()) {
		upMu.RLock()
		node := rng.IntN(len(c.Nodes))
		if node == down {
			node = (node + 1) % len(c.Nodes)
		}
		return node, upMu.RUnlock
	})
	time.Sleep(500 * time.Millisecond)
	for i := range c.Nodes {
		upMu.Lock()
		down = i
		upMu.Unlock()
		c.Stop(i)
		time.Sleep(time.Second) // writes go on without it: its replicas fall behind
		c.Start(i)
		deadline := time.Now().Add(60 * time.Second)
		for {
			if code, _ := c.Do(i, "GET", "/readyz", nil, nil); code == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d not ready 60 s after its restart", i)
			}
			time.Sleep(20 * time.Millisecond)
		}
		// Ready: every replica it holds is Active in the metadata (read
		// on the leader, which has the last word on states).
		leader := -1
		waitFor(t, 10*time.Second, func() string { // an election may be under way
			if leader = c.Leader(); leader < 0 {
				return "no leader"
			}
			return ""
		})
		states := replicaStates(t, c, leader, "rr")
		self := c.Nodes[i].Srv.Cluster().ID()
		held := 0
		for _, r := range states {
			if r.PeerID != self {
				continue
			}
			held++
			if r.State != "Active" {
				t.Fatalf("node %d reported ready with its replica of shard %d %s", i, r.ShardID, r.State)
			}
		}
		if held == 0 {
			t.Fatalf("node %d holds no replica: %+v", i, states)
		}
		upMu.Lock()
		down = -1
		upMu.Unlock()
	}
	time.Sleep(500 * time.Millisecond)
	cancel()
	w.check(t, c, 0, "rr")
	waitConverged(t, c, "rr", 2, 2, 30*time.Second)
}

// TestProcessDeadNodeReturns is TestHealDeadNode's return with real
// processes: one of four shoal processes is killed with SIGKILL, the
// others re-create its replicas and remove it; started again on its old
// disk, it is taken back as a peer, drops the copies it still holds
// (files included), and answers reads with every point.
func TestProcessDeadNodeReturns(t *testing.T) {
	pc := newProcCluster(t, 4, "SHOAL__CLUSTER__DEAD_NODE_TIMEOUT=3s", "SHOAL__CLUSTER__NODE_DOWN_AFTER=1s",
		"SHOAL__CLUSTER__REBALANCE=false") // the returned node stays empty
	for i := range pc.nodes {
		pc.start(i)
	}
	pc.waitFormed(60 * time.Second)
	do := func(i int, method, path string, body any) []byte {
		t.Helper()
		code, raw, err := httpJSON(pc.nodes[i].HTTP(), method, path, body, 30*time.Second)
		if err != nil || code != 200 {
			t.Fatalf("node %d: %s %s: %d %s %v", i, method, path, code, raw, err)
		}
		return raw
	}
	do(0, "PUT", "/collections/back", map[string]any{"vectors": map[string]any{"size": 8, "distance": "Dot"},
		"shard_number": 4, "replication_factor": 2})
	pts := testPoints(400, 8, 29)
	do(0, "PUT", "/collections/back/points?wait=true", map[string]any{"points": pts})
	victim := 3
	if pc.leaderIndex() == victim {
		victim = 2
	}
	others := slices.DeleteFunc([]int{0, 1, 2, 3}, func(i int) bool { return i == victim })
	st, err := pc.status(victim)
	if err != nil {
		t.Fatal(err)
	}
	deadID := strconv.FormatUint(st.PeerID, 10)
	localShards := func(i int) int {
		var out struct {
			LocalShards []struct {
				State string `json:"state"`
			} `json:"local_shards"`
			RemoteShards []struct {
				State string `json:"state"`
			} `json:"remote_shards"`
		}
		if err := decodeResult(do(i, "GET", "/collections/back/cluster", nil), &out); err != nil {
			t.Fatal(err)
		}
		return len(out.LocalShards)
	}
	if localShards(victim) == 0 {
		t.Fatal("the victim holds no replica before the kill")
	}
	pc.nodes[victim].Kill()
	// Healed: the dead peer is gone and every shard has 2 Active replicas
	// on the others.
	healed := func() string {
		var held int
		for _, i := range others {
			s, err := pc.status(i)
			if err != nil {
				return err.Error()
			}
			if _, ok := s.Peers[deadID]; ok {
				return fmt.Sprintf("node %d still lists peer %s", i, deadID)
			}
			held += localShards(i)
		}
		if held != 8 {
			return fmt.Sprintf("%d replicas on the survivors, want 8", held)
		}
		return ""
	}
	waitFor(t, 60*time.Second, healed)
	pc.start(victim)
	waitFor(t, 60*time.Second, func() string {
		for i := range pc.nodes {
			s, err := pc.status(i)
			if err != nil {
				return err.Error()
			}
			if _, ok := s.Peers[deadID]; !ok {
				return fmt.Sprintf("node %d does not list peer %s again", i, deadID)
			}
		}
		if n := localShards(victim); n != 0 {
			return fmt.Sprintf("the returned node still holds %d replicas", n)
		}
		return ""
	})
	// Its old copies are gone from its disk too.
	dirs, _ := filepath.Glob(filepath.Join(pc.nodes[victim].Dir(), "collections", "back", "gen-*", "[0-9]*"))
	if len(dirs) != 0 {
		t.Fatalf("the returned node keeps replica directories: %v", dirs)
	}
	for i := range pc.nodes {
		var out struct {
			Count int `json:"count"`
		}
		if err := decodeResult(do(i, "POST", "/collections/back/points/count?consistency=all", map[string]any{"exact": true}), &out); err != nil {
			t.Fatal(err)
		}
		if out.Count != len(pts) {
			t.Fatalf("node %d counts %d points, want %d", i, out.Count, len(pts))
		}
	}
}
