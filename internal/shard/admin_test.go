package shard

import (
	"fmt"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/api"
)

// TestCreatePayloadIndexKeepsSearching checks that a search is served while
// a payload index is being built (only swapping the new indexes in takes
// the state lock exclusively), that the index is not visible before the
// swap, and that it is used and reported afterwards.
func TestCreatePayloadIndexKeepsSearching(t *testing.T) {
	opts := testOptions(t.TempDir())
	var s *Shard
	kw := func(v string) *api.Filter {
		return &api.Filter{Must: []api.Condition{{Field: &api.FieldCondition{Key: "k", Match: &api.Match{Kind: api.MatchValue, Value: v}}}}}
	}
	hooked := false
	opts.afterIndexBuild = func() {
		hooked = true
		// Everything that takes the state lock runs in a goroutine, so that
		// a lock held across the build fails the test instead of hanging it.
		done := make(chan error, 1)
		go func() {
			hits, err := s.Search(bg, SearchRequest{Vector: []float32{1, 0, 0, 0}, Limit: 5, Filter: kw("a")})
			switch {
			case err != nil:
			case len(hits) != 5:
				err = fmt.Errorf("%d hits, want 5", len(hits))
			default:
				if _, ok := s.Stats().PayloadSchema["k"]; ok {
					err = fmt.Errorf("the new index is visible before it is swapped in")
				}
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("search during the index build: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("a search waited for the payload index build")
		}
	}
	s = openShard(t, opts)
	var ps []api.PointStruct
	for i := range 300 {
		ps = append(ps, pt(uint64(i), []float32{float32(i), 1, 0, 0}, api.Payload{"k": []string{"a", "b", "c"}[i%3]}))
	}
	apply(t, s, upsert(ps...))
	if err := s.CreatePayloadIndex(bg, "k", api.PayloadFieldSchema{Type: api.SchemaKeyword}); err != nil {
		t.Fatal(err)
	}
	if !hooked {
		t.Fatal("CreatePayloadIndex did not build the index before swapping it in")
	}
	info, ok := s.Stats().PayloadSchema["k"]
	if !ok || info.Points != 300 {
		t.Fatalf("payload schema after the build: %+v", s.Stats().PayloadSchema)
	}
	n, err := s.Count(bg, kw("b"), true)
	if err != nil || n != 100 {
		t.Fatalf("count of k=b: %d, %v; want 100", n, err)
	}
}
