//go:build !amd64 || noasm

package vecmath

import "github.com/shoal-db/shoal/internal/api"

// Accelerated reports whether the assembly kernels are in use.
func Accelerated() bool { return false }

func dot(a, b []float32) float32 { return dotGeneric(a, b) }
func l2(a, b []float32) float32  { return l2Generic(a, b) }
func l1(a, b []float32) float32  { return l1Generic(a, b) }

func negDotGeneric(a, b []float32) float32 { return -dotGeneric(a, b) }

func kernel(d api.Distance) func(a, b []float32) float32 { return kernelGeneric(d) }

// Prefetch hints the CPU to start loading the beginning of v into cache; it
// has no other effect (and does nothing in this build).
func Prefetch(v []float32) {}

const useCodeAsm, useCode512 = false, false

func dotU8AVX512(a, b []byte) int32 { panic("unreachable") }
func dotU8AVX2(a, b []byte) int32   { panic("unreachable") }
func l2U8AVX2(a, b []byte) int32    { panic("unreachable") }
func l1U8AVX2(a, b []byte) int32    { panic("unreachable") }
func prefetchCodes(v []byte)        { panic("unreachable") }

func dotU8Wide(a, b []byte) int32 { panic("unreachable") }

const useTypedU8Asm, useTypedF16Asm = false, false

func dotU8F32AVX2(q []float32, b []byte) float32  { panic("unreachable") }
func l2U8F32AVX2(q []float32, b []byte) float32   { panic("unreachable") }
func dotF16F32AVX2(q []float32, b []byte) float32 { panic("unreachable") }
func l2F16F32AVX2(q []float32, b []byte) float32  { panic("unreachable") }
