package shard

import (
	"hash/maphash"
	"math/bits"
)

// numTable maps integer point ids to offsets in 8 bytes a slot, where a
// Go map[uint64]uint32 takes about 17 (and twice that just after it
// doubles: 34 MiB for a million ids). It keeps no keys: a slot holds the
// offset + 1 (0: empty) and 32 bits of the id's hash, and the id itself
// is read from the ids by offset (pointIDs.offNum) only when those bits
// match. Open addressing with linear probing over a power-of-two number
// of slots at most 3/4 full; a removal shifts the rest of its run back,
// so no tombstones build up. The hash is seeded per table, so client-
// chosen ids cannot be made to collide.
//
// Invariant: a slot holds off only while the id at off (offNum[off]) is
// mapped to it.
type numTable struct {
	seed  maphash.Seed
	slots []uint64
	n     int
	shift uint // 64 - log2(len(slots))
}

func newNumTable(hint int) numTable {
	t := numTable{seed: maphash.MakeSeed()}
	t.alloc(max(16, hint*4/3+1))
	return t
}

// alloc makes room for at least n slots, all empty.
func (t *numTable) alloc(n int) {
	b := bits.Len(uint(n - 1))
	t.slots = make([]uint64, 1<<b)
	t.shift = uint(64 - b)
}

func (t *numTable) hash(id uint64) uint64 { return maphash.Comparable(t.seed, id) }

// find returns the slot of id, or the empty slot that ends its run.
func (t *numTable) find(id uint64, ids []uint64) (int, bool) {
	h := t.hash(id)
	tag := uint64(uint32(h)) << 32
	mask := len(t.slots) - 1
	for i := int(h >> t.shift); ; i = (i + 1) & mask {
		s := t.slots[i]
		if s == 0 {
			return i, false
		}
		if s&^0xffffffff == tag && ids[uint32(s)-1] == id {
			return i, true
		}
	}
}

// get returns the offset of id.
func (t *numTable) get(id uint64, ids []uint64) (uint32, bool) {
	i, ok := t.find(id, ids)
	if !ok {
		return 0, false
	}
	return uint32(t.slots[i]) - 1, true
}

// put maps id to off; ids[off] must be id already.
func (t *numTable) put(id uint64, off uint32, ids []uint64) {
	i, ok := t.find(id, ids)
	if !ok {
		if (t.n+1)*4 > len(t.slots)*3 {
			t.rehash(2*len(t.slots), ids)
			i, _ = t.find(id, ids)
		}
		t.n++
	}
	t.slots[i] = uint64(uint32(t.hash(id)))<<32 | uint64(off+1)
}

// del removes id, moving back the entries after it in its run that would
// otherwise be cut off from their home slots.
func (t *numTable) del(id uint64, ids []uint64) {
	i, ok := t.find(id, ids)
	if !ok {
		return
	}
	t.n--
	mask := len(t.slots) - 1
	for j := (i + 1) & mask; t.slots[j] != 0; j = (j + 1) & mask {
		home := int(t.hash(ids[uint32(t.slots[j])-1]) >> t.shift)
		// The entry at j may move to the hole at i unless its home lies
		// cyclically in (i, j].
		if (j-home)&mask >= (j-i)&mask {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = 0
}

// rehash moves every entry into n slots.
func (t *numTable) rehash(n int, ids []uint64) {
	old := t.slots
	t.alloc(n)
	mask := len(t.slots) - 1
	for _, s := range old {
		if s == 0 {
			continue
		}
		i := int(t.hash(ids[uint32(s)-1]) >> t.shift)
		for t.slots[i] != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = s
	}
}

// each calls fn for every mapped offset.
func (t *numTable) each(fn func(off uint32)) {
	for _, s := range t.slots {
		if s != 0 {
			fn(uint32(s) - 1)
		}
	}
}
