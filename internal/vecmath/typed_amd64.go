//go:build amd64 && !noasm

package vecmath

import "golang.org/x/sys/cpu"

// useTypedAsm selects the assembly kernels of typed_amd64.s: AVX2 and FMA
// for uint8, plus F16C for float16.
var (
	useTypedU8Asm  = useAsm
	useTypedF16Asm = useAsm && cpu.X86.HasF16C
)

// dotU8F32AVX2 returns Σ q[i]·b[i] over len(q) elements, a multiple of 8.
//
//go:noescape
func dotU8F32AVX2(q []float32, b []byte) float32

// l2U8F32AVX2 returns Σ (q[i] − b[i])² over len(q) elements, a multiple of 8.
//
//go:noescape
func l2U8F32AVX2(q []float32, b []byte) float32

// dotF16F32AVX2 returns Σ q[i]·h[i] over len(q) elements (a multiple of 8)
// of the half-precision elements h in b.
//
//go:noescape
func dotF16F32AVX2(q []float32, b []byte) float32

// l2F16F32AVX2 returns Σ (q[i] − h[i])² over len(q) elements (a multiple
// of 8) of the half-precision elements h in b.
//
//go:noescape
func l2F16F32AVX2(q []float32, b []byte) float32
