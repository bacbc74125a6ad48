package collection

import (
	"context"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/api"
)

// TestHeldContextWorksWhileClosing checks that a caller holding the
// collection keeps working once Close has started (Close waits for it),
// while a caller without the mark is refused, and that Close finishes once
// the holder releases.
func TestHeldContextWorksWhileClosing(t *testing.T) {
	c, err := Open(Options{Dir: t.TempDir(), Name: "c", Config: api.CollectionConfig{Params: api.CollectionParams{
		Vectors: api.VectorsConfig{"": {Size: 2, Distance: api.DistanceEuclid}}, ShardNumber: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	bg := context.Background()
	if _, err := c.UpdateBatch(bg, []api.UpdateOperation{{Upsert: &api.UpsertPoints{Points: []api.PointStruct{
		{ID: api.NumID(1), Vector: api.Vectors{"": {1, 2}}}, {ID: api.NumID(2), Vector: api.Vectors{"": {3, 4}}}}}}}, true); err != nil {
		t.Fatal(err)
	}
	release, err := c.Acquire()
	if err != nil {
		t.Fatal(err)
	}
	held := c.Held(bg)
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	// Close has started once plain callers are refused.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := c.Count(bg, nil, true); api.KindOf(err) == api.KindNotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Close did not start")
		}
		time.Sleep(time.Millisecond)
	}
	if n, err := c.Count(held, nil, true); err != nil || n != 2 {
		t.Fatalf("holder's count while closing: %d, %v", n, err)
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a holder was in flight", err)
	default:
	}
	release()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if _, err := c.Count(held, nil, true); err == nil {
		t.Fatal("count on a closed collection succeeded")
	}
}
