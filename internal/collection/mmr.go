package collection

import (
	"context"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/shard"
)

// DefaultMMRDiversity is the diversity of an MMR query that gives none.
const DefaultMMRDiversity = 0.5

// mmrStage runs a nearest query with maximal marginal relevance: the
// nearest candidates_limit points (default: the stage's limit) are found
// as without MMR, then up to limit of them are chosen greedily, first the
// most similar to the query, then each time the one maximising
// λ × similarity to the query − (1 − λ) × the largest similarity to the
// points already chosen, where λ = 1 − diversity. Similarities are the raw
// ones of the vector's distance (larger is closer); hits keep their query
// scores and come in the order chosen, as in Qdrant.
func (c *Collection) mmrStage(ctx context.Context, st stage) (ranked, error) {
	m := st.query.MMR
	if err := m.Check(); err != nil {
		return ranked{}, err
	}
	lambda := float32(1 - DefaultMMRDiversity)
	if m.Diversity != nil {
		lambda = 1 - *m.Diversity
	}
	inner := st
	q := *st.query
	q.MMR = nil
	inner.query = &q
	inner.withPayload, inner.withVector = nil, nil
	if m.CandidatesLimit != nil {
		inner.limit = *m.CandidatesLimit
	}
	if inner.limit == 0 || st.limit == 0 {
		return ranked{higher: true}, nil
	}
	r, err := c.runStage(ctx, inner)
	if err != nil {
		return ranked{}, err
	}
	if len(r.hits) < 2 {
		if len(r.hits) > st.limit {
			r.hits = r.hits[:st.limit]
		}
		r.selected = false
		return r, nil
	}
	rel, sim, hits, err := c.mmrSimilarities(ctx, st, r.hits)
	if err != nil {
		return ranked{}, err
	}
	order := MMR(rel, sim, lambda, st.limit)
	out := make([]api.ScoredPoint, len(order))
	for i, k := range order {
		out[i] = hits[k]
	}
	return ranked{hits: out, higher: r.higher}, nil
}

// MMR returns the indices chosen by maximal marginal relevance among n
// candidates with query similarities rel and pairwise similarities
// sim(i, j), at most limit of them, in the order chosen.
func MMR(rel []float32, sim func(i, j int) float32, lambda float32, limit int) []int {
	n := len(rel)
	if n == 0 || limit <= 0 {
		return nil
	}
	chosen := make([]int, 0, min(n, limit))
	taken := make([]bool, n)
	// maxSim[i] is candidate i's largest similarity to a chosen point.
	maxSim := make([]float32, n)
	first := 0
	for i := 1; i < n; i++ {
		if rel[i] > rel[first] {
			first = i
		}
	}
	choose := func(k int) {
		chosen = append(chosen, k)
		taken[k] = true
		for i := range n {
			if !taken[i] {
				s := sim(i, k)
				if len(chosen) == 1 || s > maxSim[i] {
					maxSim[i] = s
				}
			}
		}
	}
	choose(first)
	for len(chosen) < limit && len(chosen) < n {
		best, bestScore := -1, float32(0)
		for i := range n {
			if taken[i] {
				continue
			}
			s := lambda*rel[i] - (1-lambda)*maxSim[i]
			if best < 0 || s > bestScore {
				best, bestScore = i, s
			}
		}
		choose(best)
	}
	return chosen
}

// mmrSimilarities reads the candidates' vectors of st.using and returns
// their similarities to the query vector and to each other. Candidates
// without the vector are dropped, as Qdrant does.
func (c *Collection) mmrSimilarities(ctx context.Context, st stage, hits []api.ScoredPoint) ([]float32, func(i, j int) float32, []api.ScoredPoint, error) {
	ids := make([]api.PointID, len(hits))
	for i, h := range hits {
		ids[i] = h.ID
	}
	recs, err := c.get(ctx, ids, nil, &api.VectorSelector{Enable: true, Names: []string{st.using}})
	if err != nil {
		return nil, nil, nil, err
	}
	byID := make(map[api.PointID]*api.Record, len(recs))
	for i := range recs {
		byID[recs[i].ID] = &recs[i]
	}
	in := st.query.Nearest
	var kept []api.ScoredPoint
	switch {
	case c.isSparse(st.using):
		var query api.SparseVector
		switch {
		case in.Sparse != nil:
			query = *in.Sparse
		case in.ID != nil && st.lookup == nil:
			r, err := c.get(ctx, []api.PointID{*in.ID}, nil, &api.VectorSelector{Enable: true, Names: []string{st.using}})
			if err != nil {
				return nil, nil, nil, err
			}
			if len(r) == 0 {
				return nil, nil, nil, api.ErrPointNotFound(*in.ID)
			}
			query = r[0].Sparse[st.using]
		default:
			return nil, nil, nil, api.ErrBadInput("mmr on the sparse vector %q needs a sparse query vector", st.using)
		}
		var vecs []map[uint32]float32
		for _, h := range hits {
			if r := byID[h.ID]; r != nil {
				if v, ok := r.Sparse[st.using]; ok {
					vecs = append(vecs, sparseMap(v))
					kept = append(kept, h)
				}
			}
		}
		qm := sparseMap(query)
		rel := make([]float32, len(vecs))
		for i, v := range vecs {
			rel[i] = sparseDot(qm, v)
		}
		return rel, func(i, j int) float32 { return sparseDot(vecs[i], vecs[j]) }, kept, nil
	case c.isMulti(st.using):
		var query [][]float32
		switch {
		case in.Multi != nil:
			query = in.Multi
		case in.Vector != nil:
			query = [][]float32{in.Vector}
		case in.ID != nil && st.lookup == nil:
			r, err := c.get(ctx, []api.PointID{*in.ID}, nil, &api.VectorSelector{Enable: true, Names: []string{st.using}})
			if err != nil {
				return nil, nil, nil, err
			}
			if len(r) == 0 {
				return nil, nil, nil, api.ErrPointNotFound(*in.ID)
			}
			query = r[0].Multi[st.using]
		default:
			return nil, nil, nil, api.ErrBadInput("mmr on the multi-vector %q needs a multi-vector query", st.using)
		}
		query, err := c.checkMultiVector(st.using, query)
		if err != nil {
			return nil, nil, nil, err
		}
		var vecs [][][]float32
		for _, h := range hits {
			if r := byID[h.ID]; r != nil {
				if v, ok := r.Multi[st.using]; ok {
					vecs = append(vecs, v)
					kept = append(kept, h)
				}
			}
		}
		// Similarity is the negated MaxSim distance: the MaxSim score for
		// Cosine and Dot, higher for closer points under Euclid and
		// Manhattan too.
		mp, err := c.vectorParams(st.using)
		if err != nil {
			return nil, nil, nil, err
		}
		d := mp.Distance
		rel := make([]float32, len(vecs))
		for i, v := range vecs {
			rel[i] = -shard.MaxSimDist(d, query, v)
		}
		return rel, func(i, j int) float32 { return -shard.MaxSimDist(d, vecs[i], vecs[j]) }, kept, nil
	}
	params, err := c.vectorParams(st.using)
	if err != nil {
		return nil, nil, nil, err
	}
	qv, _, err := c.resolveInputs(ctx, []api.VectorInput{*in}, st.using, st.lookup)
	if err != nil {
		return nil, nil, nil, err
	}
	var vecs [][]float32
	for _, h := range hits {
		if r := byID[h.ID]; r != nil {
			if v, ok := r.Vector[st.using]; ok {
				vecs = append(vecs, v)
				kept = append(kept, h)
			}
		}
	}
	d := params.Distance
	rel := make([]float32, len(vecs))
	for i, v := range vecs {
		rel[i] = Similarity(d, qv[0], v)
	}
	return rel, func(i, j int) float32 { return Similarity(d, vecs[i], vecs[j]) }, kept, nil
}

func sparseMap(v api.SparseVector) map[uint32]float32 {
	m := make(map[uint32]float32, len(v.Indices))
	for i, k := range v.Indices {
		m[k] += v.Values[i]
	}
	return m
}

func sparseDot(a, b map[uint32]float32) float32 {
	if len(b) < len(a) {
		a, b = b, a
	}
	var s float32
	for k, x := range a {
		s += x * b[k]
	}
	return s
}
