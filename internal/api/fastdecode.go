package api

import (
	"bytes"
	"encoding/json"
	"strings"
)

// DecodeFast decodes body into v when v is a *QueryRequest, *SearchRequest
// or *UpsertPoints and body is in one of their common vector-carrying
// shapes, and reports whether it did. encoding/json scans a whole body once
// to check it before decoding and again for every value handed to an
// UnmarshalJSON method, which for a body made of thousands of numbers costs
// more than the search or write it carries; DecodeFast parses the vectors
// in place and gives only the small remainder of the body to encoding/json.
//
// When it reports false, v is unchanged and the caller decodes body with
// encoding/json, which yields the same value or words the error: DecodeFast
// never accepts what encoding/json would refuse, and decodes what it
// accepts to the same value. The match is on the exact type, so types that
// embed these (QueryGroupsRequest, SearchGroupsRequest) are never decoded
// as the embedded type alone.
func DecodeFast(body []byte, v any) bool {
	switch r := v.(type) {
	case *QueryRequest:
		return r.decodeFast(body)
	case *SearchRequest:
		return r.decodeFast(body)
	case *UpsertPoints:
		return r.decodeFast(body)
	}
	return false
}

// maxSkipDepth bounds the nesting skipValue follows before giving up (and
// leaving the body to encoding/json).
const maxSkipDepth = 200

// skipString returns the index past the JSON string that starts at b[i]
// (a quote), checking escapes and refusing raw control characters, and
// whether the string held a backslash.
func skipString(b []byte, i int) (end int, escaped, ok bool) {
	i++
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			return i + 1, escaped, true
		case c < 0x20:
			return i, escaped, false
		case c == '\\':
			escaped = true
			i++
			if i >= len(b) {
				return i, escaped, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if i+4 >= len(b) {
					return i, escaped, false
				}
				for _, h := range b[i+1 : i+5] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return i, escaped, false
					}
				}
				i += 5
			default:
				return i, escaped, false
			}
		default:
			i++
		}
	}
	return i, escaped, false
}

// skipNumber returns the index past the JSON number at b[i].
func skipNumber(b []byte, i int) (int, bool) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := func() int {
		j := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i - j
	}
	switch {
	case i >= len(b):
		return i, false
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		digits()
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return i, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return i, false
		}
	}
	return i, true
}

// skipValue returns the index past the JSON value at b[i] (leading
// whitespace allowed), checking it strictly against the JSON grammar.
func skipValue(b []byte, i, depth int) (int, bool) {
	i = skipSpace(b, i)
	if i >= len(b) || depth > maxSkipDepth {
		return i, false
	}
	switch c := b[i]; c {
	case '{':
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == '}' {
			return i + 1, true
		}
		for {
			if i >= len(b) || b[i] != '"' {
				return i, false
			}
			var ok bool
			if i, _, ok = skipString(b, i); !ok {
				return i, false
			}
			if i = skipSpace(b, i); i >= len(b) || b[i] != ':' {
				return i, false
			}
			if i, ok = skipValue(b, i+1, depth+1); !ok {
				return i, false
			}
			if i = skipSpace(b, i); i >= len(b) {
				return i, false
			}
			if b[i] == '}' {
				return i + 1, true
			}
			if b[i] != ',' {
				return i, false
			}
			i = skipSpace(b, i+1)
		}
	case '[':
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1, true
		}
		for {
			var ok bool
			if i, ok = skipValue(b, i, depth+1); !ok {
				return i, false
			}
			if i = skipSpace(b, i); i >= len(b) {
				return i, false
			}
			if b[i] == ']' {
				return i + 1, true
			}
			if b[i] != ',' {
				return i, false
			}
			i++
		}
	case '"':
		end, _, ok := skipString(b, i)
		return end, ok
	case 't':
		return i + 4, bytes.HasPrefix(b[i:], []byte("true"))
	case 'f':
		return i + 5, bytes.HasPrefix(b[i:], []byte("false"))
	case 'n':
		return i + 4, bytes.HasPrefix(b[i:], []byte("null"))
	default:
		return skipNumber(b, i)
	}
}

// scanObject walks the JSON object at b[i] (leading whitespace allowed)
// and returns the index past its closing brace. The value of a member named
// keys[k] is handed to parse(k, b, start of value), which must parse it and
// return the index past it; all other members are copied in their order
// into rest, an object of its own. It reports false when b is not a valid
// object there, when parse refuses, when a member name holds an escape, or
// when a key occurs twice or in another letter case (encoding/json matches
// field names case-insensitively; such bodies are left to it).
func scanObject(b []byte, i int, keys []string, parse func(k int, b []byte, i int) (int, bool)) (end int, rest []byte, ok bool) {
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != '{' {
		return i, nil, false
	}
	out := make([]byte, 0, 128)
	out = append(out, '{')
	var seen uint64
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, append(out, '}'), true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, nil, false
		}
		ks := i
		ke, escaped, ok := skipString(b, i)
		if !ok || escaped {
			return i, nil, false
		}
		name := b[ks+1 : ke-1]
		i = skipSpace(b, ke)
		if i >= len(b) || b[i] != ':' {
			return i, nil, false
		}
		vs := skipSpace(b, i+1)
		k := -1
		for j, key := range keys {
			if string(name) == key {
				k = j
			} else if strings.EqualFold(string(name), key) {
				return i, nil, false
			}
		}
		var ve int
		if k >= 0 {
			if seen&(1<<k) != 0 {
				return i, nil, false
			}
			seen |= 1 << k
			if ve, ok = parse(k, b, vs); !ok {
				return i, nil, false
			}
		} else {
			if ve, ok = skipValue(b, vs, 1); !ok {
				return i, nil, false
			}
			if len(out) > 1 {
				out = append(out, ',')
			}
			out = append(out, b[ks:ke]...)
			out = append(out, ':')
			out = append(out, b[vs:ve]...)
		}
		i = skipSpace(b, ve)
		if i >= len(b) {
			return i, nil, false
		}
		if b[i] == '}' {
			return i + 1, append(out, '}'), true
		}
		if b[i] != ',' {
			return i, nil, false
		}
		i = skipSpace(b, i+1)
	}
}

// scanBody is scanObject over a whole body: nothing but whitespace may
// follow the object.
func scanBody(b []byte, keys []string, parse func(k int, b []byte, i int) (int, bool)) (rest []byte, ok bool) {
	end, rest, ok := scanObject(b, 0, keys, parse)
	return rest, ok && skipSpace(b, end) == len(b)
}

// denseMember returns a parse function for scanObject that reads one dense
// vector into *dst.
func denseMember(dst *[]float32) func(int, []byte, int) (int, bool) {
	return func(_ int, b []byte, i int) (int, bool) {
		vec, end, ok := parseFloatArray(b, i, nil)
		if vec == nil {
			vec = []float32{}
		}
		*dst = vec
		return end, ok
	}
}

var (
	queryKeys  = []string{"query"}
	vectorKeys = []string{"vector"}
	upsertKeys = []string{"points", "batch"}
	batchKeys  = []string{"vectors"}
)

// decodeFast decodes the nearest-vector query {"query": [numbers], ...}.
func (r *QueryRequest) decodeFast(b []byte) bool {
	var vec []float32
	rest, ok := scanBody(b, queryKeys, denseMember(&vec))
	if !ok || vec == nil {
		return false
	}
	var q QueryRequest
	if json.Unmarshal(rest, &q) != nil {
		return false
	}
	q.Query = &Query{Nearest: &VectorInput{Vector: vec}}
	*r = q
	return true
}

// decodeFast decodes the legacy search {"vector": [numbers], ...}.
func (r *SearchRequest) decodeFast(b []byte) bool {
	var vec []float32
	rest, ok := scanBody(b, vectorKeys, denseMember(&vec))
	if !ok || vec == nil {
		return false
	}
	var s SearchRequest
	if json.Unmarshal(rest, &s) != nil {
		return false
	}
	s.Vector = NamedVector{Vector: vec}
	*r = s
	return true
}

// decodeFast decodes both forms of an upsert: the column form
// {"batch": {"ids", "vectors": [[numbers]...], "payloads"}} and the list
// form {"points": [{"id", "vector": [numbers], "payload"}...]}.
func (u *UpsertPoints) decodeFast(b []byte) bool {
	var points []PointStruct
	found := 0
	rest, ok := scanBody(b, upsertKeys, func(k int, b []byte, i int) (end int, ok bool) {
		found++
		if k == 0 {
			points, end, ok = decodePointList(b, i)
		} else {
			points, end, ok = decodeBatchFast(b, i)
		}
		return end, ok
	})
	if !ok || found != 1 {
		return false
	}
	var others struct {
		ShardKey     any         `json:"shard_key"`
		UpdateFilter *Filter     `json:"update_filter"`
		UpdateMode   *UpdateMode `json:"update_mode"`
	}
	if json.Unmarshal(rest, &others) != nil {
		return false
	}
	*u = UpsertPoints{Points: points, ShardKey: others.ShardKey, UpdateFilter: others.UpdateFilter}
	if others.UpdateMode != nil {
		u.UpdateMode = *others.UpdateMode
	}
	return true
}

// decodeBatchFast decodes the column form's object at b[i] with unnamed
// vectors.
func decodeBatchFast(b []byte, i int) ([]PointStruct, int, bool) {
	var vecs [][]float32
	end, rest, ok := scanObject(b, i, batchKeys, func(_ int, b []byte, i int) (end int, ok bool) {
		vecs, end, ok = parseFloatArrays(b, i)
		return end, ok
	})
	if !ok || vecs == nil {
		return nil, end, false
	}
	var batch struct {
		IDs      []PointID         `json:"ids"`
		Payloads []json.RawMessage `json:"payloads"`
	}
	if json.Unmarshal(rest, &batch) != nil || len(vecs) != len(batch.IDs) {
		return nil, end, false
	}
	vs := make([]Vectors, len(vecs))
	for i, v := range vecs {
		vs[i] = Vectors{DefaultVectorName: v}
	}
	pts, err := assembleBatch(batch.IDs, vs, batch.Payloads)
	return pts, end, err == nil
}

// decodePointList decodes the list form's array of points at b[i],
// parsing each unnamed vector in place.
func decodePointList(b []byte, i int) ([]PointStruct, int, bool) {
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != '[' {
		return nil, i, false
	}
	i = skipSpace(b, i+1)
	out := []PointStruct{}
	if i < len(b) && b[i] == ']' {
		return out, i + 1, true
	}
	for {
		var vec []float32
		end, rest, ok := scanObject(b, i, vectorKeys, denseMember(&vec))
		if !ok || vec == nil {
			return nil, end, false
		}
		var p PointStruct
		if json.Unmarshal(rest, &p) != nil {
			return nil, end, false
		}
		p.Vector = Vectors{DefaultVectorName: vec}
		out = append(out, p)
		i = skipSpace(b, end)
		if i >= len(b) {
			return nil, i, false
		}
		if b[i] == ']' {
			return out, i + 1, true
		}
		if b[i] != ',' {
			return nil, i, false
		}
		i = skipSpace(b, i+1)
	}
}
