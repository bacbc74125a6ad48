package service

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/collection"
	"github.com/shoal-db/shoal/internal/durable"
	"github.com/shoal-db/shoal/internal/meta"
	"github.com/shoal-db/shoal/internal/shard"
	"github.com/shoal-db/shoal/internal/snapshot"
)

// SnapshotHooks connects the service to the snapshot package: it
// implements snapshot.Source (checkpoint and restore collections and
// shards) and snapshot.Inspector (open a restored snapshot and check it).
// Access checks are the snapshot.Manager's; these hooks are in-process only.
type SnapshotHooks struct {
	s       *Service
	tempDir string
}

var (
	_ snapshot.Source    = (*SnapshotHooks)(nil)
	_ snapshot.Inspector = (*SnapshotHooks)(nil)
)

// SnapshotHooks returns the snapshot hooks over s; tempDir is a scratch
// directory on the storage file system (storage.temp_path).
func (s *Service) SnapshotHooks(tempDir string) *SnapshotHooks {
	return &SnapshotHooks{s: s, tempDir: tempDir}
}

// TempDir implements snapshot.Source.
func (h *SnapshotHooks) TempDir() string { return h.tempDir }

// CollectionNames implements snapshot.Source.
// Canary collections are left out: scheduled ("*") and full snapshots
// skip them (each node re-creates its own).
func (h *SnapshotHooks) CollectionNames(ctx context.Context) ([]string, error) {
	names := h.s.state().CollectionNames()
	out := names[:0:0]
	for _, n := range names {
		if !IsCanary(n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// ResolveCollection implements snapshot.Source.
func (h *SnapshotHooks) ResolveCollection(ctx context.Context, name string) (string, error) {
	return h.s.resolve(name)
}

// Aliases implements snapshot.Source.
func (h *SnapshotHooks) Aliases(ctx context.Context) (map[string]string, error) {
	return maps.Clone(h.s.state().Aliases), nil
}

// CheckpointCollection implements snapshot.Source.
func (h *SnapshotHooks) CheckpointCollection(ctx context.Context, name, dir string) (*snapshot.Manifest, error) {
	return h.checkpoint(ctx, name, dir, nil)
}

// CheckpointShard implements snapshot.Source.
func (h *SnapshotHooks) CheckpointShard(ctx context.Context, name string, id int, dir string) (*snapshot.Manifest, error) {
	return h.checkpoint(ctx, name, dir, []int{id})
}

func (h *SnapshotHooks) checkpoint(ctx context.Context, name, dir string, ids []int) (*snapshot.Manifest, error) {
	// The collection and its metadata are read together: a restore
	// changes both under mu, so they describe the same generation. The
	// definitions are read before the checkpoint: a payload index created
	// meanwhile is rebuilt from the points when the snapshot opens.
	c, m, release, err := h.s.acquireWithMeta(ctx, name)
	if err != nil {
		return nil, err
	}
	defer release()
	if ids != nil && (ids[0] < 0 || ids[0] >= c.Shards()) {
		return nil, api.ErrNotFound("Shard %d of collection `%s` doesn't exist", ids[0], name)
	}
	cfg := m.Config
	var cps []collection.ShardCheckpoint
	if h.s.cluster != nil {
		cps, err = h.clusterCheckpoint(ctx, c, m, name, dir, ids)
	} else {
		cps, err = c.Checkpoint(ctx, dir, ids)
	}
	if err != nil {
		return nil, fail(err)
	}
	man := &snapshot.Manifest{Kind: snapshot.KindCollection, Collection: name, Config: &cfg, PayloadIndexes: maps.Clone(m.PayloadIndexes)}
	if ids != nil {
		man.Kind = snapshot.KindShard
	}
	for _, cp := range cps {
		man.Shards = append(man.Shards, snapshot.ShardManifest{ID: cp.ID, Dir: snapshot.ShardDir(cp.ID), LastSeq: cp.LastSeq, Points: cp.Points})
	}
	return man, nil
}

// acquireWithMeta registers the caller with the collection name (a real
// name) and returns it with its metadata, read together under mu so that
// both describe the same generation. Like use, it follows a restore's
// replacement and waits out a shard restore.
func (s *Service) acquireWithMeta(ctx context.Context, name string) (*collection.Collection, *meta.Collection, func(), error) {
	for {
		s.mu.RLock()
		c, ok := s.colls[name]
		m := s.state().Collections[name]
		wait := s.busy[name]
		s.mu.RUnlock()
		release, retry, err := s.acquire(ctx, name, c, ok && m != nil, wait, name)
		if err != nil {
			return nil, nil, nil, err
		}
		if retry {
			continue
		}
		return c, m, release, nil
	}
}

// checkSnapshotConfig validates the configuration a snapshot carries, as a
// create request would be validated.
func checkSnapshotConfig(m *snapshot.Manifest) error {
	cfg := m.Config
	if cfg == nil || len(cfg.Params.Vectors) == 0 {
		return api.ErrBadInput("snapshot has no vectors config")
	}
	for name, p := range cfg.Params.Vectors {
		if err := validateVectorParams(name, p); err != nil {
			return err
		}
	}
	if n := cfg.Params.ShardNumber; n < 1 || n > MaxShardNumber {
		return api.ErrBadInput("snapshot has shard_number %d", n)
	}
	return nil
}

// RestoreCollection implements snapshot.Source. It installs the snapshot
// as a new data generation of the collection and switches to it with one
// metadata command, so that every crash recovers to the old or the new
// collection, never a mix (docs/format/meta.md, "Restore"):
//
//  1. Under the metadata lock, the shards move (rename) into the next
//     generation's directory, collections/<name>/gen-<g+1>/ (for a new
//     collection, collections/<name>/ itself as generation 0), which is
//     fsynced. The old collection keeps serving requests meanwhile.
//  2. The new collection is opened beside the old one.
//  3. The commit: one replace_collection command records the
//     configuration, the payload indexes and the new generation, and, under
//     the same lock that readers take to find a collection, the new
//     collection takes the old one's place.
//  4. The old collection is closed (in-flight requests finish on it; later
//     ones retry on the new one) and its generation's files are removed.
//
// A failure before the commit removes the new generation and leaves the
// old collection serving; a crash before it leaves the new generation as
// garbage that the next start removes, and a crash after it leaves the old
// generation likewise.
func (h *SnapshotHooks) RestoreCollection(ctx context.Context, name, dir string, m *snapshot.Manifest) error {
	s := h.s
	if s.cluster != nil {
		return errClusterUnsupported("Recovering a collection from a snapshot")
	}
	if err := ValidateCollectionName(name); err != nil {
		return err
	}
	if err := checkSnapshotConfig(m); err != nil {
		return err
	}
	n := m.Config.Params.ShardNumber
	if len(m.Shards) != n {
		return api.ErrBadInput("snapshot holds %d shards, its config says %d", len(m.Shards), n)
	}
	for i := range n {
		if _, err := os.Stat(filepath.Join(dir, "shards", strconv.Itoa(i))); err != nil {
			return api.ErrBadInput("snapshot lacks shard %d", i)
		}
	}

	s.ddlMu.Lock()
	defer s.ddlMu.Unlock()
	st := s.state()
	if _, ok := st.Aliases[name]; ok {
		return api.ErrBadInput("Can't recover collection %s: an alias with the same name exists", name)
	}
	old, exists := st.Collections[name]
	if !exists {
		if n := s.limits.MaxCollections; n > 0 && len(st.Collections) >= n {
			return api.ErrBadInput("the number of collections is limited to %d", n)
		}
	}
	var gen uint64
	if exists {
		gen = old.Generation + 1
	}
	root := s.collectionDir(name)
	target := s.generationDir(name, gen)
	// What a failure before the commit removes: the new generation, or the
	// whole directory of a collection that did not exist.
	garbage := target
	if !exists {
		garbage = root
	}
	// Leftovers of an earlier failed attempt (removed at start otherwise).
	if err := os.RemoveAll(garbage); err != nil {
		return fmt.Errorf("cannot clear %s before restore: %w", garbage, err)
	}
	if err := os.MkdirAll(target, 0o755); err != nil {
		return fmt.Errorf("cannot create collection directory: %w", err)
	}
	var newC *collection.Collection
	abort := func(err error) error {
		if newC != nil {
			if cerr := newC.Close(); cerr != nil {
				s.log.Warn("cannot close collection of a failed restore", "collection", name, "err", cerr)
			}
		}
		if rerr := os.RemoveAll(garbage); rerr != nil {
			s.log.Warn("cannot remove data of a failed restore; it is removed at the next start", "path", garbage, "err", rerr)
		}
		return err
	}
	if err := durable.SyncDir(filepath.Dir(target)); err != nil {
		return abort(err)
	}
	if err := h.failpoint(FailpointRestoreStaging); err != nil {
		return abort(err)
	}
	for i := range n {
		src := filepath.Join(dir, "shards", strconv.Itoa(i))
		if err := os.Rename(src, filepath.Join(target, strconv.Itoa(i))); err != nil {
			// storage.temp_path must be on the storage's file system.
			return abort(fmt.Errorf("cannot move restored shard %d into %s: %w", i, target, err))
		}
	}
	if err := durable.SyncDir(target); err != nil {
		return abort(err)
	}
	if err := h.failpoint(FailpointRestoreStaged); err != nil {
		return abort(err)
	}
	cfg := *m.Config
	indexes := maps.Clone(m.PayloadIndexes)
	if indexes == nil {
		indexes = map[string]api.PayloadFieldSchema{}
	}
	newC, err := s.openCollection(name, &meta.Collection{Config: cfg, PayloadIndexes: indexes, Generation: gen})
	if err != nil {
		return abort(api.ErrInternal(err, "cannot open restored collection %s: %v", name, err))
	}
	if err := h.failpoint(FailpointRestoreOpened); err != nil {
		return abort(err)
	}

	// The commit.
	cmd := &meta.Command{V: meta.ReplaceCommandVersion, Type: meta.TypeReplaceCollection, Collection: name, Config: &cfg,
		PayloadIndexes: indexes, Generation: gen, CreatedAt: s.opts.Now().UTC()}
	s.mu.Lock()
	if err := s.meta.Apply(cmd); err != nil {
		s.mu.Unlock()
		return abort(api.ErrInternal(err, "cannot record restored collection %s: %v", name, err))
	}
	oldC := s.colls[name]
	s.colls[name] = newC
	s.mu.Unlock()
	h.failpointAfterCommit(FailpointRestoreCommitted)

	if oldC != nil {
		if err := oldC.Drop(); err != nil {
			s.log.Warn("cannot close the collection a restore replaced", "collection", name, "err", err)
		}
	}
	h.failpointAfterCommit(FailpointRestoreOldClosed)
	if exists {
		if err := s.removeOtherGenerations(name, gen); err != nil {
			s.log.Warn("cannot remove the replaced generation; it is removed at the next start", "collection", name, "err", err)
		}
	}
	h.failpointAfterCommit(FailpointRestoreDone)
	s.log.Info("collection restored from snapshot", "collection", name, "generation", gen, "shards", n, "points", m.Points())
	return nil
}

// failpoint calls Options.Failpoint at a step before the commit.
func (h *SnapshotHooks) failpoint(point string) error {
	if h.s.opts.Failpoint == nil {
		return nil
	}
	return h.s.opts.Failpoint(point)
}

// failpointAfterCommit calls Options.Failpoint at a step after the commit,
// where the restore can no longer fail: an error is only logged.
func (h *SnapshotHooks) failpointAfterCommit(point string) {
	if err := h.failpoint(point); err != nil {
		h.s.log.Warn("failpoint after the restore's commit ignored", "point", point, "err", err)
	}
}

// RestoreShard implements snapshot.Source. The snapshot's vectors and shard
// count must match the collection's: a shard of another layout would hold
// points the router never sends to it.
func (h *SnapshotHooks) RestoreShard(ctx context.Context, name string, id int, dir string, m *snapshot.Manifest) error {
	s := h.s
	if s.cluster != nil {
		return errClusterUnsupported("Recovering a shard from a snapshot")
	}
	if err := checkSnapshotConfig(m); err != nil {
		return err
	}
	s.ddlMu.Lock()
	defer s.ddlMu.Unlock()
	cur, ok := s.state().Collections[name]
	if !ok {
		return api.ErrCollectionNotFound(name)
	}
	if id < 0 || id >= cur.Config.Params.ShardNumber {
		return api.ErrNotFound("Shard %d of collection `%s` doesn't exist", id, name)
	}
	if !reflect.DeepEqual(vectorShapes(cur.Config.Params.Vectors), vectorShapes(m.Config.Params.Vectors)) {
		return api.ErrBadInput("snapshot vectors %v do not match collection `%s` vectors %v (wrong dimensions or distance)",
			vectorShapes(m.Config.Params.Vectors), name, vectorShapes(cur.Config.Params.Vectors))
	}
	if m.Config.Params.ShardNumber != cur.Config.Params.ShardNumber {
		return api.ErrBadInput("snapshot comes from a collection with %d shards, `%s` has %d", m.Config.Params.ShardNumber, name, cur.Config.Params.ShardNumber)
	}
	src := filepath.Join(dir, "shards", strconv.Itoa(id))
	if _, err := os.Stat(src); err != nil {
		return api.ErrBadInput("snapshot holds no shard %d", id)
	}
	// Requests wait while the collection is closed for the swap.
	done := make(chan struct{})
	s.mu.Lock()
	c := s.colls[name]
	delete(s.colls, name)
	s.busy[name] = done
	s.mu.Unlock()
	defer s.unbusy(name, done)
	if c != nil {
		if err := c.Close(); err != nil {
			s.log.Warn("cannot close collection before shard restore", "collection", name, "err", err)
		}
	}
	swapErr := snapshot.SwapDir(src, filepath.Join(s.generationDir(name, cur.Generation), strconv.Itoa(id)))
	if swapErr == nil {
		swapErr = h.failpoint(FailpointShardRestoreSwapped)
	}
	c, err := s.openCollection(name, cur)
	if err != nil {
		return api.ErrInternal(err, "cannot reopen collection %s after shard restore: %v", name, err)
	}
	s.mu.Lock()
	s.colls[name] = c
	s.mu.Unlock()
	return swapErr
}

type vectorShape struct {
	Size     int
	Distance api.Distance
}

func vectorShapes(v api.VectorsConfig) map[string]vectorShape {
	out := make(map[string]vectorShape, len(v))
	for name, p := range v {
		out[name] = vectorShape{p.Size, p.Distance}
	}
	return out
}

// inspectSample is the number of points read back per shard by
// InspectSnapshot, and inspectSearches the searches run.
const (
	inspectSample   = 16
	inspectSearches = 3
)

// InspectSnapshot implements snapshot.Inspector: it opens every shard of
// the restored snapshot in dir, counts its points exactly, reads a random
// sample back with payloads and vectors, and runs a few searches with
// sampled vectors (each must find its own point).
func (h *SnapshotHooks) InspectSnapshot(ctx context.Context, dir string, m *snapshot.Manifest) ([]snapshot.ShardCheck, error) {
	if err := checkSnapshotConfig(m); err != nil {
		return nil, err
	}
	cfg := m.Config
	hnsw := make(map[string]api.HnswConfig, len(cfg.Params.Vectors))
	names := make([]string, 0, len(cfg.Params.Vectors))
	for name := range cfg.Params.Vectors {
		hnsw[name] = cfg.VectorHnsw(name)
		names = append(names, name)
	}
	sort.Strings(names)
	var out []snapshot.ShardCheck
	for _, sm := range m.Shards {
		chk := snapshot.ShardCheck{ID: sm.ID, ExpectedPoints: sm.Points}
		err := func() error {
			so := shard.Options{Dir: filepath.Join(dir, filepath.FromSlash(sm.Dir)), ID: sm.ID, Vectors: cfg.Params.Vectors,
				Hnsw: hnsw, Optimizers: cfg.OptimizerConfig, PayloadIndexes: m.PayloadIndexes, OnDiskPayload: cfg.Params.OnDiskPayload,
				IndexingThreads: 1, Logger: slog.New(slog.DiscardHandler)}
			if h.s.opts.ShardOptions != nil {
				h.s.opts.ShardOptions(&so)
			}
			sh, err := shard.Open(so)
			if err != nil {
				return fmt.Errorf("cannot open: %w", err)
			}
			defer sh.Close()
			chk.LastSeq = sh.LastSeq()
			n, err := sh.Count(ctx, nil, true)
			if err != nil {
				return fmt.Errorf("cannot count: %w", err)
			}
			chk.Points = n
			if n != sm.Points {
				return fmt.Errorf("holds %d points, the manifest says %d", n, sm.Points)
			}
			if chk.LastSeq != sm.LastSeq {
				return fmt.Errorf("opened at sequence %d, the manifest says %d", chk.LastSeq, sm.LastSeq)
			}
			ids, err := sh.Sample(ctx, inspectSample, nil)
			if err != nil {
				return fmt.Errorf("cannot sample: %w", err)
			}
			recs, err := sh.Get(ctx, ids, &api.PayloadSelector{Enable: true}, &api.VectorSelector{Enable: true})
			if err != nil {
				return fmt.Errorf("cannot read sampled points: %w", err)
			}
			if len(recs) != len(ids) {
				return fmt.Errorf("read %d of %d sampled points", len(recs), len(ids))
			}
			chk.SampledPoints = len(recs)
			for _, rec := range recs {
				if chk.Searches >= inspectSearches {
					break
				}
				for _, vname := range names {
					vec, ok := rec.Vector[vname]
					if !ok {
						continue
					}
					hits, err := sh.Search(ctx, shard.SearchRequest{Using: vname, Vector: vec, Limit: 10, Params: api.SearchParams{Exact: true}})
					if err != nil {
						return fmt.Errorf("search failed: %w", err)
					}
					found := false
					for _, hit := range hits {
						if hit.ID.String() == rec.ID.String() {
							found = true
						}
					}
					if !found && len(hits) < 10 {
						return fmt.Errorf("search with the vector of point %s did not find it", rec.ID.String())
					}
					chk.Searches++
					break
				}
			}
			return nil
		}()
		if err != nil {
			if ctx.Err() != nil {
				return out, ctx.Err()
			}
			chk.Error = err.Error()
		}
		out = append(out, chk)
	}
	return out, nil
}
