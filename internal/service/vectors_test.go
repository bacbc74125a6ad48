package service

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
)

// TestVectorChangesUnderLoad adds and removes a named vector while
// readers query and writers upsert the collection's other vector: no
// request fails (they wait for the reopen), every acknowledged write is
// kept, and the removed vector is gone from every point.
func TestVectorChangesUnderLoad(t *testing.T) {
	s := newService(t, t.TempDir())
	defer s.Close()
	mustNil(t, s.CreateCollection(bg, "c", &api.CreateCollection{Vectors: api.VectorsConfig{"a": {Size: 4, Distance: api.DistanceDot}}, ShardNumber: ptr(2)}))
	d := makeDataset(7, 400, 4, api.DistanceDot)
	pts := d.points("a")
	upsert(t, s, "c", pts[:100])

	var wg, readers sync.WaitGroup
	var failure atomic.Value
	stop := make(chan struct{})
	var written atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 100; i < 400; i += 10 {
			if _, err := s.Upsert(bg, "c", &api.UpsertPoints{Points: pts[i : i+10]}, api.WriteParams{Wait: true}); err != nil {
				failure.Store(err)
				return
			}
			written.Store(int64(i + 10))
		}
	}()
	for r := range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, err := s.Query(bg, "c", &api.QueryRequest{Query: &api.Query{Nearest: &api.VectorInput{Vector: d.vecs[uint64(r+1)]}}, Using: ptr("a"), Limit: ptr(3)}, api.ReadParams{})
				if err != nil {
					failure.Store(err)
					return
				}
			}
		}()
	}
	for range 3 {
		_, err := s.CreateVectorName(bg, "c", "b", &api.CreateVectorName{Dense: &api.DenseVectorConfig{Size: 2, Distance: api.DistanceCosine}}, api.WriteParams{})
		mustNil(t, err)
		_, err = s.Upsert(bg, "c", &api.UpsertPoints{Points: []api.PointStruct{{ID: api.NumID(1), Vector: api.Vectors{"a": d.vecs[1], "b": {1, 0}}}}}, api.WriteParams{Wait: true})
		mustNil(t, err)
		_, err = s.DeleteVectorName(bg, "c", "b", api.WriteParams{})
		mustNil(t, err)
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	if err, _ := failure.Load().(error); err != nil {
		t.Fatalf("a request failed during vector changes: %v", err)
	}
	n, err := s.Count(bg, "c", &api.CountRequest{Exact: ptr(true)}, api.ReadParams{})
	mustNil(t, err)
	if int64(n.Count) != written.Load() {
		t.Errorf("count %d, written %d", n.Count, written.Load())
	}
	recs, err := s.GetPoints(bg, "c", &api.GetPoints{IDs: []api.PointID{api.NumID(1)}, WithVector: &api.VectorSelector{Enable: true}}, api.ReadParams{})
	mustNil(t, err)
	if len(recs) != 1 || recs[0].Vector["b"] != nil || recs[0].Vector["a"] == nil {
		t.Errorf("point 1 after the changes: %+v", recs)
	}
	_, err = s.Query(bg, "c", &api.QueryRequest{Query: &api.Query{Nearest: &api.VectorInput{Vector: []float32{1, 0}}}, Using: ptr("b")}, api.ReadParams{})
	if err == nil || !strings.Contains(err.Error(), "Not existing vector name error: b") {
		t.Errorf("query of the removed vector: %v", err)
	}
}
