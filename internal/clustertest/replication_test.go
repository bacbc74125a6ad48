package clustertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/config"
	"github.com/shoal-db/shoal/internal/service"
	"github.com/shoal-db/shoal/internal/shard"
)

// fastFailure makes replicas that stop acknowledging Dead, and failed
// primaries replaced, within a second.
func fastFailure(_ int, cfg *config.Config) {
	cfg.Cluster.NodeDownAfter = config.Duration(time.Second)
}

// replicaView is every running node's view of its replicas of a
// collection, by shard.
type replicaView map[int][]nodeReplica

type nodeReplica struct {
	Node int
	service.ReplicaDigest
}

func replicasOf(c *Cluster, name string) (replicaView, error) {
	v := replicaView{}
	for _, i := range c.Running() {
		ds, err := c.Nodes[i].Srv.Service().ReplicaDigests(context.Background(), name)
		if err != nil {
			return nil, fmt.Errorf("node %d: %w", i, err)
		}
		for _, d := range ds {
			v[d.Shard] = append(v[d.Shard], nodeReplica{Node: i, ReplicaDigest: d})
		}
	}
	return v, nil
}

// converged reports whether every shard has want replicas, all Active,
// at one sequence number with one digest.
func (v replicaView) converged(shards, want int) (bool, string) {
	if len(v) != shards {
		return false, fmt.Sprintf("%d shards have replicas, want %d", len(v), shards)
	}
	for s, rs := range v {
		if len(rs) != want {
			return false, fmt.Sprintf("shard %d has %d replicas, want %d", s, len(rs), want)
		}
		for _, r := range rs {
			if r.State != "Active" || r.Seq != rs[0].Seq || r.Digest != rs[0].Digest {
				return false, fmt.Sprintf("shard %d: %+v", s, rs)
			}
		}
	}
	return true, ""
}

// waitConverged waits until every shard's replicas are Active and equal.
func waitConverged(t *testing.T, c *Cluster, name string, shards, rf int, timeout time.Duration) replicaView {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v, err := replicasOf(c, name)
		ok, why := false, ""
		if err == nil {
			ok, why = v.converged(shards, rf)
		} else {
			why = err.Error()
		}
		if ok {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("replicas did not converge in %s: %s", timeout, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// wantCountEverywhere checks that every running node counts want points
// in the collection at consistency=all; on a difference it reports what
// each node holds and sees.
func wantCountEverywhere(t *testing.T, c *Cluster, name string, want int) {
	t.Helper()
	for _, i := range c.Running() {
		n := countAll(t, c, i, name)
		if n == want {
			continue
		}
		var b strings.Builder
		for _, j := range c.Running() {
			ds, err := c.Nodes[j].Srv.Service().ReplicaDigests(context.Background(), name)
			var one struct {
				Count int `json:"count"`
			}
			code, _ := c.Do(j, "POST", "/collections/"+name+"/points/count", map[string]any{"exact": true}, &one)
			fmt.Fprintf(&b, "\n  node %d (peer %d): count at consistency 1: %d (%d); holds %+v %v; sees %+v",
				j, c.Nodes[j].Srv.Cluster().ID(), one.Count, code, ds, err, c.Nodes[j].Srv.Cluster().State().Collections[name].Shards)
			var sc struct {
				Points []struct {
					ID int `json:"id"`
				} `json:"points"`
			}
			code, _ = c.Do(j, "POST", "/collections/"+name+"/points/scroll", map[string]any{"limit": want + 100, "with_payload": false}, &sc)
			seen := map[int]bool{}
			for _, p := range sc.Points {
				seen[p.ID] = true
			}
			var missing []int
			for id := 1; id <= want && len(missing) < 20; id++ {
				if !seen[id] {
					missing = append(missing, id)
				}
			}
			fmt.Fprintf(&b, "; scroll (%d) at consistency 1: %d ids, missing from 1..%d: %v", code, len(sc.Points), want, missing)
		}
		t.Fatalf("node %d counts %d points at consistency=all, want %d:%s", i, n, want, b.String())
	}
}

func countAll(t *testing.T, c *Cluster, node int, name string) int {
	t.Helper()
	var out struct {
		Count int `json:"count"`
	}
	c.MustDo(node, "POST", "/collections/"+name+"/points/count?consistency=all", map[string]any{"exact": true}, &out)
	return out.Count
}

// TestReplicatedWrites writes through every node of three, concurrently
// and to the same points, into 2 shards × 3 replicas: every replica of a
// shard ends with the same points, versions, payloads and vectors, and
// reads at consistency=all from every node see every write.
func TestReplicatedWrites(t *testing.T) {
	c := New(t, Options{Configure: fastFailure})
	for i := range c.Nodes {
		c.Start(i)
	}
	if err := c.WaitFormed(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.MustDo(0, "PUT", "/collections/rep", map[string]any{"vectors": map[string]any{"size": 8, "distance": "Dot"},
		"shard_number": 2, "replication_factor": 3, "write_consistency_factor": 2}, nil)
	pts := testPoints(300, 8, 3)
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lo := 0; lo < len(pts); lo += 50 {
				batch := slices.Clone(pts[lo : lo+50]) // each writer its own payloads
				for j := range batch {
					batch[j].Payload = map[string]any{"writer": w, "n": batch[j].ID}
				}
				body := map[string]any{"points": batch}
				if code, raw := c.Do(w, "PUT", "/collections/rep/points?wait=true", body, nil); code != 200 {
					t.Errorf("writer %d: %d %s", w, code, raw)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	waitConverged(t, c, "rep", 2, 3, 10*time.Second)
	for i := range c.Nodes {
		if n := countAll(t, c, i, "rep"); n != len(pts) {
			t.Fatalf("node %d counts %d points at consistency=all, want %d", i, n, len(pts))
		}
	}
	var info struct {
		LocalShards []struct {
			State string `json:"state"`
		} `json:"local_shards"`
	}
	c.MustDo(2, "GET", "/collections/rep/cluster", nil, &info)
	if len(info.LocalShards) != 2 || info.LocalShards[0].State != "Active" {
		t.Fatalf("cluster info: %+v", info)
	}
}

// TestReplicaCatchesUp stops the node of a backup replica while writes go
// on: its primary marks it Dead within node_down_after, writes keep being
// acknowledged by the others, and once the node is back the replica
// catches up from the op log and is Active again with the same contents.
func TestReplicaCatchesUp(t *testing.T) {
	c := New(t, Options{Configure: fastFailure})
	for i := range c.Nodes {
		c.Start(i)
	}
	if err := c.WaitFormed(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.MustDo(0, "PUT", "/collections/cu", map[string]any{"vectors": map[string]any{"size": 8, "distance": "Dot"},
		"shard_number": 3, "replication_factor": 2}, nil)
	pts := testPoints(600, 8, 5)
	c.MustDo(0, "PUT", "/collections/cu/points?wait=true", map[string]any{"points": pts[:200]}, nil)
	c.Stop(2)
	for lo := 200; lo < 600; lo += 50 {
		c.MustDo(0, "PUT", "/collections/cu/points?wait=true", map[string]any{"points": pts[lo : lo+50]}, nil)
	}
	c.Start(2)
	waitConverged(t, c, "cu", 3, 2, 20*time.Second)
	for i := range c.Nodes {
		if n := countAll(t, c, i, "cu"); n != len(pts) {
			t.Fatalf("node %d counts %d points, want %d", i, n, len(pts))
		}
	}
}

// TestReplicaCatchesUpByCheckpoint stops a backup's node until its
// primary's op log no longer holds what it missed: back, the replica goes
// Dead → Recovery → Partial, receives a checkpoint of the shard (index
// files included) while writes continue, then the log tail, and is Active
// with the same contents.
func TestReplicaCatchesUpByCheckpoint(t *testing.T) {
	c := New(t, Options{Configure: fastFailure, ShardOptions: func(o *shard.Options) { o.OpLogRetain = 4 }})
	for i := range c.Nodes {
		c.Start(i)
	}
	if err := c.WaitFormed(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.MustDo(0, "PUT", "/collections/cp", map[string]any{"vectors": map[string]any{"size": 8, "distance": "Dot"},
		"shard_number": 1, "replication_factor": 3}, nil)
	pts := testPoints(400, 8, 9)
	c.MustDo(0, "PUT", "/collections/cp/points?wait=true", map[string]any{"points": pts[:100]}, nil)
	c.Stop(2)
	for lo := 100; lo < 300; lo += 10 {
		c.MustDo(0, "PUT", "/collections/cp/points?wait=true", map[string]any{"points": pts[lo : lo+10]}, nil)
	}
	c.Start(2)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 300; i < 400; i++ {
			if code, raw := c.Do(1, "PUT", "/collections/cp/points?wait=true", map[string]any{"points": pts[i : i+1]}, nil); code != 200 {
				t.Errorf("write during the transfer: %d %s", code, raw)
			}
			time.Sleep(30 * time.Millisecond)
		}
	}()
	<-done
	waitConverged(t, c, "cp", 1, 3, 30*time.Second)
	for i := range c.Nodes {
		if n := countAll(t, c, i, "cp"); n != len(pts) {
			t.Fatalf("node %d counts %d points, want %d", i, n, len(pts))
		}
	}
}

// replicaState is one replica as GET /collections/{c}/cluster reports it.
type replicaState struct {
	ShardID int    `json:"shard_id"`
	PeerID  uint64 `json:"peer_id"`
	State   string `json:"state"`
}

// replicaStates returns every replica of a collection with its state, as
// node sees them (its local replicas carry its own peer id).
func replicaStates(t *testing.T, c *Cluster, node int, name string) []replicaState {
	t.Helper()
	var info struct {
		PeerID       uint64         `json:"peer_id"`
		LocalShards  []replicaState `json:"local_shards"`
		RemoteShards []replicaState `json:"remote_shards"`
	}
	c.MustDo(node, "GET", "/collections/"+name+"/cluster", nil, &info)
	out := info.RemoteShards
	for _, l := range info.LocalShards {
		l.PeerID = info.PeerID
		out = append(out, l)
	}
	return out
}

// shardPeers returns the peers holding shard 0 of a collection, by state.
func shardPeers(t *testing.T, c *Cluster, node int, name string) map[uint64]string {
	t.Helper()
	out := map[uint64]string{}
	for _, r := range replicaStates(t, c, node, name) {
		if r.ShardID == 0 {
			out[r.PeerID] = r.State
		}
	}
	return out
}

// TestShardTransfersAPI replicates a shard to a second node, moves it
// from the first to the third, and drops a replica, through Qdrant's
// POST /collections/{c}/cluster, with writes going on; refusals keep the
// last Active replica.
func TestShardTransfersAPI(t *testing.T) {
	c := New(t, Options{Configure: fastFailure})
	for i := range c.Nodes {
		c.Start(i)
	}
	if err := c.WaitFormed(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.MustDo(0, "PUT", "/collections/mv", map[string]any{"vectors": map[string]any{"size": 8, "distance": "Dot"},
		"shard_number": 1, "replication_factor": 1}, nil)
	pts := testPoints(300, 8, 11)
	c.MustDo(0, "PUT", "/collections/mv/points?wait=true", map[string]any{"points": pts[:100]}, nil)
	peers := shardPeers(t, c, 0, "mv")
	var src uint64
	for p := range peers {
		src = p
	}
	var others []uint64
	for _, id := range c.Nodes[0].Srv.Cluster().State().PeerIDs() {
		if id != src {
			others = append(others, id)
		}
	}
	// A writer goes on through every transfer below.
	writes := make(chan error, 1)
	go func() {
		for i := 100; i < len(pts); i++ {
			if code, raw := c.Do(1, "PUT", "/collections/mv/points?wait=true", map[string]any{"points": pts[i : i+1]}, nil); code != 200 {
				writes <- fmt.Errorf("write %d: %d %s", i, code, raw)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		writes <- nil
	}()
	op := func(body map[string]any) (int, []byte) { return c.Do(2, "POST", "/collections/mv/cluster", body, nil) }
	if code, raw := op(map[string]any{"replicate_shard": map[string]any{"shard_id": 0, "from_peer_id": src, "to_peer_id": others[0], "method": "stream_records"}}); code != 200 {
		t.Fatalf("replicate_shard: %d %s", code, raw)
	}
	waitConverged(t, c, "mv", 1, 2, 20*time.Second)
	if code, raw := op(map[string]any{"move_shard": map[string]any{"shard_id": 0, "from_peer_id": src, "to_peer_id": others[1], "method": "snapshot"}}); code != 200 {
		t.Fatalf("move_shard: %d %s", code, raw)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		p := shardPeers(t, c, 0, "mv")
		if len(p) == 2 && p[others[0]] == "Active" && p[others[1]] == "Active" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("move did not finish: %v", p)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := <-writes; err != nil {
		t.Fatal(err)
	}
	// The move asked for the snapshot method: a checkpoint was sent,
	// although the op log held every operation.
	var checkpoints int64
	for _, n := range c.Nodes {
		k, _ := n.Srv.Service().TransferStats()
		checkpoints += k
	}
	if checkpoints < 1 {
		t.Fatal("move_shard with method snapshot sent no checkpoint")
	}
	waitConverged(t, c, "mv", 1, 2, 20*time.Second)
	wantCountEverywhere(t, c, "mv", len(pts))
	// Refusals.
	for _, bad := range []struct {
		body map[string]any
		code int
		text string
	}{
		{map[string]any{"replicate_shard": map[string]any{"shard_id": 0, "from_peer_id": src, "to_peer_id": others[0]}}, 400, "no replica on peer"},
		{map[string]any{"replicate_shard": map[string]any{"shard_id": 3, "from_peer_id": others[0], "to_peer_id": src}}, 400, "Shard 3 does not exist"},
		{map[string]any{"replicate_shard": map[string]any{"shard_id": 0, "from_peer_id": others[0], "to_peer_id": src, "method": "teleport"}}, 400, "unknown shard transfer method"},
		{map[string]any{"abort_transfer": map[string]any{"shard_id": 0, "from_peer_id": others[0], "to_peer_id": others[1]}}, 400, "no transfer"},
		{map[string]any{"start_resharding": map[string]any{}}, 400, "resharding is not supported"},
		{map[string]any{}, 400, "exactly one"},
	} {
		if code, raw := op(bad.body); code != bad.code || !strings.Contains(string(raw), bad.text) {
			t.Fatalf("%v: %d %s, want %d %q", bad.body, code, raw, bad.code, bad.text)
		}
	}
	if code, raw := op(map[string]any{"drop_replica": map[string]any{"shard_id": 0, "peer_id": others[0]}}); code != 200 {
		t.Fatalf("drop_replica: %d %s", code, raw)
	}
	if code, raw := op(map[string]any{"drop_replica": map[string]any{"shard_id": 0, "peer_id": others[1]}}); code != 400 || !strings.Contains(string(raw), "last active replica") {
		t.Fatalf("dropping the last replica: %d %s", code, raw)
	}
	if n := countAll(t, c, 0, "mv"); n != len(pts) {
		t.Fatalf("after the drop: %d points, want %d", n, len(pts))
	}
}

// TestChangeReplicationFactor raises a collection's replication_factor
// with PATCH (new replicas are filled and become Active) and lowers it
// again (surplus replicas are dropped), losing nothing.
func TestChangeReplicationFactor(t *testing.T) {
	c := New(t, Options{Configure: fastFailure})
	for i := range c.Nodes {
		c.Start(i)
	}
	if err := c.WaitFormed(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.MustDo(0, "PUT", "/collections/rf", map[string]any{"vectors": map[string]any{"size": 8, "distance": "Dot"},
		"shard_number": 2, "replication_factor": 1}, nil)
	pts := testPoints(300, 8, 13)
	c.MustDo(1, "PUT", "/collections/rf/points?wait=true", map[string]any{"points": pts}, nil)
	c.MustDo(2, "PATCH", "/collections/rf", map[string]any{"params": map[string]any{"replication_factor": 3}}, nil)
	waitConverged(t, c, "rf", 2, 3, 20*time.Second)
	c.MustDo(0, "PATCH", "/collections/rf", map[string]any{"params": map[string]any{"replication_factor": 1}}, nil)
	waitConverged(t, c, "rf", 2, 1, 20*time.Second)
	for i := range c.Nodes {
		if n := countAll(t, c, i, "rf"); n != len(pts) {
			t.Fatalf("node %d counts %d points, want %d", i, n, len(pts))
		}
	}
}

// TestCorruptReplicaIsRebuilt damages a replica's store while its node is
// stopped: back, the node quarantines it (moved aside, never served),
// gives up its standing, and the primary rebuilds it with a checkpoint;
// the collection stays available on every node throughout.
func TestCorruptReplicaIsRebuilt(t *testing.T) {
	c := New(t, Options{Configure: fastFailure})
	for i := range c.Nodes {
		c.Start(i)
	}
	if err := c.WaitFormed(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.MustDo(0, "PUT", "/collections/qr", map[string]any{"vectors": map[string]any{"size": 8, "distance": "Dot"},
		"shard_number": 1, "replication_factor": 3}, nil)
	pts := testPoints(200, 8, 17)
	c.MustDo(0, "PUT", "/collections/qr/points?wait=true", map[string]any{"points": pts}, nil)
	gen := c.Nodes[0].Srv.Cluster().State().Collections["qr"].Generation
	victim := 1
	store := filepath.Join(c.Nodes[victim].Cfg.Storage.StoragePath, "collections", "qr", "gen-"+strconv.FormatUint(gen, 10), "0", "store")
	c.Stop(victim)
	manifests, _ := filepath.Glob(filepath.Join(store, "MANIFEST-*"))
	if len(manifests) == 0 {
		t.Fatalf("no MANIFEST in %s", store)
	}
	for _, m := range manifests {
		if err := os.WriteFile(m, []byte("this is not a pebble manifest"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c.Start(victim)
	waitConverged(t, c, "qr", 1, 3, 30*time.Second)
	if n := countAll(t, c, victim, "qr"); n != len(pts) {
		t.Fatalf("node %d counts %d points, want %d", victim, n, len(pts))
	}
	aside, _ := filepath.Glob(filepath.Join(filepath.Dir(filepath.Dir(store)), "0.quarantine-*"))
	if len(aside) != 1 {
		t.Fatalf("quarantined copies: %v", aside)
	}
}

// TestReadFanOut reads through a node that holds no replica of a shard
// while the link to the shard's primary is slow (300 ms): a plain read
// waits for the primary; with read_fan_out_factor 1 the other replica is
// asked at once and answers first; with read_fan_out_delay_ms 50 it is
// asked after 50 ms. The settings show in the collection's parameters.
func TestReadFanOut(t *testing.T) {
	c := New(t, Options{Faults: true})
	for i := range c.Nodes {
		c.Start(i)
	}
	if err := c.WaitFormed(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.MustDo(0, "PUT", "/collections/fo", map[string]any{"vectors": map[string]any{"size": 2, "distance": "Dot"},
		"shard_number": 1, "replication_factor": 2}, nil)
	c.MustDo(0, "PUT", "/collections/fo/points?wait=true", map[string]any{"points": []any{map[string]any{"id": 1, "vector": []float32{1, 2}}}}, nil)
	waitConverged(t, c, "fo", 1, 2, 10*time.Second)
	st := c.Nodes[0].Srv.Cluster().State()
	sp := st.Collections["fo"].Shards[0]
	index := map[uint64]int{}
	for i, n := range c.Nodes {
		index[n.Srv.Cluster().ID()] = i
	}
	coord := -1
	for i, n := range c.Nodes {
		if _, ok := sp.Replica(n.Srv.Cluster().ID()); !ok {
			coord = i
		}
	}
	primary := index[sp.Primary()]
	c.Net.Link(coord, primary).Delay(300*time.Millisecond, 0)
	median := func() time.Duration {
		var ds []time.Duration
		for range 7 {
			start := time.Now()
			c.MustDo(coord, "GET", "/collections/fo/points/1", nil, nil)
			ds = append(ds, time.Since(start))
		}
		slices.Sort(ds)
		t.Logf("reads through node %d: %v", coord, ds)
		return ds[len(ds)/2]
	}
	if d := median(); d < 250*time.Millisecond {
		t.Fatalf("a read through the slow link took %s: the test does not exercise the primary", d)
	}
	c.MustDo(coord, "PATCH", "/collections/fo", map[string]any{"params": map[string]any{"read_fan_out_factor": 1}}, nil) // the reading node applies it before answering
	if d := median(); d > 250*time.Millisecond {                                                                         // the slow path costs ≥ 600 ms
		t.Fatalf("with read_fan_out_factor 1 a read took %s", d)
	}
	c.MustDo(coord, "PATCH", "/collections/fo", map[string]any{"params": map[string]any{"read_fan_out_delay_ms": 50}}, nil)
	if d := median(); d < 45*time.Millisecond || d > 400*time.Millisecond {
		t.Fatalf("with read_fan_out_delay_ms 50 a read took %s", d)
	}
	var info struct {
		Config struct {
			Params map[string]any `json:"params"`
		} `json:"config"`
	}
	c.MustDo(coord, "GET", "/collections/fo", nil, &info)
	if info.Config.Params["read_fan_out_factor"] != float64(1) || info.Config.Params["read_fan_out_delay_ms"] != float64(50) {
		t.Fatalf("params: %v", info.Config.Params)
	}
	if code, raw := c.Do(0, "PATCH", "/collections/fo", map[string]any{"params": map[string]any{"read_fan_out_factor": -1}}, nil); code != 400 {
		t.Fatalf("negative fan-out: %d %s", code, raw)
	}
}
