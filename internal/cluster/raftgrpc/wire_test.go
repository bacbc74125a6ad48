package raftgrpc

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func sampleAppend() *raft.AppendEntriesRequest {
	return &raft.AppendEntriesRequest{
		RPCHeader:         raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("1"), Addr: []byte("10.0.0.1:6335")},
		Term:              1 << 40,
		Leader:            []byte{},
		PrevLogEntry:      12345678901,
		PrevLogTerm:       3,
		LeaderCommitIndex: 99,
		Entries: []*raft.Log{
			{Index: 1, Term: 3, Type: raft.LogCommand, Data: []byte("payload"), Extensions: []byte{9}, AppendedAt: time.Date(2026, 12, 6, 23, 59, 59, 1, time.FixedZone("", -(3*3600+30*60)))},
			{Index: 2, Term: 3, Type: raft.LogConfiguration, Data: []byte{}},
			{Index: 3, Term: 3, Type: raft.LogBarrier, AppendedAt: time.Unix(1<<33, 999999999).UTC()},
		},
	}
}

func TestWireAppendEntriesRoundTrip(t *testing.T) {
	for _, req := range []*raft.AppendEntriesRequest{
		sampleAppend(),
		{Term: 1},                         // a heartbeat: nil slices everywhere
		{Term: 1, Entries: []*raft.Log{}}, // empty, not nil
	} {
		b, err := (*wireAppendEntries)(req).MarshalWire()
		if err != nil {
			t.Fatal(err)
		}
		var got wireAppendEntries
		if err := got.UnmarshalWire(b); err != nil {
			t.Fatal(err)
		}
		g := (*raft.AppendEntriesRequest)(&got)
		sameLogs(t, g.Entries, req.Entries)
		if (g.Entries == nil) != (req.Entries == nil) {
			t.Fatalf("nil entries became %#v", g.Entries)
		}
		gc, rc := *g, *req
		gc.Entries, rc.Entries = nil, nil
		if !reflect.DeepEqual(gc, rc) {
			t.Fatalf("got %#v, want %#v", gc, rc)
		}
	}
}

func TestWireRejectsDamagedMessages(t *testing.T) {
	b, err := (*wireAppendEntries)(sampleAppend()).MarshalWire()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(b); i++ {
		var m wireAppendEntries
		if err := m.UnmarshalWire(b[:i]); err == nil {
			t.Fatalf("a message cut to %d of %d bytes decoded", i, len(b))
		}
	}
	var m wireAppendEntries
	if err := m.UnmarshalWire(append(bytes.Clone(b), 0)); err == nil {
		t.Fatal("trailing bytes accepted")
	}
	// Random damage never panics; what decodes re-encodes to the input.
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		d := bytes.Clone(b)
		for j := 0; j < 1+rng.IntN(4); j++ {
			d[rng.IntN(len(d))] = byte(rng.Uint32())
		}
		if rng.IntN(4) == 0 {
			d = d[:rng.IntN(len(d))]
		}
		var m wireAppendEntries
		if err := m.UnmarshalWire(d); err != nil {
			continue
		}
		again, err := m.MarshalWire()
		if err != nil {
			continue // e.g. a decoded time MarshalBinary refuses
		}
		var m2 wireAppendEntries
		if err := m2.UnmarshalWire(again); err != nil {
			t.Fatalf("re-encoding of a decoded message does not decode: %v", err)
		}
	}
	var c snapshotChunk
	for _, bad := range [][]byte{nil, {2}, {0, '{'}} {
		if err := c.UnmarshalWire(bad); err == nil {
			t.Fatalf("snapshot message %v decoded", bad)
		}
	}
}
