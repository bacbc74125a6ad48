package quant

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/index"
	"github.com/shoal-db/shoal/internal/vecmath"
)

// Product is Qdrant's product quantizer of one distance and dimension: the
// vector is cut into sub-vectors of Sub consecutive elements (the last one
// may be shorter) and each sub-vector is replaced by the index (one byte)
// of the nearest of 256 centroids, trained by k-means on a sample; a
// compression of xR stands for Sub = R/4 elements (4·Sub bytes of float32)
// per code byte. Distances are asymmetric (ADC): the query stays float32,
// and a table of its partial distance to every centroid of every
// sub-vector makes a vector's distance the sum of one table entry per code
// byte. It is immutable once trained.
type Product struct {
	dist api.Distance
	dim  int
	sub  int // elements per sub-vector
	m    int // sub-vectors: ceil(dim/sub)
	// cents[j] holds the centroids of sub-vector j, k × width(j) floats.
	cents [][]float32
	// tcents[j] is cents[j] transposed, width(j) × k floats (element e of
	// every centroid together), for Encode's loops over the centroids.
	tcents [][]float32
	k      int // centroids per sub-vector: 256, or fewer for a small sample
}

// productIters is the number of k-means iterations of TrainProduct.
const productIters = 10

// CompressionSub returns the sub-vector length of Qdrant's compression
// ratio name ("x4" … "x64"), or 0 for an unknown name.
func CompressionSub(name string) int {
	switch name {
	case "x4":
		return 1
	case "x8":
		return 2
	case "x16":
		return 4
	case "x32":
		return 8
	case "x64":
		return 16
	}
	return 0
}

// TrainProduct trains the centroids of every sub-vector on sample by
// k-means (Euclidean, k-means++-free: the initial centroids are distinct
// sample rows picked by a seeded shuffle, so training is deterministic for
// a sample). A sample of fewer than 256 vectors gives that many centroids.
func TrainProduct(dist api.Distance, dim, sub int, sample [][]float32) *Product {
	if dim <= 0 || sub <= 0 {
		panic(fmt.Sprintf("quant: invalid product quantizer of dimension %d, sub-vectors of %d", dim, sub))
	}
	sub = min(sub, dim)
	p := &Product{dist: dist, dim: dim, sub: sub, m: (dim + sub - 1) / sub, k: min(256, max(1, len(sample)))}
	p.cents = make([][]float32, p.m)
	r := rand.New(rand.NewPCG(uint64(dim), uint64(sub)))
	perm := r.Perm(len(sample))
	for j := range p.m {
		lo, hi := j*sub, min((j+1)*sub, dim)
		w := hi - lo
		cents := make([]float32, p.k*w)
		for c := range p.k {
			if len(sample) > 0 {
				copy(cents[c*w:(c+1)*w], sample[perm[c]][lo:hi])
			}
		}
		assign := make([]int, len(sample))
		sums := make([]float64, p.k*w)
		counts := make([]int, p.k)
		t := make([]float32, len(cents))
		for range productIters {
			transpose(t, cents, p.k, w)
			for i, v := range sample {
				assign[i] = nearestT(t, p.k, v[lo:hi])
			}
			clear(sums)
			clear(counts)
			for i, v := range sample {
				c := assign[i]
				counts[c]++
				for e, x := range v[lo:hi] {
					sums[c*w+e] += float64(x)
				}
			}
			for c := range p.k {
				if counts[c] == 0 {
					continue // keep an empty cluster's centroid
				}
				for e := range w {
					cents[c*w+e] = float32(sums[c*w+e] / float64(counts[c]))
				}
			}
		}
		p.cents[j] = cents
	}
	p.tcents = make([][]float32, p.m)
	for j, cents := range p.cents {
		p.tcents[j] = make([]float32, len(cents))
		transpose(p.tcents[j], cents, p.k, len(cents)/p.k)
	}
	return p
}

// transpose writes the k centroids of width w in cents (centroid-major)
// into t element-major.
func transpose(t, cents []float32, k, w int) {
	for c := range k {
		for e := range w {
			t[e*k+c] = cents[c*w+e]
		}
	}
}

// nearestT returns the index of the centroid nearest to x (the first of
// equals) among the k centroids of t (element-major, len(x) elements):
// the squared distances to all centroids are accumulated element by
// element, a tight loop of k iterations per element.
func nearestT(t []float32, k int, x []float32) int {
	var acc [256]float32
	d := acc[:k]
	for e, v := range x {
		col := t[e*k : (e+1)*k]
		for c, y := range col {
			u := v - y
			d[c] += u * u
		}
	}
	best := 0
	for c, v := range d {
		if v < d[best] {
			best = c
		}
	}
	return best
}

// Bytes returns the bytes of one vector's code (the number of sub-vectors).
func (p *Product) Bytes() int { return p.m }

// Sub returns the elements per sub-vector.
func (p *Product) Sub() int { return p.sub }

// Encode writes the code of vec into dst (Bytes bytes): for each
// sub-vector the nearest centroid (the first of equals).
func (p *Product) Encode(dst []byte, vec []float32) {
	for j := range p.m {
		lo, hi := j*p.sub, min((j+1)*p.sub, p.dim)
		dst[j] = byte(nearestT(p.tcents[j], p.k, vec[lo:hi]))
	}
}

// ProductQuery is a query's ADC table for one Product quantizer.
type ProductQuery struct {
	table []float32 // m × 256: partial internal distance of sub-vector j to centroid c
}

// Query returns the ADC table of vec (of the quantizer's dimension):
// partial squared distances for Euclid, negated partial dot products for
// Dot and Cosine, partial Manhattan distances for Manhattan, so that the
// sum over a code is vecmath.Dist's internal distance to the decoded
// vector.
func (p *Product) Query(vec []float32) *ProductQuery {
	if len(vec) != p.dim {
		panic(fmt.Sprintf("quant: query of dimension %d for dimension %d", len(vec), p.dim))
	}
	t := make([]float32, p.m*256)
	for j := range p.m {
		lo, hi := j*p.sub, min((j+1)*p.sub, p.dim)
		row := t[j*256 : j*256+p.k]
		tc := p.tcents[j]
		// Element by element over the element-major centroids: one tight
		// loop over the centroids per element and distance.
		for e, x := range vec[lo:hi] {
			col := tc[e*p.k : (e+1)*p.k]
			switch p.dist {
			case api.DistanceEuclid:
				for c, y := range col {
					u := x - y
					row[c] += u * u
				}
			case api.DistanceManhattan:
				for c, y := range col {
					row[c] += float32(math.Abs(float64(x - y)))
				}
			default: // Dot, Cosine: the negated dot product
				for c, y := range col {
					row[c] -= x * y
				}
			}
		}
	}
	return &ProductQuery{table: t}
}

// Dist returns the approximate internal distance of the query to the
// vector with code b.
func (qq *ProductQuery) Dist(b []byte) float32 {
	t := qq.table
	var s0, s1 float32
	j := 0
	for ; j+2 <= len(b); j += 2 {
		s0 += t[j*256+int(b[j])]
		s1 += t[(j+1)*256+int(b[j+1])]
	}
	if j < len(b) {
		s0 += t[j*256+int(b[j])]
	}
	return s0 + s1
}

// ProductCodes holds the codes of one Product quantizer by dense offset, in
// chunks of index.ChunkLen vectors, under the concurrency rules of Codes.
type ProductCodes struct {
	q      *Product
	chunks atomic.Pointer[[][]byte] // nil chunk: released
	growMu sync.Mutex
}

// NewProductCodes returns an empty code store of q.
func NewProductCodes(q *Product) *ProductCodes {
	c := &ProductCodes{q: q}
	empty := [][]byte{}
	c.chunks.Store(&empty)
	return c
}

// Set encodes vec into offset off.
func (c *ProductCodes) Set(off uint32, vec []float32) {
	c.growMu.Lock()
	defer c.growMu.Unlock()
	old := *c.chunks.Load()
	need := int(off>>chunkShift) + 1
	if need > len(old) {
		grown := make([][]byte, need, max(need, 2*len(old)))
		copy(grown, old)
		for i := len(old); i < need; i++ {
			grown[i] = make([]byte, index.ChunkLen*c.q.m)
		}
		c.chunks.Store(&grown)
		old = grown
	}
	i := int(off & (index.ChunkLen - 1))
	m := c.q.m
	c.q.Encode(old[off>>chunkShift][i*m:(i+1)*m], vec)
}

// Bytes returns the memory of the codes and centroids.
func (c *ProductCodes) Bytes() int64 {
	var n int64
	for _, ch := range *c.chunks.Load() {
		n += int64(len(ch))
	}
	for _, ce := range c.q.cents {
		n += 4 * int64(len(ce))
	}
	return n
}

// ReleaseChunk frees the codes of chunk i (under index.Store.ReleaseChunk's
// rules); its offsets read as code 0 from then on.
func (c *ProductCodes) ReleaseChunk(i int) {
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

func (c *ProductCodes) get(chunks [][]byte, off uint32) []byte {
	m := c.q.m
	ci := int(off >> chunkShift)
	if ci >= len(chunks) || chunks[ci] == nil {
		return zeroCodes(m)
	}
	i := int(off & (index.ChunkLen - 1))
	return chunks[ci][i*m : (i+1)*m : (i+1)*m]
}

// Scorer returns a scorer of query over c.
func (c *ProductCodes) Scorer(query []float32) Scorer {
	return &productSearcher{c: c, qq: c.q.Query(query), chunks: *c.chunks.Load()}
}

// productSearcher scores offsets against one query's ADC table.
type productSearcher struct {
	c      *ProductCodes
	qq     *ProductQuery
	chunks [][]byte
}

func (s *productSearcher) code(off uint32) []byte {
	if int(off>>chunkShift) >= len(s.chunks) {
		s.chunks = *s.c.chunks.Load()
	}
	return s.c.get(s.chunks, off)
}

func (s *productSearcher) Dist(off uint32) float32 { return s.qq.Dist(s.code(off)) }

func (s *productSearcher) Prefetch(off uint32) { vecmath.PrefetchCodes(s.code(off)) }

// Decode returns the vector a code stands for: the concatenated centroids.
func (p *Product) Decode(code []byte) []float32 {
	out := make([]float32, 0, p.dim)
	for j := range p.m {
		w := min((j+1)*p.sub, p.dim) - j*p.sub
		c := int(code[j])
		out = append(out, p.cents[j][c*w:(c+1)*w]...)
	}
	return out
}
