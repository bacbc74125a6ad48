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
