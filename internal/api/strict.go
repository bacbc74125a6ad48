package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
)

// StrictModeConfig is a collection's strict mode (Qdrant's
// strict_mode_config): limits on the requests the collection accepts.
// Every field is optional; an unset field sets no limit. The limits apply
// only while Enabled is true. Each key is enforced by the service layer
// (service/strict.go); the keys are checked for both protocols in one place.
type StrictModeConfig struct {
	Enabled                       *bool                            `json:"enabled,omitempty"`
	MaxQueryLimit                 *int                             `json:"max_query_limit,omitempty"`
	MaxTimeout                    *int                             `json:"max_timeout,omitempty"`
	UnindexedFilteringRetrieve    *bool                            `json:"unindexed_filtering_retrieve,omitempty"`
	UnindexedFilteringUpdate      *bool                            `json:"unindexed_filtering_update,omitempty"`
	SearchMaxHnswEf               *int                             `json:"search_max_hnsw_ef,omitempty"`
	SearchAllowExact              *bool                            `json:"search_allow_exact,omitempty"`
	SearchMaxOversampling         *float64                         `json:"search_max_oversampling,omitempty"`
	UpsertMaxBatchsize            *int                             `json:"upsert_max_batchsize,omitempty"`
	SearchMaxBatchsize            *int                             `json:"search_max_batchsize,omitempty"`
	MaxCollectionVectorSizeBytes  *int64                           `json:"max_collection_vector_size_bytes,omitempty"`
	ReadRateLimit                 *int                             `json:"read_rate_limit,omitempty"`
	WriteRateLimit                *int                             `json:"write_rate_limit,omitempty"`
	MaxCollectionPayloadSizeBytes *int64                           `json:"max_collection_payload_size_bytes,omitempty"`
	MaxPointsCount                *int                             `json:"max_points_count,omitempty"`
	FilterMaxConditions           *int                             `json:"filter_max_conditions,omitempty"`
	ConditionMaxSize              *int                             `json:"condition_max_size,omitempty"`
	MultivectorConfig             map[string]StrictModeMultivector `json:"multivector_config,omitempty"`
	SparseConfig                  map[string]StrictModeSparse      `json:"sparse_config,omitempty"`
	MaxPayloadIndexCount          *int                             `json:"max_payload_index_count,omitempty"`
	MaxResidentMemoryPercent      *int                             `json:"max_resident_memory_percent,omitempty"`
}

// StrictModeMultivector limits one multi-vector name.
type StrictModeMultivector struct {
	MaxVectors *int `json:"max_vectors,omitempty"`
}

// StrictModeSparse limits one sparse vector name.
type StrictModeSparse struct {
	MaxLength *int `json:"max_length,omitempty"`
}

// ParseStrictMode decodes a strict_mode_config body (unknown keys refused,
// JSON nulls mean "not set") and validates the values as Qdrant's schema
// does. An empty or null body is nil.
func ParseStrictMode(raw json.RawMessage) (*StrictModeConfig, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var c StrictModeConfig
	if err := dec.Decode(&c); err != nil {
		return nil, ErrBadInput("invalid strict_mode_config: %v", strings.TrimPrefix(err.Error(), "json: "))
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// validate checks the minimums of Qdrant's schema (a 422 there, a
// validation error here).
func (c *StrictModeConfig) validate() error {
	atLeast := func(name string, v *int, lo int) error {
		if v != nil && *v < lo {
			return strictValidation(name, fmt.Sprint(*v), lo)
		}
		return nil
	}
	for _, f := range []struct {
		name string
		v    *int
		lo   int
	}{
		{"max_query_limit", c.MaxQueryLimit, 1},
		{"max_timeout", c.MaxTimeout, 1},
		{"search_max_hnsw_ef", c.SearchMaxHnswEf, 0},
		{"upsert_max_batchsize", c.UpsertMaxBatchsize, 0},
		{"search_max_batchsize", c.SearchMaxBatchsize, 0},
		{"read_rate_limit", c.ReadRateLimit, 1},
		{"write_rate_limit", c.WriteRateLimit, 1},
		{"max_points_count", c.MaxPointsCount, 0},
		{"filter_max_conditions", c.FilterMaxConditions, 0},
		{"condition_max_size", c.ConditionMaxSize, 0},
		{"max_payload_index_count", c.MaxPayloadIndexCount, 0},
		{"max_resident_memory_percent", c.MaxResidentMemoryPercent, 1},
	} {
		if err := atLeast(f.name, f.v, f.lo); err != nil {
			return err
		}
	}
	if v := c.MaxResidentMemoryPercent; v != nil && *v > 100 {
		return ErrValidation("max_resident_memory_percent", fmt.Sprintf("value %d invalid, must be 100 or smaller", *v))
	}
	if v := c.SearchMaxOversampling; v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0) || *v < 0) {
		return ErrValidation("search_max_oversampling", fmt.Sprintf("value %v invalid, must be a finite number of 0 or more", *v))
	}
	for _, v := range []*int64{c.MaxCollectionVectorSizeBytes, c.MaxCollectionPayloadSizeBytes} {
		if v != nil && *v < 0 {
			return ErrValidation("strict_mode_config", "collection size limits must not be negative")
		}
	}
	for name, m := range c.MultivectorConfig {
		if err := atLeast("multivector_config."+name+".max_vectors", m.MaxVectors, 1); err != nil {
			return err
		}
	}
	for name, s := range c.SparseConfig {
		if err := atLeast("sparse_config."+name+".max_length", s.MaxLength, 1); err != nil {
			return err
		}
	}
	return nil
}

func strictValidation(name, v string, lo int) *Error {
	return ErrValidation(name, fmt.Sprintf("value %s invalid, must be %d or larger", v, lo))
}

// Merge returns c with the fields set in d replacing c's (a PATCH of
// strict_mode_config); the per-name maps merge by name.
func (c *StrictModeConfig) Merge(d *StrictModeConfig) *StrictModeConfig {
	if c == nil {
		return d
	}
	if d == nil {
		return c
	}
	out := *c
	set := func(dst **int, v *int) {
		if v != nil {
			*dst = v
		}
	}
	setB := func(dst **bool, v *bool) {
		if v != nil {
			*dst = v
		}
	}
	setB(&out.Enabled, d.Enabled)
	set(&out.MaxQueryLimit, d.MaxQueryLimit)
	set(&out.MaxTimeout, d.MaxTimeout)
	setB(&out.UnindexedFilteringRetrieve, d.UnindexedFilteringRetrieve)
	setB(&out.UnindexedFilteringUpdate, d.UnindexedFilteringUpdate)
	set(&out.SearchMaxHnswEf, d.SearchMaxHnswEf)
	setB(&out.SearchAllowExact, d.SearchAllowExact)
	if d.SearchMaxOversampling != nil {
		out.SearchMaxOversampling = d.SearchMaxOversampling
	}
	set(&out.UpsertMaxBatchsize, d.UpsertMaxBatchsize)
	set(&out.SearchMaxBatchsize, d.SearchMaxBatchsize)
	if d.MaxCollectionVectorSizeBytes != nil {
		out.MaxCollectionVectorSizeBytes = d.MaxCollectionVectorSizeBytes
	}
	set(&out.ReadRateLimit, d.ReadRateLimit)
	set(&out.WriteRateLimit, d.WriteRateLimit)
	if d.MaxCollectionPayloadSizeBytes != nil {
		out.MaxCollectionPayloadSizeBytes = d.MaxCollectionPayloadSizeBytes
	}
	set(&out.MaxPointsCount, d.MaxPointsCount)
	set(&out.FilterMaxConditions, d.FilterMaxConditions)
	set(&out.ConditionMaxSize, d.ConditionMaxSize)
	if len(d.MultivectorConfig) > 0 {
		m := map[string]StrictModeMultivector{}
		for k, v := range c.MultivectorConfig {
			m[k] = v
		}
		for k, v := range d.MultivectorConfig {
			m[k] = v
		}
		out.MultivectorConfig = m
	}
	if len(d.SparseConfig) > 0 {
		m := map[string]StrictModeSparse{}
		for k, v := range c.SparseConfig {
			m[k] = v
		}
		for k, v := range d.SparseConfig {
			m[k] = v
		}
		out.SparseConfig = m
	}
	set(&out.MaxPayloadIndexCount, d.MaxPayloadIndexCount)
	set(&out.MaxResidentMemoryPercent, d.MaxResidentMemoryPercent)
	return &out
}

// On reports whether the limits apply (the config exists and is enabled).
func (c *StrictModeConfig) On() bool { return c != nil && c.Enabled != nil && *c.Enabled }

// ErrStrictMode is Qdrant's strict-mode refusal: a 400 reading
// "Bad request: <what>. Help: <help>".
func ErrStrictMode(what, help string) *Error {
	return ErrBadRequest("%s. Help: %s", what, help)
}

// StrictLimit refuses value above limit (Qdrant's "Limit exceeded"); name
// is the request parameter.
func StrictLimit[T int | float64](value T, limit *T, name string) error {
	if limit == nil || value <= *limit {
		return nil
	}
	return ErrStrictMode(fmt.Sprintf("Limit exceeded %v > %v for \"%s\"", value, *limit, name),
		fmt.Sprintf("Reduce the \"%s\" parameter to or below %v.", name, *limit))
}

// CheckSearchParams enforces search_allow_exact, search_max_hnsw_ef and
// search_max_oversampling on one request's params.
func (c *StrictModeConfig) CheckSearchParams(p *SearchParams) error {
	if p == nil {
		return nil
	}
	if err := c.CheckExact(p.Exact); err != nil {
		return err
	}
	if p.HnswEf != nil {
		if err := StrictLimit(*p.HnswEf, c.SearchMaxHnswEf, "hnsw_ef"); err != nil {
			return err
		}
	}
	if len(p.Quantization) > 0 && c.SearchMaxOversampling != nil {
		var q struct {
			Oversampling *float64 `json:"oversampling"`
		}
		if json.Unmarshal(p.Quantization, &q) == nil && q.Oversampling != nil {
			return StrictLimit(*q.Oversampling, c.SearchMaxOversampling, "oversampling")
		}
	}
	return nil
}

// CheckExact refuses an exact search when search_allow_exact is false.
func (c *StrictModeConfig) CheckExact(exact bool) error {
	if exact && c.SearchAllowExact != nil && !*c.SearchAllowExact {
		return ErrStrictMode("Exact search disabled!", "Set exact=false.")
	}
	return nil
}

// CheckFilter enforces, on one filter of a read (write false) or a filtered
// update (write true): unindexed_filtering_retrieve/update against the
// payload indexes, filter_max_conditions and condition_max_size.
func (c *StrictModeConfig) CheckFilter(f *Filter, write bool, indexes map[string]PayloadFieldSchema) error {
	if f == nil {
		return nil
	}
	allow := c.UnindexedFilteringRetrieve
	if write {
		allow = c.UnindexedFilteringUpdate
	}
	if allow != nil && !*allow {
		if key, types, ok := f.UnindexedKey(indexes); ok {
			names := make([]string, len(types))
			for i, t := range types {
				names[i] = string(t)
			}
			sort.Strings(names)
			return ErrStrictMode(fmt.Sprintf("Index required but not found for \"%s\" of one of the following types: [%s]", key, strings.Join(names, ", ")),
				"Create an index for this key or use a different filter.")
		}
	}
	if m := c.FilterMaxConditions; m != nil {
		if n := f.ConditionCount(); n > *m {
			return ErrStrictMode(fmt.Sprintf("Filter condition limit reached (%d > %d)", n, *m), "Reduce the amount of conditions of your filter.")
		}
	}
	if m := c.ConditionMaxSize; m != nil {
		if n := f.MaxConditionSize(); n > *m {
			return ErrStrictMode(fmt.Sprintf("Condition size limit reached (%d > %d)", n, *m), "Reduce the size of your condition.")
		}
	}
	return nil
}

// conditions calls fn for every condition of f, not descending.
func (f *Filter) conditions(fn func(*Condition)) {
	for _, cs := range [][]Condition{f.Must, f.Should, f.MustNot} {
		for i := range cs {
			fn(&cs[i])
		}
	}
	if f.MinShould != nil {
		for i := range f.MinShould.Conditions {
			fn(&f.MinShould.Conditions[i])
		}
	}
}

// ConditionCount counts f's conditions at every level (a nested filter
// counts its own conditions, a nested-array condition one plus its
// filter's).
func (f *Filter) ConditionCount() int {
	if f == nil {
		return 0
	}
	n := 0
	f.conditions(func(c *Condition) {
		switch {
		case c.Filter != nil:
			n += c.Filter.ConditionCount()
		case c.Nested != nil:
			n += 1 + c.Nested.Filter.ConditionCount()
		default:
			n++
		}
	})
	return n
}

// MaxConditionSize is the largest input of one condition: the values of a
// match any/except, the ids of has_id, the points of a polygon.
func (f *Filter) MaxConditionSize() int {
	if f == nil {
		return 0
	}
	m := 0
	f.conditions(func(c *Condition) {
		switch {
		case c.Filter != nil:
			m = max(m, c.Filter.MaxConditionSize())
		case c.Nested != nil:
			m = max(m, c.Nested.Filter.MaxConditionSize())
		case c.HasID != nil:
			m = max(m, len(c.HasID))
		case c.Field != nil:
			fc := c.Field
			switch {
			case fc.Match != nil && (fc.Match.Kind == MatchAny || fc.Match.Kind == MatchExcept):
				m = max(m, len(fc.Match.Values))
			case fc.GeoPolygon != nil:
				n := len(fc.GeoPolygon.Exterior.Points)
				for _, in := range fc.GeoPolygon.Interiors {
					n += len(in.Points)
				}
				m = max(m, n)
			}
		}
	})
	return m
}

// UnindexedKey returns the first payload key of f that a condition needs
// an index for and that has none of the fitting types, with those types.
func (f *Filter) UnindexedKey(indexes map[string]PayloadFieldSchema) (string, []PayloadSchemaType, bool) {
	return f.unindexedKey("", indexes)
}

func (f *Filter) unindexedKey(prefix string, indexes map[string]PayloadFieldSchema) (key string, types []PayloadSchemaType, found bool) {
	if f == nil {
		return "", nil, false
	}
	f.conditions(func(c *Condition) {
		if found {
			return
		}
		switch {
		case c.Filter != nil:
			key, types, found = c.Filter.unindexedKey(prefix, indexes)
		case c.Nested != nil:
			key, types, found = c.Nested.Filter.unindexedKey(prefix+c.Nested.Key+"[].", indexes)
		case c.Field != nil:
			need := c.Field.indexTypes()
			if len(need) == 0 {
				return
			}
			k := prefix + c.Field.Key
			if s, ok := indexes[k]; ok {
				for _, t := range need {
					if s.Type == t {
						return
					}
				}
			}
			key, types, found = k, need, true
		}
	})
	return key, types, found
}

// indexTypes are the payload index types that serve the condition (none:
// it needs no index).
func (fc *FieldCondition) indexTypes() []PayloadSchemaType {
	switch {
	case fc.Match != nil:
		m := fc.Match
		switch m.Kind {
		case MatchText, MatchTextAny, MatchPhrase:
			return []PayloadSchemaType{SchemaText}
		case MatchValue:
			return valueIndexTypes(m.Value)
		case MatchAny, MatchExcept:
			if len(m.Values) > 0 {
				return valueIndexTypes(m.Values[0])
			}
			// An empty list matches nothing (any) or everything (except)
			// whatever the field holds: no index serves it, none is needed
			// (as Qdrant since its fix for empty `any` under strict mode).
			return nil
		case MatchPrefixKind:
			return []PayloadSchemaType{SchemaKeyword}
		}
	case fc.Range != nil:
		return []PayloadSchemaType{SchemaInteger, SchemaFloat}
	case fc.DatetimeRange != nil:
		return []PayloadSchemaType{SchemaDatetime}
	case fc.GeoBoundingBox != nil, fc.GeoRadius != nil, fc.GeoPolygon != nil:
		return []PayloadSchemaType{SchemaGeo}
	}
	return nil
}

func valueIndexTypes(v any) []PayloadSchemaType {
	switch v.(type) {
	case bool:
		return []PayloadSchemaType{SchemaBool}
	case json.Number:
		return []PayloadSchemaType{SchemaInteger}
	}
	return []PayloadSchemaType{SchemaKeyword, SchemaUUID}
}

// CheckFormula refuses, while unindexed retrieval filters are refused, a
// formula reading a payload key that has no fitting index: a number
// variable (integer, float), a geo_distance target (geo), a datetime_key
// (datetime) or a condition's key.
func (c *StrictModeConfig) CheckFormula(q *Query, indexes map[string]PayloadFieldSchema) error {
	if q == nil || q.Formula == nil || c.UnindexedFilteringRetrieve == nil || *c.UnindexedFilteringRetrieve {
		return nil
	}
	var key string
	var types []PayloadSchemaType
	found := false
	q.Formula.Formula.Walk(func(e *Expression) {
		if found {
			return
		}
		var k string
		var need []PayloadSchemaType
		switch e.Kind {
		case ExprVariable:
			if e.ScoreVar {
				return
			}
			k, need = e.Var, []PayloadSchemaType{SchemaInteger, SchemaFloat}
		case ExprGeoDistance:
			k, need = e.Var, []PayloadSchemaType{SchemaGeo}
		case ExprDatetimeKey:
			k, need = e.Var, []PayloadSchemaType{SchemaDatetime}
		case ExprCondition:
			f := &Filter{Must: []Condition{*e.Cond}}
			key, types, found = f.UnindexedKey(indexes)
			return
		default:
			return
		}
		if s, ok := indexes[k]; ok {
			for _, t := range need {
				if s.Type == t {
					return
				}
			}
		}
		key, types, found = k, need, true
	})
	if !found {
		return nil
	}
	names := make([]string, len(types))
	for i, t := range types {
		names[i] = string(t)
	}
	sort.Strings(names)
	return ErrStrictMode(fmt.Sprintf("Index required but not found for \"%s\" of one of the following types: [%s]", key, strings.Join(names, ", ")),
		"Create an index for this key or use a different formula expression.")
}
