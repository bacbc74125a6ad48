package grpcapi

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/shoal-db/shoal/internal/api"
)

// filterFromProto converts a filter; nil (or an absent message) stays nil.
// Nesting deeper than api.MaxFilterDepth is rejected before recursing
// further, so a hostile message cannot exhaust the stack.
func filterFromProto(f *qdrant.Filter) (*api.Filter, error) {
	if f == nil {
		return nil, nil
	}
	return filterFromProtoDepth(f, 1)
}

func filterFromProtoDepth(f *qdrant.Filter, depth int) (*api.Filter, error) {
	if depth > api.MaxFilterDepth {
		return nil, api.ErrBadInput("filter is nested deeper than %d levels", api.MaxFilterDepth)
	}
	out := &api.Filter{}
	var err error
	if out.Must, err = conditionsFromProto(f.GetMust(), depth); err != nil {
		return nil, err
	}
	if out.Should, err = conditionsFromProto(f.GetShould(), depth); err != nil {
		return nil, err
	}
	if out.MustNot, err = conditionsFromProto(f.GetMustNot(), depth); err != nil {
		return nil, err
	}
	if ms := f.GetMinShould(); ms != nil {
		conds, err := conditionsFromProto(ms.GetConditions(), depth)
		if err != nil {
			return nil, err
		}
		if conds == nil {
			conds = []api.Condition{}
		}
		out.MinShould = &api.MinShould{Conditions: conds, MinCount: int(min(ms.GetMinCount(), 1<<31-1))}
	}
	return out, nil
}

func conditionsFromProto(cs []*qdrant.Condition, depth int) ([]api.Condition, error) {
	if len(cs) == 0 {
		return nil, nil
	}
	out := make([]api.Condition, len(cs))
	for i, c := range cs {
		var err error
		if out[i], err = conditionFromProto(c, depth); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func conditionFromProto(c *qdrant.Condition, depth int) (api.Condition, error) {
	switch v := c.GetConditionOneOf().(type) {
	case *qdrant.Condition_Field:
		fc, err := fieldConditionFromProto(v.Field)
		if err != nil {
			return api.Condition{}, err
		}
		return api.Condition{Field: fc}, nil
	case *qdrant.Condition_IsEmpty:
		return api.Condition{IsEmpty: &api.KeyRef{Key: v.IsEmpty.GetKey()}}, nil
	case *qdrant.Condition_IsNull:
		return api.Condition{IsNull: &api.KeyRef{Key: v.IsNull.GetKey()}}, nil
	case *qdrant.Condition_HasId:
		ids, err := idsFromProto(v.HasId.GetHasId())
		if err != nil {
			return api.Condition{}, err
		}
		if ids == nil {
			ids = []api.PointID{}
		}
		return api.Condition{HasID: ids}, nil
	case *qdrant.Condition_HasVector:
		name := v.HasVector.GetHasVector()
		return api.Condition{HasVector: &name}, nil
	case *qdrant.Condition_Slice:
		if v.Slice.GetTotal() == 0 {
			return api.Condition{}, api.ErrBadInput("invalid value: integer `0`, expected a nonzero u32 at slice.total")
		}
		return api.Condition{Slice: &api.Slice{Total: v.Slice.GetTotal(), Index: v.Slice.GetIndex()}}, nil
	case *qdrant.Condition_Nested:
		inner := v.Nested.GetFilter()
		if inner == nil {
			inner = &qdrant.Filter{}
		}
		f, err := filterFromProtoDepth(inner, depth+1)
		if err != nil {
			return api.Condition{}, err
		}
		return api.Condition{Nested: &api.Nested{Key: v.Nested.GetKey(), Filter: *f}}, nil
	case *qdrant.Condition_Filter:
		f, err := filterFromProtoDepth(v.Filter, depth+1)
		if err != nil {
			return api.Condition{}, err
		}
		return api.Condition{Filter: f}, nil
	}
	return api.Condition{}, api.ErrBadInput("condition is empty: expected field, is_empty, is_null, has_id, has_vector, slice, nested or filter")
}

func fieldConditionFromProto(p *qdrant.FieldCondition) (*api.FieldCondition, error) {
	fc := &api.FieldCondition{Key: p.GetKey()}
	if fc.Key == "" {
		return nil, fc.CheckShape()
	}
	if m := p.GetMatch(); m != nil {
		match, err := matchFromProto(m)
		if err != nil {
			return nil, err
		}
		fc.Match = match
	}
	if r := p.GetRange(); r != nil {
		fc.Range = &api.Range{Lt: r.Lt, Gt: r.Gt, Gte: r.Gte, Lte: r.Lte}
	}
	if r := p.GetDatetimeRange(); r != nil {
		dr, err := datetimeRangeFromProto(r)
		if err != nil {
			return nil, err
		}
		fc.DatetimeRange = dr
	}
	if g := p.GetGeoBoundingBox(); g != nil {
		fc.GeoBoundingBox = &api.GeoBoundingBox{TopLeft: geoPointFromProto(g.GetTopLeft()), BottomRight: geoPointFromProto(g.GetBottomRight())}
	}
	if g := p.GetGeoRadius(); g != nil {
		fc.GeoRadius = &api.GeoRadius{Center: geoPointFromProto(g.GetCenter()), Radius: float64(g.GetRadius())}
	}
	if g := p.GetGeoPolygon(); g != nil {
		poly := &api.GeoPolygon{Exterior: lineStringFromProto(g.GetExterior())}
		for _, in := range g.GetInteriors() {
			poly.Interiors = append(poly.Interiors, lineStringFromProto(in))
		}
		fc.GeoPolygon = poly
	}
	if vc := p.GetValuesCount(); vc != nil {
		fc.ValuesCount = &api.ValuesCount{Lt: intPtr(vc.Lt), Gt: intPtr(vc.Gt), Gte: intPtr(vc.Gte), Lte: intPtr(vc.Lte)}
	}
	if p.IsEmpty != nil {
		fc.IsEmpty = p.IsEmpty
	}
	if p.IsNull != nil {
		fc.IsNull = p.IsNull
	}
	if err := fc.CheckShape(); err != nil {
		return nil, err
	}
	return fc, nil
}

func intPtr(u *uint64) *int {
	if u == nil {
		return nil
	}
	v := int(min(*u, 1<<62))
	return &v
}

func uint64Ptr(i *int) *uint64 {
	if i == nil {
		return nil
	}
	v := uint64(max(*i, 0))
	return &v
}

func geoPointFromProto(p *qdrant.GeoPoint) api.GeoPoint {
	return api.GeoPoint{Lon: p.GetLon(), Lat: p.GetLat()}
}

func geoPointToProto(p api.GeoPoint) *qdrant.GeoPoint {
	return &qdrant.GeoPoint{Lon: p.Lon, Lat: p.Lat}
}

func lineStringFromProto(l *qdrant.GeoLineString) api.GeoLineString {
	out := api.GeoLineString{Points: make([]api.GeoPoint, 0, len(l.GetPoints()))}
	for _, p := range l.GetPoints() {
		out.Points = append(out.Points, geoPointFromProto(p))
	}
	return out
}

func lineStringToProto(l api.GeoLineString) *qdrant.GeoLineString {
	out := &qdrant.GeoLineString{Points: make([]*qdrant.GeoPoint, len(l.Points))}
	for i, p := range l.Points {
		out.Points[i] = geoPointToProto(p)
	}
	return out
}

func timeFromProto(ts *timestamppb.Timestamp) (*time.Time, error) {
	if ts == nil {
		return nil, nil
	}
	if err := ts.CheckValid(); err != nil {
		return nil, api.ErrBadInput("invalid datetime bound: %v", err)
	}
	t := ts.AsTime().UTC()
	return &t, nil
}

func timeToProto(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return timestamppb.New(*t)
}

func datetimeRangeFromProto(r *qdrant.DatetimeRange) (*api.DatetimeRange, error) {
	var out api.DatetimeRange
	var err error
	if out.Lt, err = timeFromProto(r.Lt); err != nil {
		return nil, err
	}
	if out.Gt, err = timeFromProto(r.Gt); err != nil {
		return nil, err
	}
	if out.Gte, err = timeFromProto(r.Gte); err != nil {
		return nil, err
	}
	if out.Lte, err = timeFromProto(r.Lte); err != nil {
		return nil, err
	}
	return &out, nil
}

func matchFromProto(m *qdrant.Match) (*api.Match, error) {
	switch v := m.GetMatchValue().(type) {
	case *qdrant.Match_Keyword:
		return &api.Match{Kind: api.MatchValue, Value: v.Keyword}, nil
	case *qdrant.Match_Integer:
		return &api.Match{Kind: api.MatchValue, Value: json.Number(strconv.FormatInt(v.Integer, 10))}, nil
	case *qdrant.Match_Boolean:
		return &api.Match{Kind: api.MatchValue, Value: v.Boolean}, nil
	case *qdrant.Match_Text:
		return &api.Match{Kind: api.MatchText, Text: v.Text}, nil
	case *qdrant.Match_Phrase:
		return &api.Match{Kind: api.MatchPhrase, Text: v.Phrase}, nil
	case *qdrant.Match_Keywords:
		return &api.Match{Kind: api.MatchAny, Values: stringsToAny(v.Keywords.GetStrings())}, nil
	case *qdrant.Match_Integers:
		return &api.Match{Kind: api.MatchAny, Values: intsToAny(v.Integers.GetIntegers())}, nil
	case *qdrant.Match_ExceptKeywords:
		return &api.Match{Kind: api.MatchExcept, Values: stringsToAny(v.ExceptKeywords.GetStrings())}, nil
	case *qdrant.Match_ExceptIntegers:
		return &api.Match{Kind: api.MatchExcept, Values: intsToAny(v.ExceptIntegers.GetIntegers())}, nil
	case *qdrant.Match_TextAny:
		return &api.Match{Kind: api.MatchTextAny, Text: v.TextAny}, nil
	case *qdrant.Match_Prefix:
		return &api.Match{Kind: api.MatchPrefixKind, Text: v.Prefix}, nil
	}
	return nil, api.ErrBadInput("match is empty: expected keyword, integer, boolean, text, text_any, phrase, prefix, keywords, integers or except")
}

func stringsToAny(s []string) []any {
	out := make([]any, len(s))
	for i, x := range s {
		out[i] = x
	}
	return out
}

func intsToAny(s []int64) []any {
	out := make([]any, len(s))
	for i, x := range s {
		out[i] = json.Number(strconv.FormatInt(x, 10))
	}
	return out
}

// The reverse direction (api -> protobuf) serves tests and any in-process
// caller that speaks protobuf (the load tool).

func filterToProto(f *api.Filter) (*qdrant.Filter, error) {
	if f == nil {
		return nil, nil
	}
	out := &qdrant.Filter{}
	var err error
	if out.Must, err = conditionsToProto(f.Must); err != nil {
		return nil, err
	}
	if out.Should, err = conditionsToProto(f.Should); err != nil {
		return nil, err
	}
	if out.MustNot, err = conditionsToProto(f.MustNot); err != nil {
		return nil, err
	}
	if f.MinShould != nil {
		conds, err := conditionsToProto(f.MinShould.Conditions)
		if err != nil {
			return nil, err
		}
		out.MinShould = &qdrant.MinShould{Conditions: conds, MinCount: uint64(max(f.MinShould.MinCount, 0))}
	}
	return out, nil
}

func conditionsToProto(cs []api.Condition) ([]*qdrant.Condition, error) {
	if len(cs) == 0 {
		return nil, nil
	}
	out := make([]*qdrant.Condition, len(cs))
	for i := range cs {
		c, err := conditionToProto(&cs[i])
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}

func conditionToProto(c *api.Condition) (*qdrant.Condition, error) {
	switch {
	case c.Field != nil:
		fc, err := fieldConditionToProto(c.Field)
		if err != nil {
			return nil, err
		}
		return &qdrant.Condition{ConditionOneOf: &qdrant.Condition_Field{Field: fc}}, nil
	case c.IsEmpty != nil:
		return qdrant.NewIsEmpty(c.IsEmpty.Key), nil
	case c.IsNull != nil:
		return qdrant.NewIsNull(c.IsNull.Key), nil
	case c.HasID != nil:
		return qdrant.NewHasID(idsToProto(c.HasID)...), nil
	case c.HasVector != nil:
		return qdrant.NewHasVector(*c.HasVector), nil
	case c.Slice != nil:
		return qdrant.NewSlice(c.Slice.Total, c.Slice.Index), nil
	case c.Nested != nil:
		f, err := filterToProto(&c.Nested.Filter)
		if err != nil {
			return nil, err
		}
		return qdrant.NewNestedFilter(c.Nested.Key, f), nil
	case c.Filter != nil:
		f, err := filterToProto(c.Filter)
		if err != nil {
			return nil, err
		}
		return qdrant.NewFilterAsCondition(f), nil
	}
	return nil, api.ErrBadInput("empty condition")
}

func fieldConditionToProto(fc *api.FieldCondition) (*qdrant.FieldCondition, error) {
	out := &qdrant.FieldCondition{Key: fc.Key, IsEmpty: fc.IsEmpty, IsNull: fc.IsNull}
	if fc.Match != nil {
		m, err := matchToProto(fc.Match)
		if err != nil {
			return nil, err
		}
		out.Match = m
	}
	if r := fc.Range; r != nil {
		out.Range = &qdrant.Range{Lt: r.Lt, Gt: r.Gt, Gte: r.Gte, Lte: r.Lte}
	}
	if r := fc.DatetimeRange; r != nil {
		out.DatetimeRange = &qdrant.DatetimeRange{Lt: timeToProto(r.Lt), Gt: timeToProto(r.Gt), Gte: timeToProto(r.Gte), Lte: timeToProto(r.Lte)}
	}
	if g := fc.GeoBoundingBox; g != nil {
		out.GeoBoundingBox = &qdrant.GeoBoundingBox{TopLeft: geoPointToProto(g.TopLeft), BottomRight: geoPointToProto(g.BottomRight)}
	}
	if g := fc.GeoRadius; g != nil {
		out.GeoRadius = &qdrant.GeoRadius{Center: geoPointToProto(g.Center), Radius: float32(g.Radius)}
	}
	if g := fc.GeoPolygon; g != nil {
		poly := &qdrant.GeoPolygon{Exterior: lineStringToProto(g.Exterior)}
		for _, in := range g.Interiors {
			poly.Interiors = append(poly.Interiors, lineStringToProto(in))
		}
		out.GeoPolygon = poly
	}
	if vc := fc.ValuesCount; vc != nil {
		out.ValuesCount = &qdrant.ValuesCount{Lt: uint64Ptr(vc.Lt), Gt: uint64Ptr(vc.Gt), Gte: uint64Ptr(vc.Gte), Lte: uint64Ptr(vc.Lte)}
	}
	return out, nil
}

func matchToProto(m *api.Match) (*qdrant.Match, error) {
	switch m.Kind {
	case api.MatchValue:
		switch v := m.Value.(type) {
		case string:
			return &qdrant.Match{MatchValue: &qdrant.Match_Keyword{Keyword: v}}, nil
		case bool:
			return &qdrant.Match{MatchValue: &qdrant.Match_Boolean{Boolean: v}}, nil
		case json.Number:
			i, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				return nil, api.ErrBadInput("match value %s is not an integer", v)
			}
			return &qdrant.Match{MatchValue: &qdrant.Match_Integer{Integer: i}}, nil
		}
		return nil, api.ErrBadInput("match value must be a string, an integer or a bool")
	case api.MatchText:
		return &qdrant.Match{MatchValue: &qdrant.Match_Text{Text: m.Text}}, nil
	case api.MatchPhrase:
		return &qdrant.Match{MatchValue: &qdrant.Match_Phrase{Phrase: m.Text}}, nil
	case api.MatchTextAny:
		return &qdrant.Match{MatchValue: &qdrant.Match_TextAny{TextAny: m.Text}}, nil
	case api.MatchPrefixKind:
		return &qdrant.Match{MatchValue: &qdrant.Match_Prefix{Prefix: m.Text}}, nil
	case api.MatchAny, api.MatchExcept:
		strs, ints, err := splitMatchValues(m.Values)
		if err != nil {
			return nil, err
		}
		except := m.Kind == api.MatchExcept
		switch {
		case ints != nil && !except:
			return &qdrant.Match{MatchValue: &qdrant.Match_Integers{Integers: &qdrant.RepeatedIntegers{Integers: ints}}}, nil
		case ints != nil:
			return &qdrant.Match{MatchValue: &qdrant.Match_ExceptIntegers{ExceptIntegers: &qdrant.RepeatedIntegers{Integers: ints}}}, nil
		case !except:
			return &qdrant.Match{MatchValue: &qdrant.Match_Keywords{Keywords: &qdrant.RepeatedStrings{Strings: strs}}}, nil
		default:
			return &qdrant.Match{MatchValue: &qdrant.Match_ExceptKeywords{ExceptKeywords: &qdrant.RepeatedStrings{Strings: strs}}}, nil
		}
	}
	return nil, api.ErrBadInput("unknown match kind %d", m.Kind)
}

// splitMatchValues returns the values as strings or as integers (ints is
// non-nil only for a non-empty all-integer list); a mix cannot be expressed
// in protobuf.
func splitMatchValues(vals []any) (strs []string, ints []int64, err error) {
	strs = []string{}
	for _, v := range vals {
		switch x := v.(type) {
		case string:
			if ints != nil {
				return nil, nil, api.ErrBadInput("match any/except mixes strings and integers")
			}
			strs = append(strs, x)
		case json.Number:
			if len(strs) > 0 {
				return nil, nil, api.ErrBadInput("match any/except mixes strings and integers")
			}
			i, perr := strconv.ParseInt(string(x), 10, 64)
			if perr != nil {
				return nil, nil, api.ErrBadInput("match value %s is not an integer", x)
			}
			ints = append(ints, i)
		default:
			return nil, nil, api.ErrBadInput("match any/except values must be strings or integers")
		}
	}
	return strs, ints, nil
}
