package service

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/auth"
	coll "github.com/shoal-db/shoal/internal/collection"
)

// checkFilterDepth enforces Limits.MaxFilterDepth (the full validation is
// the collection's).
func (s *Service) checkFilterDepth(f *api.Filter) error {
	if d := f.Depth(); d > s.limits.MaxFilterDepth {
		return api.ErrBadInput("Filter is nested too deeply: depth %d exceeds the maximum of %d", d, s.limits.MaxFilterDepth)
	}
	return nil
}

func (s *Service) checkBatch(n int, what string) error {
	if n > s.limits.MaxBatchPoints {
		return api.ErrBadInput("too many %s in one request: %d, the limit is %d", what, n, s.limits.MaxBatchPoints)
	}
	return nil
}

// checkMax enforces an upper bound on an optional request value; what
// names the value in the error.
func checkMax(what string, v *int, maximum int) error {
	if v != nil && *v > maximum {
		return api.ErrBadInput("%s %d exceeds the maximum of %d", what, *v, maximum)
	}
	return nil
}

// checkWrite enforces the limits on one write operation with filter f
// that carries n points (or ids), named by what in the error.
func (s *Service) checkWrite(f *api.Filter, n int, what string) error {
	if err := s.checkFilterDepth(f); err != nil {
		return err
	}
	return s.checkBatch(n, what)
}

// checkOp enforces the limits on one write operation, and that every
// point of an update_vectors names at least one vector (Qdrant's 422).
func (s *Service) checkOp(op *api.UpdateOperation) error {
	switch {
	case op.Upsert != nil:
		return s.checkWrite(op.Upsert.UpdateFilter, len(op.Upsert.Points), "points")
	case op.Delete != nil:
		return s.checkWrite(op.Delete.Filter, len(op.Delete.Points), "point ids")
	case op.SetPayload != nil:
		return s.checkWrite(op.SetPayload.Filter, len(op.SetPayload.Points), "point ids")
	case op.OverwritePayload != nil:
		return s.checkWrite(op.OverwritePayload.Filter, len(op.OverwritePayload.Points), "point ids")
	case op.DeletePayload != nil:
		return s.checkWrite(op.DeletePayload.Filter, len(op.DeletePayload.Points), "point ids")
	case op.ClearPayload != nil:
		return s.checkWrite(op.ClearPayload.Filter, len(op.ClearPayload.Points), "point ids")
	case op.UpdateVectors != nil:
		for i, pv := range op.UpdateVectors.Points {
			if len(pv.Vector) == 0 && len(pv.Sparse) == 0 && len(pv.Multi) == 0 {
				return api.ErrBodyValidation(fmt.Sprintf("points[%d].vector", i), "must specify vectors to update for point")
			}
		}
		return s.checkWrite(op.UpdateVectors.UpdateFilter, len(op.UpdateVectors.Points), "points")
	case op.DeleteVectors != nil:
		return s.checkWrite(op.DeleteVectors.Filter, len(op.DeleteVectors.Points), "point ids")
	}
	return nil
}

// withHeld holds the collection named by name (or alias) with access need,
// calls call with the held context and the collection, and releases it.
// Errors of call pass through fail.
func withHeld[T any](s *Service, ctx context.Context, name string, need auth.Mode, call func(context.Context, *coll.Collection) (T, error)) (T, error) {
	caughtUp := false
	for {
		hctx, c, release, err := s.hold(ctx, name, need)
		if err != nil {
			var zero T
			return zero, err
		}
		res, err := call(hctx, c)
		release()
		if errors.Is(err, errReopened) && ctx.Err() == nil {
			// The collection closed under the call to be opened again
			// with a new placement (cluster mode): call again once it
			// is open.
			continue
		}
		if err != nil && s.cluster != nil && !caughtUp && api.KindOf(err) == api.KindBadInput &&
			strings.Contains(err.Error(), "Not existing vector name") {
			// The vector may have been created through another node a
			// moment ago: catch up with the metadata once and call again
			// (a refused single operation changed nothing; the operations
			// of a batch before it are applied again, as a retry would).
			caughtUp = true
			if lerr := s.linearize(ctx); lerr == nil {
				s.reconMu.Lock()
				s.reconMu.Unlock() //nolint:staticcheck // waits for the listener's side effects
				continue
			}
		}
		return res, fail(err)
	}
}

// withRead is withHeld for reading, bounded by the request's timeout and
// by Limits.MaxConcurrentReads.
//
// When the collection has strict mode on, the request first passes its
// checks (checkStrict: timeout, read rate limit at cost, then check).
func withRead[T any](s *Service, ctx context.Context, collection string, rp api.ReadParams, cost int, check strictCheck, call func(context.Context, *coll.Collection) (T, error)) (T, error) {
	ctx, cancel := withTimeout(ctx, rp.TimeoutSeconds)
	defer cancel()
	ctx = withConsistency(ctx, rp.Consistency)
	release, err := acquire(ctx, s.readSlots)
	if err != nil {
		var zero T
		return zero, err
	}
	defer release()
	return withHeld(s, ctx, collection, auth.Read, func(ctx context.Context, c *coll.Collection) (T, error) {
		if err := s.checkStrict(c, rp.TimeoutSeconds, false, cost, check); err != nil {
			var zero T
			return zero, err
		}
		return call(ctx, c)
	})
}

// acquire takes a token of slots (nil: no limit), waiting until ctx ends,
// and returns the function that gives it back.
func acquire(ctx context.Context, slots chan struct{}) (func(), error) {
	if slots == nil {
		return func() {}, nil
	}
	select {
	case slots <- struct{}{}:
		return func() { <-slots }, nil
	case <-ctx.Done():
		return nil, fail(ctx.Err())
	}
}

// write runs a batch of write operations on a collection.
func (s *Service) write(ctx context.Context, collection string, ops []api.UpdateOperation, wp api.WriteParams) ([]api.UpdateResult, error) {
	ctx, cancel := withTimeout(ctx, wp.TimeoutSeconds)
	defer cancel()
	ctx = withOrdering(ctx, wp.Ordering)
	release, err := acquire(ctx, s.updateSlots)
	if err != nil {
		return nil, err
	}
	defer release()
	s.writes.Begin()
	defer s.writes.End()
	return withHeld(s, ctx, collection, auth.Write, func(ctx context.Context, c *coll.Collection) ([]api.UpdateResult, error) {
		total := 0
		for i := range ops {
			if err := s.checkOp(&ops[i]); err != nil {
				return nil, err
			}
			if op := ops[i].Upsert; op != nil {
				total += len(op.Points)
			}
		}
		if err := s.checkBatch(total, "points"); err != nil {
			return nil, err
		}
		if err := s.checkStrict(c, wp.TimeoutSeconds, true, writeRateCost(ctx, c, ops), s.writeChecks(ops)); err != nil {
			return nil, err
		}
		return c.UpdateBatch(ctx, ops, wp.Wait)
	})
}

// write1 runs the single write operation op. When the request that op
// carries is missing, it fails first with a bad-input error naming what
// is missing.
func (s *Service) write1(ctx context.Context, collection string, missing bool, what string, op api.UpdateOperation, wp api.WriteParams) (*api.UpdateResult, error) {
	if missing {
		return nil, api.ErrBadInput("missing %s", what)
	}
	res, err := s.write(ctx, collection, []api.UpdateOperation{op}, wp)
	if err != nil {
		return nil, err
	}
	return &res[0], nil
}

// Upsert inserts or replaces points.
func (s *Service) Upsert(ctx context.Context, collection string, req *api.UpsertPoints, wp api.WriteParams) (*api.UpdateResult, error) {
	return s.write1(ctx, collection, req == nil, "points", api.UpdateOperation{Upsert: req}, wp)
}

// DeletePoints deletes the selected points.
func (s *Service) DeletePoints(ctx context.Context, collection string, sel *api.PointsSelector, wp api.WriteParams) (*api.UpdateResult, error) {
	return s.write1(ctx, collection, sel == nil, "points selector", api.UpdateOperation{Delete: sel}, wp)
}

// UpdateVectors replaces the given named vectors of points.
func (s *Service) UpdateVectors(ctx context.Context, collection string, req *api.UpdateVectors, wp api.WriteParams) (*api.UpdateResult, error) {
	return s.write1(ctx, collection, req == nil, "points", api.UpdateOperation{UpdateVectors: req}, wp)
}

// DeleteVectors removes named vectors from the selected points.
func (s *Service) DeleteVectors(ctx context.Context, collection string, req *api.DeleteVectors, wp api.WriteParams) (*api.UpdateResult, error) {
	return s.write1(ctx, collection, req == nil, "selector", api.UpdateOperation{DeleteVectors: req}, wp)
}

// SetPayload merges payload keys into the selected points.
func (s *Service) SetPayload(ctx context.Context, collection string, req *api.SetPayload, wp api.WriteParams) (*api.UpdateResult, error) {
	return s.write1(ctx, collection, req == nil, "payload", api.UpdateOperation{SetPayload: req}, wp)
}

// OverwritePayload replaces the selected points' payloads.
func (s *Service) OverwritePayload(ctx context.Context, collection string, req *api.SetPayload, wp api.WriteParams) (*api.UpdateResult, error) {
	return s.write1(ctx, collection, req == nil, "payload", api.UpdateOperation{OverwritePayload: req}, wp)
}

// DeletePayload deletes payload keys from the selected points.
func (s *Service) DeletePayload(ctx context.Context, collection string, req *api.DeletePayload, wp api.WriteParams) (*api.UpdateResult, error) {
	return s.write1(ctx, collection, req == nil, "keys", api.UpdateOperation{DeletePayload: req}, wp)
}

// ClearPayload removes the whole payload of the selected points.
func (s *Service) ClearPayload(ctx context.Context, collection string, sel *api.PointsSelector, wp api.WriteParams) (*api.UpdateResult, error) {
	return s.write1(ctx, collection, sel == nil, "points selector", api.UpdateOperation{ClearPayload: sel}, wp)
}

// BatchUpdate validates every operation, then applies them in order.
func (s *Service) BatchUpdate(ctx context.Context, collection string, ops []api.UpdateOperation, wp api.WriteParams) ([]api.UpdateResult, error) {
	return s.write(ctx, collection, ops, wp)
}

// GetPoint returns one point or a 404.
func (s *Service) GetPoint(ctx context.Context, collection string, id api.PointID, rp api.ReadParams) (*api.Record, error) {
	recs, err := s.GetPoints(ctx, collection, &api.GetPoints{IDs: []api.PointID{id}, WithPayload: api.PayloadAll, WithVector: &api.VectorSelector{Enable: true}}, rp)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, api.ErrPointNotFound(id)
	}
	return &recs[0], nil
}

// GetPoints returns the points that exist among the ids, in the order asked.
func (s *Service) GetPoints(ctx context.Context, collection string, req *api.GetPoints, rp api.ReadParams) ([]api.Record, error) {
	if req == nil {
		return nil, api.ErrBadInput("missing ids")
	}
	if err := s.checkBatch(len(req.IDs), "point ids"); err != nil {
		return nil, err
	}
	return withRead(s, ctx, collection, rp, retrieveCost(req.IDs), nil, func(ctx context.Context, c *coll.Collection) ([]api.Record, error) {
		wp := req.WithPayload
		if wp == nil {
			wp = api.PayloadAll
		}
		return c.Get(ctx, req.IDs, wp, req.WithVector)
	})
}

// Scroll pages through points.
func (s *Service) Scroll(ctx context.Context, collection string, req *api.ScrollRequest, rp api.ReadParams) (*api.ScrollResult, error) {
	if req == nil {
		req = &api.ScrollRequest{}
	}
	if err := s.checkFilterDepth(req.Filter); err != nil {
		return nil, err
	}
	saturate(req.Limit)
	return withRead(s, ctx, collection, rp, scrollCost(req.Filter), s.limitFilterChecks(req.Limit, req.Filter, false), func(ctx context.Context, c *coll.Collection) (*api.ScrollResult, error) {
		if err := s.fitLimit(ctx, c, "limit", req.Limit); err != nil {
			return nil, err
		}
		return c.Scroll(ctx, req)
	})
}

// Count counts the points matching a filter.
func (s *Service) Count(ctx context.Context, collection string, req *api.CountRequest, rp api.ReadParams) (*api.CountResult, error) {
	if req == nil {
		req = &api.CountRequest{}
	}
	if err := s.checkFilterDepth(req.Filter); err != nil {
		return nil, err
	}
	return withRead(s, ctx, collection, rp, 1, s.limitFilterChecks(nil, req.Filter, req.Exact == nil || *req.Exact), func(ctx context.Context, c *coll.Collection) (*api.CountResult, error) {
		exact := req.Exact == nil || *req.Exact
		n, err := c.Count(ctx, req.Filter, exact)
		if err != nil {
			return nil, err
		}
		return &api.CountResult{Count: n}, nil
	})
}

// Facet counts the values of a payload key.
func (s *Service) Facet(ctx context.Context, collection string, req *api.FacetRequest, rp api.ReadParams) (*api.FacetResponse, error) {
	if req == nil {
		return nil, api.ErrBadInput("missing facet request")
	}
	if err := s.checkFilterDepth(req.Filter); err != nil {
		return nil, err
	}
	if err := checkMax("limit", req.Limit, s.limits.MaxLimit); err != nil {
		return nil, err
	}
	return withRead(s, ctx, collection, rp, 1, s.limitFilterChecks(req.Limit, req.Filter, req.Exact != nil && *req.Exact), func(ctx context.Context, c *coll.Collection) (*api.FacetResponse, error) {
		return c.Facet(ctx, req)
	})
}

// SearchMatrixPairs returns the distance matrix of a sample as pairs.
func (s *Service) SearchMatrixPairs(ctx context.Context, collection string, req *api.SearchMatrixRequest, rp api.ReadParams) (*api.SearchMatrixPairs, error) {
	m, err := s.matrix(ctx, collection, req, rp)
	if err != nil {
		return nil, err
	}
	return m.Pairs(), nil
}

// SearchMatrixOffsets returns the distance matrix of a sample as a sparse
// matrix.
func (s *Service) SearchMatrixOffsets(ctx context.Context, collection string, req *api.SearchMatrixRequest, rp api.ReadParams) (*api.SearchMatrixOffsets, error) {
	m, err := s.matrix(ctx, collection, req, rp)
	if err != nil {
		return nil, err
	}
	return m.Offsets(), nil
}

func (s *Service) matrix(ctx context.Context, collection string, req *api.SearchMatrixRequest, rp api.ReadParams) (*coll.Matrix, error) {
	if req == nil {
		req = &api.SearchMatrixRequest{}
	}
	if err := s.checkFilterDepth(req.Filter); err != nil {
		return nil, err
	}
	if err := checkMax("sample", req.Sample, s.limits.MaxMatrixSample); err != nil {
		return nil, err
	}
	saturate(req.Limit)
	// Strict mode's max_query_limit bounds sample × limit as given, as
	// Qdrant checks it ("Limit exceeded 20 > 15"): an omitted factor
	// counts as 1, and a request giving neither is not checked (Qdrant
	// declined to count the defaults, qdrant/qdrant#10518).
	var pairs *int
	if req.Sample != nil || req.Limit != nil {
		n := 1
		for _, f := range []*int{req.Sample, req.Limit} {
			if f != nil {
				n *= *f
			}
		}
		pairs = &n
	}
	return withRead(s, ctx, collection, rp, 1, s.limitFilterChecks(pairs, req.Filter, false), func(ctx context.Context, c *coll.Collection) (*coll.Matrix, error) {
		if err := s.fitLimit(ctx, c, "limit", req.Limit); err != nil {
			return nil, err
		}
		m, err := c.DistanceMatrix(ctx, req)
		if err != nil {
			return nil, err
		}
		return m, nil
	})
}
