package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"time"
)

// MaxFilterDepth is the deepest nesting of filters (filter inside condition
// inside filter ...) accepted in a request.
const MaxFilterDepth = 32

// Filter is Qdrant's Filter: all of Must, at least one of Should (when
// non-empty), none of MustNot, and at least MinShould.MinCount of
// MinShould.Conditions.
type Filter struct {
	Must      []Condition `json:"must,omitempty"`
	Should    []Condition `json:"should,omitempty"`
	MustNot   []Condition `json:"must_not,omitempty"`
	MinShould *MinShould  `json:"min_should,omitempty"`
}

// MinShould requires at least MinCount of Conditions to hold.
type MinShould struct {
	Conditions []Condition `json:"conditions"`
	MinCount   int         `json:"min_count"`
}

// UnmarshalJSON decodes a min_should; min_count is required, as in Qdrant
// (serde's "missing field").
func (m *MinShould) UnmarshalJSON(b []byte) error {
	type plain MinShould
	var aux struct {
		plain
		MinCount *int `json:"min_count"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	if aux.MinCount == nil {
		return ErrBadInput("missing field `min_count` in min_should")
	}
	*m = MinShould(aux.plain)
	m.MinCount = *aux.MinCount
	return nil
}

// Condition is exactly one of its fields (Qdrant's untagged Condition union).
type Condition struct {
	Field     *FieldCondition `json:"-"`
	IsEmpty   *KeyRef         `json:"-"` // {"is_empty": {"key": ...}}
	IsNull    *KeyRef         `json:"-"` // {"is_null": {"key": ...}}
	HasID     []PointID       `json:"-"` // {"has_id": [...]}
	HasVector *string         `json:"-"` // {"has_vector": "name"}
	Slice     *Slice          `json:"-"` // {"slice": {"total", "index"}}
	Nested    *Nested         `json:"-"` // {"nested": {"key", "filter"}}
	Filter    *Filter         `json:"-"` // a nested Filter object
}

// Slice selects the points of one of Total disjoint slices of the id
// space: those whose id hashes (SipHash-2-4, zero key, over the id's
// canonical bytes) to Index modulo Total. Total is at least 1 (checked
// while decoding); Index below Total is checked with the filter's other
// constraints.
type Slice struct {
	Total uint32 `json:"total"`
	Index uint32 `json:"index"`
}

// KeyRef names a payload key.
type KeyRef struct {
	Key string `json:"key"`
}

// Nested applies Filter to each element of the array at Key; the condition
// holds if some element satisfies the whole Filter.
type Nested struct {
	Key    string `json:"key"`
	Filter Filter `json:"filter"`
}

// FieldCondition tests the payload value(s) at Key; exactly one test is set.
// Key is a path: dots separate object keys, "[]" flattens arrays
// ("country.cities[].name").
type FieldCondition struct {
	Key            string          `json:"key"`
	Match          *Match          `json:"match,omitempty"`
	Range          *Range          `json:"-"`
	DatetimeRange  *DatetimeRange  `json:"-"`
	GeoBoundingBox *GeoBoundingBox `json:"geo_bounding_box,omitempty"`
	GeoRadius      *GeoRadius      `json:"geo_radius,omitempty"`
	GeoPolygon     *GeoPolygon     `json:"geo_polygon,omitempty"`
	ValuesCount    *ValuesCount    `json:"values_count,omitempty"`
	IsEmpty        *bool           `json:"is_empty,omitempty"`
	IsNull         *bool           `json:"is_null,omitempty"`
}

// MatchKind says which form a Match has.
type MatchKind int

// Match kinds.
const (
	MatchValue      MatchKind = iota // {"value": v}: keyword, integer or bool equality
	MatchText                        // {"text": s}: full-text match
	MatchPhrase                      // {"phrase": s}: full-text phrase match
	MatchAny                         // {"any": [...]}
	MatchExcept                      // {"except": [...]}
	MatchTextAny                     // {"text_any": s}: full-text match of at least one token
	MatchPrefixKind                  // {"prefix": s}: keyword values starting with s (byte-wise, case-sensitive)
)

// Match is Qdrant's Match union. Value is a string, json.Number (integer) or
// bool; Values holds strings or json.Numbers (integers).
type Match struct {
	Kind   MatchKind
	Value  any
	Text   string
	Values []any
}

// Range bounds a number; nil bounds are open.
type Range struct {
	Lt  *float64 `json:"lt,omitempty"`
	Gt  *float64 `json:"gt,omitempty"`
	Gte *float64 `json:"gte,omitempty"`
	Lte *float64 `json:"lte,omitempty"`
}

// DatetimeRange bounds an RFC 3339 datetime; nil bounds are open.
type DatetimeRange struct {
	Lt  *time.Time
	Gt  *time.Time
	Gte *time.Time
	Lte *time.Time
}

// GeoPoint is a latitude/longitude pair in degrees.
type GeoPoint struct {
	Lon float64 `json:"lon"`
	Lat float64 `json:"lat"`
}

// GeoBoundingBox is a box given by its top-left and bottom-right corners.
type GeoBoundingBox struct {
	TopLeft     GeoPoint `json:"top_left"`
	BottomRight GeoPoint `json:"bottom_right"`
}

// GeoRadius is a circle; Radius is in metres.
type GeoRadius struct {
	Center GeoPoint `json:"center"`
	Radius float64  `json:"radius"`
}

// GeoLineString is a closed ring of points.
type GeoLineString struct {
	Points []GeoPoint `json:"points"`
}

// GeoPolygon is an exterior ring with optional holes.
type GeoPolygon struct {
	Exterior  GeoLineString   `json:"exterior"`
	Interiors []GeoLineString `json:"interiors,omitempty"`
}

// ValuesCount bounds the number of values at a key.
type ValuesCount struct {
	Lt  *int `json:"lt,omitempty"`
	Gt  *int `json:"gt,omitempty"`
	Gte *int `json:"gte,omitempty"`
	Lte *int `json:"lte,omitempty"`
}

// Depth returns the filter's nesting depth (1 for a flat filter).
func (f *Filter) Depth() int {
	if f == nil {
		return 0
	}
	d := 0
	each := func(cs []Condition) {
		for i := range cs {
			d = max(d, cs[i].depth())
		}
	}
	each(f.Must)
	each(f.Should)
	each(f.MustNot)
	if f.MinShould != nil {
		each(f.MinShould.Conditions)
	}
	return d + 1
}

func (c *Condition) depth() int {
	switch {
	case c.Filter != nil:
		return c.Filter.Depth()
	case c.Nested != nil:
		return c.Nested.Filter.Depth()
	}
	return 0
}

// UnmarshalJSON decodes a Filter, rejecting unknown keys.
// The must, should and must_not keys each take a list of conditions or a single
// condition object, as in Qdrant's schema.
func (f *Filter) UnmarshalJSON(b []byte) error {
	var p struct {
		Must      json.RawMessage `json:"must"`
		Should    json.RawMessage `json:"should"`
		MustNot   json.RawMessage `json:"must_not"`
		MinShould *MinShould      `json:"min_should"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return ErrBadInput("invalid filter: %v", err)
	}
	var out Filter
	for _, part := range []struct {
		raw json.RawMessage
		dst *[]Condition
	}{{p.Must, &out.Must}, {p.Should, &out.Should}, {p.MustNot, &out.MustNot}} {
		if err := decodeConditions(part.raw, part.dst); err != nil {
			return err
		}
	}
	out.MinShould = p.MinShould
	*f = out
	return nil
}

// decodeConditions reads a list of conditions or one condition object.
func decodeConditions(raw json.RawMessage, dst *[]Condition) error {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return nil
	}
	if t[0] == '{' {
		var c Condition
		if err := json.Unmarshal(t, &c); err != nil {
			return err
		}
		*dst = []Condition{c}
		return nil
	}
	if err := json.Unmarshal(t, dst); err != nil {
		var e *Error
		if errors.As(err, &e) {
			return err
		}
		return ErrBadInput("invalid filter: %v", err)
	}
	return nil
}

// UnmarshalJSON decides the condition's form from its keys.
func (c *Condition) UnmarshalJSON(b []byte) error {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(b, &keys); err != nil {
		return ErrBadInput("condition must be an object: %v", err)
	}
	*c = Condition{}
	switch {
	case keys["key"] != nil:
		var fc FieldCondition
		if err := json.Unmarshal(b, &fc); err != nil {
			return err
		}
		c.Field = &fc
	case keys["is_empty"] != nil:
		c.IsEmpty = new(KeyRef)
		return decodeStrict(keys["is_empty"], c.IsEmpty, "is_empty")
	case keys["is_null"] != nil:
		c.IsNull = new(KeyRef)
		return decodeStrict(keys["is_null"], c.IsNull, "is_null")
	case keys["has_id"] != nil:
		if err := json.Unmarshal(keys["has_id"], &c.HasID); err != nil {
			return ErrBadInput("has_id must be a list of point ids: %v", err)
		}
		if c.HasID == nil {
			c.HasID = []PointID{}
		}
	case keys["has_vector"] != nil:
		c.HasVector = new(string)
		if err := json.Unmarshal(keys["has_vector"], c.HasVector); err != nil {
			return ErrBadInput("has_vector must be a vector name: %v", err)
		}
	case keys["nested"] != nil:
		c.Nested = new(Nested)
		return decodeStrict(keys["nested"], c.Nested, "nested")
	case keys["slice"] != nil:
		var raw struct {
			Total *uint32 `json:"total"`
			Index *uint32 `json:"index"`
		}
		if err := decodeStrict(keys["slice"], &raw, "slice"); err != nil {
			return err
		}
		switch {
		case raw.Total == nil:
			return ErrBadInput("missing field `total` in slice")
		case raw.Index == nil:
			return ErrBadInput("missing field `index` in slice")
		case *raw.Total == 0:
			return ErrBadInput("invalid value: integer `0`, expected a nonzero u32 at slice.total")
		}
		c.Slice = &Slice{Total: *raw.Total, Index: *raw.Index}
	case keys["must"] != nil || keys["should"] != nil || keys["must_not"] != nil || keys["min_should"] != nil || len(keys) == 0:
		c.Filter = new(Filter)
		return json.Unmarshal(b, c.Filter)
	default:
		return ErrBadInput("unknown condition: %s", truncate(b, 200))
	}
	return nil
}

// MarshalJSON writes the condition in its Qdrant form.
func (c Condition) MarshalJSON() ([]byte, error) {
	switch {
	case c.Field != nil:
		return json.Marshal(c.Field)
	case c.IsEmpty != nil:
		return json.Marshal(map[string]any{"is_empty": c.IsEmpty})
	case c.IsNull != nil:
		return json.Marshal(map[string]any{"is_null": c.IsNull})
	case c.HasID != nil:
		return json.Marshal(map[string]any{"has_id": c.HasID})
	case c.HasVector != nil:
		return json.Marshal(map[string]any{"has_vector": *c.HasVector})
	case c.Nested != nil:
		return json.Marshal(map[string]any{"nested": c.Nested})
	case c.Slice != nil:
		return json.Marshal(map[string]any{"slice": c.Slice})
	case c.Filter != nil:
		return json.Marshal(c.Filter)
	}
	return []byte("{}"), nil
}

// UnmarshalJSON decodes a field condition; "range" may hold numbers or
// RFC 3339 datetimes.
func (fc *FieldCondition) UnmarshalJSON(b []byte) error {
	type plain FieldCondition
	var aux struct {
		plain
		Range json.RawMessage `json:"range"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&aux); err != nil {
		return ErrBadInput("invalid field condition: %v", err)
	}
	*fc = FieldCondition(aux.plain)
	if err := fc.CheckShape(); err != nil {
		return err
	}
	if len(aux.Range) > 0 && !bytes.Equal(aux.Range, []byte("null")) {
		if err := decodeRange(aux.Range, fc); err != nil {
			return err
		}
	}
	return nil
}

// HasCondition reports whether the field condition sets at least one
// condition on its key (match, range, geo, values_count, is_empty or
// is_null).
func (fc *FieldCondition) HasCondition() bool {
	for _, set := range []bool{fc.Match != nil, fc.Range != nil, fc.DatetimeRange != nil, fc.GeoBoundingBox != nil,
		fc.GeoRadius != nil, fc.GeoPolygon != nil, fc.ValuesCount != nil, fc.IsEmpty != nil, fc.IsNull != nil} {
		if set {
			return true
		}
	}
	return false
}

// CheckShape checks what both adapters check once a field condition is
// decoded (REST) or converted (gRPC): it names a key. A key without any
// condition passes here; filter.Validate reports it with its location, as
// Qdrant's 422 "At least one field condition must be specified" (see
// HasCondition), so that REST and gRPC refuse it alike.
func (fc *FieldCondition) CheckShape() error {
	if fc.Key == "" {
		return ErrBadInput("field condition needs a non-empty key")
	}
	return nil
}

// MarshalJSON writes the field condition with its range in either form.
func (fc FieldCondition) MarshalJSON() ([]byte, error) {
	type plain FieldCondition
	aux := struct {
		plain
		Range any `json:"range,omitempty"`
	}{plain: plain(fc)}
	if fc.Range != nil {
		aux.Range = fc.Range
	} else if fc.DatetimeRange != nil {
		aux.Range = fc.DatetimeRange
	}
	return json.Marshal(aux)
}

func decodeRange(b []byte, fc *FieldCondition) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return ErrBadInput("range must be an object: %v", err)
	}
	isTime := false
	for k, v := range raw {
		switch k {
		case "lt", "gt", "gte", "lte":
		default:
			return ErrBadInput("unknown range bound %q", k)
		}
		if t := bytes.TrimSpace(v); len(t) > 0 && t[0] == '"' {
			isTime = true
		}
	}
	if !isTime {
		var r Range
		if err := json.Unmarshal(b, &r); err != nil {
			return ErrBadInput("range bounds must be numbers or datetimes: %v", err)
		}
		fc.Range = &r
		return nil
	}
	var dr DatetimeRange
	for k, v := range raw {
		if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			continue
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return ErrBadInput("datetime range bound %q must be a string", k)
		}
		t, err := ParseDatetime(s)
		if err != nil {
			return err
		}
		switch k {
		case "lt":
			dr.Lt = &t
		case "gt":
			dr.Gt = &t
		case "gte":
			dr.Gte = &t
		case "lte":
			dr.Lte = &t
		}
	}
	fc.DatetimeRange = &dr
	return nil
}

// datetimeLayouts are the forms Qdrant accepts for datetime payloads and
// bounds; values without a zone are UTC.
var datetimeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04",
	"2006-01-02 15:04",
	"2006-01-02",
}

// ParseDatetime parses an RFC 3339 datetime or one of the shorter forms
// Qdrant accepts.
func ParseDatetime(s string) (time.Time, error) {
	for _, l := range datetimeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, ErrBadInput("cannot parse datetime %q: expected RFC 3339", s)
}

// MarshalJSON writes RFC 3339 bounds.
func (r DatetimeRange) MarshalJSON() ([]byte, error) {
	m := map[string]string{}
	put := func(k string, t *time.Time) {
		if t != nil {
			m[k] = t.Format(time.RFC3339Nano)
		}
	}
	put("lt", r.Lt)
	put("gt", r.Gt)
	put("gte", r.Gte)
	put("lte", r.Lte)
	return json.Marshal(m)
}

// UnmarshalJSON reads {"value"}, {"text"}, {"text_any"}, {"phrase"}, {"any"}
// or {"except"}.
func (m *Match) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil || len(raw) != 1 {
		return ErrBadInput("match must be an object with one of value, text, text_any, phrase, prefix, any, except")
	}
	for k, v := range raw {
		switch k {
		case "value":
			val, err := DecodeValue(v)
			if err != nil {
				return err
			}
			if !isMatchScalar(val, true) {
				return ErrBadInput("match value must be a string, an integer or a bool")
			}
			*m = Match{Kind: MatchValue, Value: val}
		case "text", "text_any", "phrase":
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return ErrBadInput("match %s must be a string", k)
			}
			kind := MatchText
			switch k {
			case "phrase":
				kind = MatchPhrase
			case "text_any":
				kind = MatchTextAny
			}
			*m = Match{Kind: kind, Text: s}
		case "prefix":
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return ErrBadInput("match prefix must be a string")
			}
			*m = Match{Kind: MatchPrefixKind, Text: s}
		case "any", "except":
			val, err := DecodeValue(v)
			if err != nil {
				return err
			}
			arr, ok := val.([]any)
			if !ok {
				return ErrBadInput("match %s must be a list", k)
			}
			for _, e := range arr {
				if !isMatchScalar(e, false) {
					return ErrBadInput("match %s values must be strings or integers", k)
				}
			}
			kind := MatchAny
			if k == "except" {
				kind = MatchExcept
			}
			*m = Match{Kind: kind, Values: arr}
		default:
			return ErrBadInput("unknown match type %q", k)
		}
	}
	return nil
}

// MarshalJSON writes the match in its Qdrant form.
func (m Match) MarshalJSON() ([]byte, error) {
	switch m.Kind {
	case MatchText:
		return json.Marshal(map[string]string{"text": m.Text})
	case MatchPhrase:
		return json.Marshal(map[string]string{"phrase": m.Text})
	case MatchTextAny:
		return json.Marshal(map[string]string{"text_any": m.Text})
	case MatchPrefixKind:
		return json.Marshal(map[string]string{"prefix": m.Text})
	case MatchAny:
		return json.Marshal(map[string]any{"any": m.Values})
	case MatchExcept:
		return json.Marshal(map[string]any{"except": m.Values})
	}
	return json.Marshal(map[string]any{"value": m.Value})
}

func decodeStrict(b []byte, v any, what string) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return ErrBadInput("invalid %s condition: %v", what, err)
	}
	return nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// isMatchScalar reports whether v is a string, an integer json.Number, or
// (when allowBool) a bool: the values Qdrant's match conditions accept.
func isMatchScalar(v any, allowBool bool) bool {
	switch x := v.(type) {
	case string:
		return true
	case bool:
		return allowBool
	case json.Number:
		_, err := x.Int64()
		return err == nil
	}
	return false
}
