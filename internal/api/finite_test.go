package api

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestCheckFiniteAgreesWithMath checks the bit test of CheckFinite against
// math.IsNaN/IsInf on special values and on random bit patterns.
func TestCheckFiniteAgreesWithMath(t *testing.T) {
	special := []float32{0, float32(math.Copysign(0, -1)), 1, -1, math.MaxFloat32, -math.MaxFloat32,
		math.SmallestNonzeroFloat32, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
		math.Float32frombits(0x7f800001), math.Float32frombits(0xffffffff), math.Float32frombits(0x7f7fffff)}
	r := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 200_000; i++ {
		special = append(special, math.Float32frombits(r.Uint32()))
	}
	for _, x := range special {
		want := math.IsNaN(float64(x)) || math.IsInf(float64(x), 0)
		got := CheckFinite("v", []float32{1, x, 2}) != nil
		if got != want {
			t.Fatalf("CheckFinite(%x) rejects = %v, want %v", math.Float32bits(x), got, want)
		}
	}
	if err := CheckFinite("v", nil); err != nil {
		t.Fatalf("empty vector: %v", err)
	}
}

// TestCheckFiniteEveryPosition puts one bad value at every position of
// vectors of odd and even lengths.
func TestCheckFiniteEveryPosition(t *testing.T) {
	for n := 1; n <= 9; n++ {
		for i := range n {
			for _, bad := range []float32{float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())} {
				v := make([]float32, n)
				for j := range v {
					v[j] = float32(j) - 3.5
				}
				if CheckFinite("v", v) != nil {
					t.Fatalf("finite vector of %d rejected", n)
				}
				v[i] = bad
				if CheckFinite("v", v) == nil {
					t.Fatalf("%v at %d of %d accepted", bad, i, n)
				}
				// The same values starting 4 bytes off an 8-byte boundary.
				w := make([]float32, n+1)[1:]
				copy(w, v)
				if CheckFinite("v", w) == nil {
					t.Fatalf("%v at %d of %d (unaligned) accepted", bad, i, n)
				}
			}
		}
	}
}

func BenchmarkCheckFinite(b *testing.B) {
	v := make([]float32, 784)
	for i := range v {
		v[i] = float32(i % 256)
	}
	b.SetBytes(4 * 784)
	for b.Loop() {
		if CheckFinite("", v) != nil {
			b.Fatal("rejected")
		}
	}
}
