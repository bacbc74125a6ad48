package service

import (
	"context"
	"slices"
	"strings"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/auth"
	"github.com/shoal-db/shoal/internal/collection"
	"github.com/shoal-db/shoal/internal/meta"
)

// Named vectors of an existing collection (Qdrant 1.18+): PUT and DELETE
// /collections/{c}/vectors/{name}. The change is one metadata command
// (meta.TypeCreateVector, meta.TypeDeleteVector), so it is durable in
// meta.json or the Raft log and part of snapshots, after which the
// collection is opened again with the new vector set while requests wait
// (the busy mechanism of shard restores). A delete first removes the
// vector from every point of this node's replicas (collection.PurgeVector):
// standalone before the command, so a crash leaves either the old
// configuration or the new one with no point holding the vector.

// CreateVectorName adds a dense, multi- or sparse vector to a collection.
func (s *Service) CreateVectorName(ctx context.Context, collection, name string, req *api.CreateVectorName, wp api.WriteParams) (*api.UpdateResult, error) {
	if err := auth.FromContext(ctx).CheckCollection(collection, auth.Manage); err != nil {
		return nil, err
	}
	dense, sparse, err := req.Params()
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, api.ErrBadInput("vector name must not be empty")
	}
	if dense != nil {
		if err := validateVectorParams(name, *dense); err != nil {
			return nil, err
		}
		if dense.Datatype != nil {
			dt := strings.ToLower(*dense.Datatype)
			dense.Datatype = &dt
		}
	} else if err := validateSparseParams(name, *sparse); err != nil {
		return nil, err
	}
	ctx, cancel := withTimeout(ctx, wp.TimeoutSeconds)
	defer cancel()
	change := &meta.VectorChange{Name: name, Dense: dense, Sparse: sparse}
	return s.changeVectors(ctx, collection, meta.TypeCreateVector, change, wp)
}

// DeleteVectorName removes a named vector (and its data) from a collection.
func (s *Service) DeleteVectorName(ctx context.Context, collection, name string, wp api.WriteParams) (*api.UpdateResult, error) {
	if err := auth.FromContext(ctx).CheckCollection(collection, auth.Manage); err != nil {
		return nil, err
	}
	ctx, cancel := withTimeout(ctx, wp.TimeoutSeconds)
	defer cancel()
	return s.changeVectors(ctx, collection, meta.TypeDeleteVector, &meta.VectorChange{Name: name}, wp)
}

func (s *Service) changeVectors(ctx context.Context, coll, typ string, change *meta.VectorChange, wp api.WriteParams) (*api.UpdateResult, error) {
	if s.cluster != nil {
		real, err := s.resolveLinearized(ctx, coll)
		if err != nil {
			return nil, err
		}
		cmd := &meta.Command{V: meta.CommandVersion, Type: typ, Collection: real, Vector: change}
		if err := s.checkVectorCommand(cmd); err != nil {
			return nil, err
		}
		if typ == meta.TypeDeleteVector {
			// Through the data path, on every replica, before the
			// command: replaying the command later (a restart) must not
			// touch data, which may by then hold a new vector of the name.
			if err := s.purgeReplicas(ctx, real, change.Name); err != nil {
				return nil, err
			}
		}
		if err := s.cluster.Apply(ctx, cmd); err != nil {
			return nil, err
		}
		return s.indexResult(0, wp), nil
	}
	s.ddlMu.Lock()
	defer s.ddlMu.Unlock()
	real, err := s.resolve(coll)
	if err != nil {
		return nil, err
	}
	cmd := &meta.Command{V: meta.CommandVersion, Type: typ, Collection: real, Vector: change}
	if err := s.checkVectorCommand(cmd); err != nil {
		return nil, err
	}
	old := s.state().Collections[real]
	err = s.reopenWith(real, func() (*meta.Collection, error) {
		if typ == meta.TypeDeleteVector {
			if err := collection.PurgeVector(ctx, s.vectorOptions(real, old), change.Name); err != nil {
				return old, err
			}
		}
		if err := s.meta.Apply(cmd); err != nil {
			return old, err
		}
		return s.state().Collections[real], nil
	})
	if err != nil {
		return nil, err
	}
	return s.indexResult(0, wp), nil
}

// checkVectorCommand applies cmd to a copy of the metadata, so that a
// change the state machine refuses fails before anything is touched.
func (s *Service) checkVectorCommand(cmd *meta.Command) error {
	st := s.state().Clone()
	return st.Apply(cmd)
}

// vectorOptions are the options collection.Open gets for the collection
// m describes, on this node: every shard standalone, the replicas this
// node holds in a cluster.
func (s *Service) vectorOptions(name string, m *meta.Collection) collection.Options {
	opts := collection.Options{
		Dir:              s.generationDir(name, m.Generation),
		Name:             name,
		Config:           m.Config,
		PayloadIndexes:   m.PayloadIndexes,
		Logger:           s.log,
		IndexingThreads:  s.opts.IndexingThreads,
		Writes:           s.writes,
		MinFreeDiskBytes: s.opts.MinFreeDiskBytes,
		ShardOptions:     s.opts.ShardOptions,
	}
	if s.cluster != nil {
		self := s.cluster.ID()
		opts.Local = func(i int) bool { return i < len(m.Shards) && slices.Contains(m.Shards[i].Peers(), self) }
	}
	return opts
}

// reopenWith closes the collection name (requests wait meanwhile), runs
// change, and opens the collection as the metadata change returns (the
// old one when change failed). The error is change's, or the reopen's.
func (s *Service) reopenWith(name string, change func() (*meta.Collection, error)) error {
	done := make(chan struct{})
	s.mu.Lock()
	c := s.colls[name]
	sets := s.sets[name]
	delete(s.colls, name)
	delete(s.sets, name)
	s.busy[name] = done
	s.mu.Unlock()
	defer s.unbusy(name, done)
	stopSets(sets) // calls in flight on the replica sets end (errReopened)
	if c != nil {
		if err := c.Close(); err != nil {
			s.log.Warn("cannot close collection before changing its vectors", "collection", name, "err", err)
		}
	}
	m, cerr := change()
	if s.cluster != nil {
		s.openPlaced(name, m)
		if s.openColl(name) == nil && cerr == nil {
			return api.ErrInternal(nil, "cannot reopen collection %s after changing its vectors", name)
		}
		return cerr
	}
	nc, err := s.openCollection(name, m)
	if err != nil {
		return api.ErrInternal(err, "cannot reopen collection %s after changing its vectors: %v", name, err)
	}
	s.mu.Lock()
	s.colls[name] = nc
	s.mu.Unlock()
	return cerr
}

// purgeReplicas removes the vector name from every point of the
// collection, on every replica (cluster mode, before delete_vector_name).
func (s *Service) purgeReplicas(ctx context.Context, name, vector string) error {
	_, err := withHeld(s, ctx, name, auth.Manage, func(ctx context.Context, c *collection.Collection) ([]api.UpdateResult, error) {
		has := vector
		return c.UpdateBatch(ctx, []api.UpdateOperation{{DeleteVectors: &api.DeleteVectors{
			Filter: &api.Filter{Must: []api.Condition{{HasVector: &has}}}, Vector: []string{vector}}}}, true)
	})
	return err
}

// appliedVector is the cluster listener's side of a vector command: every
// node reopens its replicas with the new vector set (the proposer removed
// a deleted vector's data first). It does not remove data itself: the
// command is replayed at every restart, when the replicas may hold a
// vector of the same name created later. While replaying, a collection
// may fail to open with an intermediate vector set (its data is newer);
// the command that matches the data opens it.
func (s *Service) appliedVector(cmd *meta.Command, prev, next *meta.State) {
	now := next.Collections[cmd.Collection]
	if now == nil {
		return
	}
	if s.openColl(cmd.Collection) == nil {
		s.openPlaced(cmd.Collection, now)
		return
	}
	err := s.reopenWith(cmd.Collection, func() (*meta.Collection, error) { return now, nil })
	if err != nil {
		s.log.Error("cannot reopen collection after a vector change", "collection", cmd.Collection, "err", err)
	}
}
