package quant

import (
	"math"
	"math/rand/v2"
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
