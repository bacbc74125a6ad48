package shard

import (
	"github.com/google/uuid"

	"github.com/shoal-db/shoal/internal/api"
)

// pointIDs maps point ids to offsets and offsets back to ids in little
// memory, since a collection holds one entry per point: integer ids (the
// usual kind) in a table of offsets (numTable, 8 bytes a slot, the ids
// themselves read from the array of uint64 by offset), UUIDs in maps of
// their own. A map keyed by api.PointID (32 bytes) and an array of
// api.PointID took about 70 bytes per point more, a map[uint64]uint32
// about 17 to 34.
type pointIDs struct {
	num  numTable
	uuid map[uuid.UUID]uint32
	// offNum holds the integer id at each offset; offUUID the UUID of the
	// offsets whose id is one.
	offNum  []uint64
	offUUID map[uint32]uuid.UUID
}

// newPointIDs returns an empty mapping with room for hint integer ids.
func newPointIDs(hint int) pointIDs {
	return pointIDs{num: newNumTable(hint), uuid: map[uuid.UUID]uint32{}, offUUID: map[uint32]uuid.UUID{}}
}

// lookup returns the offset of id.
func (x *pointIDs) lookup(id api.PointID) (uint32, bool) {
	if id.IsUUID {
		off, ok := x.uuid[id.UUID]
		return off, ok
	}
	return x.num.get(id.Num, x.offNum)
}

// bind maps id to off and off to id; off must be below capacity. An
// integer id bound to off before (shards never reuse an offset) stops
// being mapped.
func (x *pointIDs) bind(id api.PointID, off uint32) {
	if prev := x.offNum[off]; id.IsUUID || prev != id.Num {
		// The integer id the offset held stops being mapped to it
		// (numTable's invariant).
		if cur, ok := x.num.get(prev, x.offNum); ok && cur == off {
			x.num.del(prev, x.offNum)
		}
	}
	if id.IsUUID {
		x.uuid[id.UUID] = off
		x.offUUID[off] = id.UUID
		x.offNum[off] = 0
		return
	}
	x.offNum[off] = id.Num
	x.num.put(id.Num, off, x.offNum)
	if len(x.offUUID) > 0 {
		delete(x.offUUID, off)
	}
}

// unbind removes the mapping of id to its offset; the offset keeps id.
func (x *pointIDs) unbind(id api.PointID) {
	if id.IsUUID {
		delete(x.uuid, id.UUID)
		return
	}
	x.num.del(id.Num, x.offNum)
}

// at returns the id at off (below capacity); an offset never bound reads
// as integer id 0.
func (x *pointIDs) at(off uint32) api.PointID {
	if len(x.offUUID) > 0 {
		if u, ok := x.offUUID[off]; ok {
			return api.UUIDID(u)
		}
	}
	return api.NumID(x.offNum[off])
}

// capacity returns the number of offsets the mapping can hold.
func (x *pointIDs) capacity() int { return len(x.offNum) }

// grow makes the mapping hold c offsets (c at least capacity).
func (x *pointIDs) grow(c int) {
	offNum := make([]uint64, c)
	copy(offNum, x.offNum)
	x.offNum = offNum
}

// each calls fn for every id mapped to an offset.
func (x *pointIDs) each(fn func(id api.PointID, off uint32)) {
	x.num.each(func(off uint32) { fn(api.NumID(x.offNum[off]), off) })
	for u, off := range x.uuid {
		fn(api.UUIDID(u), off)
	}
}
