package filter

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
)

// tenConditions is a 10-condition filter touching every common condition
// kind; benchPayload matches it.
const tenConditions = `{
 "must": [
  {"key": "city", "match": {"value": "London"}},
  {"key": "price", "range": {"gte": 100, "lte": 450}},
  {"key": "tags", "match": {"any": ["sale", "new", "hot"]}},
  {"key": "country.cities[].population", "range": {"gte": 1.0}},
  {"key": "location", "geo_radius": {"center": {"lon": 13.40, "lat": 52.52}, "radius": 5000}},
  {"key": "date", "range": {"gte": "2024-01-01T00:00:00Z"}}
 ],
 "should": [
  {"key": "color", "match": {"value": "red"}},
  {"key": "count", "match": {"value": 3}}
 ],
 "must_not": [
  {"key": "brand", "match": {"except": ["acme", "globex"]}},
  {"is_empty": {"key": "tags"}}
 ]
}`

const benchPayload = `{"city": "London", "price": 300, "tags": ["old", "hot"], "color": "blue", "count": 3,
 "country": {"name": "UK", "cities": [{"name": "London", "population": 8.9}]},
 "location": {"lon": 13.41, "lat": 52.52}, "date": "2024-06-01T10:00:00Z", "brand": "acme"}`

func BenchmarkMatch10Conditions(b *testing.B) {
	f := mustFilter(b, tenConditions)
	p := mustPayload(b, benchPayload)
	m, err := Compile(f)
	if err != nil {
		b.Fatal(err)
	}
	if !m.Match(api.NumID(1), p, nil) {
		b.Fatal("benchmark payload does not match")
	}
	b.ReportAllocs()
	for b.Loop() {
		m.Match(api.NumID(1), p, nil)
	}
}

func BenchmarkCompile10Conditions(b *testing.B) {
	f := mustFilter(b, tenConditions)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(f); err != nil {
			b.Fatal(err)
		}
	}
}

// benchIndex builds indexes over n synthetic points.
func benchIndex(b *testing.B, n int) *IndexSet {
	b.Helper()
	s := NewIndexSet()
	for key, typ := range map[string]api.PayloadSchemaType{"city": api.SchemaKeyword, "price": api.SchemaFloat,
		"count": api.SchemaInteger, "active": api.SchemaBool, "location": api.SchemaGeo} {
		if err := s.Create(key, api.PayloadFieldSchema{Type: typ}); err != nil {
			b.Fatal(err)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		p := api.Payload{
			"city":     fmt.Sprintf("city%d", r.IntN(100)),
			"price":    json.Number(strconv.FormatFloat(r.Float64()*1000, 'f', 2, 64)),
			"count":    json.Number(strconv.Itoa(r.IntN(1000))),
			"active":   r.IntN(2) == 0,
			"location": map[string]any{"lon": json.Number(strconv.FormatFloat(r.Float64()*40-20, 'f', 4, 64)), "lat": json.Number(strconv.FormatFloat(r.Float64()*40-20, 'f', 4, 64))},
		}
		s.Add(uint32(i), p)
	}
	return s
}

var benchPlannerFilters = map[string]string{
	"keyword":       `{"must":[{"key":"city","match":{"value":"city7"}}]}`,
	"keyword+range": `{"must":[{"key":"city","match":{"any":["city1","city2","city3"]}},{"key":"price","range":{"gte":100,"lt":300}}]}`,
	"wide-range":    `{"must":[{"key":"price","range":{"gte":100,"lt":900}}]}`,
	"should+not":    `{"should":[{"key":"count","match":{"value":5}},{"key":"active","match":{"value":true}}],"must_not":[{"key":"city","match":{"value":"city1"}}]}`,
	"geo-radius":    `{"must":[{"key":"location","geo_radius":{"center":{"lon":0,"lat":0},"radius":300000}}]}`,
}

func BenchmarkCandidates100k(b *testing.B) {
	const n = 100_000
	s := benchIndex(b, n)
	for name, js := range benchPlannerFilters {
		f := mustFilter(b, js)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s.Candidates(f, n)
			}
		})
	}
}

func BenchmarkEstimate100k(b *testing.B) {
	const n = 100_000
	s := benchIndex(b, n)
	for name, js := range benchPlannerFilters {
		f := mustFilter(b, js)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s.Estimate(f, n)
			}
		})
	}
}

func BenchmarkIndexAdd(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		benchIndex(b, 10_000)
	}
}
