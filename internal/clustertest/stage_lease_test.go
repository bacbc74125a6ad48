package clustertest

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/config"
	"github.com/shoal-db/shoal/internal/service"
)

// hold is a failpoint that, once armed, blocks the first call until
// released, and tells when that call arrived.
type hold struct {
	armed   atomic.Bool
	arrived chan struct{}
	release chan struct{}
	once    sync.Once
}

func newHold() *hold { return &hold{arrived: make(chan struct{}), release: make(chan struct{})} }

func (h *hold) hit() {
	if h.armed.CompareAndSwap(true, false) {
		close(h.arrived)
		<-h.release
	}
}

func (h *hold) free() { h.once.Do(func() { close(h.release) }) }

func (h *hold) wait(t *testing.T, what string, d time.Duration) {
	t.Helper()
	select {
	case <-h.arrived:
	case <-time.After(d):
		t.Fatalf("%s: not within %s", what, d)
	}
}

// leaseRace is a 3-node cluster with staging leases of 1 s, where a
// restore's owner, a late node (a follower: a leader's held apply would
// hold every proposal), and holds on both: the owner's proposal, the late
// node's staging sweep (after it read the metadata) and its apply of a
// restore.
type leaseRace struct {
	c                     *Cluster
	late, owner           int
	propose, sweep, apply *hold
}

func newLeaseRace(t *testing.T) *leaseRace {
	r := &leaseRace{propose: newHold(), sweep: newHold(), apply: newHold()}
	var lateAt, ownerAt atomic.Int32
	lateAt.Store(-1)
	ownerAt.Store(-1)
	r.c = New(t, Options{Nodes: 3, Configure: func(i int, cfg *config.Config) {
		fastFailure(i, cfg)
		cfg.Cluster.RestoreStageTimeout = config.Duration(time.Second)
	}, Failpoint: func(i int, point string) error {
		switch {
		case i == int(ownerAt.Load()) && point == service.FailpointClusterRestoreStaged:
			r.propose.hit()
		case i == int(lateAt.Load()) && point == service.FailpointStageSweepRead:
			r.sweep.hit()
		case i == int(lateAt.Load()) && point == service.FailpointClusterRestoreApply:
			r.apply.hit()
		}
		return nil
	}})
	t.Cleanup(func() { r.sweep.free(); r.apply.free(); r.propose.free() }) // before the cluster closes
	for i := range r.c.Nodes {
		r.c.Start(i)
	}
	if err := r.c.WaitFormed(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	leader := r.c.Leader()
	if leader < 0 {
		t.Fatal("no leader")
	}
	r.late = (leader + 1) % 3
	r.owner = (r.late + 1) % 3
	lateAt.Store(int32(r.late))
	ownerAt.Store(int32(r.owner))
	return r
}

// recover runs the recovery PUT path with body on the owner so that the
// late node's staging lease runs out, and its staged replicas are removed,
// before it applies the committed restore; it returns once the late node
// has applied it.
func (r *leaseRace) recover(t *testing.T, path string, body any) {
	t.Helper()
	c := r.c
	r.sweep.armed.Store(true)
	r.apply.armed.Store(true)
	r.propose.armed.Store(true)
	type answer struct {
		code int
		raw  []byte
	}
	done := make(chan answer, 1)
	go func() {
		code, raw := c.Do(r.owner, "PUT", path, body, nil)
		done <- answer{code, raw}
	}()
	// Every replica is staged; the proposal waits until the late node's
	// sweep has seen the staging lease and read the metadata. Then the
	// restore commits, and the late node's apply of it is held.
	r.propose.wait(t, "the staging of every replica", 30*time.Second)
	r.sweep.wait(t, "the late node's staging sweep", 30*time.Second)
	leases := filepath.Join(c.Nodes[r.late].Cfg.Storage.StoragePath, "collections", "c", "gen-*.lease")
	if m, _ := filepath.Glob(leases); len(m) != 1 {
		t.Fatalf("the late node holds staging leases %v, want one", m)
	}
	r.propose.free()
	r.apply.wait(t, "the late node's apply of the restore", 30*time.Second)
	var a answer
	select {
	case a = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the recovery did not answer")
	}
	if a.code != 200 {
		t.Fatalf("recover: %d %s", a.code, a.raw)
	}
	want := c.Nodes[r.owner].Srv.Cluster().State().Collections["c"]
	// The owner renews no more: the lease runs out, and the sweep removes
	// the staged replicas the late node has not applied yet (with the
	// lease file).
	time.Sleep(1500 * time.Millisecond)
	r.sweep.free()
	waitFor(t, 10*time.Second, func() string {
		if m, _ := filepath.Glob(leases); len(m) != 0 {
			return fmt.Sprintf("the staged replicas are still there (%v)", m)
		}
		return ""
	})
	r.apply.free()
	waitFor(t, 10*time.Second, func() string {
		m := c.Nodes[r.late].Srv.Cluster().State().Collections["c"]
		if m == nil || m.Generation != want.Generation {
			return "the late node has not applied the restore"
		}
		for i, sp := range want.Shards {
			if m.Shards[i].Epoch < sp.Epoch {
				return "the late node has not applied the restore"
			}
		}
		return ""
	})
}

// primaryOf returns a shard whose primary is node i.
func primaryOf(t *testing.T, c *Cluster, i int) int {
	t.Helper()
	peer := c.Nodes[i].Srv.Cluster().ID()
	for s, sp := range c.Nodes[i].Srv.Cluster().State().Collections["c"].Shards {
		if sp.Primary() == peer {
			return s
		}
	}
	t.Fatalf("node %d is the primary of no shard", i)
	return -1
}

// TestRestoreAfterStagingLeaseRanOut makes a node's staging lease run out
// for real before the node applies the collection restore that needs its
// staged replicas (failpoints widen the race window): its staging sweep
// reads the metadata before the restore_collection is proposed, is held
// until the lease has expired, and removes the staged replicas while the
// node's apply of the committed restore is held; then the apply runs. The
// node must not serve its empty replicas as the restored data, nor lead a
// shard with one (which would empty the other replicas): they open
// quarantined (reads go to the other replicas), it gives them up, they are
// filled again from the other replicas, and every replica ends with the
// snapshot's digests, the collection green.
func TestRestoreAfterStagingLeaseRanOut(t *testing.T) {
	r := newLeaseRace(t)
	c, late := r.c, r.late
	c.MustDo(0, "PUT", "/collections/c", map[string]any{"vectors": map[string]any{"size": 8, "distance": "Cosine"}, "shard_number": 3, "replication_factor": 3}, nil)
	c.MustDo(0, "PUT", "/collections/c/points?wait=true", map[string]any{"points": testPoints(400, 8, 41)}, nil)
	srcDigests := digests(t, c, "c", 3, 3)
	srcAll := scrollAll(t, c, 0, "c")
	primaryOf(t, c, late) // the restore keeps the replicas' order
	var snap struct {
		Name string `json:"name"`
	}
	c.MustDo(0, "POST", "/collections/c/snapshots?wait=true", nil, &snap)
	more := testPoints(100, 8, 42)
	for i := range more {
		more[i].ID += 10000
	}
	c.MustDo(1, "PUT", "/collections/c/points?wait=true", map[string]any{"points": more}, nil)

	location := "http://" + c.Nodes[0].Srv.HTTPAddr() + "/collections/c/snapshots/" + snap.Name
	r.recover(t, "/collections/c/snapshots/recover", map[string]any{"location": location, "priority": "snapshot"})
	// Its replicas are not read while they are empty.
	if n := countOne(t, c, late, "c"); n != len(srcAll) {
		t.Fatalf("node %d counts %d points just after the restore, want %d", late, n, len(srcAll))
	}
	waitShardDigests(t, c, "c", 3, 3, srcDigests)
	waitGreen(t, c, []string{"c"}, 30*time.Second)
	got := scrollAll(t, c, late, "c")
	if len(got) != len(srcAll) {
		t.Fatalf("node %d reads %d points, want the snapshot's %d", late, len(got), len(srcAll))
	}
	for id, rec := range srcAll {
		if g, ok := got[id]; !ok || fmt.Sprint(g) != fmt.Sprint(rec) {
			t.Fatalf("point %d reads %+v through node %d, want %+v", id, g, late, rec)
		}
	}
}

// TestShardRestoreAfterStagingLeaseRanOut is the same race for a shard
// snapshot recovered in cluster mode (restore_shard): the late node, the
// shard's primary, finds its staged replica gone when it applies the
// restore; its replica opens empty and quarantined, is given up and filled
// again, and the shard's replicas end with the snapshot's digest while
// the other shards keep theirs.
func TestShardRestoreAfterStagingLeaseRanOut(t *testing.T) {
	r := newLeaseRace(t)
	c, late := r.c, r.late
	c.MustDo(0, "PUT", "/collections/c", map[string]any{"vectors": map[string]any{"size": 8, "distance": "Cosine"}, "shard_number": 3, "replication_factor": 3}, nil)
	pts := testPoints(600, 8, 51)
	c.MustDo(0, "PUT", "/collections/c/points?wait=true", map[string]any{"points": pts[:400]}, nil)
	before := digests(t, c, "c", 3, 3)
	s := primaryOf(t, c, late)
	snapPoints := int(mustReplicas(t, c, "c")[s][0].Points)
	var snap struct {
		Name string `json:"name"`
	}
	path := fmt.Sprintf("/collections/c/shards/%d/snapshots", s)
	c.MustDo(0, "POST", path+"?wait=true", nil, &snap)
	c.MustDo(1, "PUT", "/collections/c/points?wait=true", map[string]any{"points": pts[400:]}, nil)
	after := digests(t, c, "c", 3, 3)
	if after[s] == before[s] {
		t.Fatalf("the writes after the snapshot did not reach shard %d", s)
	}
	// What the collection counts once shard s is back at the snapshot.
	want := countAll(t, c, 0, "c") - int(mustReplicas(t, c, "c")[s][0].Points) + snapPoints

	location := "http://" + c.Nodes[0].Srv.HTTPAddr() + path + "/" + snap.Name
	r.recover(t, path+"/recover", map[string]any{"location": location, "priority": "snapshot"})
	// Its replica is not read while it is empty.
	if n := countOne(t, c, late, "c"); n != want {
		t.Fatalf("node %d counts %d points just after the restore, want %d", late, n, want)
	}
	wantDigests := map[int]string{s: before[s]}
	for o := range 3 {
		if o != s {
			wantDigests[o] = after[o]
		}
	}
	waitShardDigests(t, c, "c", 3, 3, wantDigests)
	waitGreen(t, c, []string{"c"}, 30*time.Second)
	if n := countAll(t, c, late, "c"); n != want {
		t.Fatalf("node %d counts %d points, want %d", late, n, want)
	}
}

// countOne counts a collection's points through node i at the default
// read consistency (one Active replica per shard, the node's own first).
func countOne(t *testing.T, c *Cluster, i int, name string) int {
	t.Helper()
	var out struct {
		Count int `json:"count"`
	}
	c.MustDo(i, "POST", "/collections/"+name+"/points/count", map[string]any{"exact": true}, &out)
	return out.Count
}
