package collection

import (
	"context"
	"math"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/filter"
	"github.com/shoal-db/shoal/internal/shard"
)

// checkVector validates one vector against the named vector's config and
// returns it ready to store: a normalised copy for Cosine, else vec itself.
func (c *Collection) checkVector(name string, vec []float32) ([]float32, error) {
	p, err := c.vectorParams(name)
	if err != nil {
		return nil, err
	}
	if len(vec) != p.Size {
		return nil, api.ErrBadInput("Vector dimension error: expected dim: %d, got %d", p.Size, len(vec))
	}
	if err := api.CheckFinite(name, vec); err != nil {
		return nil, err
	}
	if p.Distance == api.DistanceCosine {
		return normalized(vec), nil
	}
	return vec, nil
}

// checkVectors validates a point's vectors (see checkVector) into a new map.
func (c *Collection) checkVectors(v api.Vectors) (api.Vectors, error) {
	if err := c.checkDenseNames(v); err != nil {
		return nil, err
	}
	out := make(api.Vectors, len(v))
	for name, vec := range v {
		nv, err := c.checkVector(name, vec)
		if err != nil {
			return nil, err
		}
		out[name] = nv
	}
	return out, nil
}

// normalized returns vec scaled to unit length (a copy); a zero vector stays
// zero, as in Qdrant.
func normalized(vec []float32) []float32 {
	var sum float64
	for _, x := range vec {
		sum += float64(x) * float64(x)
	}
	out := make([]float32, len(vec))
	if sum == 0 {
		copy(out, vec)
		return out
	}
	inv := 1 / math.Sqrt(sum)
	for i, x := range vec {
		out[i] = float32(float64(x) * inv)
	}
	return out
}

func checkFilter(f *api.Filter) error { return filter.Validate(f) }

// checkUpdateMode refuses a mode the JSON or protobuf decoders could not
// have produced (a Go caller's typo).
func checkUpdateMode(m api.UpdateMode) error {
	switch m {
	case "", api.UpdateModeUpsert, api.UpdateModeInsertOnly, api.UpdateModeUpdateOnly:
		return nil
	}
	return api.ErrBadInput("unknown variant `%s`, expected one of `upsert`, `insert_only`, `update_only`", m)
}

// prepared is one validated operation split into per-shard parts.
type prepared struct {
	parts map[int]*api.UpdateOperation // shard -> operation
}

// prepare validates op in full and splits it by shard. It never mutates op.
func (c *Collection) prepare(op *api.UpdateOperation) (*prepared, error) {
	n := 0
	for _, set := range []bool{op.Upsert != nil, op.Delete != nil, op.SetPayload != nil, op.OverwritePayload != nil,
		op.DeletePayload != nil, op.ClearPayload != nil, op.UpdateVectors != nil, op.DeleteVectors != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, api.ErrBadInput("an update operation must have exactly one of upsert, delete, set_payload, overwrite_payload, delete_payload, clear_payload, update_vectors, delete_vectors")
	}
	p := &prepared{parts: map[int]*api.UpdateOperation{}}
	switch {
	case op.Upsert != nil:
		u := op.Upsert
		if err := checkFilter(u.UpdateFilter); err != nil {
			return nil, err
		}
		if err := checkUpdateMode(u.UpdateMode); err != nil {
			return nil, err
		}
		by := map[int][]api.PointStruct{}
		for _, pt := range u.Points {
			vecs, err := c.checkVectors(pt.Vector)
			if err != nil {
				return nil, err
			}
			sparse, err := c.checkSparse(pt.Sparse)
			if err != nil {
				return nil, err
			}
			multi, err := c.checkMulti(pt.Multi)
			if err != nil {
				return nil, err
			}
			if err := api.CheckPayloadDepth(pt.Payload); err != nil {
				return nil, err
			}
			s := c.router.ShardOf(pt.ID)
			by[s] = append(by[s], api.PointStruct{ID: pt.ID, Vector: vecs, Sparse: sparse, Multi: multi, Payload: pt.Payload})
		}
		for s, pts := range by {
			p.parts[s] = &api.UpdateOperation{Upsert: &api.UpsertPoints{Points: pts, UpdateFilter: u.UpdateFilter, UpdateMode: u.UpdateMode}}
		}
	case op.Delete != nil:
		sel := op.Delete
		if err := c.splitSelector(sel.Points, sel.Filter, p, func(ids []api.PointID) *api.UpdateOperation {
			return &api.UpdateOperation{Delete: &api.PointsSelector{Points: ids, Filter: sel.Filter}}
		}); err != nil {
			return nil, err
		}
	case op.SetPayload != nil || op.OverwritePayload != nil:
		sp := op.SetPayload
		if sp == nil {
			sp = op.OverwritePayload
		}
		if err := api.CheckPayloadDepth(sp.Payload); err != nil {
			return nil, err
		}
		if sp.Key != nil && *sp.Key == "" {
			return nil, api.ErrBadInput("payload key must not be empty")
		}
		overwrite := op.OverwritePayload != nil
		if err := c.splitSelector(sp.Points, sp.Filter, p, func(ids []api.PointID) *api.UpdateOperation {
			part := &api.SetPayload{Payload: sp.Payload, Points: ids, Filter: sp.Filter, Key: sp.Key}
			if overwrite {
				return &api.UpdateOperation{OverwritePayload: part}
			}
			return &api.UpdateOperation{SetPayload: part}
		}); err != nil {
			return nil, err
		}
	case op.DeletePayload != nil:
		dp := op.DeletePayload
		if err := c.splitSelector(dp.Points, dp.Filter, p, func(ids []api.PointID) *api.UpdateOperation {
			return &api.UpdateOperation{DeletePayload: &api.DeletePayload{Keys: dp.Keys, Points: ids, Filter: dp.Filter}}
		}); err != nil {
			return nil, err
		}
	case op.ClearPayload != nil:
		sel := op.ClearPayload
		if err := c.splitSelector(sel.Points, sel.Filter, p, func(ids []api.PointID) *api.UpdateOperation {
			return &api.UpdateOperation{ClearPayload: &api.PointsSelector{Points: ids, Filter: sel.Filter}}
		}); err != nil {
			return nil, err
		}
	case op.UpdateVectors != nil:
		uv := op.UpdateVectors
		if err := checkFilter(uv.UpdateFilter); err != nil {
			return nil, err
		}
		by := map[int][]api.PointVectors{}
		for _, pv := range uv.Points {
			if len(pv.Vector) == 0 && len(pv.Sparse) == 0 && len(pv.Multi) == 0 {
				return nil, api.ErrBadInput("update_vectors: point %s has no vectors", pv.ID)
			}
			vecs, err := c.checkVectors(pv.Vector)
			if err != nil {
				return nil, err
			}
			sparse, err := c.checkSparse(pv.Sparse)
			if err != nil {
				return nil, err
			}
			multi, err := c.checkMulti(pv.Multi)
			if err != nil {
				return nil, err
			}
			s := c.router.ShardOf(pv.ID)
			by[s] = append(by[s], api.PointVectors{ID: pv.ID, Vector: vecs, Sparse: sparse, Multi: multi})
		}
		for s, pts := range by {
			p.parts[s] = &api.UpdateOperation{UpdateVectors: &api.UpdateVectors{Points: pts, UpdateFilter: uv.UpdateFilter}}
		}
	case op.DeleteVectors != nil:
		dv := op.DeleteVectors
		for _, name := range dv.Vector {
			if err := c.checkVectorName(name); err != nil {
				return nil, err
			}
		}
		if err := c.splitSelector(dv.Points, dv.Filter, p, func(ids []api.PointID) *api.UpdateOperation {
			return &api.UpdateOperation{DeleteVectors: &api.DeleteVectors{Points: ids, Filter: dv.Filter, Vector: dv.Vector}}
		}); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// splitSelector validates a points-or-filter selection and fills p with one
// operation per shard: with ids, only the owning shards (the filter, when
// also given, narrows the ids there); with only a filter, every shard.
func (c *Collection) splitSelector(ids []api.PointID, f *api.Filter, p *prepared, mk func(ids []api.PointID) *api.UpdateOperation) error {
	if err := checkFilter(f); err != nil {
		return err
	}
	if ids == nil && f == nil {
		return api.ErrBadInput("either points or filter must be given")
	}
	if ids == nil {
		for s := range c.shards {
			p.parts[s] = mk(nil)
		}
		return nil
	}
	by := map[int][]api.PointID{}
	for _, id := range ids {
		s := c.router.ShardOf(id)
		by[s] = append(by[s], id)
	}
	for s, part := range by {
		p.parts[s] = mk(part)
	}
	return nil
}

// Update validates op in full, then applies its per-shard parts in
// parallel. Validation failures change nothing; a failure after validation
// can only come from a shard (I/O) and may leave other shards' parts applied,
// which the caller may retry (every operation is idempotent).
func (c *Collection) Update(ctx context.Context, op *api.UpdateOperation, wait bool) (*api.UpdateResult, error) {
	res, err := c.UpdateBatch(ctx, []api.UpdateOperation{*op}, wait)
	if err != nil {
		return nil, err
	}
	return &res[0], nil
}

// UpdateBatch validates every operation first and then applies them in
// order; each operation's shard parts run in parallel.
func (c *Collection) UpdateBatch(ctx context.Context, ops []api.UpdateOperation, wait bool) ([]api.UpdateResult, error) {
	if err := c.acquire(ctx); err != nil {
		return nil, err
	}
	defer c.release()
	preps := make([]*prepared, len(ops))
	for i := range ops {
		p, err := c.prepare(&ops[i])
		if err != nil {
			return nil, err
		}
		preps[i] = p
	}
	status := api.UpdateAcknowledged
	if wait {
		status = api.UpdateCompleted
	}
	out := make([]api.UpdateResult, len(ops))
	for i, p := range preps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		seqs := make([]uint64, len(c.shards))
		err := c.eachShard(ctx, func(ctx context.Context, si int, s *shard.Shard) error {
			part, ok := p.parts[si]
			if !ok {
				return nil
			}
			seq, err := s.Apply(ctx, part)
			seqs[si] = seq
			return err
		})
		if err != nil {
			return nil, err
		}
		var opID uint64
		for _, s := range seqs {
			opID = max(opID, s)
		}
		if len(p.parts) == 0 {
			opID = c.lastSeq()
		}
		out[i] = api.UpdateResult{OperationID: &opID, Status: status}
	}
	return out, nil
}
