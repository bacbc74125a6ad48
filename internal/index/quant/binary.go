package quant

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/index"
	"github.com/shoal-db/shoal/internal/vecmath"
)

// Binary is Qdrant's binary quantizer of one distance and dimension, with
// one or two bits per element.
//
// One bit (encoding one_bit): element i of a vector becomes bit i, set
// when the element is positive (NaN counts as not positive). The code
// stands for the sign vector s ∈ {−1, +1}^dim.
//
// Two bits (encoding two_bits): element i is placed by its z-score
// z = (x − mean_i)/sd_i, with the per-element mean and standard deviation
// trained from the vectors (TrainBinary), into one of three levels, −1
// (z ≤ −2/3), 0 (−2/3 < z < 2/3) and +1 (z ≥ 2/3), written as a
// thermometer code: bit i is set for levels 0 and +1, bit dim+i for +1.
// An element whose deviation is zero is placed by its sign alone (levels
// −1 and 0, as Qdrant does). The code stands for the level vector
// s ∈ {−1, 0, +1}^dim, and Hamming distance between two codes is the L1
// distance between their levels.
//
// Distances are those between the query and s:
//
//   - a binary query (query_encoding default or binary) is encoded the same
//     way, and with h the Hamming distance between query and code, Dot and
//     Cosine give −(dim − 2h) (so the score without rescoring is Qdrant's
//     dim − 2h), Euclid 4h and Manhattan 2h: exact between two sign
//     vectors, Qdrant's ordering for two bits;
//   - an asymmetric query (scalar4bits, scalar8bits) keeps its elements
//     x: every distance to s is C + Σ bⱼ·wⱼ over the code's bits bⱼ with
//     per-query weights, since each distance is linear in the bits (one
//     bit, s = 2b − 1: Dot and Cosine −x·s = Σx − 2Σbᵢxᵢ; Euclid
//     ‖x − s‖² = ‖x‖² + dim + 2Σx − 4Σbᵢxᵢ; Manhattan Σ|xᵢ + 1| +
//     Σbᵢ(|xᵢ − 1| − |xᵢ + 1|); two bits, s = b + b' − 1 and s² =
//     1 − b + b' for the thermometer pair (b, b'): Dot −x·s = Σx − Σbᵢxᵢ −
//     Σb'ᵢxᵢ; Euclid Σ(x + 1)² + Σbᵢ(−2xᵢ − 1) + Σb'ᵢ(1 − 2xᵢ); Manhattan
//     Σ|xᵢ + 1| + Σbᵢ(|xᵢ| − |xᵢ + 1|) + Σb'ᵢ(|xᵢ − 1| − |xᵢ|)), and the
//     weights are quantized to 4 or 8 bits, one bit plane each, so that
//     Σbⱼwⱼ is a sum of popcount(plane AND code) (vecmath.AndBits).
//
// A Binary is immutable once made.
type Binary struct {
	dist      api.Distance
	dim       int
	words     int // 64-bit words of one code
	queryBits int // 0: binary queries; 4 or 8: asymmetric
	two       bool
	mean, sd  []float32 // two bits: per-element statistics
}

// NewBinary returns the one-bit binary quantizer of dist and dim whose
// queries are encoded with queryBits bits per element: 0 (binary, like the
// codes), 4 or 8.
func NewBinary(dist api.Distance, dim, queryBits int) *Binary {
	if dim <= 0 {
		panic(fmt.Sprintf("quant: invalid dimension %d", dim))
	}
	if queryBits != 0 && queryBits != 4 && queryBits != 8 {
		panic(fmt.Sprintf("quant: invalid query bits %d", queryBits))
	}
	return &Binary{dist: dist, dim: dim, words: (dim + 63) / 64, queryBits: queryBits}
}

// TrainBinary returns the two-bit binary quantizer of dist and dim whose
// queries are encoded with queryBits bits per element, its per-element
// mean and standard deviation computed over sample (vectors of dimension
// dim; non-finite values are left out).
func TrainBinary(dist api.Distance, dim, queryBits int, sample [][]float32) *Binary {
	q := NewBinary(dist, dim, queryBits)
	q.two, q.words = true, (2*dim+63)/64
	sum, sq, n := make([]float64, dim), make([]float64, dim), make([]float64, dim)
	for _, v := range sample {
		for i, x := range v[:dim] {
			if x != x || math.IsInf(float64(x), 0) {
				continue
			}
			sum[i] += float64(x)
			sq[i] += float64(x) * float64(x)
			n[i]++
		}
	}
	q.mean, q.sd = make([]float32, dim), make([]float32, dim)
	for i := range dim {
		if n[i] == 0 {
			continue
		}
		m := sum[i] / n[i]
		q.mean[i] = float32(m)
		q.sd[i] = float32(math.Sqrt(max(0, sq[i]/n[i]-m*m)))
	}
	return q
}

// twoBitSigmas is the half-width, in standard deviations, of the zero
// level of two-bit codes (Qdrant's).
const twoBitSigmas = 2.0 / 3.0

// level returns the two-bit level (−1, 0 or +1) of element i with value x.
func (q *Binary) level(i int, x float32) int {
	sd := q.sd[i]
	if sd < 0x1p-23 { // float32's epsilon: no deviation to scale by
		if x > 0 {
			return 0
		}
		return -1
	}
	z := (x - q.mean[i]) / sd
	switch {
	case z <= -twoBitSigmas:
		return -1
	case z < twoBitSigmas:
		return 0
	}
	return 1 // including NaN, which compares false above
}

// Words returns the 64-bit words of one vector's code.
func (q *Binary) Words() int { return q.words }

// Encode writes the code of vec into dst (Words words; bits past the code
// are zero).
func (q *Binary) Encode(dst []uint64, vec []float32) {
	dst = dst[:q.words]
	clear(dst)
	if q.two {
		for i, x := range vec {
			l := q.level(i, x)
			if l >= 0 {
				dst[i>>6] |= 1 << (i & 63)
			}
			if l > 0 {
				j := q.dim + i
				dst[j>>6] |= 1 << (j & 63)
			}
		}
		return
	}
	for i, x := range vec {
		if x > 0 {
			dst[i>>6] |= 1 << (i & 63)
		}
	}
}

// codeBits returns the bits of one code.
func (q *Binary) codeBits() int {
	if q.two {
		return 2 * q.dim
	}
	return q.dim
}

// BinaryQuery is a query vector encoded for one Binary quantizer.
type BinaryQuery struct {
	q            *Binary
	bits         []uint64   // binary query: its code
	planes       [][]uint64 // asymmetric query: bit plane j of the weight codes
	c, lo, alpha float32    // asymmetric: distance = c + lo·popcount(b) + alpha·Σⱼ 2ʲ·popcount(planeⱼ AND b)
}

// Query encodes vec (of the quantizer's dimension) as a query.
func (q *Binary) Query(vec []float32) *BinaryQuery {
	if len(vec) != q.dim {
		panic(fmt.Sprintf("quant: query of dimension %d for dimension %d", len(vec), q.dim))
	}
	out := &BinaryQuery{q: q}
	if q.queryBits == 0 {
		out.bits = make([]uint64, q.words)
		q.Encode(out.bits, vec)
		return out
	}
	w, c := q.weights(vec)
	lo, hi := slices.Min(w), slices.Max(w)
	levels := float32(int(1)<<q.queryBits - 1)
	alpha := (hi - lo) / levels
	inv := float32(0)
	if alpha > 0 {
		inv = 1 / alpha
	}
	out.planes = make([][]uint64, q.queryBits)
	for j := range out.planes {
		out.planes[j] = make([]uint64, q.words)
	}
	for i, x := range w {
		code := uint(min((x-lo)*inv+0.5, levels))
		for j := range out.planes {
			if code>>j&1 != 0 {
				out.planes[j][i>>6] |= 1 << (i & 63)
			}
		}
	}
	out.c, out.lo, out.alpha = float32(c), lo, alpha
	return out
}

// weights returns the per-bit weights w (one per code bit) and the
// constant c of an asymmetric query: its distance to a code's vector s is
// c + Σ bⱼwⱼ over the code's bits (see Binary).
func (q *Binary) weights(vec []float32) ([]float32, float64) {
	w := make([]float32, q.codeBits())
	var c float64
	for i, x := range vec {
		if x != x || math.IsInf(float64(x), 0) {
			x = 0
		}
		xf := float64(x)
		switch {
		case q.two && q.dist == api.DistanceEuclid:
			c += (xf + 1) * (xf + 1)
			w[i], w[q.dim+i] = float32(-2*xf-1), float32(1-2*xf)
		case q.two && q.dist == api.DistanceManhattan:
			a, b, d := math.Abs(xf+1), math.Abs(xf), math.Abs(xf-1)
			c += a
			w[i], w[q.dim+i] = float32(b-a), float32(d-b)
		case q.two:
			c += xf
			w[i], w[q.dim+i] = -x, -x
		case q.dist == api.DistanceEuclid:
			c += xf*xf + 1 + 2*xf
			w[i] = -4 * x
		case q.dist == api.DistanceManhattan:
			c += math.Abs(xf + 1)
			w[i] = float32(math.Abs(xf-1) - math.Abs(xf+1))
		default:
			c += xf
			w[i] = -2 * x
		}
	}
	return w, c
}

// Dist returns the approximate internal distance between the query and
// the vector with code b (see Binary).
func (qq *BinaryQuery) Dist(b []uint64) float32 {
	if qq.bits != nil {
		h := float32(vecmath.HammingBits(qq.bits, b))
		switch qq.q.dist {
		case api.DistanceEuclid:
			return 4 * h
		case api.DistanceManhattan:
			return 2 * h
		default:
			return 2*h - float32(qq.q.dim)
		}
	}
	var acc int
	for j, p := range qq.planes {
		acc += vecmath.AndBits(p, b) << j
	}
	return qq.c + qq.lo*float32(vecmath.CountBits(b)) + qq.alpha*float32(acc)
}

// BinaryCodes holds the codes of one Binary quantizer by dense offset, in
// chunks of index.ChunkLen vectors (growth never copies codes), under the
// concurrency rules of Codes.
type BinaryCodes struct {
	q      *Binary
	chunks atomic.Pointer[[][]uint64] // nil chunk: released
	growMu sync.Mutex
}

// NewBinaryCodes returns an empty code store of q.
func NewBinaryCodes(q *Binary) *BinaryCodes {
	c := &BinaryCodes{q: q}
	empty := [][]uint64{}
	c.chunks.Store(&empty)
	return c
}

// Quantizer returns the quantizer of the codes.
func (c *BinaryCodes) Quantizer() *Binary { return c.q }

// Set encodes vec into offset off.
func (c *BinaryCodes) Set(off uint32, vec []float32) {
	c.growMu.Lock()
	defer c.growMu.Unlock()
	old := *c.chunks.Load()
	need := int(off>>chunkShift) + 1
	if need > len(old) {
		grown := make([][]uint64, need, max(need, 2*len(old)))
		copy(grown, old)
		for i := len(old); i < need; i++ {
			grown[i] = make([]uint64, index.ChunkLen*c.q.words)
		}
		c.chunks.Store(&grown)
		old = grown
	}
	i := int(off & (index.ChunkLen - 1))
	w := c.q.words
	c.q.Encode(old[off>>chunkShift][i*w:(i+1)*w], vec)
}

// Bytes returns the memory of the codes.
func (c *BinaryCodes) Bytes() int64 {
	var n int64
	for _, ch := range *c.chunks.Load() {
		n += 8 * int64(len(ch))
	}
	return n
}

// ReleaseChunk frees the codes of chunk i (under index.Store.ReleaseChunk's
// rules); its offsets read as zero codes from then on.
func (c *BinaryCodes) ReleaseChunk(i int) {
	c.growMu.Lock()
	defer c.growMu.Unlock()
	old := *c.chunks.Load()
	if i < 0 || i >= len(old) || old[i] == nil {
		return
	}
	next := slices.Clone(old)
	next[i] = nil
	c.chunks.Store(&next)
}

// Get returns the code of off (zero words for an offset never set or
// released). The slice aliases the store.
func (c *BinaryCodes) Get(off uint32) []uint64 {
	return c.get(*c.chunks.Load(), off)
}

func (c *BinaryCodes) get(chunks [][]uint64, off uint32) []uint64 {
	w := c.q.words
	ci := int(off >> chunkShift)
	if ci >= len(chunks) || chunks[ci] == nil {
		return zeroWords[:w]
	}
	i := int(off & (index.ChunkLen - 1))
	return chunks[ci][i*w : (i+1)*w : (i+1)*w]
}

var zeroWords = make([]uint64, (api.MaxVectorDim+63)/64)

// Scorer returns a BinarySearcher of query over c.
func (c *BinaryCodes) Scorer(query []float32) Scorer {
	return &BinarySearcher{c: c, qq: c.q.Query(query), chunks: *c.chunks.Load()}
}

// BinarySearcher scores offsets against one query for a graph search
// (hnsw.Scorer): it reads the code store through the chunk directory it
// loaded last (reloading it for offsets beyond).
type BinarySearcher struct {
	c      *BinaryCodes
	qq     *BinaryQuery
	chunks [][]uint64
}

func (s *BinarySearcher) code(off uint32) []uint64 {
	if int(off>>chunkShift) >= len(s.chunks) {
		s.chunks = *s.c.chunks.Load()
	}
	return s.c.get(s.chunks, off)
}

// Dist returns the query's distance to the vector at off.
func (s *BinarySearcher) Dist(off uint32) float32 { return s.qq.Dist(s.code(off)) }

// Prefetch starts loading the code of off.
func (s *BinarySearcher) Prefetch(off uint32) { vecmath.PrefetchBits(s.code(off)) }
