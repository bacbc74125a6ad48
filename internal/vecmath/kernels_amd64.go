//go:build amd64 && !noasm

package vecmath

import (
	"golang.org/x/sys/cpu"

	"github.com/shoal-db/shoal/internal/api"
)

//go:generate sh -c "cd gen && go run . -out ../kernels_amd64.s -stubs ../kernels_amd64_stubs.go -pkg vecmath"

// useAsm and use512 are decided once from the CPU's features and never
// change. The AVX-512 kernels are used for Kernel (the index hot path) when
// the CPU and OS support AVX-512F.
var (
	useAsm = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	use512 = useAsm && cpu.X86.HasAVX512F
	// useCodeAsm selects the AVX2 kernels over quantization codes.
	useCodeAsm = cpu.X86.HasAVX2
	useCode512 = useCodeAsm && cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW
	useVNNI    = useCode512 && cpu.X86.HasAVX512VNNI
)

// Accelerated reports whether the assembly kernels are in use.
func Accelerated() bool { return useAsm }

func dot(a, b []float32) float32 {
	if use512 {
		return dotAVX512(a, b)
	}
	if useAsm {
		return dotAVX2(a, b)
	}
	return dotGeneric(a, b)
}

func negDotGeneric(a, b []float32) float32 { return -dotGeneric(a, b) }

func kernel(d api.Distance) func(a, b []float32) float32 {
	if !useAsm {
		return kernelGeneric(d)
	}
	if use512 {
		switch d {
		case api.DistanceCosine, api.DistanceDot:
			return negDotAVX512
		case api.DistanceEuclid:
			return l2AVX512
		case api.DistanceManhattan:
			return l1AVX512
		}
	}
	switch d {
	case api.DistanceCosine, api.DistanceDot:
		return negDotAVX2
	case api.DistanceEuclid:
		return l2AVX2
	case api.DistanceManhattan:
		return l1AVX2
	}
	return nil
}

// Prefetch hints the CPU to start loading the beginning of v into cache; it
// has no other effect. v must not be empty.
func Prefetch(v []float32) {
	if useAsm {
		prefetchVec(v)
	}
}

func l2(a, b []float32) float32 {
	if use512 {
		return l2AVX512(a, b)
	}
	if useAsm {
		return l2AVX2(a, b)
	}
	return l2Generic(a, b)
}

func l1(a, b []float32) float32 {
	if use512 {
		return l1AVX512(a, b)
	}
	if useAsm {
		return l1AVX2(a, b)
	}
	return l1Generic(a, b)
}

// dotU8VNNI is in codes_vnni_amd64.s (written by hand).
//
//go:noescape
func dotU8VNNI(a, b []byte) int32

// dotU8Wide is the 64-byte-step code dot product of the CPU: VNNI where
// present, else AVX-512BW.
func dotU8Wide(a, b []byte) int32 {
	if useVNNI {
		return dotU8VNNI(a, b)
	}
	return dotU8AVX512(a, b)
}
