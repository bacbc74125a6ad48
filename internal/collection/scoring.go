package collection

import (
	"math"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/shard"
	"github.com/shoal-db/shoal/internal/vecmath"
)

// Similarity returns Qdrant's raw similarity of two vectors under d, where
// larger is always closer: the dot product for Cosine (on normalised
// vectors) and Dot, the negated squared Euclidean distance for Euclid and
// the negated Manhattan distance for Manhattan. The custom scorers
// (recommend best_score and sum_scores, discover, context) combine these
// values, as Qdrant does.
func Similarity(d api.Distance, a, b []float32) float32 {
	switch d {
	case api.DistanceEuclid:
		var s float32
		for i := range a {
			x := a[i] - b[i]
			s += x * x
		}
		return -s
	case api.DistanceManhattan:
		var s float32
		for i := range a {
			s += float32(math.Abs(float64(a[i] - b[i])))
		}
		return -s
	}
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// ReportedScore is the score Qdrant reports for a pair of stored vectors:
// the dot product for Cosine and Dot, the Euclidean distance for Euclid and
// the Manhattan distance for Manhattan.
func ReportedScore(d api.Distance, a, b []float32) float32 {
	s := Similarity(d, a, b)
	switch d {
	case api.DistanceEuclid:
		return float32(math.Sqrt(float64(-s)))
	case api.DistanceManhattan:
		return -s
	}
	return s
}

// fastSigmoid and scaledFastSigmoid are vecmath's, shared with the
// shard's multi-vector scoring.
var (
	fastSigmoid       = vecmath.FastSigmoid
	scaledFastSigmoid = vecmath.ScaledFastSigmoid
)

// AverageVector is the query vector of the average_vector recommend
// strategy: avg(pos) without negatives, else avg(pos) + avg(pos) - avg(neg).
func AverageVector(pos, neg [][]float32) ([]float32, error) {
	if len(pos) == 0 {
		return nil, api.ErrBadInput("Positive vectors should not be empty with `average` strategy")
	}
	ap := average(pos)
	if len(neg) == 0 {
		return ap, nil
	}
	an := average(neg)
	out := make([]float32, len(ap))
	for i := range ap {
		out[i] = ap[i] + ap[i] - an[i]
	}
	return out, nil
}

func average(vs [][]float32) []float32 {
	out := make([]float32, len(vs[0]))
	for _, v := range vs {
		for i, x := range v {
			out[i] += x
		}
	}
	n := float32(len(vs))
	for i := range out {
		out[i] /= n
	}
	return out
}

// BestScore is the best_score recommend scorer: with s+ the best similarity
// to a positive and s- the best similarity to a negative (−Inf when there
// are none), the score is sigmoid(s+) when s+ > s-, else −sigmoid(s-), where
// sigmoid is the scaled fast sigmoid x/(1+|x|)/2 + 1/2.
func BestScore(d api.Distance, pos, neg [][]float32) shard.Scorer {
	return func(v []float32) float32 {
		bp, bn := float32(math.Inf(-1)), float32(math.Inf(-1))
		for _, p := range pos {
			bp = max(bp, Similarity(d, p, v))
		}
		for _, n := range neg {
			bn = max(bn, Similarity(d, n, v))
		}
		if bp > bn {
			return scaledFastSigmoid(bp)
		}
		return -scaledFastSigmoid(bn)
	}
}

// SumScores is the sum_scores recommend scorer: the sum of the similarities
// to the positives minus the sum of the similarities to the negatives.
func SumScores(d api.Distance, pos, neg [][]float32) shard.Scorer {
	return func(v []float32) float32 {
		var s float32
		for _, p := range pos {
			s += Similarity(d, p, v)
		}
		for _, n := range neg {
			s -= Similarity(d, n, v)
		}
		return s
	}
}

// Pair is a positive/negative example pair of discover and context queries.
type Pair struct{ Pos, Neg []float32 }

// DiscoverScore is the discover scorer: the rank (+1 for every pair whose
// positive is more similar than its negative, −1 otherwise) plus the scaled
// fast sigmoid of the similarity to the target.
func DiscoverScore(d api.Distance, target []float32, pairs []Pair) shard.Scorer {
	return func(v []float32) float32 {
		rank := 0
		for _, p := range pairs {
			if Similarity(d, p.Pos, v) > Similarity(d, p.Neg, v) {
				rank++
			} else {
				rank--
			}
		}
		return float32(rank) + scaledFastSigmoid(Similarity(d, target, v))
	}
}

// FeedbackScore is relevance feedback's naive scorer: a × sim(target) plus,
// for each pair of feedback examples whose scores differ (the better one
// first), weight × (sim(better) − sim(worse)).
func FeedbackScore(d api.Distance, a float32, target []float32, pairs []Pair, weights []float32) shard.Scorer {
	return func(v []float32) float32 {
		s := a * Similarity(d, target, v)
		for i, p := range pairs {
			s += weights[i] * (Similarity(d, p.Pos, v) - Similarity(d, p.Neg, v))
		}
		return s
	}
}

// FeedbackPairs turns feedback examples with scores into the ordered pairs
// of the naive strategy: every (better, worse) pair whose score difference
// is above 0, weighted by difference^b × c.
func FeedbackPairs(vecs [][]float32, scores []float32, b, c float32) ([][2][]float32, []float32) {
	var pairs [][2][]float32
	var weights []float32
	for i := range vecs {
		for j := range vecs {
			if i == j {
				continue
			}
			conf := scores[i] - scores[j]
			if conf <= 0 {
				continue
			}
			pairs = append(pairs, [2][]float32{vecs[i], vecs[j]})
			weights = append(weights, float32(math.Pow(float64(conf), float64(b)))*c)
		}
	}
	return pairs, weights
}

// contextMargin is Qdrant's margin in the context loss (f32::EPSILON).
const contextMargin = float32(1.1920929e-07)

// ContextScore is the context scorer: the sum over pairs of
// fastSigmoid(min(sim(pos) − sim(neg) − ε, 0)), which is 0 for a point
// closer to every positive than to its negative and negative otherwise.
func ContextScore(d api.Distance, pairs []Pair) shard.Scorer {
	return func(v []float32) float32 {
		var s float32
		for _, p := range pairs {
			diff := Similarity(d, p.Pos, v) - Similarity(d, p.Neg, v) - contextMargin
			s += fastSigmoid(min(diff, 0))
		}
		return s
	}
}
