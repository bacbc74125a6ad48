package filter

import (
	"fmt"
	"maps"
	"math"
	"sort"

	"github.com/google/uuid"

	"github.com/shoal-db/shoal/internal/api"
)

// IndexSet holds the payload indexes of one shard, by key path.
//
// An IndexSet is not safe for concurrent mutation: the owner serialises
// Create, Drop, Add and Remove (the shard does so under its write lock) and
// holds a read lock around every other method, which may then run
// concurrently with each other.
type IndexSet struct {
	fields map[string]*fieldIndex // by canonical path
}

// NewIndexSet returns an empty IndexSet.
func NewIndexSet() *IndexSet {
	return &IndexSet{fields: map[string]*fieldIndex{}}
}

// fieldIndex is the index of one key.
type fieldIndex struct {
	key     string // as given to Create
	path    Path
	schema  api.PayloadFieldSchema
	present postings // points with at least one indexed value

	// Capabilities.
	lookup bool // match value/any on keywords, integers, bools, uuids
	ranged bool // range conditions and order_by

	terms   map[string]postings // keyword, uuid, text tokens
	ints    map[int64]postings  // integer lookup
	bools   [2]postings         // false, true
	ordered orderedSet          // integer (all numbers), float, datetime (micros)
	geo     orderedSet          // geo points by latitude
	geoPts  map[uint32][]api.GeoPoint
	text    *textConfig
}

// Create adds an index for key with schema; an existing index for the same
// key is replaced (it must then be refilled with Add). It returns a
// bad-input error for an invalid key, type or parameter.
func (s *IndexSet) Create(key string, schema api.PayloadFieldSchema) error {
	p, err := ParsePath(key)
	if err != nil {
		return err
	}
	if !schema.Type.Valid() {
		return api.ErrBadInput("unknown payload index type %q", schema.Type)
	}
	fi := &fieldIndex{key: key, path: p, schema: schema}
	switch schema.Type {
	case api.SchemaKeyword, api.SchemaUUID:
		fi.lookup = true
		fi.terms = map[string]postings{}
	case api.SchemaInteger:
		if fi.lookup, err = paramBool(schema.Params, "lookup", true); err != nil {
			return err
		}
		if fi.ranged, err = paramBool(schema.Params, "range", true); err != nil {
			return err
		}
		if !fi.lookup && !fi.ranged {
			return api.ErrBadInput("the lookup and range parameters of an integer index cannot both be false")
		}
		fi.ints = map[int64]postings{}
	case api.SchemaFloat, api.SchemaDatetime:
		fi.ranged = true
	case api.SchemaBool:
		fi.lookup = true
	case api.SchemaGeo:
		fi.geoPts = map[uint32][]api.GeoPoint{}
	case api.SchemaText:
		cfg, err := parseTextConfig(schema.Params)
		if err != nil {
			return err
		}
		fi.text = &cfg
		fi.terms = map[string]postings{}
	}
	s.fields[p.String()] = fi
	return nil
}

// Drop removes the index for key, if any.
func (s *IndexSet) Drop(key string) {
	if p, ok := parsePath(key); ok {
		delete(s.fields, p.String())
	}
}

// Has reports whether key has an index.
func (s *IndexSet) Has(key string) bool {
	return s.get(key) != nil
}

// Keys returns the indexed keys as given to Create, sorted.
func (s *IndexSet) Keys() []string {
	out := make([]string, 0, len(s.fields))
	for _, fi := range s.fields {
		out = append(out, fi.key)
	}
	sort.Strings(out)
	return out
}

func (s *IndexSet) get(key string) *fieldIndex {
	if fi, ok := s.fields[key]; ok {
		return fi
	}
	p, ok := parsePath(key)
	if !ok {
		return nil
	}
	return s.fields[p.String()]
}

// Info describes every index: type, parameters and the number of points
// with at least one indexed value.
func (s *IndexSet) Info() map[string]api.PayloadIndexInfo {
	out := make(map[string]api.PayloadIndexInfo, len(s.fields))
	for _, fi := range s.fields {
		var params map[string]any
		if len(fi.schema.Params) > 0 {
			params = maps.Clone(fi.schema.Params)
		}
		out[fi.key] = api.PayloadIndexInfo{DataType: fi.schema.Type, Params: params, Points: uint64(len(fi.present))}
	}
	return out
}

// Add indexes the payload of the point at offset off. Adding the same
// payload twice has no further effect; to change a payload call Remove with
// the old payload first.
func (s *IndexSet) Add(off uint32, p api.Payload) {
	for _, fi := range s.fields {
		fi.update(off, p, true)
	}
}

// Project returns the part of p that the indexes read: its top-level keys
// that begin an indexed path (nil when there are none). Adding the
// projection indexes what adding p would.
func (s *IndexSet) Project(p api.Payload) api.Payload {
	var out api.Payload
	for _, fi := range s.fields {
		v, ok := p[fi.path.first]
		if !ok {
			continue
		}
		if out == nil {
			out = api.Payload{}
		}
		out[fi.path.first] = v
	}
	return out
}

// Remove removes the point at offset off, whose indexed payload was p.
func (s *IndexSet) Remove(off uint32, p api.Payload) {
	for _, fi := range s.fields {
		fi.update(off, p, false)
	}
}

// update adds or removes the values of p at the index's key.
func (fi *fieldIndex) update(off uint32, p api.Payload, add bool) {
	if p == nil {
		return
	}
	var buf [4]any
	vals := flatten(fi.path.get(p, buf[:0]))
	n := 0
	for _, v := range vals {
		if fi.updateValue(off, v, add) {
			n++
		}
	}
	if n > 0 {
		if add {
			fi.present = fi.present.add(off)
		} else {
			fi.present = fi.present.remove(off)
		}
	}
}

// updateValue indexes one value and reports whether it was indexable.
func (fi *fieldIndex) updateValue(off uint32, v any, add bool) bool {
	term := func(m map[string]postings, k string) {
		if add {
			m[k] = m[k].add(off)
		} else if ps := m[k].remove(off); len(ps) == 0 {
			delete(m, k)
		} else {
			m[k] = ps
		}
	}
	ord := func(set *orderedSet, x float64) {
		if add {
			set.insert(entry{v: x, off: off})
		} else {
			set.delete(entry{v: x, off: off})
		}
	}
	switch fi.schema.Type {
	case api.SchemaKeyword:
		s, ok := v.(string)
		if ok {
			term(fi.terms, s)
		}
		return ok
	case api.SchemaUUID:
		s, ok := v.(string)
		if ok {
			if _, err := uuid.Parse(s); err != nil {
				return false
			}
			term(fi.terms, s)
		}
		return ok
	case api.SchemaInteger:
		f, ok := asFloat(v)
		if !ok {
			return false
		}
		n, isInt := asInt64(v)
		if isInt {
			if add {
				fi.ints[n] = fi.ints[n].add(off)
			} else if ps := fi.ints[n].remove(off); len(ps) == 0 {
				delete(fi.ints, n)
			} else {
				fi.ints[n] = ps
			}
		}
		// Non-integer numbers are kept for ranges only, so that a range
		// answered from the index agrees with payload evaluation.
		ord(&fi.ordered, f)
		return isInt
	case api.SchemaFloat:
		f, ok := asFloat(v)
		if ok {
			ord(&fi.ordered, f)
		}
		return ok
	case api.SchemaDatetime:
		us, ok := asDatetime(v)
		if ok {
			ord(&fi.ordered, float64(us))
		}
		return ok
	case api.SchemaBool:
		b, ok := v.(bool)
		if ok {
			i := 0
			if b {
				i = 1
			}
			if add {
				fi.bools[i] = fi.bools[i].add(off)
			} else {
				fi.bools[i] = fi.bools[i].remove(off)
			}
		}
		return ok
	case api.SchemaGeo:
		g, ok := asGeo(v)
		if !ok {
			return false
		}
		ord(&fi.geo, g.Lat)
		pts := fi.geoPts[off]
		if add {
			for _, q := range pts {
				if q == g {
					return true
				}
			}
			fi.geoPts[off] = append(pts, g)
		} else {
			for i, q := range pts {
				if q == g {
					pts = append(pts[:i:i], pts[i+1:]...)
					break
				}
			}
			if len(pts) == 0 {
				delete(fi.geoPts, off)
			} else {
				fi.geoPts[off] = pts
			}
		}
		return true
	case api.SchemaText:
		s, ok := v.(string)
		if ok {
			for _, t := range fi.text.indexTokens(s) {
				term(fi.terms, t)
			}
		}
		return ok
	}
	return false
}

// Compile compiles f like Compile, with full-text conditions on
// text-indexed keys using the index's tokenizer (Qdrant's semantics with a
// text index).
func (s *IndexSet) Compile(f *api.Filter) (*Matcher, error) {
	return compile(f, func(path string) *textConfig {
		if fi := s.fields[path]; fi != nil && fi.text != nil {
			return fi.text
		}
		return nil
	})
}

// ErrNoRangeIndex is the text Qdrant returns when order_by names a key
// without a range-capable index.
func errNoRangeIndex(key string) error {
	return api.ErrBadRequest("No range index for `order_by` key: `%s`. Please create one to use `order_by`. "+
		"Check https://qdrant.tech/documentation/concepts/indexing/#payload-index to see which payload schemas support Range conditions", key)
}

// Ordered calls fn for each (offset, value) pair of the integer, float or
// datetime index of key in value order (descending when desc), starting at
// from (inclusive) when set, until fn returns false. A point with several
// values is visited once per value. Datetime values are microseconds since
// the Unix epoch. It returns a bad-request error in Qdrant's words when key
// has no range-capable index.
func (s *IndexSet) Ordered(key string, desc bool, from *float64, fn func(off uint32, v float64) bool) error {
	fi := s.get(key)
	if fi == nil || !fi.ranged {
		return errNoRangeIndex(key)
	}
	visit := func(e entry) bool { return fn(e.off, e.v) }
	if desc {
		hi := math.Inf(1)
		if from != nil {
			hi = *from
		}
		fi.ordered.descend(hi, visit)
	} else {
		lo := math.Inf(-1)
		if from != nil {
			lo = *from
		}
		fi.ordered.ascend(lo, visit)
	}
	return nil
}

// Facet counts, for the keyword, integer, bool or uuid index of key, the
// points allowed by allow (nil: all) per value, most frequent first, ties by
// value, at most limit (<= 0: all). Values are strings, json.Numbers or
// bools. ok is false when key has no such index.
func (s *IndexSet) Facet(key string, allow func(off uint32) bool, limit int) (hits []api.FacetHit, ok bool) {
	fi := s.get(key)
	if fi == nil || !fi.lookup {
		return nil, false
	}
	count := func(ps postings) uint64 {
		if allow == nil {
			return uint64(len(ps))
		}
		var n uint64
		for _, off := range ps {
			if allow(off) {
				n++
			}
		}
		return n
	}
	type kv struct {
		sortKey string
		hit     api.FacetHit
		num     int64
		isNum   bool
	}
	var all []kv
	switch fi.schema.Type {
	case api.SchemaKeyword, api.SchemaUUID:
		for k, ps := range fi.terms {
			if c := count(ps); c > 0 {
				all = append(all, kv{sortKey: k, hit: api.FacetHit{Value: k, Count: c}})
			}
		}
	case api.SchemaInteger:
		for k, ps := range fi.ints {
			if c := count(ps); c > 0 {
				all = append(all, kv{num: k, isNum: true, hit: api.FacetHit{Value: jsonInt(k), Count: c}})
			}
		}
	case api.SchemaBool:
		for i, ps := range fi.bools {
			if c := count(ps); c > 0 {
				all = append(all, kv{num: int64(i), isNum: true, hit: api.FacetHit{Value: i == 1, Count: c}})
			}
		}
	default:
		return nil, false
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if a.hit.Count != b.hit.Count {
			return a.hit.Count > b.hit.Count
		}
		if a.isNum {
			return a.num < b.num
		}
		return a.sortKey < b.sortKey
	})
	if limit > 0 && len(all) > limit {
		all = all[:limit]
	}
	hits = make([]api.FacetHit, len(all))
	for i, x := range all {
		hits[i] = x.hit
	}
	return hits, true
}

func (fi *fieldIndex) String() string {
	return fmt.Sprintf("%s index on %s (%d points)", fi.schema.Type, fi.key, len(fi.present))
}
