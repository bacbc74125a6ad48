package hnsw

import (
	"slices"
	"sync/atomic"

	"github.com/shoal-db/shoal/internal/index"
)

// repairBatch is the number of node slots Repair relinks per hold of
// persistMu, so a waiting WriteTo is delayed by at most one batch.
const repairBatch = 1024

// Repair unlinks the nodes deleted so far: every node that links to one of
// them gets a new list chosen by the neighbour heuristic from its remaining
// neighbours and the deleted nodes' neighbours; then every live node left
// without an incoming link on one of its upper levels is linked again (as
// an insert would link it), and every live node that a walk of the level-0
// links from the entry point no longer reaches is linked from its nearest
// reached nodes (see Reconnect); finally the deleted nodes' own lists are
// emptied. It returns the number of nodes unlinked.
//
// Repair runs concurrently with Inserts, Deletes and Searches and holds no
// lock for long: each list is rewritten under its own stripe, and the scan
// takes persistMu shared in batches (the orphan pass holds it shared for one
// read of every link, a few milliseconds per 100,000 nodes; the reachability
// pass for one link at a time). Only one Repair should run at a time
// (a second one concurrently is safe but duplicates work). If every node is
// deleted, the entry point stays as a deleted node so that concurrent
// inserts remain connected. Links to a deleted node created by an insert
// racing with Repair are dropped by the next Repair.
func (g *Graph) Repair() int {
	dir := *g.chunks.Load()
	n := len(dir) * chunkLen
	gone := make([]uint64, (n+63)/64) // nodes to unlink
	var victims []uint32
	for ci, c := range dir {
		for i := range c.nodes {
			st := c.nodes[i].state.Load()
			if st&stInserted != 0 && st&(stDeleted|stRemoved) == stDeleted {
				off := uint32(ci<<chunkShift | i)
				gone[off/64] |= 1 << (off % 64)
				victims = append(victims, off)
			}
		}
	}
	if len(victims) == 0 {
		return 0
	}
	g.replaceEntry(gone)
	isGone := func(off uint32) bool {
		if int(off/64) < len(gone) && gone[off/64]&(1<<(off%64)) != 0 {
			return true
		}
		return g.node(off).state.Load()&stRemoved != 0
	}

	s := g.getSearcher()
	defer g.putSearcher(s)
	for start := 0; start < n; start += repairBatch {
		g.persistMu.RLock()
		for off := uint32(start); off < uint32(min(start+repairBatch, n)); off++ {
			nd := g.node(off)
			st := nd.state.Load()
			if st&stInserted == 0 || st&stRemoved != 0 || isGone(off) {
				continue
			}
			for l := 0; l <= int(nd.level); l++ {
				g.relink(s, off, l, isGone)
			}
		}
		g.persistMu.RUnlock()
	}

	if g.afterRelink != nil {
		g.afterRelink()
	}
	g.persistMu.RLock()
	g.reconnectOrphans(s, isGone)
	g.persistMu.RUnlock()
	g.linkUnreachable(s, isGone, nil)

	removed := 0
	g.persistMu.RLock()
	defer g.persistMu.RUnlock()
	for _, off := range victims {
		if gone[off/64]&(1<<(off%64)) == 0 {
			continue // kept as the entry point
		}
		nd := g.node(off)
		mu := g.stripe(off)
		mu.Lock()
		for l := 0; l <= int(nd.level); l++ {
			atomic.StoreUint32(&g.list(off, l)[0], 0)
		}
		nd.state.Or(stRemoved)
		mu.Unlock()
		removed++
	}
	return removed
}

// replaceEntry moves the entry point off a node in gone to the linked live
// node with the highest level. If there is none, the entry point is taken
// out of gone and stays.
//
// Only a node whose Insert has finished (stLinked) may become the entry
// point. A node whose Insert is still running has empty lists, and its
// Insert may have started from the very entry point being replaced: once
// Repair empties that node's lists, the insert finds nothing to link to, so
// promoting it would leave an entry point that reaches none of the old
// graph, and every later insert would hang off it.
func (g *Graph) replaceEntry(gone []uint64) {
	g.entryMu.Lock()
	defer g.entryMu.Unlock()
	e := g.entry.Load()
	if e == noEntry {
		return
	}
	_, eoff := unpackEntry(e)
	if !bits(gone).has(eoff) {
		return // live, or inserted after Repair took its list of victims
	}
	best, bestLevel := uint32(0), -1
	for ci, c := range *g.chunks.Load() {
		for i := range c.nodes {
			st := c.nodes[i].state.Load()
			if st&(stInserted|stLinked|stDeleted|stRemoved) == stInserted|stLinked && int(c.nodes[i].level) > bestLevel {
				best, bestLevel = uint32(ci<<chunkShift|i), int(c.nodes[i].level)
			}
		}
	}
	if bestLevel < 0 {
		gone[eoff/64] &^= 1 << (eoff % 64)
		return
	}
	g.entry.Store(packEntry(bestLevel, best))
}

// relink rewrites off's level-l list if it links to a node in gone.
func (g *Graph) relink(s *searcher, off uint32, l int, isGone func(uint32) bool) {
	// A packed list is unpacked only when it changes.
	s.nb = g.neighbours(off, l, s.nb)
	if !slices.ContainsFunc(s.nb, isGone) {
		return
	}
	mu := g.stripe(off)
	mu.Lock()
	defer mu.Unlock()
	lst := g.list(off, l)
	cnt := int(lst[0])
	s.resetVisited(g.capacity())
	s.visit(off)
	q := g.vec(off)
	s.tmp = s.tmp[:0]
	add := func(n uint32) {
		if !isGone(n) && s.visit(n) {
			s.tmp = append(s.tmp, index.Result{Off: n, Dist: g.distTo(q, n)})
		}
	}
	for i := 1; i <= cnt; i++ {
		add(lst[i])
	}
	for i := 1; i <= cnt; i++ {
		d := lst[i]
		if !isGone(d) || g.node(d).state.Load()&stRemoved != 0 {
			continue
		}
		s.nb = g.neighbours(d, l, s.nb)
		for _, n := range s.nb {
			add(n)
		}
	}
	slices.SortFunc(s.tmp, byDist)
	s.sel = g.selectNeighbours(s.tmp, g.maxConn(l), s.sel[:0])
	writeList(lst, s.sel)
}

// reconnectOrphans finds the live nodes that have no incoming link on one
// of their upper levels once the victims' links are gone, and links them
// again: from the neighbours an insert would choose, and if the heuristic
// of every one of those prunes the link, by replacing the farthest link of
// the nearest one. Level 0, where searches must reach every node, is left
// to linkUnreachable, which Repair calls next: a node can have incoming
// links and still be unreachable (a group of nodes that only link to each
// other). The scan costs one pass over every link.
func (g *Graph) reconnectOrphans(s *searcher, isGone func(uint32) bool) {
	type key struct {
		off   uint32
		level int
	}
	dir := *g.chunks.Load()
	hasInUp := map[key]bool{}
	for ci, c := range dir {
		for i := range c.nodes {
			y := uint32(ci<<chunkShift | i)
			st := c.nodes[i].state.Load()
			if st&stInserted == 0 || st&stRemoved != 0 || isGone(y) {
				continue
			}
			for l := 1; l <= int(c.nodes[i].level); l++ {
				lst := g.list(y, l)
				cnt := min(int(atomic.LoadUint32(&lst[0])), len(lst)-1)
				for j := 1; j <= cnt; j++ {
					hasInUp[key{atomic.LoadUint32(&lst[j]), l}] = true
				}
			}
		}
	}
	_, entry := unpackEntry(g.entry.Load())
	for ci, c := range dir {
		for i := range c.nodes {
			x := uint32(ci<<chunkShift | i)
			st := c.nodes[i].state.Load()
			// A node whose Insert is still running links itself.
			if st&(stInserted|stLinked|stDeleted|stRemoved) != stInserted|stLinked || x == entry {
				continue
			}
			for l := 1; l <= int(c.nodes[i].level); l++ {
				if !hasInUp[key{x, l}] {
					g.reconnect(s, x, l, isGone)
				}
			}
		}
	}
}

// reconnect gives x at least one incoming link on level l.
func (g *Graph) reconnect(s *searcher, x uint32, l int, isGone func(uint32) bool) {
	e := g.entry.Load()
	if e == noEntry {
		return
	}
	top, ep := unpackEntry(e)
	if top < l {
		return
	}
	sc := g.vectorScorer(g.vec(x))
	epd := sc.dist(ep)
	ep, epd = g.greedy(&sc, ep, epd, top, l)
	usable := func(n uint32) bool { return n != x && !isGone(n) && g.node(n).state.Load()&stDeleted == 0 }
	s.eps = append(s.eps[:0], index.Result{Off: ep, Dist: epd})
	g.searchLayer(s, &sc, s.eps, g.opts.EfConstruct, l, usable, false)
	s.buf = s.res.sortedAscending(s.buf[:0])
	if len(s.buf) == 0 {
		return
	}
	s.sel = g.selectNeighbours(s.buf, g.m, s.sel[:0])
	linked := false
	for _, nb := range s.sel {
		g.connect(s, nb.Off, l, x, nb.Dist)
		if g.links(nb.Off, l, x) {
			linked = true
		}
	}
	if !linked {
		g.forceLink(s.sel[0].Off, l, x)
	}
}

// links reports whether n's level-l list contains x.
func (g *Graph) links(n uint32, l int, x uint32) bool {
	var buf [1 + 2*64]uint32
	return slices.Contains(g.neighbours(n, l, buf[:0]), x)
}

// forceLink adds n → x on level l, replacing n's farthest link if the list
// is full.
func (g *Graph) forceLink(n uint32, l int, x uint32) {
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
	nv := g.vec(n)
	worst, worstD := 1, float32(-1)
	for i := 1; i <= cnt; i++ {
		if d := g.distTo(nv, lst[i]); d > worstD {
			worst, worstD = i, d
		}
	}
	atomic.StoreUint32(&lst[worst], x)
}
