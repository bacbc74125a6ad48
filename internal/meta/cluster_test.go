package meta

import (
	"testing"

	"github.com/shoal-db/shoal/internal/api"
)

func peerCmd(typ string, id uint64, addr string) *Command {
	return &Command{V: ClusterCommandVersion, Type: typ, Peer: &Peer{ID: id, Addr: addr}}
}

// threePeers returns the state of cluster c1 with peers 1, 2 and 3 at
// a:1, b:1 and c:1.
func threePeers(t *testing.T) *State {
	t.Helper()
	s := NewState()
	mustApply(t, s,
		&Command{V: ClusterCommandVersion, Type: TypeInitCluster, ClusterID: "c1"},
		peerCmd(TypeAddPeer, 1, "a:1"), peerCmd(TypeAddPeer, 2, "b:1"), peerCmd(TypeAddPeer, 3, "c:1"))
	return s
}

func TestClusterCommands(t *testing.T) {
	s := NewState()
	wantErr(t, s, &Command{V: 2, Type: TypeAddPeer, Peer: &Peer{ID: 1, Addr: "a:1"}}, api.KindBadInput, "version 3")
	mustApply(t, s,
		&Command{V: ClusterCommandVersion, Type: TypeInitCluster, ClusterID: "c1"},
		peerCmd(TypeAddPeer, 1, "a:1"), peerCmd(TypeAddPeer, 2, "b:1"), peerCmd(TypeAddPeer, 3, "c:1"))
	wantErr(t, s, &Command{V: ClusterCommandVersion, Type: TypeInitCluster, ClusterID: "c2"}, api.KindBadInput, "this cluster is c1")
	wantErr(t, s, peerCmd(TypeAddPeer, 4, "a:1"), api.KindBadInput, "already used by peer 1")
	wantErr(t, s, peerCmd(TypeAddPeer, 0, "z:1"), api.KindBadInput, "peer id")
	wantErr(t, s, peerCmd(TypeUpdatePeer, 9, "z:1"), api.KindNotFound, "does not exist")
	// A peer that moves keeps its id.
	mustApply(t, s, peerCmd(TypeUpdatePeer, 3, "c:2"))
	if s.Peers[3].Addr != "c:2" {
		t.Fatalf("peer 3 at %s", s.Peers[3].Addr)
	}

	cfg := testConfig(4)
	cfg.Params.ShardNumber = 3
	create := func(place [][]uint64) *Command {
		return &Command{V: ClusterCommandVersion, Type: TypeCreateCollection, Collection: "x", Config: cfg, Generation: 7, Placement: place}
	}
	wantErr(t, s, &Command{V: 2, Type: TypeCreateCollection, Collection: "x", Config: cfg, Placement: [][]uint64{{1}, {2}, {3}}}, api.KindBadInput, "version 3")
	wantErr(t, s, create([][]uint64{{1}, {2}}), api.KindBadInput, "names 2 shards")
	wantErr(t, s, create([][]uint64{{1}, {2}, {9}}), api.KindBadInput, "unknown peer 9")
	wantErr(t, s, create([][]uint64{{1, 1}, {2}, {3}}), api.KindBadInput, "twice")
	wantErr(t, s, create([][]uint64{{1}, {}, {3}}), api.KindBadInput, "names no peer")
	mustApply(t, s, create([][]uint64{{1, 2}, {2, 3}, {3, 1}}))
	c := s.Collections["x"]
	if c.Generation != 7 || len(c.Shards) != 3 || c.Shards[1].Replicas[0].Peer != 2 || c.Shards[1].Replicas[0].State != api.ReplicaActive {
		t.Fatalf("placement %+v generation %d", c.Shards, c.Generation)
	}
	if n := s.ReplicaCount(3); n != 2 {
		t.Fatalf("peer 3 holds %d replicas, want 2", n)
	}
	// Placement survives other changes to the collection.
	mustApply(t, s, &Command{V: 1, Type: TypeCreatePayloadIndex, Collection: "x", Field: "f", Schema: &api.PayloadFieldSchema{Type: api.SchemaKeyword}})
	if len(s.Collections["x"].Shards) != 3 {
		t.Fatal("payload index dropped the placement")
	}
	wantErr(t, s, &Command{V: ClusterCommandVersion, Type: TypeRemovePeer, PeerID: 3}, api.KindBadInput, "shards on it")
	before := s.Collections["x"]
	mustApply(t, s, &Command{V: ClusterCommandVersion, Type: TypeRemovePeer, PeerID: 3, Force: true})
	if _, ok := s.Peers[3]; ok || s.ReplicaCount(3) != 0 {
		t.Fatal("peer 3 still present")
	}
	if got := s.Collections["x"].Shards[2].Peers(); len(got) != 1 || got[0] != 1 {
		t.Fatalf("shard 2 on %v", got)
	}
	if len(before.Shards[2].Replicas) != 2 {
		t.Fatal("remove_peer mutated a published collection")
	}
	mustApply(t, s, &Command{V: ClusterCommandVersion, Type: TypeRemovePeer, PeerID: 2, Force: true})
	wantErr(t, s, &Command{V: ClusterCommandVersion, Type: TypeRemovePeer, PeerID: 2}, api.KindNotFound, "does not exist")
	wantErr(t, s, peerCmd(TypeAddPeer, 2, "b:9"), api.KindBadInput, "was removed")
}

// TestReadmitPeer takes a replaced peer back, holding no replica; only a
// peer removed as replaced (not by an operator), at a free address, in a
// command of version 6.
func TestReadmitPeer(t *testing.T) {
	s := threePeers(t)
	cfg := testConfig(4)
	cfg.Params.ShardNumber = 2
	mustApply(t, s, &Command{V: ClusterCommandVersion, Type: TypeCreateCollection, Collection: "x", Config: cfg, Generation: 7,
		Placement: [][]uint64{{1, 3}, {3, 2}}})
	readmit := func(id uint64, addr string) *Command {
		return &Command{V: ReadmitCommandVersion, Type: TypeReadmitPeer, Peer: &Peer{ID: id, Addr: addr, Zone: "z2"}}
	}
	wantErr(t, s, readmit(3, "c:1"), api.KindBadInput, "is a member")
	wantErr(t, s, readmit(9, "z:1"), api.KindBadInput, "never removed")
	wantErr(t, s, &Command{V: HealCommandVersion, Type: TypeRemovePeer, PeerID: 3, Force: true, Replaced: true}, api.KindBadInput, "version 6")
	mustApply(t, s, &Command{V: ReadmitCommandVersion, Type: TypeRemovePeer, PeerID: 3, Force: true, Replaced: true})
	wantErr(t, s, peerCmd(TypeAddPeer, 3, "c:1"), api.KindBadInput, "readmit_peer")
	wantErr(t, s, &Command{V: HealCommandVersion, Type: TypeReadmitPeer, Peer: &Peer{ID: 3, Addr: "c:1"}}, api.KindBadInput, "version 6")
	wantErr(t, s, readmit(3, "b:1"), api.KindBadInput, "already used by peer 2")
	mustApply(t, s, readmit(3, "c:7"))
	if p := s.Peers[3]; p == nil || p.Addr != "c:7" || p.Zone != "z2" || s.Removed[3] || s.Replaced[3] {
		t.Fatalf("peer 3 after readmit: %+v, removed %v", p, s.Removed[3])
	}
	if n := s.ReplicaCount(3); n != 0 {
		t.Fatalf("readmitted peer 3 holds %d replicas", n)
	}
	if got := s.Collections["x"].Shards[0].Peers(); len(got) != 1 || got[0] != 1 {
		t.Fatalf("shard 0 on %v after readmit", got)
	}
	wantErr(t, s, readmit(3, "c:8"), api.KindBadInput, "is a member")
	// Replaced again, it can come back again; removed by an operator, it
	// cannot.
	mustApply(t, s, &Command{V: ReadmitCommandVersion, Type: TypeRemovePeer, PeerID: 3, Replaced: true})
	if c := s.Clone(); !c.Replaced[3] || !c.Removed[3] {
		t.Fatal("Clone lost the replaced set")
	}
	mustApply(t, s, readmit(3, "c:1"))
	mustApply(t, s, &Command{V: ClusterCommandVersion, Type: TypeRemovePeer, PeerID: 3})
	wantErr(t, s, readmit(3, "c:1"), api.KindBadInput, "by an operator")
}
