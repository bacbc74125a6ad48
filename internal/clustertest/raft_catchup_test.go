package clustertest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/config"
	"github.com/shoal-db/shoal/internal/meta"
)

// TestRaftSnapshotCatchUpAfterRestore stops a node holding replicas of a
// collection, replaces the collection by a snapshot recovery
// (restore_collection with replaces) while it is down, and compacts the
// Raft log so that the node, back, catches up from the leader's Raft
// snapshot instead of the log: the replaced generation's directory is
// removed from its disk (as the log entry would have removed it), it
// serves the restored data, and a replica made on it again holds the
// others' digests.
func TestRaftSnapshotCatchUpAfterRestore(t *testing.T) {
	c := New(t, Options{Nodes: 3, Configure: func(i int, cfg *config.Config) {
		fastFailure(i, cfg)
		cfg.Cluster.AutoHeal = false // the test re-creates the dropped replicas itself
	}})
	for i := range c.Nodes {
		c.Start(i)
	}
	if err := c.WaitFormed(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	const late = 2
	c.MustDo(0, "PUT", "/collections/c", map[string]any{"vectors": map[string]any{"size": 8, "distance": "Cosine"}, "shard_number": 2, "replication_factor": 3}, nil)
	c.MustDo(0, "PUT", "/collections/c/points?wait=true", map[string]any{"points": testPoints(300, 8, 31)}, nil)
	srcDigests := digests(t, c, "c", 2, 3)
	srcAll := scrollAll(t, c, 0, "c")
	var snap struct {
		Name string `json:"name"`
	}
	c.MustDo(0, "POST", "/collections/c/snapshots?wait=true", nil, &snap)
	more := testPoints(200, 8, 32)
	for i := range more {
		more[i].ID += 10000
	}
	c.MustDo(1, "PUT", "/collections/c/points?wait=true", map[string]any{"points": more}, nil)

	lateNode := c.Nodes[late]
	latePeer := lateNode.Srv.Cluster().ID()
	oldGen := lateNode.Srv.Cluster().State().Collections["c"].Generation
	collDir := filepath.Join(lateNode.Cfg.Storage.StoragePath, "collections", "c")
	oldDir := meta.GenerationDir(collDir, oldGen)
	for _, s := range []string{"0", "1"} {
		if _, err := os.Stat(filepath.Join(oldDir, s)); err != nil {
			t.Fatalf("node %d holds no replica of shard %s before it stops: %v", late, s, err)
		}
	}
	raftSnaps := filepath.Join(lateNode.Cfg.Storage.StoragePath, "raft", "snapshots")
	if ents, _ := os.ReadDir(raftSnaps); len(ents) != 0 {
		t.Fatalf("node %d has Raft snapshots before the test makes one: %v", late, ents)
	}
	c.Stop(late)

	// While it is down: its replicas are dropped (a restore stages on every
	// replica of the collection), then the collection is replaced.
	for s := range 2 {
		c.MustDo(0, "POST", "/collections/c/cluster", map[string]any{"drop_replica": map[string]any{"shard_id": s, "peer_id": latePeer}}, nil)
	}
	location := "http://" + c.Nodes[0].Srv.HTTPAddr() + "/collections/c/snapshots/" + snap.Name
	c.MustDo(1, "PUT", "/collections/c/snapshots/recover", map[string]any{"location": location, "priority": "snapshot"}, nil)
	newGen := c.Nodes[1].Srv.Cluster().State().Collections["c"].Generation // node 1 ran the recovery
	if newGen == oldGen {
		t.Fatal("the recovery did not replace the collection's generation")
	}
	// Once every running node has applied the restore, keep one log entry
	// on each: the returning node is behind the log's start, and the
	// leader's snapshot holds the restore.
	waitFor(t, 10*time.Second, func() string {
		for _, i := range c.Running() {
			if c.Nodes[i].Srv.Cluster().State().Collections["c"].Generation != newGen {
				return fmt.Sprintf("node %d has not applied the restore", i)
			}
		}
		return ""
	})
	for _, i := range c.Running() {
		if err := c.Nodes[i].Srv.Cluster().Compact(1); err != nil {
			t.Fatal(err)
		}
	}

	c.Start(late)
	waitFor(t, 30*time.Second, func() string {
		if g := c.Nodes[late].Srv.Cluster().State().Collections["c"]; g == nil || g.Generation != newGen {
			return "the returning node has not caught up with the restore"
		}
		return ""
	})
	if ents, _ := os.ReadDir(raftSnaps); len(ents) == 0 {
		t.Fatalf("node %d caught up from the log, not from a Raft snapshot", late)
	}
	if _, err := os.Stat(oldDir); !os.IsNotExist(err) {
		ents, _ := os.ReadDir(collDir)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("the replaced generation's directory %s is still there (%v); collections/c holds %v", oldDir, err, names)
	}
	if got := scrollAll(t, c, late, "c"); len(got) != len(srcAll) {
		t.Fatalf("node %d reads %d points, want the snapshot's %d", late, len(got), len(srcAll))
	}

	// A replica on the returning node again, of the restored data.
	src := c.Nodes[0].Srv.Cluster().ID()
	for s := range 2 {
		c.MustDo(0, "POST", "/collections/c/cluster", map[string]any{"replicate_shard": map[string]any{"shard_id": s, "from_peer_id": src, "to_peer_id": latePeer}}, nil)
	}
	waitShardDigests(t, c, "c", 2, 3, srcDigests)
	got := scrollAll(t, c, late, "c")
	for id, r := range srcAll {
		if g, ok := got[id]; !ok || fmt.Sprint(g) != fmt.Sprint(r) {
			t.Fatalf("point %d reads %+v through node %d, want %+v", id, g, late, r)
		}
	}
	waitGreen(t, c, []string{"c"}, 30*time.Second)
}
