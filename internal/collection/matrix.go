package collection

import (
	"context"
	"slices"
	"sort"

	"github.com/shoal-db/shoal/internal/api"
)

// MatrixRow is one sampled point's nearest neighbours among the sample.
type MatrixRow struct {
	Neighbours []int     // indexes into Matrix.IDs, best first
	Scores     []float32 // their scores
}

// Matrix is the distance matrix of a sample of points.
type Matrix struct {
	IDs  []api.PointID
	Rows []MatrixRow
}

// DistanceMatrix samples up to req.Sample points that match the filter and
// have the vector req.Using, and for each finds its req.Limit nearest
// neighbours among the sample (scores as Qdrant reports them).
func (c *Collection) DistanceMatrix(ctx context.Context, req *api.SearchMatrixRequest) (*Matrix, error) {
	if err := c.acquire(ctx); err != nil {
		return nil, err
	}
	defer c.release()
	sample, limit := DefaultSample, DefaultMatrixLimit
	if req.Sample != nil {
		sample = *req.Sample
	}
	if req.Limit != nil {
		limit = *req.Limit
	}
	if sample < 1 {
		return nil, api.ErrBadInput("sample must be at least 1, got %d", sample)
	}
	if limit < 1 {
		return nil, api.ErrBadInput("limit must be at least 1, got %d", limit)
	}
	if err := checkFilter(req.Filter); err != nil {
		return nil, err
	}
	using := ""
	if req.Using != nil {
		using = *req.Using
	}
	params, err := c.vectorParams(using)
	if err != nil {
		return nil, err
	}
	f := andFilters(req.Filter, &api.Filter{Must: []api.Condition{{HasVector: &using}}})
	ids, err := c.sample(ctx, sample, f)
	if err != nil {
		return nil, err
	}
	// The sample's members come in id order, as Qdrant reports them (its
	// rows and offsets follow the ids ascending).
	slices.SortFunc(ids, api.PointID.Compare)
	recs, err := c.get(ctx, ids, nil, &api.VectorSelector{Enable: true, Names: []string{using}})
	if err != nil {
		return nil, err
	}
	m := &Matrix{}
	var vecs [][]float32
	for _, r := range recs {
		if v, ok := r.Vector[using]; ok {
			m.IDs = append(m.IDs, r.ID)
			vecs = append(vecs, v)
		}
	}
	m.Rows = MatrixRows(params.Distance, vecs, limit)
	return m, nil
}

// MatrixRows computes, for each vector, its limit best neighbours among the
// others (by Qdrant's reported score and the distance's direction; ties by
// index).
func MatrixRows(d api.Distance, vecs [][]float32, limit int) []MatrixRow {
	higher := d.HigherIsBetter()
	rows := make([]MatrixRow, len(vecs))
	type cand struct {
		j     int
		score float32
	}
	for i := range vecs {
		cands := make([]cand, 0, len(vecs)-1)
		for j := range vecs {
			if j != i {
				cands = append(cands, cand{j, ReportedScore(d, vecs[i], vecs[j])})
			}
		}
		sort.SliceStable(cands, func(a, b int) bool {
			if cands[a].score != cands[b].score {
				if higher {
					return cands[a].score > cands[b].score
				}
				return cands[a].score < cands[b].score
			}
			return cands[a].j < cands[b].j
		})
		if len(cands) > limit {
			cands = cands[:limit]
		}
		for _, cd := range cands {
			rows[i].Neighbours = append(rows[i].Neighbours, cd.j)
			rows[i].Scores = append(rows[i].Scores, cd.score)
		}
	}
	return rows
}

// Pairs returns the matrix in the pairs form.
func (m *Matrix) Pairs() *api.SearchMatrixPairs {
	out := &api.SearchMatrixPairs{Pairs: []api.SearchMatrixPair{}}
	for i, r := range m.Rows {
		for k, j := range r.Neighbours {
			out.Pairs = append(out.Pairs, api.SearchMatrixPair{A: m.IDs[i], B: m.IDs[j], Score: r.Scores[k]})
		}
	}
	return out
}

// Offsets returns the matrix in the offsets (sparse matrix) form.
func (m *Matrix) Offsets() *api.SearchMatrixOffsets {
	out := &api.SearchMatrixOffsets{OffsetsRow: []uint64{}, OffsetsCol: []uint64{}, Scores: []float32{}, IDs: append([]api.PointID{}, m.IDs...)}
	for i, r := range m.Rows {
		for k, j := range r.Neighbours {
			out.OffsetsRow = append(out.OffsetsRow, uint64(i))
			out.OffsetsCol = append(out.OffsetsCol, uint64(j))
			out.Scores = append(out.Scores, r.Scores[k])
		}
	}
	return out
}
