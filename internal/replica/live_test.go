package replica

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/shard"
)

// seqs returns the sequence numbers of ops.
func seqs(ops []Op) []uint64 {
	out := make([]uint64, 0, len(ops))
	for _, op := range ops {
		out = append(out, op.Seq)
	}
	return out
}

func equalSeqs(t *testing.T, what string, got []Op, want ...uint64) {
	t.Helper()
	g := seqs(got)
	if len(g) != len(want) {
		t.Fatalf("%s: got operations %v, want %v", what, g, want)
	}
	for i := range g {
		if g[i] != want[i] {
			t.Fatalf("%s: got operations %v, want %v", what, g, want)
		}
	}
}

func deleteOp(id uint64) *api.UpdateOperation {
	return &api.UpdateOperation{Delete: &api.PointsSelector{Points: []api.PointID{api.NumID(id)}}}
}

// TestLiveOps checks the primary's memory of committed operations: what
// its senders get from it, and when it forgets them (acknowledged by
// every streaming sender, beyond its byte bound, no sender streaming).
func TestLiveOps(t *testing.T) {
	p := NewPrimary(Options{Epoch: 7, BatchOps: 4})
	remember := func(seq uint64) {
		p.mu.Lock()
		p.remember(seq, deleteOp(seq))
		p.mu.Unlock()
	}
	remember(1)
	equalSeqs(t, "no sender", p.liveOps(1))

	a := &sender{p: p, peer: 2, state: api.ReplicaActive}
	b := &sender{p: p, peer: 3, state: api.ReplicaRecovery}
	p.senders[2], p.senders[3] = a, b
	for seq := uint64(1); seq <= 5; seq++ {
		remember(seq)
	}
	remember(7) // committed before 6 recorded its commit
	remember(6)
	equalSeqs(t, "from 1", p.liveOps(1), 1, 2, 3, 4) // BatchOps
	equalSeqs(t, "from 5", p.liveOps(5), 5, 6, 7)
	equalSeqs(t, "past the end", p.liveOps(8))
	for _, op := range p.liveOps(5) {
		if op.Epoch != 7 || op.Op.Delete == nil || op.Op.Delete.Points[0] != api.NumID(op.Seq) {
			t.Fatalf("operation %d: epoch %d, %+v", op.Seq, op.Epoch, op.Op)
		}
	}

	a.ack(4)
	b.ack(2)
	equalSeqs(t, "acknowledged by both", p.liveOps(1))
	equalSeqs(t, "from 3", p.liveOps(3), 3, 4, 5, 6)

	// A Dead replica catches up from the op log: live does not wait for it.
	p.mu.Lock()
	b.state = api.ReplicaDead
	p.forget()
	p.mu.Unlock()
	equalSeqs(t, "b dead", p.liveOps(3))
	equalSeqs(t, "b dead, from 5", p.liveOps(5), 5, 6, 7)

	// A late commit below what live already forgot is not kept.
	remember(4)
	equalSeqs(t, "late", p.liveOps(4))

	// The byte bound drops the oldest operations.
	big := &api.UpdateOperation{Upsert: &api.UpsertPoints{Points: []api.PointStruct{{ID: api.NumID(1), Vector: api.Vectors{"": make([]float32, liveMaxBytes/12/3)}}}}}
	p.mu.Lock()
	for seq := uint64(8); seq <= 11; seq++ {
		p.remember(seq, big)
	}
	bytes := p.liveBytes
	p.mu.Unlock()
	if bytes > liveMaxBytes {
		t.Fatalf("live holds %d bytes, bound %d", bytes, liveMaxBytes)
	}
	equalSeqs(t, "bounded", p.liveOps(5))
	equalSeqs(t, "bounded, the newest", p.liveOps(10), 10) // one per batch: each is above maxBatchBytes
	equalSeqs(t, "bounded, the newest", p.liveOps(11), 11)

	// No sender streams: live empties.
	p.mu.Lock()
	a.state = api.ReplicaDead
	p.forget()
	n, nb := len(p.live), p.liveBytes
	p.mu.Unlock()
	if n != 0 || nb != 0 {
		t.Fatalf("no streaming sender: live holds %d operations, %d bytes", n, nb)
	}
}

// TestLiveOpsMatchLog checks that an operation a primary sends from memory
// reaches the wire exactly as the same operation read back from its op log
// would: the primary logs what it was given.
func TestLiveOpsMatchLog(t *testing.T) {
	sh, err := shard.Open(shard.Options{Dir: t.TempDir(), Vectors: api.VectorsConfig{
		"":  {Size: 3, Distance: api.DistanceEuclid},
		"n": {Size: 2, Distance: api.DistanceDot},
	}, Sparse: api.SparseVectorsConfig{"s": {}}, MinFreeDiskBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	p := NewPrimary(Options{Epoch: 3, Shard: sh})
	// A catching-up replica: writes do not wait for it, live keeps them.
	p.senders[2] = &sender{p: p, peer: 2, state: api.ReplicaRecovery}
	var ops []*api.UpdateOperation
	for _, js := range []string{
		`{"upsert":{"points":[{"id":1,"vector":{"":[1,2,3],"n":[0.5,0.25],"s":{"indices":[9,2],"values":[1.5,2]}},"payload":{"a":"x","n":[1,2.5,{"b":null}]}},{"id":"b0e2a7c4-5a1e-4bde-9c1f-1b2c3d4e5f60","vector":{"":[4,5,6]}}]}}`,
		`{"upsert":{"points":[{"id":1,"vector":{"":[7,8,9]}},{"id":1,"vector":{"":[1,1,1]}}]}}`,
		`{"set_payload":{"payload":{"k":[1,2]},"points":[1]}}`,
		`{"update_vectors":{"points":[{"id":1,"vector":{"n":[1,2]}}]}}`,
		`{"delete":{"points":[1]}}`,
	} {
		var op api.UpdateOperation
		if err := json.Unmarshal([]byte(js), &op); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Write(context.Background(), &op, 1); err != nil {
			t.Fatalf("write %s: %v", js, err)
		}
		ops = append(ops, &op)
	}
	live := p.liveOps(1)
	equalSeqs(t, "live", live, 1, 2, 3, 4, 5)
	var logged []Op
	if err := sh.ReadOps(context.Background(), 1, func(seq uint64, op *api.UpdateOperation) error {
		logged = append(logged, Op{Seq: seq, Epoch: sh.EpochOf(seq), Op: op})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	a, err := (&ReplicateRequest{Epoch: 3, Ops: live}).AppendWire(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := (&ReplicateRequest{Epoch: 3, Ops: logged}).AppendWire(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatalf("the operations from memory and from the op log differ on the wire")
	}
}
