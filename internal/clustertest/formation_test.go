package clustertest

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestFormationOrders starts 3 nodes with the same join list in every
// order, with random gaps, and checks that they form exactly one cluster:
// one leader, every node knows every other, and all name the same
// cluster.
func TestFormationOrders(t *testing.T) {
	orders := [][]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	for _, order := range orders {
		t.Run(fmt.Sprint(order), func(t *testing.T) {
			c := New(t, Options{})
			for _, i := range order {
				c.Start(i)
				time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
			}
			if err := c.WaitFormed(20 * time.Second); err != nil {
				t.Fatal(err)
			}
			ids := map[string]bool{}
			for _, n := range c.Nodes {
				ids[n.Srv.Cluster().State().ClusterID] = true
			}
			if len(ids) != 1 || ids[""] {
				t.Fatalf("cluster ids %v, want one", ids)
			}
			st := c.Nodes[0].Srv.Cluster().Status()
			if len(st.Peers) != 3 {
				t.Fatalf("%d peers: %+v", len(st.Peers), st.Peers)
			}
		})
	}
}

// TestRestartRejoinsAsItself restarts every node in turn; each comes back
// with its peer id, and the cluster keeps one leader.
func TestRestartRejoinsAsItself(t *testing.T) {
	c := New(t, Options{})
	for i := range c.Nodes {
		c.Start(i)
	}
	if err := c.WaitFormed(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	ids := make([]uint64, len(c.Nodes))
	for i, n := range c.Nodes {
		ids[i] = n.Srv.Cluster().ID()
	}
	for i := range c.Nodes {
		c.Stop(i)
		c.Start(i)
		if err := c.WaitFormed(20 * time.Second); err != nil {
			t.Fatalf("after restarting node %d: %v", i, err)
		}
		if got := c.Nodes[i].Srv.Cluster().ID(); got != ids[i] {
			t.Fatalf("node %d came back as %d, was %d", i, got, ids[i])
		}
		if n := len(c.Nodes[0].Srv.Cluster().State().Peers); n != 3 {
			t.Fatalf("%d peers after restarting node %d", n, i)
		}
	}
}

// TestRemovePeer removes peers through DELETE /cluster/peer/{id}: without
// force a peer that holds shards is drained first (its replicas move to
// the others, nothing is lost), with force=true it goes at once and takes
// its replicas along; a removed node does not come back by itself.
func TestRemovePeer(t *testing.T) {
	c := New(t, Options{})
	for i := range c.Nodes {
		c.Start(i)
	}
	if err := c.WaitFormed(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.MustDo(0, "PUT", "/collections/r", map[string]any{"vectors": map[string]any{"size": 2, "distance": "Dot"}, "shard_number": 3}, nil)
	var pts []map[string]any
	for i := range 60 {
		pts = append(pts, map[string]any{"id": i + 1, "vector": []float32{1, float32(i)}})
	}
	c.MustDo(0, "PUT", "/collections/r/points?wait=true", map[string]any{"points": pts}, nil)
	removed := func(victim uint64, left int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			st := c.Nodes[0].Srv.Cluster().Status()
			if _, ok := st.Peers[strconv.FormatUint(victim, 10)]; !ok && len(st.Peers) == left {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("peer %d still listed: %+v", victim, st.Peers)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// Drain: the call returns once the peer is gone; its shard moved.
	drained := c.Nodes[2].Srv.Cluster().ID()
	if code, raw := c.Do(0, "DELETE", fmt.Sprintf("/cluster/peer/%d?timeout=60", drained), nil, nil); code != 200 {
		t.Fatalf("draining a peer that holds shards: %d %s", code, raw)
	}
	removed(drained, 2)
	if n := countAll(t, c, 0, "r"); n != len(pts) {
		t.Fatalf("%d points after the drain, want %d", n, len(pts))
	}
	// Force: the peer goes with its replicas.
	victim := c.Nodes[1].Srv.Cluster().ID()
	path := fmt.Sprintf("/cluster/peer/%d", victim)
	c.MustDo(0, "DELETE", path+"?force=true", nil, nil)
	removed(victim, 1)
	// The formation loop of the removed nodes keeps running; they must
	// not be re-added.
	time.Sleep(2 * time.Second)
	if n := len(c.Nodes[0].Srv.Cluster().Status().Peers); n != 1 {
		t.Fatalf("%d peers after the removals settled, want 1", n)
	}
	if code, raw := c.Do(0, "DELETE", path, nil, nil); code != 404 {
		t.Fatalf("removing a removed peer: %d %s", code, raw)
	}
	// The shards that lived only on the removed peer answer 503; the
	// others still serve.
	if code, raw := c.Do(0, "POST", "/collections/r/points/count", map[string]any{"exact": true}, nil); code != 503 || !strings.Contains(string(raw), "has no replica") {
		t.Fatalf("count over a shard without replicas: %d %s", code, raw)
	}
}

// TestRestartOnNewAddress restarts a node on another peer port (a
// container back on a new IP): it rejoins as itself, its peer record gets
// the new address, and the others reach it there.
func TestRestartOnNewAddress(t *testing.T) {
	c := New(t, Options{})
	for i := range c.Nodes {
		c.Start(i)
	}
	if err := c.WaitFormed(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.MustDo(0, "PUT", "/collections/m", map[string]any{"vectors": map[string]any{"size": 8, "distance": "Dot"}, "shard_number": 3}, nil)
	c.MustDo(0, "PUT", "/collections/m/points?wait=true", map[string]any{"points": testPoints(90, 8, 5)}, nil)
	id := c.Nodes[2].Srv.Cluster().ID()
	c.Stop(2)
	port := freePorts(t, 1)[0]
	addr := "127.0.0.1:" + strconv.Itoa(port)
	c.Nodes[2].Cfg.Cluster.P2P.Port = port
	c.Nodes[2].Cfg.Cluster.AdvertiseURI = "http://" + addr
	c.Start(2)
	if err := c.WaitFormed(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if got := c.Nodes[2].Srv.Cluster().ID(); got != id {
		t.Fatalf("came back as %d, was %d", got, id)
	}
	p := c.Nodes[0].Srv.Cluster().State().Peers[id]
	if p == nil || p.Addr != addr {
		t.Fatalf("peer record %+v, want address %s", p, addr)
	}
	// Every shard, including node 2's, answers through node 0.
	var cnt struct{ Count int }
	c.MustDo(0, "POST", "/collections/m/points/count", map[string]any{"exact": true}, &cnt)
	if cnt.Count != 90 {
		t.Fatalf("count %d, want 90", cnt.Count)
	}
}

// TestNodeOfAnotherClusterIsRefused starts a node that holds the data of
// one cluster with the seeds of another: it never joins that cluster,
// stays not ready, and says why in GET /cluster and its log.
func TestNodeOfAnotherClusterIsRefused(t *testing.T) {
	a := New(t, Options{})
	for i := range a.Nodes {
		a.Start(i)
	}
	if err := a.WaitFormed(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	b := New(t, Options{Nodes: 1})
	b.Start(0)
	if err := b.WaitFormed(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	for i := range a.Nodes {
		a.Stop(i)
	}
	// Node 0 of cluster a, its storage intact, with b's seed list.
	a.Nodes[0].Cfg.Cluster.Join = append([]string(nil), b.Nodes[0].Cfg.Cluster.Join...)
	a.Nodes[0].Cfg.Cluster.BootstrapExpect = 1
	a.Start(0)
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := a.Nodes[0].Srv.Cluster().Status()
		if st.ConsensusThreadStatus.Status == "stopped_with_err" {
			if !strings.Contains(st.ConsensusThreadStatus.Err, "holds the data of cluster") {
				t.Fatalf("status: %+v", st.ConsensusThreadStatus)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node did not report the other cluster: %+v", st.ConsensusThreadStatus)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if a.Nodes[0].Srv.Ready() {
		t.Fatal("a node of another cluster reports ready")
	}
	if n := len(b.Nodes[0].Srv.Cluster().State().Peers); n != 1 {
		t.Fatalf("cluster b has %d peers after the foreign node started, want 1", n)
	}
}
