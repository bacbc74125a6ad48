package shard

import (
	"math/rand/v2"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
)

// BenchmarkIDLookup compares the integer-id table with the Go map it
// replaced, on a million random ids (lookups of present ids in random
// order).
func BenchmarkIDLookup(b *testing.B) {
	const n = 1_000_000
	rng := rand.New(rand.NewPCG(1, 2))
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = rng.Uint64()
	}
	order := rng.Perm(n)
	b.Run("table", func(b *testing.B) {
		x := newPointIDs(0)
		x.grow(n)
		for i, id := range ids {
			x.bind(api.NumID(id), uint32(i))
		}
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			if _, ok := x.lookup(api.NumID(ids[order[i%n]])); !ok {
				b.Fatal("missing")
			}
		}
	})
	b.Run("map", func(b *testing.B) {
		m := map[uint64]uint32{}
		for i, id := range ids {
			m[id] = uint32(i)
		}
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			if _, ok := m[ids[order[i%n]]]; !ok {
				b.Fatal("missing")
			}
		}
	})
}
