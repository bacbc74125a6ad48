package service

import (
	"cmp"
	"context"
	"sync"
	"time"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/meta"
	"github.com/shoal-db/shoal/internal/placement"
)

// HealOptions configure the cluster's self-healing (Options.Heal).
type HealOptions struct {
	// Disabled turns the allocator off (cluster.auto_heal: false): dead
	// peers' replicas are not re-created and drains do not progress.
	// Failover of primaries stays on.
	Disabled bool
	// DeadAfter is how long a peer may be unreachable before it is dead:
	// its replicas are re-created on other peers (0: DefaultDeadAfter).
	DeadAfter time.Duration
	// MaxTransfersPerNode bounds the transfers the allocator lets a peer
	// take part in at once (0: 1).
	MaxTransfersPerNode int
	// MaxIncoming and MaxOutgoing also bound the transfers a peer
	// receives and sends (placement.AllocOptions; nil: no bound).
	MaxIncoming, MaxOutgoing *int
	// Rebalance evens out the replicas per peer when nothing needs
	// healing.
	Rebalance bool
}

// DefaultDeadAfter is cluster.dead_node_timeout's default.
const DefaultDeadAfter = 5 * time.Minute

// livenessTick is how often every node pings every peer, and the leader
// checks the primaries; allocTick is how often the leader allocates.
const (
	livenessTick = 500 * time.Millisecond
	allocTick    = time.Second
)

// liveness is what this node knows of its peers' reachability: every
// node pings every peer every livenessTick (a ping is one small unary
// call), so that a newly elected leader starts with a view.
type liveness struct {
	mu sync.Mutex
	// downSince is when a peer stopped answering; absent when it answers.
	downSince map[uint64]time.Time
	// seen is when a peer last answered.
	seen map[uint64]time.Time
}

// PeerLiveness is one peer's liveness as this node sees it (GET /cluster).
type PeerLiveness struct {
	// State is alive, down or dead.
	State string
	// DownFor is how long the peer has not answered (0 when alive).
	DownFor time.Duration
}

// PeerLiveness returns this node's view of a peer (itself: alive).
func (s *Service) PeerLiveness(peer uint64) PeerLiveness {
	l := s.liveOf(peer, time.Now())
	out := PeerLiveness{State: l.String()}
	s.live.mu.Lock()
	if since, ok := s.live.downSince[peer]; ok {
		out.DownFor = time.Since(since)
	}
	s.live.mu.Unlock()
	return out
}

func (s *Service) deadAfter() time.Duration {
	return cmp.Or(s.opts.Heal.DeadAfter, DefaultDeadAfter)
}

// liveOf classifies a peer: Dead once it has not answered for DeadAfter,
// Down while it does not answer, else Alive.
func (s *Service) liveOf(peer uint64, now time.Time) placement.Liveness {
	if s.cluster == nil || peer == s.cluster.ID() {
		return placement.Alive
	}
	s.live.mu.Lock()
	defer s.live.mu.Unlock()
	since, down := s.live.downSince[peer]
	switch {
	case !down:
		return placement.Alive
	case now.Sub(since) >= s.deadAfter():
		return placement.Dead
	}
	return placement.Down
}

// livenessLoop runs on every node: it pings every peer every
// livenessTick, and on the Raft leader hands shards whose primary has not
// answered for FailoverAfter to another Active replica (failover.go) and
// runs the allocator every allocTick (allocate).
func (s *Service) livenessLoop(stop <-chan struct{}) {
	after := cmp.Or(s.opts.FailoverAfter, DefaultFailoverAfter)
	t := time.NewTicker(livenessTick)
	defer t.Stop()
	var lastAlloc time.Time
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if s.opts.PeerDial == nil {
			continue
		}
		st := s.state()
		now := time.Now()
		s.pingAll(st, now)
		leader, ok := s.cluster.(interface{ IsLeader() bool })
		if !ok || !leader.IsLeader() {
			continue
		}
		for _, name := range st.CollectionNames() {
			c := st.Collections[name]
			for i, sp := range c.Shards {
				p := sp.Primary()
				if p == 0 || p == s.cluster.ID() {
					continue
				}
				s.live.mu.Lock()
				since, down := s.live.downSince[p]
				s.live.mu.Unlock()
				if down && now.Sub(since) >= after {
					s.failover(name, c, i, sp)
				}
			}
		}
		if !s.opts.Heal.Disabled && now.Sub(lastAlloc) >= allocTick {
			lastAlloc = now
			s.allocate(stop)
		}
		select {
		case <-stop:
			return
		default:
		}
	}
}

// pingAll pings every other peer in parallel and records who answered.
func (s *Service) pingAll(st *meta.State, now time.Time) {
	ids := st.PeerIDs()
	answered := make([]bool, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		if id == s.cluster.ID() {
			answered[i] = true
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			answered[i] = s.ping(id)
		}()
	}
	wg.Wait()
	s.live.mu.Lock()
	defer s.live.mu.Unlock()
	if s.live.downSince == nil {
		s.live.downSince, s.live.seen = map[uint64]time.Time{}, map[uint64]time.Time{}
	}
	member := map[uint64]bool{}
	for i, id := range ids {
		member[id] = true
		if answered[i] {
			delete(s.live.downSince, id)
			s.live.seen[id] = now
		} else if _, ok := s.live.downSince[id]; !ok {
			s.live.downSince[id] = now
		}
	}
	for id := range s.live.downSince {
		if !member[id] {
			delete(s.live.downSince, id)
			delete(s.live.seen, id)
		}
	}
}

// allocate runs the allocator on the current metadata and proposes its
// actions (each preconditioned, so a stale one fails harmlessly).
func (s *Service) allocate(stop <-chan struct{}) {
	st := s.state()
	now := time.Now()
	live := map[uint64]placement.Liveness{}
	for _, id := range st.PeerIDs() {
		live[id] = s.liveOf(id, now)
	}
	acts := placement.Allocate(st, live, placement.AllocOptions{
		MaxTransfersPerNode: s.opts.Heal.MaxTransfersPerNode, MaxIncoming: s.opts.Heal.MaxIncoming,
		MaxOutgoing: s.opts.Heal.MaxOutgoing, Rebalance: s.opts.Heal.Rebalance})
	for _, a := range acts {
		select {
		case <-stop:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var err error
		switch {
		case a.RemovePeer != 0 && live[a.RemovePeer] == placement.Dead && !st.Draining[a.RemovePeer]:
			err = s.cluster.RemoveReplacedPeer(ctx, a.RemovePeer)
		case a.RemovePeer != 0:
			err = s.cluster.RemovePeer(ctx, a.RemovePeer, false)
		default:
			err = s.cluster.Apply(ctx, a.Cmd)
		}
		cancel()
		if err != nil {
			s.log.Warn("allocator: action failed", "why", a.Why, "err", err)
			continue
		}
		s.log.Info("allocator: "+actionName(a), "why", a.Why)
		s.heals.Add(1)
		if a.RemovePeer != 0 && live[a.RemovePeer] == placement.Dead {
			s.deadReplaced.Add(1)
		}
	}
}

func actionName(a placement.Action) string {
	if a.RemovePeer != 0 {
		return "peer removed"
	}
	switch a.Cmd.Type {
	case meta.TypeAddReplica:
		if a.Cmd.MoveFrom != 0 {
			return "replica moving"
		}
		return "replica added"
	case meta.TypeDropReplica:
		return "replica dropped"
	case meta.TypeSetPrimary:
		return "primary handed over"
	}
	return a.Cmd.Type
}

// DeadPeersReplaced counts the dead peers this node, leading, removed
// after their replicas were re-created elsewhere.
func (s *Service) DeadPeersReplaced() int64 { return s.deadReplaced.Load() }

// HealActions counts the allocator's actions applied on this node while
// it led (shoal_cluster_heal_actions_total).
func (s *Service) HealActions() int64 { return s.heals.Load() }

// drain marks a peer as draining (DELETE /cluster/peer/{id} without
// force, when it holds replicas) and waits until the allocator has moved
// its replicas away and removed it, or ctx ends. It refuses a drain that
// would leave fewer live peers than some collection's replication factor.
func (s *Service) drain(ctx context.Context, id uint64) error {
	st := s.state()
	if _, ok := st.Peers[id]; !ok {
		return api.ErrNotFound("Peer %d does not exist", id)
	}
	if s.opts.Heal.Disabled {
		return api.ErrBadInput("Cannot remove peer %d as there are shards on it (cluster.auto_heal is off, so it cannot be drained; move its replicas or use force)", id)
	}
	others := 0
	now := time.Now()
	for _, p := range st.PeerIDs() {
		if p != id && !st.Draining[p] && s.liveOf(p, now) == placement.Alive {
			others++
		}
	}
	for _, name := range st.CollectionNames() {
		if rf := st.Collections[name].Config.Params.ReplicationFactor; rf > others {
			return api.ErrBadInput("Cannot drain peer %d: collection %s has replication_factor %d and only %d other live peers would remain (lower the factor, add peers, or use force)",
				id, name, rf, others)
		}
	}
	if !st.Draining[id] {
		if err := s.cluster.Apply(ctx, &meta.Command{V: meta.HealCommandVersion, Type: meta.TypeDrainPeer, PeerID: id, Drain: true}); err != nil {
			return err
		}
	}
	for {
		st := s.state()
		if _, ok := st.Peers[id]; !ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return api.ErrTimeout("peer %d is draining: %d replicas left to move; the drain goes on and removes the peer when it holds none", id, st.ReplicaCount(id))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// CaughtUp reports whether every replica the metadata places on this node
// is Active, or cannot catch up (no other Active replica on a peer that
// answers): a restarted node is ready (/readyz) only from then on, so a
// rolling restart waits for each node's replicas to catch up before it
// moves on. It first catches up with the metadata (a read index); without
// a leader it answers false. The server latches the first true answer.
func (s *Service) CaughtUp() bool {
	if s.cluster == nil {
		return true
	}
	// The metadata must be current first: a node back from a restart may
	// not yet have applied the commands that marked its replicas Dead
	// while it was away, and would take them for Active.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.linearize(ctx); err != nil {
		return false
	}
	st := s.state()
	self := s.cluster.ID()
	now := time.Now()
	for _, name := range st.CollectionNames() {
		for _, sp := range st.Collections[name].Shards {
			r, ok := sp.Replica(self)
			if !ok || r.State == api.ReplicaActive {
				continue
			}
			for _, o := range sp.Replicas {
				if o.Peer != self && o.State == api.ReplicaActive && s.liveOf(o.Peer, now) == placement.Alive {
					return false
				}
			}
		}
	}
	return true
}
