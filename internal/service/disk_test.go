package service

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/shard"
	"github.com/shoal-db/shoal/internal/testfs"
)

// TestDiskFullRefusesWholeWrites runs a service on a small file system with
// a 2-shard collection: once the disk is nearly full a write spanning both
// shards is refused whole with Qdrant's "No space left on device" service
// error (500 over REST, Internal over gRPC, by the adapters' tables),
// reads and searches go on, and writes are accepted again once space is
// freed, without a restart; a restarted service holds every acknowledged
// point.
func TestDiskFullRefusesWholeWrites(t *testing.T) {
	const reserve = 8 << 20
	mnt := testfs.MountTmpfs(t, 64<<20)
	dir := filepath.Join(mnt, "storage")
	open := func() *Service {
		s, err := New(Options{StorageDir: dir, MinFreeDiskBytes: reserve})
		mustNil(t, err)
		return s
	}
	s := open()
	defer func() { s.Close() }()
	createUnnamed(t, s, "c", 4, api.DistanceEuclid, 2)
	var pts []api.PointStruct
	for i := range 100 {
		pts = append(pts, api.PointStruct{ID: api.NumID(uint64(i + 1)), Vector: api.Vectors{"": {float32(i), 1, 2, 3}}})
	}
	upsert(t, s, "c", pts)

	// Fill the disk to below the reserve.
	testfs.Fill(t, mnt, reserve/2)

	ids := []api.PointID{api.NumID(1), api.NumID(2), api.NumID(3), api.NumID(4)}
	_, err := s.SetPayload(bg, "c", &api.SetPayload{Payload: api.Payload{"x": 1.0}, Points: ids}, api.WriteParams{Wait: true})
	wantErr(t, err, api.KindInternal, "Service internal error: No space left on device: ")
	if !errors.Is(err, shard.ErrDiskFull) {
		t.Fatalf("refusal does not wrap ErrDiskFull: %v", err)
	}
	_, err = s.Upsert(bg, "c", &api.UpsertPoints{Points: []api.PointStruct{{ID: api.NumID(500), Vector: api.Vectors{"": {1, 1, 1, 1}}}}}, api.WriteParams{Wait: true})
	wantErr(t, err, api.KindInternal, "No space left on device")
	n, err := s.Count(bg, "c", &api.CountRequest{Filter: filterJSON(t, `{"must": [{"key": "x", "match": {"value": 1}}]}`)}, api.ReadParams{})
	mustNil(t, err)
	if n.Count != 0 {
		t.Fatalf("a refused write changed %d points", n.Count)
	}
	hits := query(t, s, "c", &api.QueryRequest{Query: &api.Query{Nearest: &api.VectorInput{Vector: []float32{7, 1, 2, 3}}}, Limit: ptr(1)})
	if len(hits) != 1 || hits[0].ID.Num != 8 {
		t.Fatalf("search on a full disk: %v", hits)
	}

	mustNil(t, os.Remove(filepath.Join(mnt, "filler")))
	res, err := s.SetPayload(bg, "c", &api.SetPayload{Payload: api.Payload{"x": 1.0}, Points: ids}, api.WriteParams{Wait: true})
	if err != nil || res.Status != api.UpdateCompleted {
		t.Fatalf("write after freeing space: %v, %v", res, err)
	}
	mustNil(t, s.Close())
	s = open()
	n, err = s.Count(bg, "c", &api.CountRequest{Filter: filterJSON(t, `{"must": [{"key": "x", "match": {"value": 1}}]}`)}, api.ReadParams{})
	mustNil(t, err)
	all, err := s.Count(bg, "c", &api.CountRequest{}, api.ReadParams{})
	mustNil(t, err)
	if n.Count != 4 || all.Count != 100 {
		t.Fatalf("after a restart: %d points with the payload (want 4), %d points (want 100)", n.Count, all.Count)
	}
}
