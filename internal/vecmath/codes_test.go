package vecmath

import (
	"math/rand/v2"
	"testing"
)

// TestCodeKernels checks the code kernels (assembly where the CPU has it)
// against naive loops for every length up to 300, codes from 0 to 127.
func TestCodeKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n <= 400; n++ {
		a, b := make([]byte, n), make([]byte, n+3)
		for i := range a {
			a[i] = byte(r.IntN(128))
		}
		for i := range b {
			b[i] = byte(r.IntN(128))
		}
		if n%7 == 0 { // extremes
			for i := range a {
				a[i], b[i] = 127, 0
			}
		}
		var dot, l2, l1 int32
		for i := range a {
			x, y := int32(a[i]), int32(b[i])
			dot += x * y
			l2 += (x - y) * (x - y)
			l1 += max(x-y, y-x)
		}
		if got := DotCodes(a, b); got != dot {
			t.Fatalf("n=%d: DotCodes = %d, want %d", n, got, dot)
		}
		testWideDot(t, a, b, dot)
		if got := L2Codes(a, b); got != l2 {
			t.Fatalf("n=%d: L2Codes = %d, want %d", n, got, l2)
		}
		if got := L1Codes(a, b); got != l1 {
			t.Fatalf("n=%d: L1Codes = %d, want %d", n, got, l1)
		}
	}
}

func BenchmarkCodes784(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	x, y := make([]byte, 800), make([]byte, 800)
	fx, fy := make([]float32, 784), make([]float32, 784)
	for i := range x {
		x[i], y[i] = byte(r.IntN(128)), byte(r.IntN(128))
		fx[i%784], fy[i%784] = r.Float32(), r.Float32()
	}
	b.Run("L2Codes", func(b *testing.B) {
		for b.Loop() {
			L2Codes(x, y)
		}
	})
	b.Run("DotCodes", func(b *testing.B) {
		for b.Loop() {
			DotCodes(x, y)
		}
	})
	b.Run("L2Float32", func(b *testing.B) {
		for b.Loop() {
			L2Squared(fx, fy)
		}
	})
}

// TestBitKernels checks the bit-vector kernels against a bit-by-bit count
// for every length up to 11 words.
func TestBitKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for n := 0; n <= 11; n++ {
		a, b := make([]uint64, n), make([]uint64, n)
		for i := range a {
			a[i], b[i] = r.Uint64(), r.Uint64()
		}
		var xor, and, cnt int
		for i := 0; i < 64*n; i++ {
			x, y := a[i/64]>>(i%64)&1, b[i/64]>>(i%64)&1
			xor += int(x ^ y)
			and += int(x & y)
			cnt += int(x)
		}
		if got := HammingBits(a, b); got != xor {
			t.Errorf("n=%d: HammingBits %d, want %d", n, got, xor)
		}
		if got := AndBits(a, b); got != and {
			t.Errorf("n=%d: AndBits %d, want %d", n, got, and)
		}
		if got := CountBits(a); got != cnt {
			t.Errorf("n=%d: CountBits %d, want %d", n, got, cnt)
		}
		if n > 0 {
			PrefetchBits(a)
		}
	}
}

// BenchmarkHamming784 is one binary-code distance of a 784-element vector
// (13 words), the counterpart of BenchmarkCodes784 and BenchmarkL2784.
func BenchmarkHamming784(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	x, y := make([]uint64, 13), make([]uint64, 13)
	for i := range x {
		x[i], y[i] = r.Uint64(), r.Uint64()
	}
	b.ReportAllocs()
	b.SetBytes(2 * 13 * 8)
	s := 0
	for b.Loop() {
		s += HammingBits(x, y)
	}
	_ = s
}
