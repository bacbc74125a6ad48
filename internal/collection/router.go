package collection

import (
	"encoding/binary"
	"sort"

	"github.com/shoal-db/shoal/internal/api"
)

// VirtualNodes is the number of points each shard owns on the hash ring.
const VirtualNodes = 128

// Router maps point ids to shards with consistent hashing: every shard owns
// VirtualNodes positions on a 64-bit ring, and a point belongs to the shard
// owning the first position at or after the point's hash (wrapping around).
// Adding a shard to a ring of n moves about 1/(n+1) of the points, all of
// them to the new shard.
//
// The functions below are part of the on-disk contract: a point is stored in
// the shard this router names, so PointHash, vnodeHash and the ring
// construction must never change once data exists (docs/format/meta.md).
//
//   - PointHash(id) = mix64(fnv1a64(id.Key())), where id.Key() is 0x00 + 8
//     big-endian bytes for integers and 0x01 + 16 bytes for UUIDs.
//   - the position of virtual node v of shard s is
//     mix64(uint64(s)<<32 | uint64(v) ^ 0x9e3779b97f4a7c15).
//   - mix64 is the MurmurHash3 64-bit finaliser.
//   - ties between equal positions go to the lower shard id.
type Router struct {
	shards int
	pos    []uint64 // sorted ring positions
	owner  []int    // owner[i] owns pos[i]
}

// NewRouter builds the ring for n shards (n >= 1).
func NewRouter(n int) *Router {
	if n < 1 {
		n = 1
	}
	type vnode struct {
		pos   uint64
		shard int
	}
	nodes := make([]vnode, 0, n*VirtualNodes)
	for s := range n {
		for v := range VirtualNodes {
			nodes = append(nodes, vnode{vnodeHash(s, v), s})
		}
	}
	sort.Slice(nodes, func(i, j int) bool {
		if nodes[i].pos != nodes[j].pos {
			return nodes[i].pos < nodes[j].pos
		}
		return nodes[i].shard < nodes[j].shard
	})
	r := &Router{shards: n, pos: make([]uint64, len(nodes)), owner: make([]int, len(nodes))}
	for i, nd := range nodes {
		r.pos[i], r.owner[i] = nd.pos, nd.shard
	}
	return r
}

// Shards returns the number of shards on the ring.
func (r *Router) Shards() int { return r.shards }

// ShardOf returns the shard that owns id.
func (r *Router) ShardOf(id api.PointID) int {
	if r.shards == 1 {
		return 0
	}
	h := PointHash(id)
	i := sort.Search(len(r.pos), func(i int) bool { return r.pos[i] >= h })
	if i == len(r.pos) {
		i = 0
	}
	return r.owner[i]
}

// PointHash is the ring position of a point id (see Router).
func PointHash(id api.PointID) uint64 {
	var buf [17]byte
	var k []byte
	if id.IsUUID {
		buf[0] = 1
		copy(buf[1:], id.UUID[:])
		k = buf[:17]
	} else {
		binary.BigEndian.PutUint64(buf[1:9], id.Num)
		k = buf[:9]
	}
	const (
		offset64 = 14695981039346656037
		prime64  = 1099511628211
	)
	h := uint64(offset64)
	for _, c := range k {
		h ^= uint64(c)
		h *= prime64
	}
	return mix64(h)
}

func vnodeHash(shard, v int) uint64 {
	return mix64(uint64(shard)<<32 | uint64(v) ^ 0x9e3779b97f4a7c15)
}

// mix64 is the MurmurHash3 64-bit finaliser.
func mix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
