package shard

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/shoal-db/shoal/internal/api"
)

func dotNamedOptions(dir string) Options {
	return Options{
		Dir: dir,
		Vectors: api.VectorsConfig{
			"img":  {Size: 3, Distance: api.DistanceDot},
			"text": {Size: 2, Distance: api.DistanceDot},
		},
		IndexingThreads: 1,
	}
}

func countWhere(t *testing.T, s *Shard, js string) uint64 {
	t.Helper()
	n, err := s.Count(bg, filterJSON(t, js), true)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestOptionalVectors checks that a point may hold any subset of the
// configured vectors, none included, that has_vector sees exactly that
// subset, that searches skip points without the vector searched, and that
// removing a point's last vector keeps the point. All of it survives a
// reopen.
func TestOptionalVectors(t *testing.T) {
	dir := t.TempDir()
	s := openShard(t, dotNamedOptions(dir))
	apply(t, s, upsert(
		api.PointStruct{ID: api.NumID(1), Vector: api.Vectors{"img": {1, 0, 0}, "text": {1, 0}}},
		api.PointStruct{ID: api.NumID(2), Vector: api.Vectors{"text": {0, 1}}, Payload: payload(t, `{"k":2}`)},
		api.PointStruct{ID: api.NumID(3), Vector: api.Vectors{}, Payload: payload(t, `{"k":3}`)},
		api.PointStruct{ID: api.NumID(4), Vector: nil},
	))
	check := func(s *Shard, stage string) {
		t.Helper()
		if got := countWhere(t, s, `{"must":[{"has_vector":"img"}]}`); got != 1 {
			t.Fatalf("%s: has_vector img = %d, want 1", stage, got)
		}
		if got := countWhere(t, s, `{"must":[{"has_vector":"text"}]}`); got != 2 {
			t.Fatalf("%s: has_vector text = %d, want 2", stage, got)
		}
		if got := countWhere(t, s, `{"must_not":[{"has_vector":"img"},{"has_vector":"text"}]}`); got != 2 {
			t.Fatalf("%s: points without vectors = %d, want 2", stage, got)
		}
		if got := countWhere(t, s, `{"must":[{"has_vector":"nope"}]}`); got != 0 {
			t.Fatalf("%s: has_vector of an unknown name = %d, want 0", stage, got)
		}
		if n, _ := s.Count(bg, nil, true); n != 4 {
			t.Fatalf("%s: count %d, want 4", stage, n)
		}
		hits, err := s.Search(bg, SearchRequest{Using: "img", Vector: []float32{1, 1, 1}, Limit: 10})
		if err != nil || len(hits) != 1 || hits[0].ID.Num != 1 {
			t.Fatalf("%s: img search: %v %s", stage, err, jsonOf(t, hits))
		}
		hits, err = s.Search(bg, SearchRequest{Using: "text", Vector: []float32{1, 1}, Limit: 10})
		if err != nil || len(hits) != 2 {
			t.Fatalf("%s: text search: %v %s", stage, err, jsonOf(t, hits))
		}
		if got := jsonOf(t, getOne(t, s, 3)); got != `{"id":3,"payload":{"k":3},"vector":{}}` {
			t.Fatalf("%s: point without vectors reads %s", stage, got)
		}
	}
	check(s, "before reopen")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openShard(t, dotNamedOptions(dir))
	check(s, "after reopen")

	// Deleting one named vector keeps the other; deleting the last one
	// keeps the point and its payload.
	apply(t, s, &api.UpdateOperation{DeleteVectors: &api.DeleteVectors{Points: []api.PointID{api.NumID(1)}, Vector: []string{"img"}}})
	if got := jsonOf(t, getOne(t, s, 1).Vector); got != `{"text":[1,0]}` {
		t.Fatalf("after deleting img: %s", got)
	}
	apply(t, s, &api.UpdateOperation{DeleteVectors: &api.DeleteVectors{Points: []api.PointID{api.NumID(2)}, Vector: []string{"text"}}})
	if got := jsonOf(t, getOne(t, s, 2)); got != `{"id":2,"payload":{"k":2},"vector":{}}` {
		t.Fatalf("after deleting the last vector: %s", got)
	}
	// Updating one named vector keeps the others; a point without vectors
	// can gain one.
	apply(t, s, &api.UpdateOperation{UpdateVectors: &api.UpdateVectors{Points: []api.PointVectors{
		{ID: api.NumID(1), Vector: api.Vectors{"img": {0, 0, 2}}},
		{ID: api.NumID(3), Vector: api.Vectors{"img": {0, 3, 0}}},
	}}})
	if got := jsonOf(t, getOne(t, s, 1).Vector); got != `{"img":[0,0,2],"text":[1,0]}` {
		t.Fatalf("after updating img: %s", got)
	}
	if got := jsonOf(t, getOne(t, s, 3)); got != `{"id":3,"payload":{"k":3},"vector":{"img":[0,3,0]}}` {
		t.Fatalf("point 3 after gaining img: %s", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openShard(t, dotNamedOptions(dir))
	if got := countWhere(t, s, `{"must":[{"has_vector":"img"}]}`); got != 2 {
		t.Fatalf("has_vector img after reopen = %d, want 2", got)
	}
	if got := countWhere(t, s, `{"must":[{"has_vector":"text"}]}`); got != 1 {
		t.Fatalf("has_vector text after reopen = %d, want 1", got)
	}
	hits, err := s.Search(bg, SearchRequest{Using: "img", Vector: []float32{0, 1, 1}, Limit: 10})
	if err != nil || len(hits) != 2 || hits[0].ID.Num != 3 || hits[1].ID.Num != 1 {
		t.Fatalf("img search after reopen: %v %s", err, jsonOf(t, hits))
	}
}

// TestUpsertUpdateModes checks insert_only, update_only and their
// combination with update_filter, within one operation and across a
// reopen, and that the op log replays each mode.
func TestUpsertUpdateModes(t *testing.T) {
	dir := t.TempDir()
	s := openShard(t, testOptions(dir))
	apply(t, s, upsert(pt(1, []float32{1, 0, 0, 0}, payload(t, `{"v":"old"}`)), pt(2, []float32{0, 1, 0, 0}, payload(t, `{"v":"keep"}`))))

	mode := func(m api.UpdateMode, f *api.Filter, pts ...api.PointStruct) *api.UpdateOperation {
		return &api.UpdateOperation{Upsert: &api.UpsertPoints{Points: pts, UpdateMode: m, UpdateFilter: f}}
	}
	// insert_only: 1 exists and stays; 3 is new.
	apply(t, s, mode(api.UpdateModeInsertOnly, nil, pt(1, []float32{9, 9, 9, 9}, payload(t, `{"v":"new"}`)), pt(3, []float32{0, 0, 1, 0}, payload(t, `{"v":"ins"}`))))
	if got := jsonOf(t, getOne(t, s, 1)); got != `{"id":1,"payload":{"v":"old"},"vector":[1,0,0,0]}` {
		t.Fatalf("insert_only changed an existing point: %s", got)
	}
	if got := jsonOf(t, getOne(t, s, 3)); got != `{"id":3,"payload":{"v":"ins"},"vector":[0,0,1,0]}` {
		t.Fatalf("insert_only did not insert: %s", got)
	}
	// update_only: 1 exists and changes; 4 is missing and stays missing.
	apply(t, s, mode(api.UpdateModeUpdateOnly, nil, pt(1, []float32{2, 0, 0, 0}, payload(t, `{"v":"upd"}`)), pt(4, []float32{1, 1, 1, 1}, nil)))
	if got := jsonOf(t, getOne(t, s, 1)); got != `{"id":1,"payload":{"v":"upd"},"vector":[2,0,0,0]}` {
		t.Fatalf("update_only did not update: %s", got)
	}
	if r := getOne(t, s, 4); r != nil {
		t.Fatalf("update_only inserted a new point: %s", jsonOf(t, r))
	}
	// update_only with update_filter: only matching existing points change.
	f := filterJSON(t, `{"must":[{"key":"v","match":{"value":"upd"}}]}`)
	apply(t, s, mode(api.UpdateModeUpdateOnly, f, pt(1, []float32{3, 0, 0, 0}, payload(t, `{"v":"f1"}`)), pt(2, []float32{3, 3, 3, 3}, payload(t, `{"v":"f2"}`)), pt(5, []float32{5, 5, 5, 5}, nil)))
	if got := jsonOf(t, getOne(t, s, 1).Payload); got != `{"v":"f1"}` {
		t.Fatalf("matching point: %s", got)
	}
	if got := jsonOf(t, getOne(t, s, 2)); got != `{"id":2,"payload":{"v":"keep"},"vector":[0,1,0,0]}` {
		t.Fatalf("non-matching point changed: %s", got)
	}
	if r := getOne(t, s, 5); r != nil {
		t.Fatalf("update_only with a filter inserted: %s", jsonOf(t, r))
	}
	// upsert with update_filter inserts new points regardless of it.
	apply(t, s, mode("", f, pt(6, []float32{0, 0, 0, 6}, nil), pt(2, []float32{1, 1, 1, 1}, nil)))
	if getOne(t, s, 6) == nil || jsonOf(t, getOne(t, s, 2).Payload) != `{"v":"keep"}` {
		t.Fatalf("upsert with update_filter: 6=%s 2=%s", jsonOf(t, getOne(t, s, 6)), jsonOf(t, getOne(t, s, 2)))
	}
	// A point listed twice in one insert_only operation is inserted once:
	// the second entry sees the first.
	apply(t, s, mode(api.UpdateModeInsertOnly, nil, pt(7, []float32{7, 0, 0, 0}, payload(t, `{"n":1}`)), pt(7, []float32{0, 7, 0, 0}, payload(t, `{"n":2}`))))
	if got := jsonOf(t, getOne(t, s, 7).Payload); got != `{"n":1}` {
		t.Fatalf("insert_only twice in one operation: %s", got)
	}

	var modes []api.UpdateMode
	if err := s.ReadOps(context.Background(), 1, func(_ uint64, op *api.UpdateOperation) error {
		if op.Upsert != nil {
			modes = append(modes, op.Upsert.UpdateMode)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []api.UpdateMode{"", api.UpdateModeInsertOnly, api.UpdateModeUpdateOnly, api.UpdateModeUpdateOnly, "", api.UpdateModeInsertOnly}
	if !slices.Equal(modes, want) {
		t.Fatalf("logged modes %q, want %q", modes, want)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openShard(t, testOptions(dir))
	if n, _ := s.Count(bg, nil, true); n != 5 {
		t.Fatalf("count after reopen %d, want 5 (1, 2, 3, 6, 7)", n)
	}
	if got := jsonOf(t, getOne(t, s, 1).Payload); got != `{"v":"f1"}` {
		t.Fatalf("point 1 after reopen: %s", got)
	}
}

func sparseOptions(dir string) Options {
	o := testOptions(dir)
	o.Sparse = api.SparseVectorsConfig{"lex": {}}
	return o
}

func sv(idx []uint32, vals []float32) api.SparseVectors {
	return api.SparseVectors{"lex": {Indices: idx, Values: vals}}
}

// TestSparseCheckpointAndFormat checks that sparse vectors are part of a
// checkpoint (what snapshots archive), that a version 2 store opens and is
// marked 3 by its next write, and that unsorted input is stored sorted.
func TestSparseCheckpointAndFormat(t *testing.T) {
	dir := t.TempDir()
	s := openShard(t, sparseOptions(dir))
	p1 := pt(1, []float32{1, 0, 0, 0}, nil)
	p1.Sparse = sv([]uint32{9, 2}, []float32{1, 3})
	p2 := pt(2, []float32{0, 1, 0, 0}, nil)
	p2.Sparse = sv([]uint32{2}, []float32{1})
	apply(t, s, upsert(p1, p2))
	if got := jsonOf(t, getOne(t, s, 1).Sparse); got != `{"lex":{"indices":[2,9],"values":[3,1]}}` {
		t.Fatalf("stored sparse vector: %s", got)
	}
	cp := t.TempDir() + "/cp"
	if _, err := s.Checkpoint(bg, cp); err != nil {
		t.Fatal(err)
	}
	// Changes after the checkpoint are not in it.
	apply(t, s, &api.UpdateOperation{DeleteVectors: &api.DeleteVectors{Points: []api.PointID{api.NumID(1)}, Vector: []string{"lex"}}})
	c := openShard(t, sparseOptions(cp))
	q := api.SparseVector{Indices: []uint32{2}, Values: []float32{1}}
	hits, err := c.Search(bg, SearchRequest{Using: "lex", Sparse: &q, Limit: 5})
	if err != nil || len(hits) != 2 || hits[0].ID.Num != 1 || hits[0].Score != 3 {
		t.Fatalf("search in the checkpoint: %v %s", err, jsonOf(t, hits))
	}
	hits, err = s.Search(bg, SearchRequest{Using: "lex", Sparse: &q, Limit: 5})
	if err != nil || len(hits) != 1 || hits[0].ID.Num != 2 {
		t.Fatalf("search after deleting the sparse vector of 1: %v %s", err, jsonOf(t, hits))
	}
	n, df, err := s.SparseStats(bg, "lex", []uint32{2, 9, 100})
	if err != nil || n != 1 || !slices.Equal(df, []int{1, 0, 0}) {
		t.Fatalf("SparseStats = %d %v %v", n, df, err)
	}

	// A store written as version 2 opens, and the next write marks it 3.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	m2 := meta{Format: 2, LastSeq: 2, NextOffset: 3}
	setMeta(t, dir, m2)
	s = openShard(t, sparseOptions(dir))
	if s.LastSeq() != 2 {
		t.Fatalf("version 2 store at seq %d", s.LastSeq())
	}
	apply(t, s, upsert(pt(3, []float32{0, 0, 1, 0}, nil)))
	m, err := s.readMeta()
	if err != nil || m.Format != storeFormatVersion {
		t.Fatalf("meta after a write: %+v %v", m, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	setMeta(t, dir, meta{Format: 1})
	if _, err := Open(sparseOptions(dir)); err == nil || !strings.Contains(err.Error(), "format version 1") {
		t.Fatalf("version 1 store: %v", err)
	}
}

// setMeta rewrites the meta record of the closed shard in dir.
func setMeta(t *testing.T, dir string, m meta) {
	t.Helper()
	db, err := pebble.Open(filepath.Join(dir, "store"), &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set(metaKey, m.encode(), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestSparseConcurrent runs sparse upserts, deletions and searches at once
// (run with -race): searches must see whole operations, never a torn index.
func TestSparseConcurrent(t *testing.T) {
	s := openShard(t, sparseOptions(t.TempDir()))
	done := make(chan struct{})
	errs := make(chan error, 4)
	go func() {
		defer close(done)
		for i := range 300 {
			p := pt(uint64(i%50), []float32{1, 0, 0, 0}, nil)
			p.Sparse = sv([]uint32{uint32(i % 7), 100}, []float32{1, 1})
			if _, err := s.Apply(bg, upsert(p)); err != nil {
				errs <- err
				return
			}
			if i%10 == 9 {
				if _, err := s.Apply(bg, &api.UpdateOperation{DeleteVectors: &api.DeleteVectors{Points: []api.PointID{api.NumID(uint64(i % 50))}, Vector: []string{"lex"}}}); err != nil {
					errs <- err
					return
				}
			}
		}
	}()
	q := api.SparseVector{Indices: []uint32{100}, Values: []float32{1}}
	for {
		select {
		case <-done:
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			return
		default:
		}
		for _, exact := range []bool{false, true} {
			hits, err := s.Search(bg, SearchRequest{Using: "lex", Sparse: &q, Limit: 100, Params: api.SearchParams{Exact: exact}})
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range hits {
				if h.Score != 1 {
					t.Fatalf("hit %s scored %v, want 1", h.ID, h.Score)
				}
			}
			if _, _, err := s.SparseStats(bg, "lex", []uint32{100}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestMultiVectorsDurable checks multi-vectors through apply, MaxSim
// search (with a filter), the op log and a reopen from the store.
func TestMultiVectorsDurable(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions(dir)
	opts.Vectors = api.VectorsConfig{"m": {Size: 2, Distance: api.DistanceDot, MultivectorConfig: &api.MultiVectorConfig{Comparator: api.ComparatorMaxSim}}}
	s := openShard(t, opts)
	apply(t, s, upsert(
		api.PointStruct{ID: api.NumID(1), Vector: api.Vectors{}, Multi: api.MultiVectors{"m": {{1, 0}, {0, 1}}}, Payload: payload(t, `{"k":1}`)},
		api.PointStruct{ID: api.NumID(2), Vector: api.Vectors{}, Multi: api.MultiVectors{"m": {{0, 3}, {1, 1}, {2, 0}}}, Payload: payload(t, `{"k":2}`)},
		api.PointStruct{ID: api.NumID(3), Vector: api.Vectors{}},
	))
	if _, err := s.Apply(bg, upsert(api.PointStruct{ID: api.NumID(4), Multi: api.MultiVectors{"m": {{1, 2, 3}}}})); api.KindOf(err) != api.KindBadInput {
		t.Fatalf("wrong dimension: %v", err)
	}
	check := func(stage string) {
		t.Helper()
		q := [][]float32{{1, 0}, {0, 1}}
		hits, err := s.Search(bg, SearchRequest{Using: "m", Multi: q, Limit: 10})
		// 1 -> 1 + 1 = 2; 2 -> max(0, 1, 2) + max(3, 1, 0) = 5.
		if err != nil || len(hits) != 2 || hits[0].ID.Num != 2 || hits[0].Score != 5 || hits[1].Score != 2 {
			t.Fatalf("%s: MaxSim search: %v %s", stage, err, jsonOf(t, hits))
		}
		hits, err = s.Search(bg, SearchRequest{Using: "m", Multi: q, Limit: 10, Filter: filterJSON(t, `{"must":[{"key":"k","match":{"value":1}}]}`)})
		if err != nil || len(hits) != 1 || hits[0].ID.Num != 1 {
			t.Fatalf("%s: filtered MaxSim search: %v %s", stage, err, jsonOf(t, hits))
		}
		if got := jsonOf(t, getOne(t, s, 2).Multi); got != `{"m":[[0,3],[1,1],[2,0]]}` {
			t.Fatalf("%s: stored multi-vector %s", stage, got)
		}
		if got := countWhere(t, s, `{"must":[{"has_vector":"m"}]}`); got != 2 {
			t.Fatalf("%s: has_vector m = %d", stage, got)
		}
	}
	check("before reopen")
	var logged []string
	if err := s.ReadOps(bg, 1, func(_ uint64, op *api.UpdateOperation) error {
		for _, p := range op.Upsert.Points {
			logged = append(logged, jsonOf(t, p.Multi))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(logged, " ") != `{"m":[[1,0],[0,1]]} {"m":[[0,3],[1,1],[2,0]]} null` {
		t.Fatalf("logged multi-vectors: %v", logged)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openShard(t, opts)
	check("after reopen")
}
