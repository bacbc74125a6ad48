//go:build amd64 && !noasm

package vecmath

import "testing"

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
			kernelCase{"negDotAVX512", negDotAVX512, negDotGeneric, negDot, absDot},
			kernelCase{"l2AVX512", l2AVX512, l2Generic, naiveL2, naiveL2},
			kernelCase{"l1AVX512", l1AVX512, l1Generic, naiveL1, naiveL1},
		)
	}
	return cases
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
