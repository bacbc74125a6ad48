//go:build !amd64 || noasm

package vecmath

// Accelerated reports whether the assembly kernels are in use.
func Accelerated() bool { return false }

func dot(a, b []float32) float32 { return dotGeneric(a, b) }
func l2(a, b []float32) float32  { return l2Generic(a, b) }
func l1(a, b []float32) float32  { return l1Generic(a, b) }
