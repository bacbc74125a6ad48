package collection

import (
	"context"
	"math"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/shard"
)

// sparseParams returns the params of the sparse vector name.
func (c *Collection) sparseParams(name string) (api.SparseVectorParams, bool) {
	c.cfgMu.RLock()
	defer c.cfgMu.RUnlock()
	p, ok := c.cfg.Params.SparseVectors[name]
	return p, ok
}

// isSparse reports whether name is a configured sparse vector.
func (c *Collection) isSparse(name string) bool {
	_, ok := c.sparseParams(name)
	return ok
}

// checkVectorName accepts a configured dense or sparse vector name.
func (c *Collection) checkVectorName(name string) error {
	if c.isSparse(name) {
		return nil
	}
	_, err := c.vectorParams(name)
	return err
}

// checkSparse validates a point's sparse vectors (names configured as
// sparse, equal lengths, unique indices, finite values) into a new map of
// vectors sorted by index; nil for none.
func (c *Collection) checkSparse(v api.SparseVectors) (api.SparseVectors, error) {
	if len(v) == 0 {
		return nil, nil
	}
	out := make(api.SparseVectors, len(v))
	for name, sv := range v {
		if !c.isSparse(name) {
			if _, dense := c.vectorParams(name); dense == nil {
				return nil, api.ErrBadInput("vector %q is dense, got a sparse vector", name)
			}
			return nil, errNoVector(name)
		}
		if err := sv.Validate(name); err != nil {
			return nil, err
		}
		out[name] = sv.Sorted()
	}
	return out, nil
}

// checkDenseNames refuses dense vectors given for sparse or multi-vector
// names.
func (c *Collection) checkDenseNames(v api.Vectors) error {
	for name := range v {
		if c.isSparse(name) {
			return api.ErrBadInput("vector %q is sparse: give it as {\"indices\": [...], \"values\": [...]}", name)
		}
		if c.isMulti(name) {
			return api.ErrBadInput("vector %q is a multi-vector: give it as a list of vectors [[...], ...]", name)
		}
	}
	return nil
}

// IDF returns the inverse document frequency of a dimension found in df of
// n vectors, as Qdrant's idf modifier computes it: ln((n - df + 0.5) /
// (df + 0.5) + 1).
func IDF(n, df int) float32 {
	return float32(math.Log((float64(n-df)+0.5)/(float64(df)+0.5) + 1))
}

// withIDF returns q with each value multiplied by its dimension's IDF over
// the whole collection (every shard's statistics summed).
func (c *Collection) withIDF(ctx context.Context, name string, q api.SparseVector) (api.SparseVector, error) {
	ns := make([]int, c.n)
	dfs := make([][]int, c.n)
	err := c.eachShard(ctx, func(ctx context.Context, i int, s Shard) error {
		n, df, err := s.SparseStats(ctx, name, q.Indices)
		ns[i], dfs[i] = n, df
		return err
	})
	if err != nil {
		return q, err
	}
	n := 0
	for _, x := range ns {
		n += x
	}
	out := api.SparseVector{Indices: q.Indices, Values: make([]float32, len(q.Values))}
	for j := range q.Indices {
		df := 0
		for i := range dfs {
			df += dfs[i][j]
		}
		out.Values[j] = q.Values[j] * IDF(n, df)
	}
	return out, nil
}

// sparseQuery runs a nearest query on a sparse vector name: the query is a
// sparse vector or the id of a point whose sparse vector is used (and
// excluded from the results, as for dense queries); only points sharing a
// dimension with it are hits, scored by dot product (higher is better).
func (c *Collection) sparseQuery(ctx context.Context, st stage, candidates []api.PointID) (ranked, error) {
	q := st.query
	params, _ := c.sparseParams(st.using)
	if q.Nearest == nil {
		return ranked{}, api.ErrBadInput("recommend, discover and context queries on the sparse vector %q are not supported by this server", st.using)
	}
	in := q.Nearest
	var query api.SparseVector
	var exclude []api.PointID
	switch {
	case in.Sparse != nil:
		if err := in.Sparse.Validate(st.using); err != nil {
			return ranked{}, err
		}
		query = in.Sparse.Sorted()
	case in.ID != nil:
		if st.lookup != nil {
			return ranked{}, api.ErrBadInput("lookup_from with the sparse vector %q is not supported by this server", st.using)
		}
		recs, err := c.get(ctx, []api.PointID{*in.ID}, nil, &api.VectorSelector{Enable: true, Names: []string{st.using}})
		if err != nil {
			return ranked{}, err
		}
		if len(recs) == 0 {
			return ranked{}, api.ErrPointNotFound(*in.ID)
		}
		sv, ok := recs[0].Sparse[st.using]
		if !ok {
			return ranked{}, api.ErrBadInput("Vector %q of point %s not found", st.using, in.ID.String())
		}
		query, exclude = sv, []api.PointID{*in.ID}
	default:
		return ranked{}, api.ErrBadInput("vector %q is sparse: query it with {\"indices\": [...], \"values\": [...]}", st.using)
	}
	if params.IDF() {
		var err error
		if query, err = c.withIDF(ctx, st.using, query); err != nil {
			return ranked{}, err
		}
	}
	req := shard.SearchRequest{Using: st.using, Sparse: &query, SparseFullScan: params.FullScanThreshold(),
		Filter: st.filter, Limit: st.limit, ScoreThreshold: st.threshold}
	if st.params != nil {
		req.Params = *st.params
	}
	return c.searchStage(ctx, st, req, candidates, exclude, true)
}
