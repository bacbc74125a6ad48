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

// extractMember splits the JSON object b (the whole of b, surrounding
// whitespace allowed) into the value of member key and an object of all
// other members in their order. val is nil when the member is absent. It
// reports false when b is not a valid object, when a key holds an escape,
// or when key occurs twice or in another letter case (encoding/json
// matches field names case-insensitively; such bodies are left to it).
func extractMember(b []byte, key string) (val, rest []byte, ok bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, nil, false
	}
	out := make([]byte, 0, 128)
	out = append(out, '{')
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		if skipSpace(b, i+1) != len(b) {
			return nil, nil, false
		}
		return nil, append(out, '}'), true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return nil, nil, false
		}
		ks := i
		ke, escaped, ok := skipString(b, i)
		if !ok || escaped {
			return nil, nil, false
		}
		name := b[ks+1 : ke-1]
		i = skipSpace(b, ke)
		if i >= len(b) || b[i] != ':' {
			return nil, nil, false
		}
		vs := skipSpace(b, i+1)
		ve, ok := skipValue(b, vs, 1)
		if !ok {
			return nil, nil, false
		}
		switch {
		case string(name) == key:
			if val != nil {
				return nil, nil, false
			}
			val = b[vs:ve]
		case strings.EqualFold(string(name), key):
			return nil, nil, false
		default:
			if len(out) > 1 {
				out = append(out, ',')
			}
			out = append(out, b[ks:ke]...)
			out = append(out, ':')
			out = append(out, b[vs:ve]...)
		}
		i = skipSpace(b, ve)
		if i >= len(b) {
			return nil, nil, false
		}
		if b[i] == '}' {
			if skipSpace(b, i+1) != len(b) {
				return nil, nil, false
			}
			return val, append(out, '}'), true
		}
		if b[i] != ',' {
			return nil, nil, false
		}
		i = skipSpace(b, i+1)
	}
}

// denseOnly parses val as one dense vector, the whole of val.
func denseOnly(val []byte) ([]float32, bool) {
	if len(val) == 0 || val[0] != '[' {
		return nil, false
	}
	vec, end, ok := parseFloatArray(val, 0, make([]float32, 0, bytes.Count(val, []byte{','})+1))
	return vec, ok && end == len(val)
}

// decodeFast decodes the nearest-vector query {"query": [numbers], ...}.
func (r *QueryRequest) decodeFast(b []byte) bool {
	val, rest, ok := extractMember(b, "query")
	if !ok || val == nil {
		return false
	}
	vec, ok := denseOnly(val)
	if !ok {
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
	val, rest, ok := extractMember(b, "vector")
	if !ok || val == nil {
		return false
	}
	vec, ok := denseOnly(val)
	if !ok {
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

// decodeFast decodes both forms of an upsert: the column form {"batch": {"ids", "vectors": [[numbers]...], "payloads"}}
// and the list form {"points": [{"id", "vector": [numbers], "payload"}...]}.
func (u *UpsertPoints) decodeFast(b []byte) bool {
	batch, rest, ok := extractMember(b, "batch")
	if !ok {
		return false
	}
	var points []PointStruct
	if batch == nil {
		var pts []byte
		if pts, rest, ok = extractMember(b, "points"); !ok || pts == nil {
			return false
		}
		if points, ok = decodePointList(pts); !ok {
			return false
		}
	} else if points, ok = decodeBatchFast(batch); !ok {
		return false
	}
	var others struct {
		Points       json.RawMessage `json:"points"`
		Batch        json.RawMessage `json:"batch"`
		ShardKey     any             `json:"shard_key"`
		UpdateFilter *Filter         `json:"update_filter"`
	}
	if json.Unmarshal(rest, &others) != nil || others.Points != nil || others.Batch != nil {
		return false
	}
	*u = UpsertPoints{Points: points, ShardKey: others.ShardKey, UpdateFilter: others.UpdateFilter}
	return true
}

// decodeBatchFast decodes the column form's object with unnamed vectors.
func decodeBatchFast(b []byte) ([]PointStruct, bool) {
	vb, rest, ok := extractMember(b, "vectors")
	if !ok || vb == nil {
		return nil, false
	}
	vecs, end, ok := parseFloatArrays(vb, 0)
	if !ok || end != len(vb) {
		return nil, false
	}
	var batch struct {
		IDs      []PointID         `json:"ids"`
		Vectors  json.RawMessage   `json:"vectors"`
		Payloads []json.RawMessage `json:"payloads"`
	}
	if json.Unmarshal(rest, &batch) != nil || batch.Vectors != nil || len(vecs) != len(batch.IDs) {
		return nil, false
	}
	vs := make([]Vectors, len(vecs))
	for i, v := range vecs {
		vs[i] = Vectors{DefaultVectorName: v}
	}
	pts, err := assembleBatch(batch.IDs, vs, batch.Payloads)
	return pts, err == nil
}

// decodePointList decodes the list form's array of points, parsing each
// unnamed vector in place.
func decodePointList(b []byte) ([]PointStruct, bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return nil, false
	}
	i = skipSpace(b, i+1)
	out := []PointStruct{}
	if i < len(b) && b[i] == ']' {
		return out, skipSpace(b, i+1) == len(b)
	}
	for {
		end, ok := skipValue(b, i, 1)
		if !ok {
			return nil, false
		}
		vb, rest, ok := extractMember(b[i:end], "vector")
		if !ok || vb == nil {
			return nil, false
		}
		vec, ok := denseOnly(vb)
		if !ok {
			return nil, false
		}
		var p PointStruct
		if json.Unmarshal(rest, &p) != nil || p.Vector != nil {
			return nil, false
		}
		p.Vector = Vectors{DefaultVectorName: vec}
		out = append(out, p)
		i = skipSpace(b, end)
		if i >= len(b) {
			return nil, false
		}
		if b[i] == ']' {
			return out, skipSpace(b, i+1) == len(b)
		}
		if b[i] != ',' {
			return nil, false
		}
		i = skipSpace(b, i+1)
	}
}
