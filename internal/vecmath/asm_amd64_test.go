//go:build amd64 && !noasm

package vecmath

import (
	"math/rand/v2"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
)

// asmCases adds every assembly kernel the CPU can run, whichever Kernel
// picks, so that the AVX2 and the AVX-512 variants are both tested.
func asmCases() []kernelCase {
	if !useAsm {
		return nil
	}
	negDot := func(a, b []float32) float64 { return -naiveDot(a, b) }
	absDot := func(a, b []float32) float64 {
		var s float64
		for i := range a {
			s += abs64(float64(a[i]) * float64(b[i]))
		}
		return s
	}
	cases := []kernelCase{
		{"negDotAVX2", negDotAVX2, negDotGeneric, negDot, absDot},
		{"l2AVX2", l2AVX2, l2Generic, naiveL2, naiveL2},
		{"l1AVX2", l1AVX2, l1Generic, naiveL1, naiveL1},
	}
	if use512 {
		cases = append(cases,
			kernelCase{"dotAVX512", dotAVX512, dotGeneric, naiveDot, absDot},
			kernelCase{"negDotAVX512", negDotAVX512, negDotGeneric, negDot, absDot},
			kernelCase{"l2AVX512", l2AVX512, l2Generic, naiveL2, naiveL2},
			kernelCase{"l1AVX512", l1AVX512, l1Generic, naiveL1, naiveL1},
		)
	}
	return cases
}

// TestKernelMatchesDist checks that Kernel and Dist give bit-identical
// distances, so exact and graph search agree on scores and ties.
func TestKernelMatchesDist(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	for _, d := range []api.Distance{api.DistanceCosine, api.DistanceDot, api.DistanceEuclid, api.DistanceManhattan} {
		for n := 0; n < 200; n++ {
			a, b := randVec(r, n), randVec(r, n)
			if k, want := Kernel(d)(a, b), Dist(d)(a, b); k != want {
				t.Fatalf("%s n=%d: Kernel %v, Dist %v", d, n, k, want)
			}
		}
	}
}

func abs64(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func BenchmarkL2784AVX512(b *testing.B) {
	if !use512 {
		b.Skip("no AVX-512")
	}
	benchKernel(b, l2AVX512)
}

func BenchmarkL2784AVX2(b *testing.B) { benchKernel(b, l2AVX2) }

// testWideDot checks both 64-byte code dot kernels the CPU can run on
// the multiple-of-64 prefix of a and b.
func testWideDot(t *testing.T, a, b []byte, _ int32) {
	t.Helper()
	n := len(a) &^ 63
	if n == 0 || !useCode512 {
		return
	}
	want := dotCodesGeneric(a[:n], b[:n])
	if got := dotU8AVX512(a[:n], b[:n]); got != want {
		t.Fatalf("n=%d: dotU8AVX512 = %d, want %d", n, got, want)
	}
	if useVNNI {
		if got := dotU8VNNI(a[:n], b[:n]); got != want {
			t.Fatalf("n=%d: dotU8VNNI = %d, want %d", n, got, want)
		}
	}
}
