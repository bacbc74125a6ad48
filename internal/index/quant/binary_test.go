package quant

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/vecmath"
)

// signs returns the sign vector a binary code stands for.
func signs(v []float32) []float32 {
	s := make([]float32, len(v))
	for i, x := range v {
		s[i] = -1
		if x > 0 {
			s[i] = 1
		}
	}
	return s
}

// TestBinaryDistances checks the binary distances against the exact
// distances between the query (its sign vector for a binary query, the
// query itself for an asymmetric one) and each code's sign vector: exact
// for binary queries, within the weight quantization's error for 8 and 4
// bits.
func TestBinaryDistances(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const n = 100
	for _, dim := range []int{1, 63, 64, 65, 200} {
		vecs := make([][]float32, n)
		for i := range vecs {
			vecs[i] = make([]float32, dim)
			for j := range vecs[i] {
				vecs[i][j] = float32(r.NormFloat64())
			}
		}
		vecs[0][0] = float32(math.NaN())
		for _, d := range []api.Distance{api.DistanceEuclid, api.DistanceDot, api.DistanceCosine, api.DistanceManhattan} {
			exact := vecmath.Dist(d)
			if d == api.DistanceCosine {
				exact = vecmath.Dist(api.DistanceDot)
			}
			for _, bits := range []int{0, 8, 4} {
				codes := NewBinaryCodes(NewBinary(d, dim, bits))
				for i, v := range vecs {
					codes.Set(uint32(i), v)
				}
				for i := 1; i < 10; i++ {
					qv := vecs[r.IntN(n-1)+1]
					sc := codes.Scorer(qv)
					target := qv
					if bits == 0 {
						target = signs(qv)
					}
					for off := range uint32(n) {
						want := exact(target, signs(vecs[off]))
						got := sc.Dist(off)
						var tol float64
						if bits > 0 {
							// Each weight is off by at most α/2, α = range/(2^bits − 1).
							var lo, hi float64 = math.Inf(1), math.Inf(-1)
							for _, x := range qv {
								lo, hi = min(lo, float64(x)), max(hi, float64(x))
							}
							tol = float64(dim)*4*(hi-lo)/float64(int(1)<<bits-1)/2 + 1e-3*(1+math.Abs(float64(want)))
						}
						if diff := math.Abs(float64(got - want)); diff > tol+1e-4 {
							t.Fatalf("%s dim %d bits %d off %d: %v, want %v (tolerance %v)", d, dim, bits, off, got, want, tol)
						}
					}
				}
			}
		}
	}
}

// TestBinaryCodesRelease: a released chunk reads as zero codes, Bytes
// follows the chunks, and offsets past the last chunk read as zero codes.
func TestBinaryCodesRelease(t *testing.T) {
	c := NewBinaryCodes(NewBinary(api.DistanceDot, 130, 0))
	ones := make([]float32, 130)
	for i := range ones {
		ones[i] = 1
	}
	c.Set(0, ones)
	c.Set(1500, ones)
	if got, want := c.Bytes(), int64(2*1024*3*8); got != want {
		t.Fatalf("Bytes %d, want %d", got, want)
	}
	if vecmath.CountBits(c.Get(0)) != 130 || vecmath.CountBits(c.Get(1500)) != 130 || vecmath.CountBits(c.Get(99999)) != 0 {
		t.Fatal("codes not as set")
	}
	sc := c.Scorer(ones)
	if d := sc.Dist(0); d != -130 {
		t.Fatalf("Dist of an equal code %v, want -130", d)
	}
	c.ReleaseChunk(0)
	if vecmath.CountBits(c.Get(0)) != 0 || c.Bytes() != 1024*3*8 {
		t.Fatal("release did not free chunk 0")
	}
	// A scorer started before the release keeps the chunk it loaded; a new one reads zeros.
	if d := c.Scorer(ones).Dist(0); d != 130 {
		t.Fatalf("Dist of a released code %v, want 130", d)
	}
	sc.Prefetch(1500)
}

// levelsOf returns the two-bit levels of v by the statistics of sample,
// computed independently of TrainBinary: z-scores against ±2/3, and the
// sign alone where an element does not vary.
func levelsOf(v []float32, sample [][]float32) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		var sum, sq float64
		for _, s := range sample {
			sum += float64(s[i])
			sq += float64(s[i]) * float64(s[i])
		}
		n := float64(len(sample))
		mean := sum / n
		sd := math.Sqrt(max(0, sq/n-mean*mean))
		switch z := (float64(x) - mean) / sd; {
		case sd < 1e-6 && x > 0:
			out[i] = 0
		case sd < 1e-6:
			out[i] = -1
		case z <= -2.0/3:
			out[i] = -1
		case z < 2.0/3:
			out[i] = 0
		default:
			out[i] = 1
		}
	}
	return out
}

// TestTwoBitDistances checks two-bit codes: the levels they encode, a
// binary query's distance as Qdrant scores it (by the Hamming distance of
// the thermometer codes, which is the L1 distance between the levels), and
// an asymmetric query's distance to the levels, within the weight
// quantization's error.
func TestTwoBitDistances(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const n = 100
	for _, dim := range []int{1, 31, 32, 33, 100} {
		vecs := make([][]float32, n)
		for i := range vecs {
			vecs[i] = make([]float32, dim)
			for j := range vecs[i] {
				vecs[i][j] = float32(r.NormFloat64()*float64(j%3+1) + float64(j%5))
			}
			vecs[i][0] = 3 // an element that does not vary: levels by sign
		}
		levels := make([][]float32, n)
		for i, v := range vecs {
			levels[i] = levelsOf(v, vecs)
		}
		for _, d := range []api.Distance{api.DistanceEuclid, api.DistanceDot, api.DistanceCosine, api.DistanceManhattan} {
			exact := vecmath.Dist(d)
			if d == api.DistanceCosine {
				exact = vecmath.Dist(api.DistanceDot)
			}
			for _, bits := range []int{0, 8, 4} {
				q := TrainBinary(d, dim, bits, vecs)
				if q.Words() != (2*dim+63)/64 {
					t.Fatalf("dim %d: %d words, want %d", dim, q.Words(), (2*dim+63)/64)
				}
				codes := NewBinaryCodes(q)
				for i, v := range vecs {
					codes.Set(uint32(i), v)
				}
				for off := range uint32(n) {
					code := codes.Get(off)
					for i, l := range levels[off] {
						b1, b2 := code[i>>6]>>(i&63)&1, code[(dim+i)>>6]>>((dim+i)&63)&1
						if got := float32(int(b1+b2) - 1); got != l || (b2 == 1 && b1 == 0) {
							t.Fatalf("dim %d off %d element %d: bits %d%d, want level %v", dim, off, i, b1, b2, l)
						}
					}
				}
				for k := 0; k < 10; k++ {
					qi := r.IntN(n)
					qv := vecs[qi]
					sc := codes.Scorer(qv)
					for off := range uint32(n) {
						got := sc.Dist(off)
						if bits == 0 {
							var h float64
							for i := range dim {
								h += math.Abs(float64(levels[qi][i] - levels[off][i]))
							}
							want := map[api.Distance]float64{api.DistanceEuclid: 4 * h, api.DistanceManhattan: 2 * h}[d]
							if d == api.DistanceDot || d == api.DistanceCosine {
								want = 2*h - float64(dim)
							}
							if float64(got) != want {
								t.Fatalf("%s dim %d binary query off %d: %v, want %v", d, dim, off, got, want)
							}
							continue
						}
						want := exact(qv, levels[off])
						w, _ := q.weights(qv)
						lo, hi := slices.Min(w), slices.Max(w)
						tol := float64(2*dim)*float64(hi-lo)/float64(int(1)<<bits-1)/2 + 1e-3*(1+math.Abs(float64(want)))
						if diff := math.Abs(float64(got - want)); diff > tol+1e-3 {
							t.Fatalf("%s dim %d bits %d off %d: %v, want %v (tolerance %v)", d, dim, bits, off, got, want, tol)
						}
					}
				}
			}
		}
	}
}
