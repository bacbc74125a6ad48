package shard

import "math/bits"

// bitset is a growable set of offsets.
type bitset []uint64

func (b bitset) has(i uint32) bool {
	w := int(i >> 6)
	return w < len(b) && b[w]&(1<<(i&63)) != 0
}

func (b *bitset) set(i uint32) {
	w := int(i >> 6)
	if w >= len(*b) {
		n := make(bitset, max(w+1, 2*len(*b)))
		copy(n, *b)
		*b = n
	}
	(*b)[w] |= 1 << (i & 63)
}

func (b bitset) clear(i uint32) {
	w := int(i >> 6)
	if w < len(b) {
		b[w] &^= 1 << (i & 63)
	}
}

// each calls fn for every member in increasing order until fn returns false.
func (b bitset) each(fn func(uint32) bool) {
	for w, word := range b {
		for word != 0 {
			t := bits.TrailingZeros64(word)
			if !fn(uint32(w<<6 + t)) {
				return
			}
			word &= word - 1
		}
	}
}

func (b bitset) count() int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

// anyBoth reports whether some i in [lo, hi) is in both a and b; lo and hi
// are multiples of 64.
func anyBoth(a, b bitset, lo, hi uint32) bool {
	for w := int(lo >> 6); w < int(hi>>6) && w < len(a) && w < len(b); w++ {
		if a[w]&b[w] != 0 {
			return true
		}
	}
	return false
}
