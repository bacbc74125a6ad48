package service

import (
	"context"
	"slices"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/auth"
	"github.com/shoal-db/shoal/internal/meta"
	"github.com/shoal-db/shoal/internal/placement"
)

// UpdateCollectionCluster is POST /collections/{c}/cluster (and gRPC
// UpdateCollectionClusterSetup): one of Qdrant's cluster operations on a
// collection's replicas. replicate_shard adds a Partial replica on the
// target peer, which the shard's primary fills (from its op log when it
// holds every operation, else with a checkpoint and the log tail; method
// snapshot always sends a checkpoint, and stream_records and wal_delta
// leave the primary the cheapest way that is correct, a checkpoint when
// its log falls short) and makes Active; move_shard does the same and drops
// the source replica in the command that makes the new one Active;
// abort_transfer drops a replica that is not Active yet; restart_transfer
// starts its filling over; drop_replica removes a replica (never the last
// Active one). A standalone node refuses them all.
func (s *Service) UpdateCollectionCluster(ctx context.Context, name string, op *api.ClusterOperations) error {
	if err := CheckStandaloneChange(ctx, s, name); err != nil {
		return err
	}
	if err := checkClusterOperation(op); err != nil {
		return err
	}
	if s.cluster == nil {
		return api.ErrStandalone
	}
	if err := auth.FromContext(ctx).CheckCollection(name, auth.Manage); err != nil {
		return err
	}
	real, err := s.resolveLinearized(ctx, name)
	if err != nil {
		return err
	}
	st := s.state()
	c := st.Collections[real]
	cmd := &meta.Command{V: meta.ReplicationCommandVersion, Collection: real, Generation: c.Generation}
	shardOf := func(id uint32) (meta.ShardPlacement, error) {
		if int(id) >= len(c.Shards) {
			return meta.ShardPlacement{}, api.ErrBadInput("Shard %d does not exist in collection %s", id, real)
		}
		cmd.ShardID = int(id)
		return c.Shards[id], nil
	}
	switch {
	case op.MoveShard != nil || op.ReplicateShard != nil:
		t := op.ReplicateShard
		if op.MoveShard != nil {
			t = op.MoveShard
			cmd.MoveFrom = t.FromPeerID
		}
		sp, err := shardOf(t.ShardID)
		if err != nil {
			return err
		}
		from, ok := sp.Replica(t.FromPeerID)
		if !ok {
			return api.ErrBadInput("Shard %d of collection %s has no replica on peer %d", t.ShardID, real, t.FromPeerID)
		}
		if from.State != api.ReplicaActive {
			return api.ErrBadInput("the replica of shard %d on peer %d is %s: a transfer starts from an Active replica", t.ShardID, t.FromPeerID, from.State)
		}
		if _, ok := st.Peers[t.ToPeerID]; !ok {
			return api.ErrBadInput("Peer %d does not exist", t.ToPeerID)
		}
		if slices.ContainsFunc(sp.Replicas, func(r meta.Replica) bool { return r.State != api.ReplicaActive && r.State != api.ReplicaDead }) {
			return api.ErrBadRequest("shard %d of collection %s already has a transfer in progress", t.ShardID, real)
		}
		cmd.Type, cmd.PeerID, cmd.State = meta.TypeAddReplica, t.ToPeerID, api.ReplicaPartial
		if t.Method != nil {
			cmd.Method = string(*t.Method)
		}
	case op.AbortTransfer != nil:
		t := op.AbortTransfer
		sp, err := shardOf(t.ShardID)
		if err != nil {
			return err
		}
		to, ok := sp.Replica(t.ToPeerID)
		if !ok || to.State == api.ReplicaActive {
			return api.ErrBadInput("there is no transfer of shard %d from peer %d to peer %d", t.ShardID, t.FromPeerID, t.ToPeerID)
		}
		cmd.Type, cmd.PeerID, cmd.FromState = meta.TypeDropReplica, t.ToPeerID, to.State
	case op.RestartTransfer != nil:
		t := op.RestartTransfer
		sp, err := shardOf(t.ShardID)
		if err != nil {
			return err
		}
		to, ok := sp.Replica(t.ToPeerID)
		if !ok || to.State == api.ReplicaActive {
			return api.ErrBadInput("there is no transfer of shard %d from peer %d to peer %d", t.ShardID, t.FromPeerID, t.ToPeerID)
		}
		cmd.Type, cmd.PeerID, cmd.FromState, cmd.State = meta.TypeSetReplicaState, t.ToPeerID, to.State, api.ReplicaDead
	case op.DropReplica != nil:
		if _, err := shardOf(op.DropReplica.ShardID); err != nil {
			return err
		}
		cmd.Type, cmd.PeerID = meta.TypeDropReplica, op.DropReplica.PeerID
	}
	return s.cluster.Apply(ctx, cmd)
}

// checkClusterOperation checks that op names exactly one operation this
// server offers.
func checkClusterOperation(op *api.ClusterOperations) error {
	n := 0
	for _, set := range []bool{op.MoveShard != nil, op.ReplicateShard != nil, op.AbortTransfer != nil, op.RestartTransfer != nil,
		op.DropReplica != nil, op.CreateShardingKey != nil, op.DropShardingKey != nil, op.StartResharding != nil,
		op.AbortResharding != nil, op.ReplicatePoints != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return api.ErrBadInput("a cluster operation must name exactly one of move_shard, replicate_shard, abort_transfer, restart_transfer, drop_replica")
	}
	switch {
	case op.CreateShardingKey != nil || op.DropShardingKey != nil:
		return ErrNoShardKeys
	case op.StartResharding != nil || op.AbortResharding != nil:
		return api.ErrBadRequest("resharding is not supported by this server")
	case op.ReplicatePoints != nil:
		return api.ErrBadRequest("replicate_points belongs to custom sharding, which this server does not offer")
	}
	for _, t := range []*api.ShardTransfer{op.MoveShard, op.ReplicateShard, op.RestartTransfer} {
		if t == nil {
			continue
		}
		if err := t.Method.Check(); err != nil {
			return err
		}
		if t.FromPeerID == t.ToPeerID {
			return api.ErrBadInput("a shard transfer needs two different peers, got %d twice", t.FromPeerID)
		}
	}
	if op.RestartTransfer != nil && op.RestartTransfer.Method == nil {
		return api.ErrBadInput("restart_transfer needs a method")
	}
	return nil
}

// adjustReplication adds or drops replicas until every shard of a
// collection has its replication_factor (bounded by the peers there are):
// new replicas go where placement would put them and are filled by their
// primary; surplus ones are dropped, those that are not Active first,
// never the primary nor the last Active one.
func (s *Service) adjustReplication(ctx context.Context, name string) error {
	for attempt := 0; ; attempt++ {
		err := s.adjustReplicationOnce(ctx, name)
		if err == nil || attempt >= 3 || api.KindOf(err) != api.KindBadInput {
			return err
		}
		// The allocator (healing toward the new factor) or another request
		// changed the placement since it was read, so a planned command
		// was refused (a replica already there, say): catch up with the
		// metadata and plan again from it.
		if lerr := s.linearize(ctx); lerr != nil {
			return err
		}
	}
}

// adjustReplicationOnce plans adjustReplication's commands from this
// node's metadata and proposes them.
func (s *Service) adjustReplicationOnce(ctx context.Context, name string) error {
	st := s.state()
	c, ok := st.Collections[name]
	if !ok {
		return api.ErrCollectionNotFound(name)
	}
	rf := c.Config.Params.ReplicationFactor
	var peers []placement.Peer
	for _, id := range st.PeerIDs() {
		p := st.Peers[id]
		peers = append(peers, placement.Peer{ID: id, Zone: p.Zone, Region: p.Region, Replicas: st.ReplicaCount(id)})
	}
	for i, sp := range c.Shards {
		cmd := func(typ string, peer uint64) *meta.Command {
			return &meta.Command{V: meta.ReplicationCommandVersion, Type: typ, Collection: name, Generation: c.Generation, ShardID: i, PeerID: peer}
		}
		switch n := len(sp.Replicas); {
		case n < rf:
			for _, p := range placement.Extend(peers, sp.Peers(), rf-n) {
				add := cmd(meta.TypeAddReplica, p)
				add.State = api.ReplicaPartial
				if err := s.cluster.Apply(ctx, add); err != nil {
					return err
				}
			}
		case n > rf:
			drop := slices.Clone(sp.Replicas[1:])
			slices.SortStableFunc(drop, func(a, b meta.Replica) int {
				return cmpBool(a.State == api.ReplicaActive, b.State == api.ReplicaActive)
			})
			for _, r := range drop[:n-rf] {
				if err := s.cluster.Apply(ctx, cmd(meta.TypeDropReplica, r.Peer)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// cmpBool orders false before true.
func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}
