package collection

import (
	"errors"
	"fmt"
	"slices"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/shard"
)

// Reconfig describes a change of the replicas this node holds, for
// Reconfigure.
type Reconfig struct {
	// Config and PayloadIndexes are the collection's current ones, for
	// the shards opened.
	Config         api.CollectionConfig
	PayloadIndexes map[string]api.PayloadFieldSchema
	// Local reports whether this node holds a replica of shard i after the
	// change.
	Local func(i int) bool
	// Reopen lists shards held before and after whose files Between
	// replaces (an installed checkpoint): they are closed before Between
	// and opened again after it.
	Reopen []int
	// Route returns the router's handle for shard i, given this node's
	// replica of it (nil when it holds none); it is called for every shard.
	// Unset, the router uses the local shards.
	Route func(i int, local *shard.Shard) Shard
	// Interrupt, when set, runs once new callers are held back and before
	// Reconfigure waits for the calls in flight: it must make those end
	// soon (the calls that wait on something Reconfigure's caller blocks).
	Interrupt func()
	// Between, when set, runs after the replicas given up or reopened are
	// closed and before new ones open: it may remove or replace their
	// files. Its error is returned after the collection is usable again.
	Between func() error
	// Quarantine is Options.Quarantine for the shards opened.
	Quarantine func(i int, dir string, err error) bool
}

// Reconfigure changes which shards this node holds without closing the
// collection: replicas given up are closed (without persisting their
// index files, since their directories go), new ones are opened, and
// every shard gets a new route. Shards held before and after stay open
// and keep their memory.
//
// New callers wait while it runs, calls in flight are waited for (after
// rc.Interrupt), and no call ever sees a closed shard. When a new replica
// fails to open, the collection keeps routing that shard without a local
// replica and the error is returned.
func (c *Collection) Reconfigure(rc Reconfig) error {
	c.mu.Lock()
	for c.paused {
		c.cond.Wait()
	}
	if c.closed {
		c.mu.Unlock()
		return api.ErrCollectionNotFound(c.name)
	}
	c.paused = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.paused = false
		c.cond.Broadcast()
		c.mu.Unlock()
	}()
	if rc.Interrupt != nil {
		rc.Interrupt()
	}
	c.mu.Lock()
	for c.inflight > 0 {
		c.cond.Wait()
	}
	c.mu.Unlock()

	local := slices.Clone(c.tab.Load().local)
	var closing, opening []int
	for i := range c.n {
		has, again := rc.Local(i), slices.Contains(rc.Reopen, i)
		if local[i] != nil && (!has || again) {
			closing = append(closing, i)
		}
		if has && (local[i] == nil || again) {
			opening = append(opening, i)
		}
	}
	var errs []error
	for _, i := range closing {
		if err := local[i].Drop(); err != nil {
			errs = append(errs, fmt.Errorf("cannot close the replica of shard %d: %w", i, err))
		}
		local[i] = nil
	}
	if rc.Between != nil {
		if err := rc.Between(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.openShards(rc.Config, rc.PayloadIndexes, opening, local, rc.Quarantine); err != nil {
		errs = append(errs, fmt.Errorf("cannot open the new replicas of collection %s: %w", c.name, err))
	}
	c.tab.Store(&shardTable{shards: routeAll(local, rc.Route), local: local})
	if len(errs) > 0 {
		return fmt.Errorf("cannot reconfigure collection %s: %w", c.name, errors.Join(errs...))
	}
	return nil
}
