package clustertest

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/config"
	"github.com/shoal-db/shoal/internal/service"
)

// TestShardRestoreMissedByRaftSnapshotCatchUp: a node staged for a shard
// restore, the shard's primary, stops (or is cut off, its collection
// open) after the leases' last renewal, before the restore_shard commits,
// and catches up from the leader's Raft snapshot: it never applies the
// command that would swap its staged replica in. Its replica must not
// lead the shard with its old data (which would undo the restore on the
// others): it is quarantined and refilled, and every replica ends with
// the restored data.
func TestShardRestoreMissedByRaftSnapshotCatchUp(t *testing.T) {
	t.Run("stopped", func(t *testing.T) { shardRestoreMissed(t, false) })
	t.Run("isolated", func(t *testing.T) { shardRestoreMissed(t, true) })
}

func shardRestoreMissed(t *testing.T, isolate bool) {
	var ownerAt atomic.Int32
	ownerAt.Store(-1)
	renewed := newHold()
	c := New(t, Options{Nodes: 3, Faults: isolate, Configure: func(i int, cfg *config.Config) {
		fastFailure(i, cfg)
		cfg.Cluster.AutoHeal = false
	}, Failpoint: func(i int, point string) error {
		if i == int(ownerAt.Load()) && point == service.FailpointClusterRestoreRenewed {
			renewed.hit()
		}
		return nil
	}})
	t.Cleanup(renewed.free)
	for i := range c.Nodes {
		c.Start(i)
	}
	if err := c.WaitFormed(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	leader := c.Leader()
	late := (leader + 1) % 3
	owner := (late + 1) % 3
	ownerAt.Store(int32(owner))
	c.MustDo(0, "PUT", "/collections/c", map[string]any{"vectors": map[string]any{"size": 8, "distance": "Cosine"}, "shard_number": 3, "replication_factor": 3}, nil)
	pts := testPoints(600, 8, 61)
	c.MustDo(0, "PUT", "/collections/c/points?wait=true", map[string]any{"points": pts[:400]}, nil)
	before := digests(t, c, "c", 3, 3)
	s := primaryOf(t, c, late)
	var snap struct {
		Name string `json:"name"`
	}
	path := fmt.Sprintf("/collections/c/shards/%d/snapshots", s)
	c.MustDo(0, "POST", path+"?wait=true", nil, &snap)
	c.MustDo(1, "PUT", "/collections/c/points?wait=true", map[string]any{"points": pts[400:]}, nil)
	after := digests(t, c, "c", 3, 3)

	renewed.armed.Store(true)
	done := make(chan int, 1)
	location := "http://" + c.Nodes[0].Srv.HTTPAddr() + path + "/" + snap.Name
	go func() {
		code, _ := c.Do(owner, "PUT", path+"/recover", map[string]any{"location": location, "priority": "snapshot"}, nil)
		done <- code
	}()
	renewed.wait(t, "the renewal of the leases", 30*time.Second)
	if isolate {
		c.Net.Isolate(late)
	} else {
		c.Stop(late)
	}
	renewed.free()
	if code := <-done; code != 200 {
		t.Fatalf("recover: %d", code)
	}
	for _, i := range c.Running() {
		if i == late {
			continue
		}
		if err := c.Nodes[i].Srv.Cluster().Compact(1); err != nil {
			t.Fatal(err)
		}
	}
	if isolate {
		c.Net.Heal()
	} else {
		c.Start(late)
	}
	want := map[int]string{s: before[s]}
	for o := range 3 {
		if o != s {
			want[o] = after[o]
		}
	}
	waitShardDigests(t, c, "c", 3, 3, want)
	waitGreen(t, c, []string{"c"}, 30*time.Second)
}
