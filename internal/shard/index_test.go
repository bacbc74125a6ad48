package shard

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/api"
)

// indexedOptions makes a shard that indexes from the first vector and uses
// the graph above 16 vectors, so small tests exercise the HNSW paths.
func indexedOptions(dir string, dim int, d api.Distance) Options {
	one := 1
	o := testOptions(dir)
	o.Vectors = api.VectorsConfig{"": {Size: dim, Distance: d}}
	o.Hnsw = map[string]api.HnswConfig{"": {M: 16, EfConstruct: 64, FullScanThreshold: 1}}
	o.Optimizers = api.DefaultOptimizersConfig()
	o.Optimizers.IndexingThreshold = &one
	o.IndexingThreads = 2
	return o
}

// crash stops the shard without persisting index files, as a kill would
// (the Pebble store is closed cleanly, which its WAL replay makes
// equivalent for synced writes).
func crash(t testing.TB, s *Shard) {
	t.Helper()
	s.writeMu.Lock()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.writeMu.Unlock()
	s.bgCancel()
	s.bgWG.Wait()
	s.closeView()
	if err := s.db.Close(); err != nil {
		t.Fatal(err)
	}
}

func waitIndexed(t testing.TB, s *Shard) {
	t.Helper()
	ctx, cancel := context.WithTimeout(bg, 60*time.Second)
	defer cancel()
	if err := s.WaitIndexed(ctx); err != nil {
		t.Fatalf("WaitIndexed: %v (stats %+v)", err, s.Stats())
	}
	assertReachable(t, s)
}

// assertReachable checks the invariant WaitIndexed guarantees while no
// writes run: every live node of every graph is reachable from the entry
// point through level-0 links, so a wide enough search finds it.
func assertReachable(t testing.TB, s *Shard) {
	t.Helper()
	s.mu.RLock()
	spaces := s.sortedSpaces()
	s.mu.RUnlock()
	for _, sp := range spaces {
		if g := sp.graph.Load(); g != nil {
			if un := g.Unreachable(); len(un) > 0 {
				t.Fatalf("vector %q: %d of %d graph nodes unreachable from the entry point after WaitIndexed: %v", sp.name, len(un), g.Len(), un[:min(len(un), 20)])
			}
		}
	}
}

func loadRandom(t testing.TB, s *Shard, r *rand.Rand, n, dim int, mkPayload func(i int) api.Payload) map[uint64][]float32 {
	t.Helper()
	vecs := map[uint64][]float32{}
	for start := 0; start < n; start += 500 {
		var batch []api.PointStruct
		for i := start; i < min(n, start+500); i++ {
			v := randVec(r, dim)
			vecs[uint64(i)] = v
			var p api.Payload
			if mkPayload != nil {
				p = mkPayload(i)
			}
			batch = append(batch, pt(uint64(i), v, p))
		}
		apply(t, s, upsert(batch...))
	}
	return vecs
}

func ids(hits []api.ScoredPoint) []uint64 {
	out := make([]uint64, len(hits))
	for i, h := range hits {
		out[i] = h.ID.Num
	}
	return out
}

func recall(got, want []uint64) float64 {
	if len(want) == 0 {
		return 1
	}
	n := 0
	for _, w := range want {
		if slices.Contains(got, w) {
			n++
		}
	}
	return float64(n) / float64(len(want))
}

func TestHNSWRecallAndReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(indexedOptions(dir, 16, api.DistanceEuclid))
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	const n = 3000
	loadRandom(t, s, r, n, 16, nil)
	waitIndexed(t, s)
	st := s.Stats()
	if st.Status != api.StatusGreen || st.IndexedVectors != n || st.PendingIndex != 0 {
		t.Fatalf("stats after indexing: %+v", st)
	}
	queries := make([][]float32, 50)
	for i := range queries {
		queries[i] = randVec(r, 16)
	}
	search := func(s *Shard, q []float32, exact bool) []api.ScoredPoint {
		hits, err := s.Search(bg, SearchRequest{Vector: q, Limit: 10, Params: api.SearchParams{Exact: exact}})
		if err != nil {
			t.Fatal(err)
		}
		return hits
	}
	var sum float64
	before := make([][]api.ScoredPoint, len(queries))
	for i, q := range queries {
		before[i] = search(s, q, false)
		sum += recall(ids(before[i]), ids(search(s, q, true)))
	}
	if g, e := s.plansGraph.Load(), s.plansExact.Load(); g != 50 || e != 50 {
		t.Fatalf("plans: %d graph, %d exact; want 50 each", g, e)
	}
	if rc := sum / float64(len(queries)); rc < 0.95 {
		t.Fatalf("HNSW recall@10 %.3f < 0.95", rc)
	} else {
		t.Logf("HNSW recall@10 = %.3f", rc)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, indexDirName, indexFileName(""))); err != nil {
		t.Fatalf("no index file after Close: %v", err)
	}
	// Reopen: the graph and vectors come from the index file.
	s2 := openShard(t, indexedOptions(dir, 16, api.DistanceEuclid))
	if s2.loadedFromStore != 0 {
		t.Fatalf("reopen read %d vectors from the store despite a current index file", s2.loadedFromStore)
	}
	if st := s2.Stats(); st.IndexedVectors != n || st.PendingIndex != 0 || st.Status != api.StatusGreen {
		t.Fatalf("stats after reopen: %+v", st)
	}
	for i, q := range queries {
		if got := search(s2, q, false); jsonOf(t, got) != jsonOf(t, before[i]) {
			t.Fatalf("query %d differs after reopen:\n%s\n%s", i, jsonOf(t, got), jsonOf(t, before[i]))
		}
	}
}

func TestFilteredSearchRecall(t *testing.T) {
	opts := indexedOptions(t.TempDir(), 16, api.DistanceCosine)
	opts.PayloadIndexes = map[string]api.PayloadFieldSchema{"k": {Type: api.SchemaKeyword}}
	// At 4,000 points the cost model would scan every filtered set
	// exactly; make the graph cheap so that the filtered graph path runs.
	opts.graphCost = 1e-4
	s := openShard(t, opts)
	r := rand.New(rand.NewPCG(5, 6))
	const n = 4000
	loadRandom(t, s, r, n, 16, func(i int) api.Payload {
		return api.Payload{"k": fmt.Sprintf("v%d", i%1000)}
	})
	waitIndexed(t, s)
	for _, sel := range []struct {
		name   string
		values int
	}{{"50%", 500}, {"10%", 100}, {"1%", 10}, {"0.1%", 1}} {
		vals := make([]any, sel.values)
		for i := range vals {
			vals[i] = fmt.Sprintf("v%d", i)
		}
		f := &api.Filter{Must: []api.Condition{{Field: &api.FieldCondition{Key: "k", Match: &api.Match{Kind: api.MatchAny, Values: vals}}}}}
		var sum float64
		const queries = 30
		g0 := s.plansGraph.Load()
		for range queries {
			q := randVec(r, 16)
			got, err := s.Search(bg, SearchRequest{Vector: q, Limit: 10, Filter: f})
			if err != nil {
				t.Fatal(err)
			}
			want, err := s.Search(bg, SearchRequest{Vector: q, Limit: 10, Filter: f, Params: api.SearchParams{Exact: true}})
			if err != nil {
				t.Fatal(err)
			}
			if len(want) != min(10, n*sel.values/1000) {
				t.Fatalf("%s: exact search found %d", sel.name, len(want))
			}
			for _, h := range got {
				if int(h.ID.Num%1000) >= sel.values {
					t.Fatalf("%s: hit %d does not match the filter", sel.name, h.ID.Num)
				}
			}
			sum += recall(ids(got), ids(want))
		}
		rc := sum / queries
		graphPlans := s.plansGraph.Load() - g0
		t.Logf("filtered recall@10 at %s: %.3f (%d of %d searches on the graph)", sel.name, rc, graphPlans, queries)
		if wantGraph := sel.values >= 10; (graphPlans == queries) != wantGraph || (!wantGraph && graphPlans != 0) {
			t.Fatalf("%s: %d of %d searches used the graph; want all: %v", sel.name, graphPlans, queries, wantGraph)
		}
		if rc < 0.95 {
			t.Fatalf("filtered recall@10 at %s = %.3f < 0.95", sel.name, rc)
		}
	}
}

func TestUnindexedTailIsSearchable(t *testing.T) {
	opts := indexedOptions(t.TempDir(), 8, api.DistanceDot)
	opts.noIndexer = true
	s := openShard(t, opts)
	r := rand.New(rand.NewPCG(7, 8))
	vecs := loadRandom(t, s, r, 300, 8, nil)
	st := s.Stats()
	if st.Status != api.StatusYellow || st.PendingIndex != 300 || st.IndexedVectors != 0 {
		t.Fatalf("stats with a stopped indexer: %+v", st)
	}
	ctx, cancel := context.WithTimeout(bg, 50*time.Millisecond)
	if err := s.WaitIndexed(ctx); err == nil {
		t.Fatal("WaitIndexed returned with a pending queue")
	}
	cancel()
	dot := func(a, b []float32) float32 {
		var s float32
		for i := range a {
			s += a[i] * b[i]
		}
		return -s
	}
	q := randVec(r, 8)
	hits, err := s.Search(bg, SearchRequest{Vector: q, Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if want := bruteForce(vecs, q, 5, dot, nil); !slices.Equal(ids(hits), want) {
		t.Fatalf("tail search %v, want %v", ids(hits), want)
	}
	// Deleting a queued point cancels its insert.
	apply(t, s, &api.UpdateOperation{Delete: &api.PointsSelector{Points: []api.PointID{api.NumID(0), api.NumID(1)}}})
	s.startWorkers()
	waitIndexed(t, s)
	st = s.Stats()
	if st.Status != api.StatusGreen || st.IndexedVectors != 298 {
		t.Fatalf("stats after indexing: %+v", st)
	}
	delete(vecs, 0)
	delete(vecs, 1)
	hits, _ = s.Search(bg, SearchRequest{Vector: q, Limit: 5, Params: api.SearchParams{HnswEf: ptr(200)}})
	if want := bruteForce(vecs, q, 5, dot, nil); !slices.Equal(ids(hits), want) {
		t.Fatalf("graph search %v, want %v", ids(hits), want)
	}
}

func ptr[T any](v T) *T { return &v }

func TestDamagedIndexFileIsRebuilt(t *testing.T) {
	for _, damage := range []string{"flip", "truncate", "garbage", "wrong-dim"} {
		t.Run(damage, func(t *testing.T) {
			dir := t.TempDir()
			opts := indexedOptions(dir, 8, api.DistanceEuclid)
			s, err := Open(opts)
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(9, 10))
			vecs := loadRandom(t, s, r, 1000, 8, nil)
			waitIndexed(t, s)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, indexDirName, indexFileName(""))
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			switch damage {
			case "flip":
				b[len(b)/2] ^= 0x40
			case "truncate":
				b = b[:len(b)*2/3]
			case "garbage":
				b = []byte("not an index file at all")
			case "wrong-dim":
				opts.Vectors = api.VectorsConfig{"": {Size: 8, Distance: api.DistanceEuclid}}
				b[20] = 9 // the dimension field
			}
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			s2 := openShard(t, opts)
			if s2.loadedFromStore != 1000 {
				t.Fatalf("damaged file used: %d vectors read from the store, want 1000", s2.loadedFromStore)
			}
			waitIndexed(t, s2)
			if st := s2.Stats(); st.Points != 1000 || st.IndexedVectors != 1000 {
				t.Fatalf("stats after rebuild: %+v", st)
			}
			euclid := func(a, b []float32) float32 {
				var s float32
				for i := range a {
					d := a[i] - b[i]
					s += d * d
				}
				return s
			}
			for range 10 {
				q := randVec(r, 8)
				hits, _ := s2.Search(bg, SearchRequest{Vector: q, Limit: 5, Params: api.SearchParams{Exact: true}})
				if want := bruteForce(vecs, q, 5, euclid, nil); !slices.Equal(ids(hits), want) {
					t.Fatalf("after rebuild %v, want %v", ids(hits), want)
				}
			}
		})
	}
}

// TestStaleIndexFilesReconcile persists index files, changes the shard
// (updates, deletes, vector updates), crashes without persisting, and
// checks that the reopened shard reflects every change.
func TestStaleIndexFilesReconcile(t *testing.T) {
	dir := t.TempDir()
	opts := indexedOptions(dir, 8, api.DistanceEuclid)
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(11, 12))
	vecs := loadRandom(t, s, r, 1000, 8, nil)
	waitIndexed(t, s)
	if err := s.persist(bg, dir, true); err != nil {
		t.Fatal(err)
	}
	// Changes after the index files.
	for i := range 100 {
		v := randVec(r, 8)
		vecs[uint64(i)] = v
		apply(t, s, upsert(pt(uint64(i), v, nil)))
	}
	var del []api.PointID
	for i := 100; i < 200; i++ {
		del = append(del, api.NumID(uint64(i)))
		delete(vecs, uint64(i))
	}
	apply(t, s, &api.UpdateOperation{Delete: &api.PointsSelector{Points: del}})
	for i := 1000; i < 1100; i++ {
		v := randVec(r, 8)
		vecs[uint64(i)] = v
		apply(t, s, upsert(pt(uint64(i), v, nil)))
	}
	crash(t, s)

	s2 := openShard(t, opts)
	if s2.loadedFromStore != 200 {
		t.Fatalf("read %d vectors from the store, want the 200 written after the index files", s2.loadedFromStore)
	}
	waitIndexed(t, s2)
	if st := s2.Stats(); st.Points != 1000 || st.IndexedVectors != 1000 {
		t.Fatalf("stats after reconcile: %+v", st)
	}
	euclid := func(a, b []float32) float32 {
		var s float32
		for i := range a {
			d := a[i] - b[i]
			s += d * d
		}
		return s
	}
	var sum float64
	for range 30 {
		q := randVec(r, 8)
		hits, _ := s2.Search(bg, SearchRequest{Vector: q, Limit: 10})
		for _, h := range hits {
			if _, ok := vecs[h.ID.Num]; !ok {
				t.Fatalf("deleted point %d returned", h.ID.Num)
			}
		}
		sum += recall(ids(hits), bruteForce(vecs, q, 10, euclid, nil))
	}
	if rc := sum / 30; rc < 0.95 {
		t.Fatalf("recall after reconcile %.3f", rc)
	}
	for id, v := range vecs {
		r := getOne(t, s2, id)
		if r == nil || !slices.Equal(r.Vector[""], v) {
			t.Fatalf("point %d after reconcile: %v, want %v", id, r, v)
		}
	}
}

// TestMassDeleteRebuildsGraph deletes most points: searches stay right
// throughout, and the graph ends up without tombstones (repaired as the
// deletions arrive, or rebuilt once they outnumber the live nodes; while
// they do, searches go exact).
func TestMassDeleteRebuildsGraph(t *testing.T) {
	opts := indexedOptions(t.TempDir(), 8, api.DistanceEuclid)
	s := openShard(t, opts)
	r := rand.New(rand.NewPCG(13, 14))
	vecs := loadRandom(t, s, r, 1000, 8, nil)
	waitIndexed(t, s)
	before := s.spaces[""].graph.Load()
	var del []api.PointID
	for i := range 600 {
		del = append(del, api.NumID(uint64(i)))
		delete(vecs, uint64(i))
	}
	apply(t, s, &api.UpdateOperation{Delete: &api.PointsSelector{Points: del}})
	euclid := func(a, b []float32) float32 {
		var s float32
		for i := range a {
			d := a[i] - b[i]
			s += d * d
		}
		return s
	}
	check := func(stage string) {
		t.Helper()
		for range 20 {
			q := randVec(r, 8)
			hits, err := s.Search(bg, SearchRequest{Vector: q, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if rc := recall(ids(hits), bruteForce(vecs, q, 10, euclid, nil)); rc < 0.9 {
				t.Fatalf("%s: recall %.2f", stage, rc)
			}
		}
	}
	check("right after the delete")
	deadline := time.Now().Add(20 * time.Second)
	for {
		waitIndexed(t, s)
		g := s.spaces[""].graph.Load()
		if g.Len() == 400 && g.Deleted() == 0 {
			t.Logf("tombstones cleared (rebuilt: %v)", g != before)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("graph still has tombstones: len %d, deleted %d", g.Len(), g.Deleted())
		}
		time.Sleep(10 * time.Millisecond)
	}
	check("after the rebuild")
}

func TestCheckpointWithIndexOpens(t *testing.T) {
	dir := t.TempDir()
	opts := indexedOptions(filepath.Join(dir, "live"), 8, api.DistanceEuclid)
	s := openShard(t, opts)
	r := rand.New(rand.NewPCG(15, 16))
	loadRandom(t, s, r, 1000, 8, nil)
	waitIndexed(t, s)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1000; i < 1200; i++ {
			if _, err := s.Apply(bg, upsert(pt(uint64(i), randVec(rand.New(rand.NewPCG(uint64(i), 1)), 8), nil))); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	cp := filepath.Join(dir, "cp")
	seq, err := s.Checkpoint(bg, cp)
	if err != nil {
		t.Fatal(err)
	}
	<-done
	copts := opts
	copts.Dir = cp
	c := openShard(t, copts)
	if c.LastSeq() != seq {
		t.Fatalf("copy at %d, want %d", c.LastSeq(), seq)
	}
	// Upserts are batches of 500 then single points.
	want := uint64(1000) + seq - 2
	if n, _ := c.Count(bg, nil, true); n != want {
		t.Fatalf("copy has %d points, want %d", n, want)
	}
	waitIndexed(t, c)
	if st := c.Stats(); st.IndexedVectors != want {
		t.Fatalf("copy stats %+v", st)
	}
	// New writes to the copy get fresh offsets.
	apply(t, c, upsert(pt(5000, []float32{9, 9, 9, 9, 9, 9, 9, 9}, nil)))
	hits, _ := c.Search(bg, SearchRequest{Vector: []float32{9, 9, 9, 9, 9, 9, 9, 9}, Limit: 1})
	if len(hits) != 1 || hits[0].ID.Num != 5000 {
		t.Fatalf("search in copy: %s", jsonOf(t, hits))
	}
}

// TestCheckpointIndexFilesWithoutVectors checks the index files of an
// archive's checkpoint (CheckpointCounted): version 2, without the vector
// section (the point records carry every vector), yet a shard opened from
// the checkpoint has its graph at once (nothing to index) and every vector
// and search result of the original, including after a point was replaced
// (a dead offset below the file's n).
func TestCheckpointIndexFilesWithoutVectors(t *testing.T) {
	dir := t.TempDir()
	const dim = 32
	opts := indexedOptions(filepath.Join(dir, "live"), dim, api.DistanceEuclid)
	s := openShard(t, opts)
	r := rand.New(rand.NewPCG(21, 22))
	vecs := loadRandom(t, s, r, 2000, dim, nil)
	waitIndexed(t, s)
	vecs[7] = randVec(r, dim)
	apply(t, s, upsert(pt(7, vecs[7], nil)))
	waitIndexed(t, s)
	if d := s.spaces[""].graph.Load().Deleted(); d != 1 {
		t.Fatalf("original graph has %d tombstones, want the replaced point's 1", d)
	}
	cp := filepath.Join(dir, "cp")
	seq, points, err := s.CheckpointCounted(bg, cp)
	if err != nil {
		t.Fatal(err)
	}
	if points != 2000 {
		t.Fatalf("checkpoint counted %d points, want 2000", points)
	}
	path := filepath.Join(cp, indexDirName, indexFileName(""))
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if v := binary.LittleEndian.Uint32(raw[8:]); v != indexFileNoVectors {
		t.Fatalf("checkpoint index file version %d, want %d", v, indexFileNoVectors)
	}
	if vecBytes := 2001 * dim * 4; len(raw) >= vecBytes {
		t.Fatalf("checkpoint index file is %d bytes, not less than the vectors' %d", len(raw), vecBytes)
	}
	copts := opts
	copts.Dir = cp
	copts.noIndexer = true // whatever is indexed comes from the file
	c := openShard(t, copts)
	if c.LastSeq() != seq {
		t.Fatalf("copy at %d, want %d", c.LastSeq(), seq)
	}
	if st := c.Stats(); st.IndexedVectors != 2000 || st.PendingIndex != 0 {
		t.Fatalf("copy opened with %d vectors indexed and %d pending, want the file's graph of 2000", st.IndexedVectors, st.PendingIndex)
	}
	if c.loadedFromStore != 2000 {
		t.Fatalf("copy read %d vectors from its store, want all 2000", c.loadedFromStore)
	}
	// The replaced point's node, whose vector the copy does not have, is
	// unlinked at open (searches would otherwise walk through a zero
	// vector).
	if d := c.spaces[""].graph.Load().Deleted(); d != 0 {
		t.Fatalf("copy's graph kept %d tombstones", d)
	}
	for id, want := range vecs {
		recs, err := c.Get(bg, []api.PointID{api.NumID(id)}, nil, &api.VectorSelector{Enable: true})
		if err != nil || len(recs) != 1 {
			t.Fatalf("get %d: %v %v", id, recs, err)
		}
		if got := recs[0].Vector[""]; !slices.Equal(got, want) {
			t.Fatalf("point %d: vector %v, want %v", id, got, want)
		}
	}
	for i := range 20 {
		q := randVec(r, dim)
		a, err := s.Search(bg, SearchRequest{Vector: q, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		b, err := c.Search(bg, SearchRequest{Vector: q, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if jsonOf(t, a) != jsonOf(t, b) {
			t.Fatalf("query %d: original %s, copy %s", i, jsonOf(t, a), jsonOf(t, b))
		}
	}
}

// TestOpenReadsVectorsInKeyOrder checks Open's reading of vectors from
// the point records when an index file does not provide them: here the
// file of vector "b", held by two points far apart among 2,000 whose "a"
// a file covers, is removed, so Open walks past 1,500 offsets of "a" keys
// (seeking) to find "b"'s second vector.
func TestOpenReadsVectorsInKeyOrder(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions(dir)
	opts.Vectors = api.VectorsConfig{"a": {Size: 4, Distance: api.DistanceEuclid}, "b": {Size: 3, Distance: api.DistanceEuclid}}
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(23, 24))
	want := map[uint64]api.Vectors{}
	var batch []api.PointStruct
	for i := range uint64(2000) {
		v := api.Vectors{"a": randVec(r, 4)}
		if i == 3 || i == 1600 {
			v["b"] = randVec(r, 3)
		}
		want[i] = v
		batch = append(batch, api.PointStruct{ID: api.NumID(i), Vector: v})
	}
	apply(t, s, upsert(batch...))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, indexDirName, indexFileName("b"))); err != nil {
		t.Fatal(err)
	}
	s = openShard(t, opts)
	if s.loadedFromStore != 2 {
		t.Fatalf("reopen read %d vectors from the store, want b's 2", s.loadedFromStore)
	}
	for id, v := range want {
		recs, err := s.Get(bg, []api.PointID{api.NumID(id)}, nil, &api.VectorSelector{Enable: true})
		if err != nil || len(recs) != 1 {
			t.Fatalf("get %d: %v %v", id, recs, err)
		}
		for name, vec := range v {
			if got := recs[0].Vector[name]; !slices.Equal(got, vec) {
				t.Fatalf("point %d vector %q: %v, want %v", id, name, got, vec)
			}
		}
	}
}

// TestReconcileDeadIndexFile persists the index file of 20 points (too few tombstones for
// a repair or rebuild to start by itself),
// replaces all of them, crashes without persisting, and checks that the
// reopened shard does not build its graph on the file's dead nodes (whose
// vectors it no longer holds): it starts a new graph, with no tombstones,
// that finds every point by its own vector. Building on the tombstones used
// to leave most new nodes without links (TestCrashRecovery's recall check
// caught it when the writer indexed little before it was killed).
func TestReconcileDeadIndexFile(t *testing.T) {
	dir := t.TempDir()
	opts := indexedOptions(dir, 16, api.DistanceEuclid)
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(13, 14))
	loadRandom(t, s, r, 20, 16, nil)
	waitIndexed(t, s)
	if err := s.persist(bg, dir, true); err != nil {
		t.Fatal(err)
	}
	vecs := map[uint64][]float32{}
	for i := range 300 {
		v := randVec(r, 16)
		vecs[uint64(i)] = v
		apply(t, s, upsert(pt(uint64(i), v, nil)))
	}
	crash(t, s)

	s2 := openShard(t, opts)
	waitIndexed(t, s2)
	g := s2.spaces[""].graph.Load()
	if d := g.Deleted(); d != 0 {
		t.Fatalf("graph after reopen holds %d deleted nodes of the old index file", d)
	}
	miss := 0
	for id, v := range vecs {
		hits, err := s2.Search(bg, SearchRequest{Vector: v, Limit: 1, Params: api.SearchParams{HnswEf: ptr(32)}})
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) == 0 || hits[0].ID.Num != id {
			miss++
		}
	}
	if miss > 0 {
		t.Fatalf("%d of %d points not found by their own vector at ef 32", miss, len(vecs))
	}
}

// TestIndexerYieldsToWritersButProgresses checks both sides of the writer
// priority: while a write is in flight anywhere on the node (here on
// another shard sharing the node's WriteActivity), workers insert nothing,
// but only until the queued vectors have waited yieldAge, so that a writer
// that never finishes cannot stall indexing.
func TestIndexerYieldsToWritersButProgresses(t *testing.T) {
	node := new(WriteActivity)
	opts := indexedOptions(t.TempDir(), 8, api.DistanceEuclid)
	opts.noIndexer = true
	opts.Writes = node
	const age = 600 * time.Millisecond
	opts.yieldAge = age
	s := openShard(t, opts)
	r := rand.New(rand.NewPCG(9, 10))
	const n = 32 * 20 // 20 worker batches
	ps := make([]api.PointStruct, n)
	for i := range ps {
		ps[i] = pt(uint64(i), randVec(r, 8), nil)
	}
	queued := time.Now()
	apply(t, s, upsert(ps...))
	node.Begin() // another shard's write, which stays in flight
	s.startWorkers()
	time.Sleep(age / 2)
	if st := s.Stats(); st.PendingIndex != n {
		t.Fatalf("%d of %d vectors indexed while a write was in flight on the node", n-st.PendingIndex, n)
	}
	ctx, cancel := context.WithTimeout(bg, 30*time.Second)
	defer cancel()
	if err := s.WaitIndexed(ctx); err != nil {
		t.Fatalf("indexing stalled behind a write in flight: %v", err)
	}
	if took := time.Since(queued); took < age {
		t.Fatalf("indexing done %v after the vectors were queued with a write in flight; they should have waited %v", took, age)
	}
	node.End()
	if st := s.Stats(); st.PendingIndex != 0 {
		t.Fatalf("%d vectors still pending", st.PendingIndex)
	}
}

// TestRepairYieldsToWritersButProgresses checks that a graph repair waits,
// as inserts do, while a write is in flight on the node, and runs once the
// tombstones have waited yieldAge although the write is still in flight.
func TestRepairYieldsToWritersButProgresses(t *testing.T) {
	node := new(WriteActivity)
	opts := indexedOptions(t.TempDir(), 8, api.DistanceEuclid)
	opts.Writes = node
	const age = 800 * time.Millisecond
	opts.yieldAge = age
	s := openShard(t, opts)
	r := rand.New(rand.NewPCG(11, 12))
	const n = 1000
	ps := make([]api.PointStruct, n)
	for i := range ps {
		ps[i] = pt(uint64(i), randVec(r, 8), nil)
	}
	apply(t, s, upsert(ps...))
	waitIndexed(t, s)
	sp := s.spaces[""]
	g := sp.graph.Load()
	var del []api.PointID
	for i := range n * 3 / 10 { // above deleted_threshold, below half
		del = append(del, api.NumID(uint64(i)))
	}
	node.Begin() // another shard's write, which stays in flight
	deleted := time.Now()
	apply(t, s, &api.UpdateOperation{Delete: &api.PointsSelector{Points: del}})
	// The tombstones appear once a worker deletes the nodes and go once
	// the graph is repaired, which must not be before age (however late
	// the worker or this loop runs on a loaded machine).
	most := int64(0)
	for tomb := sp.tomb.Load(); tomb != 0 || most == 0; tomb = sp.tomb.Load() {
		most = max(most, tomb)
		if time.Since(deleted) > 10*time.Second {
			if most == 0 {
				t.Fatal("no tombstones seen: the graph was repaired at once, or its nodes never deleted")
			}
			t.Fatalf("repair stalled behind a write in flight: %d tombstones", tomb)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if took := time.Since(deleted); took < age {
		t.Fatalf("repaired %v after the deletion with a write in flight; it should have waited %v", took, age)
	}
	if most != int64(len(del)) {
		t.Fatalf("saw at most %d tombstones, want %d", most, len(del))
	}
	node.End()
	if sp.graph.Load() != g {
		t.Fatal("graph rebuilt; want it repaired")
	}
}

// TestIndexerStartsWhenWritesEnd checks that workers insert as soon as the
// node's writes have been quiet for a while, long before yieldAge.
func TestIndexerStartsWhenWritesEnd(t *testing.T) {
	node := new(WriteActivity)
	opts := indexedOptions(t.TempDir(), 8, api.DistanceEuclid)
	opts.noIndexer = true
	opts.Writes = node
	opts.yieldAge = time.Minute
	s := openShard(t, opts)
	r := rand.New(rand.NewPCG(11, 12))
	ps := make([]api.PointStruct, 256)
	for i := range ps {
		ps[i] = pt(uint64(i), randVec(r, 8), nil)
	}
	apply(t, s, upsert(ps...))
	node.Begin()
	s.startWorkers()
	time.Sleep(100 * time.Millisecond)
	if st := s.Stats(); st.PendingIndex != len(ps) {
		t.Fatalf("%d vectors indexed while a write was in flight", len(ps)-st.PendingIndex)
	}
	node.End()
	ctx, cancel := context.WithTimeout(bg, 20*time.Second)
	defer cancel()
	if err := s.WaitIndexed(ctx); err != nil {
		t.Fatalf("indexing did not start once writes ended: %v", err)
	}
}

// TestWriteActivityQuiet checks the window after the last write within
// which writes still count as coming in: twice the usual gap between
// writes, within [yieldQuiet, yieldQuietMax].
func TestWriteActivityQuiet(t *testing.T) {
	var w WriteActivity
	if got := time.Duration(w.quiet()); got != yieldQuiet {
		t.Fatalf("quiet with no writes = %v, want %v", got, yieldQuiet)
	}
	// Writes 20 ms apart (each Begin finds the one before 20 ms ago): the
	// average gap converges to 20 ms.
	for range 100 {
		w.lastBegin.Store(time.Now().Add(-20 * time.Millisecond).UnixNano())
		w.Begin()
		w.End()
	}
	// Each gap is at least 20 ms (a busy machine may add to it, never
	// take from it).
	if got := time.Duration(w.quiet()); got < 38*time.Millisecond || got > 60*time.Millisecond {
		t.Fatalf("quiet after writes 20 ms apart = %v, want about 40 ms", got)
	}
	// Writes an hour apart (an idle node): the window is capped.
	for range 100 {
		w.lastBegin.Store(time.Now().Add(-time.Hour).UnixNano())
		w.Begin()
		w.End()
	}
	if got := time.Duration(w.quiet()); got != yieldQuietMax {
		t.Fatalf("quiet after writes an hour apart = %v, want the cap %v", got, yieldQuietMax)
	}
	if !w.active() {
		t.Fatal("not active right after a write")
	}
	w.lastEnd.Store(time.Now().Add(-2 * yieldQuietMax).UnixNano())
	if w.active() {
		t.Fatal("active long after the last write")
	}
	w.Begin()
	w.lastEnd.Store(time.Now().Add(-2 * yieldQuietMax).UnixNano())
	if !w.active() {
		t.Fatal("not active with a write in flight")
	}
}

// TestYieldBoundedByAge checks the queue's age bookkeeping and the yield
// decision: workers yield to writes while the oldest queued vector is
// younger than yieldAge, and not once it is older, so that a steady stream
// of writes keeps a bounded tail unindexed.
func TestYieldBoundedByAge(t *testing.T) {
	sp, err := newSpace("", api.VectorParams{Size: 8, Distance: api.DistanceEuclid}, api.HnswConfig{M: 16, EfConstruct: 64, FullScanThreshold: 1}, api.DefaultOptimizersConfig(), 1, "")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixNano()
	if !sp.shouldYield(now, now) {
		t.Fatal("a batch queued just now should let workers yield")
	}
	old := now - int64(yieldAge) - 1
	sp.queue = append(sp.queue, 1, 2, 3)
	sp.markQueued(3, old)
	sp.queue = append(sp.queue, 4, 5)
	sp.markQueued(2, now)
	if sp.shouldYield(now, sp.oldestQueued()) {
		t.Fatal("workers yield although the oldest queued vector waited longer than yieldAge")
	}
	sp.markTaken(2) // offsets 1, 2
	if got := sp.oldestQueued(); got != old {
		t.Fatalf("oldest queued at %d after taking 2 of 3, want %d", got, old)
	}
	sp.markTaken(2) // offsets 3, 4
	if got := sp.oldestQueued(); got != now {
		t.Fatalf("oldest queued at %d after taking the old run, want %d", got, now)
	}
	if !sp.shouldYield(now, sp.oldestQueued()) {
		t.Fatal("workers should yield while the oldest queued vector is young")
	}
	sp.markTaken(1)
	if sp.oldestQueued() != 0 || sp.queued != nil {
		t.Fatalf("marks left after the queue emptied: %+v", sp.queued)
	}
	for i := range yieldLimit + 1 {
		sp.pending[uint32(i)] = false
	}
	if sp.shouldYield(now, now) {
		t.Fatal("workers yield with more than yieldLimit vectors waiting")
	}
}
