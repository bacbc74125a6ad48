// Package sparse is the inverted index of one sparse vector name of a
// shard: the vectors by dense offset, a posting list per dimension, and
// exact dot-product top-k search over the postings (document at a time,
// pruned with per-list score bounds as in MaxScore) or over a candidate
// list (the planner's exact path for selective filters).
//
// Sparse vectors exist because lexical models (BM25, SPLADE) give each
// document a handful of weighted terms out of a vocabulary of millions:
// scoring touches only the postings of the query's terms.
//
// Concurrency: an Index has one writer at a time, and readers run while no
// writer does (the shard's state lock orders them); it has no locks of its
// own.
package sparse

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/shoal-db/shoal/internal/index"
	"github.com/shoal-db/shoal/internal/index/flat"
)

// Vector is a sparse vector: Values[i] is the weight of dimension
// Indices[i]. Vectors stored in or searched with an Index are sorted by
// index with unique indices (see Sorted).
type Vector struct {
	Indices []uint32
	Values  []float32
}

// Validate returns Qdrant's field and message for a malformed vector
// ("values", "must be the same length as indices"; "indices", "must be
// unique"), or empty strings.
func (v Vector) Validate() (field, msg string) {
	if len(v.Indices) != len(v.Values) {
		return "values", "must be the same length as indices"
	}
	seen := make(map[uint32]struct{}, len(v.Indices))
	for _, i := range v.Indices {
		if _, dup := seen[i]; dup {
			return "indices", "must be unique"
		}
		seen[i] = struct{}{}
	}
	for _, x := range v.Values {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return "values", "must be finite numbers"
		}
	}
	return "", ""
}

// Sorted returns v with its entries ordered by index (a copy when v is not
// already sorted). v must be valid.
func (v Vector) Sorted() Vector {
	if slices.IsSorted(v.Indices) {
		return v
	}
	perm := make([]int, len(v.Indices))
	for i := range perm {
		perm[i] = i
	}
	sort.Slice(perm, func(a, b int) bool { return v.Indices[perm[a]] < v.Indices[perm[b]] })
	out := Vector{Indices: make([]uint32, len(perm)), Values: make([]float32, len(perm))}
	for i, p := range perm {
		out.Indices[i], out.Values[i] = v.Indices[p], v.Values[p]
	}
	return out
}

// Dot returns the dot product of two sorted vectors and whether they share
// at least one index.
func Dot(a, b Vector) (float32, bool) {
	var s float32
	overlap := false
	i, j := 0, 0
	for i < len(a.Indices) && j < len(b.Indices) {
		switch x, y := a.Indices[i], b.Indices[j]; {
		case x < y:
			i++
		case x > y:
			j++
		default:
			s += a.Values[i] * b.Values[j]
			overlap = true
			i++
			j++
		}
	}
	return s, overlap
}

// posting is the list of one dimension: offsets ascending (offsets are
// added in increasing order and never reused) with their weights, and
// bounds of those weights for pruning (still bounds after removals).
type posting struct {
	offs     []uint32
	vals     []float32
	max, min float32
	dead     int // removed offsets still in the list
}

// Index is the inverted index of one sparse vector name.
type Index struct {
	vecs     map[uint32]Vector
	postings map[uint32]*posting
	removed  map[uint32]struct{} // offsets removed but possibly still in postings
	lastOff  uint32              // largest offset added, for the ordering check
	any      bool
}

// New returns an empty index.
func New() *Index {
	return &Index{vecs: map[uint32]Vector{}, postings: map[uint32]*posting{}, removed: map[uint32]struct{}{}}
}

// Len returns the number of vectors in the index.
func (x *Index) Len() int { return len(x.vecs) }

// Get returns the vector at off.
func (x *Index) Get(off uint32) (Vector, bool) {
	v, ok := x.vecs[off]
	return v, ok
}

// Has reports whether off holds a vector.
func (x *Index) Has(off uint32) bool {
	_, ok := x.vecs[off]
	return ok
}

// Each calls fn for every offset holding a vector, in no particular order.
func (x *Index) Each(fn func(off uint32, v Vector)) {
	for off, v := range x.vecs {
		fn(off, v)
	}
}

// Add stores v (sorted, valid) at off. Offsets must be added in increasing
// order and never twice (the shard's offsets are immutable).
func (x *Index) Add(off uint32, v Vector) {
	if x.any && off <= x.lastOff {
		panic(fmt.Sprintf("sparse: offset %d added after %d", off, x.lastOff))
	}
	x.any, x.lastOff = true, off
	x.vecs[off] = v
	for i, dim := range v.Indices {
		val := v.Values[i]
		p := x.postings[dim]
		if p == nil {
			p = &posting{max: val, min: val}
			x.postings[dim] = p
		}
		p.offs = append(p.offs, off)
		p.vals = append(p.vals, val)
		p.max, p.min = max(p.max, val), min(p.min, val)
	}
}

// Remove drops the vector at off, if any. Its posting entries are dropped
// lazily: a list is compacted once removed entries make up half of it.
func (x *Index) Remove(off uint32) {
	v, ok := x.vecs[off]
	if !ok {
		return
	}
	delete(x.vecs, off)
	x.removed[off] = struct{}{}
	for _, dim := range v.Indices {
		p := x.postings[dim]
		p.dead++
		if p.dead*2 >= len(p.offs) {
			x.compact(dim, p)
		}
	}
	if len(x.removed) > 1024 && len(x.removed) > len(x.vecs) {
		x.sweepRemoved()
	}
}

// compact rewrites one posting list without removed offsets and with
// exact bounds; an emptied list is dropped.
func (x *Index) compact(dim uint32, p *posting) {
	n := 0
	p.max, p.min = float32(math.Inf(-1)), float32(math.Inf(1))
	for i, off := range p.offs {
		if _, gone := x.removed[off]; gone {
			continue
		}
		p.offs[n], p.vals[n] = off, p.vals[i]
		p.max, p.min = max(p.max, p.vals[i]), min(p.min, p.vals[i])
		n++
	}
	if n == 0 {
		delete(x.postings, dim)
		return
	}
	p.offs, p.vals, p.dead = slices.Clip(p.offs[:n]), slices.Clip(p.vals[:n]), 0
}

// sweepRemoved compacts every list that still holds removed offsets, so
// the removed set can be forgotten.
func (x *Index) sweepRemoved() {
	for dim, p := range x.postings {
		if p.dead > 0 {
			x.compact(dim, p)
		}
	}
	clear(x.removed)
}

// isRemoved reports whether a posting entry is stale.
func (x *Index) isRemoved(off uint32) bool {
	if len(x.removed) == 0 {
		return false
	}
	_, gone := x.removed[off]
	return gone
}

// DocFreq returns the number of vectors with an entry (of any weight) for
// dim: the document frequency IDF is computed from.
func (x *Index) DocFreq(dim uint32) int {
	p := x.postings[dim]
	if p == nil {
		return 0
	}
	return len(p.offs) - p.dead
}

// PostingLen returns the number of entries (removed ones included) the
// index would read for the query's dimensions: the cost of Search.
func (x *Index) PostingLen(q Vector) int {
	n := 0
	for _, dim := range q.Indices {
		if p := x.postings[dim]; p != nil {
			n += len(p.offs)
		}
	}
	return n
}

// Result is a hit: an offset and its score (dot product, higher is better).
type Result struct {
	Off   uint32
	Score float32
}

// cursor walks one posting list for one query term.
type cursor struct {
	p     *posting
	pos   int
	w     float32 // query weight
	bound float32 // upper bound of w × any weight in the list, at least 0
}

func (c *cursor) doc() uint32 {
	if c.pos < len(c.p.offs) {
		return c.p.offs[c.pos]
	}
	return math.MaxUint32
}

// seek advances the cursor to the first entry at or after off.
func (c *cursor) seek(off uint32) {
	if c.pos >= len(c.p.offs) || c.p.offs[c.pos] >= off {
		return
	}
	// Gallop, then binary search the bracket.
	step, hi := 1, c.pos+1
	for hi < len(c.p.offs) && c.p.offs[hi] < off {
		c.pos = hi
		step *= 2
		hi = c.pos + step
	}
	hi = min(hi, len(c.p.offs))
	c.pos += sort.Search(hi-c.pos, func(i int) bool { return c.p.offs[c.pos+i] >= off })
}

// Search returns the k vectors with the highest dot product with q (sorted,
// valid) among those sharing at least one dimension with it and admitted
// by allow (nil admits all), best first; ties go to the lower offset. The
// scores are exact; lists whose summed bounds cannot lift a vector above
// the current k-th score are only probed for the vectors that the other
// lists bring up (MaxScore).
func (x *Index) Search(q Vector, k int, allow func(off uint32) bool) []Result {
	if k <= 0 {
		return nil
	}
	cs := make([]*cursor, 0, len(q.Indices))
	for i, dim := range q.Indices {
		p := x.postings[dim]
		if p == nil || q.Values[i] == 0 {
			continue
		}
		w := q.Values[i]
		cs = append(cs, &cursor{p: p, w: w, bound: max(w*p.max, w*p.min, 0)})
	}
	if len(cs) == 0 {
		return nil
	}
	slices.SortFunc(cs, func(a, b *cursor) int { return cmp.Compare(a.bound, b.bound) })
	// upTo[i] bounds what lists 0..i together can add to a score.
	upTo := make([]float32, len(cs))
	var sum float32
	for i, c := range cs {
		sum += c.bound
		upTo[i] = sum
	}
	top := flat.NewTopK(k)
	essential := 0 // lists [essential, len) can bring up new vectors
	for {
		doc := uint32(math.MaxUint32)
		for _, c := range cs[essential:] {
			doc = min(doc, c.doc())
		}
		if doc == math.MaxUint32 {
			break
		}
		var score float32
		for _, c := range cs[essential:] {
			if c.doc() == doc {
				score += c.w * c.p.vals[c.pos]
				c.pos++
			}
		}
		if x.isRemoved(doc) || (allow != nil && !allow(doc)) {
			continue
		}
		full := top.Full()
		pruned := false
		for i := essential - 1; i >= 0; i-- {
			// -Worst is the k-th best score; the tie goes to the lower
			// offset, which was seen first.
			if full && score+upTo[i] <= -top.Worst() {
				pruned = true
				break
			}
			c := cs[i]
			c.seek(doc)
			if c.doc() == doc {
				score += c.w * c.p.vals[c.pos]
			}
		}
		if pruned {
			continue
		}
		top.Push(doc, -score)
		if top.Full() {
			for essential < len(cs) && upTo[essential] <= -top.Worst() {
				essential++
			}
		}
	}
	return toResults(top.Results())
}

// SearchCandidates scores only the offsets in cands (duplicates are the
// caller's to avoid) exactly, with the same result rules as Search.
func (x *Index) SearchCandidates(q Vector, k int, cands []uint32, allow func(off uint32) bool) []Result {
	top := flat.NewTopK(k)
	for _, off := range cands {
		v, ok := x.vecs[off]
		if !ok || (allow != nil && !allow(off)) {
			continue
		}
		if s, overlap := Dot(q, v); overlap {
			top.Push(off, -s)
		}
	}
	return toResults(top.Results())
}

// SearchScan is SearchCandidates over every vector of the index.
func (x *Index) SearchScan(q Vector, k int, allow func(off uint32) bool) []Result {
	top := flat.NewTopK(k)
	for off, v := range x.vecs {
		if allow != nil && !allow(off) {
			continue
		}
		if s, overlap := Dot(q, v); overlap {
			top.Push(off, -s)
		}
	}
	return toResults(top.Results())
}

func toResults(rs []index.Result) []Result {
	out := make([]Result, len(rs))
	for i, r := range rs {
		out[i] = Result{Off: r.Off, Score: -r.Dist}
	}
	return out
}
