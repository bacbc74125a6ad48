package cluster

import (
	"bytes"
	"io"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/meta"
)

type memSink struct {
	bytes.Buffer
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { return nil }
func (s *memSink) Close() error  { return nil }

func logOf(t *testing.T, index uint64, cmd *meta.Command) *raft.Log {
	t.Helper()
	b, err := cmd.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return &raft.Log{Index: index, Type: raft.LogCommand, Data: b}
}

// TestFSMAppliesAProposalOnce: a proposal retried with the same request id
// (its first answer was lost) is not applied again over a newer change,
// also after a snapshot and restore; its remembered outcome is returned.
func TestFSMAppliesAProposalOnce(t *testing.T) {
	f := newFSM()
	add := func(id uint64, addr, req string) *meta.Command {
		return &meta.Command{V: meta.ClusterCommandVersion, Type: meta.TypeAddPeer, Peer: &meta.Peer{ID: id, Addr: addr}, RequestID: req}
	}
	if r := f.Apply(logOf(t, 1, add(1, "a:1", "r1"))).(applyResult); r.err != nil {
		t.Fatal(r.err)
	}
	f.Apply(logOf(t, 2, add(1, "a:2", "r2")))
	// r1 again, as a retry would send it: nothing changes.
	if r := f.Apply(logOf(t, 3, add(1, "a:1", "r1"))).(applyResult); r.err != nil {
		t.Fatal(r.err)
	}
	if got := f.State().Peers[1].Addr; got != "a:2" {
		t.Fatalf("retried proposal applied again: address %s", got)
	}
	// A refused proposal's retry gets the same error.
	bad := &meta.Command{V: meta.ClusterCommandVersion, Type: meta.TypeRemovePeer, PeerID: 9, RequestID: "r3"}
	first := f.Apply(logOf(t, 4, bad)).(applyResult).err
	again := f.Apply(logOf(t, 5, bad)).(applyResult).err
	if first == nil || again == nil || api.Message(first) != api.Message(again) || api.KindOf(again) != api.KindNotFound {
		t.Fatalf("refusal %v, retried %v", first, again)
	}
	if f.Applied() != 5 {
		t.Fatalf("applied %d", f.Applied())
	}

	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	g := newFSM()
	if err := g.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	g.Apply(logOf(t, 6, add(1, "a:1", "r1")))
	if got := g.State().Peers[1].Addr; got != "a:2" {
		t.Fatalf("retried proposal applied after a restore: address %s", got)
	}
	// Only the newest maxRecent proposals are remembered.
	for i := range maxRecent + 1 {
		g.Apply(logOf(t, uint64(7+i), add(2, "b:1", "x"+string(rune('a'+i%26))+string(rune(i)))))
	}
	if len(g.recent) != maxRecent || len(g.order) != maxRecent {
		t.Fatalf("remembers %d/%d proposals", len(g.recent), len(g.order))
	}
}
