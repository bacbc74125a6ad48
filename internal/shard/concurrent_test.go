package shard

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
)

func vecSum(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x)
	}
	return s
}

// TestConcurrentWritesAndReads runs upserts, deletes, payload updates,
// searches, scrolls and counts at once (run it with -race) and checks that
// every read sees points whole (vector and payload from the same write) and
// that the final state equals the writers' model.
func TestConcurrentWritesAndReads(t *testing.T) {
	opts := indexedOptions(t.TempDir(), 8, api.DistanceEuclid)
	opts.PayloadIndexes = map[string]api.PayloadFieldSchema{"w": {Type: api.SchemaInteger}}
	s := openShard(t, opts)
	const writers, opsPerWriter = 3, 150
	models := make([]map[uint64][]float32, writers)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errc := make(chan error, 16)
	fail := func(err error) {
		select {
		case errc <- err:
		default:
		}
	}
	for w := range writers {
		models[w] = map[uint64][]float32{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 99))
			model := models[w]
			for i := range opsPerWriter {
				id := uint64(w*100000 + r.IntN(60))
				var op *api.UpdateOperation
				var v []float32
				switch x := r.IntN(10); {
				case x < 7:
					v = randVec(r, 8)
					op = upsert(pt(id, v, api.Payload{"w": json.Number(fmt.Sprint(w)), "id": json.Number(fmt.Sprint(id)), "sum": vecSum(v)}))
				case x < 9:
					op = &api.UpdateOperation{Delete: &api.PointsSelector{Points: []api.PointID{api.NumID(id)}}}
				default:
					op = &api.UpdateOperation{SetPayload: &api.SetPayload{Payload: api.Payload{"touched": json.Number(fmt.Sprint(i))},
						Filter: &api.Filter{Must: []api.Condition{{Field: &api.FieldCondition{Key: "w", Match: &api.Match{Kind: api.MatchValue, Value: json.Number(fmt.Sprint(w))}}}}}}}
				}
				if _, err := s.Apply(bg, op); err != nil {
					fail(fmt.Errorf("writer %d: %w", w, err))
					return
				}
				switch {
				case op.Upsert != nil:
					model[id] = v
				case op.Delete != nil:
					delete(model, id)
				}
			}
		}()
	}
	checkRecord := func(id api.PointID, p api.Payload, v api.Vectors) error {
		if got := p["id"]; got != json.Number(fmt.Sprint(id.Num)) {
			return fmt.Errorf("point %v has payload of %v", id, got)
		}
		if sum, ok := p["sum"].(float64); ok && v != nil {
			if d := sum - vecSum(v[""]); d > 1e-6 || d < -1e-6 {
				return fmt.Errorf("point %v: vector and payload from different writes", id)
			}
		}
		return nil
	}
	var rwg sync.WaitGroup
	for rd := range 2 {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			r := rand.New(rand.NewPCG(uint64(rd), 7))
			for {
				select {
				case <-stop:
					return
				default:
				}
				hits, err := s.Search(bg, SearchRequest{Vector: randVec(r, 8), Limit: 10, WithPayload: api.PayloadAll, WithVector: all})
				if err != nil {
					fail(err)
					return
				}
				for i, h := range hits {
					if err := checkRecord(h.ID, h.Payload, h.Vector); err != nil {
						fail(err)
						return
					}
					if i > 0 && h.Score < hits[i-1].Score {
						fail(fmt.Errorf("hits out of order: %v", hits))
						return
					}
				}
				page, err := s.Scroll(bg, ScrollRequest{Limit: 50, WithPayload: api.PayloadAll, WithVector: all})
				if err != nil {
					fail(err)
					return
				}
				for i, rec := range page {
					if err := checkRecord(rec.ID, rec.Payload, rec.Vector); err != nil {
						fail(err)
						return
					}
					if i > 0 && rec.ID.Compare(page[i-1].ID) <= 0 {
						fail(fmt.Errorf("scroll out of order"))
						return
					}
				}
				if _, err := s.Count(bg, &api.Filter{Must: []api.Condition{{Field: &api.FieldCondition{Key: "w", Match: &api.Match{Kind: api.MatchValue, Value: json.Number("1")}}}}}, true); err != nil {
					fail(err)
					return
				}
				_ = s.Stats()
			}
		}()
	}
	wg.Wait()
	close(stop)
	rwg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	waitIndexed(t, s)
	total, miss := 0, 0
	for w, model := range models {
		total += len(model)
		for id, v := range model {
			r := getOne(t, s, id)
			if r == nil || !slices.Equal(r.Vector[""], v) {
				t.Fatalf("writer %d point %d: %v, want %v", w, id, r, v)
			}
			hits, err := s.Search(bg, SearchRequest{Vector: v, Limit: 1, Params: api.SearchParams{Exact: true}})
			if err != nil || len(hits) != 1 || hits[0].ID.Num != id || hits[0].Score != 0 {
				t.Fatalf("point %d not found by its own vector: %v %s", id, err, jsonOf(t, hits))
			}
			if hits, _ := s.Search(bg, SearchRequest{Vector: v, Limit: 1, Params: api.SearchParams{HnswEf: ptr(100)}}); len(hits) != 1 || hits[0].Score != 0 {
				miss++
			}
		}
	}
	if miss*100 > total {
		t.Fatalf("%d of %d points not found through the graph", miss, total)
	}
	if n, _ := s.Count(bg, nil, true); n != uint64(total) {
		t.Fatalf("count %d, model %d", n, total)
	}
	if st := s.Stats(); st.IndexedVectors != uint64(total) || st.Status != api.StatusGreen {
		t.Fatalf("stats %+v, want %d indexed", st, total)
	}
}
