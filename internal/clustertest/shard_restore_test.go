package clustertest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// shardState returns "digest@seq" of shard s once its replicas on the
// running nodes are n, all Active and equal.
func shardState(t *testing.T, c *Cluster, name string, s, n int, timeout time.Duration) (string, []int) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v, err := replicasOf(c, name)
		why := ""
		if err != nil {
			why = err.Error()
		} else if rs := v[s]; len(rs) != n {
			why = fmt.Sprintf("shard %d has %d replicas, want %d: %+v", s, len(rs), n, rs)
		} else {
			ok := true
			var nodes []int
			for _, r := range rs {
				ok = ok && r.State == "Active" && r.Digest == rs[0].Digest && r.Seq == rs[0].Seq
				nodes = append(nodes, r.Node)
			}
			if ok {
				slices.Sort(nodes)
				return fmt.Sprintf("%s@%d", rs[0].Digest, rs[0].Seq), nodes
			}
			why = fmt.Sprintf("shard %d: %+v", s, rs)
		}
		if time.Now().After(deadline) {
			t.Fatalf("shard %d of %s did not converge in %s: %s", s, name, timeout, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestShardSnapshotRecoverCluster recovers one shard of a collection
// spread over 3 nodes (3 shards, replication factor 2) from a shard
// snapshot: with priority replica nothing changes while the shard has an
// Active replica; with priority snapshot both replicas end with the
// snapshot's data (equal digests, the snapshot's), in a new epoch, while
// the other shards keep the writes made after the snapshot; writes to the
// restored shard go on.
func TestShardSnapshotRecoverCluster(t *testing.T) {
	c := startCluster(t, 3)
	c.MustDo(0, "PUT", "/collections/c", map[string]any{"vectors": map[string]any{"size": 8, "distance": "Cosine"},
		"shard_number": 3, "replication_factor": 2}, nil)
	pts := testPoints(900, 8, 31)
	c.MustDo(1, "PUT", "/collections/c/points?wait=true", map[string]any{"points": pts[:600]}, nil)
	before := digests(t, c, "c", 3, 2)
	// A node holding shard 0 takes its shard snapshot.
	v, err := replicasOf(c, "c")
	if err != nil {
		t.Fatal(err)
	}
	holder := v[0][0].Node
	var snap struct {
		Name string `json:"name"`
	}
	c.MustDo(holder, "POST", "/collections/c/shards/0/snapshots?wait=true", nil, &snap)
	location := "http://" + c.Nodes[holder].Srv.HTTPAddr() + "/collections/c/shards/0/snapshots/" + snap.Name
	// Writes after the snapshot: new points everywhere, and deletes.
	c.MustDo(2, "PUT", "/collections/c/points?wait=true", map[string]any{"points": pts[600:]}, nil)
	c.MustDo(0, "POST", "/collections/c/points/delete?wait=true", map[string]any{"points": []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}}, nil)
	after := digests(t, c, "c", 3, 2)
	if after[0] == before[0] {
		t.Fatal("the writes after the snapshot did not change shard 0")
	}
	other := (holder + 1) % 3
	c.MustDo(other, "PUT", "/collections/c/shards/0/snapshots/recover", map[string]any{"location": location, "priority": "replica"}, nil)
	if got := digests(t, c, "c", 3, 2); fmt.Sprint(got) != fmt.Sprint(after) {
		t.Fatalf("priority replica changed the collection: %v, was %v", got, after)
	}
	_, peersBefore := shardState(t, c, "c", 0, 2, 30*time.Second)
	c.MustDo(other, "PUT", "/collections/c/shards/0/snapshots/recover", map[string]any{"location": location, "priority": "snapshot"}, nil)
	got := waitShardDigests(t, c, "c", 3, 2, map[int]string{0: before[0]})
	for s := 1; s < 3; s++ {
		if got[s] != after[s] {
			t.Fatalf("shard %d changed: %s, was %s", s, got[s], after[s])
		}
	}
	if _, peers := shardState(t, c, "c", 0, 2, 30*time.Second); !slices.Equal(peers, peersBefore) {
		t.Fatalf("shard 0 moved from %v to %v", peersBefore, peers)
	}
	// Writes to every shard go on, in the restored shard's new epoch, and
	// reach both replicas.
	c.MustDo(1, "PUT", "/collections/c/points?wait=true", map[string]any{"points": pts[:30]}, nil)
	digests(t, c, "c", 3, 2)
	for _, r := range mustReplicas(t, c, "c")[0] {
		if r.Epoch <= v[0][0].Epoch {
			t.Fatalf("restored shard 0 wrote in epoch %d, as before the restore (%d)", r.Epoch, v[0][0].Epoch)
		}
	}
	if n := countAll(t, c, 2, "c"); n < 600 {
		t.Fatalf("c counts %d points after the restore and more writes", n)
	}

	// Again while a writer upserts into every shard through another node:
	// the writes that succeed meanwhile do not keep the replicas apart.
	stop := startWriter(t, c, holder, "c", pts[600:])
	c.MustDo(other, "PUT", "/collections/c/shards/0/snapshots/recover", map[string]any{"location": location, "priority": "snapshot"}, nil)
	time.Sleep(300 * time.Millisecond)
	ok, failed := stop()
	t.Logf("writer during the restore: %d batches acknowledged, %d failed", ok, failed)
	if ok == 0 {
		t.Fatal("no write succeeded around the restore")
	}
	digests(t, c, "c", 3, 2)
}

// startWriter upserts batches of pts into collection name through node i
// until stopped (at the latest when the test ends); stop returns the
// batches acknowledged and failed. It never fails the test itself: it
// runs in its own goroutine.
func startWriter(t *testing.T, c *Cluster, i int, name string, pts []point) func() (int, int) {
	base := "http://" + c.Nodes[i].Srv.HTTPAddr()
	done := make(chan struct{})
	var ok, failed int
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for k := 0; ; k++ {
			select {
			case <-done:
				return
			default:
			}
			lo := (k * 20) % len(pts)
			code, _, err := httpJSON(base, "PUT", "/collections/"+name+"/points?wait=true", map[string]any{"points": pts[lo:min(lo+20, len(pts))]}, time.Minute)
			if err == nil && code == 200 {
				ok++
			} else {
				failed++
				time.Sleep(10 * time.Millisecond)
			}
		}
	}()
	var once sync.Once
	stop := func() (int, int) {
		once.Do(func() { close(done) })
		<-finished
		return ok, failed
	}
	t.Cleanup(func() { stop() })
	return stop
}

// waitShardDigests waits until the listed shards of collection name are
// converged (rf Active replicas each) at the digests want names
// ("digest@seq"): a restore is applied by every node in its own time.
func waitShardDigests(t *testing.T, c *Cluster, name string, shards, rf int, want map[int]string) map[int]string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := digests(t, c, name, shards, rf)
		ok := true
		for s, d := range want {
			ok = ok && got[s] == d
		}
		if ok {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: digests %v, want %v", name, got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitCount waits until collection name counts n points through node i
// (reads at consistency all; replicas on stopped nodes are marked Dead
// by the writes that fail to reach them).
func waitCount(t *testing.T, c *Cluster, i int, name string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var out struct {
			Count int `json:"count"`
		}
		code, raw := c.Do(i, "POST", "/collections/"+name+"/points/count?consistency=all", map[string]any{"exact": true}, &out)
		if code == 200 && out.Count == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s counts %d (%d %s), want %d", name, out.Count, code, raw, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func mustReplicas(t *testing.T, c *Cluster, name string) replicaView {
	t.Helper()
	v, err := replicasOf(c, name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestLostShardRestore loses both nodes holding one shard of a collection
// in a 5-node cluster (3 shards, replication factor 2) and restores that
// shard from the newest snapshot in a live node's store: the shard is
// placed on live nodes, holds exactly the snapshot's data (its digest at
// the snapshot), answers reads and writes again, and the answer names the
// snapshot and the data loss window. A shard with a live Active replica
// and one no snapshot holds are refused.
func TestLostShardRestore(t *testing.T) {
	c := New(t, Options{Nodes: 5, Configure: fastFailure})
	for i := range c.Nodes {
		c.Start(i)
	}
	if err := c.WaitFormed(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.MustDo(0, "PUT", "/collections/c", map[string]any{"vectors": map[string]any{"size": 8, "distance": "Cosine"},
		"shard_number": 3, "replication_factor": 2}, nil)
	pts := testPoints(900, 8, 41)
	c.MustDo(1, "PUT", "/collections/c/points?wait=true", map[string]any{"points": pts[:600]}, nil)
	at := digests(t, c, "c", 3, 2)
	// The lost shard is one the leader does not hold (a node holds at most
	// 2 of the 6 replicas, so one of the 3 shards qualifies); the snapshot
	// store is that of a node holding none of its replicas, sn.
	v := mustReplicas(t, c, "c")
	lost := -1
	var gone []int
	for s := 0; s < 3 && lost < 0; s++ {
		var nodes []int
		for _, r := range v[s] {
			nodes = append(nodes, r.Node)
		}
		if !slices.Contains(nodes, c.Leader()) {
			lost, gone = s, nodes
		}
	}
	if lost < 0 {
		t.Fatalf("every shard has a replica on the leader: %+v", v)
	}
	sn := slices.IndexFunc(c.Nodes, func(n *Node) bool { return !slices.Contains(gone, n.Index) })
	var snap clusterSnap
	c.MustDo(sn, "POST", "/cluster/snapshots?wait=true", map[string]any{}, &snap)
	c.MustDo(sn, "PUT", "/collections/late", map[string]any{"vectors": map[string]any{"size": 8, "distance": "Cosine"}}, nil)
	// Writes after the snapshot are lost for the lost shard.
	c.MustDo(2, "PUT", "/collections/c/points?wait=true", map[string]any{"points": pts[600:]}, nil)

	code, raw := c.Do(sn, "POST", "/cluster/snapshots/recover-lost-shard", map[string]any{"collection": "c", "shard_id": lost}, nil)
	if code != 400 || !strings.Contains(string(raw), "is not lost") {
		t.Fatalf("restore of a shard with live replicas: %d %s", code, raw)
	}
	code, raw = c.Do(sn, "POST", "/cluster/snapshots/recover-lost-shard", map[string]any{"collection": "late", "shard_id": 0}, nil)
	if code != 404 || !strings.Contains(string(raw), "No snapshot holds shard 0 of collection `late`") {
		t.Fatalf("restore of a shard no snapshot holds: %d %s", code, raw)
	}

	for _, i := range gone {
		c.Stop(i)
	}
	var rep struct {
		Snapshot     string    `json:"snapshot"`
		Kind         string    `json:"snapshot_kind"`
		SnapshotTime time.Time `json:"snapshot_time"`
		Window       float64   `json:"data_loss_window_seconds"`
		Peers        []uint64  `json:"peers"`
		Restored     bool      `json:"restored"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		// The nodes count as gone once the liveness pings miss them.
		code, raw = c.Do(sn, "POST", "/cluster/snapshots/recover-lost-shard", map[string]any{"collection": "c", "shard_id": lost}, &rep)
		if code == 200 {
			break
		}
		if !strings.Contains(string(raw), "is not lost") || time.Now().After(deadline) {
			t.Fatalf("restore of the lost shard: %d %s", code, raw)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if rep.Snapshot != snap.Name || rep.Kind != "cluster" || !rep.Restored || len(rep.Peers) != 2 || rep.Window <= 0 || rep.Window > 120 {
		t.Fatalf("lost shard report: %+v (snapshot %s)", rep, snap.Name)
	}
	t.Logf("restored shard %d from %s: data loss window %.1f s, peers %v", lost, rep.Snapshot, rep.Window, rep.Peers)
	state, nodes := shardState(t, c, "c", lost, 2, 30*time.Second)
	if state != at[lost] {
		t.Fatalf("restored shard %d: %s, at the snapshot %s", lost, state, at[lost])
	}
	for _, n := range nodes {
		if slices.Contains(gone, n) {
			t.Fatalf("restored shard %d placed on a stopped node: %v", lost, nodes)
		}
	}
	// Reads and writes of the whole collection work again.
	c.MustDo(c.Running()[0], "PUT", "/collections/c/points?wait=true", map[string]any{"points": pts[:900]}, nil)
	waitCount(t, c, sn, "c", 900)
}
