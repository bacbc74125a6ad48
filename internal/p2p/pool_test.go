package p2p

import "testing"

// TestBulkPool checks the pool's size classes: a buffer has the length
// asked for and a power-of-two capacity of at least 32 KiB (less than
// twice what it needs), buffers the pool did not make are not taken, and
// sizes beyond the largest class are plain buffers.
func TestBulkPool(t *testing.T) {
	p := &bulkPool{}
	for _, n := range []int{0, 1, 1000, 32 << 10, 32<<10 + 1, 800 << 10, 1 << 20, 64 << 20} {
		b := p.Get(n)
		if len(*b) != n {
			t.Fatalf("Get(%d): length %d", n, len(*b))
		}
		c := cap(*b)
		if c&(c-1) != 0 || c < bulkPoolMin || c < n || c >= 2*max(n, bulkPoolMin) {
			t.Fatalf("Get(%d): capacity %d", n, c)
		}
		p.Put(b)
	}
	if b := p.Get(64<<20 + 1); len(*b) != 64<<20+1 {
		t.Fatalf("an outsize buffer has length %d", len(*b))
	}
	// Odd capacities are not pooled.
	odd := make([]byte, 100<<10)
	p.Put(&odd)
	for range 10 {
		if c := p.Get(100 << 10); cap(*c) == len(odd) {
			t.Fatalf("the pool handed out a buffer it did not make")
		}
	}
}
