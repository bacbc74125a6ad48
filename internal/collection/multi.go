package collection

import (
	"context"
	"maps"
	"math"
	"slices"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/index"
	"github.com/shoal-db/shoal/internal/shard"
	"github.com/shoal-db/shoal/internal/vecmath"
)

// isMulti reports whether name is a configured multi-vector.
func (c *Collection) isMulti(name string) bool {
	p, err := c.vectorParams(name)
	return err == nil && p.MultivectorConfig != nil
}

// checkMultiVector validates one multi-vector of name (at least one
// vector, each of the configured size and finite) and returns it ready to
// store: normalised copies for Cosine.
func (c *Collection) checkMultiVector(name string, vs [][]float32) ([][]float32, error) {
	p, err := c.vectorParams(name)
	if err != nil {
		return nil, err
	}
	if p.MultivectorConfig == nil {
		return nil, api.ErrBadInput("vector %q is not a multi-vector: give it as one vector [...]", name)
	}
	if len(vs) == 0 {
		return nil, api.ErrBadInput("multi-vector %q must hold at least one vector", name)
	}
	out := make([][]float32, len(vs))
	for i, vec := range vs {
		if len(vec) != p.Size {
			return nil, api.ErrBadInput("Vector dimension error: expected dim: %d, got %d", p.Size, len(vec))
		}
		if err := api.CheckFinite(name, vec); err != nil {
			return nil, err
		}
		out[i] = vec
		if p.Distance == api.DistanceCosine {
			out[i] = normalized(vec)
		}
	}
	return out, nil
}

// storedMulti converts a checked multi-vector to what a store of the
// name's datatype keeps, so that the durable record, every replica and
// every read agree: float16 values rounded to half precision (refused
// beyond its range, as for dense vectors); uint8 values truncated toward
// zero and clamped to 0..255 (NaN is refused before), as Qdrant converts
// floats for a uint8 multi-vector (a cast per element). A dense uint8
// vector, by contrast, must hold integers (storedVector): Shoal refuses
// rather than changes what a client stores there, while Qdrant's own
// suite expects multi-vectors to be converted
// (test_multi_vector_uint8.py).
func (c *Collection) storedMulti(name string, vs [][]float32) ([][]float32, error) {
	p, err := c.vectorParams(name)
	if err != nil {
		return nil, err
	}
	dt := shard.StoreType(p)
	if dt == index.Float32 {
		return vs, nil
	}
	out := make([][]float32, len(vs))
	for i, vec := range vs {
		nv := make([]float32, len(vec))
		for j, x := range vec {
			switch dt {
			case index.Uint8:
				nv[j] = float32(math.Trunc(float64(min(max(x, 0), 255))))
			case index.Float16:
				r := vecmath.RoundF16(x)
				if math.IsInf(float64(r), 0) {
					return nil, api.ErrBadInput("Wrong input: vector %s element %d is %v: beyond the float16 range (±%d)", vectorLabel(name), j, x, vecmath.MaxFloat16)
				}
				nv[j] = r
			}
		}
		out[i] = nv
	}
	return out, nil
}

// liftToMulti moves the dense vectors given for multi-vector names into
// multi-vectors of one vector each, as Qdrant accepts a single vector
// there (its "legacy" form); dense and multi are not changed. An empty
// dense vector for a multi-vector name is Qdrant's dimension error.
func (c *Collection) liftToMulti(dense api.Vectors, multi api.MultiVectors) (api.Vectors, api.MultiVectors, error) {
	var names []string
	for name := range dense {
		if c.isMulti(name) {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return dense, multi, nil
	}
	d := maps.Clone(dense)
	m := make(api.MultiVectors, len(multi)+len(names))
	maps.Copy(m, multi)
	for _, name := range names {
		v := d[name]
		if len(v) == 0 {
			p, _ := c.vectorParams(name)
			return nil, nil, api.ErrBadInput("Vector dimension error: expected dim: %d, got 0", p.Size)
		}
		if _, both := m[name]; both {
			return nil, nil, api.ErrBadInput("vector %q is given twice", name)
		}
		m[name] = [][]float32{v}
		delete(d, name)
	}
	return d, m, nil
}

// checkMulti validates a point's multi-vectors into a new map (nil for
// none).
func (c *Collection) checkMulti(v api.MultiVectors) (api.MultiVectors, error) {
	if len(v) == 0 {
		return nil, nil
	}
	out := make(api.MultiVectors, len(v))
	for name, vs := range v {
		if c.isSparse(name) {
			return nil, api.ErrBadInput("vector %q is sparse: give it as {\"indices\": [...], \"values\": [...]}", name)
		}
		nv, err := c.checkMultiVector(name, vs)
		if err != nil {
			return nil, err
		}
		if out[name], err = c.storedMulti(name, nv); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// multiQuery runs a query on a multi-vector name, scoring by MaxSim
// exactly. A nearest query is a list of vectors or the id of a point whose
// multi-vector is used (and excluded from the results). A recommendation
// follows Qdrant: average_vector (the default) searches with the rows of
// every positive example followed by the negated rows of every negative
// one; best_score and sum_scores compare each example with a point's
// multi-vector by MaxSim (shard.CustomScore's MultiPos and MultiNeg).
// Discover and context queries are refused.
func (c *Collection) multiQuery(ctx context.Context, st stage, candidates []api.PointID) (ranked, error) {
	q := st.query
	var query [][]float32
	var exclude []api.PointID
	var custom *shard.CustomScore
	switch {
	case q.Nearest != nil:
		exs, ex, err := c.multiExamples(ctx, st, []api.VectorInput{*q.Nearest})
		if err != nil {
			return ranked{}, err
		}
		query, exclude = exs[0], ex
	case q.Recommend != nil:
		r := q.Recommend
		exs, ex, err := c.multiExamples(ctx, st, append(append([]api.VectorInput{}, r.Positive...), r.Negative...))
		if err != nil {
			return ranked{}, err
		}
		exclude = ex
		pos, neg := exs[:len(r.Positive)], exs[len(r.Positive):]
		switch r.Strategy {
		case "", api.StrategyAverageVector:
			if len(pos) == 0 {
				return ranked{}, api.ErrBadInput("Positive vectors should not be empty with `average` strategy")
			}
			for _, p := range pos {
				query = append(query, p...)
			}
			for _, n := range neg {
				for _, row := range n {
					neg := make([]float32, len(row))
					for i, x := range row {
						neg[i] = -x
					}
					query = append(query, neg)
				}
			}
		case api.StrategyBestScore, api.StrategySumScores:
			if len(exs) == 0 {
				return ranked{}, api.ErrBadInput("At least one positive or negative example is required")
			}
			kind := shard.CustomBestScore
			if r.Strategy == api.StrategySumScores {
				kind = shard.CustomSumScores
			}
			custom = &shard.CustomScore{Kind: kind, MultiPos: pos, MultiNeg: neg}
		default:
			return ranked{}, api.ErrBadInput("unknown recommend strategy %q", r.Strategy)
		}
	default:
		return ranked{}, api.ErrBadInput("discover and context queries on the multi-vector %q are not supported by this server", st.using)
	}
	req := shard.SearchRequest{Using: st.using, Multi: query, Custom: custom, Filter: st.filter, Limit: st.limit, ScoreThreshold: st.threshold}
	if st.params != nil {
		req.Params = *st.params
	}
	p, err := c.vectorParams(st.using)
	if err != nil {
		return ranked{}, err
	}
	return c.searchStage(ctx, st, req, candidates, exclude, p.Distance.HigherIsBetter() || custom != nil)
}

// multiExamples resolves the examples of a query on the multi-vector
// st.using: a list of vectors or one vector (a multi-vector of one, as in
// Qdrant), checked and converted as stored vectors are (so a uint8 name's
// query is cast as Qdrant casts it), or the id of a point of the
// collection, whose multi-vector is used and which the results exclude.
func (c *Collection) multiExamples(ctx context.Context, st stage, in []api.VectorInput) ([][][]float32, []api.PointID, error) {
	out := make([][][]float32, len(in))
	var ids []api.PointID
	for i, x := range in {
		var vs [][]float32
		switch {
		case x.Multi != nil:
			vs = x.Multi
		case x.Vector != nil:
			vs = [][]float32{x.Vector}
		case x.ID != nil:
			if st.lookup != nil {
				return nil, nil, api.ErrBadInput("lookup_from with the multi-vector %q is not supported by this server", st.using)
			}
			ids = append(ids, *x.ID)
			continue
		default:
			return nil, nil, api.ErrBadInput("vector %q is a multi-vector: query it with a list of vectors [[...], ...]", st.using)
		}
		checked, err := c.checkMultiVector(st.using, vs)
		if err != nil {
			return nil, nil, err
		}
		if out[i], err = c.storedMulti(st.using, checked); err != nil {
			return nil, nil, err
		}
	}
	if len(ids) == 0 {
		return out, nil, nil
	}
	recs, err := c.get(ctx, ids, nil, &api.VectorSelector{Enable: true, Names: []string{st.using}})
	if err != nil {
		return nil, nil, err
	}
	byID := make(map[string][][]float32, len(recs))
	for _, r := range recs {
		if vs, ok := r.Multi[st.using]; ok {
			byID[r.ID.String()] = vs
		}
	}
	for i, x := range in {
		if x.ID == nil {
			continue
		}
		vs, ok := byID[x.ID.String()]
		if !ok {
			if !slices.ContainsFunc(recs, func(r api.Record) bool { return r.ID.String() == x.ID.String() }) {
				return nil, nil, api.ErrPointNotFound(*x.ID)
			}
			return nil, nil, api.ErrBadInput("Vector %q of point %s not found", st.using, x.ID.String())
		}
		out[i] = vs
	}
	return out, ids, nil
}
