package service

import (
	"context"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/auth"
	"github.com/shoal-db/shoal/internal/collection"
	"github.com/shoal-db/shoal/internal/meta"
	"github.com/shoal-db/shoal/internal/replica"
	"github.com/shoal-db/shoal/internal/shard"
	"github.com/shoal-db/shoal/internal/snapshot"
)

// replicaSet is one shard of a collection as this node reaches it in a
// cluster: writes go to the shard's primary (this node's replica.Primary,
// or the primary's node, which runs it there) and are retried at a new
// primary after a failover unless the ordering is strong; reads go to one
// Active replica, this node's first, then the primary, then the others,
// falling back to the next on failure, or to several per the read
// consistency. The placement is read from the metadata at every call.
type replicaSet struct {
	s     *Service
	name  string
	gen   uint64
	idx   int
	local *shard.Shard

	// ctx is canceled when the replica set closes: calls in flight on it
	// end with errReopened instead of holding the collection open.
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	remotes map[uint64]collection.Shard
	primary *replica.Primary
	closed  bool
	// quarantined is set when the local replica was found corrupt and
	// opened empty: it never acts as the primary (it would hand its
	// backups an empty log) until it has been filled again.
	quarantined bool
}

// errReopened ends a write whose replica set closed under it because the
// collection is opened again with a new placement; withHeld calls again.
var errReopened = api.ErrUnavailable("the collection was reopened with a new placement during the call")

func newReplicaSet(s *Service, name string, gen uint64, idx int, local *shard.Shard) *replicaSet {
	ctx, cancel := context.WithCancel(context.Background())
	return &replicaSet{s: s, name: name, gen: gen, idx: idx, local: local, ctx: ctx, cancel: cancel}
}

var (
	_ collection.Shard    = (*replicaSet)(nil)
	_ collection.Preparer = (*replicaSet)(nil)
)

func (r *replicaSet) target() replica.Target {
	return replica.Target{Collection: r.name, Generation: r.gen, Shard: r.idx}
}

// placement returns the shard's current placement and the collection's
// metadata (nil when the collection of this generation is gone).
func (r *replicaSet) placement() (meta.ShardPlacement, *meta.Collection) {
	c, ok := r.s.state().Collections[r.name]
	if !ok || c.Generation != r.gen || r.idx >= len(c.Shards) {
		return meta.ShardPlacement{}, nil
	}
	return c.Shards[r.idx], c
}

func (r *replicaSet) remote(peer uint64) collection.Shard {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h, ok := r.remotes[peer]; ok {
		return h
	}
	if r.remotes == nil {
		r.remotes = map[uint64]collection.Shard{}
	}
	h := r.s.opts.RemoteShard(RemoteTarget{Collection: r.name, Generation: r.gen, Shard: r.idx, Peer: peer})
	r.remotes[peer] = h
	return h
}

// sync starts, replaces or stops this node's primary to match the
// placement, and tells it the replicas. It does not block (it runs on the
// Raft apply goroutine).
func (r *replicaSet) sync(sp meta.ShardPlacement) {
	r.mu.Lock()
	defer r.mu.Unlock()
	self := r.s.cluster.ID()
	if rep, _ := sp.Replica(self); rep.State != api.ReplicaActive {
		r.quarantined = false // it is being filled again
	}
	if r.closed || r.local == nil || sp.Primary() != self || r.quarantined {
		if r.primary != nil {
			r.primary.Stop()
			r.primary = nil
		}
		return
	}
	if r.primary != nil && r.primary.Epoch() != sp.Epoch {
		r.primary.Stop()
		r.primary = nil
	}
	if r.primary == nil {
		r.primary = replica.NewPrimary(replica.Options{Target: r.target(), Self: self, Epoch: sp.Epoch, Shard: r.local,
			Env: replicaEnv{r}, AckTimeout: r.s.opts.AckTimeout, TransferRate: r.s.opts.TransferRate, Logger: r.s.log,
			OnTransfer: func(bytes int64, took time.Duration) {
				r.s.transfers.Add(1)
				r.s.transferBytes.Add(bytes)
				r.s.transferNanos.Add(int64(took))
			},
			Config: func() api.CollectionConfig {
				if _, c := r.placement(); c != nil {
					return c.Config
				}
				return api.CollectionConfig{}
			}})
	}
	r.primary.Sync(sp.Replicas)
}

// close stops the primary.
func (r *replicaSet) close() {
	r.cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	if r.primary != nil {
		r.primary.Stop()
		r.primary = nil
	}
}

func (r *replicaSet) getPrimary(epoch uint64) *replica.Primary {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.primary == nil || r.primary.Epoch() != epoch {
		return nil
	}
	return r.primary
}

// replicaEnv gives a primary the cluster.
type replicaEnv struct{ r *replicaSet }

func (e replicaEnv) Dial(peer uint64) (*grpc.ClientConn, error) {
	if e.r.s.opts.PeerDial == nil {
		return nil, api.ErrUnavailable("this node cannot reach its peers")
	}
	return e.r.s.opts.PeerDial(peer)
}

func (e replicaEnv) SetState(ctx context.Context, peer uint64, from, to api.ReplicaState, epoch uint64) error {
	r := e.r
	return r.s.cluster.Apply(ctx, &meta.Command{V: meta.ReplicationCommandVersion, Type: meta.TypeSetReplicaState,
		Collection: r.name, Generation: r.gen, ShardID: r.idx, PeerID: peer, State: to, FromState: from, Epoch: epoch})
}

// writeOpts are a write's ordering and the collection's
// write_consistency_factor.
type writeOptsKey struct{}

// withOrdering records a write's ordering in its context for the replica
// sets.
func withOrdering(ctx context.Context, o api.WriteOrdering) context.Context {
	if o == "" {
		return ctx
	}
	return context.WithValue(ctx, writeOptsKey{}, o)
}

func orderingOf(ctx context.Context) api.WriteOrdering {
	o, _ := ctx.Value(writeOptsKey{}).(api.WriteOrdering)
	return o
}

type readConsistencyKey struct{}

// withConsistency records a read's consistency in its context.
func withConsistency(ctx context.Context, c string) context.Context {
	if c == "" {
		return ctx
	}
	return context.WithValue(ctx, readConsistencyKey{}, c)
}

// retryable reports errors after which a write may go to a new primary:
// the primary was unreachable or stepped down before applying it.
func retryable(err error) bool {
	return api.KindOf(err) == api.KindUnavailable
}

// awaitChange waits a little for the metadata to change (a failover).
func (r *replicaSet) awaitChange(ctx context.Context) error {
	t := time.NewTimer(100 * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-r.ctx.Done():
		return errReopened
	case <-t.C:
		return nil
	}
}

// wcf is the collection's write_consistency_factor.
func wcf(c *meta.Collection) int {
	return max(c.Config.Params.WriteConsistencyFactor, 1)
}

// write runs fn against the shard's primary, retrying at a new primary
// after a failover unless the ordering is strong.
func (r *replicaSet) write(ctx context.Context, local func(ctx context.Context, p *replica.Primary, wcf int) (uint64, error), remote func(ctx context.Context, h collection.Shard) (uint64, error)) (uint64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(r.ctx, cancel)
	defer stop()
	for {
		if r.ctx.Err() != nil {
			return 0, errReopened
		}
		sp, c := r.placement()
		if c == nil {
			return 0, api.ErrCollectionNotFound(r.name)
		}
		var seq uint64
		var err error
		switch primary := sp.Primary(); {
		case primary == 0:
			return 0, api.ErrUnavailable("shard %d of collection %s has no replica (its peers were removed)", r.idx, r.name)
		case primary == r.s.cluster.ID():
			if p := r.getPrimary(sp.Epoch); p != nil {
				seq, err = local(ctx, p, wcf(c))
			} else {
				err = api.ErrUnavailable("the primary of shard %d of collection %s is not ready on this node", r.idx, r.name)
			}
		default:
			seq, err = remote(ctx, r.remote(primary))
		}
		if err != nil && r.ctx.Err() != nil {
			return 0, errReopened
		}
		if err == nil || !retryable(err) || orderingOf(ctx) == api.OrderingStrong {
			return seq, err
		}
		if werr := r.awaitChange(ctx); werr != nil {
			if werr == errReopened {
				return 0, werr
			}
			return 0, err
		}
	}
}

// Apply implements collection.Shard.
func (r *replicaSet) Apply(ctx context.Context, op *api.UpdateOperation) (uint64, error) {
	return r.write(ctx, func(ctx context.Context, p *replica.Primary, wcf int) (uint64, error) {
		return p.Write(ctx, op, wcf)
	}, func(ctx context.Context, h collection.Shard) (uint64, error) {
		return h.Apply(ctx, op)
	})
}

// checker validates a write on a replica without applying it
// (remote.Client).
type checker interface {
	Check(ctx context.Context, op *api.UpdateOperation) error
}

// PrepareWrite implements collection.Preparer: on this node's primary the
// write is prepared under the shard's writer lock; a remote primary
// validates it, and the commit sends it there. A remote primary's state
// may change between its check and the commit, so a multi-shard write
// through a cluster is whole against invalid input, not against every
// concurrent change.
func (r *replicaSet) PrepareWrite(ctx context.Context, op *api.UpdateOperation) (collection.Pending, error) {
	sp, c := r.placement()
	if c == nil {
		return nil, api.ErrCollectionNotFound(r.name)
	}
	if sp.Primary() == r.s.cluster.ID() {
		if p := r.getPrimary(sp.Epoch); p != nil {
			w, err := p.Prepare(ctx, op, wcf(c))
			if err == nil {
				return &localPending{r: r, ctx: ctx, op: op, w: w}, nil
			}
			if !retryable(err) {
				return nil, err
			}
		}
	} else if h, ok := r.remote(sp.Primary()).(checker); ok && sp.Primary() != 0 {
		if err := h.Check(ctx, checkForm(op)); err != nil && !retryable(err) {
			return nil, err
		}
	}
	return &applyLater{r: r, ctx: ctx, op: op}, nil
}

// checkForm returns what a remote primary needs of op to check it. An
// upsert's validity does not depend on the shard's points: the collection
// has validated every point against the config the shard has too, so the
// remote check only asks whether the shard takes writes now (its store,
// its disk's reserve, its update filter) and goes without the points,
// most of the write's bytes, which the commit sends.
func checkForm(op *api.UpdateOperation) *api.UpdateOperation {
	if op.Upsert == nil || len(op.Upsert.Points) == 0 {
		return op
	}
	c, u := *op, *op.Upsert
	u.Points = nil
	c.Upsert = &u
	return &c
}

// localPending is a write prepared on this node's primary. When the
// primary steps down before the write is acknowledged (a failover, or the
// replica moving away), the write is sent again through the current
// primary: the operations are idempotent, and the first attempt is
// indeterminate anyway.
type localPending struct {
	r   *replicaSet
	ctx context.Context
	op  *api.UpdateOperation
	w   *replica.Pending
}

func (l *localPending) Commit() (uint64, error) {
	seq, err := l.w.Commit()
	if err != nil && retryable(err) && orderingOf(l.ctx) != api.OrderingStrong {
		return l.r.Apply(l.ctx, l.op)
	}
	return seq, err
}

func (l *localPending) Abort() { l.w.Abort() }

// applyLater applies a checked write at commit.
type applyLater struct {
	r   *replicaSet
	ctx context.Context
	op  *api.UpdateOperation
}

func (a *applyLater) Commit() (uint64, error) { return a.r.Apply(a.ctx, a.op) }
func (a *applyLater) Abort()                  {}

// readers returns the handles of the Active replicas in the order reads
// try them: this node's, the primary's, then the others.
func (r *replicaSet) readers() ([]collection.Shard, []uint64, error) {
	sp, c := r.placement()
	if c == nil {
		return nil, nil, api.ErrCollectionNotFound(r.name)
	}
	self := r.s.cluster.ID()
	var hs []collection.Shard
	var peers []uint64
	r.mu.Lock()
	quarantined := r.quarantined
	r.mu.Unlock()
	if rep, ok := sp.Replica(self); ok && rep.State == api.ReplicaActive && r.local != nil && !quarantined {
		hs, peers = append(hs, r.local), append(peers, self)
	}
	for _, rep := range sp.Replicas {
		if rep.Peer == self && quarantined {
			continue
		}
		if rep.Peer != self && rep.State == api.ReplicaActive {
			hs, peers = append(hs, r.remote(rep.Peer)), append(peers, rep.Peer)
		}
	}
	if len(hs) == 0 {
		if len(sp.Replicas) == 0 {
			return nil, nil, api.ErrUnavailable("shard %d of collection %s has no replica (its peers were removed)", r.idx, r.name)
		}
		return nil, nil, api.ErrUnavailable("shard %d of collection %s has no Active replica", r.idx, r.name)
	}
	return hs, peers, nil
}

// consistency returns how many replicas a read asks and needs: "" (or 1)
// asks one, falling back to the next on failure; "all" asks every Active
// replica; "majority" asks all and needs a majority; "quorum" asks
// n/2+1; a number asks that many.
func consistency(ctx context.Context, n int) (ask, need int, err error) {
	c, _ := ctx.Value(readConsistencyKey{}).(string)
	switch c {
	case "", "1":
		return 1, 1, nil
	case "all":
		return n, n, nil
	case "majority":
		return n, n/2 + 1, nil
	case "quorum":
		return n/2 + 1, n/2 + 1, nil
	}
	k, perr := strconv.Atoi(c)
	if perr != nil || k < 1 {
		return 0, 0, api.ErrBadInput("read consistency must be a positive number, majority, quorum or all, got %q", c)
	}
	if k > n {
		return 0, 0, api.ErrUnavailable("read consistency %d needs more replicas than the %d Active ones", k, n)
	}
	return k, k, nil
}

// read runs fn on Active replicas per the read consistency and returns
// the answer of the most up-to-date one that answered: the primary's when
// it is among them (it holds every acknowledged write), else the first's.
//
// A replica's node that answers that it does not hold the shard (this
// node's metadata is behind: the replica was dropped or moved) makes the
// read catch up with the metadata (a read index) and run once more.
func read[T any](r *replicaSet, ctx context.Context, fn func(collection.Shard) (T, error)) (T, error) {
	var stale atomic.Bool
	watch := func(h collection.Shard) (T, error) {
		v, err := fn(h)
		if err != nil && api.KindOf(err) == api.KindNotFound {
			stale.Store(true)
		}
		return v, err
	}
	v, err := readOnce(r, ctx, watch)
	if err == nil || !stale.Load() || r.s.cluster == nil {
		return v, err
	}
	if rerr := r.s.cluster.ReadIndex(ctx); rerr != nil {
		return v, err
	}
	// Wait for the listener's side effects of what the read index covered,
	// but not past the replica set's end: this call holds the collection,
	// and a reconfiguration running in the listener waits for it.
	applied := make(chan struct{})
	go func() {
		r.s.reconMu.Lock()
		r.s.reconMu.Unlock() //nolint:staticcheck // waits for the listener's side effects
		close(applied)
	}()
	select {
	case <-applied:
	case <-r.ctx.Done():
		return v, errReopened
	case <-ctx.Done():
		return v, fail(ctx.Err())
	}
	if r.ctx.Err() != nil {
		return v, errReopened
	}
	return readOnce(r, ctx, fn)
}

// readOnce is one attempt of read.
func readOnce[T any](r *replicaSet, ctx context.Context, fn func(collection.Shard) (T, error)) (T, error) {
	var zero T
	hs, peers, err := r.readers()
	if err != nil {
		return zero, err
	}
	ask, need, err := consistency(ctx, len(hs))
	if err != nil {
		return zero, err
	}
	if ask == 1 {
		if _, c := r.placement(); c != nil && len(hs) > 1 {
			if f, d := fanOut(c); f > 0 || d > 0 {
				return fanOutRead(ctx, hs, f, d, fn)
			}
		}
		var first error
		for _, h := range hs {
			v, err := fn(h)
			if err == nil {
				return v, nil
			}
			if first == nil {
				first = err
			}
			if !retryable(err) && api.KindOf(err) != api.KindTimeout {
				return zero, err
			}
		}
		return zero, first
	}
	sp, _ := r.placement()
	primary := sp.Primary()
	if i := slices.Index(peers, primary); i > 0 && i >= ask {
		// The primary is always asked.
		hs[ask-1], hs[i] = hs[i], hs[ask-1]
		peers[ask-1], peers[i] = peers[i], peers[ask-1]
	}
	type result struct {
		v   T
		err error
	}
	res := make([]result, ask)
	var wg sync.WaitGroup
	for i := range ask {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i].v, res[i].err = fn(hs[i])
		}()
	}
	wg.Wait()
	ok, best := 0, -1
	var errs []error
	for i := range res {
		if res[i].err != nil {
			errs = append(errs, res[i].err)
			continue
		}
		ok++
		if best < 0 || peers[i] == primary {
			best = i
		}
	}
	if ok < need {
		return zero, api.ErrUnavailable("read consistency needs %d replicas, %d answered: %v", need, ok, errors.Join(errs...))
	}
	return res[best].v, nil
}

// fanOut returns the collection's read_fan_out_factor and
// read_fan_out_delay_ms.
func fanOut(c *meta.Collection) (int, time.Duration) {
	f, d := 0, time.Duration(0)
	if p := c.Config.Params.ReadFanOutFactor; p != nil {
		f = *p
	}
	if p := c.Config.Params.ReadFanOutDelayMs; p != nil {
		d = time.Duration(*p) * time.Millisecond
	}
	return f, d
}

// fanOutRead is a read at consistency 1 with read_fan_out_factor f and
// read_fan_out_delay_ms d: the first replica (this node's, else the
// primary) is asked at once, and 1+f replicas in all are asked at once
// when d is 0; with d > 0 each further replica (up to 1+f, or every one
// when f is 0) is asked only after d without an answer, or at once when
// an earlier one failed. The first answer wins; the others are dropped.
// When every asked replica failed, the rest are tried in turn.
func fanOutRead[T any](ctx context.Context, hs []collection.Shard, f int, d time.Duration, fn func(collection.Shard) (T, error)) (T, error) {
	var zero T
	limit := len(hs)
	if f > 0 {
		limit = min(1+f, len(hs))
	}
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, len(hs))
	started, failed := 0, 0
	start := func() {
		h := hs[started]
		started++
		go func() {
			v, err := fn(h)
			ch <- result{v, err}
		}()
	}
	start()
	if d == 0 {
		for started < limit {
			start()
		}
	}
	var first error
	for {
		var timer <-chan time.Time
		if d > 0 && started < limit {
			timer = time.After(d)
		}
		select {
		case res := <-ch:
			if res.err == nil {
				return res.v, nil
			}
			failed++
			if first == nil {
				first = res.err
			}
			if !retryable(res.err) && api.KindOf(res.err) != api.KindTimeout {
				return zero, res.err
			}
			if failed == started {
				if started == len(hs) {
					return zero, first
				}
				start() // the fallback goes on past the fan-out
			}
		case <-timer:
			start()
		case <-ctx.Done():
			return zero, api.ContextError(ctx.Err())
		}
	}
}

func (r *replicaSet) Get(ctx context.Context, ids []api.PointID, wp *api.PayloadSelector, wv *api.VectorSelector) ([]api.Record, error) {
	return read(r, ctx, func(h collection.Shard) ([]api.Record, error) { return h.Get(ctx, ids, wp, wv) })
}

func (r *replicaSet) Scroll(ctx context.Context, req shard.ScrollRequest) ([]api.Record, error) {
	return read(r, ctx, func(h collection.Shard) ([]api.Record, error) { return h.Scroll(ctx, req) })
}

func (r *replicaSet) Count(ctx context.Context, f *api.Filter, exact bool) (uint64, error) {
	return read(r, ctx, func(h collection.Shard) (uint64, error) { return h.Count(ctx, f, exact) })
}

func (r *replicaSet) Facet(ctx context.Context, key string, f *api.Filter, limit int, exact bool) ([]api.FacetHit, error) {
	return read(r, ctx, func(h collection.Shard) ([]api.FacetHit, error) { return h.Facet(ctx, key, f, limit, exact) })
}

func (r *replicaSet) Sample(ctx context.Context, n int, f *api.Filter) ([]api.PointID, error) {
	return read(r, ctx, func(h collection.Shard) ([]api.PointID, error) { return h.Sample(ctx, n, f) })
}

func (r *replicaSet) SparseStats(ctx context.Context, name string, indices []uint32) (int, []int, error) {
	type stats struct {
		n  int
		df []int
	}
	st, err := read(r, ctx, func(h collection.Shard) (stats, error) {
		n, df, err := h.SparseStats(ctx, name, indices)
		return stats{n, df}, err
	})
	return st.n, st.df, err
}

func (r *replicaSet) Search(ctx context.Context, req shard.SearchRequest) ([]api.ScoredPoint, error) {
	return read(r, ctx, func(h collection.Shard) ([]api.ScoredPoint, error) { return h.Search(ctx, req) })
}

// PrimaryWrite is a write forwarded by another node to this node's
// primary replica of a shard (the remote server's Apply).
func (s *Service) PrimaryWrite(ctx context.Context, name string, gen uint64, idx int, op *api.UpdateOperation) (uint64, error) {
	r, err := s.awaitReplicaSet(ctx, name, gen, idx)
	if err != nil {
		return 0, err
	}
	sp, c := r.placement()
	if c == nil {
		return 0, api.ErrCollectionNotFound(name)
	}
	p := r.getPrimary(sp.Epoch)
	if sp.Primary() != s.cluster.ID() || p == nil {
		return 0, api.ErrUnavailable("peer %d is not the primary of shard %d of collection %s", s.cluster.ID(), idx, name)
	}
	s.writes.Begin()
	defer s.writes.End()
	return p.Write(ctx, op, wcf(c))
}

// replicaSetOf finds an open collection's replica set.
func (s *Service) replicaSetOf(name string, gen uint64, idx int) (*replicaSet, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sets, ok := s.sets[name]
	if !ok || s.gens[name] != gen {
		return nil, api.ErrCollectionNotFound(name)
	}
	if idx < 0 || idx >= len(sets) || sets[idx] == nil {
		return nil, api.ErrNotFound("Shard %d of collection %s does not exist", idx, name)
	}
	return sets[idx], nil
}

// awaitReplicaSet is replicaSetOf for a call from another peer, which may
// have seen a newer metadata state than this node has applied: a
// collection not open here is looked up again after a read index, and one
// being reopened is waited for.
func (s *Service) awaitReplicaSet(ctx context.Context, name string, gen uint64, idx int) (*replicaSet, error) {
	for attempt := 0; ; attempt++ {
		r, err := s.replicaSetOf(name, gen, idx)
		if err == nil || attempt > 0 && api.KindOf(err) != api.KindNotFound {
			return r, err
		}
		s.mu.RLock()
		wait := s.busy[name]
		s.mu.RUnlock()
		switch {
		case wait != nil:
			select {
			case <-wait:
			case <-ctx.Done():
				return nil, fail(ctx.Err())
			}
		case attempt == 0:
			if err := s.cluster.ReadIndex(ctx); err != nil {
				return nil, err
			}
			s.reconMu.Lock()
			s.reconMu.Unlock() //nolint:staticcheck // waits for the listener's side effects
		default:
			return nil, err
		}
		if attempt > 20 {
			return nil, err
		}
	}
}

// LocateReadable is LocateShard for another node's reads: a replica found
// corrupt and opened empty (quarantined) answers 503 until it is filled
// again, so the reader turns to another replica.
func (s *Service) LocateReadable(ctx context.Context, name string, gen uint64, id int) (*shard.Shard, func(using string) (api.Distance, error), func(), error) {
	sh, dist, release, err := s.LocateShard(ctx, name, gen, id)
	if err != nil {
		return nil, nil, nil, err
	}
	if r, rerr := s.replicaSetOf(name, gen, id); rerr == nil {
		r.mu.Lock()
		q := r.quarantined
		r.mu.Unlock()
		if q {
			release()
			return nil, nil, nil, api.ErrUnavailable("the replica of shard %d of collection %s on peer %d is being rebuilt", id, name, s.cluster.ID())
		}
	}
	return sh, dist, release, nil
}

// LocateReplica finds this node's replica of a shard for its primary's
// calls (replica.Locator), with the shard's epoch in this node's
// metadata.
func (s *Service) LocateReplica(ctx context.Context, t replica.Target) (*shard.Shard, uint64, func(), error) {
	sh, _, release, err := s.LocateShard(ctx, t.Collection, t.Generation, t.Shard)
	if err != nil {
		return nil, 0, nil, err
	}
	var epoch uint64
	if c, ok := s.state().Collections[t.Collection]; ok && t.Shard < len(c.Shards) {
		epoch = c.Shards[t.Shard].Epoch
	}
	return sh, epoch, release, nil
}

// noReplica is a shard whose every replica is gone: each call fails.
type noReplica struct{ err error }

func (n noReplica) Apply(context.Context, *api.UpdateOperation) (uint64, error) { return 0, n.err }
func (n noReplica) Get(context.Context, []api.PointID, *api.PayloadSelector, *api.VectorSelector) ([]api.Record, error) {
	return nil, n.err
}
func (n noReplica) Scroll(context.Context, shard.ScrollRequest) ([]api.Record, error) {
	return nil, n.err
}
func (n noReplica) Count(context.Context, *api.Filter, bool) (uint64, error) { return 0, n.err }
func (n noReplica) Facet(context.Context, string, *api.Filter, int, bool) ([]api.FacetHit, error) {
	return nil, n.err
}
func (n noReplica) Sample(context.Context, int, *api.Filter) ([]api.PointID, error) {
	return nil, n.err
}
func (n noReplica) SparseStats(context.Context, string, []uint32) (int, []int, error) {
	return 0, nil, n.err
}
func (n noReplica) Search(context.Context, shard.SearchRequest) ([]api.ScoredPoint, error) {
	return nil, n.err
}

// TransferStats returns how many checkpoint transfers this node has sent
// as a primary, and their bytes.
func (s *Service) TransferStats() (count, bytes int64) {
	return s.transfers.Load(), s.transferBytes.Load()
}

// TransferTime returns the time the checkpoint transfers counted by
// TransferStats took, from each checkpoint to the receiver's answer.
func (s *Service) TransferTime() time.Duration {
	return time.Duration(s.transferNanos.Load())
}

// ReplicaDigest describes one local replica for convergence checks.
type ReplicaDigest struct {
	Shard  int              `json:"shard"`
	State  api.ReplicaState `json:"state"`
	Epoch  uint64           `json:"epoch"`
	Seq    uint64           `json:"seq"`
	Points uint64           `json:"points"`
	Digest string           `json:"digest"`
	// Primary is set on the shard's primary replica.
	Primary bool `json:"primary,omitempty"`
}

// ReplicaDigests returns the digest of every replica of a collection that
// this node holds (cluster mode): replicas of a shard at the same
// sequence number hold the same points exactly when their digests are
// equal.
func (s *Service) ReplicaDigests(ctx context.Context, name string) ([]ReplicaDigest, error) {
	c, release, err := s.use(ctx, name, auth.Read)
	if err != nil {
		return nil, err
	}
	defer release()
	var sps []meta.ShardPlacement
	if s.cluster != nil {
		if m, ok := s.state().Collections[c.Name()]; ok {
			sps = m.Shards
		}
	}
	out := []ReplicaDigest{}
	for i := range c.Shards() {
		sh := c.LocalShard(i)
		if sh == nil {
			continue
		}
		d := ReplicaDigest{Shard: i, State: api.ReplicaActive}
		if i < len(sps) && s.cluster != nil {
			if r, ok := sps[i].Replica(s.cluster.ID()); ok {
				d.State = r.State
			}
			d.Primary = sps[i].Primary() == s.cluster.ID()
		}
		d.Epoch, _ = sh.Position()
		if d.Digest, d.Points, d.Seq, err = sh.Digest(ctx); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// InstallReplica replaces this node's replica of a shard with a
// checkpoint streamed by its primary (replica.Installer): the archive is
// extracted beside the replica and verified, then swapped in while that
// replica alone is closed and opened again (reconfigure; requests for the
// collection wait meanwhile). An Active replica is never replaced.
func (s *Service) InstallReplica(ctx context.Context, t replica.Target, epoch, seq uint64, r io.Reader) (*replica.StatusResponse, error) {
	m, ok := s.state().Collections[t.Collection]
	if !ok || m.Generation != t.Generation || t.Shard < 0 || t.Shard >= len(m.Shards) {
		return nil, api.ErrCollectionNotFound(t.Collection)
	}
	self := s.cluster.ID()
	rep, ok := m.Shards[t.Shard].Replica(self)
	if !ok {
		return nil, api.ErrNotFound("Shard %d of collection %s is not held by peer %d", t.Shard, t.Collection, self)
	}
	if rep.State == api.ReplicaActive {
		return nil, api.ErrBadRequest("the replica of shard %d on peer %d is Active: a checkpoint may not replace it", t.Shard, self)
	}
	target := filepath.Join(s.generationDir(t.Collection, t.Generation), strconv.Itoa(t.Shard))
	tmp := snapshot.StagingDir(target)
	// An install is a write on this node: indexers and the reachability
	// passes of its other replicas yield to it (shard.WriteActivity).
	s.writes.Begin()
	defer s.writes.End()
	start := time.Now()
	// The index files are caches, checksummed and validated by Open: they
	// are not fsynced (a crash before the kernel writes them back costs a
	// rebuild from the store, which is fsynced like every install).
	cache := path.Join("shards", strconv.Itoa(t.Shard), shard.IndexDir) + "/"
	_, err := snapshot.Extract(ctx, r, tmp, snapshot.ReadOptions{Check: func(man *snapshot.Manifest) error {
		if man.Kind != snapshot.KindShard || man.Collection != t.Collection || len(man.Shards) != 1 || man.Shards[0].LastSeq != seq {
			return api.ErrBadRequest("the checkpoint is not shard %d of collection %s at %d", t.Shard, t.Collection, seq)
		}
		return nil
	}, NoSync: func(p string) bool { return strings.HasPrefix(p, cache) }})
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	extracted := time.Since(start)
	s.reconMu.Lock()
	defer s.reconMu.Unlock()
	cur := s.state().Collections[t.Collection]
	if cur == nil || cur.Generation != t.Generation {
		cur = nil
	}
	if cur == nil {
		return nil, api.ErrCollectionNotFound(t.Collection)
	}
	if t.Shard >= len(cur.Shards) {
		return nil, api.ErrNotFound("Shard %d of collection %s does not exist", t.Shard, t.Collection)
	}
	if _, ok := cur.Shards[t.Shard].Replica(self); !ok {
		return nil, api.ErrNotFound("Shard %d of collection %s is not held by peer %d", t.Shard, t.Collection, self)
	}
	err = s.reconfigure(t.Collection, cur, []int{t.Shard}, func() error {
		return snapshot.SwapDir(filepath.Join(tmp, "shards", strconv.Itoa(t.Shard)), target)
	})
	if err != nil {
		return nil, api.ErrInternal(err, "cannot install the checkpoint of shard %d", t.Shard)
	}
	rs, err := s.replicaSetOf(t.Collection, t.Generation, t.Shard)
	if err != nil || rs.local == nil {
		return nil, api.ErrInternal(err, "the installed replica of shard %d did not open", t.Shard)
	}
	e, n := rs.local.Position()
	s.log.Info("replica installed from a checkpoint", "collection", t.Collection, "shard", t.Shard, "seq", n, "epoch", e,
		"extract_s", extracted.Seconds(), "install_s", (time.Since(start) - extracted).Seconds())
	return &replica.StatusResponse{Epoch: e, Seq: n}, nil
}
