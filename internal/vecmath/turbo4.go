package vecmath

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/shoal-db/shoal/internal/api"
)

// Turbo4 vectors (Qdrant's datatype turbo4, after TurboQuant) keep 4 bits
// per element: the vector is rotated by a fixed random orthogonal map
// (index/turbo4.go), which makes its coordinates near-Gaussian with
// variance |v|²/dim, and each rotated coordinate is stored as the index of
// the nearest of 16 levels, the Lloyd–Max quantizer of a standard normal
// scaled by |v|/sqrt(dim). The encoding of one vector of dimension dim is
// Turbo4Bytes(dim) bytes:
//
//	bytes 0..3   scale s, float32 little-endian: the rotated coordinate i
//	             is approximated by s·Turbo4Levels[code i]
//	bytes 4..    the codes, two per byte: element 2j in the low nibble of
//	             byte 4+j, element 2j+1 in its high nibble (an odd
//	             dimension leaves the last high nibble zero)
//
// The kernels compare a query already rotated the same way (index.Store
// Query) with the codes, without undoing the rotation: rotations keep dot
// products and Euclidean distances, so the distance to the rotated query
// is the distance to the decoded vector (up to float32 rounding).
// Manhattan distance is not kept by rotations and has no turbo4 kernel.

// Turbo4Levels are the 16 reconstruction levels of the Lloyd–Max quantizer
// of a standard normal variable (mean squared error 0.0095), ascending.
var Turbo4Levels = [16]float32{
	-2.7325895710, -2.0690172265, -1.6180463860, -1.2562311973,
	-0.9423404565, -0.6567591185, -0.3880482995, -0.1283950299,
	0.1283950299, 0.3880482995, 0.6567591185, 0.9423404565,
	1.2562311973, 1.6180463860, 2.0690172265, 2.7325895710,
}

// Turbo4Bytes returns the bytes of one turbo4 vector of dimension dim: a
// float32 scale and dim 4-bit codes.
func Turbo4Bytes(dim int) int { return 4 + (dim+1)/2 }

// Turbo4Scale returns the scale of the turbo4 encoding b.
func Turbo4Scale(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) }

// KernelT4 returns Dist(d) between a rotated float32 query q and a turbo4
// vector b (Turbo4Bytes(len(q)) bytes): Cosine and Dot the negated dot
// product, Euclid the squared distance. It panics for Manhattan.
func KernelT4(d api.Distance) func(q []float32, b []byte) float32 {
	switch d {
	case api.DistanceCosine, api.DistanceDot:
		return func(q []float32, b []byte) float32 { return -dotT4(q, b) }
	case api.DistanceEuclid:
		return l2T4
	case api.DistanceManhattan:
		panic("vecmath: turbo4 vectors have no Manhattan kernel")
	}
	panic(fmt.Sprintf("vecmath: unknown distance %q", d))
}

// dotT4 returns the dot product of q and the turbo4 vector b. Eight
// accumulators over four code bytes per iteration: the loop is bound by
// the latency of the additions, not by the loads.
func dotT4(q []float32, b []byte) float32 {
	s := Turbo4Scale(b)
	c := b[4 : 4+len(q)/2]
	lv := &Turbo4Levels
	var a0, a1, a2, a3, a4, a5, a6, a7 float32
	j := 0
	for ; j+3 < len(c); j += 4 {
		cc := c[j : j+4 : j+4]
		qq := q[2*j : 2*j+8 : 2*j+8]
		a0 += qq[0] * lv[cc[0]&15]
		a1 += qq[1] * lv[cc[0]>>4]
		a2 += qq[2] * lv[cc[1]&15]
		a3 += qq[3] * lv[cc[1]>>4]
		a4 += qq[4] * lv[cc[2]&15]
		a5 += qq[5] * lv[cc[2]>>4]
		a6 += qq[6] * lv[cc[3]&15]
		a7 += qq[7] * lv[cc[3]>>4]
	}
	for ; j < len(c); j++ {
		x := c[j]
		a0 += q[2*j] * lv[x&15]
		a1 += q[2*j+1] * lv[x>>4]
	}
	if len(q)&1 == 1 {
		a2 += q[len(q)-1] * lv[b[4+len(c)]&15]
	}
	return s * (((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)))
}

// l2T4 returns the squared Euclidean distance between q and the turbo4
// vector b, as dotT4 does the dot product.
func l2T4(q []float32, b []byte) float32 {
	s := Turbo4Scale(b)
	var t [16]float32
	for i, l := range Turbo4Levels {
		t[i] = s * l
	}
	c := b[4 : 4+len(q)/2]
	var a0, a1, a2, a3, a4, a5, a6, a7 float32
	j := 0
	for ; j+3 < len(c); j += 4 {
		cc := c[j : j+4 : j+4]
		qq := q[2*j : 2*j+8 : 2*j+8]
		d0 := qq[0] - t[cc[0]&15]
		d1 := qq[1] - t[cc[0]>>4]
		d2 := qq[2] - t[cc[1]&15]
		d3 := qq[3] - t[cc[1]>>4]
		d4 := qq[4] - t[cc[2]&15]
		d5 := qq[5] - t[cc[2]>>4]
		d6 := qq[6] - t[cc[3]&15]
		d7 := qq[7] - t[cc[3]>>4]
		a0 += d0 * d0
		a1 += d1 * d1
		a2 += d2 * d2
		a3 += d3 * d3
		a4 += d4 * d4
		a5 += d5 * d5
		a6 += d6 * d6
		a7 += d7 * d7
	}
	for ; j < len(c); j++ {
		x := c[j]
		d0 := q[2*j] - t[x&15]
		d1 := q[2*j+1] - t[x>>4]
		a0 += d0 * d0
		a1 += d1 * d1
	}
	if len(q)&1 == 1 {
		d := q[len(q)-1] - t[b[4+len(c)]&15]
		a2 += d * d
	}
	return ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))
}
