package filter

import (
	"math"
	"math/bits"
	"slices"

	"github.com/google/uuid"

	"github.com/shoal-db/shoal/internal/api"
)

// Cardinality is an estimate of the number of points matching a filter:
// Min <= true count <= Max always holds; Exp is the expected count.
type Cardinality struct {
	Min, Exp, Max int
}

// bitset is a set of offsets used to merge postings without sorting.
type bitset []uint64

func (b *bitset) set(off uint32) {
	w := int(off >> 6)
	if w >= len(*b) {
		*b = append(*b, make([]uint64, w+1-len(*b))...)
	}
	(*b)[w] |= 1 << (off & 63)
}

func (b bitset) count() int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

func (b bitset) postings() postings {
	out := make(postings, 0, b.count())
	for i, w := range b {
		for w != 0 {
			t := bits.TrailingZeros64(w)
			out = append(out, uint32(i<<6+t))
			w &= w - 1
		}
	}
	return out
}

// fieldOffsets returns the offsets of points that may match fc, computed
// from the index of its key. exact reports that the set is exactly the
// matching points; ok is false when the index cannot answer fc.
func (s *IndexSet) fieldOffsets(fc *api.FieldCondition) (offs postings, exact, ok bool) {
	if fc.ValuesCount != nil || fc.IsEmpty != nil || fc.IsNull != nil {
		return nil, false, false
	}
	n := 0
	for _, set := range []bool{fc.Match != nil, fc.Range != nil, fc.DatetimeRange != nil,
		fc.GeoBoundingBox != nil, fc.GeoRadius != nil, fc.GeoPolygon != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, false, false
	}
	p, valid := parsePath(fc.Key)
	if !valid {
		return nil, false, false
	}
	fi := s.fields[p.String()]
	if fi == nil {
		return nil, false, false
	}
	switch {
	case fc.Match != nil:
		return fi.matchOffsets(fc.Match)
	case fc.Range != nil:
		if !fi.ranged || fi.schema.Type == api.SchemaDatetime {
			return nil, false, false
		}
		return fi.rangeOffsets(rangeBounds(fc.Range)), true, true
	case fc.DatetimeRange != nil:
		if fi.schema.Type != api.SchemaDatetime {
			return nil, false, false
		}
		return fi.rangeOffsets(datetimeBounds(fc.DatetimeRange)), true, true
	}
	if fi.schema.Type != api.SchemaGeo {
		return nil, false, false
	}
	var lo, hi float64
	var in func(api.GeoPoint) bool
	switch {
	case fc.GeoBoundingBox != nil:
		b := fc.GeoBoundingBox
		lo, hi, in = b.BottomRight.Lat, b.TopLeft.Lat, func(g api.GeoPoint) bool { return inBox(b, g) }
	case fc.GeoRadius != nil:
		r := fc.GeoRadius
		lo, hi = radiusBox(r)
		in = func(g api.GeoPoint) bool { return inRadius(r, g) }
	default:
		g := fc.GeoPolygon
		lo, hi = polygonLatRange(g)
		in = func(q api.GeoPoint) bool { return inPolygon(g, q) }
	}
	var bs bitset
	fi.geo.ascend(lo, func(e entry) bool {
		if e.v > hi {
			return false
		}
		for _, g := range fi.geoPts[e.off] {
			if g.Lat == e.v && in(g) {
				bs.set(e.off)
				break
			}
		}
		return true
	})
	return bs.postings(), true, true
}

func (fi *fieldIndex) rangeOffsets(b bounds) postings {
	var bs bitset
	fi.ordered.rangeOffsets(b, bs.set)
	return bs.postings()
}

func (fi *fieldIndex) matchOffsets(m *api.Match) (postings, bool, bool) {
	switch m.Kind {
	case api.MatchValue:
		switch fi.schema.Type {
		case api.SchemaKeyword:
			if s, ok := m.Value.(string); ok {
				return slices.Clone(fi.terms[s]), true, true
			}
		case api.SchemaUUID:
			if s, ok := m.Value.(string); ok {
				if _, err := uuid.Parse(s); err == nil {
					return slices.Clone(fi.terms[s]), true, true
				}
			}
		case api.SchemaInteger:
			if _, isStr := m.Value.(string); !isStr && fi.lookup {
				if n, ok := asInt64(m.Value); ok {
					return slices.Clone(fi.ints[n]), true, true
				}
			}
		case api.SchemaBool:
			if b, ok := m.Value.(bool); ok {
				i := 0
				if b {
					i = 1
				}
				return slices.Clone(fi.bools[i]), true, true
			}
		}
	case api.MatchAny:
		var lists []postings
		for _, v := range m.Values {
			switch fi.schema.Type {
			case api.SchemaKeyword:
				s, ok := v.(string)
				if !ok {
					return nil, false, false
				}
				lists = append(lists, fi.terms[s])
			case api.SchemaUUID:
				s, ok := v.(string)
				if !ok {
					return nil, false, false
				}
				if _, err := uuid.Parse(s); err != nil {
					return nil, false, false
				}
				lists = append(lists, fi.terms[s])
			case api.SchemaInteger:
				n, ok := asInt64(v)
				if !ok || !fi.lookup {
					return nil, false, false
				}
				lists = append(lists, fi.ints[n])
			default:
				return nil, false, false
			}
		}
		return unionBits(lists), true, true
	case api.MatchTextAny:
		if fi.text == nil {
			return nil, false, false
		}
		var lists []postings
		for _, t := range fi.text.queryTokens(m.Text) {
			if ps := fi.terms[t]; len(ps) > 0 {
				lists = append(lists, ps)
			}
		}
		if len(lists) == 0 {
			// No query token is in the index (or the query has no
			// token after analysis): nothing matches.
			return postings{}, true, true
		}
		// A point is in a token's postings exactly when one of its values
		// (a string, or a string in an array) has the token, which is what
		// the condition tests: the union is exact.
		return unionBits(lists), true, true
	case api.MatchText, api.MatchPhrase:
		if fi.text == nil {
			return nil, false, false
		}
		q := fi.text.queryTokens(m.Text)
		if len(q) == 0 {
			return nil, false, false
		}
		var out postings
		for i, t := range q {
			ps := fi.terms[t]
			if i == 0 {
				out = slices.Clone(ps)
			} else {
				out = intersect(out, ps)
			}
			if len(out) == 0 {
				break
			}
		}
		// Tokens are merged over all values of a point, and phrases need
		// order: a superset.
		return out, false, true
	}
	return nil, false, false
}

func unionBits(lists []postings) postings {
	if len(lists) == 1 {
		return slices.Clone(lists[0])
	}
	var bs bitset
	for _, l := range lists {
		for _, off := range l {
			bs.set(off)
		}
	}
	return bs.postings()
}

// Candidates returns a sorted superset of the offsets of points matching f,
// computed from the indexes, when the conditions f requires (must, a
// non-empty should, min_should with min_count > 0, recursively through
// nested filter conditions) include at least one the indexes can answer; ok
// is false otherwise and the caller must scan. The result never includes
// offsets absent from the indexes' data, so a point matching f is always in
// it when ok is true. exact reports that the result is exactly the points
// matching f (every condition answered exactly by an index, and no
// must_not): the caller then need not evaluate f on payloads.
func (s *IndexSet) Candidates(f *api.Filter, total int) (offs []uint32, exact, ok bool) {
	if f == nil {
		return nil, false, false
	}
	p, exact, ok := s.filterCandidates(f, 0)
	if !ok {
		return nil, false, false
	}
	return p, exact, true
}

func (s *IndexSet) conditionCandidates(c *api.Condition, depth int) (p postings, exact, ok bool) {
	switch {
	case c.Field != nil:
		return s.fieldOffsets(c.Field)
	case c.Filter != nil:
		return s.filterCandidates(c.Filter, depth+1)
	}
	return nil, false, false
}

// anyCandidates is the union of the candidates of cs, exact when each is.
func (s *IndexSet) anyCandidates(cs []api.Condition, depth int) (postings, bool, bool) {
	lists := make([]postings, 0, len(cs))
	exact := true
	for i := range cs {
		p, ex, ok := s.conditionCandidates(&cs[i], depth)
		if !ok {
			return nil, false, false
		}
		exact = exact && ex
		lists = append(lists, p)
	}
	return unionBits(lists), exact, true
}

func (s *IndexSet) filterCandidates(f *api.Filter, depth int) (postings, bool, bool) {
	if depth > api.MaxFilterDepth {
		return nil, false, false
	}
	var sets []postings
	exact := len(f.MustNot) == 0
	for i := range f.Must {
		p, ex, ok := s.conditionCandidates(&f.Must[i], depth)
		if ok {
			sets = append(sets, p)
		}
		exact = exact && ok && ex
	}
	if len(f.Should) > 0 {
		p, ex, ok := s.anyCandidates(f.Should, depth)
		if ok {
			sets = append(sets, p)
		}
		exact = exact && ok && ex
	}
	if ms := f.MinShould; ms != nil && ms.MinCount > 0 {
		if ms.MinCount > len(ms.Conditions) {
			return postings{}, true, true
		}
		// The union is exact only when one condition suffices.
		p, ex, ok := s.anyCandidates(ms.Conditions, depth)
		if ok {
			sets = append(sets, p)
		}
		exact = exact && ok && ex && ms.MinCount == 1
	}
	if len(sets) == 0 {
		return nil, false, false
	}
	slices.SortFunc(sets, func(a, b postings) int { return len(a) - len(b) })
	out := sets[0]
	for _, p := range sets[1:] {
		if len(out) == 0 {
			break
		}
		out = intersect(out, p)
	}
	return out, exact, true
}

// Estimate estimates the number of points among total matching f, the way
// Qdrant's planner does: indexed conditions are counted, unindexed ones are
// 0..total, and must/should/must_not/min_should combine the parts. Min and
// Max are hard bounds.
func (s *IndexSet) Estimate(f *api.Filter, total int) Cardinality {
	if total < 0 {
		total = 0
	}
	if f == nil {
		return Cardinality{total, total, total}
	}
	return s.estimateFilter(f, total, 0)
}

func unknown(total int) Cardinality {
	return Cardinality{Min: 0, Exp: total / 2, Max: total}
}

func exactCard(n, total int) Cardinality {
	n = min(n, total)
	return Cardinality{n, n, n}
}

func (s *IndexSet) estimateCondition(c *api.Condition, total, depth int) Cardinality {
	switch {
	case c.Field != nil:
		p, exact, ok := s.fieldOffsets(c.Field)
		if !ok {
			return unknown(total)
		}
		if exact {
			return exactCard(len(p), total)
		}
		n := min(len(p), total)
		return Cardinality{0, n, n}
	case c.Filter != nil:
		if depth >= api.MaxFilterDepth {
			return unknown(total)
		}
		return s.estimateFilter(c.Filter, total, depth+1)
	case c.HasID != nil:
		seen := make(map[api.PointID]struct{}, len(c.HasID))
		for _, id := range c.HasID {
			seen[id] = struct{}{}
		}
		n := min(len(seen), total)
		return Cardinality{0, n, n}
	case c.Slice != nil:
		return Cardinality{0, total / int(c.Slice.Total), total}
	case c.IsEmpty == nil && c.IsNull == nil && c.HasVector == nil && c.Nested == nil:
		return Cardinality{total, total, total} // an empty condition
	}
	return unknown(total)
}

func (s *IndexSet) estimateFilter(f *api.Filter, total, depth int) Cardinality {
	var parts []Cardinality
	for i := range f.Must {
		parts = append(parts, s.estimateCondition(&f.Must[i], total, depth))
	}
	if len(f.Should) > 0 {
		var es []Cardinality
		for i := range f.Should {
			es = append(es, s.estimateCondition(&f.Should[i], total, depth))
		}
		parts = append(parts, combineShould(es, total))
	}
	if ms := f.MinShould; ms != nil && ms.MinCount > 0 {
		var es []Cardinality
		for i := range ms.Conditions {
			es = append(es, s.estimateCondition(&ms.Conditions[i], total, depth))
		}
		parts = append(parts, combineMinShould(es, ms.MinCount, total))
	}
	for i := range f.MustNot {
		e := s.estimateCondition(&f.MustNot[i], total, depth)
		parts = append(parts, Cardinality{Min: total - e.Max, Exp: total - e.Exp, Max: total - e.Min})
	}
	return combineMust(parts, total)
}

func clampExp(c Cardinality) Cardinality {
	c.Exp = max(c.Min, min(c.Exp, c.Max))
	return c
}

// combineMust estimates the conjunction of parts.
func combineMust(parts []Cardinality, total int) Cardinality {
	if len(parts) == 0 {
		return Cardinality{total, total, total}
	}
	if total == 0 {
		return Cardinality{}
	}
	lo, hi := total, total
	prob := 1.0
	for _, p := range parts {
		lo = max(0, lo+p.Min-total)
		hi = min(hi, p.Max)
		prob *= float64(p.Exp) / float64(total)
	}
	return clampExp(Cardinality{Min: lo, Exp: int(math.Round(prob * float64(total))), Max: hi})
}

// combineShould estimates the disjunction of parts.
func combineShould(parts []Cardinality, total int) Cardinality {
	if total == 0 {
		return Cardinality{}
	}
	lo, hi := 0, 0
	miss := 1.0
	for _, p := range parts {
		lo = max(lo, p.Min)
		hi += p.Max
		miss *= float64(total-p.Exp) / float64(total)
	}
	return clampExp(Cardinality{Min: lo, Exp: int(math.Round((1 - miss) * float64(total))), Max: min(hi, total)})
}

// combineMinShould estimates "at least k of parts": a point matching k
// conditions adds at least k to the sum of the per-condition counts, and at
// most n; a point matching fewer adds at most k-1.
func combineMinShould(parts []Cardinality, k, total int) Cardinality {
	n := len(parts)
	if k > n || total == 0 {
		return Cardinality{}
	}
	sumMin, sumMax := 0, 0
	for _, p := range parts {
		sumMin += p.Min
		sumMax += p.Max
	}
	hi := min(total, sumMax/k)
	lo := 0
	if num := sumMin - total*(k-1); num > 0 {
		lo = (num + (n - k)) / (n - k + 1) // ceil
	}
	lo = min(lo, hi)
	if k == 1 {
		c := combineShould(parts, total)
		return clampExp(Cardinality{Min: max(lo, c.Min), Exp: c.Exp, Max: min(hi, c.Max)})
	}
	return clampExp(Cardinality{Min: lo, Exp: (lo + hi) / 2, Max: hi})
}
