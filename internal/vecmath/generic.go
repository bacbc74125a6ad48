package vecmath

import "github.com/shoal-db/shoal/internal/api"

func kernelGeneric(d api.Distance) func(a, b []float32) float32 {
	switch d {
	case api.DistanceCosine, api.DistanceDot:
		return negDotGeneric
	case api.DistanceEuclid:
		return l2Generic
	case api.DistanceManhattan:
		return l1Generic
	}
	return nil
}

// The pure-Go kernels use eight independent accumulators so that the CPU can
// overlap the floating-point additions; they are the fallback for CPUs and
// builds without the assembly kernels, and the reference the assembly is
// tested against.

func dotGeneric(a, b []float32) float32 {
	n := len(a)
	b = b[:n]
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	i := 0
	for ; i+8 <= n; i += 8 {
		aa := a[i : i+8 : i+8]
		bb := b[i : i+8 : i+8]
		s0 += aa[0] * bb[0]
		s1 += aa[1] * bb[1]
		s2 += aa[2] * bb[2]
		s3 += aa[3] * bb[3]
		s4 += aa[4] * bb[4]
		s5 += aa[5] * bb[5]
		s6 += aa[6] * bb[6]
		s7 += aa[7] * bb[7]
	}
	for ; i < n; i++ {
		s0 += a[i] * b[i]
	}
	return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
}

func l2Generic(a, b []float32) float32 {
	n := len(a)
	b = b[:n]
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	i := 0
	for ; i+8 <= n; i += 8 {
		aa := a[i : i+8 : i+8]
		bb := b[i : i+8 : i+8]
		d0 := aa[0] - bb[0]
		d1 := aa[1] - bb[1]
		d2 := aa[2] - bb[2]
		d3 := aa[3] - bb[3]
		d4 := aa[4] - bb[4]
		d5 := aa[5] - bb[5]
		d6 := aa[6] - bb[6]
		d7 := aa[7] - bb[7]
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
		s4 += d4 * d4
		s5 += d5 * d5
		s6 += d6 * d6
		s7 += d7 * d7
	}
	for ; i < n; i++ {
		d := a[i] - b[i]
		s0 += d * d
	}
	return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}

func l1Generic(a, b []float32) float32 {
	n := len(a)
	b = b[:n]
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	i := 0
	for ; i+8 <= n; i += 8 {
		aa := a[i : i+8 : i+8]
		bb := b[i : i+8 : i+8]
		s0 += abs32(aa[0] - bb[0])
		s1 += abs32(aa[1] - bb[1])
		s2 += abs32(aa[2] - bb[2])
		s3 += abs32(aa[3] - bb[3])
		s4 += abs32(aa[4] - bb[4])
		s5 += abs32(aa[5] - bb[5])
		s6 += abs32(aa[6] - bb[6])
		s7 += abs32(aa[7] - bb[7])
	}
	for ; i < n; i++ {
		s0 += abs32(a[i] - b[i])
	}
	return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
}
