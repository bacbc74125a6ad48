package hnsw

import (
	"bytes"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/index"
)

// churnGraph mimics a shard's indexing of a small, heavily rewritten
// collection: a writer replaces and deletes points of ids (new offsets for
// every write, the old offset deleted), two workers insert the queued
// offsets, a maintenance goroutine repairs once deleted nodes exceed a fifth
// of the graph, and the graph is saved now and then. It returns the graph,
// the live offsets, and the last saved image with the live offsets at that
// time.
type churnState struct {
	st   *index.Store
	g    *Graph
	live map[int]uint32 // id -> offset
	next uint32
}

func (c *churnState) run(t *testing.T, r *rand.Rand, ops int, save func()) {
	t.Helper()
	ins := make(chan uint32, 64)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for off := range ins {
				c.g.Insert(off)
			}
		}()
	}
	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Add(2)
	go func() { // maintenance: repair when a fifth of the nodes are deleted
		defer bg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if d := c.g.Deleted(); d >= 32 && d*5 > d+c.g.Len() {
				c.g.Repair()
			}
		}
	}()
	qr := rand.New(rand.NewPCG(r.Uint64(), 1))
	go func() { // searcher
		defer bg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			c.g.Search(randomVec(qr, api.DistanceEuclid, 8), 5, 32, nil)
		}
	}()
	for i := range ops {
		id := r.IntN(300)
		if old, ok := c.live[id]; ok {
			c.g.Delete(old)
			delete(c.live, id)
		}
		if r.IntN(4) != 0 {
			c.st.Set(c.next, randomVec(r, api.DistanceEuclid, 8))
			ins <- c.next
			c.live[id] = c.next
			c.next++
		}
		if save != nil && i%97 == 96 {
			save()
		}
	}
	close(ins)
	wg.Wait()
	close(stop)
	bg.Wait()
}

// checkReachable runs Reconnect on the quiescent graph, as a shard's
// WaitIndexed does, and then requires every live node to be reachable from
// the entry point. It returns the number of nodes Reconnect linked.
func checkReachable(t *testing.T, g *Graph, live map[int]uint32, stage string) int {
	t.Helper()
	before := len(g.Unreachable())
	linked := g.Reconnect()
	if linked < before {
		t.Errorf("%s: Reconnect linked %d nodes, %d were unreachable", stage, linked, before)
	}
	un := g.Unreachable()
	if len(un) > 0 {
		t.Errorf("%s: %d of %d live nodes unreachable from the entry point (deleted %d): %v", stage, len(un), len(live), g.Deleted(), un[:min(len(un), 20)])
	}
	if g.Len() != len(live) {
		t.Errorf("%s: Len %d, %d live", stage, g.Len(), len(live))
	}
	for _, off := range live {
		if res := g.Search(g.vec(off), 1, g.capacity(), nil); len(res) == 0 || res[0].Off != off {
			t.Errorf("%s: live node %d not found by an exhaustive search: %v", stage, off, res)
			break
		}
	}
	return before
}

// TestReloadChurnReachability runs rounds of concurrent churn; after each,
// the graph is reloaded from an image saved during the churn, reconciled
// with the live set (dead nodes deleted, missing live ones inserted
// concurrently with repairs), and every live node must be reachable from
// the entry point.
func TestReloadChurnReachability(t *testing.T) {
	var imageUnreachable, churnUnreachable, reloadUnreachable int
	defer func() {
		t.Logf("unreachable before Reconnect: %d after churn, %d in saved images, %d after reload", churnUnreachable, imageUnreachable, reloadUnreachable)
	}()
	for trial := range 3 {
		r := rand.New(rand.NewPCG(uint64(trial), 77))
		c := &churnState{st: index.NewStore(8), live: map[int]uint32{}}
		c.g = New(Options{M: 16, EfConstruct: 64, Distance: api.DistanceEuclid}, c.st)
		for round := range 8 {
			var img []byte
			save := func() {
				var buf bytes.Buffer
				if _, err := c.g.WriteTo(&buf); err != nil {
					t.Fatal(err)
				}
				img = buf.Bytes()
			}
			c.run(t, r, 400+r.IntN(400), save)
			if t.Failed() {
				return
			}
			churnUnreachable += checkReachable(t, c.g, c.live, "after churn")
			if img == nil {
				continue
			}
			g, err := Load(bytes.NewReader(img), c.g.Options(), c.st)
			if err != nil {
				t.Fatal(err)
			}
			imageUnreachable += len(g.Unreachable())
			// Reconcile as a shard's Open does.
			liveOff := map[uint32]bool{}
			for _, off := range c.live {
				liveOff[off] = true
			}
			var missing []uint32
			for off := range c.next {
				switch in := g.Contains(off); {
				case liveOff[off] && !in:
					missing = append(missing, off)
				case !liveOff[off] && in:
					g.Delete(off)
				}
			}
			c.g = g
			ins := make(chan uint32)
			var wg sync.WaitGroup
			for range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for off := range ins {
						g.Insert(off)
					}
				}()
			}
			repDone := make(chan struct{})
			go func() {
				defer close(repDone)
				if d := g.Deleted(); d >= 32 && d*5 > d+g.Len() {
					g.Repair()
				}
			}()
			for _, off := range missing {
				ins <- off
			}
			close(ins)
			wg.Wait()
			<-repDone
			reloadUnreachable += checkReachable(t, g, c.live, "after reload")
			if t.Failed() {
				t.Fatalf("trial %d round %d", trial, round)
			}
		}
	}
}

// TestImageMidRepair saves the graph while Repair is between its relink pass
// and its reconnection passes (as a shard persisting concurrently can) and
// checks that Repair leaves every live node reachable, and that Reconnect
// makes the loaded image so.
func TestImageMidRepair(t *testing.T) {
	worst := 0
	for trial := range testSize(40) {
		r := rand.New(rand.NewPCG(uint64(trial), 78))
		st := index.NewStore(8)
		g := New(Options{M: 16, EfConstruct: 64, Distance: api.DistanceEuclid}, st)
		live := map[int]uint32{}
		next := uint32(0)
		for range 2000 {
			id := r.IntN(300)
			if old, ok := live[id]; ok {
				g.Delete(old)
				delete(live, id)
			}
			if r.IntN(4) != 0 {
				st.Set(next, randomVec(r, api.DistanceEuclid, 8))
				g.Insert(next)
				live[id] = next
				next++
			}
			if g.Deleted() > 100 {
				var img bytes.Buffer
				g.afterRelink = func() {
					if _, err := g.WriteTo(&img); err != nil {
						t.Fatal(err)
					}
				}
				g.Repair()
				g.afterRelink = nil
				g2, err := Load(&img, g.Options(), st)
				if err != nil {
					t.Fatal(err)
				}
				worst = max(worst, len(g2.Unreachable()))
				g2.Reconnect()
				if un := g2.Unreachable(); len(un) > 0 {
					t.Errorf("image saved mid-Repair, after Reconnect: %d unreachable", len(un))
				}
				if un := g.Unreachable(); len(un) > 0 {
					t.Errorf("after Repair: %d unreachable", len(un))
				}
			}
		}
	}
	t.Logf("worst mid-repair image: %d unreachable", worst)
}

// TestRepairDuringSlowInsert deletes the entry point and repairs while an
// insert of a high node is paused between marking the node inserted and
// linking it, then inserts more nodes before letting it finish.
func TestRepairDuringSlowInsert(t *testing.T) {
	for trial := range 10 {
		r := rand.New(rand.NewPCG(uint64(trial), 79))
		st := index.NewStore(8)
		g := New(Options{M: 16, EfConstruct: 64, Distance: api.DistanceEuclid, Seed: int64(trial)}, st)
		const n = 300
		for i := range uint32(n) {
			st.Set(i, randomVec(r, api.DistanceEuclid, 8))
			g.Insert(i)
		}
		// X: a new node of level >= 1 that becomes the highest live node
		// once every other node of its level or above is deleted.
		x := uint32(n)
		for g.randomLevel(x) < 1 {
			x++
		}
		for i := range uint32(n) {
			if g.randomLevel(i) >= g.randomLevel(x) {
				g.Delete(i)
			}
		}
		st.Set(x, randomVec(r, api.DistanceEuclid, 8))
		published, resume := make(chan struct{}), make(chan struct{})
		g.afterPublish = func(off uint32) {
			if off == x {
				close(published)
				<-resume
			}
		}
		done := make(chan struct{})
		go func() { defer close(done); g.Insert(x) }()
		<-published
		g.Repair()
		if _, e := unpackEntry(g.entry.Load()); e == x {
			t.Fatalf("trial %d: Repair made node %d the entry point before its Insert linked it", trial, x)
		}
		for i := range uint32(40) {
			st.Set(x+1+i, randomVec(r, api.DistanceEuclid, 8))
			g.Insert(x + 1 + i)
		}
		close(resume)
		<-done
		g.afterPublish = nil
		if un := g.Unreachable(); len(un) > 0 {
			t.Errorf("trial %d: %d of %d live nodes unreachable from the entry point: %v", trial, len(un), g.Len(), un)
		}
	}
}

// TestReplaceEntryBeyondVictims covers an entry point inserted (in a new
// chunk) after Repair took its list of victims: it is not a victim.
func TestReplaceEntryBeyondVictims(t *testing.T) {
	r := rand.New(rand.NewPCG(80, 80))
	st := index.NewStore(4)
	g := New(Options{M: 4, Distance: api.DistanceEuclid}, st)
	for i := range uint32(3) {
		st.Set(i, randomVec(r, api.DistanceEuclid, 4))
		g.Insert(i)
	}
	far := uint32(3 * chunkLen)
	st.Set(far, randomVec(r, api.DistanceEuclid, 4))
	g.Insert(far)
	g.entry.Store(packEntry(0, far))
	gone := make([]uint64, chunkLen/64) // sized before far's chunk existed
	gone[0] = 1
	g.replaceEntry(gone)
	if _, e := unpackEntry(g.entry.Load()); e != far {
		t.Fatalf("entry point moved to %d", e)
	}
}

// TestWriteToDuringReconnect strands a group of nodes (no level-0 link
// leads to them) and saves the graph while Reconnect links them: the image
// must not wait for the whole pass (a shard's checkpoint, which a shard
// transfer starts with, waited minutes for it on a large graph), and the
// loaded image plus another Reconnect must reach every node.
func TestWriteToDuringReconnect(t *testing.T) {
	g, st, _ := strandedGraph(t)
	var img bytes.Buffer
	saved := false
	g.afterReach = func() {
		if saved {
			return
		}
		saved = true
		done := make(chan error, 1)
		go func() {
			_, err := g.WriteTo(&img)
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(10 * time.Second):
			t.Error("WriteTo waited for the whole Reconnect pass")
		}
	}
	if linked := g.Reconnect(); linked == 0 {
		t.Fatal("Reconnect linked nothing")
	}
	if t.Failed() {
		return
	}
	if !saved {
		t.Fatal("no image was taken during Reconnect")
	}
	if un := g.Unreachable(); len(un) > 0 {
		t.Fatalf("after Reconnect: %d unreachable", len(un))
	}
	g2, err := Load(&img, g.Options(), st)
	if err != nil {
		t.Fatal(err)
	}
	g2.Reconnect()
	if un := g2.Unreachable(); len(un) > 0 {
		t.Fatalf("image saved mid-Reconnect, after another Reconnect: %d unreachable", len(un))
	}
}

// strandedGraph builds a graph of 600 nodes and removes every level-0 link
// to about 60 of them (not the entry point), which no search then reaches.
func strandedGraph(t *testing.T) (*Graph, *index.Store, map[uint32]bool) {
	t.Helper()
	r := rand.New(rand.NewPCG(5, 80))
	st := index.NewStore(8)
	g := New(Options{M: 8, EfConstruct: 32, Distance: api.DistanceEuclid}, st)
	const n = 600
	for off := range uint32(n) {
		st.Set(off, randomVec(r, api.DistanceEuclid, 8))
		g.Insert(off)
	}
	_, entry := unpackEntry(g.entry.Load())
	stranded := map[uint32]bool{}
	for off := uint32(100); off < 160; off++ {
		if off != entry {
			stranded[off] = true
		}
	}
	for off := range uint32(n) {
		lst := g.list(off, 0)
		var keep []uint32
		for i := 1; i <= int(lst[0]); i++ {
			if !stranded[lst[i]] {
				keep = append(keep, lst[i])
			}
		}
		copy(lst[1:], keep)
		lst[0] = uint32(len(keep))
	}
	if un := g.Unreachable(); len(un) < len(stranded) {
		t.Fatalf("%d nodes unreachable, want at least %d", len(un), len(stranded))
	}
	return g, st, stranded
}

// TestReconnectUntilStops checks that ReconnectUntil gives up when told
// (a closing shard does not wait for a pass) and that a later pass
// finishes the work.
func TestReconnectUntilStops(t *testing.T) {
	g, _, _ := strandedGraph(t)
	calls := 0
	linked, done := g.ReconnectUntil(func() bool { calls++; return calls > 3 })
	if done || linked != 3 {
		t.Fatalf("ReconnectUntil stopped after %d links, done %v; want 3, false", linked, done)
	}
	if len(g.Unreachable()) == 0 {
		t.Fatal("nothing left unreachable after a pass cut short")
	}
	if _, done := g.ReconnectUntil(nil); !done {
		t.Fatal("an unbounded pass did not finish")
	}
	if un := g.Unreachable(); len(un) > 0 {
		t.Fatalf("after Reconnect: %d unreachable", len(un))
	}
}
