package shard

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"syscall"
	"unsafe"

	"github.com/cockroachdb/pebble/v2"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/filter"
)

// Apply applies one operation atomically and durably and returns its
// sequence number. Exactly one field of op is set. Vectors in upserts and
// vector updates have been validated (names, dimensions, finite values) and
// Cosine vectors normalised by the caller; payload paths and filters are
// validated here. Nothing of a failed operation is applied. Apply is
// Prepare followed at once by Commit.
func (s *Shard) Apply(ctx context.Context, op *api.UpdateOperation) (uint64, error) {
	p, err := s.Prepare(ctx, op)
	if err != nil {
		return 0, err
	}
	return p.Commit()
}

// Pending is an operation prepared on a shard by Prepare: validated against
// the shard's current state and encoded into one store batch, with nothing
// written yet. It holds the shard's writer lock, so the state it was
// validated against cannot change before Commit; every Pending must end
// with exactly one Commit or Abort, which release the lock (other writers,
// op-log truncation, checkpoints and Close wait until then).
//
// The two phases let a caller apply an operation that spans several shards
// whole or not at all: prepare every part first (always in ascending shard
// order, so that two such callers cannot deadlock), then commit them all,
// or abort them all when one part fails to prepare.
type Pending struct {
	s   *Shard
	p   *plan
	b   *pebble.Batch
	seq uint64
	enc int // length of the op-log record
	// epoch is set when the operation opens a new epoch (PrepareEpoch,
	// ApplyAt): it is added to the epoch table when committed.
	epoch uint64
	done  bool
}

// Prepare validates op against the shard's current state (see Apply for
// what the caller has validated) and returns it ready to commit, holding
// the shard's writer lock until Commit or Abort. It fails, changing
// nothing, when op is invalid here (for example a point it names is
// missing), when the shard is closed, when its store failed (see
// ErrStoreFailed), or when the disk holding it is nearly full
// (ErrDiskFull).
func (s *Shard) Prepare(ctx context.Context, op *api.UpdateOperation) (*Pending, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if op == nil || countOps(op) != 1 {
		return nil, api.ErrBadInput("an update operation must have exactly one action")
	}
	s.writes.Begin()
	s.writeMu.Lock()
	pd, err := s.prepareLocked(ctx, op)
	if err != nil {
		s.writeMu.Unlock()
		s.writes.End()
		return nil, err
	}
	return pd, nil
}

// prepareLocked is Prepare under writeMu.
func (s *Shard) prepareLocked(ctx context.Context, op *api.UpdateOperation) (*Pending, error) {
	if s.closed {
		return nil, ErrClosed
	}
	if err := s.recoverStore(); err != nil {
		return nil, err
	}
	p := &plan{s: s, changes: map[api.PointID]*change{}, nextOff: s.nextOff, pr: s.payloadReader()}
	if err := p.build(op); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	seq := s.lastSeq + 1
	b := s.db.NewBatch()
	pd := &Pending{s: s, p: p, b: b, seq: seq}
	if err := pd.encode(op); err != nil {
		b.Close()
		return nil, err
	}
	if err := s.disk.check(uint64(b.Len())); err != nil {
		b.Close()
		return nil, err
	}
	return pd, nil
}

// encode writes the plan's records, the op-log record and the meta record
// into the batch.
func (pd *Pending) encode(op *api.UpdateOperation) error {
	s, p, b := pd.s, pd.p, pd.b
	if err := p.write(b, pd.seq); err != nil {
		return err
	}
	enc, err := encodeOp(op, s.nextOff, p.storedAt)
	if err != nil {
		return err
	}
	if err := b.Set(opKey(pd.seq), enc, nil); err != nil {
		return fmt.Errorf("cannot log operation: %w", err)
	}
	m := meta{Format: storeFormatVersion, LastSeq: pd.seq, NextOffset: p.nextOff}
	if err := b.Set(metaKey, m.encode(), nil); err != nil {
		return fmt.Errorf("cannot write meta: %w", err)
	}
	pd.enc = len(enc)
	return nil
}

// Seq returns the sequence number the operation gets when committed.
func (pd *Pending) Seq() uint64 { return pd.seq }

// Commit writes the prepared operation durably (one store batch, synced),
// publishes it to readers and releases the writer lock, and returns its
// sequence number. It does not look at any context: once a caller has
// prepared every part of an operation, each part must be committed. It
// fails only when the store cannot write; the shard then refuses writes
// (ErrStoreFailed) until it has reopened its store, and the operation is
// applied or not as that store holds it.
func (pd *Pending) Commit() (uint64, error) {
	if pd.done {
		return 0, errors.New("shard: operation already committed or aborted")
	}
	pd.done = true
	s := pd.s
	defer s.writes.End()
	defer s.writeMu.Unlock()
	defer pd.b.Close()
	if err := commitBatch(pd.b, !s.noSync); err != nil {
		return 0, s.storeFailed(pd, err)
	}
	s.disk.spent(uint64(pd.b.Len()))
	s.committed(pd)
	return pd.seq, nil
}

// commitBatch commits b, with Sync when sync is set (always but for a
// compaction replaying operations into its new store, which it flushes
// before using it). Pebble treats a failed commit (its log
// could not be written or synced, as on a full disk) as fatal and calls
// Logger.Fatalf, whose panic is turned back into an error here: the shard
// then stops writing to the store (storeFailed) and reopens it before the
// next write, so the process goes on serving reads. The error wraps the
// cause (for example syscall.ENOSPC) when Pebble's message names it.
func commitBatch(b *pebble.Batch, sync bool) (err error) {
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(pebbleFatal)
			if !ok {
				panic(r)
			}
			err = f
			if strings.Contains(f.msg, syscall.ENOSPC.Error()) {
				err = fmt.Errorf("%w: %w", f, syscall.ENOSPC)
			}
		}
	}()
	if !sync {
		return b.Commit(pebble.NoSync)
	}
	return b.Commit(pebble.Sync)
}

// committed records a committed operation in the op-log bookkeeping and
// publishes it. Caller holds writeMu.
func (s *Shard) committed(pd *Pending) {
	if s.logFirst == 0 {
		s.logFirst, s.logFirstOff = pd.seq, s.nextOff
	}
	if pd.epoch != 0 {
		s.mu.Lock()
		s.epochs = append(s.epochs, epochStart{Epoch: pd.epoch, Seq: pd.seq})
		s.mu.Unlock()
	}
	size := s.opSize(pd.enc, s.nextOff, pd.p.nextOff)
	s.logSizes = append(s.logSizes, size)
	s.logBytes += size
	s.publish(pd.p, pd.seq)
}

// Abort drops the prepared operation and releases the writer lock. It does
// nothing after Commit or a first Abort.
func (pd *Pending) Abort() {
	if pd.done {
		return
	}
	pd.done = true
	pd.b.Close()
	pd.s.writeMu.Unlock()
	pd.s.writes.End()
}

func countOps(op *api.UpdateOperation) int {
	n := 0
	for _, set := range []bool{op.Upsert != nil, op.Delete != nil, op.SetPayload != nil, op.OverwritePayload != nil,
		op.DeletePayload != nil, op.ClearPayload != nil, op.UpdateVectors != nil, op.DeleteVectors != nil} {
		if set {
			n++
		}
	}
	return n
}

// change is the state of one point after an operation.
type change struct {
	id         api.PointID
	exists     bool              // the point exists after the operation
	vectors    api.Vectors       // all its dense vectors after the operation
	sparse     api.SparseVectors // all its sparse vectors after the operation
	multi      api.MultiVectors  // all its multi-vectors after the operation
	newVecs    bool              // vectors changed: the point moves to a new offset
	payloadLen uint32            // the length of its payload's JSON, set by write
	hadOld     bool              // the point existed before the operation
	oldOff     uint32
	newOff     uint32 // assigned by write

	// payload is its payload after the operation once payloadSet; until
	// then it is the old payload. The old payload is read only when
	// needed (plan.old): with payloads on disk, reading it is a store read.
	payload    api.Payload
	payloadSet bool
	oldPayload api.Payload
	oldLoaded  bool
}

// plan is an operation resolved against the current state, before any of
// it is written. Built under writeMu, which makes reading the in-memory
// state without mu safe (only writers change it).
type plan struct {
	s       *Shard
	order   []*change
	changes map[api.PointID]*change
	nextOff uint32
	// pr reads the payloads of points as they are before the operation;
	// its error fails the operation.
	pr *payloadReader
}

// old returns c's payload before the operation (nil for a new point).
func (p *plan) old(c *change) api.Payload {
	if c.hadOld && !c.oldLoaded {
		c.oldPayload, c.oldLoaded = p.pr.at(c.oldOff), true
	}
	return c.oldPayload
}

// payload returns c's payload as the operation has left it so far.
func (p *plan) payload(c *change) api.Payload {
	if c.payloadSet {
		return c.payload
	}
	return p.old(c)
}

// setPayload sets c's payload after the operation.
func (c *change) setPayload(pl api.Payload) { c.payload, c.payloadSet = pl, true }

// view returns the change record for id, creating it from the current state.
func (p *plan) view(id api.PointID) *change {
	if c := p.changes[id]; c != nil {
		return c
	}
	c := &change{id: id}
	if off, ok := p.s.ids.lookup(id); ok {
		c.exists, c.hadOld, c.oldOff = true, true, off
		c.vectors = p.s.vectorsAt(off, nil)
		c.sparse = p.s.sparseAt(off, nil)
		c.multi = p.s.multiAt(off, nil)
	}
	p.changes[id] = c
	p.order = append(p.order, c)
	return c
}

// exists reports whether id exists as the operation has left it so far.
func (p *plan) exists(id api.PointID) bool {
	if c := p.changes[id]; c != nil {
		return c.exists
	}
	_, ok := p.s.ids.lookup(id)
	return ok
}

// upsertApplies reports whether an upsert of id takes effect under mode
// and update filter m (nil: none): insert_only skips existing points,
// update_only skips missing ones, and an existing point is replaced only
// when it matches m. The state seen is the one left by the operation's
// earlier points.
func (p *plan) upsertApplies(mode api.UpdateMode, m *filter.Matcher, id api.PointID) bool {
	exists := p.exists(id)
	switch {
	case mode == api.UpdateModeInsertOnly && exists:
		return false
	case mode == api.UpdateModeUpdateOnly && !exists:
		return false
	case m != nil && exists && !p.matches(m, id):
		return false
	}
	return true
}

// matches reports whether id exists and matches m (nil: any) as the
// operation has left it so far.
func (p *plan) matches(m *filter.Matcher, id api.PointID) bool {
	c := p.changes[id]
	if c == nil {
		off, ok := p.s.ids.lookup(id)
		return ok && p.pr.match(m, off)
	}
	if !c.exists {
		return false
	}
	if m == nil {
		return true
	}
	var pl api.Payload
	if m.ReadsPayload() {
		pl = p.payload(c)
	}
	return m.Match(id, pl, func(n string) bool {
		_, ok := c.vectors[n]
		_, okSparse := c.sparse[n]
		_, okMulti := c.multi[n]
		return ok || okSparse || okMulti
	})
}

// selectPoints resolves a points/filter selector against the current state.
// Without ids it selects every point matching f. With ids, missing points
// are an error when mustExist, and skipped otherwise; f further restricts
// the listed points.
func (p *plan) selectPoints(ids []api.PointID, f *api.Filter, mustExist bool) ([]api.PointID, error) {
	m, err := p.s.pidx.compile(f)
	if err != nil {
		return nil, err
	}
	if ids == nil {
		if f == nil {
			return nil, nil
		}
		// From the payload indexes' candidates when they narrow f down
		// (an exact answer reads no payload); under writeMu the state
		// cannot change meanwhile.
		var out []api.PointID
		err := p.s.matchingFilter(context.Background(), p.pr, f, m, func(off uint32) {
			out = append(out, p.s.ids.at(off))
		})
		return out, err
	}
	out := make([]api.PointID, 0, len(ids))
	for _, id := range ids {
		if !p.exists(id) {
			if mustExist {
				return nil, api.ErrPointNotFound(id)
			}
			continue
		}
		if m != nil && !p.matches(m, id) {
			continue
		}
		out = append(out, id)
	}
	return out, nil
}

func (p *plan) checkVectors(v api.Vectors) error {
	for name, vec := range v {
		sp := p.s.spaces[name]
		if sp == nil {
			return api.ErrBadInput("Not existing vector name error: %s", name)
		}
		if len(vec) != sp.dim {
			return api.ErrBadInput("Vector dimension error: expected dim: %d, got %d", sp.dim, len(vec))
		}
		if err := api.CheckFinite(name, vec); err != nil {
			return err
		}
	}
	return nil
}

// checkSparse validates sparse vectors against the configured names.
func (p *plan) checkSparse(v api.SparseVectors) error {
	for name, sv := range v {
		if p.s.sparse[name] == nil {
			return api.ErrBadInput("Not existing vector name error: %s", name)
		}
		if err := sv.Validate(name); err != nil {
			return err
		}
	}
	return nil
}

// checkMulti validates multi-vectors against the configured names and
// dimensions.
func (p *plan) checkMulti(v api.MultiVectors) error {
	for name, vs := range v {
		ms := p.s.multi[name]
		if ms == nil {
			return api.ErrBadInput("Not existing vector name error: %s", name)
		}
		if len(vs) == 0 {
			return api.ErrBadInput("multi-vector %q must hold at least one vector", name)
		}
		for _, vec := range vs {
			if len(vec) != ms.dim {
				return api.ErrBadInput("Vector dimension error: expected dim: %d, got %d", ms.dim, len(vec))
			}
			if err := api.CheckFinite(name, vec); err != nil {
				return err
			}
		}
	}
	return nil
}

// cloneMulti deep-copies v (nil for none).
func cloneMulti(v api.MultiVectors) api.MultiVectors {
	if len(v) == 0 {
		return nil
	}
	out := make(api.MultiVectors, len(v))
	for name, vs := range v {
		c := make([][]float32, len(vs))
		for i, vec := range vs {
			c[i] = slices.Clone(vec)
		}
		out[name] = c
	}
	return out
}

// sortedSparse returns v with every vector sorted by index (nil for none).
func sortedSparse(v api.SparseVectors) api.SparseVectors {
	if len(v) == 0 {
		return nil
	}
	out := make(api.SparseVectors, len(v))
	for name, sv := range v {
		sv = sv.Sorted()
		out[name] = api.SparseVector{Indices: slices.Clone(sv.Indices), Values: slices.Clone(sv.Values)}
	}
	return out
}

func checkPayload(pl api.Payload) error {
	if pl == nil {
		return nil
	}
	return api.CheckPayloadDepth(pl)
}

// build resolves op into changes, validating everything first.
func (p *plan) build(op *api.UpdateOperation) error {
	switch {
	case op.Upsert != nil:
		up := op.Upsert
		m, err := p.s.pidx.compile(up.UpdateFilter)
		if err != nil {
			return err
		}
		for i := range up.Points {
			pt := &up.Points[i]
			if err := p.checkVectors(pt.Vector); err != nil {
				return err
			}
			if err := p.checkSparse(pt.Sparse); err != nil {
				return err
			}
			if err := p.checkMulti(pt.Multi); err != nil {
				return err
			}
			if err := checkPayload(pt.Payload); err != nil {
				return err
			}
		}
		for i := range up.Points {
			pt := &up.Points[i]
			if !p.upsertApplies(up.UpdateMode, m, pt.ID) {
				continue
			}
			c := p.view(pt.ID)
			c.exists, c.newVecs = true, true
			c.vectors = maps.Clone(pt.Vector)
			if c.vectors == nil {
				c.vectors = api.Vectors{}
			}
			c.sparse = sortedSparse(pt.Sparse)
			c.multi = cloneMulti(pt.Multi)
			c.setPayload(pt.Payload)
		}
	case op.Delete != nil:
		ids, err := p.selectPoints(op.Delete.Points, op.Delete.Filter, false)
		if err != nil {
			return err
		}
		for _, id := range ids {
			c := p.view(id)
			c.exists = false
		}
	case op.SetPayload != nil, op.OverwritePayload != nil:
		sp, overwrite := op.SetPayload, false
		if sp == nil {
			sp, overwrite = op.OverwritePayload, true
		}
		if err := checkPayload(sp.Payload); err != nil {
			return err
		}
		key := ""
		if sp.Key != nil {
			key = *sp.Key
			if _, err := filter.ParsePath(key); err != nil {
				return err
			}
		}
		ids, err := p.selectPoints(sp.Points, sp.Filter, true)
		if err != nil {
			return err
		}
		for _, id := range ids {
			c := p.view(id)
			cur := p.payload(c)
			if overwrite {
				if key == "" {
					cur = nil
				} else {
					cur = filter.DeleteAt(cur, key)
				}
			}
			np, err := filter.SetAt(cur, key, sp.Payload)
			if err != nil {
				return err
			}
			if err := checkPayload(np); err != nil {
				return err
			}
			c.setPayload(np)
		}
	case op.DeletePayload != nil:
		dp := op.DeletePayload
		for _, k := range dp.Keys {
			if _, err := filter.ParsePath(k); err != nil {
				return err
			}
		}
		ids, err := p.selectPoints(dp.Points, dp.Filter, true)
		if err != nil {
			return err
		}
		for _, id := range ids {
			c := p.view(id)
			pl := p.payload(c)
			for _, k := range dp.Keys {
				pl = filter.DeleteAt(pl, k)
			}
			c.setPayload(pl)
		}
	case op.ClearPayload != nil:
		ids, err := p.selectPoints(op.ClearPayload.Points, op.ClearPayload.Filter, true)
		if err != nil {
			return err
		}
		for _, id := range ids {
			p.view(id).setPayload(nil)
		}
	case op.UpdateVectors != nil:
		uv := op.UpdateVectors
		m, err := p.s.pidx.compile(uv.UpdateFilter)
		if err != nil {
			return err
		}
		for i := range uv.Points {
			if err := p.checkVectors(uv.Points[i].Vector); err != nil {
				return err
			}
			if err := p.checkSparse(uv.Points[i].Sparse); err != nil {
				return err
			}
			if err := p.checkMulti(uv.Points[i].Multi); err != nil {
				return err
			}
		}
		for i := range uv.Points {
			pt := &uv.Points[i]
			if !p.exists(pt.ID) {
				return api.ErrPointNotFound(pt.ID)
			}
			if m != nil && !p.matches(m, pt.ID) {
				continue
			}
			c := p.view(pt.ID)
			nv := maps.Clone(c.vectors)
			if nv == nil {
				nv = api.Vectors{}
			}
			maps.Copy(nv, pt.Vector)
			c.vectors, c.newVecs = nv, true
			if len(pt.Sparse) > 0 {
				ns := maps.Clone(c.sparse)
				if ns == nil {
					ns = api.SparseVectors{}
				}
				maps.Copy(ns, sortedSparse(pt.Sparse))
				c.sparse = ns
			}
			if len(pt.Multi) > 0 {
				nm := maps.Clone(c.multi)
				if nm == nil {
					nm = api.MultiVectors{}
				}
				maps.Copy(nm, cloneMulti(pt.Multi))
				c.multi = nm
			}
		}
	case op.DeleteVectors != nil:
		dv := op.DeleteVectors
		for _, name := range dv.Vector {
			if p.s.spaces[name] == nil && p.s.sparse[name] == nil && p.s.multi[name] == nil {
				return api.ErrBadInput("Not existing vector name error: %s", name)
			}
		}
		ids, err := p.selectPoints(dv.Points, dv.Filter, true)
		if err != nil {
			return err
		}
		for _, id := range ids {
			c := p.view(id)
			nv, ns, nm := maps.Clone(c.vectors), maps.Clone(c.sparse), maps.Clone(c.multi)
			changed := false
			for _, name := range dv.Vector {
				if _, ok := nm[name]; ok {
					delete(nm, name)
					changed = true
				}
				if _, ok := nv[name]; ok {
					delete(nv, name)
					changed = true
				}
				if _, ok := ns[name]; ok {
					delete(ns, name)
					changed = true
				}
			}
			if changed {
				c.vectors, c.sparse, c.multi, c.newVecs = nv, ns, nm, true
			}
		}
	}
	if p.pr.err != nil {
		return p.pr.err
	}
	// The payloads after the operation, and the old ones wherever the
	// payload indexes need them to remove the old values (always, when
	// they are in memory: reading them costs nothing).
	indexed := !p.s.opts.OnDiskPayload || len(p.s.pidx.schemas) > 0
	for _, c := range p.order {
		if c.exists {
			c.setPayload(p.payload(c))
		}
		if indexed {
			p.old(c)
		}
	}
	return p.pr.err
}

// write adds the plan's point records to b, assigning offsets. The vectors
// of an offset that dies are deleted with it unless an operation still in
// the op log refers to them (the offset is at or above logFirstOff); those
// are deleted when the log is truncated past the operation that stored
// them.
func (p *plan) write(b *pebble.Batch, seq uint64) error {
	for _, c := range p.order {
		var oldNames []string
		if c.hadOld {
			oldNames = p.s.namesAt(c.oldOff)
		}
		if c.hadOld && (!c.exists || c.newVecs) && c.oldOff < p.s.logFirstOffset() {
			for _, n := range oldNames {
				if err := b.Delete(vectorKey(c.oldOff, n), nil); err != nil {
					return fmt.Errorf("cannot delete vector: %w", err)
				}
			}
		}
		if !c.exists {
			if !c.hadOld {
				continue
			}
			if err := b.Delete(pointKey(c.id), nil); err != nil {
				return fmt.Errorf("cannot delete point %s: %w", c.id, err)
			}
			continue
		}
		off := c.oldOff
		if c.newVecs || !c.hadOld {
			off = p.nextOff
			p.nextOff++
			c.newVecs = true
		}
		c.newOff = off
		names := slices.Sorted(maps.Keys(c.vectors))
		if len(c.sparse) > 0 || len(c.multi) > 0 {
			names = slices.Sorted(func(yield func(string) bool) {
				for n := range c.multi {
					if !yield(n) {
						return
					}
				}
				for n := range c.vectors {
					if !yield(n) {
						return
					}
				}
				for n := range c.sparse {
					if !yield(n) {
						return
					}
				}
			})
		}
		h := pointHeader{Version: seq, Offset: off, Names: names, Payload: c.payload}
		v, err := h.encode()
		if err != nil {
			return err
		}
		c.payloadLen = uint32(h.PayloadLen)
		if err := b.Set(pointKey(c.id), v, nil); err != nil {
			return fmt.Errorf("cannot write point %s: %w", c.id, err)
		}
		if !c.newVecs {
			continue
		}
		for _, n := range names {
			if vs, ok := c.multi[n]; ok {
				if err := b.Set(vectorKey(off, n), encodeMulti(vs, p.s.multi[n].dim), nil); err != nil {
					return fmt.Errorf("cannot write multi-vector: %w", err)
				}
				continue
			}
			if sv, ok := c.sparse[n]; ok {
				if err := b.Set(vectorKey(off, n), encodeSparse(sv), nil); err != nil {
					return fmt.Errorf("cannot write sparse vector: %w", err)
				}
				continue
			}
			vec := c.vectors[n]
			d := b.SetDeferred(5+len(n), 4*len(vec))
			copy(d.Key, vectorKey(off, n))
			putFloats(d.Value, vec)
			if err := d.Finish(); err != nil {
				return fmt.Errorf("cannot write vector: %w", err)
			}
		}
	}
	if p.nextOff < p.s.nextOff {
		panic("shard: offset counter went backwards")
	}
	return nil
}

// storedAt is the plan's vecRef: the new offset of id when this operation
// stored exactly vec (the same slice) as its vector name there. A point
// that appears twice in one operation, or one skipped by an update filter,
// does not match and is logged inline.
func (p *plan) storedAt(id api.PointID, name string, vec []float32) (uint32, bool) {
	c := p.changes[id]
	if c == nil || !c.exists || !c.newVecs || len(vec) == 0 {
		return 0, false
	}
	have, ok := c.vectors[name]
	if !ok || len(have) != len(vec) || unsafe.SliceData(have) != unsafe.SliceData(vec) {
		return 0, false
	}
	return c.newOff, true
}

// publish makes a committed plan visible to readers and queues index work.
func (s *Shard) publish(p *plan, seq uint64) {
	s.mu.Lock()
	s.growTo(p.nextOff)
	for _, c := range p.order {
		moved := c.hadOld && (!c.exists || c.newOff != c.oldOff)
		if moved {
			old := c.oldOff
			s.pidx.remove(old, c.oldPayload)
			s.payloadBytes -= uint64(s.psize[old])
			s.psize[old] = 0
			if !s.opts.OnDiskPayload {
				s.payloads[old] = nil
			}
			s.live.clear(old)
			s.nLive--
			for _, sp := range s.spaces {
				if sp.has.has(old) {
					sp.count--
					sp.retire(old)
				}
			}
			for _, ss := range s.sparse {
				ss.idx.Remove(old)
			}
			for _, ms := range s.multi {
				ms.remove(old)
			}
			if !c.exists {
				s.ids.unbind(c.id)
			}
		}
		if !c.exists {
			continue
		}
		off := c.newOff
		if !moved && c.hadOld {
			// Payload-only change in place.
			s.pidx.remove(off, c.oldPayload)
			s.payloadBytes -= uint64(s.psize[off])
		} else {
			for name, vec := range c.vectors {
				sp := s.spaces[name]
				sp.setVector(off, vec)
				sp.has.set(off)
				sp.count++
			}
			for name, sv := range c.sparse {
				s.sparse[name].idx.Add(off, toIndexVector(sv))
			}
			for name, vs := range c.multi {
				s.multi[name].set(off, vs)
			}
			s.live.set(off)
			s.nLive++
			s.ids.bind(c.id, off)
		}
		s.version[off] = seq
		s.psize[off] = c.payloadLen
		s.payloadBytes += uint64(c.payloadLen)
		if !s.opts.OnDiskPayload {
			s.payloads[off] = c.payload
		}
		s.pidx.add(off, c.payload)
	}
	// Queue the new offsets for their graphs while readers are excluded,
	// so that a reader finds every published vector in the graph or in
	// the unindexed tail.
	for _, c := range p.order {
		if c.exists && c.newVecs {
			for name := range c.vectors {
				s.spaces[name].enqueue(c.newOff)
			}
		}
	}
	for _, sp := range s.spaces {
		if j := sp.maybeStartIndexing(s.live); j != nil {
			s.trainInBackground(j) // started under the lock, so before a Close
		}
	}
	s.lastSeq = seq
	s.nextOff = p.nextOff
	s.renewView()
	s.mu.Unlock()
}

// vectorsAt returns the vectors stored at off (all names when names is nil).
// The slices alias a float32 store (offsets are immutable, so they never
// change) and are decoded copies for float16 and uint8 stores.
func (s *Shard) vectorsAt(off uint32, names []string) api.Vectors {
	out := api.Vectors{}
	if names == nil {
		for name, sp := range s.spaces {
			if sp.has.has(off) {
				out[name] = sp.store.Vector(off)
			}
		}
		return out
	}
	for _, name := range names {
		if sp := s.spaces[name]; sp != nil && sp.has.has(off) {
			out[name] = sp.store.Vector(off)
		}
	}
	return out
}

// namesAt returns the sorted vector names stored at off.
func (s *Shard) namesAt(off uint32) []string {
	var out []string
	for name, sp := range s.spaces {
		if sp.has.has(off) {
			out = append(out, name)
		}
	}
	for name, ss := range s.sparse {
		if ss.idx.Has(off) {
			out = append(out, name)
		}
	}
	for name, ms := range s.multi {
		if ms.has(off) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func (s *Shard) hasVectorFunc(off uint32) func(string) bool {
	return func(name string) bool {
		if sp := s.spaces[name]; sp != nil {
			return sp.has.has(off)
		}
		if ss := s.sparse[name]; ss != nil {
			return ss.idx.Has(off)
		}
		if ms := s.multi[name]; ms != nil {
			return ms.has(off)
		}
		return false
	}
}
