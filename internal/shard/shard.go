// Package shard is one shard replica on one node: a durable point store
// (Pebble) with a per-shard operation log and sequence numbers, in-memory
// vector storage with HNSW indexes, payloads and payload indexes, and the
// filtered-search planner. Everything a collection does to its data goes
// through a Shard; replication, transfer and snapshots build on its
// operation log and checkpoints.
//
// # Overview
//
// Durable state lives in one Pebble store per shard (<dir>/store, layout in
// docs/format/shard.md). Every Apply is one Pebble batch committed with
// Sync: the point records, the op-log record and the meta record with the
// new sequence number become durable together or not at all. Vectors are
// written once, keyed by offset; the op-log record refers to them, and the
// vectors of a dead offset are kept until the log is truncated past the
// operation that stored them.
//
// Every point is given a dense uint32 offset that addresses the in-memory
// structures (vector stores, HNSW graphs, payloads, payload indexes). The
// vectors at an offset never change: a write that changes a point's vectors
// gives the point a new offset and retires the old one. This makes persisted
// index files (vector stores and graphs written at some sequence S) valid
// forever for the offsets they hold, so Open reconciles them with the point
// records instead of replaying the op log. The one exception is
// compaction (compact.go), which renumbers every offset at once, in a new
// store switched in atomically, after deleting the index files.
//
// # Locking
//
// writeMu serialises writers (Apply, op-log truncation, payload index
// changes, checkpoints; a Pending from Prepare holds it until its Commit or
// Abort) and is held across the Pebble commit; mu guards the in-memory state and is
// taken exclusively only to publish a committed change, so readers never
// wait for an fsync. Lock order: writeMu, then a space's graphMu, then mu.
package shard

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/index/hnsw"
	"github.com/shoal-db/shoal/internal/index/sparse"
)

// Options configure a shard. The collection resolves every default before
// calling Open.
type Options struct {
	// Dir is the shard's directory; it is created if missing.
	Dir string
	// ID is the shard number within its collection.
	ID int
	// Vectors are the collection's vector parameters by name (the unnamed
	// vector under api.DefaultVectorName).
	Vectors api.VectorsConfig
	// Sparse are the collection's sparse vectors by name (the shard needs
	// only the names; search parameters come with each request).
	Sparse api.SparseVectorsConfig
	// Hnsw is the resolved HNSW configuration per vector name.
	Hnsw map[string]api.HnswConfig
	// Optimizers drive background vacuum and index repair.
	Optimizers api.OptimizersConfig
	// PayloadIndexes are the payload indexes to maintain, by key path.
	PayloadIndexes map[string]api.PayloadFieldSchema
	// OnDiskPayload keeps payloads out of memory (Qdrant's
	// on_disk_payload): they are read from the point records in the store
	// when a request needs them (payloads.go). The payload indexes stay in
	// memory either way.
	OnDiskPayload bool
	// Quantization is the quantization in force per dense vector name
	// (the vector's own, else the collection's; absent: none).
	Quantization map[string]*api.QuantizationConfig
	// IndexingThreads is the number of background HNSW insert workers (0: GOMAXPROCS).
	IndexingThreads int
	// Writes, when set, records this shard's writes together with those
	// of the node's other shards, and its indexer workers yield to all of
	// them (see WriteActivity); unset, the shard keeps its own.
	Writes *WriteActivity
	// Logger receives background events; nil discards them.
	Logger *slog.Logger

	// OpLogRetain is the most operations the op log keeps (0:
	// DefaultOpLogRetain); OpLogRetainBytes bounds their size (0:
	// DefaultOpLogRetainBytes), counting each operation's record and the
	// vectors it stored, which stay on disk while it is logged. Older
	// operations are truncated in the background; the last one is always
	// kept. A replica that falls further behind needs a full transfer.
	OpLogRetain      int
	OpLogRetainBytes int64
	// PersistInterval is how often the background persister writes index
	// files when the shard changed (0: DefaultPersistInterval; negative:
	// only on Close and Checkpoint).
	PersistInterval time.Duration

	// MinFreeDiskBytes is the free space writes leave on the file system
	// of Dir (0: DefaultMinFreeDiskBytes; negative: no check). A write that
	// would leave less is refused with an ErrDiskFull error; reads go on,
	// and writes are accepted again once space is freed.
	MinFreeDiskBytes int64

	// CompactRatio and CompactMinDead trigger compaction (compact.go):
	// the maintenance loop renumbers the shard's offsets once the dead
	// ones (taken by earlier vectors of updated or deleted points) exceed
	// CompactRatio times the live points and number at least
	// CompactMinDead (0: DefaultCompactRatio, DefaultCompactMinDead;
	// a negative CompactRatio: never).
	CompactRatio   float64
	CompactMinDead int

	// BeforeIndexBatch, when set, is called by each background indexer
	// worker before it inserts a batch of queued vectors into a graph; it
	// may block (until ctx ends) to hold the indexer back, which tests use
	// to observe pending index work.
	BeforeIndexBatch func(ctx context.Context)

	// noIndexer keeps the indexer workers from starting (tests only).
	noIndexer bool
	// yieldAge, when set, replaces the default yieldAge (tests only).
	yieldAge time.Duration
	// afterIndexBuild is called by CreatePayloadIndex between building the
	// new payload indexes and swapping them in (tests only).
	afterIndexBuild func()
	// graphCost overrides graphCostFactor (tests only; 0: default).
	graphCost float64
	// compactStep is called at each step of a compaction (tests only).
	compactStep func(step string)
}

// Defaults of Options.
const (
	DefaultOpLogRetain      = 100_000
	DefaultOpLogRetainBytes = 256 << 20
	DefaultPersistInterval  = 5 * time.Minute
)

// ErrClosed is returned by operations on a closed shard.
var ErrClosed = errors.New("shard: closed")

// Shard is one open shard replica. It is safe for concurrent use.
type Shard struct {
	opts Options
	log  *slog.Logger
	db   *pebble.DB

	// writeMu serialises writers (Apply, op-log truncation); it guards
	// nextOff, logFirst and logFirstOff and is held across every Pebble
	// commit.
	writeMu     sync.Mutex
	logFirst    uint64 // first sequence still in the op log (0: empty log)
	logFirstOff uint32 // offset counter before operation logFirst
	// logSizes[i] is the size of operation logFirst+i (see
	// Options.OpLogRetainBytes), logBytes their sum.
	logSizes []uint64
	logBytes uint64
	// epochs is the epoch table (keyspace 0x05), ascending; guarded by
	// writeMu for writers and mu for readers (both held to change it).
	epochs []epochStart
	// writes records write activity (Options.Writes, else the shard's
	// own); indexer workers yield to it.
	writes *WriteActivity
	// disk refuses writes on a nearly full disk (guarded by writeMu).
	disk diskGuard
	// storeErr is set when a store commit failed (guarded by writeMu):
	// writes are refused until recoverStore reopens the store. failed is
	// the operation whose commit failed.
	storeErr error
	failed   *failedOp
	// compacting is set while a compaction copies the store (guarded by
	// writeMu): the op log is not truncated meanwhile, so that the
	// compaction can replay what was applied after its snapshot.
	compacting bool
	// storeBroken mirrors storeErr != nil for readers (Stats).
	storeBroken atomic.Bool
	// bgErr is the last failure of background maintenance (op-log
	// truncation, index persistence), cleared when it next succeeds.
	bgErr atomic.Pointer[bgError]
	// closeMu is held shared by readers of the store that do not hold mu
	// (ReadOps) and exclusively by Close around closing the store.
	closeMu sync.RWMutex

	// mu guards the fields below (and the spaces' per-offset state).
	mu       sync.RWMutex
	closed   bool
	lastSeq  uint64
	nextOff  uint32
	ids      pointIDs      // id to offset and offset to id
	version  []uint64      // version at each offset
	payloads []api.Payload // payload at each offset (nil: none); nil with OnDiskPayload
	// psize is the length of each offset's payload JSON (0: none) and
	// payloadBytes their sum over the live points: the collection's
	// payload storage size for strict mode
	// (max_collection_payload_size_bytes).
	psize        []uint32
	payloadBytes uint64
	// view is the store as of the last published operation, from which
	// payloads are read with OnDiskPayload (payloads.go); nil otherwise.
	view   *pebble.Snapshot
	live   bitset // offsets of current points
	nLive  int
	spaces map[string]*space
	sparse map[string]*sparseSpace // fixed at Open; per-offset state guarded by mu
	multi  map[string]*multiSpace  // likewise
	pidx   *payloadIndexes

	bgCtx    context.Context
	bgCancel context.CancelFunc
	bgWG     sync.WaitGroup
	persistC chan struct{}
	// persistMu serialises index-file writers (Close, Checkpoint, background).
	persistMu   sync.Mutex
	persistedAt uint64 // sequence covered by the index files in Dir
	persistedOK bool   // the index files in Dir are complete for persistedAt

	// noSync commits writes without Sync (a compaction's new store,
	// flushed before it replaces the store; see replayInto).
	noSync bool
	// noIndexFiles makes load ignore the index files in Dir (a
	// compaction loading its new store: they describe the old one).
	noIndexFiles bool
	// compactions counts completed compactions; it changes only under
	// persistMu and writeMu.
	compactions atomic.Uint64
	// trainsRunning counts product trainings running in the background
	// (quantspace.go); WaitIndexed waits for them.
	trainsRunning atomic.Int64
	// reachPaused counts the holders of PauseReachChecks: while any
	// holds it, the maintenance loop runs no reachability pass.
	reachPaused atomic.Int32
	// reachDeferred is when background reachability passes began to
	// yield to the node's writes (UnixNano; 0: they do not), see reachStop.
	reachDeferred atomic.Int64

	// loadedFromStore counts the vectors Open read from the point store
	// because no index file covered them.
	loadedFromStore int

	// Search plans taken, for tests and metrics.
	plansExact, plansGraph, plansFallback atomic.Uint64
}

// Open opens or creates the shard in opts.Dir, recovering from any crash:
// the Pebble WAL is replayed, persisted index files newer than the store are
// discarded, and operations after the last index checkpoint are re-applied.
func Open(opts Options) (*Shard, error) {
	if opts.Dir == "" {
		return nil, errors.New("cannot open shard: no directory")
	}
	if len(opts.Vectors) == 0 && len(opts.Sparse) == 0 {
		return nil, errors.New("cannot open shard: no vectors configured")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.OpLogRetain <= 0 {
		opts.OpLogRetain = DefaultOpLogRetain
	}
	if opts.OpLogRetainBytes <= 0 {
		opts.OpLogRetainBytes = DefaultOpLogRetainBytes
	}
	if opts.PersistInterval == 0 {
		opts.PersistInterval = DefaultPersistInterval
	}
	if opts.CompactRatio == 0 {
		opts.CompactRatio = DefaultCompactRatio
	}
	if opts.CompactMinDead <= 0 {
		opts.CompactMinDead = DefaultCompactMinDead
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create shard directory: %w", err)
	}
	// A compaction that did not finish left a new store (before its
	// exchange) or the old one (after): either way not the store.
	if err := os.RemoveAll(filepath.Join(opts.Dir, compactDirName)); err != nil {
		return nil, fmt.Errorf("cannot remove an unfinished compaction: %w", err)
	}
	s := &Shard{
		opts:     opts,
		log:      opts.Logger.With("shard", opts.ID),
		ids:      newPointIDs(0),
		spaces:   make(map[string]*space),
		sparse:   make(map[string]*sparseSpace),
		multi:    make(map[string]*multiSpace),
		persistC: make(chan struct{}, 1),
		writes:   opts.Writes,
	}
	if s.writes == nil {
		s.writes = new(WriteActivity)
	}
	s.disk = newDiskGuard(opts.Dir, opts.MinFreeDiskBytes, s.log)
	db, err := pebble.Open(filepath.Join(opts.Dir, "store"), s.pebbleOptions())
	if err != nil {
		return nil, fmt.Errorf("cannot open shard store %s: %w", opts.Dir, err)
	}
	s.db = db
	if err := s.load(); err != nil {
		s.closeMulti()
		s.closeView()
		db.Close()
		return nil, err
	}
	s.bgCtx, s.bgCancel = context.WithCancel(context.Background())
	s.startBackground()
	return s, nil
}

func (s *Shard) pebbleOptions() *pebble.Options {
	o := &pebble.Options{
		FormatMajorVersion: pebble.FormatTableFormatV6,
		MemTableSize:       32 << 20,
		// Reads are served from memory; the store is read only by Open,
		// ReadOps and checkpoints, so L0 may hold many overlapping files.
		// Compacting later costs less write amplification during imports
		// (BenchmarkImportWriteAmp, 60,000 × 784: 2.85–3.01× counting the
		// WAL, against 3.52–4.74× with Pebble's default threshold of 4).
		L0CompactionThreshold:     16,
		L0CompactionFileThreshold: 1000,
		L0StopWritesThreshold:     64,
		Logger:                    pebbleLogger{s.log},
		EventListener:             stallLogger(s.log),
	}
	// Vectors, most of the bytes, are floats that snappy hardly shrinks;
	// compressing every flushed block cost a quarter of an import's CPU.
	o.ApplyCompressionSettings(func() pebble.DBCompressionSettings { return pebble.DBCompressionNone })
	return o
}

// stallLogger returns a Pebble event listener that logs each write stall
// (writes held while memtables wait for a flush, or L0 for compactions)
// when it ends, with its reason and duration: a stall holds every write of
// the shard, so its length is what a writer's latency shows.
func stallLogger(log *slog.Logger) *pebble.EventListener {
	var mu sync.Mutex
	var began time.Time
	var reason string
	return &pebble.EventListener{
		WriteStallBegin: func(i pebble.WriteStallBeginInfo) {
			mu.Lock()
			began, reason = time.Now(), i.Reason
			mu.Unlock()
		},
		WriteStallEnd: func() {
			mu.Lock()
			d, r := time.Since(began), reason
			mu.Unlock()
			log.Warn("store writes stalled", "component", "pebble", "reason", r, "seconds", d.Seconds())
		},
	}
}

// pebbleLogger sends Pebble's log lines to slog.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
}

// Fatalf must not return: Pebble goes on as if nothing failed when it
// does. It panics with a pebbleFatal, which Pending.Commit recovers from
// when the commit it runs is what failed (see commitBatch).
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error(msg, "component", "pebble")
	panic(pebbleFatal{msg})
}

// pebbleFatal is the panic value of pebbleLogger.Fatalf.
type pebbleFatal struct{ msg string }

func (f pebbleFatal) Error() string { return "pebble: " + f.msg }

// load reads the meta record, the point headers and the index files, and
// rebuilds every in-memory structure.
func (s *Shard) load() error {
	m, err := s.readMeta()
	if err != nil {
		return err
	}
	s.lastSeq, s.nextOff = m.LastSeq, m.NextOffset
	for name, p := range s.opts.Vectors {
		if p.MultivectorConfig != nil {
			ms, err := newMultiSpace(name, p, s.opts.Dir)
			if err != nil {
				return fmt.Errorf("cannot open shard: %w", err)
			}
			s.multi[name] = ms
			continue
		}
		if memmapDue(p, s.opts.Optimizers, m.NextOffset) {
			on := true
			p.OnDisk = &on
		}
		sp, err := newSpace(name, p, s.opts.Hnsw[name], s.opts.Optimizers, s.opts.IndexingThreads, s.opts.Dir)
		if err != nil {
			return fmt.Errorf("cannot open shard: %w", err)
		}
		sp.quant.cfg = s.opts.Quantization[name]
		sp.log = s.log
		s.spaces[name] = sp
	}
	for name := range s.opts.Sparse {
		if s.spaces[name] != nil {
			return fmt.Errorf("cannot open shard: vector %q is configured as dense and sparse", name)
		}
		s.sparse[name] = &sparseSpace{name: name, idx: sparse.New()}
	}
	pidx, err := newPayloadIndexes(s.opts.PayloadIndexes)
	if err != nil {
		return fmt.Errorf("cannot open shard: %w", err)
	}
	s.pidx = pidx

	var files indexFiles
	if !s.noIndexFiles {
		files = s.loadIndexFiles(m)
	}
	for name, f := range files {
		s.spaces[name].store.Close()
		s.spaces[name].store = f.store
		// Offsets in a file beyond the store's counter (possible in a
		// checkpoint copy) are dead; never hand them out again.
		s.nextOff = max(s.nextOff, f.n)
	}
	s.growTo(s.nextOff)

	// Point headers: ids, versions, payloads, vector membership; the
	// vectors to read from the store are collected in need (dense) and
	// needSparse (sparse and multi-vectors) and read after, in key order.
	var need, needSparse []vectorRef
	// With payloads on disk, the payload indexes are fed after the scan
	// (postings grow in offset order) from what they read of each payload.
	var indexed []api.Payload
	readPayloads := !s.opts.OnDiskPayload
	if s.opts.OnDiskPayload && len(s.pidx.schemas) > 0 {
		indexed = make([]api.Payload, s.nextOff)
		readPayloads = true
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixPoint}, UpperBound: []byte{prefixPoint + 1}})
	if err != nil {
		return fmt.Errorf("cannot read points: %w", err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		id, okID := api.PointIDFromKey(it.Key()[1:])
		if !okID {
			it.Close()
			return fmt.Errorf("cannot read point key %x: %w", it.Key(), errCorrupt)
		}
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return fmt.Errorf("cannot read point %s: %w", id, err)
		}
		h, err := decodePointHeader(v, readPayloads)
		if err != nil {
			it.Close()
			return fmt.Errorf("cannot read point %s: %w", id, err)
		}
		if h.Offset >= s.nextOff {
			it.Close()
			return fmt.Errorf("cannot read point %s: offset %d beyond next offset %d: %w", id, h.Offset, s.nextOff, errCorrupt)
		}
		off := h.Offset
		s.ids.bind(id, off)
		s.version[off] = h.Version
		s.psize[off] = uint32(h.PayloadLen)
		s.payloadBytes += uint64(h.PayloadLen)
		switch {
		case !s.opts.OnDiskPayload:
			s.payloads[off] = h.Payload
		case indexed != nil:
			indexed[off] = s.pidx.set.Project(h.Payload)
		}
		s.live.set(off)
		s.nLive++
		for _, name := range h.Names {
			if s.sparse[name] != nil || s.multi[name] != nil {
				needSparse = append(needSparse, vectorRef{id, name, off})
				continue
			}
			sp := s.spaces[name]
			if sp == nil {
				it.Close()
				return fmt.Errorf("cannot read point %s: vector %q is not configured", id, name)
			}
			sp.has.set(off)
			sp.count++
			if !files[name].covers(off) {
				need = append(need, vectorRef{id, name, off})
			}
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("cannot read points: %w", err)
	}
	err = s.readVectors(need, func(m vectorRef, v []byte) error {
		vec, err := decodeFloats(v)
		if err != nil {
			return err
		}
		sp := s.spaces[m.name]
		if len(vec) != sp.dim {
			return fmt.Errorf("dimension %d, want %d: %w", len(vec), sp.dim, errCorrupt)
		}
		sp.store.Set(m.off, vec)
		return nil
	})
	if err != nil {
		return err
	}
	// Sparse and multi-vectors are not in index files: the inverted
	// indexes and the multi-vector rows are rebuilt from the store, in
	// offset order as they require.
	err = s.readVectors(needSparse, func(m vectorRef, v []byte) error {
		if ms := s.multi[m.name]; ms != nil {
			vs, err := decodeMulti(v, ms.dim)
			if err != nil {
				return err
			}
			ms.set(m.off, vs)
			return nil
		}
		sv, err := decodeSparse(v)
		if err != nil {
			return err
		}
		s.sparse[m.name].idx.Add(m.off, toIndexVector(sv))
		return nil
	})
	if err != nil {
		return err
	}
	for name, sp := range s.spaces {
		sp.reconcile(files[name], s.live, s.nextOff)
	}
	for off := range s.nextOff {
		switch {
		case !s.live.has(off):
		case !s.opts.OnDiskPayload:
			s.pidx.add(off, s.payloads[off])
		case indexed != nil:
			s.pidx.add(off, indexed[off])
		}
	}
	s.renewView()
	if err := s.loadEpochs(); err != nil {
		return err
	}
	if err := s.loadLog(m.NextOffset); err != nil {
		return err
	}
	for _, sp := range s.spaces {
		if sp.maybeRepair() < 0 {
			s.rebuildGraph(sp)
		}
	}
	s.persistedAt = files.minSeq(len(s.spaces))
	s.persistedOK = len(files) == len(s.spaces) && s.persistedAt == s.lastSeq
	s.loadedFromStore = len(need)
	s.log.Info("shard opened", "points", s.nLive, "last_seq", s.lastSeq, "index_files_seq", s.persistedAt, "vectors_loaded_from_store", len(need))
	return nil
}

// vectorRef is a vector Open reads from the point records: the vector
// name of a point at an offset.
type vectorRef struct {
	id   api.PointID
	name string
	off  uint32
}

// readVectors reads the vector records refs name and hands each value to
// use, in key order (offset, then name; so in offset order, which the
// sparse indexes require). It walks one iterator over the records, seeking
// over long runs of keys it does not need: a copy opened from a checkpoint
// reads every vector here, and a point lookup each would search every
// overlapping file of the store's level 0. The value is valid only during
// the call.
func (s *Shard) readVectors(refs []vectorRef, use func(m vectorRef, v []byte) error) error {
	if len(refs) == 0 {
		return nil
	}
	slices.SortFunc(refs, func(a, b vectorRef) int { return cmp.Or(cmp.Compare(a.off, b.off), cmp.Compare(a.name, b.name)) })
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: vectorOffsetKey(uint64(refs[0].off)), UpperBound: vectorOffsetKey(uint64(refs[len(refs)-1].off) + 1)})
	if err != nil {
		return fmt.Errorf("cannot read vectors: %w", err)
	}
	err = readVectorsFrom(it, refs, use)
	if cerr := it.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("cannot read vectors: %w", cerr)
	}
	return err
}

func readVectorsFrom(it *pebble.Iterator, refs []vectorRef, use func(m vectorRef, v []byte) error) error {
	ok := it.First()
	for _, m := range refs {
		want := vectorKey(m.off, m.name)
		for ok && bytes.Compare(it.Key(), want) < 0 {
			if off, _, _ := vectorKeyOffset(it.Key()); m.off-off > 64 {
				ok = it.SeekGE(want)
			} else {
				ok = it.Next()
			}
		}
		if !ok || !bytes.Equal(it.Key(), want) {
			err := it.Error()
			if err == nil {
				err = pebble.ErrNotFound
			}
			return fmt.Errorf("cannot read vector %q of point %s: %w", m.name, m.id, err)
		}
		v, err := it.ValueAndErr()
		if err == nil {
			err = use(m, v)
		}
		if err != nil {
			return fmt.Errorf("cannot read vector %q of point %s: %w", m.name, m.id, err)
		}
		ok = it.Next()
	}
	return nil
}

func (s *Shard) readMeta() (meta, error) {
	v, closer, err := s.db.Get(metaKey)
	if errors.Is(err, pebble.ErrNotFound) {
		m := meta{Format: storeFormatVersion}
		if err := s.db.Set(metaKey, m.encode(), pebble.Sync); err != nil {
			return m, fmt.Errorf("cannot initialise shard store: %w", err)
		}
		return m, nil
	}
	if err != nil {
		return meta{}, fmt.Errorf("cannot read shard meta: %w", err)
	}
	defer closer.Close()
	m, err := decodeMeta(v)
	if err != nil {
		return m, err
	}
	if m.Format < minStoreFormatVersion || m.Format > storeFormatVersion {
		return m, fmt.Errorf("cannot open shard store: format version %d, this build reads %d to %d", m.Format, minStoreFormatVersion, storeFormatVersion)
	}
	return m, nil
}

// growTo makes the per-offset arrays hold n offsets. Caller holds mu (or is
// the only user).
func (s *Shard) growTo(n uint32) {
	if int(n) <= s.ids.capacity() {
		return
	}
	c := max(int(n), 2*s.ids.capacity(), 64)
	s.ids.grow(c)
	version := make([]uint64, c)
	copy(version, s.version)
	s.version = version
	psize := make([]uint32, c)
	copy(psize, s.psize)
	s.psize = psize
	if !s.opts.OnDiskPayload {
		payloads := make([]api.Payload, c)
		copy(payloads, s.payloads)
		s.payloads = payloads
	}
}

// loadLog finds the first logged operation and the size of each one.
// next is the offset counter after the last operation.
func (s *Shard) loadLog(next uint32) error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixOp}, UpperBound: []byte{prefixOp + 1}})
	if err != nil {
		return fmt.Errorf("cannot read op log: %w", err)
	}
	defer it.Close()
	s.logFirst, s.logFirstOff, s.logSizes, s.logBytes = 0, 0, nil, 0
	var lens []int
	var offs []uint32
	for ok := it.First(); ok; ok = it.Next() {
		seq := seqFromOpKey(it.Key())
		if s.logFirst == 0 {
			s.logFirst = seq
		} else if want := s.logFirst + uint64(len(lens)); seq != want {
			return fmt.Errorf("cannot read op log: gap at sequence %d (found %d): %w", want, seq, errCorrupt)
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return fmt.Errorf("cannot read operation %d: %w", seq, err)
		}
		off, err := opOffBefore(v)
		if err != nil {
			return fmt.Errorf("cannot read operation %d: %w", seq, err)
		}
		lens, offs = append(lens, len(v)), append(offs, off)
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("cannot read op log: %w", err)
	}
	if len(offs) > 0 {
		s.logFirstOff = offs[0]
	}
	for i := range lens {
		after := next
		if i+1 < len(offs) {
			after = offs[i+1]
		}
		s.logSizes = append(s.logSizes, s.opSize(lens[i], offs[i], after))
		s.logBytes += s.logSizes[i]
	}
	return nil
}

// opSize is the size an operation counts for in the op log's byte budget:
// its record plus the vectors of the offsets it took, at the size of every
// configured vector (an upper bound for points without some of them).
func (s *Shard) opSize(recordLen int, before, after uint32) uint64 {
	per := uint64(0)
	for _, p := range s.opts.Vectors {
		per += 4 * uint64(p.Size)
	}
	if after < before {
		after = before
	}
	return uint64(recordLen) + uint64(after-before)*per
}

// Close stops background work, persists index checkpoints and closes the store.
func (s *Shard) Close() error { return s.close(true) }

// Drop stops background work and closes the store without persisting index
// files, for a shard whose directory is about to be deleted. Open still
// works on a dropped shard's directory (the index files are caches).
func (s *Shard) Drop() error { return s.close(false) }

func (s *Shard) close(persist bool) error {
	s.writeMu.Lock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.writeMu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.writeMu.Unlock()

	s.bgCancel()
	s.bgWG.Wait()
	var errs []error
	if persist {
		if err := s.persist(context.Background(), s.opts.Dir, false); err != nil {
			errs = append(errs, err)
		}
	}
	for _, sp := range s.spaces {
		if g := sp.graph.Load(); g != nil {
			if err := g.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		if err := sp.store.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	s.mu.Lock()
	for _, ms := range s.multi {
		if err := ms.close(); err != nil {
			errs = append(errs, err)
		}
	}
	s.closeView()
	s.mu.Unlock()
	s.closeMu.Lock()
	if s.db == nil {
		// A failed store could not be reopened; it is closed already.
	} else if err := s.db.Close(); err != nil {
		errs = append(errs, fmt.Errorf("cannot close shard store: %w", err))
	}
	s.closeMu.Unlock()
	return errors.Join(errs...)
}

// LastSeq returns the sequence number of the last applied operation.
func (s *Shard) LastSeq() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.lastSeq
}

// bgError is a background failure reported by Stats.
type bgError struct{ msg string }

// Stats is a shard's state for collection info and metrics.
type Stats struct {
	Points uint64
	// PayloadBytes is the size of the live points' payloads (their JSON).
	PayloadBytes   uint64
	IndexedVectors uint64 // vectors in HNSW graphs (all names)
	// Indexed counts the vectors in each dense vector name's HNSW graph.
	Indexed map[string]uint64
	// Multi counts the live points holding each multi-vector name.
	Multi        map[string]uint64
	PendingIndex int // vectors waiting for the background indexer
	// Vectors counts the live points holding each vector name.
	Vectors map[string]uint64
	// Status is green when idle, yellow while the background indexer has
	// work (inserts, deletions, repairs), red while the store is failed.
	Status        api.CollectionStatus
	PayloadSchema map[string]api.PayloadIndexInfo
	LastSeq       uint64
	// OptimizerError describes what keeps background work or writes from
	// succeeding ("" when nothing does): a failed store, or the last
	// failed op-log truncation or index persistence.
	OptimizerError string
}

// Stats returns the shard's current statistics.
func (s *Shard) Stats() Stats {
	s.mu.RLock()
	st := Stats{Points: uint64(s.nLive), PayloadBytes: s.payloadBytes, LastSeq: s.lastSeq, PayloadSchema: s.pidx.info(), Vectors: map[string]uint64{}, Indexed: map[string]uint64{}}
	st.Multi = make(map[string]uint64, len(s.multi))
	for name, ms := range s.multi {
		st.Multi[name] = uint64(len(ms.spans))
	}
	spaces := s.sortedSpaces()
	graphs := make([]*hnsw.Graph, len(spaces))
	for i, sp := range spaces {
		graphs[i] = sp.graph.Load()
		st.Vectors[sp.name] = uint64(sp.count)
	}
	s.mu.RUnlock()
	busy := false
	for i, sp := range spaces {
		indexed, pending := sp.indexStats(graphs[i])
		st.IndexedVectors += indexed
		st.Indexed[sp.name] = indexed
		st.PendingIndex += pending
		busy = busy || !sp.idleNow()
	}
	// A product training in the background counts as optimizing too.
	busy = busy || s.trainsRunning.Load() > 0
	st.Status = api.StatusGreen
	if busy || st.PendingIndex > 0 {
		st.Status = api.StatusYellow
	}
	if e := s.bgErr.Load(); e != nil {
		st.OptimizerError = e.msg
	}
	if s.storeBroken.Load() {
		// Qdrant's red: an operation failed and is not recovered yet.
		st.Status = api.StatusRed
		st.OptimizerError = "writes are refused: the store failed to write and is not recovered yet"
	}
	return st
}

func (s *Shard) sortedSpaces() []*space {
	out := make([]*space, 0, len(s.spaces))
	for _, sp := range s.spaces {
		out = append(out, sp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// IndexerState is one vector's background indexer on a shard.
type IndexerState struct {
	// Vector is the vector name.
	Vector string
	// Points counts the live points holding the vector.
	Points uint64
	// Pending counts the vectors waiting to be inserted into the graph.
	Pending int
	// Running is the current run; nil when the indexer is idle.
	Running *IndexerRun
	// Completed are the last completed runs, oldest first.
	Completed []IndexerRun
}

// Indexers reports each vector's background indexer, in name order.
func (s *Shard) Indexers() []IndexerState {
	s.mu.RLock()
	spaces := s.sortedSpaces()
	out := make([]IndexerState, len(spaces))
	for i, sp := range spaces {
		out[i] = IndexerState{Vector: sp.name, Points: uint64(sp.count)}
	}
	s.mu.RUnlock()
	for i, sp := range spaces {
		sp.qMu.Lock()
		out[i].Pending = len(sp.pending)
		if !sp.run.Started.IsZero() {
			r := sp.run
			out[i].Running = &r
		}
		out[i].Completed = slices.Clone(sp.completed)
		sp.qMu.Unlock()
	}
	return out
}

// WaitIndexed blocks until every vector applied so far is in its HNSW index
// (status green) or ctx ends. Once it returns, and until the next write,
// every indexed vector is reachable by graph searches: it waits for a
// running graph repair and links any node no search reaches.
func (s *Shard) WaitIndexed(ctx context.Context) error {
	s.mu.RLock()
	spaces := s.sortedSpaces()
	s.mu.RUnlock()
	for {
		// A compaction meanwhile queues every vector again: wait anew.
		gen := s.compactions.Load()
		for _, sp := range spaces {
			if err := sp.waitIdle(ctx); err != nil {
				return err
			}
			if n := sp.checkReach(func() bool { return ctx.Err() != nil }, true); n > 0 {
				s.log.Debug("graph nodes reconnected", "vector", sp.name, "linked", n)
			}
		}
		for s.trainsRunning.Load() > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(5 * time.Millisecond):
			}
		}
		if s.compactions.Load() == gen {
			return nil
		}
	}
}
