// Package quant holds Shoal's vector quantizers: compact codes of the
// vectors of one named vector that searches traverse instead of the
// originals (which then only rescore the best candidates). Scalar maps each
// element to a 7-bit code (Qdrant's scalar int8 quantization); Codes keeps
// the codes by dense offset, as index.Store keeps the originals.
package quant

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/index"
	"github.com/shoal-db/shoal/internal/vecmath"
)

// Levels is the number of code values of Scalar: codes run from 0 to 127,
// so that the AVX2 kernels multiply them as signed bytes (vecmath.DotCodes).
const Levels = 127

// Scalar is a trained scalar quantizer of one distance and dimension: an
// element x becomes the code round((clamp(x, Lo, Hi) − Lo) / α) with
// α = (Hi − Lo) / 127, and decodes to Lo + α·code. It is immutable.
type Scalar struct {
	dist   api.Distance
	dim    int
	stride int // dim rounded up to 64: codes are padded with zeros
	lo, hi float32
	alpha  float32
}

// TrainScalar returns the quantizer whose range [Lo, Hi] covers the middle
// quantile of the element values of sample (quantile in (0, 1]; 1 takes
// the minimum and maximum), as Qdrant's quantile does. A sample without
// values gives the range [0, 0] (every code 0).
func TrainScalar(dist api.Distance, dim int, sample [][]float32, quantile float64) *Scalar {
	if quantile <= 0 || quantile > 1 {
		quantile = 1
	}
	var lo, hi float32
	if quantile == 1 {
		first := true
		for _, v := range sample {
			for _, x := range v {
				if first {
					lo, hi, first = x, x, false
				}
				lo, hi = min(lo, x), max(hi, x)
			}
		}
	} else {
		var vals []float32
		for _, v := range sample {
			vals = append(vals, v...)
		}
		if len(vals) > 0 {
			slices.Sort(vals)
			cut := int(float64(len(vals)) * (1 - quantile) / 2)
			lo, hi = vals[cut], vals[len(vals)-1-cut]
		}
	}
	return NewScalar(dist, dim, lo, hi)
}

// NewScalar returns the quantizer of the range [lo, hi].
func NewScalar(dist api.Distance, dim int, lo, hi float32) *Scalar {
	if dim <= 0 {
		panic(fmt.Sprintf("quant: invalid dimension %d", dim))
	}
	if !(hi >= lo) || math.IsInf(float64(hi-lo), 0) {
		lo, hi = 0, 0
	}
	return &Scalar{dist: dist, dim: dim, stride: (dim + 63) &^ 63, lo: lo, hi: hi, alpha: (hi - lo) / Levels}
}

// Range returns the quantizer's range.
func (q *Scalar) Range() (lo, hi float32) { return q.lo, q.hi }

// Stride returns the bytes of one vector's codes (the dimension rounded up
// to a multiple of 64, padded with zero codes).
func (q *Scalar) Stride() int { return q.stride }

// Encode writes the codes of vec into dst (Stride bytes) and returns their
// sum and the sum of their squares (correction terms of the dot product
// and the squared distance).
func (q *Scalar) Encode(dst []byte, vec []float32) (sum, sq int32) {
	dst = dst[:q.stride]
	inv := float32(0)
	if q.alpha > 0 {
		inv = 1 / q.alpha
	}
	for i, x := range vec {
		c := (x - q.lo) * inv
		switch {
		case !(c > 0): // also NaN
			c = 0
		case c > Levels:
			c = Levels
		}
		b := byte(c + 0.5)
		dst[i] = b
		sum += int32(b)
		sq += int32(b) * int32(b)
	}
	clear(dst[len(vec):])
	return sum, sq
}

// Query is a query vector encoded for one quantizer.
type Query struct {
	q       *Scalar
	codes   []byte
	sum, sq int32
}

// Query encodes vec (of the quantizer's dimension) as a query.
func (q *Scalar) Query(vec []float32) *Query {
	if len(vec) != q.dim {
		panic(fmt.Sprintf("quant: query of dimension %d for dimension %d", len(vec), q.dim))
	}
	out := &Query{q: q, codes: make([]byte, q.stride)}
	out.sum, out.sq = q.Encode(out.codes, vec)
	return out
}

// Dist returns the approximate internal distance (vecmath.Dist's ordering
// and units, lower is better) between the query and a vector with codes c
// and correction terms s = Σb, sq = Σb²:
//   - Euclid: α²·Σ(a−b)² = α²·(Σa² + Σb² − 2·Σa·b) (the offset Lo
//     cancels; one dot product is cheaper than a kernel of differences);
//   - Dot, Cosine: −(d·Lo² + α·Lo·(Σa+Σb) + α²·Σa·b);
//   - Manhattan: α·Σ|a−b|.
func (qq *Query) Dist(c []byte, s, sq int32) float32 {
	q := qq.q
	switch q.dist {
	case api.DistanceEuclid:
		return q.alpha * q.alpha * float32(qq.sq+sq-2*vecmath.DotCodes(qq.codes, c))
	case api.DistanceManhattan:
		return q.alpha * float32(vecmath.L1Codes(qq.codes, c))
	default:
		dot := float32(q.dim)*q.lo*q.lo + q.alpha*q.lo*float32(qq.sum+s) + q.alpha*q.alpha*float32(vecmath.DotCodes(qq.codes, c))
		return -dot
	}
}

// Codes holds the codes of one quantizer by dense offset, in chunks of
// index.ChunkLen vectors (growth never copies codes). Its concurrency rules
// are index.Store's: Set calls are serialised internally, a Get of o must
// happen after the Set of o that wrote it.
type Codes struct {
	q      *Scalar
	chunks atomic.Pointer[[]codeChunk]
	growMu sync.Mutex
}

type codeChunk struct {
	codes []byte
	sums  []int32 // Σ codes of each vector
	sqs   []int32 // Σ codes² of each vector
}

// NewCodes returns an empty code store of q.
func NewCodes(q *Scalar) *Codes {
	c := &Codes{q: q}
	empty := []codeChunk{}
	c.chunks.Store(&empty)
	return c
}

// Quantizer returns the quantizer of the codes.
func (c *Codes) Quantizer() *Scalar { return c.q }

// Set encodes vec into offset off.
func (c *Codes) Set(off uint32, vec []float32) {
	c.growMu.Lock()
	defer c.growMu.Unlock()
	old := *c.chunks.Load()
	need := int(off>>chunkShift) + 1
	if need > len(old) {
		grown := make([]codeChunk, need, max(need, 2*len(old)))
		copy(grown, old)
		for i := len(old); i < need; i++ {
			grown[i] = codeChunk{codes: make([]byte, index.ChunkLen*c.q.stride), sums: make([]int32, index.ChunkLen), sqs: make([]int32, index.ChunkLen)}
		}
		c.chunks.Store(&grown)
		old = grown
	}
	ch := old[off>>chunkShift]
	i := int(off & (index.ChunkLen - 1))
	ch.sums[i], ch.sqs[i] = c.q.Encode(ch.codes[i*c.q.stride:(i+1)*c.q.stride], vec)
}

const chunkShift = 10 // index.ChunkLen == 1 << chunkShift

func init() {
	if index.ChunkLen != 1<<chunkShift {
		panic("quant: chunkShift does not match index.ChunkLen")
	}
}

// Len returns the offsets backed by memory.
func (c *Codes) Len() int { return len(*c.chunks.Load()) * index.ChunkLen }

// Bytes returns the memory of the codes.
func (c *Codes) Bytes() int64 {
	return int64(len(*c.chunks.Load())) * index.ChunkLen * int64(c.q.stride+8)
}

// ReleaseChunk frees the codes of chunk i (under index.Store.ReleaseChunk's
// rules); its offsets read as zero codes from then on.
func (c *Codes) ReleaseChunk(i int) {
	c.growMu.Lock()
	defer c.growMu.Unlock()
	old := *c.chunks.Load()
	if i < 0 || i >= len(old) || old[i].codes == nil {
		return
	}
	next := slices.Clone(old)
	next[i] = codeChunk{}
	c.chunks.Store(&next)
}

// Dist returns qq's distance to the vector at off. An offset that was never
// set (or was released) scores as zero codes.
func (c *Codes) Dist(qq *Query, off uint32) float32 {
	chunks := *c.chunks.Load()
	ci := int(off >> chunkShift)
	if ci >= len(chunks) || chunks[ci].codes == nil {
		return qq.Dist(zeroCodes(c.q.stride), 0, 0)
	}
	ch := chunks[ci]
	i := int(off & (index.ChunkLen - 1))
	return qq.Dist(ch.codes[i*c.q.stride:(i+1)*c.q.stride:(i+1)*c.q.stride], ch.sums[i], ch.sqs[i])
}

var zeros = make([]byte, api.MaxVectorDim)

func zeroCodes(n int) []byte { return zeros[:n] }

// Searcher scores offsets against one query for a graph search
// (hnsw.Scorer): it reads the code store through the chunk directory it
// loaded last (reloading it for offsets beyond), and prefetches codes.
type Searcher struct {
	c      *Codes
	qq     *Query
	chunks []codeChunk
}

// Searcher returns a Searcher of qq over c.
func (c *Codes) Searcher(qq *Query) *Searcher {
	return &Searcher{c: c, qq: qq, chunks: *c.chunks.Load()}
}

func (s *Searcher) chunk(off uint32) *codeChunk {
	ci := int(off >> chunkShift)
	if ci >= len(s.chunks) {
		s.chunks = *s.c.chunks.Load()
		if ci >= len(s.chunks) {
			return nil
		}
	}
	if s.chunks[ci].codes == nil {
		return nil
	}
	return &s.chunks[ci]
}

// Dist returns the query's distance to the vector at off (zero codes for
// an offset never set or released).
func (s *Searcher) Dist(off uint32) float32 {
	ch := s.chunk(off)
	st := s.c.q.stride
	if ch == nil {
		return s.qq.Dist(zeroCodes(st), 0, 0)
	}
	i := int(off & (index.ChunkLen - 1))
	return s.qq.Dist(ch.codes[i*st:(i+1)*st:(i+1)*st], ch.sums[i], ch.sqs[i])
}

// searchAhead is how many offsets ahead DistBatch prefetches codes.
const searchAhead = 2

// DistBatch sets out[i] to Dist(offs[i]) (hnsw.BatchScorer), prefetching
// the codes searchAhead offsets ahead; for Euclid, Dot and Cosine in one
// loop without further calls than the kernel's.
func (s *Searcher) DistBatch(offs []uint32, out []float32) {
	out = out[:len(offs)]
	q := s.c.q
	if q.dist != api.DistanceEuclid && q.dist != api.DistanceDot && q.dist != api.DistanceCosine {
		for j, off := range offs {
			if j+searchAhead < len(offs) {
				s.Prefetch(offs[j+searchAhead])
			}
			out[j] = s.Dist(off)
		}
		return
	}
	for j := range min(searchAhead, len(offs)) {
		s.Prefetch(offs[j])
	}
	st := q.stride
	a2 := q.alpha * q.alpha
	qc, qsq := s.qq.codes[:st], s.qq.sq
	if q.dist != api.DistanceEuclid {
		// Dot and Cosine: Query.Dist's terms, in its order.
		base, al, qsum := float32(q.dim)*q.lo*q.lo, q.alpha*q.lo, s.qq.sum
		for j, off := range offs {
			if j+searchAhead < len(offs) {
				s.Prefetch(offs[j+searchAhead])
			}
			ch := s.chunk(off)
			if ch == nil {
				out[j] = s.qq.Dist(zeroCodes(st), 0, 0)
				continue
			}
			i := int(off & (index.ChunkLen - 1))
			out[j] = -(base + al*float32(qsum+ch.sums[i]) + a2*float32(vecmath.DotCodes(qc, ch.codes[i*st:(i+1)*st:(i+1)*st])))
		}
		return
	}
	for j, off := range offs {
		if j+searchAhead < len(offs) {
			s.Prefetch(offs[j+searchAhead])
		}
		ch := s.chunk(off)
		if ch == nil {
			out[j] = s.qq.Dist(zeroCodes(st), 0, 0)
			continue
		}
		i := int(off & (index.ChunkLen - 1))
		out[j] = a2 * float32(qsq+ch.sqs[i]-2*vecmath.DotCodes(qc, ch.codes[i*st:(i+1)*st:(i+1)*st]))
	}
}

// Prefetch starts loading the codes of off, and the sum (Dot, Cosine) or
// sum of squares (Euclid) that its distance needs, which live apart.
func (s *Searcher) Prefetch(off uint32) {
	if ch := s.chunk(off); ch != nil {
		i := int(off & (index.ChunkLen - 1))
		vecmath.PrefetchCodes(ch.codes[i*s.c.q.stride:])
		switch s.c.q.dist {
		case api.DistanceEuclid:
			vecmath.PrefetchCodes(unsafe.Slice((*byte)(unsafe.Pointer(&ch.sqs[i])), 4))
		case api.DistanceDot, api.DistanceCosine:
			vecmath.PrefetchCodes(unsafe.Slice((*byte)(unsafe.Pointer(&ch.sums[i])), 4))
		}
	}
}
