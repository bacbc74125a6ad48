package quant

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/vecmath"
)

// TestProductDistances: the ADC distance of a code is the exact distance
// to the vector the code decodes to, the encoding picks the nearest
// centroid of each sub-vector, and the quantization error falls as the
// sub-vectors shrink (x64 → x4).
func TestProductDistances(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	const dim, n = 30, 300
	vecs := make([][]float32, n)
	for i := range vecs {
		vecs[i] = make([]float32, dim)
		for j := range vecs[i] {
			vecs[i][j] = float32(r.NormFloat64()) + float32(i%5)
		}
	}
	prevErr := math.Inf(1)
	for _, comp := range []string{"x64", "x32", "x16", "x8", "x4"} {
		sub := CompressionSub(comp)
		for _, d := range []api.Distance{api.DistanceEuclid, api.DistanceDot, api.DistanceCosine, api.DistanceManhattan} {
			p := TrainProduct(d, dim, sub, vecs)
			if p.Bytes() != (dim+sub-1)/sub {
				t.Fatalf("%s: %d code bytes", comp, p.Bytes())
			}
			codes := NewProductCodes(p)
			for i, v := range vecs {
				codes.Set(uint32(i), v)
			}
			exact := vecmath.Dist(d)
			var qerr float64
			for i := range 10 {
				q := vecs[r.IntN(n)]
				sc := codes.Scorer(q)
				for off := range uint32(n) {
					code := codes.get(*codes.chunks.Load(), off)
					dec := p.Decode(code)
					if i == 0 {
						for j := range p.m {
							lo, hi := j*p.sub, min((j+1)*p.sub, dim)
							if want := nearest(p.cents[j], hi-lo, vecs[off][lo:hi]); int(code[j]) != want {
								t.Fatalf("%s: code byte %d of %d is %d, the nearest centroid %d", comp, j, off, code[j], want)
							}
						}
					}
					want, got := exact(q, dec), sc.Dist(off)
					if math.Abs(float64(got-want)) > 1e-3*(1+math.Abs(float64(want))) {
						t.Fatalf("%s %s: ADC %v, distance to the decoded vector %v", comp, d, got, want)
					}
					if i == 0 && d == api.DistanceEuclid {
						qerr += float64(vecmath.L2Squared(vecs[off], dec))
					}
				}
			}
			if d == api.DistanceEuclid {
				if qerr >= prevErr {
					t.Errorf("%s: quantization error %v, not below %v of the coarser compression", comp, qerr, prevErr)
				}
				prevErr = qerr
			}
		}
	}
	// A sample smaller than 256 vectors trains that many centroids.
	p := TrainProduct(api.DistanceEuclid, dim, 4, vecs[:10])
	c := NewProductCodes(p)
	c.Set(0, vecs[3])
	if got := p.Decode(c.get(*c.chunks.Load(), 0)); vecmath.L2Squared(got, vecs[3]) > 1e-6 {
		t.Fatalf("a sample vector decodes to %v, was %v", got, vecs[3])
	}
	c.ReleaseChunk(0)
	if c.Bytes() != int64(4*dim*10) {
		t.Fatalf("%d bytes after release", c.Bytes())
	}
}

// nearest returns the index of the centroid (of width w) nearest to x, by
// the definition: the reference for nearestT.
func nearest(cents []float32, w int, x []float32) int {
	best, bestD := 0, float32(math.Inf(1))
	for c := 0; c < len(cents)/w; c++ {
		var d float32
		for e, y := range cents[c*w : (c+1)*w] {
			t := x[e] - y
			d += t * t
		}
		if d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// BenchmarkProductEncode784 is the encoding of one 784-element vector at
// x16 (196 sub-vectors of 4 elements, 256 centroids each), and the
// distance of one code by a query's table.
func BenchmarkProductEncode784(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	sample := make([][]float32, 300)
	for i := range sample {
		sample[i] = make([]float32, 784)
		for j := range sample[i] {
			sample[i][j] = float32(r.NormFloat64())
		}
	}
	p := TrainProduct(api.DistanceEuclid, 784, CompressionSub("x16"), sample)
	code := make([]byte, p.Bytes())
	b.Run("encode", func(b *testing.B) {
		for b.Loop() {
			p.Encode(code, sample[0])
		}
	})
	qq := p.Query(sample[1])
	b.Run("dist", func(b *testing.B) {
		var s float32
		for b.Loop() {
			s += qq.Dist(code)
		}
		_ = s
	})
	b.Run("query", func(b *testing.B) {
		for b.Loop() {
			p.Query(sample[1])
		}
	})
}
