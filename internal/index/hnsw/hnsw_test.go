package hnsw

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/index"
	"github.com/shoal-db/shoal/internal/index/flat"
	"github.com/shoal-db/shoal/internal/vecmath"
)

var allDistances = []api.Distance{api.DistanceCosine, api.DistanceEuclid, api.DistanceDot, api.DistanceManhattan}

// randomStore fills a store with n random vectors (normalised for Cosine).
func randomStore(r *rand.Rand, d api.Distance, n, dim int) *index.Store {
	s := index.NewStore(dim)
	for i := 0; i < n; i++ {
		s.Set(uint32(i), randomVec(r, d, dim))
	}
	return s
}

func randomVec(r *rand.Rand, d api.Distance, dim int) []float32 {
	v := make([]float32, dim)
	for j := range v {
		v[j] = float32(r.NormFloat64())
	}
	if d == api.DistanceCosine {
		vecmath.Normalize(v)
	}
	return v
}

func build(t testing.TB, opts Options, s *index.Store, n, threads int) *Graph {
	g := New(opts, s)
	var wg sync.WaitGroup
	next := make(chan uint32, 256)
	for w := 0; w < threads; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for off := range next {
				g.Insert(off)
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- uint32(i)
	}
	close(next)
	wg.Wait()
	return g
}

// recall returns the mean fraction of the exact top k (under allow) found by
// the graph, over the queries.
func recall(t testing.TB, g *Graph, s *index.Store, d api.Distance, queries [][]float32, k, ef int, allow func(uint32) bool) float64 {
	var hit, total int
	for _, q := range queries {
		want := flat.Search(s, d, q, k, func(off uint32) bool { return g.Contains(off) && (allow == nil || allow(off)) })
		got := g.Search(q, k, ef, allow)
		if len(got) > k {
			t.Fatalf("Search returned %d > k results", len(got))
		}
		for i := 1; i < len(got); i++ {
			if got[i].Dist < got[i-1].Dist {
				t.Fatalf("results not sorted: %v", got)
			}
		}
		seen := map[uint32]bool{}
		for _, r := range got {
			if seen[r.Off] {
				t.Fatalf("duplicate result %d", r.Off)
			}
			seen[r.Off] = true
			if !g.Contains(r.Off) || (allow != nil && !allow(r.Off)) {
				t.Fatalf("result %d is deleted or not allowed", r.Off)
			}
			if want := vecmath.Dist(d)(q, s.Get(r.Off)); want != r.Dist {
				t.Fatalf("result %d has distance %v, want %v", r.Off, r.Dist, want)
			}
		}
		for _, w := range want {
			if seen[w.Off] {
				hit++
			}
		}
		total += len(want)
	}
	if total == 0 {
		return 1
	}
	return float64(hit) / float64(total)
}

func queries(r *rand.Rand, d api.Distance, n, dim int) [][]float32 {
	qs := make([][]float32, n)
	for i := range qs {
		qs[i] = randomVec(r, d, dim)
	}
	return qs
}

// testSize returns n, or a smaller size under the race detector, which
// slows the build about tenfold.
func testSize(n int) int {
	if raceEnabled {
		return n / 4
	}
	return n
}

func TestRecallAllDistances(t *testing.T) {
	n, dim := testSize(5000), 32
	for _, d := range allDistances {
		t.Run(string(d), func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(len(d))))
			s := randomStore(r, d, n, dim)
			g := build(t, Options{M: 16, EfConstruct: 100, Distance: d, Seed: 1}, s, n, 2)
			if g.Len() != n {
				t.Fatalf("Len = %d, want %d", g.Len(), n)
			}
			rec := recall(t, g, s, d, queries(r, d, 200, dim), 10, 64, nil)
			t.Logf("%s recall@10 ef=64: %.4f", d, rec)
			if rec < 0.95 {
				t.Fatalf("%s recall@10 at ef=64 = %.4f < 0.95", d, rec)
			}
		})
	}
}

func TestFilteredRecall(t *testing.T) {
	n, dim := testSize(5000), 32
	d := api.DistanceEuclid
	r := rand.New(rand.NewPCG(2, 2))
	s := randomStore(r, d, n, dim)
	g := build(t, Options{M: 16, EfConstruct: 100, Distance: d, Seed: 2}, s, n, 2)
	qs := queries(r, d, 100, dim)
	for _, sel := range []float64{0.5, 0.1, 0.01} {
		allowed := make([]bool, n)
		for i := range allowed {
			allowed[i] = r.Float64() < sel
		}
		allow := func(off uint32) bool { return allowed[off] }
		rec := recall(t, g, s, d, qs, 10, 64, allow)
		t.Logf("selectivity %.2f: recall@10 ef=64 = %.4f", sel, rec)
		if rec < 0.95 {
			t.Fatalf("selectivity %.2f: filtered recall %.4f < 0.95", sel, rec)
		}
	}
}

func TestEmptyAndSmall(t *testing.T) {
	s := index.NewStore(2)
	g := New(Options{Distance: api.DistanceEuclid}, s)
	if res := g.Search([]float32{0, 0}, 5, 10, nil); len(res) != 0 {
		t.Fatalf("empty graph returned %v", res)
	}
	s.Set(0, []float32{1, 1})
	s.Set(1, []float32{2, 2})
	s.Set(2, []float32{-3, 0})
	for i := uint32(0); i < 3; i++ {
		g.Insert(i)
	}
	g.Insert(1) // duplicate: no-op
	if g.Len() != 3 || !g.Contains(2) || g.Contains(3) || g.Contains(1<<20) {
		t.Fatalf("Len %d Contains(2) %v", g.Len(), g.Contains(2))
	}
	res := g.Search([]float32{0, 0}, 5, 10, nil)
	if len(res) != 3 || res[0].Off != 0 || res[0].Dist != 2 || res[1].Off != 1 || res[2].Off != 2 {
		t.Fatalf("Search = %v", res)
	}
	if res := g.Search([]float32{0, 0}, 0, 10, nil); res != nil {
		t.Fatalf("k=0 returned %v", res)
	}
	g.Delete(0)
	g.Delete(0)
	g.Delete(99)
	if g.Len() != 2 || g.Contains(0) {
		t.Fatalf("after delete: Len %d Contains(0) %v", g.Len(), g.Contains(0))
	}
	if res := g.Search([]float32{0, 0}, 5, 10, nil); len(res) != 2 || res[0].Off != 1 {
		t.Fatalf("Search after delete = %v", res)
	}
	g.Insert(0) // deleted offsets are never inserted again
	if g.Contains(0) {
		t.Fatal("re-insert of deleted offset")
	}
	g.Delete(1)
	g.Delete(2)
	g.Repair()
	if res := g.Search([]float32{0, 0}, 5, 10, nil); len(res) != 0 {
		t.Fatalf("all deleted, Search = %v", res)
	}
	s.Set(3, []float32{5, 5})
	g.Insert(3)
	if res := g.Search([]float32{0, 0}, 5, 10, nil); len(res) != 1 || res[0].Off != 3 {
		t.Fatalf("insert after deleting all: %v", res)
	}
}

// TestTombstone checks that deleting an offset before it is inserted keeps
// it out of the graph, also across a save and load.
func TestTombstone(t *testing.T) {
	s := index.NewStore(2)
	opts := Options{Distance: api.DistanceEuclid}
	g := New(opts, s)
	for i := uint32(0); i < 5; i++ {
		s.Set(i, []float32{float32(i), 0})
	}
	g.Delete(2)
	for i := uint32(0); i < 5; i++ {
		g.Insert(i)
	}
	if g.Contains(2) || g.Len() != 4 || g.Deleted() != 0 {
		t.Fatalf("tombstoned offset inserted: Contains %v Len %d Deleted %d", g.Contains(2), g.Len(), g.Deleted())
	}
	var buf bytes.Buffer
	if _, err := g.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	g2, err := Load(&buf, opts, s)
	if err != nil {
		t.Fatal(err)
	}
	g2.Insert(2)
	if g2.Contains(2) || g2.Len() != 4 {
		t.Fatalf("tombstone lost on load: Contains %v Len %d", g2.Contains(2), g2.Len())
	}
	for _, r := range g2.Search([]float32{2, 0}, 5, 10, nil) {
		if r.Off == 2 {
			t.Fatal("tombstoned offset returned")
		}
	}
}

func TestSearchFuncMatchesSearch(t *testing.T) {
	const n, dim = 2000, 16
	d := api.DistanceDot
	r := rand.New(rand.NewPCG(3, 3))
	s := randomStore(r, d, n, dim)
	g := build(t, Options{M: 8, EfConstruct: 64, Distance: d, Seed: 3}, s, n, 1)
	for _, q := range queries(r, d, 20, dim) {
		a := g.Search(q, 10, 50, nil)
		b := g.SearchFunc(func(off uint32) float32 { return -vecmath.Dot(q, s.Get(off)) }, 10, 50, nil)
		if len(a) != len(b) {
			t.Fatalf("lengths %d %d", len(a), len(b))
		}
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("Search %v != SearchFunc %v", a, b)
			}
		}
	}
}

// TestDeleteRepairRecall deletes a third of the points, repairs, and checks
// that recall over the remaining points stays high and that Repair unlinked
// every deleted node.
func TestDeleteRepairRecall(t *testing.T) {
	n, dim := testSize(4000), 24
	d := api.DistanceCosine
	r := rand.New(rand.NewPCG(4, 4))
	s := randomStore(r, d, n, dim)
	g := build(t, Options{M: 12, EfConstruct: 100, Distance: d, Seed: 4}, s, n, 2)
	for i := 0; i < n; i += 3 {
		g.Delete(uint32(i))
	}
	qs := queries(r, d, 100, dim)
	before := recall(t, g, s, d, qs, 10, 64, nil)
	if g.Deleted() != (n+2)/3 {
		t.Fatalf("Deleted = %d", g.Deleted())
	}
	removed := g.Repair()
	if removed != (n+2)/3 || g.Deleted() != 0 {
		t.Fatalf("Repair removed %d, %d still deleted", removed, g.Deleted())
	}
	// No live node links to a removed one.
	for off := uint32(0); off < uint32(n); off++ {
		nd := g.node(off)
		for l := 0; l <= int(nd.level); l++ {
			lst := g.list(off, l)
			for i := 1; i <= int(lst[0]); i++ {
				if g.node(lst[i]).state.Load()&stDeleted != 0 {
					t.Fatalf("node %d level %d still links to deleted %d", off, l, lst[i])
				}
			}
			if off%3 == 0 && lst[0] != 0 {
				t.Fatalf("removed node %d keeps %d links", off, lst[0])
			}
		}
	}
	after := recall(t, g, s, d, qs, 10, 64, nil)
	t.Logf("recall with deleted nodes %.4f, after repair %.4f", before, after)
	if before < 0.9 || after < 0.95 {
		t.Fatalf("recall before repair %.4f, after %.4f", before, after)
	}
	if g.Len() != n-(n+2)/3 {
		t.Fatalf("Len = %d", g.Len())
	}
}

// TestConcurrent runs inserts, searches, deletes and repairs at once, on
// a graph on the heap and on one whose lists are in a mapped file
// (on_disk); run under -race it checks the locking discipline (the race
// detector does not see the mapped memory, only the heap's), and
// afterwards the graph must still find every live point.
func TestConcurrent(t *testing.T) {
	t.Run("heap", func(t *testing.T) { testConcurrent(t, "") })
	t.Run("on_disk", func(t *testing.T) { testConcurrent(t, t.TempDir()) })
}

func testConcurrent(t *testing.T, dir string) {
	n, dim := 3000, 16
	if testing.Short() || raceEnabled {
		n = 1200
	}
	d := api.DistanceEuclid
	r := rand.New(rand.NewPCG(5, 5))
	s := randomStore(r, d, n, dim)
	g := New(Options{M: 8, EfConstruct: 64, Distance: d, Seed: 5, Dir: dir}, s)
	defer g.Close()
	if g.OnDisk() != (dir != "" && runtime.GOOS == "linux") {
		t.Fatalf("OnDisk %v with Dir %q", g.OnDisk(), dir)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	inserted := 0
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for off := w; off < n; off += 3 {
				g.Insert(uint32(off))
				if w == 0 {
					mu.Lock()
					inserted = off
					mu.Unlock()
				}
			}
		}()
	}
	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Add(3)
	go func() { // searcher
		defer bg.Done()
		qr := rand.New(rand.NewPCG(6, 6))
		for {
			select {
			case <-stop:
				return
			default:
			}
			res := g.Search(randomVec(qr, d, dim), 5, 20, func(off uint32) bool { return off%2 == 0 })
			for _, x := range res {
				if x.Off%2 != 0 {
					t.Errorf("disallowed result %d", x.Off)
				}
			}
		}
	}()
	go func() { // deleter
		defer bg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			mu.Lock()
			hi := inserted
			mu.Unlock()
			if hi > 10 {
				off := uint32(hi/2) / 7 * 7
				g.Delete(off)
			}
		}
	}()
	go func() { // repairer
		defer bg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			g.Repair()
			var buf bytes.Buffer
			if _, err := g.WriteTo(&buf); err != nil {
				t.Errorf("WriteTo: %v", err)
			}
		}
	}()
	wg.Wait()
	close(stop)
	bg.Wait()
	g.Repair()
	// Every live point is its own nearest neighbour.
	missed := 0
	live := 0
	for off := uint32(0); off < uint32(n); off++ {
		if !g.Contains(off) {
			continue
		}
		live++
		res := g.Search(s.Get(off), 1, 32, nil)
		if len(res) == 0 || res[0].Off != off {
			missed++
		}
	}
	if live != g.Len() || live == 0 {
		t.Fatalf("Len %d, live %d", g.Len(), live)
	}
	if float64(missed) > 0.01*float64(live) {
		t.Fatalf("%d of %d live points not found as their own nearest neighbour", missed, live)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	const n, dim = 3000, 16
	d := api.DistanceManhattan
	r := rand.New(rand.NewPCG(7, 7))
	s := randomStore(r, d, n, dim)
	opts := Options{M: 10, EfConstruct: 80, Distance: d, Seed: 7}
	g := build(t, opts, s, n, 2)
	for i := 0; i < n; i += 10 {
		g.Delete(uint32(i))
	}
	g.Repair()
	for i := 5; i < n; i += 10 {
		g.Delete(uint32(i)) // deleted, not repaired
	}
	var buf bytes.Buffer
	nw, err := g.WriteTo(&buf)
	if err != nil || nw != int64(buf.Len()) {
		t.Fatalf("WriteTo = %d, %v (buffer %d)", nw, err, buf.Len())
	}
	g2, err := Load(bytes.NewReader(buf.Bytes()), opts, s)
	if err != nil {
		t.Fatal(err)
	}
	if g2.Len() != g.Len() || g2.Deleted() != g.Deleted() {
		t.Fatalf("loaded Len %d Deleted %d, want %d %d", g2.Len(), g2.Deleted(), g.Len(), g.Deleted())
	}
	for off := uint32(0); off < n; off++ {
		if g.Contains(off) != g2.Contains(off) {
			t.Fatalf("Contains(%d) differs", off)
		}
	}
	for _, q := range queries(r, d, 50, dim) {
		a, b := g.Search(q, 10, 40, nil), g2.Search(q, 10, 40, nil)
		if len(a) != len(b) {
			t.Fatalf("result lengths %d, %d", len(a), len(b))
		}
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("loaded graph differs: %v vs %v", a, b)
			}
		}
	}
	var buf2 bytes.Buffer
	if _, err := g2.WriteTo(&buf2); err != nil || !bytes.Equal(buf.Bytes(), buf2.Bytes()) {
		t.Fatalf("re-written file differs (err %v)", err)
	}
	// The loaded graph keeps working: new inserts are found.
	s.Set(n, randomVec(r, d, dim))
	g2.Insert(n)
	if res := g2.Search(s.Get(n), 1, 20, nil); len(res) != 1 || res[0].Off != n {
		t.Fatalf("insert after load: %v", res)
	}
	// Empty graph round trip.
	var eb bytes.Buffer
	if _, err := New(opts, index.NewStore(dim)).WriteTo(&eb); err != nil {
		t.Fatal(err)
	}
	if ge, err := Load(&eb, opts, index.NewStore(dim)); err != nil || ge.Len() != 0 {
		t.Fatalf("empty round trip: %v", err)
	}
}

func TestLoadDetectsCorruption(t *testing.T) {
	n, dim := testSize(1500), 8
	d := api.DistanceEuclid
	r := rand.New(rand.NewPCG(8, 8))
	s := randomStore(r, d, n, dim)
	opts := Options{M: 6, EfConstruct: 40, Distance: d, Seed: 8}
	g := build(t, opts, s, n, 1)
	var buf bytes.Buffer
	if _, err := g.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	file := buf.Bytes()
	// Every truncation is detected.
	for _, cut := range []int{0, 1, 7, headerLen - 1, headerLen, headerLen + 1, len(file) / 2, len(file) - 5, len(file) - 4, len(file) - 1} {
		if _, err := Load(bytes.NewReader(file[:cut]), opts, s); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated at %d of %d: err %v", cut, len(file), err)
		}
	}
	// Every single bit flip at sampled positions is detected.
	for i := 0; i < 300; i++ {
		pos := r.IntN(len(file))
		bad := bytes.Clone(file)
		bad[pos] ^= 1 << r.IntN(8)
		if _, err := Load(bytes.NewReader(bad), opts, s); err == nil {
			t.Fatalf("bit flip at byte %d of %d loaded silently", pos, len(file))
		}
	}
	// Mismatched options are refused.
	if _, err := Load(bytes.NewReader(file), Options{M: 7, Distance: d}, s); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("M mismatch: %v", err)
	}
	if _, err := Load(bytes.NewReader(file), Options{M: 6, Distance: api.DistanceDot}, s); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("distance mismatch: %v", err)
	}
	// A store missing vectors is refused.
	if _, err := Load(bytes.NewReader(file), opts, index.NewStore(dim)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("short store: %v", err)
	}
}

func TestLevelsDistribution(t *testing.T) {
	g := New(Options{M: 16, Distance: api.DistanceDot, Seed: 9}, index.NewStore(1))
	counts := make([]int, maxLevel+1)
	const n = 200000
	for i := uint32(0); i < n; i++ {
		counts[g.randomLevel(i)]++
	}
	// P(level >= 1) = 1/M.
	above := float64(n-counts[0]) / n
	if above < 0.055 || above > 0.07 {
		t.Fatalf("fraction above level 0 = %.4f, want ~%.4f", above, 1.0/16)
	}
	if g.randomLevel(12345) != g.randomLevel(12345) {
		t.Fatal("levels are not deterministic")
	}
}

// FuzzLoad feeds arbitrary bytes (seeded with a valid file and damaged
// copies) to Load: it must return an error or a usable graph, never panic
// or allocate beyond the store's size.
func FuzzLoad(f *testing.F) {
	r := rand.New(rand.NewPCG(10, 10))
	s := randomStore(r, api.DistanceEuclid, 300, 4)
	opts := Options{M: 4, EfConstruct: 20, Distance: api.DistanceEuclid, Seed: 1}
	g := build(f, opts, s, 300, 1)
	g.Delete(7)
	var buf bytes.Buffer
	if _, err := g.WriteTo(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(buf.Bytes()[:100])
	f.Add([]byte(fileMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		g2, err := Load(bytes.NewReader(data), opts, s)
		if err != nil {
			return
		}
		for i := 0; i < 3; i++ {
			res := g2.Search(s.Get(uint32(i)), 3, 10, nil)
			if len(res) > 3 {
				t.Fatalf("%d results", len(res))
			}
		}
	})
}

// vecScorer is a Scorer by the stored vectors; batchScorer adds DistBatch
// and counts its calls.
type vecScorer struct {
	q []float32
	s *index.Store
}

func (v vecScorer) Dist(off uint32) float32 { return -vecmath.Dot(v.q, v.s.Get(off)) }
func (v vecScorer) Prefetch(uint32)         {}

type batchScorer struct {
	vecScorer
	calls *int
}

func (b batchScorer) DistBatch(offs []uint32, out []float32) {
	*b.calls++
	for i, off := range offs {
		out[i] = b.Dist(off)
	}
}

// TestBatchScorerMatchesSearch checks that SearchScorer scores by
// DistBatch when the scorer has it, and finds what Search finds.
func TestBatchScorerMatchesSearch(t *testing.T) {
	const n, dim = 2000, 16
	d := api.DistanceDot
	r := rand.New(rand.NewPCG(4, 4))
	s := randomStore(r, d, n, dim)
	g := build(t, Options{M: 8, EfConstruct: 64, Distance: d, Seed: 4}, s, n, 1)
	for _, q := range queries(r, d, 20, dim) {
		calls := 0
		a := g.Search(q, 10, 50, func(off uint32) bool { return off%3 != 0 })
		b := g.SearchScorer(batchScorer{vecScorer{q, s}, &calls}, 10, 50, func(off uint32) bool { return off%3 != 0 })
		if calls == 0 {
			t.Fatal("DistBatch was not called")
		}
		if !slices.Equal(a, b) {
			t.Fatalf("Search %v != SearchScorer with DistBatch %v", a, b)
		}
	}
}
