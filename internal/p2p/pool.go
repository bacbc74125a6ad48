package p2p

import (
	"math/bits"
	"sync"
)

// Size classes of bulkPool: powers of two from 32 KiB to MaxMessageSize.
const (
	bulkMinClass = 15
	bulkMaxClass = 26
	// bulkPoolMin is the smallest message worth a pooled buffer.
	bulkPoolMin = 1 << bulkMinClass
)

// bulkPool is a gRPC buffer pool (mem.BufferPool) for bulk messages.
// Unlike gRPC's default pool it does not zero a buffer it hands out again
// (clearing a megabyte cost as much as allocating one): its users
// overwrite every byte they use, an encoder by appending, a copy by
// filling the length it asked for.
type bulkPool struct {
	classes [bulkMaxClass - bulkMinClass + 1]sync.Pool
}

// bulk is the pool the codec encodes and gathers bulk messages in.
var bulk = &bulkPool{}

// Get returns a buffer of length n; its contents are undefined.
func (p *bulkPool) Get(n int) *[]byte {
	c := max(bits.Len(uint(max(n, 1)-1)), bulkMinClass)
	if c > bulkMaxClass {
		b := make([]byte, n)
		return &b
	}
	if b, ok := p.classes[c-bulkMinClass].Get().(*[]byte); ok {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, 1<<c)
	return &b
}

// Put takes back a buffer Get returned (any length of it).
func (p *bulkPool) Put(b *[]byte) {
	c := bits.Len(uint(cap(*b))) - 1
	if cap(*b) != 1<<c || c < bulkMinClass || c > bulkMaxClass {
		return
	}
	p.classes[c-bulkMinClass].Put(b)
}
