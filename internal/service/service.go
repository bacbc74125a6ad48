package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/auth"
	"github.com/shoal-db/shoal/internal/background"
	"github.com/shoal-db/shoal/internal/collection"
	"github.com/shoal-db/shoal/internal/durable"
	"github.com/shoal-db/shoal/internal/meta"
	"github.com/shoal-db/shoal/internal/shard"
	"github.com/shoal-db/shoal/internal/snapshot"
)

// Limits bound what one request may ask for. Zero fields take the defaults.
type Limits struct {
	// MaxBatchPoints is the most points (or ids) one write may carry.
	MaxBatchPoints int
	// MaxFilterDepth is the deepest filter nesting accepted.
	MaxFilterDepth int
	// MaxLimit is the largest limit (plus offset) of a search or scroll
	// that runs. A larger one is first clamped to the collection's point
	// count (no search returns more), so only a collection holding more
	// points than MaxLimit refuses it (fitLimits).
	MaxLimit int
	// MaxBatchQueries is the most queries of one batch request.
	MaxBatchQueries int
	// MaxPrefetchDepth is the deepest nesting of prefetches.
	MaxPrefetchDepth int
	// MaxMatrixSample is the largest distance-matrix sample.
	MaxMatrixSample int
	// MaxCollections is the most collections a node holds (0: no limit).
	MaxCollections int
	// MaxConcurrentReads bounds the read requests (queries, searches,
	// scroll, count, facet, retrieval) that run at once; more wait for a
	// slot until their timeout (0: no limit).
	MaxConcurrentReads int
	// MaxConcurrentUpdates bounds the point updates that run at once; more
	// wait for a slot until their timeout (0: no limit).
	MaxConcurrentUpdates int
}

// Default limits.
const (
	DefaultMaxBatchPoints   = 100_000
	DefaultMaxLimit         = 100_000
	DefaultMaxBatchQueries  = 1_000
	DefaultMaxPrefetchDepth = 8
	DefaultMaxMatrixSample  = 10_000
)

func (l Limits) withDefaults() Limits {
	if l.MaxBatchPoints <= 0 {
		l.MaxBatchPoints = DefaultMaxBatchPoints
	}
	if l.MaxFilterDepth <= 0 || l.MaxFilterDepth > api.MaxFilterDepth {
		l.MaxFilterDepth = api.MaxFilterDepth
	}
	if l.MaxLimit <= 0 {
		l.MaxLimit = DefaultMaxLimit
	}
	if l.MaxBatchQueries <= 0 {
		l.MaxBatchQueries = DefaultMaxBatchQueries
	}
	if l.MaxPrefetchDepth <= 0 {
		l.MaxPrefetchDepth = DefaultMaxPrefetchDepth
	}
	if l.MaxMatrixSample <= 0 {
		l.MaxMatrixSample = DefaultMaxMatrixSample
	}
	return l
}

// Options configure a Service.
type Options struct {
	// StorageDir holds meta.json and collections/<name>/.
	StorageDir string
	// PeerID is this node's peer id, reported in cluster information.
	PeerID uint64
	// Logger receives events; nil discards them.
	Logger *slog.Logger
	// Limits bound requests.
	Limits Limits
	// DefaultShardNumber is the shard_number of collections created without
	// one (0: 1, as a standalone Qdrant).
	DefaultShardNumber int
	// IndexingThreads is passed to every shard (0: the shard's default).
	IndexingThreads int
	// CollectionDefaults, when set, are the settings of collections
	// created without them (the node's storage.hnsw_index,
	// storage.optimizers and storage.on_disk_payload); nil means Qdrant's
	// defaults (DefaultCollectionDefaults).
	CollectionDefaults *CollectionDefaults
	// MinFreeDiskBytes is the free space every shard keeps on its file
	// system: writes that would leave less are refused (0:
	// shard.DefaultMinFreeDiskBytes, 128 MiB; negative: no check).
	MinFreeDiskBytes int64
	// Now returns the current time for creation timestamps (nil: time.Now).
	Now func() time.Time
	// ShardOptions, when set, may adjust each shard's options (tests).
	ShardOptions func(*shard.Options)
	// WriteActivity, when set, is the write signal the node's background
	// work (indexing, snapshots) yields to, instead of one of the
	// service's own. Nodes that share the cores of one process, as an
	// in-process test cluster's do, may share one: each then yields to
	// the writes of all, as separate machines' would not need to.
	WriteActivity *shard.WriteActivity
	// Cluster, when set, makes the service a cluster member: metadata
	// changes go through it (Raft) and its applied state is the metadata;
	// the service is its Listener (Applied, Restored) and opens, routes and
	// drops collections as the state says. Unset, the node is standalone
	// and keeps its metadata in meta.json.
	Cluster Cluster
	// RemoteShard returns the handle of a shard replica held by another
	// peer (cluster mode).
	RemoteShard func(t RemoteTarget) collection.Shard
	// PeerDial returns a connection to another peer's p2p port (cluster
	// mode: replication streams).
	PeerDial func(peer uint64) (*grpc.ClientConn, error)
	// ControlDial returns the control connection to a peer (liveness
	// pings), apart from the data connection PeerDial returns, so that
	// bulk transfers never delay a ping (nil: PeerDial).
	ControlDial func(peer uint64) (*grpc.ClientConn, error)
	// AckTimeout is how long a backup replica may fail to acknowledge
	// writes before its primary marks it Dead (0:
	// replica.DefaultAckTimeout).
	AckTimeout time.Duration
	// FailoverAfter is how long a shard's primary must be unreachable
	// before the Raft leader hands the shard to another Active replica
	// (0: DefaultFailoverAfter).
	FailoverAfter time.Duration
	// TransferRate bounds each checkpoint transfer in bytes per second
	// (0: no limit).
	TransferRate float64
	// SnapshotCPUShare bounds the CPU that snapshot work on this node
	// (checkpoints read, hashed and sent for cluster snapshots, archives
	// written) takes while writes come in, as a share of one core (0 or
	// 1 and above: no limit; SnapshotLimiter).
	SnapshotCPUShare float64
	// Heal configures the Raft leader's allocator (heal.go): how long a
	// peer may be unreachable before its replicas are re-created
	// elsewhere, transfers per node, rebalancing.
	Heal HealOptions
	// Failpoint, when set, is called at the named steps of a collection
	// restore (the Failpoint* constants; tests inject failures and crashes
	// there). An error it returns before the commit point fails the restore
	// as that step's failure would; after the commit point the restore has
	// happened and the error is only logged.
	Failpoint func(point string) error
	// StageTimeout is how long replicas staged on this node for a cluster
	// restore wait for it to commit while its owner stops renewing their
	// lease (0: DefaultStageTimeout; staging.go).
	StageTimeout time.Duration
}

// Named steps of SnapshotHooks.RestoreCollection, in order, passed to
// Options.Failpoint.
const (
	// FailpointRestoreStaging: the new generation's directory exists and
	// is empty; no shard has moved into it yet.
	FailpointRestoreStaging = "restore/staging"
	// FailpointRestoreStaged: every shard is in the new generation's
	// directory, fsynced.
	FailpointRestoreStaged = "restore/staged"
	// FailpointRestoreOpened: the new collection is open (not yet served);
	// the metadata still names the old generation.
	FailpointRestoreOpened = "restore/opened"
	// FailpointRestoreCommitted: the metadata names the new generation and
	// requests are served by the new collection (the commit point).
	FailpointRestoreCommitted = "restore/committed"
	// FailpointRestoreOldClosed: the old collection is closed; its
	// generation's files still exist.
	FailpointRestoreOldClosed = "restore/old-closed"
	// FailpointRestoreDone: the old generation's files are removed.
	FailpointRestoreDone = "restore/done"
	// FailpointShardRestoreSwapped: a shard restore has swapped the shard's
	// files and not yet reopened the collection. An error it returns fails
	// the shard restore after the collection is reopened.
	FailpointShardRestoreSwapped = "restore-shard/swapped"
	// FailpointClusterRestoreStaged: a cluster restore has staged every
	// replica of a collection and not yet proposed it.
	FailpointClusterRestoreStaged = "cluster-restore/staged"
	// FailpointClusterRestoreRenewed: a cluster restore has renewed its
	// staging leases and not yet proposed the restore.
	FailpointClusterRestoreRenewed = "cluster-restore/renewed"
	// FailpointClusterRestoreApply: this node is about to apply a
	// restore_collection or restore_shard (nothing done yet); tests delay
	// the apply with it.
	FailpointClusterRestoreApply = "cluster-restore/apply"
	// FailpointStageSweepRead: the staging sweep has caught up with the
	// metadata and not yet looked at the leases; tests delay it with it.
	// An error skips this sweep.
	FailpointStageSweepRead = "stage-sweep/read"
)

// RestoreFailpoints returns the collection restore's failpoints in order.
func RestoreFailpoints() []string {
	return []string{FailpointRestoreStaging, FailpointRestoreStaged, FailpointRestoreOpened,
		FailpointRestoreCommitted, FailpointRestoreOldClosed, FailpointRestoreDone}
}

// CollectionDefaults are the settings a new collection takes when its
// create request leaves them out; the request's values are merged onto
// them.
type CollectionDefaults struct {
	// Hnsw is the default hnsw_config.
	Hnsw api.HnswConfig
	// Optimizers is the default optimizers_config.
	Optimizers api.OptimizersConfig
	// OnDiskPayload is the default on_disk_payload.
	OnDiskPayload bool
}

// DefaultCollectionDefaults returns Qdrant's defaults for new collections.
func DefaultCollectionDefaults() CollectionDefaults {
	return CollectionDefaults{Hnsw: api.DefaultHnswConfig(), Optimizers: api.DefaultOptimizersConfig(), OnDiskPayload: true}
}

// Service implements API over the node's local collections. It is safe for
// concurrent use.
type Service struct {
	opts Options
	// rates are the strict-mode rate limiters (strict.go).
	rates  rateLimiters
	log    *slog.Logger
	limits Limits
	meta   *meta.Store // standalone only
	// writes is the node's record of write activity, shared by every
	// shard it opens: indexers yield to writes anywhere on the node.
	writes *shard.WriteActivity
	// background bounds snapshot work while writes come in (nil: no
	// limit); see Options.SnapshotCPUShare.
	background *background.Limiter
	// cluster is opts.Cluster (nil on a standalone node).
	cluster Cluster

	// ddlMu serialises metadata changes with their side effects (opening,
	// closing and removing collection directories).
	ddlMu sync.Mutex

	// mu guards colls and busy. A restore changes the metadata and colls
	// together under mu, so a reader holding mu sees a matching pair.
	mu    sync.RWMutex
	colls map[string]*collection.Collection
	// busy holds a channel, closed when done, for each collection that is
	// briefly not open because a shard restore replaces a shard's files;
	// requests wait for it instead of failing.
	busy map[string]chan struct{}

	// gens holds the generation of each open collection (cluster mode).
	gens map[string]uint64
	// sets holds the replica sets of each open collection (cluster mode),
	// by shard id.
	sets map[string][]*replicaSet
	// stopLoops stops the background loops of cluster mode (liveness,
	// failover, allocation: heal.go).
	stopLoops chan struct{}
	// live is this node's view of its peers' reachability; heals counts
	// the allocator's applied actions (heal.go).
	live         liveness
	heals        atomic.Int64
	deadReplaced atomic.Int64
	// transfers counts the checkpoint transfers this node sent as a
	// primary, transferBytes their bytes, transferNanos their time.
	transfers, transferBytes, transferNanos atomic.Int64
	// reconMu serialises the cluster listener's side effects (Applied,
	// Restored) with the lookups that wait for them (cluster mode).
	reconMu sync.Mutex
	// stageMu serialises the staging leases' changes (staging.go); boot
	// names this process's incarnation in the leases it takes.
	stageMu sync.Mutex
	boot    string

	// readSlots and updateSlots hold one token per running read or update
	// when Limits bound them (nil: no limit).
	readSlots, updateSlots chan struct{}

	// afterLookup, when set (tests only), runs in use between finding a
	// collection and registering with it: the window in which a restore
	// may close it.
	afterLookup func(name string)
}

var _ API = (*Service)(nil)

// writeActivity returns Options.WriteActivity, or a new one.
func (o Options) writeActivity() *shard.WriteActivity {
	if o.WriteActivity != nil {
		return o.WriteActivity
	}
	return new(shard.WriteActivity)
}

// New loads the metadata from opts.StorageDir, brings the collection
// directories in line with it (see recoverDirs: what a crash during a
// create, delete or restore left), and opens every collection.
func New(opts Options) (*Service, error) {
	if opts.StorageDir == "" {
		return nil, errors.New("cannot start service: no storage directory")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.DefaultShardNumber <= 0 {
		opts.DefaultShardNumber = 1
	}
	if opts.Cluster != nil {
		return newClustered(opts)
	}
	store, err := meta.OpenStore(opts.StorageDir)
	if err != nil {
		return nil, fmt.Errorf("cannot start service: %w", err)
	}
	s := &Service{opts: opts, log: opts.Logger, limits: opts.Limits.withDefaults(), meta: store, writes: opts.writeActivity(),
		colls: map[string]*collection.Collection{}, busy: map[string]chan struct{}{}}
	s.background = background.New(opts.SnapshotCPUShare, s.writes.Active)
	s.initSlots()
	st := store.State()
	if err := s.recoverDirs(st); err != nil {
		return nil, err
	}
	if !store.Existed() {
		if err := store.Save(); err != nil {
			return nil, fmt.Errorf("cannot start service: %w", err)
		}
	}
	for _, name := range st.CollectionNames() {
		c, err := s.openCollection(name, st.Collections[name])
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("cannot start service: %w", err)
		}
		s.colls[name] = c
	}
	s.log.Info("service started", "collections", len(s.colls), "storage", opts.StorageDir)
	return s, nil
}

// initSlots creates the read and update slots when Limits bound them.
func (s *Service) initSlots() {
	if n := s.limits.MaxConcurrentReads; n > 0 {
		s.readSlots = make(chan struct{}, n)
	}
	if n := s.limits.MaxConcurrentUpdates; n > 0 {
		s.updateSlots = make(chan struct{}, n)
	}
}

// state returns the current metadata: the cluster's applied state, or
// meta.json's on a standalone node. The caller must not modify it.
func (s *Service) state() *meta.State {
	if s.cluster != nil {
		return s.cluster.State()
	}
	return s.meta.State()
}

// Options returns the options the service runs with, limits resolved.
func (s *Service) Options() Options {
	o := s.opts
	o.Limits = s.limits
	return o
}

func (s *Service) collectionsDir() string { return filepath.Join(s.opts.StorageDir, "collections") }

// collectionDir is the directory of a collection, holding all its
// generations. Names are validated to hold no path separators, so this
// never leaves collectionsDir.
func (s *Service) collectionDir(name string) string { return filepath.Join(s.collectionsDir(), name) }

// generationDir is the directory holding a collection's data generation
// (meta.GenerationDir): collections/<name>/ for 0, else
// collections/<name>/gen-<gen>/.
func (s *Service) generationDir(name string, gen uint64) string {
	return meta.GenerationDir(s.collectionDir(name), gen)
}

// legacyRestoreOldInfix marks a collection directory that an earlier
// build's restore moved aside (collections/<name>.restore-old-<hex>).
const legacyRestoreOldInfix = ".restore-old-"

// recoverDirs makes the collection directories match the metadata, in an
// order that does not depend on what the directory listing returns:
//
//  1. A collection directory that an earlier build's restore moved aside
//     (<name>.restore-old-<hex>) while <name> is missing is moved back:
//     that build crashed between its two renames, before its metadata
//     changed.
//  2. Every directory of collections/ the metadata does not name is
//     removed (a create or delete, or a restore of a new collection,
//     interrupted before or after its metadata change).
//  3. Inside each collection's directory, everything that is not part of
//     the generation the metadata names is removed (a restore interrupted
//     before its commit leaves the new generation; after it, the old), and
//     a shard restore interrupted inside that generation is completed or
//     rolled back (snapshot.CleanStaleRestores).
//
// Without a meta.json it removes nothing and refuses to start if collection
// directories exist: deleting them would turn a lost metadata file into
// lost data.
func (s *Service) recoverDirs(st *meta.State) error {
	root := s.collectionsDir()
	entries, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot list collections: %w", err)
	}
	if !s.meta.Existed() && len(entries) > 0 {
		return fmt.Errorf("cannot start service: %s holds %d collection directories but %s is missing; restore %s or move the directories away",
			root, len(entries), meta.FileName, meta.FileName)
	}
	present := make(map[string]bool, len(entries))
	for _, e := range entries {
		present[e.Name()] = true
	}
	changed := false
	for _, e := range entries {
		name := e.Name()
		if _, known := st.Collections[name]; known {
			continue
		}
		i := strings.LastIndex(name, legacyRestoreOldInfix)
		if i <= 0 {
			continue
		}
		base := name[:i]
		if _, known := st.Collections[base]; !known || present[base] {
			continue
		}
		s.log.Warn("rolling back an interrupted restore", "dir", filepath.Join(root, name), "collection", base)
		if err := os.Rename(filepath.Join(root, name), filepath.Join(root, base)); err != nil {
			return fmt.Errorf("cannot roll back interrupted restore of %s: %w", base, err)
		}
		present[name], present[base] = false, true
		changed = true
	}
	for _, e := range entries {
		name := e.Name()
		if _, known := st.Collections[name]; known || !present[name] {
			continue
		}
		p := filepath.Join(root, name)
		s.log.Warn("removing collection directory not in metadata", "dir", p)
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("cannot remove stray collection directory %s: %w", p, err)
		}
		changed = true
	}
	if changed {
		if err := durable.SyncDir(root); err != nil {
			return err
		}
	}
	for _, name := range st.CollectionNames() {
		gen := st.Collections[name].Generation
		if err := s.removeOtherGenerations(name, gen); err != nil {
			return err
		}
		if err := snapshot.CleanStaleRestores(s.generationDir(name, gen)); err != nil {
			return fmt.Errorf("cannot recover collection %s: %w", name, err)
		}
	}
	return nil
}

// removeOtherGenerations removes everything in the collection's directory
// that is not part of generation keep.
func (s *Service) removeOtherGenerations(name string, keep uint64) error {
	dir := s.collectionDir(name)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot list collection directory %s: %w", dir, err)
	}
	removed := false
	for _, e := range entries {
		if meta.BelongsToGeneration(e.Name(), keep) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		s.log.Info("removing data of another collection generation", "collection", name, "path", p, "generation", keep)
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("cannot remove %s: %w", p, err)
		}
		removed = true
	}
	if removed {
		return durable.SyncDir(dir)
	}
	return nil
}

func (s *Service) openCollection(name string, m *meta.Collection) (*collection.Collection, error) {
	return collection.Open(collection.Options{
		Dir:              s.generationDir(name, m.Generation),
		Name:             name,
		Config:           m.Config,
		PayloadIndexes:   m.PayloadIndexes,
		Logger:           s.log,
		IndexingThreads:  s.opts.IndexingThreads,
		Writes:           s.writes,
		MinFreeDiskBytes: s.opts.MinFreeDiskBytes,
		Resolver:         s.resolver,
		ShardOptions:     s.opts.ShardOptions,
	})
}

// Close closes every collection (waiting for in-flight operations).
func (s *Service) Close() error {
	s.ddlMu.Lock()
	defer s.ddlMu.Unlock()
	s.mu.Lock()
	colls := s.colls
	s.colls = map[string]*collection.Collection{}
	sets := s.sets
	s.sets = map[string][]*replicaSet{}
	if s.stopLoops != nil {
		close(s.stopLoops)
		s.stopLoops = nil
	}
	s.mu.Unlock()
	for _, ss := range sets {
		stopSets(ss)
	}
	var errs []error
	for _, c := range colls {
		if err := c.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// resolve maps a collection name or alias to the collection's real name.
func (s *Service) resolve(name string) (string, error) {
	real, ok := s.state().Resolve(name)
	if !ok {
		return "", api.ErrCollectionNotFound(name)
	}
	return real, nil
}

// use checks access to the collection named by name (or alias) and
// registers the caller with it; release must be called when done.
//
// A restore never makes a collection that exists look missing: when the
// collection it found was closed because a restore replaced it, use takes
// the replacement; while a shard restore has it closed, use waits (until
// ctx ends) and takes the reopened one.
func (s *Service) use(ctx context.Context, name string, need auth.Mode) (*collection.Collection, func(), error) {
	_, c, release, err := s.hold(ctx, name, need)
	return c, release, err
}

// hold is use that also returns ctx marked as holding the collection
// (collection.Held): calls on the collection with it cannot fail because a
// restore started closing it after hold returned, since the close waits
// for release. Requests pass it to every call on the collection.
func (s *Service) hold(ctx context.Context, name string, need auth.Mode) (context.Context, *collection.Collection, func(), error) {
	a := auth.FromContext(ctx)
	linearized := false
	for {
		// Access granted on the name given (it may be an alias) or on the
		// collection it names. A caller without access gets 403 whether or
		// not the collection exists, so it learns nothing about it.
		real, rerr := s.resolve(name)
		if rerr != nil && s.cluster != nil && !linearized {
			// This node may not have applied a change another node has
			// acknowledged (a create through another node): catch up once.
			linearized = true
			if err := s.linearize(ctx); err != nil {
				return nil, nil, nil, err
			}
			s.reconMu.Lock()
			s.reconMu.Unlock() //nolint:staticcheck // waits for the listener's side effects
			continue
		}
		if err := a.CheckCollection(name, need); err != nil && (rerr != nil || a.CheckCollection(real, need) != nil) {
			return nil, nil, nil, err
		}
		if rerr != nil {
			return nil, nil, nil, rerr
		}
		s.mu.RLock()
		c, ok := s.colls[real]
		wait := s.busy[real]
		s.mu.RUnlock()
		if ok && s.afterLookup != nil {
			s.afterLookup(real)
		}
		release, retry, err := s.acquire(ctx, real, c, ok, wait, name)
		if err != nil && !ok && wait == nil && s.cluster != nil && !linearized && api.KindOf(err) == api.KindNotFound {
			// Named in the metadata but not open: this node may be
			// replaying its log (a collection may not open at an
			// intermediate step of it). Catch up once.
			linearized = true
			if err := s.linearize(ctx); err != nil {
				return nil, nil, nil, err
			}
			s.reconMu.Lock()
			s.reconMu.Unlock() //nolint:staticcheck // waits for the listener's side effects
			continue
		}
		if err != nil {
			return nil, nil, nil, err
		}
		if retry {
			continue
		}
		return c.Held(ctx), c, release, nil
	}
}

// acquire registers the caller with c, the collection the caller found
// open under the real name real (found is false when there was none);
// wait is the channel the caller found in busy for it. When c was closed
// because a restore replaced it, or once a shard restore that has the
// collection closed is done, acquire returns retry: the caller looks the
// collection up again. A collection that is gone fails with the not-found
// error for notFound (the name the caller was given), and ctx ending while
// acquire waits fails with fail(ctx.Err()).
func (s *Service) acquire(ctx context.Context, real string, c *collection.Collection, found bool, wait chan struct{}, notFound string) (release func(), retry bool, err error) {
	if found {
		release, err := c.Acquire()
		if err == nil {
			return release, false, nil
		}
		// c is closing: replaced (take the new one), being restored
		// shard by shard (wait), or deleted (not found).
		s.mu.RLock()
		cur := s.colls[real]
		wait = s.busy[real]
		s.mu.RUnlock()
		if cur != nil && cur != c {
			return nil, true, nil
		}
	}
	if wait != nil {
		select {
		case <-wait:
			return nil, true, nil
		case <-ctx.Done():
			return nil, false, fail(ctx.Err())
		}
	}
	return nil, false, api.ErrCollectionNotFound(notFound)
}

// resolver is the collection.Resolver for lookup_from and with_lookup; it
// needs read access to the other collection.
func (s *Service) resolver(ctx context.Context, name string) (*collection.Collection, func(), error) {
	return s.use(ctx, name, auth.Read)
}

// withTimeout bounds ctx by a request's timeout parameter.
func withTimeout(ctx context.Context, seconds int) (context.Context, context.CancelFunc) {
	if seconds > 0 {
		return context.WithTimeout(ctx, time.Duration(seconds)*time.Second)
	}
	return context.WithCancel(ctx)
}

// fail converts context errors into Qdrant's timeout and cancellation
// errors (api.ContextError, the one mapping both adapters share) and leaves
// every other error as it is.
func fail(err error) error { return api.ContextError(err) }

// Telemetry summarises every collection.
func (s *Service) Telemetry(ctx context.Context) (*Telemetry, error) {
	a := auth.FromContext(ctx)
	st := s.state()
	t := &Telemetry{}
	s.mu.RLock()
	names := make([]string, 0, len(s.colls))
	for name := range s.colls {
		names = append(names, name)
	}
	s.mu.RUnlock()
	sort.Strings(names)
	for _, name := range names {
		if a.ModeFor(name) < auth.Read {
			continue
		}
		c, release, err := s.use(ctx, name, auth.Read)
		if err != nil {
			continue
		}
		cs := c.Stats()
		local := map[int]ShardTelemetry{}
		for id, ss := range c.LocalShardStats() {
			local[id] = ShardTelemetry{Points: ss.Points, Vectors: ss.Vectors, Multi: ss.Multi, Indexed: ss.Indexed, PayloadSchema: ss.PayloadSchema}
		}
		release()
		ct := CollectionTelemetry{Name: name, Status: cs.Status, Points: cs.Points, IndexedVectors: cs.IndexedVectors,
			Shards: c.Shards(), Vectors: map[string]int{}, PendingOptimization: cs.PendingIndex,
			VectorCounts: cs.Vectors, RunningOptimizations: cs.Indexing, LocalShards: local}
		if m, ok := st.Collections[name]; ok {
			for vn, p := range m.Config.Params.Vectors {
				ct.Vectors[vn] = p.Size
			}
		}
		t.Collections = append(t.Collections, ct)
	}
	return t, nil
}

// SnapshotLimiter returns the limiter that bounds snapshot work on this
// node while its writes come in (nil: no limit), for the snapshot manager
// and the p2p checkpoint service.
func (s *Service) SnapshotLimiter() *background.Limiter { return s.background }
