package service

import (
	"context"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/auth"
	"github.com/shoal-db/shoal/internal/collection"
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

// checkOp enforces the limits on one write operation.
func (s *Service) checkOp(op *api.UpdateOperation) error {
	switch {
	case op.Upsert != nil:
		if err := s.checkFilterDepth(op.Upsert.UpdateFilter); err != nil {
			return err
		}
		return s.checkBatch(len(op.Upsert.Points), "points")
	case op.Delete != nil:
		if err := s.checkFilterDepth(op.Delete.Filter); err != nil {
			return err
		}
		return s.checkBatch(len(op.Delete.Points), "point ids")
	case op.SetPayload != nil:
		if err := s.checkFilterDepth(op.SetPayload.Filter); err != nil {
			return err
		}
		return s.checkBatch(len(op.SetPayload.Points), "point ids")
	case op.OverwritePayload != nil:
		if err := s.checkFilterDepth(op.OverwritePayload.Filter); err != nil {
			return err
		}
		return s.checkBatch(len(op.OverwritePayload.Points), "point ids")
	case op.DeletePayload != nil:
		if err := s.checkFilterDepth(op.DeletePayload.Filter); err != nil {
			return err
		}
		return s.checkBatch(len(op.DeletePayload.Points), "point ids")
	case op.ClearPayload != nil:
		if err := s.checkFilterDepth(op.ClearPayload.Filter); err != nil {
			return err
		}
		return s.checkBatch(len(op.ClearPayload.Points), "point ids")
	case op.UpdateVectors != nil:
		if err := s.checkFilterDepth(op.UpdateVectors.UpdateFilter); err != nil {
			return err
		}
		return s.checkBatch(len(op.UpdateVectors.Points), "points")
	case op.DeleteVectors != nil:
		if err := s.checkFilterDepth(op.DeleteVectors.Filter); err != nil {
			return err
		}
		return s.checkBatch(len(op.DeleteVectors.Points), "point ids")
	}
	return nil
}

// write runs a batch of write operations on a collection.
func (s *Service) write(ctx context.Context, collection string, ops []api.UpdateOperation, wp api.WriteParams) ([]api.UpdateResult, error) {
	ctx, cancel := withTimeout(ctx, wp.TimeoutSeconds)
	defer cancel()
	ctx, c, release, err := s.hold(ctx, collection, auth.Write)
	if err != nil {
		return nil, err
	}
	defer release()
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
	res, err := c.UpdateBatch(ctx, ops, wp.Wait)
	return res, fail(err)
}

func (s *Service) write1(ctx context.Context, collection string, op api.UpdateOperation, wp api.WriteParams) (*api.UpdateResult, error) {
	res, err := s.write(ctx, collection, []api.UpdateOperation{op}, wp)
	if err != nil {
		return nil, err
	}
	return &res[0], nil
}

// Upsert inserts or replaces points.
func (s *Service) Upsert(ctx context.Context, collection string, req *api.UpsertPoints, wp api.WriteParams) (*api.UpdateResult, error) {
	if req == nil {
		return nil, api.ErrBadInput("missing points")
	}
	return s.write1(ctx, collection, api.UpdateOperation{Upsert: req}, wp)
}

// DeletePoints deletes the selected points.
func (s *Service) DeletePoints(ctx context.Context, collection string, sel *api.PointsSelector, wp api.WriteParams) (*api.UpdateResult, error) {
	if sel == nil {
		return nil, api.ErrBadInput("missing points selector")
	}
	return s.write1(ctx, collection, api.UpdateOperation{Delete: sel}, wp)
}

// UpdateVectors replaces the given named vectors of points.
func (s *Service) UpdateVectors(ctx context.Context, collection string, req *api.UpdateVectors, wp api.WriteParams) (*api.UpdateResult, error) {
	if req == nil {
		return nil, api.ErrBadInput("missing points")
	}
	return s.write1(ctx, collection, api.UpdateOperation{UpdateVectors: req}, wp)
}

// DeleteVectors removes named vectors from the selected points.
func (s *Service) DeleteVectors(ctx context.Context, collection string, req *api.DeleteVectors, wp api.WriteParams) (*api.UpdateResult, error) {
	if req == nil {
		return nil, api.ErrBadInput("missing selector")
	}
	return s.write1(ctx, collection, api.UpdateOperation{DeleteVectors: req}, wp)
}

// SetPayload merges payload keys into the selected points.
func (s *Service) SetPayload(ctx context.Context, collection string, req *api.SetPayload, wp api.WriteParams) (*api.UpdateResult, error) {
	if req == nil {
		return nil, api.ErrBadInput("missing payload")
	}
	return s.write1(ctx, collection, api.UpdateOperation{SetPayload: req}, wp)
}

// OverwritePayload replaces the selected points' payloads.
func (s *Service) OverwritePayload(ctx context.Context, collection string, req *api.SetPayload, wp api.WriteParams) (*api.UpdateResult, error) {
	if req == nil {
		return nil, api.ErrBadInput("missing payload")
	}
	return s.write1(ctx, collection, api.UpdateOperation{OverwritePayload: req}, wp)
}

// DeletePayload deletes payload keys from the selected points.
func (s *Service) DeletePayload(ctx context.Context, collection string, req *api.DeletePayload, wp api.WriteParams) (*api.UpdateResult, error) {
	if req == nil {
		return nil, api.ErrBadInput("missing keys")
	}
	return s.write1(ctx, collection, api.UpdateOperation{DeletePayload: req}, wp)
}

// ClearPayload removes the whole payload of the selected points.
func (s *Service) ClearPayload(ctx context.Context, collection string, sel *api.PointsSelector, wp api.WriteParams) (*api.UpdateResult, error) {
	if sel == nil {
		return nil, api.ErrBadInput("missing points selector")
	}
	return s.write1(ctx, collection, api.UpdateOperation{ClearPayload: sel}, wp)
}

// BatchUpdate validates every operation, then applies them in order.
func (s *Service) BatchUpdate(ctx context.Context, collection string, ops []api.UpdateOperation, wp api.WriteParams) ([]api.UpdateResult, error) {
	return s.write(ctx, collection, ops, wp)
}

// read opens a collection for reading with the request's timeout.
func (s *Service) read(ctx context.Context, collection string, rp api.ReadParams) (context.Context, func(), *collection.Collection, error) {
	ctx, cancel := withTimeout(ctx, rp.TimeoutSeconds)
	ctx, c, release, err := s.hold(ctx, collection, auth.Read)
	if err != nil {
		cancel()
		return nil, nil, nil, err
	}
	return ctx, func() { release(); cancel() }, c, nil
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
	ctx, done, c, err := s.read(ctx, collection, rp)
	if err != nil {
		return nil, err
	}
	defer done()
	wp := req.WithPayload
	if wp == nil {
		wp = api.PayloadAll
	}
	recs, err := c.Get(ctx, req.IDs, wp, req.WithVector)
	return recs, fail(err)
}

// Scroll pages through points.
func (s *Service) Scroll(ctx context.Context, collection string, req *api.ScrollRequest, rp api.ReadParams) (*api.ScrollResult, error) {
	if req == nil {
		req = &api.ScrollRequest{}
	}
	if err := s.checkFilterDepth(req.Filter); err != nil {
		return nil, err
	}
	if req.Limit != nil && *req.Limit > s.limits.MaxLimit {
		return nil, api.ErrBadInput("limit %d exceeds the maximum of %d", *req.Limit, s.limits.MaxLimit)
	}
	ctx, done, c, err := s.read(ctx, collection, rp)
	if err != nil {
		return nil, err
	}
	defer done()
	res, err := c.Scroll(ctx, req)
	return res, fail(err)
}

// Count counts the points matching a filter.
func (s *Service) Count(ctx context.Context, collection string, req *api.CountRequest, rp api.ReadParams) (*api.CountResult, error) {
	if req == nil {
		req = &api.CountRequest{}
	}
	if err := s.checkFilterDepth(req.Filter); err != nil {
		return nil, err
	}
	ctx, done, c, err := s.read(ctx, collection, rp)
	if err != nil {
		return nil, err
	}
	defer done()
	exact := req.Exact == nil || *req.Exact
	n, err := c.Count(ctx, req.Filter, exact)
	if err != nil {
		return nil, fail(err)
	}
	return &api.CountResult{Count: n}, nil
}

// Facet counts the values of a payload key.
func (s *Service) Facet(ctx context.Context, collection string, req *api.FacetRequest, rp api.ReadParams) (*api.FacetResponse, error) {
	if req == nil {
		return nil, api.ErrBadInput("missing facet request")
	}
	if err := s.checkFilterDepth(req.Filter); err != nil {
		return nil, err
	}
	if req.Limit != nil && *req.Limit > s.limits.MaxLimit {
		return nil, api.ErrBadInput("limit %d exceeds the maximum of %d", *req.Limit, s.limits.MaxLimit)
	}
	ctx, done, c, err := s.read(ctx, collection, rp)
	if err != nil {
		return nil, err
	}
	defer done()
	res, err := c.Facet(ctx, req)
	return res, fail(err)
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

func (s *Service) matrix(ctx context.Context, collection string, req *api.SearchMatrixRequest, rp api.ReadParams) (*collection.Matrix, error) {
	if req == nil {
		req = &api.SearchMatrixRequest{}
	}
	if err := s.checkFilterDepth(req.Filter); err != nil {
		return nil, err
	}
	if req.Sample != nil && *req.Sample > s.limits.MaxMatrixSample {
		return nil, api.ErrBadInput("sample %d exceeds the maximum of %d", *req.Sample, s.limits.MaxMatrixSample)
	}
	if req.Limit != nil && *req.Limit > s.limits.MaxLimit {
		return nil, api.ErrBadInput("limit %d exceeds the maximum of %d", *req.Limit, s.limits.MaxLimit)
	}
	ctx, done, c, err := s.read(ctx, collection, rp)
	if err != nil {
		return nil, err
	}
	defer done()
	m, err := c.DistanceMatrix(ctx, req)
	if err != nil {
		return nil, fail(err)
	}
	return m, nil
}
