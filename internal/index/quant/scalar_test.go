package quant

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/vecmath"
)

// TestScalarDistances checks that the quantized distance of every
// distance function stays within a small error of the exact one.
func TestScalarDistances(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const dim, n = 100, 200
	vecs := make([][]float32, n)
	for i := range vecs {
		vecs[i] = make([]float32, dim)
		for j := range vecs[i] {
			vecs[i][j] = r.Float32()*2 - 0.5
		}
	}
	for _, d := range []api.Distance{api.DistanceEuclid, api.DistanceDot, api.DistanceCosine, api.DistanceManhattan} {
		q := TrainScalar(d, dim, vecs, 1)
		codes := NewCodes(q)
		for i, v := range vecs {
			codes.Set(uint32(i), v)
		}
		exact := vecmath.Dist(d)
		for i := 0; i < 20; i++ {
			qv := vecs[r.IntN(n)]
			qq := q.Query(qv)
			for off := range uint32(n) {
				want := exact(qv, vecs[off])
				got := codes.Dist(qq, off)
				// Each element is off by at most α/2 = 2/254.
				tol := 0.02 * (1 + float32(math.Abs(float64(want))))
				if diff := got - want; diff > tol || diff < -tol {
					t.Fatalf("%s: off %d: quantized %v, exact %v", d, off, got, want)
				}
			}
		}
	}
}

func TestScalarQuantileAndClamp(t *testing.T) {
	vals := make([]float32, 1000)
	for i := range vals {
		vals[i] = float32(i)
	}
	vals[999] = 1e9 // an outlier the quantile cuts off
	q := TrainScalar(api.DistanceEuclid, 1000, [][]float32{vals}, 0.99)
	lo, hi := q.Range()
	if lo != 5 || hi != 994 {
		t.Fatalf("range [%v, %v], want [5, 994]", lo, hi)
	}
	dst := make([]byte, q.Stride())
	q.Encode(dst, vals)
	if dst[0] != 0 || dst[999] != Levels || dst[500] < 60 || dst[500] > 66 {
		t.Fatalf("codes %d %d %d", dst[0], dst[500], dst[999])
	}
	// NaN-free degenerate range: every code 0.
	z := NewScalar(api.DistanceDot, 3, 1, 1)
	if s, sq := z.Encode(make([]byte, 64), []float32{1, 2, 3}); s != 0 || sq != 0 {
		t.Fatalf("degenerate range: sum %d", s)
	}
}

// TestScalarDistBatch checks that DistBatch gives exactly Dist's distances
// for every distance function, including offsets never set, released or
// beyond the codes (zero codes).
func TestScalarDistBatch(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const dim, n = 100, 3000
	vecs := make([][]float32, n)
	for i := range vecs {
		vecs[i] = make([]float32, dim)
		for j := range vecs[i] {
			vecs[i][j] = float32(r.NormFloat64())
		}
	}
	for _, d := range []api.Distance{api.DistanceEuclid, api.DistanceDot, api.DistanceCosine, api.DistanceManhattan} {
		q := TrainScalar(d, dim, vecs, 0.99)
		codes := NewCodes(q)
		for i, v := range vecs {
			if i != 7 { // offset 7 is never set
				codes.Set(uint32(i), v)
			}
		}
		codes.ReleaseChunk(1) // offsets 1024..2047 read as zero codes
		s := codes.Searcher(q.Query(vecs[r.IntN(n)]))
		for _, size := range []int{0, 1, 2, 3, 33} {
			offs := make([]uint32, size)
			for i := range offs {
				offs[i] = uint32(r.IntN(n + 500)) // some beyond the codes
			}
			if size > 2 {
				offs[0], offs[1] = 7, 1500
			}
			out := make([]float32, size)
			s.DistBatch(offs, out)
			for i, off := range offs {
				if want := s.Dist(off); out[i] != want {
					t.Fatalf("%s: offset %d: DistBatch %v, Dist %v", d, off, out[i], want)
				}
			}
		}
	}
}
