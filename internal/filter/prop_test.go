package filter

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/kljensen/snowball/english"
	"pgregory.net/rapid"

	"github.com/shoal-db/shoal/internal/api"
)

// ---------------------------------------------------------------------------
// A deliberately naive reference evaluator, written from Qdrant's documented
// rules without sharing code with the package (paths are split by hand,
// numbers re-parsed, everything recomputed per call).
// ---------------------------------------------------------------------------

type refEnv struct {
	id        api.PointID
	vectors   map[string]bool
	nested    bool
	textIndex map[string]string // keys with a text index: refPlain or refAnalysed
}

// Text index configurations known to the reference.
const (
	refPlain    = "plain"    // word tokenizer, lowercase
	refAnalysed = "analysed" // plus ascii_folding, english stopwords and the english snowball stemmer
)

// refStopwords are the words of the generated texts that are English
// stopwords; the other words of those texts are not.
var refStopwords = map[string]bool{"the": true, "a": true, "are": true, "and": true, "is": true, "of": true, "o": true}

// refFold folds the accented letters the generated texts use.
var refFold = strings.NewReplacer("é", "e", "É", "E", "ç", "c", "ã", "a", "á", "a", "Á", "A")

// refTokens splits x into the words of a word tokenizer, lowercased, and for
// the analysed configuration folded, without stopwords, and stemmed by the
// snowball library itself.
func refTokens(x, config string) []string {
	ws := strings.FieldsFunc(strings.ToLower(x), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	if config != refAnalysed {
		return ws
	}
	var out []string
	for _, w := range ws {
		w = refFold.Replace(w)
		if refStopwords[w] {
			continue
		}
		out = append(out, english.Stem(w, true))
	}
	return out
}

// refGet walks path segments like "a", "b[]", "c[2]" by hand.
func refGet(v any, segs []string) []any {
	if len(segs) == 0 {
		return []any{v}
	}
	seg := segs[0]
	name := seg
	var suffix []string
	if i := strings.IndexByte(seg, '['); i >= 0 {
		name = seg[:i]
		for _, part := range strings.Split(seg[i+1:], "[") {
			suffix = append(suffix, strings.TrimSuffix(part, "]"))
		}
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	cur, ok := obj[name]
	if !ok {
		return nil
	}
	vals := []any{cur}
	for _, sfx := range suffix {
		var next []any
		for _, x := range vals {
			arr, ok := x.([]any)
			if !ok {
				continue
			}
			if sfx == "" {
				next = append(next, arr...)
			} else if n, _ := strconv.Atoi(sfx); n < len(arr) {
				next = append(next, arr[n])
			}
		}
		vals = next
	}
	var out []any
	for _, x := range vals {
		out = append(out, refGet(x, segs[1:])...)
	}
	return out
}

func refValues(p map[string]any, key string) []any {
	return refGet(p, strings.Split(key, "."))
}

func refIsInt(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	if strings.ContainsAny(string(n), ".eE") {
		return 0, false
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	return i, err == nil
}

func refFloat(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	return f, err == nil
}

func refScalarMatch(m *api.Match, v any, textIndex string) bool {
	switch m.Kind {
	case api.MatchValue:
		switch want := m.Value.(type) {
		case string:
			s, ok := v.(string)
			return ok && s == want
		case bool:
			b, ok := v.(bool)
			return ok && b == want
		case json.Number:
			w, _ := strconv.ParseInt(string(want), 10, 64)
			n, ok := refIsInt(v)
			return ok && n == w
		}
	case api.MatchAny:
		for _, w := range m.Values {
			if refScalarMatch(&api.Match{Kind: api.MatchValue, Value: w}, v, "") {
				return true
			}
		}
		return false
	case api.MatchExcept:
		if v == nil {
			return false
		}
		listInts := len(m.Values) > 0
		if len(m.Values) > 0 {
			_, isStr := m.Values[0].(string)
			listInts = !isStr
		}
		if s, ok := v.(string); ok {
			if listInts {
				return true
			}
			for _, w := range m.Values {
				if w.(string) == s {
					return false
				}
			}
			return true
		}
		if n, ok := refIsInt(v); ok && listInts {
			for _, w := range m.Values {
				if x, _ := refIsInt(w); x == n {
					return false
				}
			}
			return true
		}
		return true
	case api.MatchText, api.MatchPhrase, api.MatchTextAny:
		s, ok := v.(string)
		if !ok {
			return false
		}
		if textIndex == "" {
			if m.Kind == api.MatchTextAny {
				for _, w := range strings.Fields(m.Text) {
					if strings.Contains(s, w) {
						return true
					}
				}
				return false
			}
			return strings.Contains(s, m.Text)
		}
		doc, q := refTokens(s, textIndex), refTokens(m.Text, textIndex)
		if m.Kind == api.MatchTextAny {
			for _, t := range q {
				if slices.Contains(doc, t) {
					return true
				}
			}
			return false
		}
		if m.Kind == api.MatchText {
			for _, t := range q {
				if !slices.Contains(doc, t) {
					return false
				}
			}
			return true
		}
		for i := 0; i+len(q) <= len(doc); i++ {
			if slices.Equal(doc[i:i+len(q)], q) {
				return true
			}
		}
		return len(q) == 0
	}
	return false
}

func refCheckOne(fc *api.FieldCondition, v any, env *refEnv) bool {
	if fc.ValuesCount != nil {
		c := 1
		if v == nil {
			c = 0
		}
		if a, ok := v.([]any); ok {
			c = len(a)
		}
		vc := fc.ValuesCount
		return (vc.Lt == nil || c < *vc.Lt) && (vc.Gt == nil || c > *vc.Gt) && (vc.Lte == nil || c <= *vc.Lte) && (vc.Gte == nil || c >= *vc.Gte)
	}
	if fc.IsEmpty != nil {
		a, isArr := v.([]any)
		empty := v == nil || (isArr && len(a) == 0)
		return empty == *fc.IsEmpty
	}
	if fc.IsNull != nil {
		null := v == nil
		if a, ok := v.([]any); ok {
			null = slices.Contains(a, nil)
		}
		return null == *fc.IsNull
	}
	textIndex := env.textIndex[fc.Key]
	if textIndex != "" && fc.Match != nil && (fc.Match.Kind == api.MatchText || fc.Match.Kind == api.MatchPhrase || fc.Match.Kind == api.MatchTextAny) {
		if a, ok := v.([]any); ok {
			for _, e := range a {
				if refScalarMatch(fc.Match, e, textIndex) {
					return true
				}
			}
			return false
		}
		return refScalarMatch(fc.Match, v, textIndex)
	}
	elems := []any{v}
	if a, ok := v.([]any); ok {
		elems = a
	}
	for _, e := range elems {
		if fc.Match != nil && refScalarMatch(fc.Match, e, "") {
			return true
		}
		if r := fc.Range; r != nil {
			if f, ok := refFloat(e); ok && (r.Lt == nil || f < *r.Lt) && (r.Gt == nil || f > *r.Gt) && (r.Lte == nil || f <= *r.Lte) && (r.Gte == nil || f >= *r.Gte) {
				return true
			}
		}
		if r := fc.DatetimeRange; r != nil {
			if s, ok := e.(string); ok {
				if t, err := api.ParseDatetime(s); err == nil {
					t = t.Truncate(time.Microsecond)
					if (r.Lt == nil || t.Before(*r.Lt)) && (r.Gt == nil || t.After(r.Gt.Truncate(time.Microsecond))) &&
						(r.Lte == nil || !t.After(*r.Lte)) && (r.Gte == nil || !t.Before(r.Gte.Truncate(time.Microsecond))) {
						return true
					}
				}
			}
		}
		if o, ok := e.(map[string]any); ok {
			lon, ok1 := refFloat(o["lon"])
			lat, ok2 := refFloat(o["lat"])
			if ok1 && ok2 {
				if b := fc.GeoBoundingBox; b != nil && lon > b.TopLeft.Lon && lon < b.BottomRight.Lon && lat > b.BottomRight.Lat && lat < b.TopLeft.Lat {
					return true
				}
				if r := fc.GeoRadius; r != nil {
					// Equirectangular check far from the boundary is not
					// exact; the generator keeps points well inside or out.
					if refHaversine(r.Center.Lat, r.Center.Lon, lat, lon) < r.Radius {
						return true
					}
				}
				if g := fc.GeoPolygon; g != nil && refInRing(g.Exterior.Points, lon, lat) {
					inHole := false
					for _, h := range g.Interiors {
						if refInRing(h.Points, lon, lat) {
							inHole = true
						}
					}
					if !inHole {
						return true
					}
				}
			}
		}
	}
	return false
}

func refHaversine(lat1, lon1, lat2, lon2 float64) float64 {
	rad := math.Pi / 180
	a := math.Pow(math.Sin((lat2-lat1)*rad/2), 2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Pow(math.Sin((lon2-lon1)*rad/2), 2)
	return 2 * 6371008.8 * math.Atan2(math.Sqrt(a), math.Sqrt(1-a))
}

// refInRing: axis-aligned rectangles only (the generator makes no others).
func refInRing(pts []api.GeoPoint, lon, lat float64) bool {
	minLon, maxLon, minLat, maxLat := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, p := range pts {
		minLon, maxLon = math.Min(minLon, p.Lon), math.Max(maxLon, p.Lon)
		minLat, maxLat = math.Min(minLat, p.Lat), math.Max(maxLat, p.Lat)
	}
	return lon > minLon && lon < maxLon && lat > minLat && lat < maxLat
}

func refCond(c *api.Condition, p map[string]any, env *refEnv) bool {
	switch {
	case c.Field != nil:
		vals := refValues(p, c.Field.Key)
		if len(vals) == 0 {
			if c.Field.ValuesCount != nil {
				// A missing field has no values (Qdrant issue 9586).
				return refCheckOne(c.Field, []any{}, env)
			}
			if c.Field.IsEmpty != nil {
				return *c.Field.IsEmpty
			}
			if c.Field.IsNull != nil {
				return !*c.Field.IsNull
			}
			return false
		}
		for _, v := range vals {
			if refCheckOne(c.Field, v, env) {
				return true
			}
		}
		return false
	case c.IsEmpty != nil:
		for _, v := range refValues(p, c.IsEmpty.Key) {
			if a, ok := v.([]any); !(v == nil || ok && len(a) == 0) {
				return false
			}
		}
		return true
	case c.IsNull != nil:
		// Null, or an array holding a null (Qdrant issue 10096).
		for _, v := range refValues(p, c.IsNull.Key) {
			if a, ok := v.([]any); v == nil || ok && slices.Contains(a, nil) {
				return true
			}
		}
		return false
	case c.HasID != nil:
		return !env.nested && slices.Contains(c.HasID, env.id)
	case c.HasVector != nil:
		return !env.nested && env.vectors[*c.HasVector]
	case c.Nested != nil:
		key := c.Nested.Key
		if !strings.HasSuffix(key, "[]") {
			key += "[]"
		}
		inner := &refEnv{nested: true, textIndex: map[string]string{}}
		for k, cfg := range env.textIndex {
			if rest, ok := strings.CutPrefix(k, key+"."); ok {
				inner.textIndex[rest] = cfg
			}
		}
		for _, v := range refValues(p, key) {
			if o, ok := v.(map[string]any); ok && refFilter(&c.Nested.Filter, o, inner) {
				return true
			}
		}
		return false
	case c.Filter != nil:
		return refFilter(c.Filter, p, env)
	}
	return true
}

func refFilter(f *api.Filter, p map[string]any, env *refEnv) bool {
	for i := range f.Must {
		if !refCond(&f.Must[i], p, env) {
			return false
		}
	}
	for i := range f.MustNot {
		if refCond(&f.MustNot[i], p, env) {
			return false
		}
	}
	if len(f.Should) > 0 {
		ok := false
		for i := range f.Should {
			ok = ok || refCond(&f.Should[i], p, env)
		}
		if !ok {
			return false
		}
	}
	if f.MinShould != nil {
		n := 0
		for i := range f.MinShould.Conditions {
			if refCond(&f.MinShould.Conditions[i], p, env) {
				n++
			}
		}
		if n < f.MinShould.MinCount {
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------------------
// Generators.
// ---------------------------------------------------------------------------

var (
	words     = []string{"red", "green", "Blue", "big dog", "a-b", "x"}
	datetimes = []string{"2024-01-01T00:00:00Z", "2024-01-02", "2024-01-03T12:00:00+02:00", "2024-01-05 10:00:00", "2024-01-09T00:00:00.5Z"}
	uuids     = []string{"550e8400-e29b-41d4-a716-446655440000", "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "not-a-uuid"}
	texts     = []string{"the quick brown fox", "Quick, quick!", "brown dog jumps", "fox", ""}
	// Texts for the analysed index: stopwords, inflected forms, accents.
	atexts = []string{"The cats are running", "a Café near the station", "Running CAFES and stations", "ação rápida", "the", "", "cat-running"}
)

func num(s string) json.Number { return json.Number(s) }

func genScalar(t *rapid.T, kind string) any {
	switch kind {
	case "s":
		return rapid.SampledFrom(words).Draw(t, "word")
	case "i":
		if rapid.IntRange(0, 5).Draw(t, "intIsFloat") == 0 {
			return num("1.5") // a non-integer number on an integer index
		}
		return num(strconv.Itoa(rapid.IntRange(-3, 5).Draw(t, "int")))
	case "f":
		return rapid.SampledFrom([]json.Number{"1.5", "-2.25", "3", "0", "4.0", "1e1"}).Draw(t, "float")
	case "b":
		return rapid.Bool().Draw(t, "bool")
	case "t":
		return rapid.SampledFrom(datetimes).Draw(t, "dt")
	case "g":
		return map[string]any{"lon": num(strconv.Itoa(rapid.IntRange(-8, 8).Draw(t, "lon"))), "lat": num(strconv.Itoa(rapid.IntRange(-8, 8).Draw(t, "lat")))}
	case "u":
		return rapid.SampledFrom(uuids).Draw(t, "uuid")
	case "txt":
		return rapid.SampledFrom(texts).Draw(t, "text")
	case "atx":
		return rapid.SampledFrom(atexts).Draw(t, "atext")
	}
	return genAnything(t, 1)
}

func genAnything(t *rapid.T, depth int) any {
	k := rapid.IntRange(0, 6).Draw(t, "anyKind")
	if depth > 2 && k >= 5 {
		k = 0
	}
	switch k {
	case 0:
		return nil
	case 1:
		return rapid.Bool().Draw(t, "b")
	case 2:
		return num(strconv.Itoa(rapid.IntRange(-3, 5).Draw(t, "n")))
	case 3:
		return rapid.SampledFrom(words).Draw(t, "w")
	case 4:
		return num("2.5")
	case 5:
		n := rapid.IntRange(0, 3).Draw(t, "len")
		a := make([]any, n)
		for i := range a {
			a[i] = genAnything(t, depth+1)
		}
		return a
	}
	return map[string]any{"s": genAnything(t, depth+1)}
}

var payloadKeys = []string{"s", "i", "f", "b", "t", "g", "u", "txt", "atx", "m"}

func genValue(t *rapid.T, kind string) any {
	switch rapid.IntRange(0, 9).Draw(t, "shape") {
	case 0:
		return nil
	case 1, 2:
		n := rapid.IntRange(0, 3).Draw(t, "arrLen")
		a := make([]any, n)
		for i := range a {
			if rapid.IntRange(0, 9).Draw(t, "odd") == 0 {
				a[i] = genAnything(t, 2)
			} else {
				a[i] = genScalar(t, kind)
			}
		}
		return a
	case 3:
		return genAnything(t, 1)
	}
	return genScalar(t, kind)
}

func genPayload(t *rapid.T) api.Payload {
	p := api.Payload{}
	for _, k := range payloadKeys {
		if rapid.IntRange(0, 4).Draw(t, "present_"+k) > 0 {
			p[k] = genValue(t, k)
		}
	}
	if rapid.Bool().Draw(t, "hasObj") {
		n := rapid.IntRange(0, 3).Draw(t, "objLen")
		arr := make([]any, n)
		for i := range arr {
			o := map[string]any{}
			for _, k := range []string{"s", "i", "txt"} {
				if rapid.Bool().Draw(t, "objKey") {
					o[k] = genValue(t, k)
				}
			}
			arr[i] = o
		}
		if rapid.IntRange(0, 5).Draw(t, "objNotArr") == 0 {
			p["o"] = map[string]any{"s": genValue(t, "s")}
		} else {
			p["o"] = arr
		}
	}
	return p
}

func ptr[T any](v T) *T { return &v }

func genKey(t *rapid.T, kind string) string {
	return rapid.SampledFrom([]string{kind, kind, kind, "o[]." + kind, "m", kind + "[]", kind + "[0]"}).Draw(t, "key")
}

func genBounds(t *rapid.T) (lt, gt, lte, gte *float64) {
	b := func(name string) *float64 {
		if rapid.Bool().Draw(t, name+"?") {
			return ptr(float64(rapid.IntRange(-6, 12).Draw(t, name)) / 2)
		}
		return nil
	}
	return b("lt"), b("gt"), b("lte"), b("gte")
}

func genField(t *rapid.T, inNested bool) *api.FieldCondition {
	kinds := []string{"s", "i", "f", "b", "t", "g", "u", "txt", "atx", "m"}
	if inNested {
		kinds = []string{"s", "i", "txt"}
	}
	kind := rapid.SampledFrom(kinds).Draw(t, "kind")
	fc := &api.FieldCondition{Key: genKey(t, kind)}
	if inNested {
		fc.Key = kind
	}
	switch rapid.IntRange(0, 12).Draw(t, "test") {
	case 0:
		v := genScalar(t, kind)
		switch v.(type) {
		case string, bool:
		default:
			if _, ok := refIsInt(v); !ok {
				v = num("3")
			}
		}
		fc.Match = &api.Match{Kind: api.MatchValue, Value: v}
	case 1, 2:
		kindAny := api.MatchAny
		if rapid.Bool().Draw(t, "except") {
			kindAny = api.MatchExcept
		}
		n := rapid.IntRange(0, 3).Draw(t, "anyLen")
		var vals []any
		ints := kind == "i" || (kind == "m" && rapid.Bool().Draw(t, "anyInts"))
		for range n {
			if ints {
				vals = append(vals, num(strconv.Itoa(rapid.IntRange(-3, 5).Draw(t, "anyInt"))))
			} else if kind == "u" {
				vals = append(vals, rapid.SampledFrom(uuids).Draw(t, "anyU"))
			} else {
				vals = append(vals, rapid.SampledFrom(words).Draw(t, "anyStr"))
			}
		}
		if vals == nil {
			vals = []any{}
		}
		fc.Match = &api.Match{Kind: kindAny, Values: vals}
	case 3:
		k := rapid.SampledFrom([]api.MatchKind{api.MatchText, api.MatchPhrase, api.MatchTextAny}).Draw(t, "textKind")
		queries := []string{"quick", "QUICK brown", "brown fox", "fox", "dog", "o", "cat fox", "", "the"}
		if kind == "atx" {
			queries = []string{"running", "cat station", "CAFÉ", "cafe", "the", "THE cats", "acao", "rapid run", "a", "stations running", "", "near station"}
		}
		fc.Match = &api.Match{Kind: k, Text: rapid.SampledFrom(queries).Draw(t, "q")}
	case 4, 5:
		r := &api.Range{}
		r.Lt, r.Gt, r.Lte, r.Gte = genBounds(t)
		fc.Range = r
	case 6:
		r := &api.DatetimeRange{}
		pick := func(name string) *time.Time {
			if rapid.Bool().Draw(t, name+"?") {
				tm, _ := api.ParseDatetime(rapid.SampledFrom(datetimes).Draw(t, name))
				return &tm
			}
			return nil
		}
		r.Lt, r.Gt, r.Lte, r.Gte = pick("lt"), pick("gt"), pick("lte"), pick("gte")
		if r.Lt == nil && r.Gt == nil && r.Lte == nil && r.Gte == nil {
			// "range": {} decodes as a numeric range, in Qdrant too.
			tm, _ := api.ParseDatetime(datetimes[1])
			r.Gte = &tm
		}
		fc.DatetimeRange = r
	case 7:
		x0, y0 := float64(rapid.IntRange(-9, 5).Draw(t, "x0"))+0.5, float64(rapid.IntRange(-9, 5).Draw(t, "y0"))+0.5
		w, h := float64(rapid.IntRange(1, 10).Draw(t, "w")), float64(rapid.IntRange(1, 10).Draw(t, "h"))
		switch rapid.IntRange(0, 1).Draw(t, "geoKind") {
		case 0:
			fc.GeoBoundingBox = &api.GeoBoundingBox{TopLeft: api.GeoPoint{Lon: x0, Lat: y0 + h}, BottomRight: api.GeoPoint{Lon: x0 + w, Lat: y0}}
		default:
			ring := func(x, y, w, h float64) api.GeoLineString {
				return api.GeoLineString{Points: []api.GeoPoint{{Lon: x, Lat: y}, {Lon: x + w, Lat: y}, {Lon: x + w, Lat: y + h}, {Lon: x, Lat: y + h}, {Lon: x, Lat: y}}}
			}
			g := &api.GeoPolygon{Exterior: ring(x0, y0, w, h)}
			if w > 2 && h > 2 && rapid.Bool().Draw(t, "hole") {
				g.Interiors = []api.GeoLineString{ring(x0+1, y0+1, 1, 1)}
			}
			fc.GeoPolygon = g
		}
	case 8:
		// Radius: integer-degree points are at least ~50 km from a
		// half-degree-offset circle edge at these radii.
		c := api.GeoPoint{Lon: float64(rapid.IntRange(-8, 8).Draw(t, "clon")), Lat: float64(rapid.IntRange(-8, 8).Draw(t, "clat"))}
		fc.GeoRadius = &api.GeoRadius{Center: c, Radius: float64(rapid.IntRange(0, 4).Draw(t, "r"))*111000 + 55000}
	case 9:
		vc := &api.ValuesCount{}
		bnd := func(name string) *int {
			if rapid.Bool().Draw(t, name+"?") {
				return ptr(rapid.IntRange(0, 3).Draw(t, name))
			}
			return nil
		}
		vc.Lt, vc.Gt, vc.Lte, vc.Gte = bnd("lt"), bnd("gt"), bnd("lte"), bnd("gte")
		fc.ValuesCount = vc
	case 10:
		fc.IsEmpty = ptr(rapid.Bool().Draw(t, "isEmpty"))
	case 11:
		fc.IsNull = ptr(rapid.Bool().Draw(t, "isNull"))
	default:
		fc.Match = &api.Match{Kind: api.MatchValue, Value: rapid.SampledFrom([]any{"red", num("1"), true}).Draw(t, "mv")}
	}
	return fc
}

func genCondition(t *rapid.T, depth int, inNested bool) api.Condition {
	max := 9
	if depth >= 3 {
		max = 6
	}
	switch rapid.IntRange(0, max).Draw(t, "cond") {
	case 0, 1, 2, 3:
		return api.Condition{Field: genField(t, inNested)}
	case 4:
		key := genKey(t, rapid.SampledFrom(payloadKeys).Draw(t, "ek"))
		if inNested {
			key = "s"
		}
		if rapid.Bool().Draw(t, "emptyOrNull") {
			return api.Condition{IsEmpty: &api.KeyRef{Key: key}}
		}
		return api.Condition{IsNull: &api.KeyRef{Key: key}}
	case 5:
		n := rapid.IntRange(0, 4).Draw(t, "ids")
		ids := []api.PointID{}
		for range n {
			ids = append(ids, api.NumID(uint64(rapid.IntRange(0, 20).Draw(t, "id"))))
		}
		return api.Condition{HasID: ids}
	case 6:
		return api.Condition{HasVector: ptr(rapid.SampledFrom([]string{"", "image", "text"}).Draw(t, "vec"))}
	case 7:
		if inNested {
			return api.Condition{Field: genField(t, true)}
		}
		key := rapid.SampledFrom([]string{"o", "o[]"}).Draw(t, "nestedKey")
		return api.Condition{Nested: &api.Nested{Key: key, Filter: *genFilter(t, depth+1, true)}}
	default:
		return api.Condition{Filter: genFilter(t, depth+1, inNested)}
	}
}

func genFilter(t *rapid.T, depth int, inNested bool) *api.Filter {
	f := &api.Filter{}
	list := func(name string) []api.Condition {
		n := rapid.IntRange(0, 2).Draw(t, name)
		if depth > 1 {
			n = min(n, 1)
		}
		var cs []api.Condition
		for range n {
			cs = append(cs, genCondition(t, depth, inNested))
		}
		return cs
	}
	f.Must = list("must")
	f.Should = list("should")
	f.MustNot = list("mustNot")
	if rapid.IntRange(0, 3).Draw(t, "minShould?") == 0 {
		cs := list("minShould")
		f.MinShould = &api.MinShould{Conditions: cs, MinCount: rapid.IntRange(0, len(cs)+1).Draw(t, "minCount")}
	}
	return f
}

// ---------------------------------------------------------------------------
// Properties.
// ---------------------------------------------------------------------------

func vectorsOf(id uint64) map[string]bool {
	m := map[string]bool{}
	if id%2 == 0 {
		m["image"] = true
	}
	if id%3 == 0 {
		m["text"] = true
	}
	return m
}

func TestPropMatcherAgreesWithReference(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		f := genFilter(t, 0, false)
		if err := Validate(f); err != nil {
			t.Fatalf("generated filter is invalid: %v", err)
		}
		// The filter survives a JSON round trip with the same meaning.
		b, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		var f2 api.Filter
		if err := json.Unmarshal(b, &f2); err != nil {
			t.Fatalf("cannot decode %s: %v", b, err)
		}
		m, err := Compile(f)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := Compile(&f2)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 8 {
			p := genPayload(t)
			id := uint64(i)
			vecs := vectorsOf(id)
			want := refFilter(f, p, &refEnv{id: api.NumID(id), vectors: vecs})
			got := m.Match(api.NumID(id), p, func(n string) bool { return vecs[n] })
			if got != want {
				pb, _ := json.Marshal(p)
				t.Fatalf("filter %s\npayload %s\nmatcher %v, reference %v", b, pb, got, want)
			}
			if got2 := m2.Match(api.NumID(id), p, func(n string) bool { return vecs[n] }); got2 != got {
				t.Fatalf("filter %s: decoded copy disagrees", b)
			}
		}
	})
}

// indexedSet builds an IndexSet with one index per payload kind.
func indexedSet(t interface{ Fatalf(string, ...any) }) *IndexSet {
	s := NewIndexSet()
	for key, schema := range map[string]api.PayloadFieldSchema{
		"s":   {Type: api.SchemaKeyword},
		"i":   {Type: api.SchemaInteger},
		"f":   {Type: api.SchemaFloat},
		"b":   {Type: api.SchemaBool},
		"t":   {Type: api.SchemaDatetime},
		"g":   {Type: api.SchemaGeo},
		"u":   {Type: api.SchemaUUID},
		"txt": {Type: api.SchemaText, Params: map[string]any{"tokenizer": "word"}},
		"atx": {Type: api.SchemaText, Params: map[string]any{"ascii_folding": true, "stopwords": "english",
			"stemmer": map[string]any{"type": "snowball", "language": "english"}}},
		"o[].s":   {Type: api.SchemaKeyword},
		"o[].txt": {Type: api.SchemaText},
		"m":       {Type: api.SchemaInteger, Params: map[string]any{"lookup": true, "range": true}},
	} {
		if err := s.Create(key, schema); err != nil {
			t.Fatalf("cannot create index %s: %v", key, err)
		}
	}
	return s
}

func TestPropIndexCandidatesAndEstimate(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := indexedSet(t)
		n := rapid.IntRange(0, 40).Draw(t, "points")
		payloads := make([]api.Payload, n)
		for i := range payloads {
			payloads[i] = genPayload(t)
			s.Add(uint32(i), payloads[i])
		}
		// Updates: remove with the old payload, add the new one.
		for range rapid.IntRange(0, 10).Draw(t, "updates") {
			if n == 0 {
				break
			}
			i := rapid.IntRange(0, n-1).Draw(t, "upd")
			s.Remove(uint32(i), payloads[i])
			payloads[i] = genPayload(t)
			s.Add(uint32(i), payloads[i])
		}
		textKeys := map[string]string{"txt": refPlain, "o[].txt": refPlain, "atx": refAnalysed}
		for range 4 {
			f := genFilter(t, 0, false)
			m, err := s.Compile(f)
			if err != nil {
				t.Fatal(err)
			}
			var truth []uint32
			for i, p := range payloads {
				vecs := vectorsOf(uint64(i))
				got := m.Match(api.NumID(uint64(i)), p, func(n string) bool { return vecs[n] })
				want := refFilter(f, p, &refEnv{id: api.NumID(uint64(i)), vectors: vecs, textIndex: textKeys})
				if got != want {
					b, _ := json.Marshal(f)
					pb, _ := json.Marshal(p)
					t.Fatalf("indexed matcher disagrees with reference\nfilter %s\npayload %s\ngot %v want %v", b, pb, got, want)
				}
				if got {
					truth = append(truth, uint32(i))
				}
			}
			est := s.Estimate(f, n)
			if est.Min > len(truth) || est.Max < len(truth) || est.Exp < est.Min || est.Exp > est.Max {
				b, _ := json.Marshal(f)
				t.Fatalf("estimate %+v does not bound the true count %d\nfilter %s", est, len(truth), b)
			}
			offs, exact, ok := s.Candidates(f, n)
			if ok {
				if !slices.IsSorted(offs) {
					t.Fatalf("candidates not sorted: %v", offs)
				}
				if exact && !slices.Equal(offs, truth) && len(offs)+len(truth) > 0 {
					b, _ := json.Marshal(f)
					t.Fatalf("exact candidates %v, true matches %v\nfilter %s", offs, truth, b)
				}
				for _, off := range truth {
					if _, found := slices.BinarySearch(offs, off); !found {
						b, _ := json.Marshal(f)
						pb, _ := json.Marshal(payloads[off])
						t.Fatalf("candidates %v miss matching offset %d\nfilter %s\npayload %s", offs, off, b, pb)
					}
				}
			}
		}
		// Removing everything empties every index.
		for i, p := range payloads {
			s.Remove(uint32(i), p)
		}
		for k, info := range s.Info() {
			if info.Points != 0 {
				t.Fatalf("index %s has %d points after removing all", k, info.Points)
			}
		}
		for _, fi := range s.fields {
			if len(fi.terms) != 0 || len(fi.ints) != 0 || fi.ordered.n != 0 || fi.geo.n != 0 || len(fi.geoPts) != 0 || len(fi.bools[0])+len(fi.bools[1]) != 0 {
				t.Fatalf("index %s not empty after removing all: %s", fi.key, fi)
			}
		}
	})
}

func TestPropPathOps(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := genPayload(t)
		before, _ := json.Marshal(p)
		path := rapid.SampledFrom([]string{"s", "o[].s", "o[0]", "o[]", "m.x", "new.deep", "o"}).Draw(t, "path")
		val := api.Payload{"k": num("1")}
		got, err := SetAt(p, path, val)
		if err != nil {
			t.Fatal(err)
		}
		after, _ := json.Marshal(p)
		if string(before) != string(after) {
			t.Fatalf("SetAt mutated its input")
		}
		// Every object reached by the path now has k = 1.
		for _, v := range RawValues(got, path) {
			if o, ok := v.(map[string]any); ok && o["k"] != num("1") {
				t.Fatalf("SetAt %s: object %v lacks k", path, o)
			}
		}
		d := DeleteAt(got, path+".k")
		for _, v := range RawValues(d, path) {
			if o, ok := v.(map[string]any); ok {
				if _, has := o["k"]; has {
					t.Fatalf("DeleteAt %s.k left k in %v", path, o)
				}
			}
		}
		// Select(exclude path) removes exactly what Values sees there.
		sel := Select(got, &api.PayloadSelector{Enable: true, Exclude: []string{path}})
		if len(RawValues(sel, path)) != 0 && !strings.Contains(path, "[0]") {
			t.Fatalf("exclude %s left %v", path, RawValues(sel, path))
		}
		inc := Select(got, &api.PayloadSelector{Enable: true, Include: []string{path}})
		if a, b := fmt.Sprint(RawValues(inc, path)), fmt.Sprint(RawValues(got, path)); a != b && !strings.Contains(path, "[0]") {
			t.Fatalf("include %s: %s, want %s", path, a, b)
		}
	})
}

// TestPropIndexSingleCondition checks each index on its own: for one field
// condition an exact index answer equals the true matches, and an inexact
// one contains them.
func TestPropIndexSingleCondition(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := indexedSet(t)
		n := rapid.IntRange(1, 60).Draw(t, "points")
		payloads := make([]api.Payload, n)
		for i := range payloads {
			payloads[i] = genPayload(t)
			s.Add(uint32(i), payloads[i])
		}
		for i := 0; i < n; i += 3 {
			s.Remove(uint32(i), payloads[i])
			payloads[i] = genPayload(t)
			s.Add(uint32(i), payloads[i])
		}
		for range 10 {
			fc := genField(t, false)
			f := &api.Filter{Must: []api.Condition{{Field: fc}}}
			m, err := s.Compile(f)
			if err != nil {
				t.Fatal(err)
			}
			var truth postings
			for i, p := range payloads {
				if m.Match(api.NumID(uint64(i)), p, nil) {
					truth = append(truth, uint32(i))
				}
			}
			offs, exact, ok := s.fieldOffsets(fc)
			if !ok {
				continue
			}
			b, _ := json.Marshal(f)
			if exact && !slices.Equal(offs, truth) {
				t.Fatalf("exact index answer %v, true matches %v\nfilter %s", offs, truth, b)
			}
			if len(intersect(offs, truth)) != len(truth) {
				t.Fatalf("index answer %v misses true matches %v\nfilter %s", offs, truth, b)
			}
			if est := s.Estimate(f, n); est.Min > len(truth) || est.Max < len(truth) {
				t.Fatalf("estimate %+v, true count %d\nfilter %s", est, len(truth), b)
			}
		}
	})
}

// TestPropTextConditions concentrates on the full-text conditions (text,
// text_any, phrase) on the plain and the analysed text index and on keys
// without an index: the matcher agrees with the reference, with and without
// the index, and the index's candidates and estimate agree with the matcher.
func TestPropTextConditions(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := indexedSet(t)
		n := rapid.IntRange(1, 30).Draw(t, "points")
		payloads := make([]api.Payload, n)
		for i := range payloads {
			p := api.Payload{}
			for _, k := range []string{"txt", "atx"} {
				if rapid.IntRange(0, 5).Draw(t, "present_"+k) > 0 {
					p[k] = genValue(t, k)
				}
			}
			payloads[i] = p
			s.Add(uint32(i), p)
		}
		textKeys := map[string]string{"txt": refPlain, "o[].txt": refPlain, "atx": refAnalysed}
		for range 8 {
			var fc *api.FieldCondition
			for fc == nil || fc.Match == nil || !isTextMatch(fc.Match.Kind) {
				fc = genField(t, false)
			}
			fc.Key = rapid.SampledFrom([]string{"txt", "atx"}).Draw(t, "textKey")
			f := &api.Filter{Must: []api.Condition{{Field: fc}}}
			indexed, err := s.Compile(f)
			if err != nil {
				t.Fatal(err)
			}
			plain, err := Compile(f)
			if err != nil {
				t.Fatal(err)
			}
			var truth postings
			for i, p := range payloads {
				b, _ := json.Marshal(f)
				pb, _ := json.Marshal(p)
				got, want := indexed.Match(api.NumID(uint64(i)), p, nil), refFilter(f, p, &refEnv{textIndex: textKeys})
				if got != want {
					t.Fatalf("indexed matcher %v, reference %v\nfilter %s\npayload %s", got, want, b, pb)
				}
				if got {
					truth = append(truth, uint32(i))
				}
				got, want = plain.Match(api.NumID(uint64(i)), p, nil), refFilter(f, p, &refEnv{})
				if got != want {
					t.Fatalf("unindexed matcher %v, reference %v\nfilter %s\npayload %s", got, want, b, pb)
				}
			}
			b, _ := json.Marshal(f)
			if est := s.Estimate(f, n); est.Min > len(truth) || est.Max < len(truth) || est.Exp < est.Min || est.Exp > est.Max {
				t.Fatalf("estimate %+v does not bound the true count %d\nfilter %s", est, len(truth), b)
			}
			offs, exact, ok := s.fieldOffsets(fc)
			if fc.Match.Kind == api.MatchTextAny && (!ok || !exact) {
				t.Fatalf("text_any on a text index must be answered exactly\nfilter %s", b)
			}
			if ok && exact && !slices.Equal(offs, truth) {
				t.Fatalf("exact index answer %v, true matches %v\nfilter %s", offs, truth, b)
			}
			if ok && len(intersect(offs, truth)) != len(truth) {
				t.Fatalf("index answer %v misses true matches %v\nfilter %s", offs, truth, b)
			}
		}
	})
}
