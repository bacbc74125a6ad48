package vecmath

import (
	"math/bits"
	"unsafe"
)

// Kernels over binary-quantization codes: bit vectors packed into uint64
// words (element i of a vector is bit i%64 of word i/64). The results are
// exact. Each reads len(a) words of a and b and panics if b is shorter.
// math/bits.OnesCount64 compiles to the POPCNT instruction on amd64 CPUs
// that have it (every x86-64-v2 CPU), so the loops need no assembly.

// HammingBits returns the number of bits that differ between a and b:
// popcount(a XOR b).
func HammingBits(a, b []uint64) int {
	b = b[:len(a)]
	var s0, s1, s2, s3 int
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += bits.OnesCount64(a[i] ^ b[i])
		s1 += bits.OnesCount64(a[i+1] ^ b[i+1])
		s2 += bits.OnesCount64(a[i+2] ^ b[i+2])
		s3 += bits.OnesCount64(a[i+3] ^ b[i+3])
	}
	for ; i < len(a); i++ {
		s0 += bits.OnesCount64(a[i] ^ b[i])
	}
	return s0 + s1 + s2 + s3
}

// AndBits returns the number of bits set in both a and b:
// popcount(a AND b).
func AndBits(a, b []uint64) int {
	b = b[:len(a)]
	var s0, s1, s2, s3 int
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += bits.OnesCount64(a[i] & b[i])
		s1 += bits.OnesCount64(a[i+1] & b[i+1])
		s2 += bits.OnesCount64(a[i+2] & b[i+2])
		s3 += bits.OnesCount64(a[i+3] & b[i+3])
	}
	for ; i < len(a); i++ {
		s0 += bits.OnesCount64(a[i] & b[i])
	}
	return s0 + s1 + s2 + s3
}

// CountBits returns the number of bits set in a.
func CountBits(a []uint64) int {
	s := 0
	for _, w := range a {
		s += bits.OnesCount64(w)
	}
	return s
}

// PrefetchBits hints the CPU to start loading the beginning of the bit
// vector w into cache; it has no other effect. w must not be empty.
func PrefetchBits(w []uint64) {
	if useCodeAsm {
		prefetchCodes(unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), 8*len(w)))
	}
}
