package collection

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/shard"
)

// PurgeVector removes the vector name from every point of the shards this
// node holds (opts.Local) and then the vector's index files: the step
// before the collection is opened without the name, since a shard refuses
// to open points holding a vector its configuration lacks. It opens the
// collection with opts (whose configuration still has the name) privately
// and closes it again; nobody else may have it open.
func PurgeVector(ctx context.Context, opts Options, name string) error {
	opts.Route = nil
	c, err := Open(opts)
	if err != nil {
		return err
	}
	has := name
	op := &api.UpdateOperation{DeleteVectors: &api.DeleteVectors{
		Filter: &api.Filter{Must: []api.Condition{{HasVector: &has}}},
		Vector: []string{name},
	}}
	var errs []error
	for i, s := range c.locals() {
		if s == nil {
			continue
		}
		if _, err := s.Apply(ctx, op); err != nil {
			errs = append(errs, fmt.Errorf("cannot remove vector %q from shard %d: %w", name, i, err))
		}
	}
	if err := c.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for i, s := range c.locals() {
		if s == nil {
			continue
		}
		if err := shard.RemoveIndexFile(filepath.Join(opts.Dir, strconv.Itoa(i)), name); err != nil {
			return fmt.Errorf("cannot remove index file of vector %q in shard %d: %w", name, i, err)
		}
	}
	return nil
}
