package filter

import (
	"encoding/json"
	"math"
	"strconv"
	"time"

	"github.com/shoal-db/shoal/internal/api"
)

// asInt64 returns v as an integer when it is a JSON integer (Qdrant's
// as_i64: "5" is an integer, "5.0" and "5e0" are not).
func asInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case json.Number:
		n, err := strconv.ParseInt(string(x), 10, 64)
		return n, err == nil
	case int:
		return int64(x), true
	case int64:
		return x, true
	}
	return 0, false
}

// asFloat returns v as a float64 when it is a finite JSON number.
func asFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return 0, false
		}
		return f, true
	case float64:
		return x, !math.IsInf(x, 0) && !math.IsNaN(x)
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	}
	return 0, false
}

// asDatetime parses a payload string as a datetime in microseconds since the
// Unix epoch (the precision Qdrant stores).
func asDatetime(v any) (int64, bool) {
	s, ok := v.(string)
	if !ok {
		return 0, false
	}
	t, err := api.ParseDatetime(s)
	if err != nil {
		return 0, false
	}
	return t.UnixMicro(), true
}

// timeMicros converts a bound to microseconds since the epoch.
func timeMicros(t *time.Time) *float64 {
	if t == nil {
		return nil
	}
	f := float64(t.UnixMicro())
	return &f
}

// asGeo reads a {"lon": .., "lat": ..} payload object.
func asGeo(v any) (api.GeoPoint, bool) {
	o, ok := v.(map[string]any)
	if !ok {
		return api.GeoPoint{}, false
	}
	lon, ok1 := asFloat(o["lon"])
	lat, ok2 := asFloat(o["lat"])
	if !ok1 || !ok2 {
		return api.GeoPoint{}, false
	}
	return api.GeoPoint{Lon: lon, Lat: lat}, true
}

// bounds is a numeric range with optional open or closed ends.
type bounds struct {
	lt, gt, lte, gte *float64
}

func (b bounds) contains(x float64) bool {
	return (b.lt == nil || x < *b.lt) && (b.gt == nil || x > *b.gt) &&
		(b.lte == nil || x <= *b.lte) && (b.gte == nil || x >= *b.gte)
}

// interval returns the tightest [lo, hi] (inclusive, possibly infinite)
// containing the range; exact ends are checked with contains.
func (b bounds) interval() (lo, hi float64) {
	lo, hi = math.Inf(-1), math.Inf(1)
	if b.gt != nil {
		lo = max(lo, *b.gt)
	}
	if b.gte != nil {
		lo = max(lo, *b.gte)
	}
	if b.lt != nil {
		hi = min(hi, *b.lt)
	}
	if b.lte != nil {
		hi = min(hi, *b.lte)
	}
	return lo, hi
}

func rangeBounds(r *api.Range) bounds {
	return bounds{lt: r.Lt, gt: r.Gt, lte: r.Lte, gte: r.Gte}
}

func datetimeBounds(r *api.DatetimeRange) bounds {
	return bounds{lt: timeMicros(r.Lt), gt: timeMicros(r.Gt), lte: timeMicros(r.Lte), gte: timeMicros(r.Gte)}
}

// jsonInt returns n as a json.Number.
func jsonInt(n int64) json.Number {
	return json.Number(strconv.FormatInt(n, 10))
}
