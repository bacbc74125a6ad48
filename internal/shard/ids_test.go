package shard

import (
	"math/rand/v2"
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

// TestPointIDsAgainstMap runs random binds, unbinds and lookups of integer
// ids (from a small range, so that ids come back and runs of the table
// collide, and from the whole range) against a Go map, through growth of
// the table and of the offsets; a failing seed is printed.
func TestPointIDsAgainstMap(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 7))
		x := newPointIDs(0)
		model := map[uint64]uint32{}
		var next uint32
		randID := func() uint64 {
			if rng.IntN(4) == 0 {
				return rng.Uint64()
			}
			return uint64(rng.IntN(3000))
		}
		for step := range 30000 {
			id := randID()
			switch r := rng.IntN(10); {
			case r < 6: // upsert: a new offset for the id
				if int(next) >= x.capacity() {
					x.grow(2*x.capacity() + 8)
				}
				x.bind(api.NumID(id), next)
				model[id] = next
				next++
			case r < 8: // delete
				x.unbind(api.NumID(id))
				delete(model, id)
			default:
				got, ok := x.lookup(api.NumID(id))
				want, wok := model[id]
				if ok != wok || got != want {
					t.Fatalf("seed %d step %d: lookup(%d) = %d, %v, want %d, %v", seed, step, id, got, ok, want, wok)
				}
			}
		}
		for id, off := range model {
			if got, ok := x.lookup(api.NumID(id)); !ok || got != off {
				t.Fatalf("seed %d: lookup(%d) = %d, %v, want %d", seed, id, got, ok, off)
			}
		}
		seen := 0
		x.each(func(id api.PointID, off uint32) {
			seen++
			if model[id.Num] != off {
				t.Fatalf("seed %d: each gave %d at %d, the model %d", seed, id.Num, off, model[id.Num])
			}
		})
		if seen != len(model) || x.num.n != len(model) {
			t.Fatalf("seed %d: each visited %d, the table counts %d, the model holds %d", seed, seen, x.num.n, len(model))
		}
	}
}

// TestNumTableMemory checks the point of the table: a million integer ids
// take 16 MiB of slots (2^21 × 8 bytes), where a map[uint64]uint32 took
// about 34 MiB.
func TestNumTableMemory(t *testing.T) {
	x := newPointIDs(0)
	const n = 1_000_000
	x.grow(n)
	for i := range uint32(n) {
		x.bind(api.NumID(uint64(i)*7919), i)
	}
	if got := len(x.num.slots) * 8; got > 16<<20 {
		t.Fatalf("%d ids in %d bytes of slots", n, got)
	}
	for i := range uint32(n) {
		if off, ok := x.lookup(api.NumID(uint64(i) * 7919)); !ok || off != i {
			t.Fatalf("lookup(%d) = %d, %v", uint64(i)*7919, off, ok)
		}
	}
}
