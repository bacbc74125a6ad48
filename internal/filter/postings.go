package filter

import (
	"cmp"
	"slices"
	"sort"
)

// postings is a sorted set of point offsets.
type postings []uint32

// add inserts off, keeping the set sorted; appending in increasing order is
// O(1).
func (p postings) add(off uint32) postings {
	n := len(p)
	if n == 0 || p[n-1] < off {
		return append(p, off)
	}
	i, found := slices.BinarySearch(p, off)
	if found {
		return p
	}
	return slices.Insert(p, i, off)
}

// remove deletes off if present.
func (p postings) remove(off uint32) postings {
	i, found := slices.BinarySearch(p, off)
	if !found {
		return p
	}
	return slices.Delete(p, i, i+1)
}

// union merges sorted sets into one sorted set without duplicates.
func union(sets []postings) postings {
	switch len(sets) {
	case 0:
		return postings{}
	case 1:
		return slices.Clone(sets[0])
	}
	n := 0
	for _, s := range sets {
		n += len(s)
	}
	out := make(postings, 0, n)
	for _, s := range sets {
		out = append(out, s...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// intersect returns the offsets present in both sorted sets.
func intersect(a, b postings) postings {
	if len(a) > len(b) {
		a, b = b, a
	}
	out := make(postings, 0, len(a))
	if len(b) > 8*len(a) {
		for _, x := range a {
			if _, ok := slices.BinarySearch(b, x); ok {
				out = append(out, x)
			}
		}
		return out
	}
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

// entry is one (value, offset) pair of an ordered index.
type entry struct {
	v   float64
	off uint32
}

func cmpEntry(a, b entry) int {
	if c := cmp.Compare(a.v, b.v); c != 0 {
		return c
	}
	return cmp.Compare(a.off, b.off)
}

// blockSize bounds the blocks of an orderedSet.
const blockSize = 256

// orderedSet is a sorted multiset of entries kept in blocks of at most
// blockSize, so that inserts and deletes move at most one block.
type orderedSet struct {
	blocks [][]entry
	n      int
}

// findBlock returns the index of the block where e belongs.
func (s *orderedSet) findBlock(e entry) int {
	// First block whose last entry is >= e.
	i := sort.Search(len(s.blocks), func(i int) bool {
		b := s.blocks[i]
		return cmpEntry(b[len(b)-1], e) >= 0
	})
	if i == len(s.blocks) && i > 0 {
		i--
	}
	return i
}

func (s *orderedSet) insert(e entry) {
	if len(s.blocks) == 0 {
		s.blocks = [][]entry{{e}}
		s.n = 1
		return
	}
	bi := s.findBlock(e)
	b := s.blocks[bi]
	i, found := slices.BinarySearchFunc(b, e, cmpEntry)
	if found {
		return
	}
	b = slices.Insert(b, i, e)
	s.n++
	if len(b) > blockSize {
		half := len(b) / 2
		right := append([]entry(nil), b[half:]...)
		b = b[:half:half]
		s.blocks = slices.Insert(s.blocks, bi+1, right)
	}
	s.blocks[bi] = b
}

func (s *orderedSet) delete(e entry) {
	if len(s.blocks) == 0 {
		return
	}
	bi := s.findBlock(e)
	b := s.blocks[bi]
	i, found := slices.BinarySearchFunc(b, e, cmpEntry)
	if !found {
		return
	}
	b = slices.Delete(b, i, i+1)
	s.n--
	if len(b) == 0 {
		s.blocks = slices.Delete(s.blocks, bi, bi+1)
		return
	}
	s.blocks[bi] = b
}

// ascend calls fn for entries with v >= lo in increasing order until fn
// returns false.
func (s *orderedSet) ascend(lo float64, fn func(e entry) bool) {
	start := entry{v: lo, off: 0}
	bi := sort.Search(len(s.blocks), func(i int) bool {
		b := s.blocks[i]
		return cmpEntry(b[len(b)-1], start) >= 0
	})
	for ; bi < len(s.blocks); bi++ {
		b := s.blocks[bi]
		i, _ := slices.BinarySearchFunc(b, start, cmpEntry)
		for ; i < len(b); i++ {
			if !fn(b[i]) {
				return
			}
		}
	}
}

// descend calls fn for entries with v <= hi in decreasing order until fn
// returns false.
func (s *orderedSet) descend(hi float64, fn func(e entry) bool) {
	end := entry{v: hi, off: ^uint32(0)}
	// Last block whose first entry is <= end.
	bi := sort.Search(len(s.blocks), func(i int) bool {
		return cmpEntry(s.blocks[i][0], end) > 0
	}) - 1
	for ; bi >= 0; bi-- {
		b := s.blocks[bi]
		i, found := slices.BinarySearchFunc(b, end, cmpEntry)
		if !found {
			i--
		}
		for ; i >= 0; i-- {
			if !fn(b[i]) {
				return
			}
		}
	}
}

// count returns the number of entries with lo <= v <= hi (a bounds check on
// the ends is done by the caller when the range is open).
func (s *orderedSet) rangeOffsets(b bounds, fn func(off uint32)) {
	lo, hi := b.interval()
	s.ascend(lo, func(e entry) bool {
		if e.v > hi {
			return false
		}
		if b.contains(e.v) {
			fn(e.off)
		}
		return true
	})
}
