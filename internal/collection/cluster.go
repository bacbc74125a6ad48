package collection

import (
	"context"
)

// ShardPointCounts returns the number of points in each shard, indexed by
// shard id. Every shard is counted, so the counts add up to the points of
// the collection at one moment per shard (not one moment for all).
func (c *Collection) ShardPointCounts(ctx context.Context) ([]uint64, error) {
	if err := c.acquire(ctx); err != nil {
		return nil, err
	}
	defer c.release()
	counts := make([]uint64, c.n)
	err := c.eachShard(ctx, func(ctx context.Context, i int, s Shard) error {
		n, err := s.Count(ctx, nil, true)
		counts[i] = n
		return err
	})
	if err != nil {
		return nil, err
	}
	return counts, nil
}
