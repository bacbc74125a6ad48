package hnsw

import (
	"slices"
	"sync/atomic"

	"github.com/shoal-db/shoal/internal/index"
)

// stClaimed marks a node whose Insert has started but whose record is not
// yet initialised; stLinked one whose Insert has linked it on every level
// (or that Load read), which makes it eligible as the entry point.
const (
	stClaimed uint32 = 1 << 8
	stLinked  uint32 = 1 << 9
)

// Insert adds the vector at off (read from the store, which must hold it
// before Insert is called) to the graph. Inserting an offset that is
// already in the graph, or was deleted (even before it was inserted), does
// nothing. Insert is safe
// concurrently with other Inserts, Deletes, Repairs and Searches.
func (g *Graph) Insert(off uint32) {
	g.persistMu.RLock()
	defer g.persistMu.RUnlock()
	g.grow(off)
	nd := g.node(off)
	if !nd.state.CompareAndSwap(0, stClaimed) {
		return
	}
	g.live.Add(1)
	level := g.randomLevel(off)
	nd.level = int32(level)
	nd.allocUpper(g.m)
	nd.state.Or(stInserted) // publishes level and upper to Repair and WriteTo
	if g.afterPublish != nil {
		g.afterPublish(off)
	}

	e := g.entry.Load()
	held := false
	if e == noEntry || level > int(e>>32) {
		g.entryMu.Lock()
		held = true
		e = g.entry.Load()
		if e == noEntry {
			nd.state.Or(stLinked)
			g.entry.Store(packEntry(level, off))
			g.entryMu.Unlock()
			return
		}
		if level <= int(e>>32) {
			g.entryMu.Unlock()
			held = false
		}
	}
	top, ep := unpackEntry(e)
	sc := g.vectorScorer(g.vec(off))
	epd := sc.dist(ep)
	ep, epd = g.greedy(&sc, ep, epd, top, level)

	s := g.getSearcher()
	s.eps = append(s.eps[:0], index.Result{Off: ep, Dist: epd})
	// Choose the neighbours of every level top-down (each level's search
	// starts from the candidates of the one above), then publish the links
	// bottom-up. A node becomes reachable on a level only once its lists
	// on every level below are in place: an insert running concurrently
	// whose descent lands on it then finds its level-0 neighbourhood, where
	// publishing top-down left a window in which that search saw one node
	// with an empty list and linked the new node to it alone.
	hi := min(level, top)
	for l := hi; l >= 0; l-- {
		g.chooseLevel(s, &sc, off, l)
		s.keepLevel(hi - l)
	}
	for l := 0; l <= hi; l++ {
		g.publishLevel(s, off, l, s.levels[hi-l])
		if g.afterLink != nil {
			g.afterLink(off, l)
		}
	}
	// If Repair unlinked the entry point while this insert started from it,
	// the search found nothing to link to: start again from the new entry
	// point on level 0 (upper levels are left to Repair's orphan pass). The
	// new entry point is never this node: Repair only promotes linked ones.
	if len(s.levels[hi]) == 0 {
		if e2 := g.entry.Load(); e2 != noEntry && e2 != e && uint32(e2) != off {
			top2, ep2 := unpackEntry(e2)
			d2 := sc.dist(ep2)
			ep2, d2 = g.greedy(&sc, ep2, d2, top2, 0)
			s.eps = append(s.eps[:0], index.Result{Off: ep2, Dist: d2})
			g.chooseLevel(s, &sc, off, 0)
			g.publishLevel(s, off, 0, s.sel)
		}
	}
	g.putSearcher(s)
	nd.state.Or(stLinked)
	if held {
		g.entry.Store(packEntry(level, off))
		g.entryMu.Unlock()
	}
}

// chooseLevel searches level l from s.eps for off's neighbours, leaves
// those the heuristic chooses in s.sel and the candidates in s.eps as the
// entry points of the next level down. It links nothing.
func (g *Graph) chooseLevel(s *searcher, sc *scorer, off uint32, l int) {
	g.searchLayer(s, sc, s.eps, g.opts.EfConstruct, l, nil, false)
	s.buf = s.res.sortedAscending(s.buf[:0])
	s.tmp = s.tmp[:0]
	for _, c := range s.buf {
		if c.Off != off && g.node(c.Off).state.Load()&stDeleted == 0 {
			s.tmp = append(s.tmp, c)
		}
	}
	if len(s.tmp) == 0 {
		// Every node found is deleted (a graph of tombstones, or a region
		// emptied by deletes): link to them all the same, or this node
		// would be isolated and the nodes inserted after it could not find
		// it either. Repair later relinks it through their lists.
		for _, c := range s.buf {
			if c.Off != off && g.node(c.Off).state.Load()&stRemoved == 0 {
				s.tmp = append(s.tmp, c)
			}
		}
	}
	s.sel = g.selectNeighbours(s.tmp, g.m, s.sel[:0])
	s.eps = append(s.eps[:0], s.buf...)
}

// keepLevel copies s.sel into s.levels[i], reusing its memory.
func (s *searcher) keepLevel(i int) {
	for len(s.levels) <= i {
		s.levels = append(s.levels, nil)
	}
	s.levels[i] = append(s.levels[i][:0], s.sel...)
}

// publishLevel links off to sel on level l and each of sel to off.
func (g *Graph) publishLevel(s *searcher, off uint32, l int, sel []index.Result) {
	g.setOwn(s, off, l, sel)
	for _, nb := range sel {
		g.connect(s, nb.Off, l, off, nb.Dist)
	}
}

// selectNeighbours appends to dst up to m of the candidates (sorted by
// ascending distance to the base node) chosen by the HNSW heuristic: a
// candidate is kept only if it is closer to the base than to every
// candidate kept before it, which spreads links over directions.
func (g *Graph) selectNeighbours(cands []index.Result, m int, dst []index.Result) []index.Result {
	for _, c := range cands {
		if len(dst) >= m {
			break
		}
		cv := g.vec(c.Off)
		good := true
		for _, r := range dst {
			if g.distTo(cv, r.Off) < c.Dist {
				good = false
				break
			}
		}
		if good {
			dst = append(dst, c)
		}
	}
	return dst
}

// writeList stores ids into off's level-l list; the caller holds off's
// stripe. Entries are stored before the count, both atomically.
func writeList(lst []uint32, ids []index.Result) {
	for i, r := range ids {
		atomic.StoreUint32(&lst[1+i], r.Off)
	}
	atomic.StoreUint32(&lst[0], uint32(len(ids)))
}

func byDist(a, b index.Result) int {
	switch {
	case a.Dist < b.Dist:
		return -1
	case a.Dist > b.Dist:
		return 1
	}
	return int(a.Off) - int(b.Off)
}

// setOwn makes sel off's level-l neighbour list, merged with the links
// other inserts may already have added to it.
func (g *Graph) setOwn(s *searcher, off uint32, l int, sel []index.Result) {
	mu := g.stripe(off)
	mu.Lock()
	defer mu.Unlock()
	lst := g.list(off, l)
	cnt := int(lst[0])
	if cnt == 0 {
		writeList(lst, sel)
		return
	}
	s.tmp = append(s.tmp[:0], sel...)
	q := g.vec(off)
	for i := 1; i <= cnt; i++ {
		n := lst[i]
		if !slices.ContainsFunc(s.tmp, func(r index.Result) bool { return r.Off == n }) {
			s.tmp = append(s.tmp, index.Result{Off: n, Dist: g.distTo(q, n)})
		}
	}
	if len(s.tmp) <= g.maxConn(l) {
		writeList(lst, s.tmp)
		return
	}
	slices.SortFunc(s.tmp, byDist)
	var picked [2 * 64]index.Result
	writeList(lst, g.selectNeighbours(s.tmp, g.maxConn(l), picked[:0]))
}

// connect adds the link n → x (at distance d) on level l, shrinking n's list
// with the heuristic when it is full.
func (g *Graph) connect(s *searcher, n uint32, l int, x uint32, d float32) {
	mu := g.stripe(n)
	mu.Lock()
	defer mu.Unlock()
	lst := g.list(n, l)
	cnt := int(lst[0])
	for i := 1; i <= cnt; i++ {
		if lst[i] == x {
			return
		}
	}
	if cnt < g.maxConn(l) {
		atomic.StoreUint32(&lst[1+cnt], x)
		atomic.StoreUint32(&lst[0], uint32(cnt+1))
		return
	}
	s.tmp = append(s.tmp[:0], index.Result{Off: x, Dist: d})
	nv := g.vec(n)
	for i := 1; i <= cnt; i++ {
		o := lst[i]
		if g.node(o).state.Load()&stDeleted != 0 {
			continue
		}
		s.tmp = append(s.tmp, index.Result{Off: o, Dist: g.distTo(nv, o)})
	}
	slices.SortFunc(s.tmp, byDist)
	var picked [2 * 64]index.Result
	writeList(lst, g.selectNeighbours(s.tmp, g.maxConn(l), picked[:0]))
}
