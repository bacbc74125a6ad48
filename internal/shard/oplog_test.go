package shard

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/shoal-db/shoal/internal/api"
)

// checkVectorKeys checks the storage invariant of the vector keyspace: every
// vector of a live point is stored under its offset, and a stored vector
// of a dead offset exists only while an operation in the op log may refer
// to it (offset at or above logFirstOff). It returns the number of dead
// offsets still stored.
func checkVectorKeys(t testing.TB, s *Shard) int {
	t.Helper()
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.RLock()
	defer s.mu.RUnlock()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixVector}, UpperBound: []byte{prefixVector + 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	first := s.logFirstOffset()
	stored := map[uint32]map[string]bool{}
	deadOffs := map[uint32]bool{}
	for ok := it.First(); ok; ok = it.Next() {
		off, name, ok := vectorKeyOffset(it.Key())
		if !ok {
			t.Fatalf("bad vector key %x", it.Key())
		}
		if stored[off] == nil {
			stored[off] = map[string]bool{}
		}
		stored[off][name] = true
		if !s.live.has(off) {
			if off < first {
				t.Fatalf("vector %q of dead offset %d is still stored, but the op log starts at offset %d (seq %d)", name, off, first, s.logFirst)
			}
			deadOffs[off] = true
		}
	}
	s.ids.each(func(id api.PointID, off uint32) {
		for name, sp := range s.spaces {
			if sp.has.has(off) && !stored[off][name] {
				t.Fatalf("point %s: vector %q at offset %d is not stored", id, name, off)
			}
			if !sp.has.has(off) && stored[off][name] {
				t.Fatalf("point %s: vector %q at offset %d is stored but the point has no such vector", id, name, off)
			}
		}
	})
	return len(deadOffs)
}

// opLogBytes is the total size of the op-log records.
func opLogBytes(t testing.TB, s *Shard) int {
	t.Helper()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixOp}, UpperBound: []byte{prefixOp + 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n += len(it.Value())
	}
	return n
}

// TestVectorsStoredOnce checks that an upsert's vectors are written once:
// the op-log record refers to the stored vectors, ReadOps still returns the
// operation as applied, also after the points were overwritten, and
// truncation frees exactly the vectors no operation refers to any more.
func TestVectorsStoredOnce(t *testing.T) {
	const dim, n = 64, 200
	opts := testOptions(t.TempDir())
	opts.Vectors = api.VectorsConfig{"": {Size: dim, Distance: api.DistanceEuclid}}
	opts.OpLogRetain = 2
	s := openShard(t, opts)
	r := rand.New(rand.NewPCG(1, 2))
	first := make([]api.PointStruct, n)
	for i := range first {
		first[i] = pt(uint64(i), randVec(r, dim), nil)
	}
	apply(t, s, upsert(first...))
	if got, max := opLogBytes(t, s), n*(2+9+1+2+1+4+4); got > max {
		t.Fatalf("op log holds %d bytes for %d points of dimension %d; a record referring to stored vectors is at most %d", got, n, dim, max)
	}
	if dead := checkVectorKeys(t, s); dead != 0 {
		t.Fatalf("%d dead offsets after the first upsert", dead)
	}

	// Overwrite half the points: their old vectors stay, as operation 1
	// refers to them.
	second := make([]api.PointStruct, n/2)
	for i := range second {
		second[i] = pt(uint64(i), randVec(r, dim), nil)
	}
	apply(t, s, upsert(second...))
	if dead := checkVectorKeys(t, s); dead != n/2 {
		t.Fatalf("%d dead offsets stored after overwriting %d points, want %d", dead, n/2, n/2)
	}
	var ops []*api.UpdateOperation
	if err := s.ReadOps(bg, 1, func(_ uint64, op *api.UpdateOperation) error { ops = append(ops, op); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(ops) != 2 || !reflect.DeepEqual(ops[0].Upsert.Points, first) || !reflect.DeepEqual(ops[1].Upsert.Points, second) {
		t.Fatal("ReadOps does not return the operations as applied")
	}

	// A third operation lets truncation drop operation 1 (retain 2) and
	// with it the overwritten vectors.
	apply(t, s, &api.UpdateOperation{Delete: &api.PointsSelector{Points: []api.PointID{api.NumID(n - 1)}}})
	if dead := checkVectorKeys(t, s); dead != n/2+1 {
		t.Fatalf("%d dead offsets before truncation, want %d (deleted point %d is referred to by operation 1)", dead, n/2+1, n-1)
	}
	if err := s.truncateLog(); err != nil {
		t.Fatal(err)
	}
	if dead := checkVectorKeys(t, s); dead != 0 {
		t.Fatalf("%d dead offsets after truncating operation 1", dead)
	}
	// Offsets below the log's first now die at once.
	apply(t, s, upsert(pt(uint64(n-2), randVec(r, dim), nil)))
	if dead := checkVectorKeys(t, s); dead != 0 {
		t.Fatalf("%d dead offsets after overwriting a point stored before the log", dead)
	}
	// ... and those stored by a logged operation stay until it is dropped.
	apply(t, s, upsert(pt(0, randVec(r, dim), nil)))
	if dead := checkVectorKeys(t, s); dead != 1 {
		t.Fatalf("%d dead offsets after overwriting a point of operation 2, want 1", dead)
	}
	want := map[uint64][]float32{}
	for _, ps := range [][]api.PointStruct{first, second} {
		for _, p := range ps {
			want[p.ID.Num] = p.Vector[""]
		}
	}
	delete(want, n-1)
	want[n-2] = getOne(t, s, n-2).Vector[""]
	want[0] = getOne(t, s, 0).Vector[""]

	// Reopen: every point's vector comes back from the store, not only from
	// index files.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, withFiles := range []bool{true, false} {
		if !withFiles {
			if err := removeIndexFiles(opts.Dir); err != nil {
				t.Fatal(err)
			}
		}
		s2 := openShard(t, opts)
		if !withFiles && s2.loadedFromStore != len(want) {
			t.Fatalf("reopen without index files loaded %d vectors from the store, want %d", s2.loadedFromStore, len(want))
		}
		for id, v := range want {
			rec := getOne(t, s2, id)
			if rec == nil || !reflect.DeepEqual(rec.Vector[""], v) {
				t.Fatalf("reopen (index files %v): point %d has the wrong vector", withFiles, id)
			}
		}
		if n, _ := s2.Count(bg, nil, true); int(n) != len(want) {
			t.Fatalf("reopen: %d points, want %d", n, len(want))
		}
		if dead := checkVectorKeys(t, s2); dead != 1 {
			t.Fatalf("reopen: %d dead offsets, want 1", dead)
		}
		if err := s2.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOpLogMixedOperations runs random operations of every kind that
// touches vectors with a short op log and checks the storage invariant,
// ReadOps against the applied operations, and a reopen.
func TestOpLogMixedOperations(t *testing.T) {
	opts := namedOptions(t.TempDir())
	opts.OpLogRetain = 7
	s := openShard(t, opts)
	r := rand.New(rand.NewPCG(3, 4))
	applied := map[uint64]string{}
	vecs := func() api.Vectors {
		v := api.Vectors{}
		if r.IntN(3) > 0 {
			v["img"] = randVec(r, 3)
		}
		if r.IntN(3) > 0 {
			v["text"] = randVec(r, 2)
		}
		return v
	}
	for step := range 300 {
		var op *api.UpdateOperation
		id := api.NumID(uint64(r.IntN(30)))
		switch k := r.IntN(6); k {
		case 0, 1:
			ps := []api.PointStruct{{ID: id, Vector: vecs()}, {ID: api.NumID(uint64(r.IntN(30))), Vector: vecs()}}
			if r.IntN(4) == 0 {
				ps = append(ps, api.PointStruct{ID: id, Vector: vecs()}) // the same id twice: the first is logged inline
			}
			op = upsert(ps...)
		case 2:
			op = &api.UpdateOperation{UpdateVectors: &api.UpdateVectors{Points: []api.PointVectors{{ID: id, Vector: api.Vectors{"img": randVec(r, 3)}}}}}
		case 3:
			op = &api.UpdateOperation{DeleteVectors: &api.DeleteVectors{Points: []api.PointID{id}, Vector: []string{"text"}}}
		case 4:
			op = &api.UpdateOperation{Delete: &api.PointsSelector{Points: []api.PointID{id}}}
		default:
			op = &api.UpdateOperation{SetPayload: &api.SetPayload{Payload: payload(t, fmt.Sprintf(`{"s":%d}`, step)), Points: []api.PointID{id}}}
		}
		seq, err := s.Apply(bg, op)
		if err != nil {
			continue // e.g. update_vectors of a missing point
		}
		applied[seq] = jsonOf(t, op)
		if step%13 == 0 {
			if err := s.truncateLog(); err != nil {
				t.Fatal(err)
			}
		}
		checkVectorKeys(t, s)
	}
	s.writeMu.Lock()
	from := s.logFirst
	s.writeMu.Unlock()
	n := 0
	if err := s.ReadOps(bg, from, func(seq uint64, op *api.UpdateOperation) error {
		if jsonOf(t, op) != applied[seq] {
			t.Fatalf("operation %d read back as %s, applied %s", seq, jsonOf(t, op), applied[seq])
		}
		n++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n < 7 {
		t.Fatalf("read %d retained operations, want at least 7", n)
	}
	before := map[uint64]string{}
	page, err := s.Scroll(bg, ScrollRequest{Limit: 100, WithPayload: api.PayloadAll, WithVector: all})
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range page {
		before[rec.ID.Num] = jsonOf(t, rec)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := removeIndexFiles(opts.Dir); err != nil {
		t.Fatal(err)
	}
	s2 := openShard(t, opts)
	checkVectorKeys(t, s2)
	page, err = s2.Scroll(bg, ScrollRequest{Limit: 100, WithPayload: api.PayloadAll, WithVector: all})
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != len(before) {
		t.Fatalf("reopen: %d points, want %d", len(page), len(before))
	}
	for _, rec := range page {
		if jsonOf(t, rec) != before[rec.ID.Num] {
			t.Fatalf("reopen: point %d is %s, was %s", rec.ID.Num, jsonOf(t, rec), before[rec.ID.Num])
		}
	}
}

// removeIndexFiles deletes a closed shard's index files, so that the next
// Open reads every vector from the store.
func removeIndexFiles(dir string) error {
	return os.RemoveAll(filepath.Join(dir, "index"))
}

// TestOpLogRetainBytes checks that the op log is truncated by size as well
// as by count, counting the vectors each operation stored, and that the
// sizes are the same after a reopen.
func TestOpLogRetainBytes(t *testing.T) {
	const dim = 32 // 128 bytes per offset
	opts := testOptions(t.TempDir())
	opts.Vectors = api.VectorsConfig{"": {Size: dim, Distance: api.DistanceDot}}
	opts.OpLogRetainBytes = 10_000
	s := openShard(t, opts)
	r := rand.New(rand.NewPCG(5, 6))
	batch := func(first, n int) *api.UpdateOperation {
		ps := make([]api.PointStruct, n)
		for i := range ps {
			ps[i] = pt(uint64(first+i), randVec(r, dim), nil)
		}
		return upsert(ps...)
	}
	for i := range 10 {
		apply(t, s, batch(i*10, 10)) // 10 offsets: ~1,280 bytes of vectors + the record
	}
	s.writeMu.Lock()
	total, ops := s.logBytes, len(s.logSizes)
	s.writeMu.Unlock()
	if ops != 10 || total < 10*1280 || total > 10*(1280+400) {
		t.Fatalf("op log: %d ops of %d bytes in all, want 10 ops of 12,800-16,800 bytes", ops, total)
	}
	if err := s.truncateLog(); err != nil {
		t.Fatal(err)
	}
	s.writeMu.Lock()
	first, total, ops := s.logFirst, s.logBytes, len(s.logSizes)
	s.writeMu.Unlock()
	if total > 10_000 || ops < 5 || ops > 7 || first != uint64(10-ops+1) {
		t.Fatalf("after truncation: %d ops from %d, %d bytes; want the newest 5-7 under 10,000 bytes", ops, first, total)
	}
	if err := s.ReadOps(bg, first-1, func(uint64, *api.UpdateOperation) error { return nil }); !errors.Is(err, ErrTruncated) {
		t.Fatalf("ReadOps(%d) after truncation: %v, want ErrTruncated", first-1, err)
	}
	// A single operation over the budget is still kept (the last one is).
	apply(t, s, batch(1000, 100))
	if err := s.truncateLog(); err != nil {
		t.Fatal(err)
	}
	s.writeMu.Lock()
	first, total, ops = s.logFirst, s.logBytes, len(s.logSizes)
	s.writeMu.Unlock()
	if ops != 1 || first != 11 || total < 12_800 {
		t.Fatalf("after a 100-point operation: %d ops from %d, %d bytes; want only operation 11", ops, first, total)
	}
	checkVectorKeys(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openShard(t, opts)
	s2.writeMu.Lock()
	defer s2.writeMu.Unlock()
	if s2.logFirst != first || s2.logBytes != total || len(s2.logSizes) != 1 {
		t.Fatalf("after reopen: %d ops from %d, %d bytes; before: %d from %d, %d bytes", len(s2.logSizes), s2.logFirst, s2.logBytes, ops, first, total)
	}
}
