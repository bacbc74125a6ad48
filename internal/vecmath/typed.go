package vecmath

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/shoal-db/shoal/internal/api"
)

// Kernels between a float32 query and a stored vector of another element
// type (Qdrant's vector datatypes): uint8 elements (one byte each) and
// IEEE 754 half-precision float16 elements (two little-endian bytes each).
// They return Dist's internal distance as if the stored vector were
// decoded to float32 first, reading len(q) elements of b. Dot, Cosine and
// Euclid run the AVX2/FMA (and F16C) assembly of typed_amd64.s over whole
// groups of 8 elements where the CPU has it, and plain Go loops otherwise
// and for Manhattan.

// F16ToF32 returns the float32 value of the half-precision bits h.
func F16ToF32(h uint16) float32 { return f16Table[h] }

// f16Table maps every half-precision bit pattern to its float32 value;
// computed once at start-up, never written afterwards.
var f16Table = func() *[1 << 16]float32 {
	var t [1 << 16]float32
	for i := range t {
		t[i] = f16Decode(uint16(i))
	}
	return &t
}()

func f16Decode(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf or NaN
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: mant · 2^-24
		v := float32(mant) * (1.0 / (1 << 24))
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// MaxFloat16 is the largest finite half-precision value.
const MaxFloat16 = 65504

// F32ToF16 returns the half-precision bits nearest to f (ties to even);
// magnitudes beyond MaxFloat16 (after rounding) become infinities.
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff { // Inf or NaN
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		// Subnormal half (or zero): shift the full significand.
		if e < -10 {
			return sign
		}
		m := mant | 0x800000
		shift := uint32(14 - e)
		half := m >> shift
		rem := m & (1<<shift - 1)
		mid := uint32(1) << (shift - 1)
		if rem > mid || (rem == mid && half&1 != 0) {
			half++
		}
		return sign | uint16(half)
	}
	half := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && half&1 != 0) {
		half++ // may carry into the exponent, up to infinity: correct
	}
	return sign | uint16(half)
}

// RoundF16 returns f rounded to the nearest half-precision value.
func RoundF16(f float32) float32 { return F16ToF32(F32ToF16(f)) }

// Uint16s returns the little-endian uint16 elements of the bytes b (two per
// element; b's address must be 2-aligned, as every store chunk is).
func Uint16s(b []byte) []uint16 {
	if len(b) < 2 {
		return nil
	}
	return unsafe.Slice((*uint16)(unsafe.Pointer(&b[0])), len(b)/2)
}

// KernelU8 returns Dist(d) between a float32 query and a vector of uint8
// elements. Cosine is the dot product, as for float32 (the caller stores
// what it means to compare).
func KernelU8(d api.Distance) func(q []float32, b []byte) float32 {
	if useTypedU8Asm {
		switch d {
		case api.DistanceCosine, api.DistanceDot:
			return func(q []float32, b []byte) float32 {
				b = b[:len(q)]
				n := len(q) &^ 7
				return -(dotU8F32AVX2(q[:n], b) + dotU8Tail(q[n:], b[n:]))
			}
		case api.DistanceEuclid:
			return func(q []float32, b []byte) float32 {
				b = b[:len(q)]
				n := len(q) &^ 7
				return l2U8F32AVX2(q[:n], b) + l2U8Tail(q[n:], b[n:])
			}
		}
	}
	switch d {
	case api.DistanceCosine, api.DistanceDot:
		return func(q []float32, b []byte) float32 {
			b = b[:len(q)]
			var s0, s1, s2, s3 float32
			i := 0
			for ; i+4 <= len(q); i += 4 {
				s0 += q[i] * float32(b[i])
				s1 += q[i+1] * float32(b[i+1])
				s2 += q[i+2] * float32(b[i+2])
				s3 += q[i+3] * float32(b[i+3])
			}
			for ; i < len(q); i++ {
				s0 += q[i] * float32(b[i])
			}
			return -(s0 + s1 + s2 + s3)
		}
	case api.DistanceEuclid:
		return func(q []float32, b []byte) float32 {
			b = b[:len(q)]
			var s0, s1, s2, s3 float32
			i := 0
			for ; i+4 <= len(q); i += 4 {
				d0, d1 := q[i]-float32(b[i]), q[i+1]-float32(b[i+1])
				d2, d3 := q[i+2]-float32(b[i+2]), q[i+3]-float32(b[i+3])
				s0 += d0 * d0
				s1 += d1 * d1
				s2 += d2 * d2
				s3 += d3 * d3
			}
			for ; i < len(q); i++ {
				d0 := q[i] - float32(b[i])
				s0 += d0 * d0
			}
			return s0 + s1 + s2 + s3
		}
	case api.DistanceManhattan:
		return func(q []float32, b []byte) float32 {
			b = b[:len(q)]
			var s float32
			for i, x := range q {
				s += float32(math.Abs(float64(x - float32(b[i]))))
			}
			return s
		}
	}
	panic(fmt.Sprintf("vecmath: unknown distance %q", d))
}

// KernelF16 returns Dist(d) between a float32 query and a vector of
// float16 elements (2·len(q) bytes of b).
func KernelF16(d api.Distance) func(q []float32, b []byte) float32 {
	t := f16Table
	if useTypedF16Asm {
		switch d {
		case api.DistanceCosine, api.DistanceDot:
			return func(q []float32, b []byte) float32 {
				b = b[:2*len(q)]
				n := len(q) &^ 7
				return -(dotF16F32AVX2(q[:n], b) + dotF16Tail(q[n:], b[2*n:]))
			}
		case api.DistanceEuclid:
			return func(q []float32, b []byte) float32 {
				b = b[:2*len(q)]
				n := len(q) &^ 7
				return l2F16F32AVX2(q[:n], b) + l2F16Tail(q[n:], b[2*n:])
			}
		}
	}
	switch d {
	case api.DistanceCosine, api.DistanceDot:
		return func(q []float32, b []byte) float32 {
			h := Uint16s(b)[:len(q)]
			var s0, s1, s2, s3 float32
			i := 0
			for ; i+4 <= len(q); i += 4 {
				s0 += q[i] * t[h[i]]
				s1 += q[i+1] * t[h[i+1]]
				s2 += q[i+2] * t[h[i+2]]
				s3 += q[i+3] * t[h[i+3]]
			}
			for ; i < len(q); i++ {
				s0 += q[i] * t[h[i]]
			}
			return -(s0 + s1 + s2 + s3)
		}
	case api.DistanceEuclid:
		return func(q []float32, b []byte) float32 {
			h := Uint16s(b)[:len(q)]
			var s0, s1, s2, s3 float32
			i := 0
			for ; i+4 <= len(q); i += 4 {
				d0, d1 := q[i]-t[h[i]], q[i+1]-t[h[i+1]]
				d2, d3 := q[i+2]-t[h[i+2]], q[i+3]-t[h[i+3]]
				s0 += d0 * d0
				s1 += d1 * d1
				s2 += d2 * d2
				s3 += d3 * d3
			}
			for ; i < len(q); i++ {
				d0 := q[i] - t[h[i]]
				s0 += d0 * d0
			}
			return s0 + s1 + s2 + s3
		}
	case api.DistanceManhattan:
		return func(q []float32, b []byte) float32 {
			h := Uint16s(b)[:len(q)]
			var s float32
			for i, x := range q {
				s += float32(math.Abs(float64(x - t[h[i]])))
			}
			return s
		}
	}
	panic(fmt.Sprintf("vecmath: unknown distance %q", d))
}

// The tails of the assembly kernels: fewer than 8 elements, in Go.

func dotU8Tail(q []float32, b []byte) float32 {
	var s float32
	for i, x := range q {
		s += x * float32(b[i])
	}
	return s
}

func l2U8Tail(q []float32, b []byte) float32 {
	var s float32
	for i, x := range q {
		d := x - float32(b[i])
		s += d * d
	}
	return s
}

func dotF16Tail(q []float32, b []byte) float32 {
	var s float32
	for i, x := range q {
		s += x * F16ToF32(uint16(b[2*i])|uint16(b[2*i+1])<<8)
	}
	return s
}

func l2F16Tail(q []float32, b []byte) float32 {
	var s float32
	for i, x := range q {
		d := x - F16ToF32(uint16(b[2*i])|uint16(b[2*i+1])<<8)
		s += d * d
	}
	return s
}
