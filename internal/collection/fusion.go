package collection

import (
	"math"
	"sort"

	"github.com/shoal-db/shoal/internal/api"
)

// DefaultRRFK is Qdrant's default k of reciprocal rank fusion.
const DefaultRRFK = 2

// FuseRRF merges ranked lists by reciprocal rank fusion as Qdrant defines
// it: a point at 0-based position p of a list with weight w gains
// 1 / ((p+1)/w + k - 1), which is 1/(p+k) for w = 1; a weight of zero or
// less contributes nothing. weights, when given, must have one entry per
// list. The result is ordered by fused score, best first (ties by id).
func FuseRRF(lists [][]api.ScoredPoint, k int, weights []float32) ([]api.ScoredPoint, error) {
	if k < 1 {
		return nil, api.ErrBadInput("rrf k must be at least 1, got %d", k)
	}
	if weights != nil && len(weights) != len(lists) {
		return nil, api.ErrBadInput("Number of weights in RRF should match number of pre-fetches: got %d, expected %d", len(weights), len(lists))
	}
	acc := map[api.PointID]*api.ScoredPoint{}
	var order []api.PointID
	for li, list := range lists {
		w := float32(1)
		if weights != nil {
			w = weights[li]
		}
		for pos, p := range list {
			var s float32
			if w > 0 {
				s = 1 / (float32(pos+1)/w + float32(k) - 1)
			}
			if cur, ok := acc[p.ID]; ok {
				cur.Score += s
				continue
			}
			np := p
			np.Score = s
			acc[p.ID] = &np
			order = append(order, p.ID)
		}
	}
	return sortedFused(acc, order), nil
}

// FuseDBSF merges lists by distribution-based score fusion as Qdrant
// defines it: each list's scores are normalised to [0, 1] using
// mean ± 3 standard deviations (sample variance) as the extremes (a single
// point scores 0.5; equal extremes score 0.5), and a point's fused score is
// the sum of its normalised scores.
func FuseDBSF(lists [][]api.ScoredPoint) []api.ScoredPoint {
	acc := map[api.PointID]*api.ScoredPoint{}
	var order []api.PointID
	for _, list := range lists {
		norm := dbsfNormalize(list)
		for i, p := range list {
			if cur, ok := acc[p.ID]; ok {
				cur.Score += norm[i]
				continue
			}
			np := p
			np.Score = norm[i]
			acc[p.ID] = &np
			order = append(order, p.ID)
		}
	}
	return sortedFused(acc, order)
}

func dbsfNormalize(list []api.ScoredPoint) []float32 {
	out := make([]float32, len(list))
	switch len(list) {
	case 0:
		return out
	case 1:
		out[0] = 0.5
		return out
	}
	// Welford's one-pass mean and sample variance.
	var mean, m2 float64
	for i, p := range list {
		x := float64(p.Score)
		d := x - mean
		mean += d / float64(i+1)
		m2 += d * (x - mean)
	}
	std := math.Sqrt(m2 / float64(len(list)-1))
	lo, hi := mean-3*std, mean+3*std
	for i, p := range list {
		if hi == lo {
			out[i] = 0.5
			continue
		}
		out[i] = float32((float64(p.Score) - lo) / (hi - lo))
	}
	return out
}

func sortedFused(acc map[api.PointID]*api.ScoredPoint, order []api.PointID) []api.ScoredPoint {
	out := make([]api.ScoredPoint, 0, len(order))
	for _, id := range order {
		out = append(out, *acc[id])
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score > out[j].Score
		}
		return out[i].ID.Compare(out[j].ID) < 0
	})
	return out
}

// sortHits orders hits best first: by descending score when higher is
// better, else ascending; ties by id.
func sortHits(hits []api.ScoredPoint, higher bool) {
	sort.SliceStable(hits, func(i, j int) bool {
		a, b := hits[i].Score, hits[j].Score
		if a != b {
			if higher {
				return a > b
			}
			return a < b
		}
		return hits[i].ID.Compare(hits[j].ID) < 0
	})
}
