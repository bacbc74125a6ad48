package vecmath

import (
	"fmt"
	"math"

	"github.com/shoal-db/shoal/internal/api"
)

// Dot returns the dot product of a and b. It panics if their lengths differ.
func Dot(a, b []float32) float32 {
	if len(a) != len(b) {
		panic(fmt.Sprintf("vecmath: length mismatch %d != %d", len(a), len(b)))
	}
	return dot(a, b)
}

// L2Squared returns the squared Euclidean distance between a and b. It panics
// if their lengths differ.
func L2Squared(a, b []float32) float32 {
	if len(a) != len(b) {
		panic(fmt.Sprintf("vecmath: length mismatch %d != %d", len(a), len(b)))
	}
	return l2(a, b)
}

// L1 returns the Manhattan distance (sum of absolute differences) between a
// and b. It panics if their lengths differ.
func L1(a, b []float32) float32 {
	if len(a) != len(b) {
		panic(fmt.Sprintf("vecmath: length mismatch %d != %d", len(a), len(b)))
	}
	return l1(a, b)
}

// NegDot returns the negated dot product of a and b, the "lower is better"
// distance used for Cosine and Dot. It panics if their lengths differ.
func NegDot(a, b []float32) float32 {
	return -Dot(a, b)
}

// Norm returns the Euclidean length of v.
func Norm(v []float32) float32 {
	return float32(math.Sqrt(float64(dot(v, v))))
}

// Normalize scales v in place to unit Euclidean length. A zero vector is left
// unchanged.
func Normalize(v []float32) {
	n := Norm(v)
	if n == 0 || math.IsNaN(float64(n)) || math.IsInf(float64(n), 0) {
		return
	}
	inv := 1 / n
	for i := range v {
		v[i] *= inv
	}
}

// Score returns the similarity Qdrant reports for a and b under distance d:
// the dot product for Cosine (vectors are stored normalised) and Dot, the
// Euclidean distance for Euclid and the Manhattan distance for Manhattan.
// It panics on an unknown distance.
func Score(d api.Distance, a, b []float32) float32 {
	switch d {
	case api.DistanceCosine, api.DistanceDot:
		return Dot(a, b)
	case api.DistanceEuclid:
		return float32(math.Sqrt(float64(L2Squared(a, b))))
	case api.DistanceManhattan:
		return L1(a, b)
	}
	panic(fmt.Sprintf("vecmath: unknown distance %q", d))
}

// Dist returns the internal "lower is better" distance function for d:
// the negated dot product for Cosine and Dot, the squared Euclidean distance
// for Euclid and the Manhattan distance for Manhattan. It panics on an
// unknown distance.
func Dist(d api.Distance) func(a, b []float32) float32 {
	switch d {
	case api.DistanceCosine, api.DistanceDot:
		return NegDot
	case api.DistanceEuclid:
		return L2Squared
	case api.DistanceManhattan:
		return L1
	}
	panic(fmt.Sprintf("vecmath: unknown distance %q", d))
}

// Kernel returns the fastest implementation of Dist(d) for hot loops: it
// skips the length check, so the caller must guarantee len(b) >= len(a)
// (only len(a) elements are read; a shorter b reads out of bounds). It
// panics on an unknown distance.
func Kernel(d api.Distance) func(a, b []float32) float32 {
	if k := kernel(d); k != nil {
		return k
	}
	panic(fmt.Sprintf("vecmath: unknown distance %q", d))
}

// ScoreFromDist converts an internal distance returned by Dist(d) to the
// score Score(d) would report for the same pair of vectors.
func ScoreFromDist(d api.Distance, dist float32) float32 {
	switch d {
	case api.DistanceCosine, api.DistanceDot:
		return -dist
	case api.DistanceEuclid:
		if dist <= 0 {
			return 0
		}
		return float32(math.Sqrt(float64(dist)))
	case api.DistanceManhattan:
		return dist
	}
	panic(fmt.Sprintf("vecmath: unknown distance %q", d))
}

// DistFromScore is the inverse of ScoreFromDist: it converts a score as
// reported by Score(d) into the internal distance ordering of Dist(d).
func DistFromScore(d api.Distance, score float32) float32 {
	switch d {
	case api.DistanceCosine, api.DistanceDot:
		return -score
	case api.DistanceEuclid:
		return score * score
	case api.DistanceManhattan:
		return score
	}
	panic(fmt.Sprintf("vecmath: unknown distance %q", d))
}

// FastSigmoid maps x into (-1, 1) without an exponential: x / (1 + |x|)
// (the squashing Qdrant's recommend, discover and context scores use).
func FastSigmoid(x float32) float32 { return x / (1 + float32(math.Abs(float64(x)))) }

// ScaledFastSigmoid maps x into (0, 1): (FastSigmoid(x) + 1) / 2.
func ScaledFastSigmoid(x float32) float32 { return 0.5 * (FastSigmoid(x) + 1) }
