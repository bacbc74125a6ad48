package sparse

import (
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

// zipfCorpus returns n sparse vectors over a vocabulary of vocab terms
// whose frequencies follow Zipf's law (as words do), each with 5 to 40
// distinct terms and positive weights; some negative when neg is set.
func zipfCorpus(seed uint64, n, vocab int, neg bool) []Vector {
	r := rand.New(rand.NewPCG(seed, 7))
	z := rand.NewZipf(r, 1.1, 2, uint64(vocab-1))
	out := make([]Vector, n)
	for i := range out {
		terms := map[uint32]float32{}
		for want := 5 + r.IntN(36); len(terms) < want; {
			w := float32(r.ExpFloat64())
			if neg && r.IntN(8) == 0 {
				w = -w
			}
			terms[uint32(z.Uint64())] = w
		}
		v := Vector{}
		for t, w := range terms {
			v.Indices = append(v.Indices, t)
			v.Values = append(v.Values, w)
		}
		out[i] = v.Sorted()
	}
	return out
}

// oracle scores every vector of vecs (nil: removed) exactly.
func oracle(vecs []Vector, q Vector, k int, allow func(uint32) bool) []Result {
	var all []Result
	for off, v := range vecs {
		if v.Indices == nil || (allow != nil && !allow(uint32(off))) {
			continue
		}
		if s, ok := Dot(q, v); ok {
			all = append(all, Result{Off: uint32(off), Score: s})
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].Score != all[j].Score {
			return all[i].Score > all[j].Score
		}
		return all[i].Off < all[j].Off
	})
	return all[:min(k, len(all))]
}

// sameScores compares results by score (within float32 summation-order
// noise) rank by rank: tied vectors may legitimately swap.
func sameScores(t *testing.T, what string, got, want []Result) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d results, want %d\n got %v\nwant %v", what, len(got), len(want), got, want)
	}
	for i := range got {
		d := got[i].Score - want[i].Score
		if d < -1e-4 || d > 1e-4 {
			t.Fatalf("%s: rank %d score %v, want %v\n got %v\nwant %v", what, i, got[i].Score, want[i].Score, got, want)
		}
	}
}

func TestValidateAndSorted(t *testing.T) {
	for _, tc := range []struct {
		v          Vector
		field, msg string
	}{
		{Vector{Indices: []uint32{1, 2}, Values: []float32{1}}, "values", "must be the same length as indices"},
		{Vector{Indices: []uint32{3, 1, 3}, Values: []float32{1, 2, 3}}, "indices", "must be unique"},
		{Vector{Indices: []uint32{}, Values: []float32{}}, "", ""},
		{Vector{Indices: []uint32{9, 1}, Values: []float32{1, 2}}, "", ""},
	} {
		if f, m := tc.v.Validate(); f != tc.field || m != tc.msg {
			t.Errorf("Validate(%v) = %q %q, want %q %q", tc.v, f, m, tc.field, tc.msg)
		}
	}
	s := Vector{Indices: []uint32{9, 1, 5}, Values: []float32{1, 2, 3}}.Sorted()
	if !slices.Equal(s.Indices, []uint32{1, 5, 9}) || !slices.Equal(s.Values, []float32{2, 3, 1}) {
		t.Fatalf("Sorted: %v", s)
	}
	if d, ok := Dot(s, Vector{Indices: []uint32{5, 9, 10}, Values: []float32{2, 2, 7}}); !ok || d != 8 {
		t.Fatalf("Dot = %v %v, want 8 true", d, ok)
	}
	if _, ok := Dot(s, Vector{Indices: []uint32{2}, Values: []float32{1}}); ok {
		t.Fatal("Dot reports an overlap of disjoint vectors")
	}
}

// TestSearchMatchesOracle checks that the pruned search returns exactly
// the oracle's top-k scores, with negative weights, filters, removals and
// compactions, for many queries and k.
func TestSearchMatchesOracle(t *testing.T) {
	for _, neg := range []bool{false, true} {
		vecs := zipfCorpus(1, 3000, 2000, neg)
		x := New()
		for off, v := range vecs {
			x.Add(uint32(off), v)
		}
		r := rand.New(rand.NewPCG(3, 4))
		// Remove a third, in runs, so some lists compact and some keep
		// stale entries.
		for off := range vecs {
			if r.IntN(3) == 0 {
				x.Remove(uint32(off))
				vecs[off] = Vector{}
			}
		}
		queries := zipfCorpus(2, 200, 2000, neg)
		for qi, q := range queries {
			k := []int{1, 5, 10, 100}[qi%4]
			var allow func(uint32) bool
			if qi%3 == 1 {
				allow = func(off uint32) bool { return off%5 != 0 }
			}
			want := oracle(vecs, q, k, allow)
			sameScores(t, "Search", x.Search(q, k, allow), want)
			sameScores(t, "SearchScan", x.SearchScan(q, k, allow), want)
			cands := make([]uint32, 0, len(vecs))
			for off := range vecs {
				cands = append(cands, uint32(off))
			}
			sameScores(t, "SearchCandidates", x.SearchCandidates(q, k, cands, allow), want)
		}
		if x.Len() != countLive(vecs) {
			t.Fatalf("Len %d, want %d", x.Len(), countLive(vecs))
		}
	}
}

func countLive(vecs []Vector) int {
	n := 0
	for _, v := range vecs {
		if v.Indices != nil {
			n++
		}
	}
	return n
}

func TestDocFreqAndCompaction(t *testing.T) {
	x := New()
	for off := uint32(0); off < 2000; off++ {
		x.Add(off, Vector{Indices: []uint32{1, off%7 + 10}, Values: []float32{1, 2}})
	}
	if got := x.DocFreq(1); got != 2000 {
		t.Fatalf("DocFreq(1) = %d", got)
	}
	for off := uint32(0); off < 1500; off++ {
		x.Remove(off)
	}
	x.Remove(99999) // absent: no effect
	if got := x.DocFreq(1); got != 500 {
		t.Fatalf("DocFreq(1) after removals = %d, want 500", got)
	}
	if got := x.PostingLen(Vector{Indices: []uint32{1}}); got >= 2000 {
		t.Fatalf("list of dim 1 was never compacted: %d entries", got)
	}
	res := x.Search(Vector{Indices: []uint32{1, 10}, Values: []float32{1, 1}}, 3, nil)
	for _, r := range res {
		if r.Off < 1500 {
			t.Fatalf("removed offset %d returned", r.Off)
		}
	}
	if res[0].Score != 3 {
		t.Fatalf("best score %v, want 3", res[0].Score)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("adding an offset out of order did not panic")
		}
	}()
	x.Add(5, Vector{Indices: []uint32{1}, Values: []float32{1}})
}

// BenchmarkSearch measures pruned top-10 search over a Zipf corpus against
// the exhaustive scan of the same index.
func BenchmarkSearch(b *testing.B) {
	const n, vocab = 100_000, 30_000
	vecs := zipfCorpus(11, n, vocab, false)
	x := New()
	for off, v := range vecs {
		x.Add(uint32(off), v)
	}
	queries := zipfCorpus(12, 256, vocab, false)
	for i := range queries {
		// Queries are short, as search queries are.
		m := min(len(queries[i].Indices), 8)
		queries[i] = Vector{Indices: queries[i].Indices[:m], Values: queries[i].Values[:m]}
	}
	b.Run("pruned", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			x.Search(queries[i%len(queries)], 10, nil)
			i++
		}
	})
	b.Run("scan", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			x.SearchScan(queries[i%len(queries)], 10, nil)
			i++
		}
	})
}
