package hnsw

import (
	"math/rand/v2"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/index"
)

// TestInsertIntoTombstones inserts into a graph whose every node is
// deleted (a graph loaded from an index file whose points have all been
// replaced since, or a region emptied by deletes): the new nodes must form
// a searchable graph among themselves, before and after Repair unlinks the
// tombstones. Inserts that linked only to live nodes used to leave each new
// node isolated here (out-degree 0, reachable only through the links
// Reconnect adds), and searches for their own vectors missed most of them.
func TestInsertIntoTombstones(t *testing.T) {
	for _, dead := range []int{1, 5, 40} {
		r := rand.New(rand.NewPCG(uint64(dead), 3))
		st := index.NewStore(8)
		g := New(Options{M: 16, EfConstruct: 64, Distance: api.DistanceEuclid}, st)
		off := uint32(0)
		for ; off < uint32(dead); off++ {
			st.Set(off, randomVec(r, api.DistanceEuclid, 8))
			g.Insert(off)
		}
		for o := range off {
			g.Delete(o)
		}
		var live []uint32
		for range 300 {
			st.Set(off, randomVec(r, api.DistanceEuclid, 8))
			g.Insert(off)
			live = append(live, off)
			off++
		}
		misses := func() int {
			n := 0
			for _, o := range live {
				if res := g.Search(st.Get(o), 1, 32, nil); len(res) == 0 || res[0].Off != o {
					n++
				}
			}
			return n
		}
		if n := misses(); n > 0 {
			t.Errorf("%d dead nodes, then 300 inserts: %d of 300 not found by their own vector at ef 32", dead, n)
		}
		g.Repair()
		if n := misses(); n > 0 {
			t.Errorf("%d dead nodes, 300 inserts, Repair: %d of 300 not found by their own vector at ef 32", dead, n)
		}
		if d := g.Deleted(); d != 0 {
			t.Errorf("%d deleted nodes left after Repair", d)
		}
	}
}

// TestInsertBesideHalfLinkedNode inserts a node right next to a node of
// level 1 whose own Insert is paused after linking its first level. The
// second insert's descent must not end on a node without level-0 links:
// when Insert linked levels top-down, it did (the paused node was
// reachable on level 1 with an empty level-0 list), so the level-0
// search found that node alone and the new node was linked to it and
// nothing else, out of reach of most later searches. Inserts now link
// bottom-up, so a node is reachable on a level only once its lower lists
// are in place.
func TestInsertBesideHalfLinkedNode(t *testing.T) {
	for trial := range 10 {
		r := rand.New(rand.NewPCG(uint64(trial), 81))
		st := index.NewStore(8)
		g := New(Options{M: 16, EfConstruct: 64, Distance: api.DistanceEuclid, Seed: int64(trial)}, st)
		const n = 300
		for i := range uint32(n) {
			st.Set(i, randomVec(r, api.DistanceEuclid, 8))
			g.Insert(i)
		}
		if top, _ := unpackEntry(g.entry.Load()); top < 1 {
			t.Fatalf("trial %d: a graph of %d nodes with only level 0", trial, n)
		}
		y := uint32(n) // a node of level 1
		for g.randomLevel(y) != 1 {
			y++
		}
		x := y + 1
		for g.randomLevel(x) != 0 {
			x++
		}
		vy := randomVec(r, api.DistanceEuclid, 8)
		vx := append([]float32(nil), vy...)
		for i := range vx {
			vx[i] += 0.2 * float32(r.NormFloat64()) // closer to y than any other node
		}
		st.Set(y, vy)
		st.Set(x, vx)
		linked, resume := make(chan struct{}), make(chan struct{})
		first := true // read and written by y's Insert only
		g.afterLink = func(off uint32, l int) {
			if off == y && first {
				first = false
				close(linked)
				<-resume
			}
		}
		done := make(chan struct{})
		go func() { defer close(done); g.Insert(y) }()
		<-linked
		g.Insert(x)
		close(resume)
		<-done
		g.afterLink = nil
		if lst := g.list(x, 0); lst[0] < 2 {
			t.Errorf("trial %d: node %d, inserted beside half-linked node %d, has %d level-0 links: %v", trial, x, y, lst[0], lst[1:1+lst[0]])
		}
	}
}

// TestUsesVectors checks which nodes keep their vectors needed: inserted
// ones, deleted ones until Repair unlinks them, but not tombstones of
// offsets never inserted.
func TestUsesVectors(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	st := index.NewStore(8)
	g := New(Options{M: 8, EfConstruct: 32, Distance: api.DistanceEuclid}, st)
	for off := range uint32(300) {
		st.Set(off, randomVec(r, api.DistanceEuclid, 8))
		if off >= 100 {
			g.Insert(off)
		}
	}
	g.Delete(50) // a tombstone: never inserted
	if g.UsesVectors(0, 100) {
		t.Fatal("offsets never inserted reported as used")
	}
	if !g.UsesVectors(0, 101) || !g.UsesVectors(299, 300) {
		t.Fatal("inserted nodes not reported as used")
	}
	for off := uint32(100); off < 200; off++ {
		g.Delete(off)
	}
	if !g.UsesVectors(100, 200) {
		t.Fatal("deleted nodes not yet unlinked by Repair reported as unused: searches still pass through them")
	}
	g.Repair()
	if g.UsesVectors(0, 200) {
		t.Fatal("nodes Repair unlinked reported as used")
	}
	if !g.UsesVectors(199, 201) {
		t.Fatal("a live node next to unlinked ones reported as unused")
	}
}

// TestSearchPastStaleLinkToRemovedNode plants what an insert racing with
// Repair can leave behind: upper-level links to a node Repair has already
// unlinked (its lists are empty). The node is made the closest to the
// query, so a descent that moved onto it started the level-0 search from
// a node without links and found nothing; searches and inserts must step
// past it.
func TestSearchPastStaleLinkToRemovedNode(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	st := index.NewStore(8)
	g := New(Options{M: 16, EfConstruct: 64, Distance: api.DistanceEuclid, Seed: 3}, st)
	const n = 400
	for off := range uint32(n) {
		st.Set(off, randomVec(r, api.DistanceEuclid, 8))
		g.Insert(off)
	}
	_, entry := unpackEntry(g.entry.Load())
	d := uint32(0) // a node of level >= 1 that is not the entry point
	for g.node(d).level < 1 || d == entry {
		d++
	}
	y := uint32(0) // a live node of level 0, the query's answer
	for g.node(y).level != 0 {
		y++
	}
	g.Delete(d)
	g.Repair()
	if !g.removed(d) {
		t.Fatalf("node %d not unlinked by Repair", d)
	}
	// The test may rewrite d's vector: nothing reads it but the searches
	// below. Put it next to y, then link every upper-level list with room
	// to it.
	q := st.Get(y)
	near := append([]float32(nil), q...)
	near[0] += 1e-3
	st.Set(d, near)
	planted := 0
	for off := range uint32(n) {
		nd := g.node(off)
		if off == d || nd.state.Load()&stRemoved != 0 {
			continue
		}
		for l := 1; l <= int(min(nd.level, g.node(d).level)); l++ {
			lst := g.list(off, l)
			if c := lst[0]; int(c) < g.m {
				lst[1+c] = d
				lst[0] = c + 1
				planted++
			}
		}
	}
	if planted == 0 {
		t.Fatal("no upper-level list had room for the stale link")
	}
	if res := g.Search(q, 1, 64, nil); len(res) == 0 || res[0].Off != y {
		t.Fatalf("search for node %d's vector past %d stale links to removed node %d returned %v", y, planted, d, res)
	}
	x := uint32(n) // an insert next to y links to y and its neighbourhood
	st.Set(x, append([]float32(nil), near...))
	g.Insert(x)
	if lst := g.list(x, 0); lst[0] < 2 || lst[1] == d {
		t.Fatalf("node %d inserted past the stale links has level-0 list %v", x, lst[1:1+lst[0]])
	}
}
