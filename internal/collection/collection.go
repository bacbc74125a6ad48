// Package collection is one collection on one node: its configuration, its
// N local shards and the consistent-hash router between them.
//
// It is the only code that sees more than one shard. Writes are validated
// here in full (vector names, dimensions, finite values, payload depth,
// filters) before any shard is touched, then split by owning shard; reads
// fan out to the shards in parallel and merge (top-k by score, id order for
// scroll, sums for count and facets). The universal query API is
// implemented here on top of the shards' primitive search, scroll and sample:
// prefetches, fusion (rrf, dbsf), recommend, discover, context, order_by,
// random sampling, groups and the distance matrix.
//
// Step 2 puts remote shards behind the same router; nothing above this
// package needs to change for it.
package collection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/shard"
)

// Resolver opens another collection by name (or alias) for lookup_from and
// with_lookup. The service supplies it, with access checks; the returned
// release function must be called when the caller is done with it.
type Resolver func(ctx context.Context, name string) (*Collection, func(), error)

// Options configure a collection.
type Options struct {
	// Dir is the collection's directory; shard i lives in <Dir>/<i>.
	Dir string
	// Name is the collection's name, used in errors and logs.
	Name string
	// Config is the resolved configuration (defaults applied).
	Config api.CollectionConfig
	// PayloadIndexes are the payload indexes to maintain.
	PayloadIndexes map[string]api.PayloadFieldSchema
	// Logger receives events; nil discards them.
	Logger *slog.Logger
	// IndexingThreads is passed to every shard (0: the shard's default).
	IndexingThreads int
	// Writes is passed to every shard (shard.Options.Writes: the node's
	// record of write activity, which indexers yield to).
	Writes *shard.WriteActivity
	// MinFreeDiskBytes is passed to every shard (shard.Options: 0 is
	// shard.DefaultMinFreeDiskBytes, negative turns the check off).
	MinFreeDiskBytes int64
	// Resolver looks up other collections; nil makes lookup_from and
	// with_lookup fail with a clear error.
	Resolver Resolver
	// ShardOptions, when set, may adjust each shard's options before it is
	// opened (tests use it to shorten intervals).
	ShardOptions func(*shard.Options)
	// Local, when set, reports whether this node holds a replica of shard
	// i (cluster mode); unset, every shard is local.
	Local func(i int) bool
	// Route, when set, returns the handle the router uses for shard i,
	// given this node's replica of it (nil when it holds none): in a
	// cluster, one that also reaches the replicas on other peers. Unset,
	// the router uses the local shard.
	Route func(i int, local *shard.Shard) Shard
	// Quarantine, when set, is asked about a local shard that fails to
	// open (a corrupt store, say): when it moves the shard's directory
	// aside and returns true, the shard is opened again empty, for its
	// replicas to fill (cluster mode); otherwise the collection fails to
	// open.
	Quarantine func(i int, dir string, err error) bool
}

// Collection is one open collection. It is safe for concurrent use.
type Collection struct {
	name   string
	dir    string
	log    *slog.Logger
	router *Router
	// n is the number of shards; tab holds the shards themselves (see
	// shardTable), replaced whole by Reconfigure.
	n    int
	tab  atomic.Pointer[shardTable]
	opts Options
	res  Resolver

	// cfgMu guards cfg (UpdateCollection may change non-structural parts).
	cfgMu sync.RWMutex
	cfg   api.CollectionConfig

	// mu guards closed, paused and inflight; cond signals inflight
	// reaching zero and a pause ending.
	mu       sync.Mutex
	cond     *sync.Cond
	closed   bool
	paused   bool
	inflight int
}

// shardTable is the collection's shards by id: shards is what the router
// calls (this node's replica, or a handle reaching the shard's replicas on
// other peers), local this node's replica of each shard (nil where it
// holds none). A table is never changed once published; Reconfigure
// publishes a new one while no operation is in flight.
type shardTable struct {
	shards []Shard
	local  []*shard.Shard
}

// routes returns the shards the router calls, by id.
func (c *Collection) routes() []Shard { return c.tab.Load().shards }

// locals returns this node's replica of each shard (nil where it holds
// none), by id.
func (c *Collection) locals() []*shard.Shard { return c.tab.Load().local }

// Open opens (creating if needed) the collection's shards in opts.Dir.
func Open(opts Options) (*Collection, error) {
	if opts.Dir == "" {
		return nil, errors.New("cannot open collection: no directory")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	cfg := opts.Config
	n := cfg.Params.ShardNumber
	if n < 1 {
		return nil, fmt.Errorf("cannot open collection %s: shard_number %d", opts.Name, n)
	}
	if len(cfg.Params.Vectors) == 0 && len(cfg.Params.SparseVectors) == 0 {
		return nil, fmt.Errorf("cannot open collection %s: no vectors configured", opts.Name)
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create collection directory: %w", err)
	}
	c := &Collection{
		name:   opts.Name,
		dir:    opts.Dir,
		log:    opts.Logger.With("collection", opts.Name),
		router: NewRouter(n),
		n:      n,
		opts:   opts,
		res:    opts.Resolver,
		cfg:    cfg,
	}
	c.cond = sync.NewCond(&c.mu)
	local := make([]*shard.Shard, n)
	opens := make([]int, 0, n)
	for i := range n {
		if opts.Local == nil || opts.Local(i) {
			opens = append(opens, i)
		}
	}
	if err := c.openShards(cfg, opts.PayloadIndexes, opens, local, opts.Quarantine); err != nil {
		return nil, fmt.Errorf("cannot open collection %s: %w", opts.Name, err)
	}
	c.tab.Store(&shardTable{shards: routeAll(local, opts.Route), local: local})
	return c, nil
}

// openShards opens (creating if needed) the shards ids in parallel, each
// replaying its own store, into local. A shard that fails to open is
// offered to quarantine (nil: none); when it accepts, the shard is opened
// again empty. On error every shard opened here is closed again.
func (c *Collection) openShards(cfg api.CollectionConfig, indexes map[string]api.PayloadFieldSchema, ids []int, local []*shard.Shard, quarantine func(i int, dir string, err error) bool) error {
	hnsw := make(map[string]api.HnswConfig, len(cfg.Params.Vectors))
	quant := map[string]*api.QuantizationConfig{}
	for name := range cfg.Params.Vectors {
		hnsw[name] = cfg.VectorHnsw(name)
		if q := cfg.VectorQuantization(name); q != nil {
			quant[name] = q
		}
	}
	// The collection's max_optimization_threads caps each shard's
	// indexing workers; 0 disables optimizations, as in Qdrant: no graph
	// is built (searches stay exact).
	threads, opt := c.opts.IndexingThreads, cfg.OptimizerConfig
	if m := opt.MaxOptimizationThreads; m != nil {
		switch {
		case *m == 0:
			off := 0
			opt.IndexingThreshold = &off
		case threads <= 0 || *m < threads:
			threads = *m
		}
	}
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for k, i := range ids {
		so := shard.Options{
			Dir:              filepath.Join(c.dir, strconv.Itoa(i)),
			ID:               i,
			Vectors:          cfg.Params.Vectors,
			Sparse:           cfg.Params.SparseVectors,
			Hnsw:             hnsw,
			Quantization:     quant,
			Optimizers:       opt,
			PayloadIndexes:   indexes,
			OnDiskPayload:    cfg.Params.OnDiskPayload,
			IndexingThreads:  threads,
			Writes:           c.opts.Writes,
			MinFreeDiskBytes: c.opts.MinFreeDiskBytes,
			Logger:           c.log,
		}
		if c.opts.ShardOptions != nil {
			c.opts.ShardOptions(&so)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := shard.Open(so)
			if err != nil && quarantine != nil && quarantine(i, so.Dir, err) {
				s, err = shard.Open(so)
			}
			local[i], errs[k] = s, err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, i := range ids {
			if local[i] != nil {
				local[i].Close()
				local[i] = nil
			}
		}
		return err
	}
	return nil
}

// routeAll returns the router's shards for the local replicas: route's
// handles when route is set, else the local shards themselves.
func routeAll(local []*shard.Shard, route func(i int, local *shard.Shard) Shard) []Shard {
	shards := make([]Shard, len(local))
	for i, s := range local {
		switch {
		case route != nil:
			shards[i] = route(i, s)
		case s != nil:
			shards[i] = s
		}
	}
	return shards
}

// Name returns the collection's name.
func (c *Collection) Name() string { return c.name }

// Dir returns the collection's directory.
func (c *Collection) Dir() string { return c.dir }

// Shards returns the number of shards.
func (c *Collection) Shards() int { return c.n }

// Config returns the collection's configuration.
func (c *Collection) Config() api.CollectionConfig {
	c.cfgMu.RLock()
	defer c.cfgMu.RUnlock()
	return c.cfg
}

// SetConfig replaces the configuration reported by Config (after an
// UpdateCollection). The structure of an open collection never changes: the
// shard number and each vector's name, size and distance are kept from the
// current configuration; per-vector settings (HNSW, on_disk, quantization)
// are taken from cfg. A changed quantization (the collection's or a
// vector's) is applied to the local shards at once (shard.SetQuantization:
// codes dropped, or trained and encoded afresh).
func (c *Collection) SetConfig(cfg api.CollectionConfig) {
	c.cfgMu.Lock()
	defer c.cfgMu.Unlock()
	for name := range c.cfg.Params.Vectors {
		before, after := c.cfg.VectorQuantization(name), cfg.VectorQuantization(name)
		if reflect.DeepEqual(before, after) {
			continue
		}
		for _, s := range c.locals() {
			if s != nil {
				s.SetQuantization(name, after)
			}
		}
	}
	vectors := make(api.VectorsConfig, len(c.cfg.Params.Vectors))
	for name, cur := range c.cfg.Params.Vectors {
		p, ok := cfg.Params.Vectors[name]
		if !ok {
			p = cur
		}
		p.Size, p.Distance = cur.Size, cur.Distance
		vectors[name] = p
	}
	cfg.Params.Vectors = vectors
	cfg.Params.ShardNumber = c.cfg.Params.ShardNumber
	c.cfg = cfg
}

// vectorParams returns the params of the named vector, or Qdrant's error.
func (c *Collection) vectorParams(name string) (api.VectorParams, error) {
	c.cfgMu.RLock()
	p, ok := c.cfg.Params.Vectors[name]
	c.cfgMu.RUnlock()
	if !ok {
		return p, errNoVector(name)
	}
	return p, nil
}

func errNoVector(name string) error {
	return api.ErrBadInput("Not existing vector name error: %s", name)
}

// acquire registers an operation; it fails once Close has begun.
// heldKey marks a context whose caller holds the collection (Held).
type heldKey struct{ c *Collection }

// Held returns ctx marked as belonging to a caller that holds c (Acquire
// succeeded and release was not called yet). c's methods called with it
// keep working after Close has started, which waits for that caller
// anyway; without the mark they refuse once Close has started.
func (c *Collection) Held(ctx context.Context) context.Context {
	return context.WithValue(ctx, heldKey{c}, true)
}

func (c *Collection) acquire(ctx context.Context) error {
	held := ctx.Value(heldKey{c}) != nil
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.paused && !c.closed && !held {
		c.cond.Wait() // Reconfigure runs: wait for its new shards
	}
	if c.closed && !held {
		return api.ErrCollectionNotFound(c.name)
	}
	c.inflight++
	return nil
}

func (c *Collection) release() {
	c.mu.Lock()
	c.inflight--
	if c.inflight == 0 {
		c.cond.Broadcast()
	}
	c.mu.Unlock()
}

// Acquire registers a caller that will use the collection until it calls
// the returned release function; Close waits for every such caller. It
// fails with a not-found error once Close has begun.
func (c *Collection) Acquire() (func(), error) {
	if err := c.acquire(context.Background()); err != nil {
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(c.release) }, nil
}

// Close waits for in-flight operations, then closes every shard. New
// operations fail with a not-found error from the moment Close is called.
func (c *Collection) Close() error { return c.close((*shard.Shard).Close) }

// Drop is Close for a collection whose directory is about to be deleted:
// shards are closed without persisting their index files.
func (c *Collection) Drop() error { return c.close((*shard.Shard).Drop) }

func (c *Collection) close(closeShard func(*shard.Shard) error) error {
	c.mu.Lock()
	for c.paused {
		c.cond.Wait() // Reconfigure runs: close what it leaves
	}
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	for c.inflight > 0 {
		c.cond.Wait()
	}
	c.mu.Unlock()
	var errs []error
	for _, s := range c.locals() {
		if s == nil {
			continue
		}
		if err := closeShard(s); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cannot close collection %s: %w", c.name, err)
	}
	return nil
}

// eachShard runs fn on every shard in parallel and returns the first error.
func (c *Collection) eachShard(ctx context.Context, fn func(ctx context.Context, i int, s Shard) error) error {
	if c.n == 1 {
		return fn(ctx, 0, c.routes()[0])
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The first failure cancels the others; it is the one reported, not
	// the cancellations it caused (which a remote shard reports as its own
	// errors).
	var (
		mu    sync.Mutex
		first error
	)
	var wg sync.WaitGroup
	for i, s := range c.routes() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx, i, s); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
				cancel()
			}
		}()
	}
	wg.Wait()
	return first
}

// Info reports the collection's status and sizes.
func (c *Collection) Info(ctx context.Context) (*api.CollectionInfo, error) {
	if err := c.acquire(ctx); err != nil {
		return nil, err
	}
	defer c.release()
	info := &api.CollectionInfo{
		Status:          api.StatusGreen,
		OptimizerStatus: "ok",
		SegmentsCount:   c.n,
		Config:          c.Config(),
		PayloadSchema:   map[string]api.PayloadIndexInfo{},
	}
	for si, h := range c.routes() {
		s := c.locals()[si]
		if s == nil {
			// Another peer holds the shard: count its points there.
			n, err := h.Count(ctx, nil, true)
			if err != nil {
				return nil, err
			}
			info.PointsCount += n
			continue
		}
		st := s.Stats()
		info.PointsCount += st.Points
		info.IndexedVectorsCount += st.IndexedVectors
		info.Status = worseStatus(info.Status, st.Status)
		if st.OptimizerError != "" && info.OptimizerStatus == "ok" {
			// Qdrant's {"error": "..."}: the first shard's failure.
			info.OptimizerStatus = map[string]string{"error": fmt.Sprintf("shard %d: %s", si, st.OptimizerError)}
		}
		for key, pi := range st.PayloadSchema {
			cur, ok := info.PayloadSchema[key]
			if !ok {
				cur = api.PayloadIndexInfo{DataType: pi.DataType, Params: pi.Params}
			}
			cur.Points += pi.Points
			info.PayloadSchema[key] = cur
		}
	}
	return info, nil
}

// Stats is a collection's summary for telemetry.
type Stats struct {
	Status         api.CollectionStatus
	Points         uint64
	IndexedVectors uint64
	PendingIndex   int
	// PayloadBytes is the size of the points' payloads (their JSON).
	PayloadBytes uint64
	// Vectors counts the points holding each vector name.
	Vectors map[string]uint64
	// Indexing counts the (shard, vector name) pairs whose background
	// indexer has work (the running optimizations).
	Indexing int
}

// LocalShardStats returns the statistics of each shard this node holds,
// by shard id.
func (c *Collection) LocalShardStats() map[int]shard.Stats {
	out := map[int]shard.Stats{}
	for i, s := range c.locals() {
		if s != nil {
			out[i] = s.Stats()
		}
	}
	return out
}

// Stats sums the shards' statistics.
func (c *Collection) Stats() Stats {
	st := Stats{Status: api.StatusGreen, Vectors: map[string]uint64{}}
	for _, s := range c.locals() {
		if s == nil {
			continue
		}
		ss := s.Stats()
		st.Points += ss.Points
		st.PayloadBytes += ss.PayloadBytes
		st.IndexedVectors += ss.IndexedVectors
		st.PendingIndex += ss.PendingIndex
		st.Status = worseStatus(st.Status, ss.Status)
		for name, n := range ss.Vectors {
			st.Vectors[name] += n
		}
		for _, ix := range s.Indexers() {
			if ix.Running != nil {
				st.Indexing++
			}
		}
	}
	return st
}

func statusRank(s api.CollectionStatus) int {
	switch s {
	case api.StatusGreen:
		return 0
	case api.StatusGrey:
		return 1
	case api.StatusYellow:
		return 2
	case api.StatusRed:
		return 3
	}
	return 0
}

func worseStatus(a, b api.CollectionStatus) api.CollectionStatus {
	if statusRank(b) > statusRank(a) {
		return b
	}
	return a
}

// WaitIndexed blocks until every shard has indexed everything applied so far.
func (c *Collection) WaitIndexed(ctx context.Context) error {
	if err := c.acquire(ctx); err != nil {
		return err
	}
	defer c.release()
	return c.eachLocal(ctx, func(ctx context.Context, _ int, s *shard.Shard) error { return s.WaitIndexed(ctx) })
}

// CreatePayloadIndex builds the payload index on every shard.
func (c *Collection) CreatePayloadIndex(ctx context.Context, key string, schema api.PayloadFieldSchema) error {
	if err := c.acquire(ctx); err != nil {
		return err
	}
	defer c.release()
	return c.eachLocal(ctx, func(ctx context.Context, _ int, s *shard.Shard) error {
		return s.CreatePayloadIndex(ctx, key, schema)
	})
}

// DropPayloadIndex drops the payload index on every shard.
func (c *Collection) DropPayloadIndex(ctx context.Context, key string) error {
	if err := c.acquire(ctx); err != nil {
		return err
	}
	defer c.release()
	return c.eachLocal(ctx, func(ctx context.Context, _ int, s *shard.Shard) error {
		return s.DropPayloadIndex(ctx, key)
	})
}

// LastSeq returns the largest applied sequence number over the shards.
func (c *Collection) lastSeq() uint64 {
	var m uint64
	for _, s := range c.locals() {
		if s == nil {
			continue
		}
		m = max(m, s.LastSeq())
	}
	return m
}
