package collection

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/filter"
	"github.com/shoal-db/shoal/internal/index"
	"github.com/shoal-db/shoal/internal/shard"
	"github.com/shoal-db/shoal/internal/vecmath"
)

// checkVector validates one vector (to store, or a query's) against the
// named vector's config and returns it ready to use: a normalised copy for
// Cosine, else vec itself. Queries stay float32 whatever the datatype.
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

// storedVector is checkVector for a vector to store: for a float16 vector
// it returns a copy rounded to half precision (what the store keeps, so
// the durable record, the replicas and every read agree), and a uint8
// vector must hold integers from 0 to 255.
//
// A turbo4 vector is stored as given (normalised for Cosine): the point
// records keep the original, and every replica's store encodes it into
// the same 4-bit codes (index/turbo4.go is deterministic), so reads and
// digests, which see the decoded approximation, agree across replicas and
// restarts. Rounding it here instead would not help: encoding the decoded
// approximation again need not give the same codes.
func (c *Collection) storedVector(name string, vec []float32) ([]float32, error) {
	out, err := c.checkVector(name, vec)
	if err != nil {
		return nil, err
	}
	p, err := c.vectorParams(name)
	if err != nil {
		return nil, err
	}
	switch shard.StoreType(p) {
	case index.Uint8:
		for i, x := range vec {
			if x < 0 || x > 255 || x != float32(math.Trunc(float64(x))) {
				return nil, api.ErrBadInput("Wrong input: vector %s element %d is %v: a vector of datatype uint8 holds integers from 0 to 255", vectorLabel(name), i, x)
			}
		}
	case index.Float16:
		if &out[0] == &vec[0] {
			out = slices.Clone(vec)
		}
		for i, x := range out {
			r := vecmath.RoundF16(x)
			if math.IsInf(float64(r), 0) {
				return nil, api.ErrBadInput("Wrong input: vector %s element %d is %v: beyond the float16 range (±%d)", vectorLabel(name), i, x, vecmath.MaxFloat16)
			}
			out[i] = r
		}
	}
	return out, nil
}

// vectorLabel names a vector in an error, quoted ("" for the unnamed one).
func vectorLabel(name string) string {
	if name == "" {
		return `""`
	}
	return fmt.Sprintf("%q", name)
}

// checkVectors validates a point's vectors to store (see storedVector)
// into a new map.
func (c *Collection) checkVectors(v api.Vectors) (api.Vectors, error) {
	if err := c.checkDenseNames(v); err != nil {
		return nil, err
	}
	out := make(api.Vectors, len(v))
	for name, vec := range v {
		nv, err := c.storedVector(name, vec)
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
		for i, pt := range u.Points {
			if err := api.CheckMultiShape(fmt.Sprintf("points[%d].vector", i), pt.Multi); err != nil {
				return nil, err
			}
			if err := api.CheckSparseShape(fmt.Sprintf("points[%d].vector", i), pt.Sparse); err != nil {
				return nil, err
			}
			dense, lifted, err := c.liftToMulti(pt.Vector, pt.Multi)
			if err != nil {
				return nil, err
			}
			vecs, err := c.checkVectors(dense)
			if err != nil {
				return nil, err
			}
			sparse, err := c.checkSparse(pt.Sparse)
			if err != nil {
				return nil, err
			}
			multi, err := c.checkMulti(lifted)
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
		for i, pv := range uv.Points {
			if len(pv.Vector) == 0 && len(pv.Sparse) == 0 && len(pv.Multi) == 0 {
				return nil, api.ErrBadInput("update_vectors: point %s has no vectors", pv.ID)
			}
			if err := api.CheckMultiShape(fmt.Sprintf("points[%d].vector", i), pv.Multi); err != nil {
				return nil, err
			}
			if err := api.CheckSparseShape(fmt.Sprintf("points[%d].vector", i), pv.Sparse); err != nil {
				return nil, err
			}
			dense, lifted, err := c.liftToMulti(pv.Vector, pv.Multi)
			if err != nil {
				return nil, err
			}
			vecs, err := c.checkVectors(dense)
			if err != nil {
				return nil, err
			}
			sparse, err := c.checkSparse(pv.Sparse)
			if err != nil {
				return nil, err
			}
			multi, err := c.checkMulti(lifted)
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
		for s := range c.routes() {
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

// Update validates op in full, then applies it on every shard it touches,
// whole or not at all (see UpdateBatch).
func (c *Collection) Update(ctx context.Context, op *api.UpdateOperation, wait bool) (*api.UpdateResult, error) {
	res, err := c.UpdateBatch(ctx, []api.UpdateOperation{*op}, wait)
	if err != nil {
		return nil, err
	}
	return &res[0], nil
}

// UpdateBatch validates every operation against the configuration first
// and then applies them in order, stopping at the first that fails (the
// ones before it stay applied, as in Qdrant). Each operation is applied
// whole or not at all: its per-shard parts are first prepared, in
// ascending shard order, each validated against its shard's current state
// under that shard's writer lock (see shard.Prepare); only when every part
// is prepared are they committed, in parallel, and if one part fails to
// prepare (a point it names is missing, a disk is nearly full, ...) every
// prepared part is aborted and no shard changes. An operation on one shard
// is applied directly (shard.Apply).
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
		opID, err := c.apply(ctx, p)
		if err != nil {
			return nil, err
		}
		out[i] = api.UpdateResult{OperationID: &opID, Status: status}
	}
	return out, nil
}

// apply applies one prepared operation whole and returns its operation id
// (the largest sequence number its parts got).
func (c *Collection) apply(ctx context.Context, p *prepared) (uint64, error) {
	switch len(p.parts) {
	case 0:
		return c.lastSeq(), nil
	case 1:
		for si, part := range p.parts {
			return c.routes()[si].Apply(ctx, part)
		}
	}
	ids := slices.Sorted(maps.Keys(p.parts))
	pending := make([]Pending, 0, len(ids))
	for _, si := range ids {
		pd, err := prepareOn(ctx, c.routes()[si], p.parts[si])
		if err != nil {
			for _, prev := range pending {
				prev.Abort()
			}
			return 0, err
		}
		pending = append(pending, pd)
	}
	// Every part is valid: commit them all, the fsyncs in parallel. A
	// commit fails only on a store error of its shard, which then refuses
	// writes until it has recovered its store.
	seqs := make([]uint64, len(pending))
	errs := make([]error, len(pending))
	var wg sync.WaitGroup
	for i, pd := range pending[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seqs[i+1], errs[i+1] = pd.Commit()
		}()
	}
	seqs[0], errs[0] = pending[0].Commit()
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}
	return slices.Max(seqs), nil
}

// Pending is a write prepared on one shard: validated, not yet applied.
// Exactly one of Commit and Abort must be called.
type Pending interface {
	Commit() (uint64, error)
	Abort()
}

// Preparer is a Shard that validates a write before it commits it (a
// shard reached through its replicas in a cluster).
type Preparer interface {
	PrepareWrite(ctx context.Context, op *api.UpdateOperation) (Pending, error)
}

// prepareOn prepares op on s: under the writer lock of a local shard
// (shard.Prepare), through the shard's own PrepareWrite, or, for a shard
// that can do neither, as a plain Apply at commit.
func prepareOn(ctx context.Context, s Shard, op *api.UpdateOperation) (Pending, error) {
	switch x := s.(type) {
	case *shard.Shard:
		pd, err := x.Prepare(ctx, op)
		if err != nil {
			return nil, err
		}
		return pd, nil
	case Preparer:
		return x.PrepareWrite(ctx, op)
	}
	return applyAtCommit{ctx: ctx, s: s, op: op}, nil
}

type applyAtCommit struct {
	ctx context.Context
	s   Shard
	op  *api.UpdateOperation
}

func (a applyAtCommit) Commit() (uint64, error) { return a.s.Apply(a.ctx, a.op) }
func (a applyAtCommit) Abort()                  {}
