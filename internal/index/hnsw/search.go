package hnsw

import (
	"fmt"
	"math"
	"runtime"
	"sync/atomic"

	"github.com/shoal-db/shoal/internal/index"
	"github.com/shoal-db/shoal/internal/vecmath"
)

// searcher holds the reusable memory of one search or insert: the visited
// marks (one uint16 epoch per node, so no O(n) clearing per search), the
// two heaps and scratch buffers. Searchers come from the graph's pool.
type searcher struct {
	marks  []uint16
	epoch  uint16
	cand   minHeap
	res    maxHeap
	buf    []index.Result   // sorted results of a layer
	eps    []index.Result   // entry points of the next layer
	sel    []index.Result   // selected neighbours
	tmp    []index.Result   // candidates for neighbour selection
	levels [][]index.Result // an insert's chosen neighbours, by level from its top
	nb     []uint32         // neighbours of the node being expanded
	next   []uint32         // the unvisited ones among them
	dists  []float32        // their distances, from a BatchScorer
}

// prefetchAhead is how many neighbours' vectors are prefetched ahead of the
// distance computation.
const prefetchAhead = 2

// scorer computes the distance of nodes to the current query: either a
// query vector through the raw kernel, or an arbitrary function.
type scorer struct {
	ext   Scorer
	batch BatchScorer // ext, when it scores batches
	q     []float32
	kern  func(a, b []float32) float32
	tkern func(q []float32, b []byte) float32 // a float16, uint8 or turbo4 store's kernel, else nil
	view  index.View
	store *index.Store
	fn    func(off uint32) float32
}

func (g *Graph) vectorScorer(q []float32) scorer {
	return scorer{q: q, kern: g.kern, tkern: g.tkern, view: g.store.View(), store: g.store}
}

// raw returns the encoded stored vector of off (vector scorers only).
func (sc *scorer) raw(off uint32) []byte {
	if int(off) >= sc.view.Len() {
		sc.view = sc.store.View()
	}
	return sc.view.Raw(off)
}

func (sc *scorer) dist(off uint32) float32 {
	if sc.q != nil {
		if sc.tkern != nil {
			return sc.tkern(sc.q, sc.raw(off))
		}
		if int(off) >= sc.view.Len() {
			sc.view = sc.store.View()
		}
		return sc.kern(sc.q, sc.view.Get(off))
	}
	if sc.ext != nil {
		return sc.ext.Dist(off)
	}
	return sc.fn(off)
}

// prefetches reports whether the scorer can prefetch what it reads.
func (sc *scorer) prefetches() bool { return sc.q != nil || sc.ext != nil }

// prefetch starts loading what dist(off) reads (prefetching scorers only).
func (sc *scorer) prefetch(off uint32) {
	if sc.q != nil {
		vecmath.PrefetchCodes(sc.raw(off))
	} else {
		sc.ext.Prefetch(off)
	}
}

// Scorer scores nodes for SearchScorer by data of its own, such as
// quantization codes: Dist returns the distance of a node to the query
// (lower is better), Prefetch hints that Dist(off) follows soon. Both are
// called from the searching goroutine only.
type Scorer interface {
	Dist(off uint32) float32
	Prefetch(off uint32)
}

// BatchScorer is a Scorer that also scores the unvisited neighbours of the
// node a search expands in one call, prefetching ahead in its own loop:
// DistBatch sets out[i] to Dist(offs[i]) (len(out) == len(offs)). It saves
// the search two dynamic calls per distance, which are a noticeable share
// of a distance by small codes.
type BatchScorer interface {
	Scorer
	DistBatch(offs []uint32, out []float32)
}

// SearchScorer is Search with the distances of sc (which prefetches its
// data ahead, as the search does for the stored vectors; a BatchScorer
// scores each expanded node's neighbours in one call).
func (g *Graph) SearchScorer(sc Scorer, k, ef int, allow func(off uint32) bool) []index.Result {
	s := scorer{ext: sc}
	s.batch, _ = sc.(BatchScorer)
	return g.search(&s, k, ef, allow)
}

func (g *Graph) getSearcher() *searcher { return g.searchers.Get().(*searcher) }

func (g *Graph) putSearcher(s *searcher) { g.searchers.Put(s) }

// resetVisited starts a new visited epoch sized for the graph's capacity.
func (s *searcher) resetVisited(n int) {
	if len(s.marks) < n {
		s.marks = make([]uint16, n)
		s.epoch = 0
	}
	s.epoch++
	if s.epoch == 0 {
		clear(s.marks)
		s.epoch = 1
	}
}

// visit marks off and reports whether it was not visited before.
func (s *searcher) visit(off uint32) bool {
	if int(off) >= len(s.marks) {
		grown := make([]uint16, max(int(off)+1, 2*len(s.marks)))
		copy(grown, s.marks)
		s.marks = grown
	}
	if s.marks[off] == s.epoch {
		return false
	}
	s.marks[off] = s.epoch
	return true
}

// capacity returns the number of node slots currently backed.
func (g *Graph) capacity() int { return len(*g.chunks.Load()) * chunkLen }

// Search returns up to k nodes closest to query, best first (lower
// distance first, as vecmath.Dist of the graph's distance). ef is the size
// of the dynamic candidate list (raised to k if smaller). Deleted nodes are
// never returned. With a non-nil allow, the search passes through nodes
// allow rejects but returns only nodes it accepts, so recall stays high for
// selective filters (at the cost of visiting more nodes).
func (g *Graph) Search(query []float32, k, ef int, allow func(off uint32) bool) []index.Result {
	if len(query) != g.store.Dim() {
		panic(fmt.Sprintf("hnsw: query of dimension %d in a graph of dimension %d", len(query), g.store.Dim()))
	}
	sc := g.vectorScorer(g.store.Query(query))
	return g.search(&sc, k, ef, allow)
}

// SearchFunc is Search with an arbitrary distance of each node (lower is
// better), for scorers that are not a distance to one query vector. dist is
// called from the calling goroutine only.
func (g *Graph) SearchFunc(dist func(off uint32) float32, k, ef int, allow func(off uint32) bool) []index.Result {
	sc := scorer{fn: dist}
	return g.search(&sc, k, ef, allow)
}

func (g *Graph) search(sc *scorer, k, ef int, allow func(off uint32) bool) []index.Result {
	if k <= 0 {
		return nil
	}
	e := g.entry.Load()
	if e == noEntry {
		return nil
	}
	top, ep := unpackEntry(e)
	epd := sc.dist(ep)
	ep, epd = g.greedy(sc, ep, epd, top, 0)
	s := g.getSearcher()
	defer g.putSearcher(s)
	s.eps = append(s.eps[:0], index.Result{Off: ep, Dist: epd})
	g.searchLayer(s, sc, s.eps, max(ef, k), 0, allow, g.hasDeleted.Load())
	for len(s.res) > k {
		s.res.pop()
	}
	out := make([]index.Result, len(s.res))
	return s.res.sortedAscending(out)
}

// greedy descends from level from to level to+1, moving to the closest
// neighbour until no neighbour is closer, and returns the final node. It
// never moves onto a node Repair has unlinked: an insert that chose such a
// node as a neighbour just before Repair unlinked it can leave a link to
// it behind, and from its empty lists the level-0 search would find
// nothing.
func (g *Graph) greedy(sc *scorer, ep uint32, epd float32, from, to int) (uint32, float32) {
	gone := g.hasDeleted.Load()
	var lst [1 + 2*64]uint32
	for l := from; l > to; l-- {
		for changed := true; changed; {
			changed = false
			for _, n := range g.neighbours(ep, l, lst[:0]) {
				if d := sc.dist(n); d < epd && !(gone && g.removed(n)) {
					ep, epd, changed = n, d, true
				}
			}
		}
	}
	return ep, epd
}

// removed reports whether Repair has unlinked off.
func (g *Graph) removed(off uint32) bool { return g.node(off).state.Load()&stRemoved != 0 }

// keep reports whether a search may return off.
func (g *Graph) keep(off uint32, allow func(uint32) bool, skipDeleted bool) bool {
	if skipDeleted && g.node(off).state.Load()&stDeleted != 0 {
		return false
	}
	return allow == nil || allow(off)
}

// searchLayer runs the best-first beam search of width ef on level l from
// the entry points eps, leaving the best ef kept nodes in s.res (a max-heap).
// Nodes that allow rejects, or deleted ones when skipDeleted is set, are
// traversed but not kept.
func (g *Graph) searchLayer(s *searcher, sc *scorer, eps []index.Result, ef, l int, allow func(uint32) bool, skipDeleted bool) {
	s.resetVisited(g.capacity())
	s.cand = s.cand[:0]
	s.res = s.res[:0]
	for _, e := range eps {
		if !s.visit(e.Off) {
			continue
		}
		s.cand.push(e)
		if g.keep(e.Off, allow, skipDeleted) {
			s.res.push(e)
			if len(s.res) > ef {
				s.res.pop()
			}
		}
	}
	bound := float32(math.Inf(1))
	if len(s.res) >= ef {
		bound = s.res[0].Dist
	}
	filtering := allow != nil || skipDeleted
	gone := g.hasDeleted.Load()
	for len(s.cand) > 0 {
		c := s.cand[0]
		if c.Dist > bound {
			break
		}
		s.cand.pop()
		next := s.next[:0]
		if ch, lst := g.readList(c.Off, l); lst != nil {
			// A mutable list, read in place (the hot path of a graph on
			// the heap); ch keeps its memory from being released.
			cnt := min(int(atomic.LoadUint32(&lst[0])), len(lst)-1)
			for i := 1; i <= cnt; i++ {
				if n := atomic.LoadUint32(&lst[i]); s.visit(n) {
					next = append(next, n)
				}
			}
			runtime.KeepAlive(ch)
		} else {
			s.nb = g.neighbours(c.Off, l, s.nb)
			for _, n := range s.nb {
				if s.visit(n) {
					next = append(next, n)
				}
			}
		}
		s.next = next
		batch := sc.batch != nil
		pf := !batch && sc.prefetches()
		if batch {
			if cap(s.dists) < len(next) {
				s.dists = make([]float32, len(next), 2*len(next))
			}
			s.dists = s.dists[:len(next)]
			sc.batch.DistBatch(next, s.dists)
		} else if pf {
			for j := 0; j < min(prefetchAhead, len(next)); j++ {
				sc.prefetch(next[j])
			}
		}
		for j, n := range next {
			var d float32
			switch {
			case batch:
				d = s.dists[j]
			case pf && j+prefetchAhead < len(next):
				sc.prefetch(next[j+prefetchAhead])
				d = sc.dist(n)
			default:
				d = sc.dist(n)
			}
			if d >= bound || (gone && g.removed(n)) {
				continue // unlinked by Repair: a stale link, see greedy
			}
			s.cand.push(index.Result{Off: n, Dist: d})
			if filtering && !g.keep(n, allow, skipDeleted) {
				continue
			}
			s.res.push(index.Result{Off: n, Dist: d})
			if len(s.res) > ef {
				s.res.pop()
			}
			if len(s.res) >= ef {
				bound = s.res[0].Dist
			}
		}
	}
}
