package hnsw

import (
	"math"
	"sync/atomic"

	"github.com/shoal-db/shoal/internal/index"
)

// A search reaches a node only through level-0 links from the entry point
// (the upper levels merely choose where level 0 starts). HNSW insertion
// does not guarantee that every node stays reachable: the neighbour
// heuristic prunes links, and unlinking deleted nodes removes paths. The
// code here checks reachability with a walk of the level-0 links and links
// the nodes the walk misses; Repair does so after every unlink, and
// Reconnect on demand.

// reachLinks is the number of incoming links linkUnreachable gives a node
// that the walk does not reach (when lists have room).
const reachLinks = 2

// maxReachRounds bounds the walks of linkUnreachable. Linking a node into a
// full list replaces a link, which can strand another node; the next round
// catches it. In practice the second walk finds nothing.
const maxReachRounds = 8

// bits is a bitset over node offsets.
type bits []uint64

func (b bits) has(off uint32) bool { return int(off/64) < len(b) && b[off/64]&(1<<(off%64)) != 0 }

// add sets off, which must be within b, and reports whether it was not set
// before.
func (b bits) add(off uint32) bool {
	if b.has(off) {
		return false
	}
	b[off/64] |= 1 << (off % 64)
	return true
}

// walk marks in seen every node reached from start (which it marks too)
// through level-0 links, not following the links of nodes for which stop
// returns true, and returns queue's memory for reuse. Nodes beyond seen
// are not followed.
func (g *Graph) walk(start uint32, seen bits, stop func(uint32) bool, queue []uint32) []uint32 {
	if !seen.add(start) {
		return queue
	}
	queue = append(queue[:0], start)
	var nb []uint32
	for len(queue) > 0 {
		x := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		if stop != nil && stop(x) {
			continue
		}
		nb = g.neighbours(x, 0, nb)
		for _, n := range nb {
			if int(n/64) < len(seen) && seen.add(n) {
				queue = append(queue, n)
			}
		}
	}
	return queue
}

// Unreachable returns the live nodes (inserted, not deleted) that a search
// cannot reach: those a walk of the level-0 links from the entry point does
// not visit. The walk passes through deleted nodes that are still linked,
// as searches do. It reads links without locks, so it is exact only while
// no Insert, Delete, Repair or Reconnect runs; concurrently it may report a
// node whose links are being written.
func (g *Graph) Unreachable() []uint32 {
	dir := *g.chunks.Load()
	seen := make(bits, (len(dir)*chunkLen+63)/64)
	if e := g.entry.Load(); e != noEntry {
		_, ep := unpackEntry(e)
		g.walk(ep, seen, nil, nil)
	}
	var out []uint32
	for ci, c := range dir {
		for i := range c.nodes {
			off := uint32(ci<<chunkShift | i)
			if c.nodes[i].state.Load()&(stInserted|stDeleted) == stInserted && !seen.has(off) {
				out = append(out, off)
			}
		}
	}
	return out
}

// Reconnect links every live node that searches cannot reach (see
// Unreachable) from the nearest nodes they do reach, and returns how many
// nodes it linked. Afterwards, if no Insert, Delete or Repair ran
// meanwhile, every live node is reachable from the entry point. It costs a
// walk of every level-0 link (plus a search per node it links), holds the
// persistence lock shared only while it links one node (a WriteTo, such as
// a checkpoint's, waits for one link, not for the whole pass, which takes
// minutes on a large graph with many stranded nodes), and is safe
// concurrently with every other method; Repair ends with the same pass.
func (g *Graph) Reconnect() int {
	n, _ := g.ReconnectUntil(nil)
	return n
}

// ReconnectUntil is Reconnect that gives up once stop (nil: never)
// returns true, checked before each node it links; it reports whether it
// finished. A pass cut short leaves a valid graph in which some nodes may
// still be unreachable. (On a large graph with many stranded nodes a pass
// can take minutes: a shard being closed must not wait for it.)
func (g *Graph) ReconnectUntil(stop func() bool) (int, bool) {
	s := g.getSearcher()
	defer g.putSearcher(s)
	return g.linkUnreachable(s, func(off uint32) bool { return g.node(off).state.Load()&stRemoved != 0 }, stop)
}

// linkUnreachable walks the level-0 links from the entry point, not through
// gone nodes (whose lists Repair is about to empty), and links every linked
// live node the walk misses from the nearest nodes it reached; each linked
// node's own reach is then added to the walk, so a stranded group needs one
// link. It walks again until a walk misses nothing, at most maxReachRounds
// times, and returns the number of nodes it linked. Nodes whose Insert is
// still running are left to it. The walks read links as searches do; each
// node is linked under persistMu shared, which the caller must not hold.
// It stops early, returning false, once stop (when not nil) returns true.
func (g *Graph) linkUnreachable(s *searcher, isGone func(uint32) bool, stop func() bool) (int, bool) {
	total := 0
	var queue []uint32
	for range maxReachRounds {
		e := g.entry.Load()
		if e == noEntry {
			return total, true
		}
		_, entry := unpackEntry(e)
		dir := *g.chunks.Load()
		seen := make(bits, (len(dir)*chunkLen+63)/64)
		queue = g.walk(entry, seen, isGone, queue)
		deg := g.countInDegrees(dir, isGone)
		linked := 0
		for ci, c := range dir {
			for i := range c.nodes {
				x := uint32(ci<<chunkShift | i)
				st := c.nodes[i].state.Load()
				if st&(stInserted|stLinked|stDeleted|stRemoved) != stInserted|stLinked || seen.has(x) || isGone(x) {
					continue
				}
				if stop != nil && stop() {
					return total + linked, false
				}
				g.persistMu.RLock()
				g.linkFromReached(s, x, entry, seen, deg, isGone)
				g.persistMu.RUnlock()
				if g.afterReach != nil {
					g.afterReach()
				}
				queue = g.walk(x, seen, isGone, queue)
				linked++
			}
		}
		total += linked
		if linked == 0 {
			break
		}
	}
	return total, true
}

// linkFromReached adds level-0 links to x from up to reachLinks of the
// nearest live nodes in seen that have room in their lists, found by a
// search from the entry point. If none has room, the nearest one whose
// list can spare a link takes x in place of its farthest link to a node
// that has another incoming link (deg, the pass's in-degree counts, kept
// up to date), so that the link never strands the node it displaced: on
// data whose nearest nodes are a few hubs with full lists (uniform
// positive vectors under Dot: three quarters of a fresh graph
// unreachable), displacing the farthest link whatever its target made
// every pass strand about as many nodes as it linked. Only if no
// candidate can spare one does the entry point link to x, displacing its
// farthest link.
func (g *Graph) linkFromReached(s *searcher, x, entry uint32, seen bits, deg inDegrees, isGone func(uint32) bool) {
	sc := g.vectorScorer(g.vec(x))
	top, ep := unpackEntry(g.entry.Load())
	epd := sc.dist(ep)
	ep, epd = g.greedy(&sc, ep, epd, top, 0)
	usable := func(n uint32) bool {
		return n != x && seen.has(n) && !isGone(n) && g.node(n).state.Load()&stDeleted == 0
	}
	s.eps = append(s.eps[:0], index.Result{Off: ep, Dist: epd})
	g.searchLayer(s, &sc, s.eps, g.opts.EfConstruct, 0, usable, false)
	s.buf = s.res.sortedAscending(s.buf[:0])
	added := 0
	for _, c := range s.buf {
		if g.addLink(c.Off, x, deg, false) {
			if added++; added == reachLinks {
				return
			}
		}
	}
	if added > 0 {
		return
	}
	// No candidate has room: the nearest that can spare a link takes x.
	for _, c := range s.buf {
		if g.addLink(c.Off, x, deg, true) {
			return
		}
	}
	g.forceLink(entry, 0, x)
	deg.inc(x)
}

// inDegrees holds a reachability pass's count of the level-0 links into
// each node, saturating at 255.
type inDegrees []uint8

// countInDegrees counts the level-0 links into each node of dir from nodes
// that are not gone.
func (g *Graph) countInDegrees(dir []*chunk, isGone func(uint32) bool) inDegrees {
	deg := make(inDegrees, len(dir)*chunkLen)
	var nb []uint32
	for ci := range dir {
		for i := range chunkLen {
			off := uint32(ci<<chunkShift | i)
			if isGone(off) {
				continue
			}
			nb = g.neighbours(off, 0, nb)
			for _, n := range nb {
				deg.inc(n)
			}
		}
	}
	return deg
}

func (d inDegrees) inc(n uint32) {
	if int(n) < len(d) && d[n] < math.MaxUint8 {
		d[n]++
	}
}

// dec undoes inc; a saturated count stays (its true value is unknown).
func (d inDegrees) dec(n uint32) {
	if int(n) < len(d) && d[n] > 0 && d[n] < math.MaxUint8 {
		d[n]--
	}
}

// spare reports whether n has another incoming link than the one a caller
// is about to take away.
func (d inDegrees) spare(n uint32) bool { return int(n) < len(d) && d[n] >= 2 }

// addLink adds the level-0 link n → x and reports whether n links to x
// afterwards: into free room or, with spare, in place of n's farthest
// link whose target has another incoming link. It keeps deg up to date.
func (g *Graph) addLink(n, x uint32, deg inDegrees, spare bool) bool {
	mu := g.stripe(n)
	mu.Lock()
	defer mu.Unlock()
	lst := g.list(n, 0)
	cnt := int(lst[0])
	for i := 1; i <= cnt; i++ {
		if lst[i] == x {
			return true
		}
	}
	if cnt < g.m0 {
		atomic.StoreUint32(&lst[1+cnt], x)
		atomic.StoreUint32(&lst[0], uint32(cnt+1))
		deg.inc(x)
		return true
	}
	if !spare {
		return false
	}
	nv := g.vec(n)
	worst, worstD := 0, float32(-math.MaxFloat32)
	for i := 1; i <= cnt; i++ {
		if !deg.spare(lst[i]) {
			continue
		}
		if d := g.distTo(nv, lst[i]); d > worstD {
			worst, worstD = i, d
		}
	}
	if worst == 0 {
		return false
	}
	deg.dec(lst[worst])
	atomic.StoreUint32(&lst[worst], x)
	deg.inc(x)
	return true
}
