package replica

import (
	"context"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/shard"
)

// TestStoppedPrimaryDoesNotAcknowledge holds a write that waits for an
// Active backup while the primary stops (its replica was moved away, or
// another replica became the primary): the backup's sender ends as every
// sender of a stopped primary does, but the backup stays in the shard, so
// the write must fail (indeterminate), not be acknowledged with the
// primary's copy alone. The lost write of TestShardTransfersAPI (a write
// acknowledged during a move_shard, then missing on both remaining
// replicas) came from here.
func TestStoppedPrimaryDoesNotAcknowledge(t *testing.T) {
	sh, err := shard.Open(shard.Options{Dir: t.TempDir(), Vectors: api.VectorsConfig{"": {Size: 2, Distance: api.DistanceDot}}, MinFreeDiskBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	for _, end := range []string{"stop", "deposed", "dropped"} {
		p := NewPrimary(Options{Epoch: 1, Shard: sh})
		// A backup that never answers (its sender does not run here).
		b := &sender{p: p, peer: 2, state: api.ReplicaActive}
		p.senders[2] = b
		op := &api.UpdateOperation{Upsert: &api.UpsertPoints{Points: []api.PointStruct{{ID: api.NumID(1), Vector: api.Vectors{"": {1, 2}}}}}}
		pd, err := p.Prepare(context.Background(), op, 1)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := pd.Commit()
			done <- err
		}()
		select {
		case err := <-done:
			t.Fatalf("%s: the write returned (%v) before its Active backup acknowledged it", end, err)
		case <-time.After(100 * time.Millisecond):
		}
		// The end, as the primary's senders see it: the sender ends and
		// says so (removed) in the same critical section as the cause.
		p.mu.Lock()
		switch end {
		case "stop":
			p.stopOnce.Do(func() { close(p.stop) })
		case "deposed":
			p.deposed = true
		case "dropped":
			// Sync without the backup: its replica left the shard, the
			// primary goes on; the write no longer needs it.
			delete(p.senders, 2)
		}
		b.removed = true
		p.broadcast()
		p.mu.Unlock()
		select {
		case err := <-done:
			switch {
			case end == "dropped" && err != nil:
				t.Fatalf("dropped: the write failed (%v) though its backup left the shard", err)
			case end != "dropped" && err == nil:
				t.Fatalf("%s: the write was acknowledged with the primary's copy alone", end)
			case end != "dropped" && api.KindOf(err) != api.KindUnavailable:
				t.Fatalf("%s: %v, want the not-the-primary answer the coordinator retries", end, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the write did not return", end)
		}
		p.Stop()
	}
}
