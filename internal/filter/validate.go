package filter

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/shoal-db/shoal/internal/api"
)

// Validate checks a filter as Qdrant validates a request: nesting depth at
// most api.MaxFilterDepth, valid non-empty key paths, latitudes in
// [-90, 90] and longitudes in [-180, 180], closed polygon rings of at least 4
// points, non-negative radius, values_count and min_count, integer match
// values and homogeneous match any/except lists, and a field condition
// that sets at least one condition on its key. It returns an *api.Error of
// kind bad input; a nil filter is valid.
func Validate(f *api.Filter) error {
	if f == nil {
		return nil
	}
	if d := f.Depth(); d > api.MaxFilterDepth {
		return api.ErrBadInput("Filter is nested too deeply: depth %d exceeds the maximum of %d", d, api.MaxFilterDepth)
	}
	return validateFilter(f, "filter")
}

func invalid(where, format string, args ...any) *api.Error {
	return api.ErrBodyValidation(where, format, args...)
}

func validateFilter(f *api.Filter, where string) error {
	for _, part := range []struct {
		name  string
		conds []api.Condition
	}{{"must", f.Must}, {"should", f.Should}, {"must_not", f.MustNot}} {
		for i := range part.conds {
			if err := validateCondition(&part.conds[i], fmt.Sprintf("%s.%s[%d]", where, part.name, i)); err != nil {
				return err
			}
		}
	}
	if ms := f.MinShould; ms != nil {
		if ms.MinCount < 0 {
			return invalid(where+".min_should.min_count", "value %d invalid, must be 0 or greater", ms.MinCount)
		}
		for i := range ms.Conditions {
			if err := validateCondition(&ms.Conditions[i], fmt.Sprintf("%s.min_should.conditions[%d]", where, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

func validateKey(key, where string) error {
	if key == "" {
		return invalid(where, "value invalid, must not be empty")
	}
	if _, ok := parsePath(key); !ok {
		return api.ErrBadInput("Invalid json path: '%s'", key)
	}
	return nil
}

func validateCondition(c *api.Condition, where string) error {
	switch {
	case c.Field != nil:
		return validateField(c.Field, where)
	case c.IsEmpty != nil:
		return validateKey(c.IsEmpty.Key, where+".is_empty.key")
	case c.IsNull != nil:
		return validateKey(c.IsNull.Key, where+".is_null.key")
	case c.Nested != nil:
		if err := validateKey(c.Nested.Key, where+".nested.key"); err != nil {
			return err
		}
		return validateFilter(&c.Nested.Filter, where+".nested.filter")
	case c.Filter != nil:
		return validateFilter(c.Filter, where)
	case c.Slice != nil:
		if c.Slice.Index >= c.Slice.Total {
			return invalid(where+".slice.index", "value %d invalid, must be less than total %d", c.Slice.Index, c.Slice.Total)
		}
	}
	return nil
}

func validatePoint(p api.GeoPoint, where string) error {
	if math.IsNaN(p.Lat) || p.Lat < -90 || p.Lat > 90 {
		return invalid(where+".lat", "value %v invalid, must be from -90 to 90", p.Lat)
	}
	if math.IsNaN(p.Lon) || p.Lon < -180 || p.Lon > 180 {
		return invalid(where+".lon", "value %v invalid, must be from -180 to 180", p.Lon)
	}
	return nil
}

func validateRing(r api.GeoLineString, where string) error {
	if len(r.Points) < 4 {
		return invalid(where+".points", "value invalid, the size must be at least 4, got %d", len(r.Points))
	}
	if r.Points[0] != r.Points[len(r.Points)-1] {
		return invalid(where+".points", "value invalid, the first and the last points should be same to form a closed line")
	}
	for i, p := range r.Points {
		if err := validatePoint(p, fmt.Sprintf("%s.points[%d]", where, i)); err != nil {
			return err
		}
	}
	return nil
}

func validateCount(v *int, where string) error {
	if v != nil && *v < 0 {
		return invalid(where, "value %d invalid, must be 0 or greater", *v)
	}
	return nil
}

// matchKind classifies a match value: string, integer or bool.
func scalarKind(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return "string", true
	case bool:
		return "bool", true
	case json.Number:
		if _, ok := asInt64(x); ok {
			return "integer", true
		}
	case int, int64:
		return "integer", true
	}
	return "", false
}

func validateField(fc *api.FieldCondition, where string) error {
	if err := validateKey(fc.Key, where+".key"); err != nil {
		return err
	}
	if !fc.HasCondition() {
		return invalid(where, "At least one field condition must be specified")
	}
	if m := fc.Match; m != nil {
		switch m.Kind {
		case api.MatchValue:
			if _, ok := scalarKind(m.Value); !ok {
				return api.ErrBadInput("match value must be a string, an integer or a bool, got %v", m.Value)
			}
		case api.MatchAny, api.MatchExcept:
			kind := ""
			for _, v := range m.Values {
				k, ok := scalarKind(v)
				if !ok || k == "bool" {
					return api.ErrBadInput("match any/except values must be strings or integers, got %v", v)
				}
				if kind != "" && k != kind {
					return api.ErrBadInput("match any/except values must be all strings or all integers")
				}
				kind = k
			}
		case api.MatchText, api.MatchPhrase, api.MatchTextAny, api.MatchPrefixKind:
		default:
			return api.ErrBadInput("unknown match kind %d", m.Kind)
		}
	}
	if r := fc.Range; r != nil {
		for _, b := range []*float64{r.Lt, r.Gt, r.Gte, r.Lte} {
			if b != nil && (math.IsNaN(*b) || math.IsInf(*b, 0)) {
				return invalid(where+".range", "range bounds must be finite numbers")
			}
		}
	}
	if b := fc.GeoBoundingBox; b != nil {
		if err := validatePoint(b.TopLeft, where+".geo_bounding_box.top_left"); err != nil {
			return err
		}
		if err := validatePoint(b.BottomRight, where+".geo_bounding_box.bottom_right"); err != nil {
			return err
		}
	}
	if r := fc.GeoRadius; r != nil {
		if err := validatePoint(r.Center, where+".geo_radius.center"); err != nil {
			return err
		}
		if math.IsNaN(r.Radius) || r.Radius < 0 {
			return invalid(where+".geo_radius.radius", "value %v invalid, must be 0 or greater", r.Radius)
		}
	}
	if g := fc.GeoPolygon; g != nil {
		if err := validateRing(g.Exterior, where+".geo_polygon.exterior"); err != nil {
			return err
		}
		for i, h := range g.Interiors {
			if err := validateRing(h, fmt.Sprintf("%s.geo_polygon.interiors[%d]", where, i)); err != nil {
				return err
			}
		}
	}
	if vc := fc.ValuesCount; vc != nil {
		for _, x := range []struct {
			v    *int
			name string
		}{{vc.Lt, "lt"}, {vc.Gt, "gt"}, {vc.Gte, "gte"}, {vc.Lte, "lte"}} {
			if err := validateCount(x.v, where+".values_count."+x.name); err != nil {
				return err
			}
		}
	}
	return nil
}
