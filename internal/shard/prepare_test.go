package shard

import (
	"fmt"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/api"
)

// TestPrepareCommitAbort checks the two phases of a write: a Pending holds
// the writer lock (another writer waits), an aborted one leaves no trace
// and takes no sequence number, a failed Prepare releases the lock, and a
// committed one is applied with the sequence it announced.
func TestPrepareCommitAbort(t *testing.T) {
	s := openShard(t, testOptions(t.TempDir()))
	apply(t, s, upsert(pt(1, []float32{1, 0, 0, 0}, nil)))
	last := s.LastSeq()

	set := func(v float64, ids ...uint64) *api.UpdateOperation {
		var pids []api.PointID
		for _, id := range ids {
			pids = append(pids, api.NumID(id))
		}
		return &api.UpdateOperation{SetPayload: &api.SetPayload{Payload: api.Payload{"v": v}, Points: pids}}
	}
	// A failed Prepare changes nothing and releases the lock.
	if _, err := s.Prepare(bg, set(1, 1, 2)); api.KindOf(err) != api.KindNotFound || api.Message(err) != "Not found: No point with id 2 found" {
		t.Fatalf("prepare naming a missing point: %v", err)
	}
	pd, err := s.Prepare(bg, set(2, 1))
	if err != nil {
		t.Fatal(err)
	}
	if pd.Seq() != last+1 {
		t.Fatalf("prepared sequence %d, want %d", pd.Seq(), last+1)
	}
	// Another writer waits for the Pending.
	done := make(chan uint64)
	go func() {
		seq, err := s.Apply(bg, set(3, 1))
		if err != nil {
			t.Error(err)
		}
		done <- seq
	}()
	select {
	case <-done:
		t.Fatal("a write went through while another was prepared")
	case <-time.After(50 * time.Millisecond):
	}
	pd.Abort()
	pd.Abort() // a second Abort does nothing
	if _, err := pd.Commit(); err == nil {
		t.Fatal("Commit after Abort succeeded")
	}
	if seq := <-done; seq != last+1 {
		t.Fatalf("the waiting write got sequence %d, want %d (the aborted one takes none)", seq, last+1)
	}
	if got := getOne(t, s, 1).Payload["v"]; fmt.Sprint(got) != "3" {
		t.Fatalf("payload after abort and write: %v", got)
	}
	// A committed Pending is applied with its announced sequence.
	pd, err = s.Prepare(bg, set(4, 1))
	if err != nil {
		t.Fatal(err)
	}
	want := pd.Seq()
	if seq, err := pd.Commit(); err != nil || seq != want || s.LastSeq() != want {
		t.Fatalf("commit: seq %d, %v; want %d (last %d)", seq, err, want, s.LastSeq())
	}
	pd.Abort() // after Commit: nothing
	if got := getOne(t, s, 1).Payload["v"]; fmt.Sprint(got) != "4" {
		t.Fatalf("payload after commit: %v", got)
	}
	// The op log holds exactly the committed operations.
	var seqs []uint64
	if err := s.ReadOps(bg, last+1, func(seq uint64, _ *api.UpdateOperation) error {
		seqs = append(seqs, seq)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(seqs) != 2 || seqs[0] != last+1 || seqs[1] != last+2 {
		t.Fatalf("op log after the writes: %v", seqs)
	}
}
