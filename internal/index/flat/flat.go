// Package flat is exact k-nearest-neighbour search by scanning: the oracle
// the HNSW recall tests compare against, and the path the shard planner
// takes for small or highly selective searches and for the not yet indexed
// tail of a shard.
package flat

import (
	"sort"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/index"
	"github.com/shoal-db/shoal/internal/vecmath"
)

// Search returns the k offsets below store.Len() closest to query under
// distance d, best first (ties broken by lower offset). Offsets for which
// allow returns false are skipped; a nil allow admits every offset. The
// caller masks offsets that hold no live vector through allow.
func Search(store *index.Store, d api.Distance, query []float32, k int, allow func(off uint32) bool) []index.Result {
	dist := vecmath.Dist(d)
	buf := make([]float32, store.Dim())
	n := uint32(store.Len())
	top := NewTopK(k)
	for off := uint32(0); off < n; off++ {
		if allow != nil && !allow(off) {
			continue
		}
		top.Push(off, dist(query, store.Decode(off, buf)))
	}
	return top.Results()
}

// SearchCandidates is Search restricted to the offsets in cands (each must
// be below store.Len(); duplicates are the caller's to avoid).
func SearchCandidates(store *index.Store, d api.Distance, query []float32, k int, cands []uint32, allow func(off uint32) bool) []index.Result {
	dist := vecmath.Dist(d)
	buf := make([]float32, store.Dim())
	top := NewTopK(k)
	for _, off := range cands {
		if allow != nil && !allow(off) {
			continue
		}
		top.Push(off, dist(query, store.Decode(off, buf)))
	}
	return top.Results()
}

// SearchFunc returns the k offsets below n with the lowest dist(off), best
// first, skipping offsets allow rejects (nil admits all). It serves custom
// scorers (recommend, discover) that are not a distance to one query vector.
func SearchFunc(n int, dist func(off uint32) float32, k int, allow func(off uint32) bool) []index.Result {
	top := NewTopK(k)
	for off := uint32(0); off < uint32(n); off++ {
		if allow != nil && !allow(off) {
			continue
		}
		top.Push(off, dist(off))
	}
	return top.Results()
}

// SearchCandidatesFunc is SearchFunc over an explicit candidate list.
func SearchCandidatesFunc(cands []uint32, dist func(off uint32) float32, k int, allow func(off uint32) bool) []index.Result {
	top := NewTopK(k)
	for _, off := range cands {
		if allow != nil && !allow(off) {
			continue
		}
		top.Push(off, dist(off))
	}
	return top.Results()
}

// TopK collects the k results with the lowest distance pushed into it (ties
// broken by lower offset). The zero value is not usable; call NewTopK.
type TopK struct {
	k int
	h []index.Result // max-heap on (Dist, Off): h[0] is the worst kept
}

// NewTopK returns a collector of the best k results. k <= 0 keeps nothing.
func NewTopK(k int) *TopK {
	return &TopK{k: k, h: make([]index.Result, 0, max(k, 0))}
}

// worse reports whether a ranks after b.
func worse(a, b index.Result) bool {
	if a.Dist != b.Dist {
		return a.Dist > b.Dist
	}
	return a.Off > b.Off
}

// Len returns the number of results kept.
func (t *TopK) Len() int { return len(t.h) }

// Full reports whether k results are kept.
func (t *TopK) Full() bool { return len(t.h) >= t.k }

// Worst returns the distance of the worst kept result; only meaningful when
// Len() > 0.
func (t *TopK) Worst() float32 { return t.h[0].Dist }

// Push offers a result.
func (t *TopK) Push(off uint32, dist float32) {
	r := index.Result{Off: off, Dist: dist}
	if len(t.h) < t.k {
		t.h = append(t.h, r)
		// sift up
		i := len(t.h) - 1
		for i > 0 {
			p := (i - 1) / 2
			if !worse(t.h[i], t.h[p]) {
				break
			}
			t.h[i], t.h[p] = t.h[p], t.h[i]
			i = p
		}
		return
	}
	if t.k <= 0 || !worse(t.h[0], r) {
		return
	}
	t.h[0] = r
	// sift down
	i, n := 0, len(t.h)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		c := l
		if r := l + 1; r < n && worse(t.h[r], t.h[l]) {
			c = r
		}
		if !worse(t.h[c], t.h[i]) {
			break
		}
		t.h[i], t.h[c] = t.h[c], t.h[i]
		i = c
	}
}

// Results returns the kept results best first. The collector must not be
// used afterwards.
func (t *TopK) Results() []index.Result {
	out := t.h
	sort.Slice(out, func(i, j int) bool { return worse(out[j], out[i]) })
	t.h = nil
	return out
}
