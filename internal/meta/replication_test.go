package meta

import (
	"testing"

	"github.com/shoal-db/shoal/internal/api"
)

// TestReplicationCommands walks one shard through its replica states:
// Dead marking with preconditions, primary handover with epochs, adding
// and dropping replicas, and the refusals that keep a readable replica.
func TestReplicationCommands(t *testing.T) {
	s := NewState()
	mustApply(t, s,
		&Command{V: ClusterCommandVersion, Type: TypeInitCluster, ClusterID: "c1"},
		peerCmd(TypeAddPeer, 1, "a:1"), peerCmd(TypeAddPeer, 2, "b:1"), peerCmd(TypeAddPeer, 3, "c:1"), peerCmd(TypeAddPeer, 4, "d:1"))
	cfg := testConfig(4)
	cfg.Params.ShardNumber = 1
	mustApply(t, s, &Command{V: ClusterCommandVersion, Type: TypeCreateCollection, Collection: "x", Config: cfg, Generation: 7, Placement: [][]uint64{{1, 2, 3}}})
	cmd := func(typ string, peer uint64, mod func(*Command)) *Command {
		c := &Command{V: ReplicationCommandVersion, Type: typ, Collection: "x", Generation: 7, ShardID: 0, PeerID: peer}
		if mod != nil {
			mod(c)
		}
		return c
	}
	shard := func() ShardPlacement { return s.Collections["x"].Shards[0] }
	if sp := shard(); sp.Epoch != 1 || sp.Primary() != 1 {
		t.Fatalf("new shard: %+v", sp)
	}
	wantErr(t, s, &Command{V: ClusterCommandVersion, Type: TypeSetReplicaState, Collection: "x", Generation: 7}, api.KindBadInput, "version 4")
	wantErr(t, s, cmd(TypeSetReplicaState, 2, func(c *Command) { c.State = api.ReplicaDead; c.Generation = 8 }), api.KindBadInput, "recreated")
	wantErr(t, s, cmd(TypeSetReplicaState, 2, func(c *Command) { c.State = api.ReplicaDead; c.ShardID = 1 }), api.KindBadInput, "Shard 1 does not exist")
	wantErr(t, s, cmd(TypeSetReplicaState, 4, func(c *Command) { c.State = api.ReplicaDead }), api.KindBadInput, "no replica on peer 4")
	wantErr(t, s, cmd(TypeSetReplicaState, 2, func(c *Command) { c.State = "Zombie" }), api.KindBadInput, "unknown replica state")
	wantErr(t, s, cmd(TypeSetReplicaState, 1, func(c *Command) { c.State = api.ReplicaDead }), api.KindBadInput, "is the primary")
	// A stale epoch or state precondition fails.
	wantErr(t, s, cmd(TypeSetReplicaState, 2, func(c *Command) { c.State = api.ReplicaDead; c.Epoch = 2 }), api.KindBadInput, "epoch 1")
	wantErr(t, s, cmd(TypeSetReplicaState, 2, func(c *Command) { c.State = api.ReplicaDead; c.FromState = api.ReplicaRecovery }), api.KindBadInput, "not Recovery")
	mustApply(t, s, cmd(TypeSetReplicaState, 2, func(c *Command) {
		c.State, c.FromState, c.Epoch = api.ReplicaDead, api.ReplicaActive, 1
	}))
	wantErr(t, s, cmd(TypeSetReplicaState, 2, func(c *Command) { c.State = api.ReplicaActive }), api.KindBadInput, "only after a transfer")
	wantErr(t, s, cmd(TypeSetPrimary, 2, func(c *Command) { c.Epoch = 1 }), api.KindBadInput, "only an Active replica")
	mustApply(t, s, cmd(TypeSetReplicaState, 2, func(c *Command) { c.State, c.FromState = api.ReplicaRecovery, api.ReplicaDead }))
	mustApply(t, s, cmd(TypeSetReplicaState, 2, func(c *Command) { c.State, c.FromState = api.ReplicaActive, api.ReplicaRecovery }))
	// Handing the primary over: a new epoch, the deposed primary Dead.
	mustApply(t, s, cmd(TypeSetPrimary, 3, func(c *Command) { c.Epoch = 1 }))
	if sp := shard(); sp.Epoch != 2 || sp.Primary() != 3 || sp.Replicas[1] != (Replica{Peer: 1, State: api.ReplicaDead}) || sp.Replicas[2] != (Replica{Peer: 2, State: api.ReplicaActive}) {
		t.Fatalf("after set_primary: %+v", sp)
	}
	wantErr(t, s, cmd(TypeSetPrimary, 2, func(c *Command) { c.Epoch = 1 }), api.KindBadInput, "epoch 2")
	// Adding and dropping replicas.
	wantErr(t, s, cmd(TypeAddReplica, 2, nil), api.KindBadInput, "already has a replica")
	wantErr(t, s, cmd(TypeAddReplica, 9, nil), api.KindBadInput, "Peer 9 does not exist")
	wantErr(t, s, cmd(TypeAddReplica, 4, func(c *Command) { c.State = api.ReplicaActive }), api.KindBadInput, "cannot start as")
	mustApply(t, s, cmd(TypeAddReplica, 4, nil))
	if r, _ := shard().Replica(4); r.State != api.ReplicaPartial {
		t.Fatalf("added replica: %+v", r)
	}
	mustApply(t, s, cmd(TypeDropReplica, 1, nil), cmd(TypeDropReplica, 4, nil))
	// Dropping the primary hands it to the other Active replica.
	mustApply(t, s, cmd(TypeDropReplica, 3, nil))
	if sp := shard(); sp.Epoch != 3 || sp.Primary() != 2 || len(sp.Replicas) != 1 {
		t.Fatalf("after dropping the primary: %+v", sp)
	}
	wantErr(t, s, cmd(TypeDropReplica, 2, nil), api.KindBadInput, "last active replica")
	// Force-removing the primary's peer promotes an Active replica too.
	mustApply(t, s, cmd(TypeAddReplica, 1, nil), cmd(TypeSetReplicaState, 1, func(c *Command) { c.State = api.ReplicaActive }))
	mustApply(t, s, &Command{V: ClusterCommandVersion, Type: TypeRemovePeer, PeerID: 2, Force: true})
	if sp := shard(); sp.Epoch != 4 || sp.Primary() != 1 || len(sp.Replicas) != 1 {
		t.Fatalf("after removing the primary's peer: %+v", sp)
	}
}
