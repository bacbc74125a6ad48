package vecmath

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
)

func naiveDot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func naiveL2(a, b []float32) float64 {
	var s float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		s += d * d
	}
	return s
}

func naiveL1(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += math.Abs(float64(a[i]) - float64(b[i]))
	}
	return s
}

func randVec(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// close reports whether got is within a relative float32 accumulation error
// of want; scale is the sum of absolute terms, which bounds rounding error.
func closeTo(got float32, want, scale float64) bool {
	return math.Abs(float64(got)-want) <= 1e-5*scale+1e-6
}

type kernelCase struct {
	name    string
	kernel  func(a, b []float32) float32
	generic func(a, b []float32) float32
	naive   func(a, b []float32) float64
	scale   func(a, b []float32) float64
}

func kernelCases() []kernelCase {
	absDot := func(a, b []float32) float64 {
		var s float64
		for i := range a {
			s += math.Abs(float64(a[i]) * float64(b[i]))
		}
		return s
	}
	cases := []kernelCase{
		{"dot", dot, dotGeneric, naiveDot, absDot},
		{"negdot", kernel(api.DistanceDot), negDotGeneric, func(a, b []float32) float64 { return -naiveDot(a, b) }, absDot},
		{"kernel-l2", kernel(api.DistanceEuclid), l2Generic, naiveL2, naiveL2},
		{"kernel-l1", kernel(api.DistanceManhattan), l1Generic, naiveL1, naiveL1},
		{"l2", l2, l2Generic, naiveL2, naiveL2},
		{"l1", l1, l1Generic, naiveL1, naiveL1},
	}
	return append(cases, asmCases()...)
}

func TestKernelsAgree(t *testing.T) {
	t.Logf("assembly kernels in use: %v", Accelerated())
	r := rand.New(rand.NewPCG(1, 2))
	lengths := []int{}
	for n := 0; n <= 33; n++ {
		lengths = append(lengths, n)
	}
	lengths = append(lengths, 63, 64, 65, 127, 128, 129, 255, 767, 768, 784, 1000, 1536)
	for _, c := range kernelCases() {
		for _, n := range lengths {
			for rep := 0; rep < 5; rep++ {
				a, b := randVec(r, n), randVec(r, n)
				want := c.naive(a, b)
				scale := c.scale(a, b)
				if got := c.kernel(a, b); !closeTo(got, want, scale) {
					t.Fatalf("%s n=%d: kernel %v, want %v", c.name, n, got, want)
				}
				if got := c.generic(a, b); !closeTo(got, want, scale) {
					t.Fatalf("%s n=%d: generic %v, want %v", c.name, n, got, want)
				}
			}
		}
	}
}

// TestKernelsIgnoreNeighbours checks that the kernels read exactly len(a)
// elements: sub-slices of a larger array with poisoned surroundings.
func TestKernelsIgnoreNeighbours(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, c := range kernelCases() {
		for n := 0; n <= 70; n++ {
			bufA := randVec(r, n+40)
			bufB := randVec(r, n+40)
			for i := range bufA {
				if i < 17 || i >= 17+n {
					bufA[i] = float32(math.NaN())
					bufB[i] = float32(math.Inf(1))
				}
			}
			a, b := bufA[17:17+n], bufB[17:17+n]
			got := c.kernel(a, b)
			if want := c.naive(a, b); !closeTo(got, want, c.scale(a, b)) {
				t.Fatalf("%s n=%d: %v, want %v", c.name, n, got, want)
			}
		}
	}
}

func FuzzKernels(f *testing.F) {
	f.Add(uint64(1), uint16(0))
	f.Add(uint64(7), uint16(9))
	f.Add(uint64(9), uint16(784))
	f.Fuzz(func(t *testing.T, seed uint64, n uint16) {
		r := rand.New(rand.NewPCG(seed, 99))
		a, b := randVec(r, int(n%2048)), randVec(r, int(n%2048))
		for _, c := range kernelCases() {
			got, gen := c.kernel(a, b), c.generic(a, b)
			want, scale := c.naive(a, b), c.scale(a, b)
			if !closeTo(got, want, scale) || !closeTo(gen, want, scale) {
				t.Fatalf("%s n=%d: kernel %v generic %v want %v", c.name, len(a), got, gen, want)
			}
		}
	})
}

func TestPublicAPI(t *testing.T) {
	a := []float32{1, 2, 3}
	b := []float32{4, -5, 6}
	if got := Dot(a, b); got != 12 {
		t.Fatalf("Dot = %v", got)
	}
	if got := L2Squared(a, b); got != 9+49+9 {
		t.Fatalf("L2Squared = %v", got)
	}
	if got := L1(a, b); got != 3+7+3 {
		t.Fatalf("L1 = %v", got)
	}
	for _, d := range []api.Distance{api.DistanceCosine, api.DistanceDot, api.DistanceEuclid, api.DistanceManhattan} {
		dist := Dist(d)(a, b)
		if got, want := ScoreFromDist(d, dist), Score(d, a, b); math.Abs(float64(got-want)) > 1e-5 {
			t.Fatalf("%s: ScoreFromDist %v, Score %v", d, got, want)
		}
		if got := DistFromScore(d, Score(d, a, b)); math.Abs(float64(got-dist)) > 1e-4 {
			t.Fatalf("%s: DistFromScore %v, want %v", d, got, dist)
		}
	}
	for _, d := range []api.Distance{api.DistanceCosine, api.DistanceDot, api.DistanceEuclid, api.DistanceManhattan} {
		if got, want := Kernel(d)(a, b), Dist(d)(a, b); got != want {
			t.Fatalf("%s: Kernel %v, Dist %v", d, got, want)
		}
	}
	Prefetch(a)
	if got := Score(api.DistanceEuclid, a, b); math.Abs(float64(got)-math.Sqrt(67)) > 1e-6 {
		t.Fatalf("Euclid score %v", got)
	}
	v := []float32{3, 4}
	Normalize(v)
	if v[0] != 0.6 || v[1] != 0.8 {
		t.Fatalf("Normalize = %v", v)
	}
	z := []float32{0, 0, 0}
	Normalize(z)
	if z[0] != 0 || z[1] != 0 || z[2] != 0 {
		t.Fatalf("zero vector changed: %v", z)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("length mismatch did not panic")
		}
	}()
	Dot(a, b[:2])
}

func benchKernel(b *testing.B, f func(a, c []float32) float32) {
	r := rand.New(rand.NewPCG(5, 6))
	x, y := randVec(r, 784), randVec(r, 784)
	b.SetBytes(784 * 4 * 2)
	var sink float32
	for b.Loop() {
		sink += f(x, y)
	}
	_ = sink
}

func BenchmarkDot784(b *testing.B)        { benchKernel(b, dot) }
func BenchmarkDot784Generic(b *testing.B) { benchKernel(b, dotGeneric) }
func BenchmarkL2784(b *testing.B)         { benchKernel(b, l2) }
func BenchmarkL2784Generic(b *testing.B)  { benchKernel(b, l2Generic) }
func BenchmarkL1784(b *testing.B)         { benchKernel(b, l1) }
func BenchmarkL1784Generic(b *testing.B)  { benchKernel(b, l1Generic) }
