package collection

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/shoal-db/shoal/internal/shard"
)

// ShardCheckpoint describes one shard checkpoint written by Checkpoint.
type ShardCheckpoint struct {
	// ID is the shard number.
	ID int
	// LastSeq is the sequence the checkpoint holds exactly.
	LastSeq uint64
	// Points is the number of points in the checkpoint.
	Points uint64
}

// Checkpoint writes a consistent checkpoint of the listed shards (all when
// ids is nil) into dir/shards/<id>, in parallel, while writes continue.
// Each shard's checkpoint holds exactly its operations up to LastSeq.
// Snapshots (internal/snapshot) are built on it.
func (c *Collection) Checkpoint(ctx context.Context, dir string, ids []int) ([]ShardCheckpoint, error) {
	if err := c.acquire(ctx); err != nil {
		return nil, err
	}
	defer c.release()
	if ids == nil {
		for i := range c.routes() {
			ids = append(ids, i)
		}
	}
	want := make(map[int]bool, len(ids))
	for _, id := range ids {
		if id < 0 || id >= c.n {
			return nil, fmt.Errorf("cannot checkpoint collection %s: no shard %d (it has %d)", c.name, id, c.n)
		}
		want[id] = true
	}
	out := make([]ShardCheckpoint, c.n)
	for id := range want {
		if c.locals()[id] == nil {
			return nil, fmt.Errorf("cannot checkpoint collection %s: shard %d is held by another peer", c.name, id)
		}
	}
	err := c.eachLocal(ctx, func(ctx context.Context, i int, s *shard.Shard) error {
		if !want[i] {
			return nil
		}
		seq, points, err := s.CheckpointCounted(ctx, filepath.Join(dir, "shards", strconv.Itoa(i)))
		if err != nil {
			return fmt.Errorf("cannot checkpoint shard %d of %s: %w", i, c.name, err)
		}
		out[i] = ShardCheckpoint{ID: i, LastSeq: seq, Points: points}
		return nil
	})
	if err != nil {
		return nil, err
	}
	res := make([]ShardCheckpoint, 0, len(ids))
	for i := range out {
		if want[i] {
			res = append(res, out[i])
		}
	}
	return res, nil
}

// ShardDir returns the directory of shard id.
func (c *Collection) ShardDir(id int) string { return filepath.Join(c.dir, strconv.Itoa(id)) }
