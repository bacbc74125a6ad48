package shard

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/testfs"
)

func diskOptions(dir string, minFree int64) Options {
	o := testOptions(dir)
	o.Vectors = api.VectorsConfig{"": {Size: 64, Distance: api.DistanceEuclid}}
	o.MinFreeDiskBytes = minFree
	o.PersistInterval = -1
	return o
}

// batch is n points with ids from first, 64-dimensional vectors.
func diskBatch(r *rand.Rand, first uint64, n int) *api.UpdateOperation {
	pts := make([]api.PointStruct, n)
	for i := range pts {
		v := make([]float32, 64)
		for j := range v {
			v[j] = r.Float32()
		}
		pts[i] = api.PointStruct{ID: api.NumID(first + uint64(i)), Vector: api.Vectors{"": v}, Payload: api.Payload{"n": float64(first) + float64(i)}}
	}
	return &api.UpdateOperation{Upsert: &api.UpsertPoints{Points: pts}}
}

// checkAcked reopens the shard in opts.Dir and checks that it holds every
// acknowledged point with its vector.
func checkAcked(t *testing.T, opts Options, acked map[uint64][]float32) {
	t.Helper()
	s, err := Open(opts)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	ids := make([]api.PointID, 0, len(acked))
	for id := range acked {
		ids = append(ids, api.NumID(id))
	}
	recs, err := s.Get(bg, ids, nil, all)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(acked) {
		t.Fatalf("reopened shard holds %d of the %d acknowledged points", len(recs), len(acked))
	}
	for _, r := range recs {
		if got, want := r.Vector[""], acked[r.ID.Num]; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("point %d: vector %v, acknowledged %v", r.ID.Num, got, want)
		}
	}
}

func ackBatch(acked map[uint64][]float32, op *api.UpdateOperation) {
	for _, p := range op.Upsert.Points {
		acked[p.ID.Num] = p.Vector[""]
	}
}

// TestDiskNearlyFullRefusesWrites fills a small file system until the
// shard refuses writes, checks the refusal's error and that reads and
// searches go on, frees space and checks that writes resume without a
// reopen, then reopens the shard and checks that every acknowledged point
// is there.
func TestDiskNearlyFullRefusesWrites(t *testing.T) {
	const reserve = 8 << 20
	dir := testfs.MountTmpfs(t, 64<<20)
	opts := diskOptions(filepath.Join(dir, "shard"), reserve)
	s := openShard(t, opts)
	r := rand.New(rand.NewPCG(1, 2))
	acked := map[uint64][]float32{}
	next := uint64(1)
	for range 5 {
		op := diskBatch(r, next, 200)
		apply(t, s, op)
		ackBatch(acked, op)
		next += 200
	}
	// Leave a little more than the reserve free, then write until refused.
	filler := testfs.Fill(t, dir, reserve+(4<<20))
	var refused error
	for i := 0; i < 1000 && refused == nil; i++ {
		op := diskBatch(r, next, 200)
		if _, err := s.Apply(bg, op); err != nil {
			refused = err
			break
		}
		ackBatch(acked, op)
		next += 200
	}
	if refused == nil {
		t.Fatal("writes were never refused")
	}
	if !errors.Is(refused, ErrDiskFull) || api.KindOf(refused) != api.KindInternal ||
		!strings.HasPrefix(api.Message(refused), "Service internal error: No space left on device: ") {
		t.Fatalf("refusal: kind %v, %q (%v)", api.KindOf(refused), api.Message(refused), refused)
	}
	if free := testfs.Free(t, dir); free < reserve {
		t.Fatalf("only %d bytes free after the refusal; the reserve is %d", free, reserve)
	}
	// Below the reserve (another process filled the disk), even the
	// smallest write is refused.
	testfs.Fill(t, dir, reserve/2)
	// Every kind of write is refused, and nothing of them is applied.
	seq := s.LastSeq()
	for _, op := range []*api.UpdateOperation{
		diskBatch(r, next, 200),
		{SetPayload: &api.SetPayload{Payload: api.Payload{"x": 1.0}, Points: []api.PointID{api.NumID(1)}}},
	} {
		if _, err := s.Apply(bg, op); !errors.Is(err, ErrDiskFull) {
			t.Fatalf("write on a full disk: %v", err)
		}
	}
	if s.LastSeq() != seq {
		t.Fatal("a refused write was applied")
	}
	// Reads and searches go on.
	if got := getOne(t, s, 1); got == nil || fmt.Sprint(got.Vector[""]) != fmt.Sprint(acked[1]) {
		t.Fatalf("point 1 on a full disk: %+v", got)
	}
	if n, err := s.Count(bg, nil, true); err != nil || n != uint64(len(acked)) {
		t.Fatalf("count on a full disk: %d, %v (want %d)", n, err, len(acked))
	}
	hits, err := s.Search(bg, SearchRequest{Using: "", Vector: acked[7], Limit: 1})
	if err != nil || len(hits) != 1 || hits[0].ID.Num != 7 {
		t.Fatalf("search on a full disk: %v, %v", hits, err)
	}
	if recs, err := s.Scroll(bg, ScrollRequest{Limit: 10}); err != nil || len(recs) != 10 {
		t.Fatalf("scroll on a full disk: %d, %v", len(recs), err)
	}
	// Free space: writes resume by themselves.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		op := diskBatch(r, next, 200)
		if _, err := s.Apply(bg, op); err != nil {
			t.Fatalf("write after freeing space: %v", err)
		}
		ackBatch(acked, op)
		next += 200
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checkAcked(t, opts, acked)
}

// TestStoreOutOfSpaceRecovers turns the free-space guard off and lets the
// store itself run out of space: the failing write returns a clear error,
// the shard refuses writes without touching the store meanwhile, reads go
// on, and once space is freed the next write reopens the store and
// succeeds; a reopened shard holds every acknowledged point, and the
// failed write either whole or not at all.
func TestStoreOutOfSpaceRecovers(t *testing.T) {
	dir := testfs.MountTmpfs(t, 64<<20)
	opts := diskOptions(filepath.Join(dir, "shard"), -1)
	s := openShard(t, opts)
	r := rand.New(rand.NewPCG(3, 4))
	acked := map[uint64][]float32{}
	next := uint64(1)
	op := diskBatch(r, next, 200)
	apply(t, s, op)
	ackBatch(acked, op)
	next += 200
	filler := testfs.Fill(t, dir, 0)
	var failed *api.UpdateOperation
	var ferr error
	for range 100 {
		op := diskBatch(r, next, 200)
		next += 200
		if _, err := s.Apply(bg, op); err != nil {
			failed, ferr = op, err
			break
		}
		ackBatch(acked, op)
	}
	if failed == nil {
		t.Fatal("the store never ran out of space")
	}
	if !errors.Is(ferr, ErrDiskFull) || !errors.Is(ferr, ErrStoreFailed) ||
		!strings.HasPrefix(api.Message(ferr), "Service internal error: No space left on device") {
		t.Fatalf("store out of space: %q (%v)", api.Message(ferr), ferr)
	}
	seq := s.LastSeq()
	for range 3 {
		if _, err := s.Apply(bg, diskBatch(r, next, 10)); !errors.Is(err, ErrStoreFailed) {
			t.Fatalf("write while the store is failed: %v", err)
		}
	}
	if s.LastSeq() != seq {
		t.Fatal("a write was applied while the store was failed")
	}
	if st := s.Stats(); st.Status != api.StatusRed || st.OptimizerError == "" {
		t.Fatalf("stats of a failed store: status %v, optimizer error %q", st.Status, st.OptimizerError)
	}
	if got := getOne(t, s, 1); got == nil {
		t.Fatal("point 1 unreadable while the store is failed")
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	op = diskBatch(r, next, 200)
	if _, err := s.Apply(bg, op); err != nil {
		t.Fatalf("write after freeing space: %v", err)
	}
	ackBatch(acked, op)
	if st := s.Stats(); st.Status == api.StatusRed || st.OptimizerError != "" {
		t.Fatalf("after the store recovered: status %v, optimizer error %q", st.Status, st.OptimizerError)
	}
	// The failed write is in the shard whole or not at all, now and after
	// a reopen.
	wholeOrNone := func(s *Shard) {
		t.Helper()
		ids := make([]api.PointID, 0, len(failed.Upsert.Points))
		for _, p := range failed.Upsert.Points {
			ids = append(ids, p.ID)
		}
		recs, err := s.Get(bg, ids, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 0 && len(recs) != len(ids) {
			t.Fatalf("%d of the failed write's %d points are in the shard", len(recs), len(ids))
		}
	}
	wholeOrNone(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checkAcked(t, opts, acked)
	wholeOrNone(openShard(t, opts))
}
