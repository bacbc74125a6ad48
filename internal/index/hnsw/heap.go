package hnsw

import "github.com/shoal-db/shoal/internal/index"

// minHeap is a binary heap of results with the lowest distance on top (the
// search frontier); maxHeap has the highest on top (the kept results). Both
// are plain slices so that pooled searchers reuse their memory.
type minHeap []index.Result

func (h *minHeap) push(r index.Result) {
	s := append(*h, r)
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if s[p].Dist <= r.Dist {
			break
		}
		s[i] = s[p]
		i = p
	}
	s[i] = r
	*h = s
}

func (h *minHeap) pop() index.Result {
	s := *h
	top := s[0]
	n := len(s) - 1
	last := s[n]
	s = s[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		c := l
		if r := l + 1; r < n && s[r].Dist < s[l].Dist {
			c = r
		}
		if s[c].Dist >= last.Dist {
			break
		}
		s[i] = s[c]
		i = c
	}
	if n > 0 {
		s[i] = last
	}
	*h = s
	return top
}

type maxHeap []index.Result

func (h *maxHeap) push(r index.Result) {
	s := append(*h, r)
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if s[p].Dist >= r.Dist {
			break
		}
		s[i] = s[p]
		i = p
	}
	s[i] = r
	*h = s
}

func (h *maxHeap) pop() index.Result {
	s := *h
	top := s[0]
	n := len(s) - 1
	last := s[n]
	s = s[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		c := l
		if r := l + 1; r < n && s[r].Dist > s[l].Dist {
			c = r
		}
		if s[c].Dist <= last.Dist {
			break
		}
		s[i] = s[c]
		i = c
	}
	if n > 0 {
		s[i] = last
	}
	*h = s
	return top
}

// sortedAscending empties h into dst in ascending distance order and
// returns dst.
func (h *maxHeap) sortedAscending(dst []index.Result) []index.Result {
	n := len(*h)
	if cap(dst) < n {
		dst = make([]index.Result, n)
	}
	dst = dst[:n]
	for i := n - 1; i >= 0; i-- {
		dst[i] = h.pop()
	}
	return dst
}
