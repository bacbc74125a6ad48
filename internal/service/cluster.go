package service

import (
	"context"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/auth"
	"github.com/shoal-db/shoal/internal/collection"
)

// CollectionClusterInfo reports where the shards of a collection live, as a
// standalone Qdrant node does: every shard is local and active, with its
// point count, and there are no remote shards or transfers. It needs read
// access to the collection (or to the alias given).
func (s *Service) CollectionClusterInfo(ctx context.Context, name string) (*api.CollectionClusterInfo, error) {
	if err := s.linearize(ctx); err != nil {
		return nil, err
	}
	return withHeld(s, ctx, name, auth.Read, func(ctx context.Context, c *collection.Collection) (*api.CollectionClusterInfo, error) {
		if s.cluster != nil {
			return s.clusterInfo(ctx, c)
		}
		counts, err := c.ShardPointCounts(ctx)
		if err != nil {
			return nil, err
		}
		info := &api.CollectionClusterInfo{
			PeerID:         s.opts.PeerID,
			ShardCount:     len(counts),
			LocalShards:    make([]api.LocalShardInfo, len(counts)),
			RemoteShards:   []api.RemoteShardInfo{},
			ShardTransfers: []api.ShardTransferInfo{},
		}
		for i, n := range counts {
			info.LocalShards[i] = api.LocalShardInfo{ShardID: uint32(i), PointsCount: n, State: api.ReplicaActive}
		}
		return info, nil
	})
}
