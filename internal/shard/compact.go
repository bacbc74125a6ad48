package shard

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/durable"
	"github.com/shoal-db/shoal/internal/index/sparse"
)

// Compaction renumbers a shard's offsets.
//
// Offsets are never reused (see the package doc): every write that changes a
// point's vectors takes a new one, so under steady updates the offset
// counter grows without bound (uint32 runs out), and the per-offset arrays,
// the vector stores, index files and graph nodes of dead offsets stay
// behind. Compaction is the one mechanism that bounds them: once dead
// offsets (taken and no longer live) exceed Options.CompactRatio of the
// live points and Options.CompactMinDead, the maintenance loop rewrites the
// shard with dense offsets 0..live-1 (docs/format/shard.md, "Compaction"):
//
//  1. Phase 1, while writes go on: a new Pebble store is written into
//     <dir>/store.compact from a snapshot of the current one: every point
//     header with its new offset, its vectors under the new offset, the op
//     log with every vector a record referred to by offset written inline
//     (so the log refers to no offset), and the meta record with the
//     snapshot's last sequence and the new offset counter. The op log is
//     not truncated until the compaction ends. The new store's in-memory
//     state is loaded beside the current one, as Open loads a store, and
//     the graphs' dead nodes are deleted and repaired.
//  2. Phase 2, under the writer lock: the operations applied since the
//     snapshot are applied to the new store in order (replayInto), then
//     the index files (which describe the old offsets) are deleted.
//  3. Each HNSW graph, repaired again for what died meanwhile, is copied with the new offsets
//     (hnsw.Graph.Remap); live vectors it lacked are queued for the
//     background indexer (searches scan the queue exactly meanwhile).
//  4. With readers held out for a moment, the old store is closed, the two
//     store directories are exchanged atomically (renameat2
//     RENAME_EXCHANGE) and the directory synced, the new store is opened,
//     and the new in-memory state replaces the old one.
//  5. The old store (now in store.compact) is deleted, and index files of
//     the new offsets are written.
//
// A crash before the exchange leaves the old store in place; one after
// leaves the new one; Open deletes store.compact either way. Both stores
// hold the same points, versions, payloads, vectors and operations, so
// nothing is lost; only the index files are gone after step 2, and Open
// rebuilds the graphs from the store.
//
// A checkpoint whose store was taken before a compaction writes no index
// files (they would describe the new offsets); its Open rebuilds them.

// Defaults of Options.CompactRatio and Options.CompactMinDead.
const (
	DefaultCompactRatio   = 0.5
	DefaultCompactMinDead = 65_536
)

// compactDirName is the directory a compaction builds the new store in
// (and, after the exchange, the one that holds the old store).
const compactDirName = "store.compact"

// compactBatchBytes bounds the batches that write the compacted store.
const compactBatchBytes = 16 << 20

// Steps of a compaction reported to Options.compactStep (tests kill the
// process at each).
const (
	compactStepBuilt     = "built"
	compactStepLoaded    = "loaded"
	compactStepReplayed  = "replayed"
	compactStepUncached  = "index-removed"
	compactStepExchanged = "exchanged"
	compactStepPublished = "published"
	compactStepDone      = "done"
)

// compactDue reports whether dead offsets exceed the thresholds, or a
// dense vector's heap store has grown past memmap_threshold (the
// compaction's new store then maps it, as Open does). Caller holds
// writeMu (nextOff and nLive change only under it).
func (s *Shard) compactDue() bool {
	for _, sp := range s.spaces {
		// The live count, which the compacted store's offsets will be,
		// so that a compaction that leaves the vectors on the heap is
		// not due again at once.
		p := api.VectorParams{Size: sp.dim, Datatype: s.opts.Vectors[sp.name].Datatype}
		if !sp.onDisk && memmapDue(p, s.opts.Optimizers, uint32(sp.count)) {
			return true
		}
	}
	if s.opts.CompactRatio < 0 {
		return false
	}
	dead := int64(s.nextOff) - int64(s.nLive)
	return dead >= int64(s.opts.CompactMinDead) && float64(dead) > s.opts.CompactRatio*float64(s.nLive)
}

// Compact renumbers the shard's offsets now, whatever the thresholds (see
// the description above). Writes wait only for its second phase, reads only
// for the switch.
func (s *Shard) Compact(ctx context.Context) error {
	_, err := s.compact(ctx, true)
	return err
}

// Compactions returns how many compactions the shard has completed since
// it was opened.
func (s *Shard) Compactions() uint64 { return s.compactions.Load() }

// maybeCompact compacts when the thresholds say so (the maintenance loop).
func (s *Shard) maybeCompact(ctx context.Context) {
	s.writeMu.Lock()
	due := !s.closed && s.compactDue()
	s.writeMu.Unlock()
	if !due {
		return
	}
	done, err := s.compact(ctx, false)
	switch {
	case err != nil && !errors.Is(err, ErrClosed) && ctx.Err() == nil:
		s.log.Error("compaction failed", "err", err)
		s.bgErr.Store(&bgError{"compaction failed: " + err.Error()})
	case done:
		if e := s.bgErr.Load(); e != nil && strings.HasPrefix(e.msg, "compaction") {
			s.bgErr.CompareAndSwap(e, nil)
		}
	}
}

func (s *Shard) compactStep(step string) {
	if s.opts.compactStep != nil {
		s.opts.compactStep(step)
	}
}

// compact runs a compaction when force or when it is due, and reports
// whether it ran.
func (s *Shard) compact(ctx context.Context, force bool) (bool, error) {
	// persistMu first and throughout: no index file is written while the
	// offsets change.
	s.persistMu.Lock()
	defer s.persistMu.Unlock()

	// Phase 1, writes going on: copy a snapshot of the store.
	s.writeMu.Lock()
	if s.closed {
		s.writeMu.Unlock()
		return false, ErrClosed
	}
	if s.storeErr != nil || s.db == nil || (!force && !s.compactDue()) {
		// (A failed store is recovered by the next write first.)
		s.writeMu.Unlock()
		return false, nil
	}
	start := time.Now()
	before := s.nextOff
	snap := s.db.NewSnapshot()
	s.compacting = true // the op log keeps what phase 2 replays
	s.writeMu.Unlock()
	defer func() {
		s.writeMu.Lock()
		s.compacting = false
		s.writeMu.Unlock()
	}()
	dir := s.opts.Dir
	tmp := filepath.Join(dir, compactDirName)
	fail := func(err error) (bool, error) {
		os.RemoveAll(tmp)
		return false, fmt.Errorf("cannot compact shard: %w", err)
	}
	// Readers of the store hold closeMu shared; so does phase 1, so that
	// the snapshot's store is not closed (recoverStore, Close) under it.
	s.closeMu.RLock()
	err := os.RemoveAll(tmp)
	if err == nil {
		err = s.writeCompacted(ctx, snap, tmp)
	}
	snap.Close()
	s.closeMu.RUnlock()
	if err != nil {
		return fail(err)
	}
	if err := durable.SyncDir(dir); err != nil {
		return fail(err)
	}
	s.compactStep(compactStepBuilt)
	ns, err := s.loadCompacted(tmp)
	if err != nil {
		return fail(err)
	}
	closeNS := func() {
		ns.closeView()
		if ns.db != nil {
			ns.db.Close()
			ns.db = nil
		}
	}
	defer closeNS()
	// ns's multi-vector stores (files, for on_disk names) are released
	// unless adopt took them.
	defer func() {
		for _, ms := range ns.multi {
			if ms.store != nil {
				_ = ms.close()
			}
		}
	}()
	s.repairDead()
	s.compactStep(compactStepLoaded)

	// Phase 2, writes waiting: the operations applied meanwhile, then
	// the switch.
	s.writeMu.Lock()
	wlocked := true
	defer func() {
		if wlocked {
			s.writeMu.Unlock()
		}
	}()
	if s.closed {
		closeNS()
		return fail(ErrClosed)
	}
	if s.storeErr != nil || s.db == nil {
		closeNS()
		return fail(errors.New("the store failed meanwhile"))
	}
	if err := s.replayInto(ctx, ns); err != nil {
		closeNS()
		return fail(err)
	}
	if err := ns.db.Flush(); err != nil {
		closeNS()
		return fail(err)
	}
	// The payload indexes the shard has now (created or dropped since
	// Open, which is all ns knows of), over the new offsets; read before
	// ns's store closes, which holds the payloads when they are on disk.
	pidx, err := newPayloadIndexes(s.pidx.schemas)
	if err != nil {
		closeNS()
		return fail(err)
	}
	if err := ns.eachLivePayload(pidx.add); err != nil {
		closeNS()
		return fail(err)
	}
	ns.pidx = pidx
	closeNS()
	s.compactStep(compactStepReplayed)

	// The index files describe the old offsets: gone before the new
	// store can be the one Open finds.
	if err := os.RemoveAll(filepath.Join(dir, indexDirName)); err != nil {
		return fail(err)
	}
	if err := durable.SyncDir(dir); err != nil {
		return fail(err)
	}
	s.persistedOK = false
	for _, sp := range s.spaces {
		sp.dirty.Store(true)
	}
	s.compactStep(compactStepUncached)
	s.remapGraphs(ns)

	// Readers of the store hold closeMu (ReadOps) or mu (scrolls) shared;
	// repairMu keeps repairs, reachability checks and chunk releases off
	// the spaces while they change. Lock order: repairMu, then mu.
	spaces := s.sortedSpaces()
	s.closeMu.Lock()
	for _, sp := range spaces {
		sp.repairMu.Lock()
	}
	s.mu.Lock()
	unlock := func() {
		s.mu.Unlock()
		for _, sp := range spaces {
			sp.repairMu.Unlock()
		}
		s.closeMu.Unlock()
	}
	store := filepath.Join(dir, "store")
	s.closeView()
	if err := s.db.Close(); err != nil {
		s.log.Warn("closing the store before the compacted one replaces it", "err", err)
	}
	s.db = nil
	swapped, err := exchange(tmp, store)
	if err == nil && !swapped {
		err = errors.New("the file system cannot exchange directories atomically (renameat2 RENAME_EXCHANGE)")
	}
	if err == nil {
		err = durable.SyncDir(dir)
	}
	if err != nil && !swapped {
		// Nothing changed on disk but the index files: go on with the
		// old store (the next persistence writes them again).
		db, oerr := pebble.Open(store, s.pebbleOptions())
		if oerr != nil {
			s.storeErr = fmt.Errorf("cannot reopen store after a failed compaction: %w", oerr)
			s.storeBroken.Store(true)
		} else {
			s.db = db
			s.renewView()
		}
		unlock()
		return fail(err)
	}
	s.compactStep(compactStepExchanged)
	// The store in place is the compacted one from here on: the memory
	// must describe it, whatever happens next.
	s.adopt(ns)
	db, err := pebble.Open(store, s.pebbleOptions())
	if err != nil {
		// Writes are refused until recoverStore reopens it.
		s.storeErr = fmt.Errorf("cannot open the compacted store: %w", err)
		s.storeBroken.Store(true)
	} else {
		s.db = db
		s.renewView()
	}
	s.compactions.Add(1)
	unlock()
	after, points := s.nextOff, s.nLive
	wlocked = false
	s.writeMu.Unlock()
	s.compactStep(compactStepPublished)
	if err := os.RemoveAll(tmp); err != nil {
		s.log.Warn("cannot remove the store a compaction replaced", "err", err)
	} else if err := durable.SyncDir(dir); err != nil {
		s.log.Warn("cannot sync the shard directory", "err", err)
	}
	// Index files of the new offsets at once (persistMu is still held),
	// so that a restart does not rebuild the graphs.
	seq := s.LastSeq()
	for _, sp := range s.spaces {
		sp.dirty.Store(false)
	}
	if err := s.writeIndexFiles(ctx, dir, seq, true, true); err != nil {
		s.log.Warn("cannot write index files after a compaction", "err", err)
		for _, sp := range s.spaces {
			sp.dirty.Store(true)
		}
	} else {
		s.persistedAt, s.persistedOK = seq, true
	}
	s.compactStep(compactStepDone)
	s.log.Info("shard compacted", "offsets_before", before, "offsets_after", after, "points", points, "took", time.Since(start))
	return true, nil
}

// replayInto applies to ns, the compacted copy, the operations applied to
// the shard after the snapshot it was made from, in order, as the shard
// applied them (the same sequence numbers, so the same versions). Caller
// holds writeMu.
func (s *Shard) replayInto(ctx context.Context, ns *Shard) error {
	from := ns.lastSeq + 1
	if s.lastSeq >= from {
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: opKey(from), UpperBound: opKey(s.lastSeq + 1)})
		if err != nil {
			return fmt.Errorf("cannot read op log: %w", err)
		}
		defer it.Close()
		want := from
		for ok := it.First(); ok; ok = it.Next() {
			seq := seqFromOpKey(it.Key())
			if seq != want {
				return fmt.Errorf("cannot replay operation %d: the op log holds %d: %w", want, seq, errCorrupt)
			}
			v, err := it.ValueAndErr()
			if err != nil {
				return fmt.Errorf("cannot read operation %d: %w", seq, err)
			}
			op, err := decodeOp(v, func(off uint32, name string) ([]float32, error) {
				v, closer, err := s.db.Get(vectorKey(off, name))
				if err != nil {
					return nil, fmt.Errorf("cannot read vector %q at offset %d: %w", name, off, err)
				}
				defer closer.Close()
				return decodeFloats(v)
			})
			if err != nil {
				return fmt.Errorf("cannot read operation %d: %w", seq, err)
			}
			// With its epoch, so that the new store's epoch table
			// (keyspace 0x05) gains the epochs begun meanwhile.
			pd, err := ns.prepareAt(ctx, s.EpochOf(seq), seq, op)
			if err != nil {
				return fmt.Errorf("cannot replay operation %d: %w", seq, err)
			}
			if pd == nil {
				return fmt.Errorf("operation %d replayed as a duplicate: %w", seq, errCorrupt)
			}
			if _, err := pd.Commit(); err != nil {
				return fmt.Errorf("cannot replay operation %d: %w", seq, err)
			}
			want++
		}
		if err := it.Error(); err != nil {
			return fmt.Errorf("cannot read op log: %w", err)
		}
	}
	if ns.lastSeq != s.lastSeq || ns.nLive != s.nLive {
		return fmt.Errorf("the compacted copy is at sequence %d with %d points, the shard at %d with %d: %w", ns.lastSeq, ns.nLive, s.lastSeq, s.nLive, errCorrupt)
	}
	return nil
}

// writeCompacted writes the compacted copy of the store as snap sees it
// into dir (step 1).
func (s *Shard) writeCompacted(ctx context.Context, snap *pebble.Snapshot, dir string) (err error) {
	db, err := pebble.Open(dir, s.pebbleOptions())
	if err != nil {
		return fmt.Errorf("cannot create the compacted store: %w", err)
	}
	defer func() {
		// The logger's Fatalf panics (disk full, ...): the old store is
		// untouched, so the compaction just fails.
		if r := recover(); r != nil {
			f, ok := r.(pebbleFatal)
			if !ok {
				panic(r)
			}
			err = f
			return
		}
		if cerr := db.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("cannot close the compacted store: %w", cerr)
		}
	}()
	b := db.NewBatch()
	defer func() { b.Close() }()
	flush := func(opts *pebble.WriteOptions) error {
		if err := b.Commit(opts); err != nil {
			return err
		}
		b.Close()
		b = db.NewBatch()
		return nil
	}
	it, err := snap.NewIter(nil)
	if err != nil {
		return fmt.Errorf("cannot read the store: %w", err)
	}
	defer it.Close()
	var next uint32
	var m meta
	load := func(off uint32, name string) ([]float32, error) {
		v, closer, err := snap.Get(vectorKey(off, name))
		if err != nil {
			return nil, fmt.Errorf("cannot read vector %q at offset %d: %w", name, off, err)
		}
		defer closer.Close()
		return decodeFloats(v)
	}
	for i, ok := 0, it.First(); ok; i, ok = i+1, it.Next() {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		k := it.Key()
		v, err := it.ValueAndErr()
		if err != nil {
			return fmt.Errorf("cannot read the store: %w", err)
		}
		switch k[0] {
		case prefixMeta:
			// Written last, with the new offset counter.
			if m, err = decodeMeta(v); err != nil {
				return err
			}
		case prefixVector:
			// Vectors go with their points.
		case prefixPoint:
			h, err := decodePointHeader(v, false)
			if err != nil {
				return fmt.Errorf("cannot read point %x: %w", k, err)
			}
			// The header with its new offset: bytes 9..12 (see
			// docs/format/shard.md); the rest is kept byte for byte.
			nv := slices.Clone(v)
			binary.LittleEndian.PutUint32(nv[9:13], next)
			if err := b.Set(k, nv, nil); err != nil {
				return err
			}
			for _, name := range h.Names {
				vec, closer, err := snap.Get(vectorKey(h.Offset, name))
				if err != nil {
					return fmt.Errorf("cannot read vector %q of point %x: %w", name, k, err)
				}
				err = b.Set(vectorKey(next, name), vec, nil)
				closer.Close()
				if err != nil {
					return err
				}
			}
			next++
		case prefixOp:
			// Points sort before the op log: next is final here.
			op, err := decodeOp(v, load)
			if err != nil {
				return fmt.Errorf("cannot read operation %d: %w", seqFromOpKey(k), err)
			}
			enc, err := encodeOp(op, next, nil)
			if err != nil {
				return fmt.Errorf("cannot encode operation %d: %w", seqFromOpKey(k), err)
			}
			if err := b.Set(k, enc, nil); err != nil {
				return err
			}
		default:
			if err := b.Set(k, v, nil); err != nil {
				return err
			}
		}
		if b.Len() >= compactBatchBytes {
			if err := flush(pebble.NoSync); err != nil {
				return fmt.Errorf("cannot write the compacted store: %w", err)
			}
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("cannot read the store: %w", err)
	}
	m = meta{Format: storeFormatVersion, LastSeq: m.LastSeq, NextOffset: next}
	if err := b.Set(metaKey, m.encode(), nil); err != nil {
		return err
	}
	if err := flush(pebble.Sync); err != nil {
		return fmt.Errorf("cannot write the compacted store: %w", err)
	}
	// Flushed, so that opening it after the exchange replays no log.
	if err := db.Flush(); err != nil {
		return fmt.Errorf("cannot flush the compacted store: %w", err)
	}
	return nil
}

// loadCompacted builds the in-memory state of the compacted store in dir
// (step 3) as Open would, in a shard value of its own (its store open,
// for replayInto) that only adopt reads.
func (s *Shard) loadCompacted(dir string) (*Shard, error) {
	db, err := pebble.Open(dir, s.pebbleOptions())
	if err != nil {
		return nil, fmt.Errorf("cannot open the compacted store: %w", err)
	}
	opts := s.opts
	opts.MinFreeDiskBytes = -1 // the shard's own guard checked its writes
	ns := &Shard{
		opts:   opts,
		log:    s.log,
		db:     db,
		ids:    newPointIDs(s.nLive),
		spaces: make(map[string]*space),
		sparse: make(map[string]*sparseSpace),
		multi:  make(map[string]*multiSpace),
		writes: s.writes,
	}
	ns.disk = newDiskGuard(dir, -1, s.log)
	ns.noIndexFiles = true
	ns.noSync = true // flushed (synced) before the exchange
	if err := ns.load(); err != nil {
		ns.closeMulti()
		ns.closeView()
		db.Close()
		return nil, err
	}
	return ns, nil
}

// repairDead deletes the nodes of dead offsets from each graph and
// repairs it (phase 1, while writes go on), so that phase 2 repairs only
// what died meanwhile before copying the graph.
func (s *Shard) repairDead() {
	for _, sp := range s.sortedSpaces() {
		g := sp.graph.Load()
		if g == nil {
			continue
		}
		sp.repairMu.Lock()
		var dead []uint32
		s.mu.RLock()
		for off := range s.nextOff {
			if !(s.live.has(off) && sp.has.has(off)) && g.Contains(off) {
				dead = append(dead, off)
			}
		}
		s.mu.RUnlock()
		for _, off := range dead {
			if g.Contains(off) {
				g.Delete(off)
				sp.tomb.Add(1)
			}
		}
		if g.Deleted() > 0 && sp.graph.Load() == g {
			sp.repairLocked(g)
		}
		sp.repairMu.Unlock()
	}
}

// remapGraphs gives ns's spaces copies of the current graphs renumbered to
// ns's offsets (hnsw.Graph.Remap), so that only the vectors the current
// graphs lack are queued for the indexer, not every one. Caller holds
// writeMu (the live set and the offsets stay still).
func (s *Shard) remapGraphs(ns *Shard) {
	for name, sp := range s.spaces {
		nsp := ns.spaces[name]
		old := sp.graph.Load()
		if old == nil || nsp == nil || !nsp.indexing {
			continue
		}
		sp.repairMu.Lock() // no other repair changes the graph meanwhile
		// Offsets retired and not yet deleted by the indexer first.
		for off := range s.nextOff {
			if !(s.live.has(off) && sp.has.has(off)) && old.Contains(off) {
				old.Delete(off)
			}
		}
		if old.Deleted() > 0 {
			// Unlink the dead nodes the way Repair does, relinking their
			// neighbours, rather than just dropping them from the copy:
			// a node whose links all came from dead nodes (an outlier
			// among updated points) would be left without a way in.
			sp.repairLocked(old)
		}
		g := old.Remap(nsp.store, func(off uint32) (uint32, bool) {
			if off >= s.nextOff || !s.live.has(off) || !sp.has.has(off) {
				return 0, false
			}
			no, ok := ns.ids.lookup(s.ids.at(off))
			return no, ok
		})
		sp.repairMu.Unlock()
		var offs []uint32
		ns.live.each(func(off uint32) bool {
			if nsp.has.has(off) && !g.Contains(off) {
				offs = append(offs, off)
			}
			return true
		})
		nsp.graph.Store(g)
		nsp.tomb.Store(0)
		nsp.unchecked.Store(true)
		nsp.qMu.Lock()
		nsp.queue, nsp.queued, nsp.retired = offs, nil, nil
		nsp.pending = make(map[uint32]bool, len(offs))
		for _, off := range offs {
			nsp.pending[off] = false
		}
		nsp.markQueued(len(offs), time.Now().UnixNano())
		nsp.qMu.Unlock()
	}
}

// adopt replaces the in-memory state with ns's (step 4), keeping the space
// objects (searches look them up without the state lock; their indexer
// workers keep running). Caller holds writeMu, every space's repairMu and
// mu exclusively.
func (s *Shard) adopt(ns *Shard) {
	s.lastSeq, s.nextOff = ns.lastSeq, ns.nextOff
	s.ids, s.version, s.payloads = ns.ids, ns.version, ns.payloads
	s.psize, s.payloadBytes = ns.psize, ns.payloadBytes
	s.live, s.nLive = ns.live, ns.nLive
	*s.pidx = *ns.pidx // (the object stays, as CreatePayloadIndex keeps it)
	s.logFirst, s.logFirstOff, s.logSizes, s.logBytes = ns.logFirst, ns.logFirstOff, ns.logSizes, ns.logBytes
	s.persistedOK = false
	for name, sp := range s.spaces {
		sp.adopt(ns.spaces[name])
	}
	for name, ss := range s.sparse {
		if n := ns.sparse[name]; n != nil {
			ss.idx = n.idx
		} else {
			ss.idx = sparse.New()
		}
	}
	for name, ms := range s.multi {
		ms.adopt(ns.multi[name])
	}
}

// adopt replaces sp's vectors, graph and indexer queue with n's, which
// describe the same points at new offsets. The graph generation changes,
// so a worker that took a batch of old offsets drops it; one inserting
// into the old graph meanwhile finishes harmlessly (the old graph and
// store stay valid until nothing refers to them). Caller holds the locks
// of Shard.adopt.
func (sp *space) adopt(n *space) {
	// The quantization codes are addressed by offset too: take the new
	// copy's (trained at its load), keeping the configuration.
	sp.quant = quantState{cfg: sp.quant.cfg, codes: n.quant.codes, trainedAt: n.quant.trainedAt}
	sp.quantGen++ // a background training of the old offsets is dropped
	if sp.quant.cfg == nil {
		sp.quant.codes = nil
	}
	sp.has, sp.count, sp.indexing = n.has, n.count, n.indexing
	sp.onDisk = n.onDisk // the new store may be mapped (memmap_threshold)
	sp.tomb.Store(n.tomb.Load())
	sp.dirty.Store(true)
	sp.unchecked.Store(true)
	sp.qMu.Lock()
	// Under qMu too: the indexer reads the store under qMu alone
	// (syncIdleLocked).
	sp.store = n.store
	sp.gen++
	sp.graph.Store(n.graph.Load())
	sp.queue, sp.queued, sp.pending, sp.retired = n.queue, n.queued, n.pending, nil
	if sp.pending == nil {
		sp.pending = map[uint32]bool{}
	}
	// What the old graph still had to do is dropped: count the run anew.
	sp.run.Total = sp.run.Done
	if len(sp.pending) > 0 {
		sp.runAdd(len(sp.pending), true)
	}
	sp.syncIdleLocked()
	sp.qMu.Unlock()
	sp.kick()
}
