package collection

import (
	"context"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/shard"
)

// Shard is what the collection's router needs of one shard for reads and
// writes. A shard held by this node is a *shard.Shard; in a cluster, a
// shard held by another peer is a handle that forwards each call over the
// p2p port (internal/remote). Both answer alike, so results through any
// node equal the results of one node holding every shard.
type Shard interface {
	Apply(ctx context.Context, op *api.UpdateOperation) (uint64, error)
	Get(ctx context.Context, ids []api.PointID, withPayload *api.PayloadSelector, withVector *api.VectorSelector) ([]api.Record, error)
	Scroll(ctx context.Context, req shard.ScrollRequest) ([]api.Record, error)
	Count(ctx context.Context, f *api.Filter, exact bool) (uint64, error)
	Facet(ctx context.Context, key string, f *api.Filter, limit int, exact bool) ([]api.FacetHit, error)
	Sample(ctx context.Context, n int, f *api.Filter) ([]api.PointID, error)
	Search(ctx context.Context, req shard.SearchRequest) ([]api.ScoredPoint, error)
	// SparseStats returns the shard's point count with the sparse vector
	// name and, per index, how many of them have it (IDF statistics).
	SparseStats(ctx context.Context, name string, indices []uint32) (int, []int, error)
}

var _ Shard = (*shard.Shard)(nil)

// LocalShard returns shard i when this node holds it, else nil.
func (c *Collection) LocalShard(i int) *shard.Shard {
	if i < 0 || i >= c.n {
		return nil
	}
	return c.locals()[i]
}

// eachLocal runs fn on every shard this node holds, in parallel, and
// returns the first error: the work that only the holder of a replica
// does (building payload indexes, waiting for the indexer, checkpoints).
func (c *Collection) eachLocal(ctx context.Context, fn func(ctx context.Context, i int, s *shard.Shard) error) error {
	return c.eachShard(ctx, func(ctx context.Context, i int, _ Shard) error {
		if s := c.locals()[i]; s != nil {
			return fn(ctx, i, s)
		}
		return nil
	})
}
