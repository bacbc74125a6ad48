package filter

import (
	"encoding/binary"
	"math/bits"

	"github.com/shoal-db/shoal/internal/api"
)

// sliceNode is the {"slice": {"total", "index"}} condition: the point's id
// hashes to index modulo total (false inside a nested condition, like
// has_id).
type sliceNode struct{ total, index uint32 }

func (n sliceNode) eval(ctx *evalCtx, _ map[string]any) bool {
	if ctx.nested {
		return false
	}
	return SliceOf(ctx.id, n.total) == n.index
}

// SliceOf returns the slice of total that id falls into, as Qdrant defines
// it: SipHash-2-4 with a zero key over the id's canonical bytes (8
// little-endian bytes for a numeric id, the 16 RFC 4122 bytes of a UUID),
// modulo total. total must be at least 1.
func SliceOf(id api.PointID, total uint32) uint32 {
	var b [16]byte
	msg := b[:8]
	if id.IsUUID {
		msg = b[:16]
		copy(msg, id.UUID[:])
	} else {
		binary.LittleEndian.PutUint64(msg, id.Num)
	}
	return uint32(sipHash24(0, 0, msg) % uint64(total))
}

// sipHash24 is SipHash-2-4 (Aumasson and Bernstein) of msg under the key
// (k0, k1).
func sipHash24(k0, k1 uint64, msg []byte) uint64 {
	v0 := k0 ^ 0x736f6d6570736575
	v1 := k1 ^ 0x646f72616e646f6d
	v2 := k0 ^ 0x6c7967656e657261
	v3 := k1 ^ 0x7465646279746573
	round := func() {
		v0 += v1
		v1 = bits.RotateLeft64(v1, 13)
		v1 ^= v0
		v0 = bits.RotateLeft64(v0, 32)
		v2 += v3
		v3 = bits.RotateLeft64(v3, 16)
		v3 ^= v2
		v0 += v3
		v3 = bits.RotateLeft64(v3, 21)
		v3 ^= v0
		v2 += v1
		v1 = bits.RotateLeft64(v1, 17)
		v1 ^= v2
		v2 = bits.RotateLeft64(v2, 32)
	}
	n := len(msg)
	for len(msg) >= 8 {
		m := binary.LittleEndian.Uint64(msg)
		v3 ^= m
		round()
		round()
		v0 ^= m
		msg = msg[8:]
	}
	last := uint64(n) << 56
	for i, c := range msg {
		last |= uint64(c) << (8 * i)
	}
	v3 ^= last
	round()
	round()
	v0 ^= last
	v2 ^= 0xff
	round()
	round()
	round()
	round()
	return v0 ^ v1 ^ v2 ^ v3
}
