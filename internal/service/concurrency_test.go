package service

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
)

// TestConcurrentWritesAndReads runs writers and readers on a multi-shard
// collection at once: every acknowledged point is found afterwards, and
// readers only ever see complete points.
func TestConcurrentWritesAndReads(t *testing.T) {
	s := newService(t, t.TempDir())
	defer s.Close()
	createUnnamed(t, s, "c", 8, api.DistanceDot, 3)
	d := makeDataset(51, 800, 8, api.DistanceDot)
	pts := d.points("")
	var wg sync.WaitGroup
	var readErr atomic.Value
	stop := make(chan struct{})
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w * 200; i < (w+1)*200; i += 20 {
				if _, err := s.Upsert(bg, "c", &api.UpsertPoints{Points: pts[i : i+20]}, api.WriteParams{Wait: true}); err != nil {
					readErr.Store(err)
					return
				}
			}
		}()
	}
	var readers sync.WaitGroup
	for r := range 3 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				res, err := s.Query(bg, "c", &api.QueryRequest{Query: &api.Query{Nearest: &api.VectorInput{Vector: d.vecs[uint64(r+1)]}},
					Limit: ptr(5), WithPayload: api.PayloadAll, WithVector: &api.VectorSelector{Enable: true}}, api.ReadParams{})
				if err != nil {
					readErr.Store(err)
					return
				}
				for _, h := range res.Points {
					if h.Payload["color"] == nil || len(h.Vector[""]) != 8 {
						t.Errorf("incomplete point %s: %+v", h.ID, h)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	if err, _ := readErr.Load().(error); err != nil {
		t.Fatal(err)
	}
	n, err := s.Count(bg, "c", nil, api.ReadParams{})
	mustNil(t, err)
	if n.Count != 800 {
		t.Fatalf("count %d, want 800", n.Count)
	}
}

// TestDeleteCollectionUnderLoad deletes a collection while queries run on
// it: each query either succeeds or reports the collection missing.
func TestDeleteCollectionUnderLoad(t *testing.T) {
	s := newService(t, t.TempDir())
	defer s.Close()
	createUnnamed(t, s, "c", 4, api.DistanceEuclid, 2)
	d := makeDataset(61, 300, 4, api.DistanceEuclid)
	upsert(t, s, "c", d.points(""))
	var wg sync.WaitGroup
	var ok, gone atomic.Int64
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				_, err := s.Query(bg, "c", &api.QueryRequest{Query: &api.Query{Nearest: &api.VectorInput{Vector: d.vecs[uint64(r*10+i%10+1)]}}, Limit: ptr(3)}, api.ReadParams{})
				switch {
				case err == nil:
					ok.Add(1)
				case api.KindOf(err) == api.KindNotFound:
					gone.Add(1)
					return
				default:
					t.Errorf("query during delete: %v", err)
					return
				}
			}
		}()
	}
	for ok.Load() < 20 {
		// Let the readers get going.
		runtime.Gosched()
	}
	deleted, err := s.DeleteCollection(bg, "c")
	mustNil(t, err)
	if !deleted {
		t.Fatal("not deleted")
	}
	wg.Wait()
	if gone.Load() != 4 {
		t.Fatalf("%d readers saw the deletion", gone.Load())
	}
}
