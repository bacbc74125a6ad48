package replica

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/meta"
	"github.com/shoal-db/shoal/internal/shard"
)

// Defaults of Options.
const (
	DefaultAckTimeout = 10 * time.Second
	DefaultBatchOps   = 256
)

// Env is what a primary needs from the cluster.
type Env interface {
	// Dial returns a connection to a peer.
	Dial(peer uint64) (*grpc.ClientConn, error)
	// SetState proposes that the replica on peer goes from state from to
	// state to, in epoch, and waits until this node has applied it.
	SetState(ctx context.Context, peer uint64, from, to api.ReplicaState, epoch uint64) error
}

// Options configure a Primary.
type Options struct {
	Target Target
	// Self is this node's peer id.
	Self uint64
	// Epoch is the epoch in which this node is the shard's primary.
	Epoch uint64
	// Shard is the local replica.
	Shard *shard.Shard
	Env   Env
	// AckTimeout is how long a backup may fail to acknowledge before it
	// is marked Dead (0: DefaultAckTimeout).
	AckTimeout time.Duration
	// BatchOps bounds the operations of one replication call (0:
	// DefaultBatchOps).
	BatchOps int
	// Config returns the collection's configuration (for the manifest of
	// a checkpoint transfer).
	Config func() api.CollectionConfig
	// TransferRate bounds a checkpoint transfer in bytes per second (0:
	// no limit).
	TransferRate float64
	// OnTransfer, when set, is called after each checkpoint transfer.
	OnTransfer func(bytes int64, took time.Duration)
	Logger     *slog.Logger
}

// Primary is the primary replica of one shard in one epoch. Create it with
// NewPrimary, tell it the shard's replicas with Sync whenever the metadata
// changes, and Stop it when the node stops being the primary of this
// epoch.
type Primary struct {
	opts Options
	log  *slog.Logger
	sh   *shard.Shard

	stop     chan struct{}
	stopOnce sync.Once

	// mu guards the fields below and every sender's shared fields.
	mu      sync.Mutex
	senders map[uint64]*sender
	// changed is closed and replaced whenever an acknowledgement or a
	// replica's state changes: waiting writes look again.
	changed chan struct{}
	// deposed is set when a backup reported a newer epoch.
	deposed bool
	// live holds the operations this primary committed, by sequence
	// number, from liveLow on, until every streaming sender has had them
	// acknowledged (at most liveMaxBytes of them, by opSize): senders send
	// them from memory instead of reading them back from the op log, which
	// they fall back to for anything live does not hold (catch-up, and an
	// operation whose commit has not been recorded here yet).
	live      map[uint64]liveOp
	liveLow   uint64
	liveBytes int
}

// liveOp is one operation of Primary.live.
type liveOp struct {
	op   *api.UpdateOperation
	size int
}

// liveMaxBytes bounds the estimated size of the operations a primary keeps
// in memory for its senders (Primary.live).
const liveMaxBytes = 32 << 20

// NewPrimary returns the primary of opts.Target in opts.Epoch. It starts
// no sender until Sync names the replicas.
func NewPrimary(opts Options) *Primary {
	if opts.AckTimeout <= 0 {
		opts.AckTimeout = DefaultAckTimeout
	}
	if opts.BatchOps <= 0 {
		opts.BatchOps = DefaultBatchOps
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Primary{
		opts:    opts,
		log:     opts.Logger.With("collection", opts.Target.Collection, "shard", opts.Target.Shard, "epoch", opts.Epoch),
		sh:      opts.Shard,
		stop:    make(chan struct{}),
		senders: map[uint64]*sender{},
		changed: make(chan struct{}),
		live:    map[uint64]liveOp{},
	}
}

// Epoch returns the epoch this primary writes in.
func (p *Primary) Epoch() uint64 { return p.opts.Epoch }

// broadcast wakes the waiting writes. Caller holds mu.
func (p *Primary) broadcast() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// Sync makes the senders match the shard's replicas (this node's own is
// skipped). It does not block.
func (p *Primary) Sync(replicas []meta.Replica) {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.stop:
		return
	default:
	}
	seen := map[uint64]bool{}
	for _, r := range replicas {
		if r.Peer == p.opts.Self {
			continue
		}
		seen[r.Peer] = true
		s, ok := p.senders[r.Peer]
		if !ok {
			s = &sender{p: p, peer: r.Peer, state: r.State, method: r.Method, wake: make(chan struct{}, 1), quit: make(chan struct{})}
			p.senders[r.Peer] = s
			go s.run()
			continue
		}
		s.method = r.Method
		if s.state != r.State {
			s.state = r.State
			if r.State == api.ReplicaDead {
				s.insync, s.failErr = false, nil
			}
			s.poke()
		}
	}
	for peer, s := range p.senders {
		if !seen[peer] {
			delete(p.senders, peer)
			close(s.quit)
		}
	}
	p.forget()
	p.broadcast()
}

// Stop ends the primary: senders stop and waiting writes fail. It does not
// wait for the senders.
func (p *Primary) Stop() {
	p.stopOnce.Do(func() {
		close(p.stop)
		p.mu.Lock()
		p.broadcast()
		p.mu.Unlock()
	})
}

func (p *Primary) stopped() bool {
	select {
	case <-p.stop:
		return true
	default:
		return false
	}
}

// errNotPrimary is returned to writes once the primary has stopped or was
// deposed; the coordinator retries at the current primary.
func (p *Primary) errNotPrimary() error {
	return api.ErrUnavailable("peer %d is no longer the primary of shard %d of collection %s (epoch %d)",
		p.opts.Self, p.opts.Target.Shard, p.opts.Target.Collection, p.opts.Epoch)
}

// Pending is a write prepared on the primary (see shard.Pending): Commit
// applies it locally, streams it and waits for the acknowledgements.
type Pending struct {
	p   *Primary
	ctx context.Context
	op  *api.UpdateOperation
	pd  *shard.Pending
	wcf int
}

// Prepare validates op against the primary's state and holds its writer
// lock until Commit or Abort. wcf is the collection's
// write_consistency_factor.
func (p *Primary) Prepare(ctx context.Context, op *api.UpdateOperation, wcf int) (*Pending, error) {
	p.mu.Lock()
	bad := p.deposed || p.stopped()
	p.mu.Unlock()
	if bad {
		return nil, p.errNotPrimary()
	}
	pd, err := p.sh.PrepareEpoch(ctx, p.opts.Epoch, op)
	if errors.Is(err, shard.ErrStaleEpoch) {
		return nil, p.errNotPrimary()
	}
	if err != nil {
		return nil, err
	}
	return &Pending{p: p, ctx: ctx, op: op, pd: pd, wcf: wcf}, nil
}

// Abort drops the prepared write.
func (w *Pending) Abort() { w.pd.Abort() }

// Commit applies the write locally, wakes the senders and waits until
// every Active or in-sync replica has acknowledged it or has been marked
// Dead, and at least min(wcf, Active replicas) replicas hold it. A write
// that fails here may still be held by some replicas (it is
// indeterminate), as in Qdrant.
func (w *Pending) Commit() (uint64, error) {
	p := w.p
	seq, err := w.pd.Commit()
	if err != nil {
		return 0, err
	}
	p.mu.Lock()
	p.remember(seq, w.op)
	var wait []*sender
	active := 1
	for _, s := range p.senders {
		if s.state == api.ReplicaActive {
			active++
		}
		if s.state == api.ReplicaActive || s.insync {
			wait = append(wait, s)
		}
		s.poke()
	}
	p.mu.Unlock()
	need := min(max(w.wcf, 1), active)
	for {
		p.mu.Lock()
		acks, pending := 1, 0
		var failed error
		// A stopped or deposed primary's senders end (removed) without
		// their replicas having left the shard: those replicas stay in the
		// new epoch and must hold the write for it to be acknowledged. Only
		// a sender ended by Sync (its replica left the shard) or one whose
		// replica the metadata marks Dead may be passed over.
		ended := p.deposed || p.stopped()
		for _, s := range wait {
			switch {
			case s.acked >= seq:
				acks++
			case s.state == api.ReplicaDead:
			case ended:
				pending++
			case s.removed:
			case s.failErr != nil:
				failed = s.failErr
			default:
				pending++
			}
		}
		ch := p.changed
		p.mu.Unlock()
		if pending == 0 {
			if failed != nil {
				return seq, failed
			}
			if acks < need {
				return seq, api.ErrUnavailable("write reached %d of the %d replicas that write_consistency_factor needs", acks, need)
			}
			return seq, nil
		}
		if ended {
			return seq, p.errNotPrimary()
		}
		select {
		case <-ch:
		case <-p.stop:
			return seq, p.errNotPrimary()
		case <-w.ctx.Done():
			return seq, api.ErrTimeout("write was applied on the primary but not acknowledged by every replica in time: %v", w.ctx.Err())
		}
	}
}

// remember keeps the committed operation seq for the senders (see
// Primary.live), unless no sender needs it. Caller holds mu.
func (p *Primary) remember(seq uint64, op *api.UpdateOperation) {
	if len(p.senders) == 0 || seq < p.liveLow {
		return
	}
	if len(p.live) == 0 {
		p.liveLow = seq
	}
	size := opSize(op)
	p.live[seq] = liveOp{op: op, size: size}
	p.liveBytes += size
	p.forget()
}

// forget drops from live the operations every streaming sender has had
// acknowledged, and the oldest ones beyond liveMaxBytes. Caller holds mu.
func (p *Primary) forget() {
	keep := p.liveLow
	first := true
	for _, s := range p.senders {
		if s.removed || s.state == api.ReplicaDead {
			continue
		}
		if first || s.acked+1 < keep {
			keep, first = s.acked+1, false
		}
	}
	if first { // no sender streams
		clear(p.live)
		p.liveBytes = 0
		return
	}
	for len(p.live) > 0 && (p.liveLow < keep || p.liveBytes > liveMaxBytes) {
		if lo, ok := p.live[p.liveLow]; ok {
			p.liveBytes -= lo.size
			delete(p.live, p.liveLow)
		}
		p.liveLow++
	}
}

// liveOps returns the operations from next on that live holds without a
// gap, up to a batch.
func (p *Primary) liveOps(next uint64) []Op {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ops []Op
	size := 0
	for seq := next; len(ops) < p.opts.BatchOps && size < maxBatchBytes; seq++ {
		lo, ok := p.live[seq]
		if !ok {
			break
		}
		ops = append(ops, Op{Seq: seq, Epoch: p.opts.Epoch, Op: lo.op})
		size += lo.size
	}
	return ops
}

// Write prepares and commits op.
func (p *Primary) Write(ctx context.Context, op *api.UpdateOperation, wcf int) (uint64, error) {
	w, err := p.Prepare(ctx, op, wcf)
	if err != nil {
		return 0, err
	}
	return w.Commit()
}

// freshLogLimit and freshPointsLimit bound what an empty replica (a new
// one) is sent from the op log: a longer history, or a shard of more
// points, goes as a checkpoint, which is proportional to the data rather
// than to its history and carries the index files, so the receiver does
// not rebuild its graphs.
const (
	freshLogLimit    = 4096
	freshPointsLimit = 10000
)

// resume decides where the stream to a replica whose log ends at (e, n)
// starts: n+1 when its log is a prefix of this one's and this op log
// still holds n+1 (and, for an empty replica, the history is short).
func (p *Primary) resume(e, n uint64) (uint64, bool) {
	if n > p.sh.LastSeq() {
		return 0, false
	}
	if n == 0 && (p.sh.LastSeq() > freshLogLimit || p.sh.Stats().Points > freshPointsLimit) {
		return 0, false
	}
	if n > 0 {
		end, ok := p.sh.EpochEnd(e)
		if !ok || n > end {
			return 0, false
		}
	}
	if n+1 < p.sh.LogStart() {
		return 0, false
	}
	return n + 1, true
}
