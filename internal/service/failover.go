package service

import (
	"context"
	"time"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/meta"
	"github.com/shoal-db/shoal/internal/replica"
)

// DefaultFailoverAfter is how long a shard's primary may be unreachable
// before the leader hands the shard to another Active replica, at most
// (the server passes min(cluster.node_down_after, this)).
const DefaultFailoverAfter = 5 * time.Second

// failoverTick is how often the leader checks the primaries.
const failoverTick = 500 * time.Millisecond

// primaryOfSome reports whether peer is the primary of some shard.
func (s *Service) primaryOfSome(st *meta.State, peer uint64) bool {
	for _, c := range st.Collections {
		for _, sp := range c.Shards {
			if sp.Primary() == peer {
				return true
			}
		}
	}
	return false
}

func (s *Service) ping(peer uint64) bool {
	dial := s.opts.ControlDial
	if dial == nil {
		dial = s.opts.PeerDial
	}
	cc, err := dial(peer)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return replica.Ping(ctx, cc) == nil
}

// failover hands shard i to the best Active replica that answers.
func (s *Service) failover(name string, c *meta.Collection, i int, sp meta.ShardPlacement) {
	t := replica.Target{Collection: name, Generation: c.Generation, Shard: i}
	var best uint64
	var bestEpoch, bestSeq uint64
	for _, r := range sp.Replicas[1:] {
		// replicaPosition asks the replica itself, so it also tells
		// whether it answers: the loop pings only the nodes holding
		// primaries, and a backup's node may hold none (requiring a ping
		// left such shards without a failover).
		if r.State != api.ReplicaActive {
			continue
		}
		e, n, ok := s.replicaPosition(t, r.Peer)
		if !ok {
			continue
		}
		if best == 0 || e > bestEpoch || (e == bestEpoch && n > bestSeq) {
			best, bestEpoch, bestSeq = r.Peer, e, n
		}
	}
	if best == 0 {
		s.log.Warn("shard primary is unreachable and no other Active replica answers", "collection", name, "shard", i, "primary", sp.Primary())
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.cluster.Apply(ctx, &meta.Command{V: meta.ReplicationCommandVersion, Type: meta.TypeSetPrimary,
		Collection: name, Generation: c.Generation, ShardID: i, PeerID: best, Epoch: sp.Epoch})
	if err != nil {
		s.log.Warn("cannot hand a shard to a new primary", "collection", name, "shard", i, "to", best, "err", err)
		return
	}
	s.log.Info("shard handed to a new primary", "collection", name, "shard", i, "from", sp.Primary(), "to", best,
		"epoch", sp.Epoch+1, "seq", bestSeq)
}

// replicaPosition asks a replica where its log ends.
func (s *Service) replicaPosition(t replica.Target, peer uint64) (epoch, seq uint64, ok bool) {
	if peer == s.cluster.ID() {
		r, err := s.replicaSetOf(t.Collection, t.Generation, t.Shard)
		if err != nil || r.local == nil {
			return 0, 0, false
		}
		e, n := r.local.Position()
		return e, n, true
	}
	cc, err := s.opts.PeerDial(peer)
	if err != nil {
		return 0, 0, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	st, err := replica.Status(ctx, cc, t)
	if err != nil {
		return 0, 0, false
	}
	return st.Epoch, st.Seq, true
}
