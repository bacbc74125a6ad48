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
func (h *SnapshotHooks) CollectionNames(ctx context.Context) ([]string, error) {
	return h.s.meta.State().CollectionNames(), nil
}

// ResolveCollection implements snapshot.Source.
func (h *SnapshotHooks) ResolveCollection(ctx context.Context, name string) (string, error) {
	return h.s.resolve(name)
}

// Aliases implements snapshot.Source.
func (h *SnapshotHooks) Aliases(ctx context.Context) (map[string]string, error) {
	return maps.Clone(h.s.meta.State().Aliases), nil
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
	h.s.mu.RLock()
	c, ok := h.s.colls[name]
	h.s.mu.RUnlock()
	if !ok {
		return nil, api.ErrCollectionNotFound(name)
	}
	release, err := c.Acquire()
	if err != nil {
		return nil, err
	}
	defer release()
	if ids != nil && (ids[0] < 0 || ids[0] >= c.Shards()) {
		return nil, api.ErrNotFound("Shard %d of collection `%s` doesn't exist", ids[0], name)
	}
	// The definitions are read before the checkpoint: a payload index
	// created meanwhile is rebuilt from the points when the snapshot opens.
	m := h.s.meta.State().Collections[name]
	if m == nil {
		return nil, api.ErrCollectionNotFound(name)
	}
	cfg := m.Config
	cps, err := c.Checkpoint(ctx, dir, ids)
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

// RestoreCollection implements snapshot.Source: the shards are moved into a
// staging directory beside the collection's, which is swapped in
// atomically; then the metadata takes the snapshot's configuration and
// payload indexes and the collection is reopened.
func (h *SnapshotHooks) RestoreCollection(ctx context.Context, name, dir string, m *snapshot.Manifest) error {
	s := h.s
	if err := ValidateCollectionName(name); err != nil {
		return err
	}
	if err := checkSnapshotConfig(m); err != nil {
		return err
	}
	if len(m.Shards) != m.Config.Params.ShardNumber {
		return api.ErrBadInput("snapshot holds %d shards, its config says %d", len(m.Shards), m.Config.Params.ShardNumber)
	}
	target := s.collectionDir(name)
	if err := os.MkdirAll(s.collectionsDir(), 0o755); err != nil {
		return fmt.Errorf("cannot create collections directory: %w", err)
	}
	staging := snapshot.StagingDir(target)
	if err := os.Mkdir(staging, 0o755); err != nil {
		return fmt.Errorf("cannot stage restored collection: %w", err)
	}
	defer os.RemoveAll(staging) // gone after a successful swap; otherwise garbage
	for i := range m.Config.Params.ShardNumber {
		src := filepath.Join(dir, "shards", strconv.Itoa(i))
		if _, err := os.Stat(src); err != nil {
			return api.ErrBadInput("snapshot lacks shard %d", i)
		}
		if err := os.Rename(src, filepath.Join(staging, strconv.Itoa(i))); err != nil {
			// storage.temp_path must be on the storage's file system.
			return fmt.Errorf("cannot move restored shard %d into %s: %w", i, staging, err)
		}
	}
	if err := durable.SyncDir(staging); err != nil {
		return err
	}

	s.ddlMu.Lock()
	defer s.ddlMu.Unlock()
	st := s.meta.State()
	if _, ok := st.Aliases[name]; ok {
		return api.ErrBadInput("Can't recover collection %s: an alias with the same name exists", name)
	}
	old, exists := st.Collections[name]
	if exists {
		s.mu.Lock()
		c := s.colls[name]
		delete(s.colls, name)
		s.mu.Unlock()
		if c != nil {
			if err := c.Close(); err != nil {
				s.log.Warn("cannot close collection before restore", "collection", name, "err", err)
			}
		}
	}
	if err := snapshot.SwapDir(staging, target); err != nil {
		// Put the old collection back as it was.
		if exists {
			if c, oerr := s.openCollection(name, old); oerr == nil {
				s.mu.Lock()
				s.colls[name] = c
				s.mu.Unlock()
			}
		}
		return err
	}
	cfg := *m.Config
	var cmds []*meta.Command
	if exists {
		cmds = append(cmds, &meta.Command{V: meta.CommandVersion, Type: meta.TypeUpdateCollection, Collection: name, Config: &cfg})
		for field := range old.PayloadIndexes {
			if _, keep := m.PayloadIndexes[field]; !keep {
				cmds = append(cmds, &meta.Command{V: meta.CommandVersion, Type: meta.TypeDropPayloadIndex, Collection: name, Field: field})
			}
		}
	} else {
		cmds = append(cmds, &meta.Command{V: meta.CommandVersion, Type: meta.TypeCreateCollection, Collection: name, Config: &cfg, CreatedAt: s.opts.Now().UTC()})
	}
	fields := make([]string, 0, len(m.PayloadIndexes))
	for f := range m.PayloadIndexes {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	for _, f := range fields {
		schema := m.PayloadIndexes[f]
		cmds = append(cmds, &meta.Command{V: meta.CommandVersion, Type: meta.TypeCreatePayloadIndex, Collection: name, Field: f, Schema: &schema})
	}
	for _, cmd := range cmds {
		if err := s.meta.Apply(cmd); err != nil {
			return api.ErrInternal(err, "cannot record restored collection %s: %v", name, err)
		}
	}
	c, err := s.openCollection(name, s.meta.State().Collections[name])
	if err != nil {
		return api.ErrInternal(err, "cannot open restored collection %s: %v", name, err)
	}
	s.mu.Lock()
	s.colls[name] = c
	s.mu.Unlock()
	s.log.Info("collection restored from snapshot", "collection", name, "shards", len(m.Shards), "points", m.Points())
	return nil
}

// RestoreShard implements snapshot.Source. The snapshot's vectors and shard
// count must match the collection's: a shard of another layout would hold
// points the router never sends to it.
func (h *SnapshotHooks) RestoreShard(ctx context.Context, name string, id int, dir string, m *snapshot.Manifest) error {
	s := h.s
	if err := checkSnapshotConfig(m); err != nil {
		return err
	}
	s.ddlMu.Lock()
	defer s.ddlMu.Unlock()
	cur, ok := s.meta.State().Collections[name]
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
	s.mu.Lock()
	c := s.colls[name]
	delete(s.colls, name)
	s.mu.Unlock()
	if c != nil {
		if err := c.Close(); err != nil {
			s.log.Warn("cannot close collection before shard restore", "collection", name, "err", err)
		}
	}
	swapErr := snapshot.SwapDir(src, filepath.Join(s.collectionDir(name), strconv.Itoa(id)))
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
				Hnsw: hnsw, Optimizers: cfg.OptimizerConfig, PayloadIndexes: m.PayloadIndexes,
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
