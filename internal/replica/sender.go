package replica

import (
	"context"
	"errors"
	"time"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/shard"
)

// maxBatchBytes bounds the estimated size of one replication call, well
// below p2p.MaxMessageSize.
const maxBatchBytes = 8 << 20

// retryDelay is the pause after a failed call before the sender tries
// again (with a new handshake).
const retryDelay = 100 * time.Millisecond

// sender streams the primary's op log to one backup replica. Its loop:
// while the replica is Dead, probe it and, once it answers, propose
// Recovery; otherwise handshake (where does its log end, is it a prefix of
// ours?), then send every operation after that, live writes included, in
// order. A replica that fails for AckTimeout (or at once, when it cannot
// apply an operation) is marked Dead through the metadata before any write
// that waits for it is acknowledged. A Recovery or Partial replica that
// has acknowledged everything becomes in-sync (writes wait for it from
// then on) and is proposed Active.
type sender struct {
	p    *Primary
	peer uint64
	wake chan struct{}
	quit chan struct{}

	// Guarded by p.mu.
	state api.ReplicaState
	// method is the transfer method the operator asked for the replica
	// (replicate_shard, move_shard): "snapshot" always sends a
	// checkpoint; otherwise the cheapest correct way is taken.
	method string
	// checkpointed is set once a checkpoint transfer to the replica
	// succeeded (the "snapshot" method is then satisfied).
	checkpointed bool
	acked        uint64
	insync       bool
	failErr      error
	removed      bool
	failingSince time.Time
	activating   bool
}

// poke wakes the sender.
func (s *sender) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *sender) done() bool {
	select {
	case <-s.quit:
		return true
	case <-s.p.stop:
		return true
	default:
		return false
	}
}

// sleep waits for d or a poke; it reports false when the sender must stop.
func (s *sender) sleep(d time.Duration) (woken, ok bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return false, true
	case <-s.wake:
		return true, true
	case <-s.quit:
		return false, false
	case <-s.p.stop:
		return false, false
	}
}

func (s *sender) getState() api.ReplicaState {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	return s.state
}

func (s *sender) ctx(d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	go func() {
		select {
		case <-ctx.Done():
		case <-s.quit:
			cancel()
		case <-s.p.stop:
			cancel()
		}
	}()
	return ctx, cancel
}

func (s *sender) run() {
	defer func() {
		s.p.mu.Lock()
		s.removed = true
		s.p.broadcast()
		s.p.mu.Unlock()
	}()
	for !s.done() {
		if st := s.getState(); st == api.ReplicaDead {
			s.recover()
		} else {
			s.stream(st)
		}
	}
}

// recover probes a Dead replica and proposes Recovery once it answers.
func (s *sender) recover() {
	p := s.p
	ctx, cancel := s.ctx(p.opts.AckTimeout)
	defer cancel()
	cc, err := p.opts.Env.Dial(s.peer)
	if err == nil {
		_, err = Status(ctx, cc, p.opts.Target)
	}
	if err == nil && s.getState() == api.ReplicaDead {
		if err = p.opts.Env.SetState(ctx, s.peer, api.ReplicaDead, api.ReplicaRecovery, p.opts.Epoch); err == nil {
			p.log.Info("replica is back: catching up", "peer", s.peer)
			return
		}
		p.log.Warn("cannot start the recovery of a replica", "peer", s.peer, "err", err)
	}
	s.sleep(time.Second)
}

// stream handshakes with a replica in state st and sends it the log until
// the state changes, a call fails or the sender stops.
func (s *sender) stream(st api.ReplicaState) {
	p := s.p
	cc, err := p.opts.Env.Dial(s.peer)
	if err != nil {
		s.failed(st, err)
		s.sleep(retryDelay)
		return
	}
	ctx, cancel := s.ctx(p.opts.AckTimeout)
	hs, err := Status(ctx, cc, p.opts.Target)
	cancel()
	if err != nil {
		s.failed(st, err)
		s.sleep(retryDelay)
		return
	}
	next, ok := p.resume(hs.Epoch, hs.Seq)
	p.mu.Lock()
	snapshot := s.method == "snapshot" && st == api.ReplicaPartial && !s.checkpointed
	p.mu.Unlock()
	if !ok || snapshot {
		s.diverged(st, hs)
		return
	}
	s.ack(hs.Seq)
	s.checkInSync(st)
	for !s.done() && s.getState() == st {
		if next > p.sh.LastSeq() {
			woken, ok := s.sleep(time.Second)
			if !ok || woken {
				continue
			}
			// Idle: make sure the replica is still there.
			ctx, cancel := s.ctx(p.opts.AckTimeout)
			_, err := Status(ctx, cc, p.opts.Target)
			cancel()
			if err != nil {
				s.failed(st, err)
				return
			}
			s.ack(next - 1)
			continue
		}
		ops, err := s.read(next)
		if errors.Is(err, shard.ErrTruncated) {
			s.diverged(st, hs)
			return
		}
		if err != nil {
			p.log.Warn("cannot read the op log for a replica", "peer", s.peer, "from", next, "err", err)
			s.sleep(retryDelay)
			return
		}
		ctx, cancel := s.ctx(p.opts.AckTimeout)
		resp, err := replicate(ctx, cc, &ReplicateRequest{Target: p.opts.Target, Epoch: p.opts.Epoch, Ops: ops})
		cancel()
		if err != nil {
			s.failed(st, err)
			s.sleep(retryDelay)
			return
		}
		if resp.Stale {
			p.log.Warn("a replica knows a newer primary: stepping down", "peer", s.peer)
			p.mu.Lock()
			p.deposed = true
			p.broadcast()
			p.mu.Unlock()
			return
		}
		s.ack(resp.Last)
		next = resp.Last + 1
		if !resp.Gap {
			s.checkInSync(st)
		}
	}
}

// read returns the operations from next on, up to a batch: from the
// primary's memory when it holds next (live writes), else from the op log.
func (s *sender) read(next uint64) ([]Op, error) {
	p := s.p
	if ops := p.liveOps(next); len(ops) > 0 {
		return ops, nil
	}
	var ops []Op
	size := 0
	errFull := errors.New("batch full")
	err := p.sh.ReadOps(context.Background(), next, func(seq uint64, op *api.UpdateOperation) error {
		ops = append(ops, Op{Seq: seq, Epoch: p.sh.EpochOf(seq), Op: op})
		size += opSize(op)
		if len(ops) >= p.opts.BatchOps || size >= maxBatchBytes {
			return errFull
		}
		return nil
	})
	if errors.Is(err, errFull) {
		err = nil
	}
	return ops, err
}

// opSize estimates an operation's encoded size (its vectors dominate).
func opSize(op *api.UpdateOperation) int {
	n := 256
	count := func(v api.Vectors) {
		for _, x := range v {
			n += 12 * len(x)
		}
	}
	if op.Upsert != nil {
		for _, pt := range op.Upsert.Points {
			count(pt.Vector)
			n += 128
		}
	}
	if op.UpdateVectors != nil {
		for _, pt := range op.UpdateVectors.Points {
			count(pt.Vector)
		}
	}
	return n
}

// ack records the replica's last operation.
func (s *sender) ack(last uint64) {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	s.acked = last
	s.failingSince = time.Time{}
	s.failErr = nil
	s.p.forget()
	s.p.broadcast()
}

// checkInSync makes a catching-up replica in-sync once it holds every
// operation, and proposes it Active. The check runs under mu, as does a
// write's choice of the replicas it waits for: a write either waits for
// this replica or was applied before the check, and then the replica holds
// it.
func (s *sender) checkInSync(st api.ReplicaState) {
	switch st {
	case api.ReplicaRecovery, api.ReplicaPartial, api.ReplicaInitializing:
	default:
		return
	}
	p := s.p
	p.mu.Lock()
	if !s.insync && s.acked >= p.sh.LastSeq() {
		s.insync = true
	}
	propose := s.insync && !s.activating && s.state == st
	if propose {
		s.activating = true
	}
	p.mu.Unlock()
	if !propose {
		return
	}
	go func() {
		ctx, cancel := s.ctx(30 * time.Second)
		defer cancel()
		err := p.opts.Env.SetState(ctx, s.peer, st, api.ReplicaActive, p.opts.Epoch)
		p.mu.Lock()
		s.activating = false
		p.mu.Unlock()
		if err != nil {
			p.log.Warn("cannot make a caught-up replica Active", "peer", s.peer, "err", err)
			s.poke()
			return
		}
		p.log.Info("replica caught up: Active", "peer", s.peer)
	}()
}

// nonTransient reports errors that retrying cannot cure: the replica
// cannot apply what the primary applied.
func nonTransient(err error) bool {
	switch api.KindOf(err) {
	case api.KindBadInput, api.KindBadRequest, api.KindInsufficientStorage, api.KindChecksumMismatch:
		return true
	}
	return false
}

// failed handles a failed call to a replica in state st: after
// AckTimeout of failures (at once for a non-transient one) the replica is
// marked Dead. When that proposal fails too, the writes waiting for the
// replica fail.
func (s *sender) failed(st api.ReplicaState, err error) {
	p := s.p
	p.mu.Lock()
	now := time.Now()
	if s.failingSince.IsZero() {
		s.failingSince = now
	}
	due := nonTransient(err) || now.Sub(s.failingSince) >= p.opts.AckTimeout
	p.mu.Unlock()
	if !due || st == api.ReplicaDead || s.done() {
		return
	}
	p.log.Warn("replica does not acknowledge: marking it Dead", "peer", s.peer, "state", st, "err", err)
	s.markDead(st, err)
}

// markDead proposes the replica Dead.
func (s *sender) markDead(st api.ReplicaState, cause error) {
	p := s.p
	ctx, cancel := s.ctx(p.opts.AckTimeout)
	defer cancel()
	if err := p.opts.Env.SetState(ctx, s.peer, st, api.ReplicaDead, p.opts.Epoch); err != nil {
		p.log.Warn("cannot mark a replica Dead", "peer", s.peer, "err", err)
		p.mu.Lock()
		if s.state == st {
			s.failErr = api.ErrUnavailable("replica of shard %d on peer %d did not acknowledge (%v) and could not be marked Dead: %v",
				p.opts.Target.Shard, s.peer, cause, err)
			p.broadcast()
		}
		p.mu.Unlock()
	}
}

// diverged handles a replica whose log is not a prefix of this one's or
// whose missing operations left the op log: it needs a checkpoint.
func (s *sender) diverged(st api.ReplicaState, hs *StatusResponse) {
	p := s.p
	p.log.Warn("replica needs a checkpoint transfer", "peer", s.peer, "replica_epoch", hs.Epoch, "replica_seq", hs.Seq,
		"log_start", p.sh.LogStart(), "last", p.sh.LastSeq())
	switch st {
	case api.ReplicaActive, api.ReplicaListener:
		s.markDead(st, errors.New("its log diverged"))
		return
	case api.ReplicaRecovery:
		ctx, cancel := s.ctx(p.opts.AckTimeout)
		defer cancel()
		if err := p.opts.Env.SetState(ctx, s.peer, st, api.ReplicaPartial, p.opts.Epoch); err != nil {
			p.log.Warn("cannot start a checkpoint transfer", "peer", s.peer, "err", err)
			s.sleep(time.Second)
		}
		return
	}
	if err := s.transfer(); err != nil {
		p.log.Warn("checkpoint transfer failed", "peer", s.peer, "err", err)
		s.sleep(time.Second)
	}
}
