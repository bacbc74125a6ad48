package vecmath

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
)

// TestFloat16RoundTrip: every half-precision value survives F16ToF32 and
// back; F32ToF16 rounds to the nearest half (ties to even), overflows to
// infinity and keeps signed zeros, subnormals and NaN.
func TestFloat16RoundTrip(t *testing.T) {
	for h := range 1 << 16 {
		f := F16ToF32(uint16(h))
		back := F32ToF16(f)
		if f != f {
			if back&0x7c00 != 0x7c00 || back&0x3ff == 0 {
				t.Fatalf("NaN %04x came back as %04x", h, back)
			}
			continue
		}
		if back != uint16(h) {
			t.Fatalf("%04x → %v → %04x", h, f, back)
		}
	}
	for _, c := range []struct {
		in   float32
		want float32
	}{
		{1, 1}, {1 + 1.0/2048, 1}, {1 + 3.0/2048, 1 + 2.0/1024}, {65504, 65504}, {65519, 65504},
		{65520, float32(math.Inf(1))}, {-1e9, float32(math.Inf(-1))}, {1e-9, 0}, {5.96e-8, 5.9604645e-8}, {0.1, 0.099975586},
	} {
		if got := RoundF16(c.in); got != c.want {
			t.Errorf("RoundF16(%v) = %v, want %v", c.in, got, c.want)
		}
	}
	// Against a float64 nearest search on random values in range.
	r := rand.New(rand.NewPCG(1, 1))
	for range 100000 {
		f := float32((r.Float64()*2 - 1) * math.Pow(2, float64(r.IntN(30)-20)))
		got := float64(RoundF16(f))
		h := F32ToF16(f)
		for _, n := range []uint16{h - 1, h + 1} {
			if alt := float64(F16ToF32(n)); alt == alt && math.Abs(alt-float64(f)) < math.Abs(got-float64(f)) {
				t.Fatalf("RoundF16(%v) = %v, but %v is nearer", f, got, alt)
			}
		}
	}
}

// TestTypedKernels: the uint8 and float16 kernels equal Dist over the
// decoded vector.
func TestTypedKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	for n := 1; n <= 70; n++ {
		q := make([]float32, n)
		u8, f16 := make([]byte, n), make([]byte, 2*n)
		du8, df16 := make([]float32, n), make([]float32, n)
		h := Uint16s(f16)
		for i := range q {
			q[i] = float32(r.NormFloat64() * 10)
			u8[i] = byte(r.IntN(256))
			du8[i] = float32(u8[i])
			h[i] = F32ToF16(float32(r.NormFloat64()))
			df16[i] = F16ToF32(h[i])
		}
		for _, d := range []api.Distance{api.DistanceCosine, api.DistanceDot, api.DistanceEuclid, api.DistanceManhattan} {
			for _, c := range []struct {
				got, want float32
			}{{KernelU8(d)(q, u8), Dist(d)(q, du8)}, {KernelF16(d)(q, f16), Dist(d)(q, df16)}} {
				if math.Abs(float64(c.got-c.want)) > 1e-3*(1+math.Abs(float64(c.want))) {
					t.Fatalf("n=%d %s: kernel %v, Dist %v", n, d, c.got, c.want)
				}
			}
		}
	}
}

// BenchmarkTyped784 is one distance between a float32 query and a stored
// 784-element uint8 or float16 vector, next to BenchmarkL2784 (float32).
func BenchmarkTyped784(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 3))
	q := make([]float32, 784)
	u8, f16 := make([]byte, 784), make([]byte, 2*784)
	h := Uint16s(f16)
	for i := range q {
		q[i] = float32(r.IntN(256))
		u8[i] = byte(r.IntN(256))
		h[i] = F32ToF16(float32(r.IntN(256)))
	}
	for _, c := range []struct {
		name string
		k    func(q []float32, b []byte) float32
		b    []byte
	}{{"U8L2", KernelU8(api.DistanceEuclid), u8}, {"U8Dot", KernelU8(api.DistanceDot), u8}, {"F16L2", KernelF16(api.DistanceEuclid), f16}} {
		b.Run(c.name, func(b *testing.B) {
			var s float32
			for b.Loop() {
				s += c.k(q, c.b)
			}
			_ = s
		})
	}
}

// FuzzTypedKernels: for any stored bytes (every float16 bit pattern,
// NaN and infinities included) and query, the uint8 and float16 kernels
// (assembly where the CPU has it) agree with Dist over the decoded vector,
// and float16 encoding round-trips every decoded value.
func FuzzTypedKernels(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17}, float32(0.5))
	f.Add([]byte{0xff, 0x7b, 0x00, 0x7c, 0x01, 0x00}, float32(-3))
	f.Fuzz(func(t *testing.T, raw []byte, x float32) {
		if x != x || math.IsInf(float64(x), 0) || math.Abs(float64(x)) > 1e3 {
			return
		}
		n := len(raw) / 2
		if n == 0 {
			return
		}
		q := make([]float32, n)
		for i := range q {
			q[i] = x + float32(i%7)
		}
		u8 := raw[:n]
		f16 := append([]byte(nil), raw[:2*n]...) // 2-aligned copy
		du8, df16 := make([]float32, n), make([]float32, n)
		finite := true
		for i := range n {
			du8[i] = float32(u8[i])
			h := uint16(f16[2*i]) | uint16(f16[2*i+1])<<8
			df16[i] = F16ToF32(h)
			if v := df16[i]; v != v || math.IsInf(float64(v), 0) {
				finite = false
			} else if F16ToF32(F32ToF16(v)) != v {
				t.Fatalf("%04x decodes to %v, which encodes to %04x", h, v, F32ToF16(v))
			}
		}
		for _, d := range []api.Distance{api.DistanceDot, api.DistanceEuclid, api.DistanceManhattan} {
			if got, want := KernelU8(d)(q, u8), Dist(d)(q, du8); math.Abs(float64(got-want)) > 1e-4*(1+math.Abs(float64(want))) {
				t.Fatalf("%s uint8 %v: kernel %v, Dist %v", d, u8, got, want)
			}
			if !finite {
				continue
			}
			if got, want := KernelF16(d)(q, f16), Dist(d)(q, df16); math.Abs(float64(got-want)) > 1e-4*(1+math.Abs(float64(want))) {
				t.Fatalf("%s float16 %v: kernel %v, Dist %v", d, df16, got, want)
			}
		}
	})
}
