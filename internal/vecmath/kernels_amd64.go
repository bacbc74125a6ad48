//go:build amd64 && !noasm

package vecmath

import "golang.org/x/sys/cpu"

//go:generate sh -c "cd gen && go run . -out ../kernels_amd64.s -stubs ../kernels_amd64_stubs.go -pkg vecmath"

// useAsm is decided once from the CPU's features and never changes.
var useAsm = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// Accelerated reports whether the assembly kernels are in use.
func Accelerated() bool { return useAsm }

func dot(a, b []float32) float32 {
	if useAsm {
		return dotAVX2(a, b)
	}
	return dotGeneric(a, b)
}

func l2(a, b []float32) float32 {
	if useAsm {
		return l2AVX2(a, b)
	}
	return l2Generic(a, b)
}

func l1(a, b []float32) float32 {
	if useAsm {
		return l1AVX2(a, b)
	}
	return l1Generic(a, b)
}
