package shard

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/index"
	"github.com/shoal-db/shoal/internal/index/hnsw"
	"github.com/shoal-db/shoal/internal/vecmath"
)

// space is one named vector of the shard: its storage by offset, which
// offsets have it, and its HNSW graph with the background indexer.
//
// Indexing follows Qdrant's indexing_threshold: until the space holds that
// many kilobytes of vectors it has no graph and every search is exact; once
// it crosses the threshold, every live vector is queued and background
// workers insert the queue into the graph. Queued offsets form the
// "unindexed tail" that searches scan exactly, so a vector is searchable as
// soon as Apply publishes it.
type space struct {
	name   string
	dim    int
	dist   api.Distance
	distFn func(a, b []float32) float32 // lower is better (vecmath.Dist)
	dtype  index.Datatype               // the element type of store
	// tkern is distFn between a float32 query and a stored float16, uint8
	// or turbo4 vector (nil for float32); its query is prepared by
	// store.Query.
	tkern   func(q []float32, b []byte) float32
	hnsw    api.HnswConfig
	store   *index.Store
	onDisk  bool   // store is a file store (on_disk: true)
	dir     string // where a file store keeps its file
	threads int
	// indexAt is the number of vectors at which indexing starts (0: never).
	indexAt int

	// Guarded by Shard.mu.
	has      bitset // offsets holding this vector
	count    int    // live points holding this vector
	indexing bool   // the graph exists and new vectors are queued for it
	// graph is set once, under Shard.mu, before indexing starts; the
	// workers load it without mu.
	graph atomic.Pointer[hnsw.Graph]
	// tomb counts graph nodes deleted and not yet unlinked by Repair.
	tomb atomic.Int64
	// dirty is set whenever the graph changes; persist clears it.
	dirty atomic.Bool
	// unchecked is set whenever the graph changes; checkReach clears it.
	unchecked atomic.Bool
	// repairMu serialises Repair, Reconnect and rebuilds.
	repairMu sync.Mutex
	// repairDue is when the graph was first seen needing a repair that
	// then waited for writes (UnixNano; 0: none waiting), see repairWaits.
	repairDue atomic.Int64
	// Guarded by repairMu: when the last reachability check ran and took.
	lastCheck     time.Time
	lastCheckTook time.Duration
	opt           api.OptimizersConfig

	// quant is the space's quantization (quantspace.go). Guarded by
	// Shard.mu, as is quantGen, which changes whenever quant's
	// configuration or codes are replaced by anything but the background
	// training that it guards (productJob).
	quant    quantState
	quantGen uint64

	// qMu guards the indexer state below. Lock order: Shard.mu, then qMu.
	qMu      sync.Mutex
	queue    []uint32        // offsets waiting for a worker, FIFO
	queued   []queueMark     // when the offsets of queue were queued, in runs, FIFO
	pending  map[uint32]bool // queued or being inserted; true: retired meanwhile
	retired  []uint32        // offsets to delete from the graph
	deleting int             // workers deleting retired offsets (and repairing)
	idle     chan struct{}   // closed while pending, retired and deleting are empty
	wake     chan struct{}
	gen      uint64 // graph generation, bumped by rebuild
	// The current run of the indexer (from busy to idle again) and the
	// last completed ones, for the optimizations report.
	run       IndexerRun // run.Started is zero while idle
	completed []IndexerRun

	// degraded is called (from a worker) when the graph has more
	// tombstones than live nodes; the shard then rebuilds it.
	degraded func()
	// writes is the node's record of write activity (nil: never yield).
	writes *WriteActivity
	// yieldAge is how long a queued vector may wait for writes to end
	// (set with writes; see the yield constants).
	yieldAge time.Duration
	// gate, when set, is called by a worker before it inserts a batch
	// (Options.BeforeIndexBatch).
	gate func(ctx context.Context)
	// log reports an on_disk graph kept on the heap (nil: not reported),
	// once (fileWarned).
	log        *slog.Logger
	fileWarned atomic.Bool
}

// WriteActivity tells indexer workers whether writes are coming in. One
// value is shared by every shard of a node (Options.Writes), so that
// indexers yield to writes anywhere on the node: the cores they compete
// for are the node's, and in a cluster a write's latency is a chain of
// calls between replicas on several nodes, each of which an indexer can
// delay. The zero value is ready to use.
type WriteActivity struct {
	inFlight  atomic.Int32 // Apply calls in flight
	lastEnd   atomic.Int64 // when the last Apply returned (UnixNano)
	lastBegin atomic.Int64 // when the last Apply began (UnixNano)
	// gap is a moving average of the time between the starts of
	// consecutive Apply calls (nanoseconds, each gap capped at
	// yieldQuietMax), from which quiet follows.
	gap atomic.Int64
}

// Begin records a write that starts: a shard's Apply, or on a node a
// write request that its coordinator spreads over shards and peers (the
// indexers then yield while its parts travel). End must follow.
func (w *WriteActivity) Begin() {
	now := time.Now().UnixNano()
	if prev := w.lastBegin.Swap(now); prev != 0 {
		g := min(now-prev, int64(yieldQuietMax))
		// Racing writers may lose an update of the average; it stays an
		// average of real gaps.
		avg := w.gap.Load()
		w.gap.Store(avg - avg/8 + g/8)
	}
	w.inFlight.Add(1)
}

// End records the end of a write that Begin recorded.
func (w *WriteActivity) End() {
	w.lastEnd.Store(time.Now().UnixNano())
	w.inFlight.Add(-1)
}

// quiet is how long after the last Apply returned writes still count as
// coming in: twice the usual gap between writes, between yieldQuiet and
// yieldQuietMax. A node that receives a part of every batch of an import
// spread over several nodes (a write every 10–50 ms, where one node
// holding every shard gets one every few) is then still seen as
// importing between its writes.
func (w *WriteActivity) quiet() int64 {
	return min(max(2*w.gap.Load(), int64(yieldQuiet)), int64(yieldQuietMax))
}

// Active reports whether a write is in flight or returned within quiet
// (an import's next batch is usually on its way). Background work other
// than the shards' (snapshots, internal/background) asks it too.
func (w *WriteActivity) Active() bool { return w.active() }

// active reports whether an Apply is in flight or returned within quiet
// (an import's next batch is usually on its way).
func (w *WriteActivity) active() bool {
	return w.inFlight.Load() > 0 || time.Now().UnixNano()-w.lastEnd.Load() < w.quiet()
}

// queueMark says that the next n offsets of the queue were queued at the
// same time (UnixNano).
type queueMark struct {
	n  int
	at int64
}

// markQueued records that n offsets were appended to the queue at now.
// Caller holds qMu.
func (sp *space) markQueued(n int, now int64) {
	if n > 0 {
		sp.queued = append(sp.queued, queueMark{n, now})
	}
}

// markTaken forgets the first n offsets of the queue (taken by a worker).
// Caller holds qMu.
func (sp *space) markTaken(n int) {
	for n > 0 && len(sp.queued) > 0 {
		m := &sp.queued[0]
		if m.n > n {
			m.n -= n
			return
		}
		n -= m.n
		sp.queued = sp.queued[1:]
	}
	if len(sp.queued) == 0 {
		sp.queued = nil
	}
}

// oldestQueued returns when the oldest offset still in the queue was queued
// (0 when the queue is empty). Caller holds qMu.
func (sp *space) oldestQueued() int64 {
	if len(sp.queued) == 0 {
		return 0
	}
	return sp.queued[0].at
}

// Writes come before indexing: while writes are coming in anywhere on the
// node (WriteActivity), a worker waits before each insert,
// polling every yieldPoll, so that an import is not slowed by building the
// graph of what it already wrote (searches scan the unindexed tail exactly
// meanwhile). Once more than yieldLimit vectors, or yieldLimitBytes of
// them, wait in the space, or once the oldest queued vector has waited
// yieldAge, workers stop yielding, so that a steady stream of writes cannot
// leave a tail that makes every search slow (an import of up to yieldAge is
// done before; a longer one, or a stream, keeps at most yieldAge of its
// writes unindexed, plus what the workers cannot keep up with).
//
// Workers used to insert a batch after at most 50 ms of yielding. In a
// cluster that let every replica's workers (two per replica, several
// replicas per node) take a share of the cores during an import, and the
// Go scheduler then delayed each hop of a replicated write (coordinator,
// primary, backup and back) behind them: RF 2 imported at a third of the
// throughput it reaches when indexing waits for the import to end
// (docs/benchmarks.md, "Replication").
const (
	yieldPoll       = 5 * time.Millisecond
	yieldQuiet      = 5 * time.Millisecond
	yieldQuietMax   = 100 * time.Millisecond
	yieldLimit      = 100_000
	yieldLimitBytes = 256 << 20
	yieldAge        = 10 * time.Second
)

// shouldYield reports whether a worker holding a batch queued at batchAt
// (UnixNano; the oldest vectors waiting) should wait for writes at now.
// Caller holds qMu.
func (sp *space) shouldYield(now, batchAt int64) bool {
	waiting := len(sp.pending)
	if waiting > yieldLimit || waiting*sp.dim*4 > yieldLimitBytes {
		return false
	}
	return now-batchAt < int64(sp.yieldAge)
}

// yieldToWriters waits while writes are coming in and the batch queued at
// batchAt may still wait (shouldYield), before the worker inserts the
// batch's next vector.
func (sp *space) yieldToWriters(ctx context.Context, batchAt int64) {
	if sp.writes == nil {
		return
	}
	var t *time.Timer
	for sp.writes.active() {
		sp.qMu.Lock()
		yield := sp.shouldYield(time.Now().UnixNano(), batchAt)
		sp.qMu.Unlock()
		if !yield {
			return
		}
		if t == nil {
			t = time.NewTimer(yieldPoll)
			defer t.Stop()
		} else {
			t.Reset(yieldPoll)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// newSpace returns the space of one dense vector; with p.OnDisk its
// original vectors are kept in a memory-mapped file in dir
// (index.NewFileStore) instead of the heap.
func newSpace(name string, p api.VectorParams, h api.HnswConfig, opt api.OptimizersConfig, threads int, dir string) (*space, error) {
	if p.Size <= 0 || p.Size > api.MaxVectorDim {
		return nil, fmt.Errorf("vector %q has invalid size %d", name, p.Size)
	}
	if !p.Distance.Valid() {
		return nil, fmt.Errorf("vector %q has invalid distance %q", name, p.Distance)
	}
	if h.M == 0 && h.EfConstruct == 0 {
		h = api.DefaultHnswConfig()
	}
	if h.M <= 0 {
		h.M = hnsw.DefaultM
	}
	if h.EfConstruct <= 0 {
		h.EfConstruct = hnsw.DefaultEfConstruct
	}
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	if h.MaxIndexingThreads > 0 {
		threads = min(threads, h.MaxIndexingThreads)
	}
	kb := 10000
	if opt.IndexingThreshold != nil {
		kb = *opt.IndexingThreshold
	}
	indexAt := 0
	if kb > 0 {
		indexAt = max(1, kb*1024/StoreType(p).VectorBytes(p.Size))
	}
	idle := make(chan struct{})
	close(idle)
	sp := &space{
		name: name, dim: p.Size, dist: p.Distance, distFn: vecmath.Dist(p.Distance), hnsw: h,
		threads: threads, indexAt: indexAt, opt: opt,
		pending: map[uint32]bool{}, idle: idle, wake: make(chan struct{}, 1),
		onDisk: p.OnDisk != nil && *p.OnDisk, dir: dir, dtype: StoreType(p),
		yieldAge: yieldAge,
	}
	switch sp.dtype {
	case index.Float16:
		sp.tkern = vecmath.KernelF16(p.Distance)
	case index.Uint8:
		sp.tkern = vecmath.KernelU8(p.Distance)
	case index.Turbo4:
		if p.Distance == api.DistanceManhattan {
			return nil, fmt.Errorf("vector %q: datatype turbo4 supports Cosine, Dot and Euclid, not Manhattan", name)
		}
		sp.tkern = vecmath.KernelT4(p.Distance)
	}
	st, err := sp.newStore()
	if err != nil {
		return nil, err
	}
	sp.store = st
	return sp, nil
}

// memmapDue reports whether the heap vectors of p, in a shard of n
// offsets, have reached the optimizers' memmap_threshold (kilobytes of
// vectors; unset or 0: no threshold), beyond which Qdrant keeps a
// segment's vectors in a mapped file: the shard then keeps them on_disk.
// A shard opens its vectors on_disk once they are due, and one whose heap
// store grows past the threshold compacts into mapped files (memmapCheck).
func memmapDue(p api.VectorParams, opt api.OptimizersConfig, n uint32) bool {
	if p.OnDisk != nil && *p.OnDisk || opt.MemmapThreshold == nil || *opt.MemmapThreshold <= 0 {
		return false
	}
	return int64(n)*int64(StoreType(p).VectorBytes(p.Size)) >= int64(*opt.MemmapThreshold)*1024
}

// newStore returns an empty vector store of the space: on the heap, or
// mapped from a file in the shard's directory for on_disk vectors.
func (sp *space) newStore() (*index.Store, error) {
	if sp.onDisk {
		return index.NewTypedFileStore(sp.dim, sp.dtype, sp.dir)
	}
	return index.NewTypedStore(sp.dim, sp.dtype), nil
}

// StoreType returns the element type the vectors of p are kept in
// (float32 unless p's datatype is float16, uint8 or turbo4).
func StoreType(p api.VectorParams) index.Datatype {
	if p.Datatype != nil {
		switch strings.ToLower(*p.Datatype) {
		case "float16":
			return index.Float16
		case "uint8":
			return index.Uint8
		case "turbo4":
			return index.Turbo4
		}
	}
	return index.Float32
}

// distTo returns the distance between q, prepared by sp.store.Query, and
// the stored vector of off. Caller holds Shard.mu (shared or exclusive).
func (sp *space) distTo(q []float32, off uint32) float32 {
	if sp.tkern != nil {
		if len(q) != sp.dim {
			panic(fmt.Sprintf("shard: query of dimension %d for vector %q of dimension %d", len(q), sp.name, sp.dim))
		}
		return sp.tkern(q, sp.store.Raw(off))
	}
	return sp.distFn(q, sp.store.Get(off))
}

// graphOptions returns the options of the space's graphs: with
// hnsw_config.on_disk their level-0 lists are kept in a memory-mapped file
// in the shard's directory.
func (sp *space) graphOptions() hnsw.Options {
	o := hnsw.Options{M: sp.hnsw.M, EfConstruct: sp.hnsw.EfConstruct, Distance: sp.dist}
	if sp.graphOnDisk() {
		o.Dir = sp.dir
	}
	return o
}

// graphOnDisk reports whether the space's hnsw_config asks for on_disk
// graphs.
func (sp *space) graphOnDisk() bool { return sp.hnsw.OnDisk != nil && *sp.hnsw.OnDisk }

// newGraph returns an empty graph of the space (graphOptions).
func (sp *space) newGraph() *hnsw.Graph {
	g := hnsw.New(sp.graphOptions(), sp.store)
	sp.checkGraphFile(g)
	return g
}

// checkGraphFile logs once per space when g, which should keep its lists
// in a file, keeps them on the heap (hnsw.Graph.FileError).
func (sp *space) checkGraphFile(g *hnsw.Graph) {
	if err := g.FileError(); err != nil && sp.log != nil && sp.fileWarned.CompareAndSwap(false, true) {
		sp.log.Warn("HNSW graph kept on the heap despite on_disk", "vector", sp.name, "err", err)
	}
}

// score converts an internal distance into Qdrant's reported score.
func (sp *space) score(d float32) float32 { return vecmath.ScoreFromDist(sp.dist, d) }

// fullScanVectors is the number of vectors below which a search (or a
// filtered candidate set) is scored exactly: Qdrant's full_scan_threshold
// in kilobytes of vectors.
func (sp *space) fullScanVectors() int {
	return sp.hnsw.FullScanThreshold * 1024 / sp.dtype.VectorBytes(sp.dim)
}

// maybeStartIndexing creates the graph and queues every live vector once
// the space reaches the indexing threshold. Caller holds Shard.mu
// exclusively.
// It returns the product quantizer's training when one is due, for the
// caller to run off the lock (productJob).
func (sp *space) maybeStartIndexing(live bitset) *productJob {
	if !sp.indexing && sp.indexAt > 0 && sp.count >= sp.indexAt {
		sp.startIndexing(live)
	}
	return sp.maybeTrain(live, true)
}

func (sp *space) startIndexing(live bitset) {
	sp.indexing = true
	if sp.graph.Load() == nil {
		sp.graph.Store(sp.newGraph())
	}
	g := sp.graph.Load()
	var offs []uint32
	live.each(func(off uint32) bool {
		if sp.has.has(off) && !g.Contains(off) {
			offs = append(offs, off)
		}
		return true
	})
	sp.enqueue(offs...)
}

// enqueue queues offsets for insertion into the graph. Caller holds
// Shard.mu exclusively (or is Open), so a reader sees a published vector
// either in the queue or in the graph.
func (sp *space) enqueue(offs ...uint32) {
	if len(offs) == 0 || !sp.indexing {
		return
	}
	sp.qMu.Lock()
	sp.runAdd(len(offs), true)
	for _, off := range offs {
		sp.pending[off] = false
	}
	sp.queue = append(sp.queue, offs...)
	sp.markQueued(len(offs), time.Now().UnixNano())
	sp.syncIdleLocked()
	sp.qMu.Unlock()
	sp.kick()
}

// retire removes off from the graph (or cancels its pending insert).
// Caller holds Shard.mu exclusively.
func (sp *space) retire(off uint32) {
	if !sp.indexing {
		return
	}
	sp.qMu.Lock()
	if _, ok := sp.pending[off]; ok {
		sp.pending[off] = true
	} else {
		sp.runAdd(1, false)
		sp.retired = append(sp.retired, off)
		sp.syncIdleLocked()
	}
	sp.qMu.Unlock()
	sp.kick()
}

func (sp *space) kick() {
	select {
	case sp.wake <- struct{}{}:
	default:
	}
}

// tail returns the offsets not yet (known to be) in the graph. Call it
// before searching the graph: an offset leaving the tail afterwards is in
// the graph by then.
func (sp *space) tail() []uint32 {
	sp.qMu.Lock()
	defer sp.qMu.Unlock()
	out := make([]uint32, 0, len(sp.pending))
	for off, gone := range sp.pending {
		if !gone {
			out = append(out, off)
		}
	}
	return out
}

// indexStats returns the vectors in the graph and those waiting for it.
func (sp *space) indexStats(g *hnsw.Graph) (indexed uint64, pending int) {
	sp.qMu.Lock()
	pending = len(sp.pending)
	sp.qMu.Unlock()
	if g != nil {
		indexed = uint64(g.Len())
	}
	return indexed, pending
}

// syncIdleLocked opens or closes the idle channel to match the indexer's
// state. Caller holds qMu.
func (sp *space) syncIdleLocked() {
	busy := len(sp.pending) > 0 || len(sp.retired) > 0 || sp.deleting > 0
	closed := false
	select {
	case <-sp.idle:
		closed = true
	default:
	}
	switch {
	case busy && closed:
		sp.idle = make(chan struct{})
	case !busy && !closed:
		close(sp.idle)
	}
	if !busy && !sp.run.Started.IsZero() {
		// The run read the vectors of every insert: give the mapped
		// pages of an on_disk store back to the page cache.
		sp.store.DropResident()
		sp.run.Finished = time.Now()
		sp.run.Done = max(sp.run.Done, sp.run.Total)
		sp.completed = append(sp.completed, sp.run)
		if len(sp.completed) > maxCompletedRuns {
			sp.completed = slices.Delete(sp.completed, 0, len(sp.completed)-maxCompletedRuns)
		}
		sp.run = IndexerRun{}
	}
}

// maxCompletedRuns is how many completed indexer runs a space remembers.
const maxCompletedRuns = 16

// IndexerRun is one run of a vector's background indexer on a shard: from
// the moment it got work until it was idle again.
type IndexerRun struct {
	// Optimizer is "indexing" when the run inserts vectors into the graph,
	// "vacuum" when it only deletes retired ones from it.
	Optimizer string
	Started   time.Time
	Finished  time.Time // zero while running
	// Total counts the vectors queued for insertion and the graph nodes
	// queued for deletion during the run, Done those handled.
	Total, Done uint64
}

// runAdd counts n units of work (inserts or deletions) into the current
// run, starting one if the indexer was idle. Caller holds qMu.
func (sp *space) runAdd(n int, insert bool) {
	if sp.run.Started.IsZero() {
		sp.run = IndexerRun{Optimizer: "vacuum", Started: time.Now()}
	}
	if insert {
		sp.run.Optimizer = "indexing"
	}
	sp.run.Total += uint64(n)
}

// waitIdle waits until the indexer has nothing pending, nothing retired
// and no worker deleting (deleting workers may repair the graph).
func (sp *space) waitIdle(ctx context.Context) error {
	sp.qMu.Lock()
	ch := sp.idle
	sp.qMu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// batchSize is the number of offsets a worker takes from the queue at once.
const batchSize = 32

// worker inserts queued offsets into the graph until ctx ends.
func (sp *space) worker(ctx context.Context) {
	for {
		sp.qMu.Lock()
		gen := sp.gen
		graph := sp.graph.Load()
		retired := sp.retired
		sp.retired = nil
		if len(retired) > 0 {
			sp.deleting++
		}
		n := min(batchSize, len(sp.queue))
		batch := append([]uint32(nil), sp.queue[:n]...)
		batchAt := sp.oldestQueued()
		sp.queue = sp.queue[n:]
		sp.markTaken(n)
		if len(sp.queue) == 0 {
			sp.queue = nil
		}
		more := len(sp.queue) > 0
		sp.qMu.Unlock()
		if more {
			sp.kick() // let another worker share the queue
		}
		if len(retired) == 0 && len(batch) == 0 {
			select {
			case <-sp.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		for _, off := range retired {
			if graph.Contains(off) {
				graph.Delete(off)
				if sp.graph.Load() == graph { // not rebuilt meanwhile
					sp.tomb.Add(1)
				}
				sp.dirty.Store(true)
				sp.unchecked.Store(true)
			}
		}
		if len(retired) > 0 {
			if sp.maybeRepair() < 0 && sp.degraded != nil {
				sp.degraded()
			}
			sp.qMu.Lock()
			sp.deleting--
			sp.run.Done += uint64(len(retired))
			sp.syncIdleLocked()
			sp.qMu.Unlock()
		}
		if len(batch) > 0 && sp.gate != nil {
			sp.gate(ctx)
		}
		for _, off := range batch {
			// Before every insert, not once per batch: a batch of 784-d
			// inserts holds a core for tens of milliseconds, and one that
			// starts in a gap between writes would delay every write of
			// that stretch (on a replicated write, every hop of its chain).
			sp.yieldToWriters(ctx, batchAt)
			sp.qMu.Lock()
			gone := sp.pending[off]
			stale := sp.gen != gen
			sp.qMu.Unlock()
			if stale {
				break // rebuilt meanwhile: the new generation requeued everything
			}
			if !gone {
				graph.Insert(off)
				sp.dirty.Store(true)
				sp.unchecked.Store(true)
			}
			sp.qMu.Lock()
			if sp.gen != gen {
				sp.qMu.Unlock()
				break
			}
			if sp.pending[off] && !gone {
				// Retired while being inserted.
				sp.retired = append(sp.retired, off)
				sp.kick()
			}
			delete(sp.pending, off)
			sp.run.Done++
			sp.syncIdleLocked()
			sp.qMu.Unlock()
			if ctx.Err() != nil {
				return
			}
		}
	}
}

// reconcile installs the graph of f (if any) and brings it in line with the
// live offsets below n: dead nodes are deleted, live vectors missing from
// it are queued. A graph whose dead nodes would outnumber its live ones is
// not installed: every live vector is queued for a new graph instead,
// without deleting anything first. Called by Open only.
func (sp *space) reconcile(f *indexFile, live bitset, n uint32) {
	if f != nil && f.graph != nil {
		sp.graph.Store(f.graph)
		sp.indexing = true
	} else if sp.indexAt > 0 && sp.count >= sp.indexAt {
		sp.graph.Store(sp.newGraph())
		sp.indexing = true
		sp.dirty.Store(true)
	}
	if !sp.indexing {
		return
	}
	g := sp.graph.Load()
	keep := func(off uint32) bool { return live.has(off) && sp.has.has(off) }
	var offs, dead []uint32
	for off := range n {
		in := g.Contains(off)
		switch {
		case keep(off):
			if !in {
				offs = append(offs, off)
			}
		case in:
			dead = append(dead, off)
		}
	}
	if g.Deleted()+len(dead) > g.Len()-len(dead) {
		// More of the file's nodes are dead than live (its points were
		// replaced since it was written): building afresh costs no more
		// than repairing, and inserts into a graph of tombstones link
		// poorly. (The same test as graphUsable, made before deleting.)
		g = sp.newGraph()
		sp.graph.Store(g)
		sp.tomb.Store(0)
		sp.dirty.Store(true)
		offs = offs[:0]
		for off := range n {
			if keep(off) {
				offs = append(offs, off)
			}
		}
	} else {
		for _, off := range dead {
			g.Delete(off)
		}
		if len(dead) > 0 {
			sp.dirty.Store(true)
		}
		sp.tomb.Store(int64(g.Deleted()))
		if f != nil && f.graph == g && !f.vectors && g.Deleted() > 0 {
			// A file without vectors (a checkpoint's) leaves the dead
			// offsets' vectors zero: the store no longer holds them.
			// Searches walk through tombstones, so unlink them now
			// rather than when deleted_threshold calls for it.
			sp.repairMu.Lock()
			sp.repairLocked(g)
			sp.repairMu.Unlock()
		}
	}
	sp.unchecked.Store(true)
	sp.enqueue(offs...)
	sp.maybeTrain(live, false)
}

// minRepair is the fewest deleted graph nodes worth a Repair.
const minRepair = 32

// repairGraphs enables hnsw.Graph.Repair for graphs whose tombstones
// exceed deleted_threshold. (It was off while Repair could leave live nodes
// unreachable after churn; TestProbeHNSWRepairReachability reproduces that
// case and guards the fix in internal/index 8a68d21.) A graph with more
// tombstones than live nodes is rebuilt rather than repaired either way.
const repairGraphs = true

// maybeRepair unlinks deleted nodes from the graph once they exceed the
// optimizer's deleted_threshold of the graph's nodes, and returns how many
// it unlinked, or -1 when the graph has more tombstones than live nodes and
// should be rebuilt instead (repairing such a graph leaves nodes
// unreachable). Unlike Qdrant's
// segment vacuum it does not wait for vacuum_min_vector_number deleted
// vectors: a repair costs little next to a rebuild, and an HNSW graph full
// of tombstones loses recall quickly (new nodes link to deleted ones).
//
// A repair yields to the node's writes as inserts do (repairWaits); a
// rebuild does not wait, since it only queues the live vectors (whose
// inserts then yield).
func (sp *space) maybeRepair() int {
	g := sp.graph.Load()
	if g == nil || !sp.needsRepair(g) {
		sp.repairDue.Store(0)
		return 0
	}
	if !sp.graphUsable(g) {
		return -1 // too many tombstones to repair well: rebuild
	}
	if !repairGraphs || sp.repairWaits(time.Now().UnixNano()) {
		return 0
	}
	if !sp.repairMu.TryLock() {
		return 0
	}
	defer sp.repairMu.Unlock()
	return sp.repairLocked(g)
}

// repairWaits reports whether a repair that is due should wait at now
// (UnixNano) for the node's writes, as queued inserts do (see
// yieldToWriters): while writes are coming in, for up to yieldAge since
// it was first due; the worker that handles the next deletions, or the
// maintenance loop (every second), tries again. A stream of updates
// (each one a tombstone and an insert) used to repair the whole graph
// each time its tombstones crossed deleted_threshold, with every
// repair's CPU taken from the writes; waiting, the tombstones of a
// stream that replaces most of a graph within yieldAge end in one
// rebuild instead, whose inserts it needs anyway.
func (sp *space) repairWaits(now int64) bool {
	if sp.writes == nil || !sp.writes.active() {
		return false
	}
	due := sp.repairDue.Load()
	if due == 0 {
		sp.repairDue.CompareAndSwap(0, now)
		return true
	}
	return now-due < int64(sp.yieldAge)
}

// repairLocked repairs g, sp's graph. Caller holds repairMu.
func (sp *space) repairLocked(g *hnsw.Graph) int {
	sp.repairDue.Store(0)
	n := g.Repair()
	sp.tomb.Add(-int64(n))
	sp.dirty.Store(true)
	return n
}

// needsRepair reports whether g's deleted nodes exceed the optimizer's
// deleted_threshold (and minRepair).
func (sp *space) needsRepair(g *hnsw.Graph) bool {
	tomb := sp.tomb.Load()
	return tomb >= minRepair && float64(tomb) > sp.opt.DeletedThreshold*float64(tomb+int64(g.Len()))
}

// graphUsable reports whether the graph can serve searches: a graph with
// more tombstones than live nodes (before its repair) loses recall, so
// searches go exact until the repair catches up.
func (sp *space) graphUsable(g *hnsw.Graph) bool {
	return g != nil && sp.tomb.Load() <= int64(g.Len())
}

// checkReachEvery is the least time between two reachability checks the
// maintenance loop starts, as a multiple of the last check's duration, so
// that checking a large graph takes at most a few percent of one core.
const checkReachEvery = 50

// checkReach makes every live node of sp's graph reachable by searches
// (hnsw.Graph.Reconnect) if the graph changed since the last check, and
// returns how many nodes it linked. With wait it waits for a running
// Repair, Reconnect (a background pass included, though it cleared the
// changed flag when it began) or rebuild and always checks a changed
// graph; without,
// it skips when one runs or when the last check was too recent. Inserts
// and Repair can leave live nodes that no search reaches (the neighbour
// heuristic prunes links, and a repair pass or index file can catch a
// graph midway); the maintenance loop and WaitIndexed call this so that,
// once the indexer is idle, every indexed vector is findable. A check
// gives up once stop returns true (the shard closing, a transfer
// running), leaving the graph unchecked.
func (sp *space) checkReach(stop func() bool, wait bool) int {
	if wait {
		// A running pass cleared unchecked when it began: waiting means
		// waiting for it too, so the lock comes before the flag (polled,
		// so that stop ends the wait: a pass can take minutes).
		for !sp.repairMu.TryLock() {
			if stop != nil && stop() {
				return 0
			}
			time.Sleep(5 * time.Millisecond)
		}
	} else if !sp.unchecked.Load() || !sp.repairMu.TryLock() {
		return 0
	}
	defer sp.repairMu.Unlock()
	g := sp.graph.Load()
	if g == nil || !sp.unchecked.Load() {
		return 0
	}
	if !wait && time.Since(sp.lastCheck) < checkReachEvery*sp.lastCheckTook {
		return 0
	}
	if wait && sp.needsRepair(g) && sp.graphUsable(g) {
		// A repair the maintenance loop would start soon: run it now, so
		// that none runs after WaitIndexed returns.
		sp.repairLocked(g)
	}
	sp.unchecked.Store(false) // a change from now on is checked next time
	start := time.Now()
	n, done := g.ReconnectUntil(stop)
	if !done {
		sp.unchecked.Store(true)
	} else if packed, err := g.Pack(); err != nil && sp.log != nil {
		// The indexer is idle and the graph checked: an on_disk graph
		// packs the level-0 lists that inserts unpacked (a no-op for a
		// graph on the heap).
		sp.log.Warn("HNSW graph not packed", "vector", sp.name, "err", err)
	} else if packed > 0 && sp.log != nil {
		sp.log.Debug("HNSW graph packed", "vector", sp.name, "chunks", packed)
	}
	sp.store.DropResident() // the check read the vectors of every node
	sp.lastCheck, sp.lastCheckTook = time.Now(), time.Since(start)
	if n > 0 {
		sp.dirty.Store(true)
	}
	return n
}

// idleNow reports whether the indexer is idle (see waitIdle).
func (sp *space) idleNow() bool {
	sp.qMu.Lock()
	ch := sp.idle
	sp.qMu.Unlock()
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// GraphOnDisk reports whether the HNSW graph of the dense vector name
// keeps its level-0 lists in a memory-mapped file (hnsw_config.on_disk);
// before the vector has a graph, whether it will. ok is false for a name
// that is not a dense vector of the shard.
func (s *Shard) GraphOnDisk(name string) (onDisk, ok bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sp := s.spaces[name]
	if sp == nil {
		return false, false
	}
	if g := sp.graph.Load(); g != nil {
		return g.OnDisk(), true
	}
	return sp.graphOnDisk(), true
}
