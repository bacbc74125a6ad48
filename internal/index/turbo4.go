package index

import (
	"encoding/binary"
	"math"
	"sync"

	"github.com/shoal-db/shoal/internal/vecmath"
)

// The turbo4 datatype (TurboQuant at 4 bits per element; the stored
// layout and the kernels are in vecmath/turbo4.go).
//
// Rotation. Every vector of dimension d is rotated by the same orthogonal
// map R_d before it is quantized, and every query by R_d before it is
// scored, so that the coordinates of any vector become near-Gaussian with
// variance |v|²/d and one fixed codebook fits them all. R_d is a
// randomized Hadamard construction that keeps the dimension (no padding to
// a power of two, so a vector takes d/2 bytes plus its scale): with n the
// largest power of two ≤ d, each of t4Rounds rounds permutes the
// coordinates, flips the signs of some, applies the normalised
// Walsh–Hadamard transform to the first n coordinates, flips signs again
// and applies it to the last n (the two blocks overlap unless d = n). Each
// step is orthogonal, so R_d is; three rounds spread every input
// coordinate over every output one. The permutations and signs come from
// a splitmix64 generator seeded with t4Seed and d alone, so every node and
// every restart computes the same R_d; it costs O(d log d) per vector and
// a few words of memory per dimension (cached in t4Rots).
//
// Reproducibility: the encoder and decoder use float64 additions,
// subtractions, negations and products that are explicitly rounded
// (float64(x*y)), which the Go spec forbids fusing into FMA instructions,
// and no assembly, so every architecture computes the same codes for the
// same vector. Replicas encode their own copies of the original vectors,
// and their digests (which hash the decoded vectors) agree.
//
// Encoding of v (float32, dimension d): y = R_d v in float64; σ = |v|/√d;
// code i = the level of vecmath.Turbo4Levels nearest to y_i/σ (ties below);
// scale s = Σ y_i·L[c_i] / Σ L[c_i]² (the least-squares scale of the
// chosen levels, at most σ's error and usually less), stored as float32.
// A zero (or non-finite) vector stores scale 0 and decodes to zeros.
// Decoding: R_dᵀ (s·L[c]) in float64, rounded to float32.

const (
	t4Rounds = 3
	t4Seed   = 0x7475_7262_6f34_0001 // "turb" "o4", version 1: never change
)

// t4Rot is the rotation R_d of one dimension.
type t4Rot struct {
	d, n  int
	inv   float64 // 1/√n
	perm  [t4Rounds][]int32
	flip1 [t4Rounds][]bool // before the first block's transform
	flip2 [t4Rounds][]bool // before the last block's transform
}

var t4Rots sync.Map // int → *t4Rot

// t4Thresholds[k] is the boundary between levels k and k+1 (their
// midpoint), in float64.
var t4Thresholds = func() (t [15]float64) {
	for k := range t {
		t[k] = (float64(vecmath.Turbo4Levels[k]) + float64(vecmath.Turbo4Levels[k+1])) / 2
	}
	return t
}()

// splitmix64 is a tiny deterministic generator (its algorithm is fixed
// here, unlike math/rand's).
type splitmix64 uint64

func (s *splitmix64) next() uint64 {
	*s += 0x9e3779b97f4a7c15
	z := uint64(*s)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// turbo4Rotation returns R_d, computing it on first use.
func turbo4Rotation(d int) *t4Rot {
	if r, ok := t4Rots.Load(d); ok {
		return r.(*t4Rot)
	}
	n := 1
	for n*2 <= d {
		n *= 2
	}
	r := &t4Rot{d: d, n: n, inv: 1 / math.Sqrt(float64(n))}
	rng := splitmix64(t4Seed ^ uint64(d)*0x9e3779b97f4a7c15)
	for k := range t4Rounds {
		p := make([]int32, d)
		for i := range p {
			p[i] = int32(i)
		}
		for i := d - 1; i > 0; i-- {
			j := int(rng.next() % uint64(i+1))
			p[i], p[j] = p[j], p[i]
		}
		r.perm[k] = p
		f1, f2 := make([]bool, d), make([]bool, d)
		for i := range d {
			f1[i] = rng.next()&1 == 1
			f2[i] = rng.next()&1 == 1
		}
		r.flip1[k], r.flip2[k] = f1, f2
	}
	got, _ := t4Rots.LoadOrStore(d, r)
	return got.(*t4Rot)
}

// fwht applies the normalised Walsh–Hadamard transform to v (a power of
// two long), scaling by inv = 1/√len(v). It is its own inverse.
func fwht(v []float64, inv float64) {
	n := len(v)
	for h := 1; h < n; h *= 2 {
		for i := 0; i < n; i += 2 * h {
			a := v[i : i+h : i+h]
			b := v[i+h : i+2*h : i+2*h]
			for j := range a {
				x, y := a[j], b[j]
				a[j], b[j] = x+y, x-y
			}
		}
	}
	for i := range v {
		v[i] = float64(v[i] * inv)
	}
}

func flip(v []float64, f []bool) {
	for i, neg := range f {
		if neg {
			v[i] = -v[i]
		}
	}
}

// forward rotates v in place (tmp: scratch of the same length).
func (r *t4Rot) forward(v, tmp []float64) {
	for k := range t4Rounds {
		for i, p := range r.perm[k] {
			tmp[i] = v[p]
		}
		copy(v, tmp)
		flip(v, r.flip1[k])
		fwht(v[:r.n], r.inv)
		flip(v, r.flip2[k])
		fwht(v[r.d-r.n:], r.inv)
	}
}

// inverse undoes forward in place.
func (r *t4Rot) inverse(v, tmp []float64) {
	for k := t4Rounds - 1; k >= 0; k-- {
		fwht(v[r.d-r.n:], r.inv)
		flip(v, r.flip2[k])
		fwht(v[:r.n], r.inv)
		flip(v, r.flip1[k])
		for i, p := range r.perm[k] {
			tmp[p] = v[i]
		}
		copy(v, tmp)
	}
}

// t4Scratch pools float64 scratch for encoding and decoding.
var t4Scratch sync.Pool // *[]float64

func getScratch(n int) *[]float64 {
	if p, ok := t4Scratch.Get().(*[]float64); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	b := make([]float64, n)
	return &b
}

// turbo4Encode writes the turbo4 encoding of vec into dst
// (vecmath.Turbo4Bytes(len(vec)) bytes).
func turbo4Encode(dst []byte, vec []float32) {
	d := len(vec)
	clear(dst)
	var nn float64
	for _, x := range vec {
		f := float64(x)
		nn += float64(f * f)
	}
	if nn == 0 || math.IsNaN(nn) || math.IsInf(nn, 0) {
		return // scale 0: decodes to zeros
	}
	sp := getScratch(2 * d)
	defer t4Scratch.Put(sp)
	y, tmp := (*sp)[:d], (*sp)[d:]
	for i, x := range vec {
		y[i] = float64(x)
	}
	turbo4Rotation(d).forward(y, tmp)
	inv := 1 / math.Sqrt(nn/float64(d))
	th := &t4Thresholds
	var num, den float64
	codes := dst[4:]
	for i, v := range y {
		t := float64(v * inv)
		c := 0
		if t > th[c+7] {
			c += 8
		}
		if t > th[c+3] {
			c += 4
		}
		if t > th[c+1] {
			c += 2
		}
		if t > th[c] {
			c++
		}
		l := float64(vecmath.Turbo4Levels[c])
		num += float64(v * l)
		den += float64(l * l)
		codes[i/2] |= byte(c) << (4 * (i & 1))
	}
	binary.LittleEndian.PutUint32(dst, math.Float32bits(float32(num/den)))
}

// turbo4Rotated writes the rotated coordinates the turbo4 encoding raw
// stands for, s·L[code], into dst (its length is the dimension).
func turbo4Rotated(dst []float64, raw []byte) {
	s := float64(vecmath.Turbo4Scale(raw))
	codes := raw[4:]
	for i := range dst {
		c := codes[i/2] >> (4 * (i & 1)) & 15
		dst[i] = float64(s * float64(vecmath.Turbo4Levels[c]))
	}
}

// turbo4Decode writes the vector of the turbo4 encoding raw into dst (its
// length is the dimension): the inverse rotation of the dequantized
// coordinates.
func turbo4Decode(dst []float32, raw []byte) []float32 {
	d := len(dst)
	sp := getScratch(2 * d)
	defer t4Scratch.Put(sp)
	y, tmp := (*sp)[:d], (*sp)[d:]
	turbo4Rotated(y, raw)
	turbo4Rotation(d).inverse(y, tmp)
	for i, v := range y {
		dst[i] = float32(v)
	}
	return dst
}

// turbo4Query returns q rotated by R_len(q), as float32s.
func turbo4Query(q []float32) []float32 {
	d := len(q)
	sp := getScratch(2 * d)
	defer t4Scratch.Put(sp)
	y, tmp := (*sp)[:d], (*sp)[d:]
	for i, x := range q {
		y[i] = float64(x)
	}
	turbo4Rotation(d).forward(y, tmp)
	out := make([]float32, d)
	for i, v := range y {
		out[i] = float32(v)
	}
	return out
}
