package shard

import (
	"math/rand/v2"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/index"
)

// TestReleaseDeadChunks rewrites every point's vector twice, so that the
// first two generations of offsets are dead, and checks that the memory
// of the chunks holding only dead offsets is released, that every point is
// still found by its own vector and read back exactly, before and after a
// restart, and that new writes after the release work.
// The collection is indexed (the graph's nodes keep chunks alive until
// they are unlinked) or not (only the live set does).
func TestReleaseDeadChunks(t *testing.T) {
	t.Run("indexed", func(t *testing.T) { testReleaseDeadChunks(t, true) })
	t.Run("unindexed", func(t *testing.T) { testReleaseDeadChunks(t, false) })
}

func testReleaseDeadChunks(t *testing.T, indexed bool) {
	const n, dim = 3000, 8
	dir := t.TempDir()
	opts := indexedOptions(dir, dim, api.DistanceEuclid)
	if !indexed {
		never := 1 << 30
		opts.Optimizers.IndexingThreshold = &never
	}
	s := openShard(t, opts)
	r := rand.New(rand.NewPCG(21, 22))
	vecs := map[uint64][]float32{}
	write := func(s *Shard) {
		for start := 0; start < n; start += 500 {
			var batch []api.PointStruct
			for i := start; i < start+500; i++ {
				v := randVec(r, dim)
				vecs[uint64(i)] = v
				batch = append(batch, pt(uint64(i), v, nil))
			}
			apply(t, s, upsert(batch...))
		}
	}
	for range 3 {
		write(s) // offsets 0-2999, 3000-5999, 6000-8999: the last live
	}
	waitIndexed(t, s)
	sp := s.spaces[""]
	// Chunks 0-4 (offsets 0-5119) hold only dead offsets; chunk 5 holds
	// live offsets from 6000 on, chunks 6-8 only live ones. (The
	// maintenance loop may have released some already.)
	const dead = 5
	s.releaseDeadChunks(sp, true)
	for c := range sp.store.Cap() / index.ChunkLen {
		if got := sp.store.ChunkReleased(c); got != (c < dead) {
			t.Fatalf("chunk %d released: %v", c, got)
		}
	}
	if got := s.releaseDeadChunks(sp, true); got != 0 {
		t.Fatalf("a second pass released %d more chunks", got)
	}
	chunk := int64(index.ChunkLen * dim * 4)
	if got, want := sp.store.Bytes(), int64(sp.store.Cap()/index.ChunkLen-dead+1)*chunk; got != want {
		t.Fatalf("store holds %d bytes after the release, want %d", got, want)
	}
	check := func(s *Shard, stage string) {
		t.Helper()
		// Every live vector reads back exactly; exact searches (a sample)
		// find each point first for its own vector. Graph searches are
		// approximate: after this much churn a few misses are allowed.
		ids := make([]api.PointID, 0, len(vecs))
		for id := range vecs {
			ids = append(ids, api.NumID(id))
		}
		recs, err := s.Get(bg, ids, nil, &api.VectorSelector{Enable: true})
		if err != nil || len(recs) != len(vecs) {
			t.Fatalf("%s: Get returned %d records, %v", stage, len(recs), err)
		}
		for _, rec := range recs {
			if got, want := rec.Vector[""], vecs[rec.ID.Num]; !slicesEqual(got, want) {
				t.Fatalf("%s: point %d reads %v, want %v", stage, rec.ID.Num, got, want)
			}
		}
		miss := 0
		for id, v := range vecs {
			if id%30 == 0 {
				hits, err := s.Search(bg, SearchRequest{Vector: v, Limit: 1, Params: api.SearchParams{Exact: true}})
				if err != nil {
					t.Fatal(err)
				}
				if len(hits) == 0 || hits[0].ID.Num != id || hits[0].Score != 0 {
					t.Fatalf("%s: exact search for point %d's vector returned %+v", stage, id, hits)
				}
			}
			hits, err := s.Search(bg, SearchRequest{Vector: v, Limit: 1, Params: api.SearchParams{HnswEf: ptr(64)}})
			if err != nil {
				t.Fatal(err)
			}
			if len(hits) == 0 || hits[0].ID.Num != id {
				miss++
			}
		}
		if miss > len(vecs)/200 {
			t.Fatalf("%s: %d of %d points not found by their own vector at ef 64", stage, miss, len(vecs))
		}
	}
	check(s, "after the release")
	write(s) // offsets 9000-11999
	waitIndexed(t, s)
	check(s, "after more writes")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openShard(t, opts)
	waitIndexed(t, s2)
	check(s2, "after a restart")
	// Offsets 0-8999 are dead now: chunks 0-7.
	s2.releaseDeadChunks(s2.spaces[""], true)
	if got, want := s2.spaces[""].store.Released(), 3*n/index.ChunkLen; got != want {
		t.Fatalf("after a restart %d chunks released, want %d", got, want)
	}
	check(s2, "after a restart and a release")
}

func slicesEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
