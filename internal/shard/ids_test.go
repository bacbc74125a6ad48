package shard

import (
	"testing"

	"github.com/google/uuid"

	"github.com/shoal-db/shoal/internal/api"
)

// TestPointIDs checks pointIDs both ways for integer and UUID ids, an
// offset whose id changes kind, unbinding and growth.
func TestPointIDs(t *testing.T) {
	x := newPointIDs(0)
	x.grow(4)
	u := api.UUIDID(uuid.MustParse("5c56c793-69f3-4fbf-87e6-c4bf54c28c26"))
	x.bind(api.NumID(7), 0)
	x.bind(u, 1)
	x.bind(api.NumID(0), 2)
	x.grow(8)
	x.bind(api.NumID(1<<63), 5)
	for off, id := range map[uint32]api.PointID{0: api.NumID(7), 1: u, 2: api.NumID(0), 5: api.NumID(1 << 63)} {
		if got := x.at(off); got != id {
			t.Fatalf("at(%d) = %v, want %v", off, got, id)
		}
		if got, ok := x.lookup(id); !ok || got != off {
			t.Fatalf("lookup(%v) = %d, %v, want %d", id, got, ok, off)
		}
	}
	n := 0
	x.each(func(id api.PointID, off uint32) {
		n++
		if x.at(off) != id {
			t.Fatalf("each: %v at %d, but at(%d) = %v", id, off, off, x.at(off))
		}
	})
	if n != 4 {
		t.Fatalf("each visited %d ids, want 4", n)
	}
	x.unbind(u)
	if _, ok := x.lookup(u); ok {
		t.Fatal("an unbound UUID still maps to an offset")
	}
	if x.at(1) != u {
		t.Fatal("an unbound id's offset lost its id")
	}
	// Offset 1 gets an integer id (offsets are not reused by shards, but
	// the mapping must not keep the stale UUID).
	x.bind(api.NumID(9), 1)
	if x.at(1) != api.NumID(9) {
		t.Fatalf("at(1) = %v after binding an integer id", x.at(1))
	}
	if x.capacity() != 8 {
		t.Fatalf("capacity %d, want 8", x.capacity())
	}
}
