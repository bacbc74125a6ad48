package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/auth"
	"github.com/shoal-db/shoal/internal/collection"
	"github.com/shoal-db/shoal/internal/meta"
	"github.com/shoal-db/shoal/internal/shard"
)

// Limits bound what one request may ask for. Zero fields take the defaults.
type Limits struct {
	// MaxBatchPoints is the most points (or ids) one write may carry.
	MaxBatchPoints int
	// MaxFilterDepth is the deepest filter nesting accepted.
	MaxFilterDepth int
	// MaxLimit is the largest limit (plus offset) of a search or scroll.
	MaxLimit int
	// MaxBatchQueries is the most queries of one batch request.
	MaxBatchQueries int
	// MaxPrefetchDepth is the deepest nesting of prefetches.
	MaxPrefetchDepth int
	// MaxMatrixSample is the largest distance-matrix sample.
	MaxMatrixSample int
	// MaxCollections is the most collections a node holds (0: no limit).
	MaxCollections int
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
	// Logger receives events; nil discards them.
	Logger *slog.Logger
	// Limits bound requests.
	Limits Limits
	// DefaultShardNumber is the shard_number of collections created without
	// one (0: 1, as a standalone Qdrant).
	DefaultShardNumber int
	// IndexingThreads is passed to every shard (0: the shard's default).
	IndexingThreads int
	// Now returns the current time for creation timestamps (nil: time.Now).
	Now func() time.Time
	// ShardOptions, when set, may adjust each shard's options (tests).
	ShardOptions func(*shard.Options)
}

// Service implements API over the node's local collections. It is safe for
// concurrent use.
type Service struct {
	opts   Options
	log    *slog.Logger
	limits Limits
	meta   *meta.Store

	// ddlMu serialises metadata changes with their side effects (opening,
	// closing and removing collection directories).
	ddlMu sync.Mutex

	// mu guards colls.
	mu    sync.RWMutex
	colls map[string]*collection.Collection
}

var _ API = (*Service)(nil)

// New loads the metadata from opts.StorageDir, removes collection
// directories that the metadata does not know (left by a crash during
// create or delete), and opens every collection.
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
	store, err := meta.OpenStore(opts.StorageDir)
	if err != nil {
		return nil, fmt.Errorf("cannot start service: %w", err)
	}
	s := &Service{opts: opts, log: opts.Logger, limits: opts.Limits.withDefaults(), meta: store,
		colls: map[string]*collection.Collection{}}
	st := store.State()
	if err := s.removeStrayDirs(st); err != nil {
		return nil, err
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

func (s *Service) collectionsDir() string { return filepath.Join(s.opts.StorageDir, "collections") }

// collectionDir is the directory of a collection. Names are validated to
// hold no path separators, so this never leaves collectionsDir.
func (s *Service) collectionDir(name string) string { return filepath.Join(s.collectionsDir(), name) }

// removeStrayDirs removes collection directories the metadata does not
// know. Without a meta.json it removes nothing and refuses to start if
// collection directories exist: deleting them would turn a lost metadata
// file into lost data.
func (s *Service) removeStrayDirs(st *meta.State) error {
	entries, err := os.ReadDir(s.collectionsDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot list collections: %w", err)
	}
	if !s.meta.Existed() && len(entries) > 0 {
		return fmt.Errorf("cannot start service: %s holds %d collection directories but %s is missing; restore %s or move the directories away",
			s.collectionsDir(), len(entries), meta.FileName, meta.FileName)
	}
	for _, e := range entries {
		if _, ok := st.Collections[e.Name()]; ok {
			continue
		}
		p := filepath.Join(s.collectionsDir(), e.Name())
		s.log.Warn("removing collection directory not in metadata", "dir", p)
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("cannot remove stray collection directory %s: %w", p, err)
		}
	}
	return nil
}

func (s *Service) openCollection(name string, m *meta.Collection) (*collection.Collection, error) {
	return collection.Open(collection.Options{
		Dir:             s.collectionDir(name),
		Name:            name,
		Config:          m.Config,
		PayloadIndexes:  m.PayloadIndexes,
		Logger:          s.log,
		IndexingThreads: s.opts.IndexingThreads,
		Resolver:        s.resolver,
		ShardOptions:    s.opts.ShardOptions,
	})
}

// Close closes every collection (waiting for in-flight operations).
func (s *Service) Close() error {
	s.ddlMu.Lock()
	defer s.ddlMu.Unlock()
	s.mu.Lock()
	colls := s.colls
	s.colls = map[string]*collection.Collection{}
	s.mu.Unlock()
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
	real, ok := s.meta.State().Resolve(name)
	if !ok {
		return "", api.ErrCollectionNotFound(name)
	}
	return real, nil
}

// use checks access to the collection named by name (or alias) and
// registers the caller with it; release must be called when done.
func (s *Service) use(ctx context.Context, name string, need auth.Mode) (*collection.Collection, func(), error) {
	a := auth.FromContext(ctx)
	// Access granted on the name given (it may be an alias) or on the
	// collection it names. A caller without access gets 403 whether or not
	// the collection exists, so it learns nothing about it.
	real, rerr := s.resolve(name)
	if err := a.CheckCollection(name, need); err != nil && (rerr != nil || a.CheckCollection(real, need) != nil) {
		return nil, nil, err
	}
	if rerr != nil {
		return nil, nil, rerr
	}
	s.mu.RLock()
	c, ok := s.colls[real]
	s.mu.RUnlock()
	if !ok {
		return nil, nil, api.ErrCollectionNotFound(name)
	}
	release, err := c.Acquire()
	if err != nil {
		return nil, nil, err
	}
	return c, release, nil
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
// errors and leaves every other error as it is.
func fail(err error) error {
	if err == nil {
		return nil
	}
	var ae *api.Error
	if errors.As(err, &ae) {
		return err
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &api.Error{Kind: api.KindTimeout, Message: "Timeout: Operation timed out", Err: err}
	case errors.Is(err, context.Canceled):
		return &api.Error{Kind: api.KindTimeout, Message: "Timeout: Operation was cancelled", Err: err}
	}
	return err
}

// Telemetry summarises every collection.
func (s *Service) Telemetry(ctx context.Context) (*Telemetry, error) {
	a := auth.FromContext(ctx)
	st := s.meta.State()
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
		release()
		ct := CollectionTelemetry{Name: name, Status: cs.Status, Points: cs.Points, IndexedVectors: cs.IndexedVectors,
			Shards: c.Shards(), Vectors: map[string]int{}, PendingOptimization: cs.PendingIndex}
		if m, ok := st.Collections[name]; ok {
			for vn, p := range m.Config.Params.Vectors {
				ct.Vectors[vn] = p.Size
			}
		}
		t.Collections = append(t.Collections, ct)
	}
	return t, nil
}
