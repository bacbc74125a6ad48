package filter

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
)

func mustFilter(t testing.TB, s string) *api.Filter {
	t.Helper()
	var f api.Filter
	if err := json.Unmarshal([]byte(s), &f); err != nil {
		t.Fatalf("cannot decode filter %s: %v", s, err)
	}
	return &f
}

func mustPayload(t testing.TB, s string) api.Payload {
	t.Helper()
	p, err := api.DecodePayload([]byte(s))
	if err != nil {
		t.Fatalf("cannot decode payload %s: %v", s, err)
	}
	return p
}

// The points of Qdrant's filtering guide.
const guidePoints = `[
 {"id": 1, "city": "London", "color": "green"},
 {"id": 2, "city": "London", "color": "red"},
 {"id": 3, "city": "London", "color": "blue"},
 {"id": 4, "city": "Berlin", "color": "red"},
 {"id": 5, "city": "Moscow", "color": "green"},
 {"id": 6, "city": "Moscow", "color": "blue"}
]`

func TestGuideClauses(t *testing.T) {
	var pts []map[string]any
	dec := json.NewDecoder(strings.NewReader(guidePoints))
	dec.UseNumber()
	if err := dec.Decode(&pts); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		filter string
		want   []int
	}{
		{`{"must": [{"key": "city", "match": {"value": "London"}}, {"key": "color", "match": {"value": "red"}}]}`, []int{2}},
		{`{"should": [{"key": "city", "match": {"value": "London"}}, {"key": "color", "match": {"value": "red"}}]}`, []int{1, 2, 3, 4}},
		{`{"must_not": [{"key": "city", "match": {"value": "London"}}, {"key": "color", "match": {"value": "red"}}]}`, []int{5, 6}},
		{`{"must": [{"key": "city", "match": {"value": "London"}}], "must_not": [{"key": "color", "match": {"value": "red"}}]}`, []int{1, 3}},
		{`{"must_not": [{"must": [{"key": "city", "match": {"value": "London"}}, {"key": "color", "match": {"value": "red"}}]}]}`, []int{1, 3, 4, 5, 6}},
		{`{"min_should": {"conditions": [{"key": "city", "match": {"value": "London"}}, {"key": "color", "match": {"value": "red"}}, {"key": "color", "match": {"value": "blue"}}], "min_count": 2}}`, []int{2, 3}},
		{`{"must": [{"has_id": [1, 3, 5, 7, 9, 11]}]}`, []int{1, 3, 5}},
		{`{"should": []}`, []int{1, 2, 3, 4, 5, 6}},
		{`{}`, []int{1, 2, 3, 4, 5, 6}},
		{`{"must": [{"key": "color", "match": {"any": ["black", "yellow", "red"]}}]}`, []int{2, 4}},
		{`{"must": [{"key": "color", "match": {"except": ["black", "yellow", "red"]}}]}`, []int{1, 3, 5, 6}},
		{`{"must": [{"key": "city", "match": {"text": "Lon"}}]}`, []int{1, 2, 3}},
	}
	for _, c := range cases {
		m, err := Compile(mustFilter(t, c.filter))
		if err != nil {
			t.Fatalf("%s: %v", c.filter, err)
		}
		var got []int
		for _, p := range pts {
			n, _ := p["id"].(json.Number).Int64()
			if m.Match(api.NumID(uint64(n)), p, nil) {
				got = append(got, int(n))
			}
		}
		if !equalInts(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.filter, got, c.want)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

type matchCase struct {
	name    string
	filter  string
	payload string
	want    bool
}

func runMatchCases(t *testing.T, cases []matchCase) {
	t.Helper()
	for _, c := range cases {
		f := mustFilter(t, c.filter)
		m, err := Compile(f)
		if err != nil {
			t.Errorf("%s: cannot compile %s: %v", c.name, c.filter, err)
			continue
		}
		p := mustPayload(t, c.payload)
		if got := m.Match(api.NumID(1), p, nil); got != c.want {
			t.Errorf("%s: filter %s on %s: got %v, want %v", c.name, c.filter, c.payload, got, c.want)
		}
		if got := Match(f, api.NumID(1), p, nil); got != c.want {
			t.Errorf("%s: Match convenience disagrees", c.name)
		}
	}
}

func TestMatchValue(t *testing.T) {
	runMatchCases(t, []matchCase{
		{"keyword", `{"must":[{"key":"color","match":{"value":"red"}}]}`, `{"color":"red"}`, true},
		{"keyword other", `{"must":[{"key":"color","match":{"value":"red"}}]}`, `{"color":"Red"}`, false},
		{"keyword in array", `{"must":[{"key":"color","match":{"value":"red"}}]}`, `{"color":["blue","red"]}`, true},
		{"keyword nested array not flattened", `{"must":[{"key":"color","match":{"value":"red"}}]}`, `{"color":[["red"]]}`, false},
		{"integer", `{"must":[{"key":"count","match":{"value":0}}]}`, `{"count":0}`, true},
		{"integer vs float payload", `{"must":[{"key":"count","match":{"value":5}}]}`, `{"count":5.0}`, false},
		{"integer array", `{"must":[{"key":"count","match":{"value":5}}]}`, `{"count":[1,5]}`, true},
		{"integer vs string", `{"must":[{"key":"count","match":{"value":5}}]}`, `{"count":"5"}`, false},
		{"bool", `{"must":[{"key":"is_active","match":{"value":true}}]}`, `{"is_active":true}`, true},
		{"bool false", `{"must":[{"key":"is_active","match":{"value":true}}]}`, `{"is_active":false}`, false},
		{"missing", `{"must":[{"key":"color","match":{"value":"red"}}]}`, `{}`, false},
		{"null", `{"must":[{"key":"color","match":{"value":"red"}}]}`, `{"color":null}`, false},
		{"must_not missing", `{"must_not":[{"key":"color","match":{"value":"red"}}]}`, `{}`, true},
	})
}

func TestMatchAnyExcept(t *testing.T) {
	runMatchCases(t, []matchCase{
		{"any", `{"must":[{"key":"color","match":{"any":["black","yellow"]}}]}`, `{"color":"yellow"}`, true},
		{"any array", `{"must":[{"key":"color","match":{"any":["black","yellow"]}}]}`, `{"color":["red","black"]}`, true},
		{"any miss", `{"must":[{"key":"color","match":{"any":["black","yellow"]}}]}`, `{"color":"red"}`, false},
		{"any ints", `{"must":[{"key":"n","match":{"any":[1,2]}}]}`, `{"n":2}`, true},
		{"any ints vs string", `{"must":[{"key":"n","match":{"any":[1,2]}}]}`, `{"n":"2"}`, false},
		{"any empty", `{"must":[{"key":"n","match":{"any":[]}}]}`, `{"n":"2"}`, false},
		{"except", `{"must":[{"key":"color","match":{"except":["black","yellow"]}}]}`, `{"color":"red"}`, true},
		{"except listed", `{"must":[{"key":"color","match":{"except":["black","yellow"]}}]}`, `{"color":"black"}`, false},
		// "value matches if at least one element is not in the list"
		{"except array one other", `{"must":[{"key":"color","match":{"except":["black","yellow"]}}]}`, `{"color":["black","red"]}`, true},
		{"except array all listed", `{"must":[{"key":"color","match":{"except":["black","yellow"]}}]}`, `{"color":["black","yellow"]}`, false},
		{"except missing", `{"must":[{"key":"color","match":{"except":["black"]}}]}`, `{}`, false},
		{"except null", `{"must":[{"key":"color","match":{"except":["black"]}}]}`, `{"color":null}`, false},
		{"except empty array", `{"must":[{"key":"color","match":{"except":["black"]}}]}`, `{"color":[]}`, false},
		{"except other type", `{"must":[{"key":"color","match":{"except":["black"]}}]}`, `{"color":5}`, true},
		{"except bool", `{"must":[{"key":"color","match":{"except":["black"]}}]}`, `{"color":true}`, true},
		{"except object", `{"must":[{"key":"color","match":{"except":["black"]}}]}`, `{"color":{"a":1}}`, true},
		{"except ints", `{"must":[{"key":"n","match":{"except":[1,2]}}]}`, `{"n":3}`, true},
		{"except ints float", `{"must":[{"key":"n","match":{"except":[1,2]}}]}`, `{"n":1.5}`, true},
		{"except ints listed", `{"must":[{"key":"n","match":{"except":[1,2]}}]}`, `{"n":1}`, false},
		{"except ints string", `{"must":[{"key":"n","match":{"except":[1,2]}}]}`, `{"n":"1"}`, true},
	})
}

func TestFullTextWithoutIndex(t *testing.T) {
	runMatchCases(t, []matchCase{
		{"substring", `{"must":[{"key":"description","match":{"text":"good cheap"}}]}`, `{"description":"very good cheap car"}`, true},
		{"substring order", `{"must":[{"key":"description","match":{"text":"cheap good"}}]}`, `{"description":"very good cheap car"}`, false},
		{"substring partial word", `{"must":[{"key":"description","match":{"text":"hea"}}]}`, `{"description":"cheap"}`, true},
		{"phrase substring", `{"must":[{"key":"description","match":{"phrase":"good cheap"}}]}`, `{"description":"very good cheap car"}`, true},
		{"case sensitive", `{"must":[{"key":"description","match":{"text":"Good"}}]}`, `{"description":"good"}`, false},
		{"array", `{"must":[{"key":"d","match":{"text":"ab"}}]}`, `{"d":["x","cab"]}`, true},
		{"non-string", `{"must":[{"key":"d","match":{"text":"1"}}]}`, `{"d":1}`, false},
	})
}

func TestFullTextWithIndex(t *testing.T) {
	s := NewIndexSet()
	if err := s.Create("description", api.PayloadFieldSchema{Type: api.SchemaText,
		Params: map[string]any{"tokenizer": "word", "lowercase": true, "min_token_len": float64(2), "max_token_len": float64(20)}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Create("title", api.PayloadFieldSchema{Type: api.SchemaText, Params: map[string]any{"tokenizer": "prefix", "min_token_len": float64(2), "max_token_len": float64(4)}}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		filter, payload string
		want            bool
	}{
		{`{"must":[{"key":"description","match":{"text":"good cheap"}}]}`, `{"description":"Very GOOD and cheap car"}`, true},
		{`{"must":[{"key":"description","match":{"text":"cheap good"}}]}`, `{"description":"Very good and cheap car"}`, true},
		{`{"must":[{"key":"description","match":{"text":"hea"}}]}`, `{"description":"cheap"}`, false},
		{`{"must":[{"key":"description","match":{"phrase":"good cheap"}}]}`, `{"description":"good and cheap"}`, false},
		{`{"must":[{"key":"description","match":{"phrase":"GOOD cheap"}}]}`, `{"description":"a good, cheap car"}`, true},
		{`{"must":[{"key":"description","match":{"text":"good car"}}]}`, `{"description":["good boat","cheap car"]}`, false},
		{`{"must":[{"key":"description","match":{"text":"good car"}}]}`, `{"description":["x","good car"]}`, true},
		{`{"must":[{"key":"title","match":{"text":"vec"}}]}`, `{"title":"Vector search"}`, true},
		{`{"must":[{"key":"title","match":{"text":"vectors"}}]}`, `{"title":"Vector search"}`, true}, // cut to max_token_len 4
		{`{"must":[{"key":"title","match":{"text":"sea vec"}}]}`, `{"title":"Vector search"}`, true},
		{`{"must":[{"key":"title","match":{"text":"ector"}}]}`, `{"title":"Vector search"}`, false},
		{`{"must":[{"key":"other","match":{"text":"hea"}}]}`, `{"other":"cheap"}`, true}, // not indexed: substring
	}
	for _, c := range cases {
		m, err := s.Compile(mustFilter(t, c.filter))
		if err != nil {
			t.Fatal(err)
		}
		p := mustPayload(t, c.payload)
		if got := m.Match(api.NumID(1), p, nil); got != c.want {
			t.Errorf("%s on %s: got %v, want %v", c.filter, c.payload, got, c.want)
		}
		// The index agrees: a match is among the candidates.
		s2 := NewIndexSet()
		for _, k := range []string{"description", "title"} {
			fi := s.get(k)
			_ = s2.Create(k, fi.schema)
		}
		s2.Add(7, p)
		offs, _, ok := s2.Candidates(mustFilter(t, c.filter), 1)
		if ok && c.want && (len(offs) != 1 || offs[0] != 7) {
			t.Errorf("%s on %s: candidates %v miss the match", c.filter, c.payload, offs)
		}
	}
}

func TestRange(t *testing.T) {
	runMatchCases(t, []matchCase{
		{"gte lte", `{"must":[{"key":"price","range":{"gte":100.0,"lte":450.0}}]}`, `{"price":450}`, true},
		{"lt", `{"must":[{"key":"price","range":{"lt":100}}]}`, `{"price":100}`, false},
		{"gt float", `{"must":[{"key":"price","range":{"gt":99.5}}]}`, `{"price":99.6}`, true},
		{"array any", `{"must":[{"key":"price","range":{"gt":10}}]}`, `{"price":[1,2,11]}`, true},
		{"array none", `{"must":[{"key":"price","range":{"gt":10}}]}`, `{"price":[1,2,3]}`, false},
		{"string", `{"must":[{"key":"price","range":{"gt":10}}]}`, `{"price":"11"}`, false},
		{"open", `{"must":[{"key":"price","range":{}}]}`, `{"price":-3}`, true},
		{"open not number", `{"must":[{"key":"price","range":{}}]}`, `{"price":true}`, false},
		{"nested path", `{"should":[{"key":"country.cities[].population","range":{"gte":9.0}}]}`,
			`{"country":{"name":"Germany","cities":[{"name":"Berlin","population":3.7},{"name":"Munich","population":1.5}]}}`, false},
		{"nested path hit", `{"should":[{"key":"country.cities[].population","range":{"gte":9.0}}]}`,
			`{"country":{"name":"Japan","cities":[{"name":"Tokyo","population":9.3},{"name":"Osaka","population":2.7}]}}`, true},
	})
}

func TestDatetimeRange(t *testing.T) {
	runMatchCases(t, []matchCase{
		{"rfc3339", `{"must":[{"key":"date","range":{"gt":"2023-02-08T10:49:00Z","lte":"2024-01-31 10:14:31Z"}}]}`, `{"date":"2023-05-01T00:00:00Z"}`, true},
		{"before", `{"must":[{"key":"date","range":{"gt":"2023-02-08T10:49:00Z"}}]}`, `{"date":"2023-02-08T10:49:00Z"}`, false},
		{"date only payload", `{"must":[{"key":"date","range":{"gte":"2023-02-08"}}]}`, `{"date":"2023-02-08"}`, true},
		{"offset", `{"must":[{"key":"date","range":{"lt":"2023-02-08T10:00:00Z"}}]}`, `{"date":"2023-02-08T11:00:00+02:00"}`, true},
		{"no zone", `{"must":[{"key":"date","range":{"gte":"2023-02-08T10:00:00Z"}}]}`, `{"date":"2023-02-08T10:00:00"}`, true},
		{"garbage", `{"must":[{"key":"date","range":{"gte":"2023-02-08T10:00:00Z"}}]}`, `{"date":"tomorrow"}`, false},
		{"number", `{"must":[{"key":"date","range":{"gte":"2023-02-08T10:00:00Z"}}]}`, `{"date":1700000000}`, false},
		{"array", `{"must":[{"key":"date","range":{"gte":"2023-02-08T10:00:00Z"}}]}`, `{"date":["2020-01-01","2024-01-01T00:00:00Z"]}`, true},
	})
}

func TestGeo(t *testing.T) {
	berlin := `{"location":{"lon":13.404954,"lat":52.520008}}`
	runMatchCases(t, []matchCase{
		{"box", `{"must":[{"key":"location","geo_bounding_box":{"bottom_right":{"lon":13.455868,"lat":52.495862},"top_left":{"lon":13.403683,"lat":52.520711}}}]}`, berlin, true},
		{"box miss", `{"must":[{"key":"location","geo_bounding_box":{"bottom_right":{"lon":13.455868,"lat":52.495862},"top_left":{"lon":13.41,"lat":52.520711}}}]}`, berlin, false},
		{"box antimeridian", `{"must":[{"key":"l","geo_bounding_box":{"top_left":{"lon":170,"lat":10},"bottom_right":{"lon":-170,"lat":-10}}}]}`, `{"l":{"lon":179,"lat":0}}`, true},
		{"box antimeridian miss", `{"must":[{"key":"l","geo_bounding_box":{"top_left":{"lon":170,"lat":10},"bottom_right":{"lon":-170,"lat":-10}}}]}`, `{"l":{"lon":0,"lat":0}}`, false},
		{"radius", `{"must":[{"key":"location","geo_radius":{"center":{"lon":13.403683,"lat":52.520711},"radius":1000.0}}]}`, berlin, true},
		{"radius miss", `{"must":[{"key":"location","geo_radius":{"center":{"lon":13.403683,"lat":52.520711},"radius":50.0}}]}`, berlin, false},
		{"radius array", `{"must":[{"key":"location","geo_radius":{"center":{"lon":13.423637,"lat":52.511},"radius":2000.0}}]}`,
			`{"location":[{"lat":52.52197645,"lon":13.413637435864272},{"lat":55.7536283,"lon":37.62137960067377}]}`, true},
		{"polygon", `{"must":[{"key":"location","geo_polygon":{"exterior":{"points":[{"lon":-70.0,"lat":-70.0},{"lon":60.0,"lat":-70.0},{"lon":60.0,"lat":60.0},{"lon":-70.0,"lat":60.0},{"lon":-70.0,"lat":-70.0}]},"interiors":[{"points":[{"lon":-65.0,"lat":-65.0},{"lon":0.0,"lat":-65.0},{"lon":0.0,"lat":0.0},{"lon":-65.0,"lat":0.0},{"lon":-65.0,"lat":-65.0}]}]}}]}`, berlin, true},
		{"polygon hole", `{"must":[{"key":"location","geo_polygon":{"exterior":{"points":[{"lon":-70.0,"lat":-70.0},{"lon":60.0,"lat":-70.0},{"lon":60.0,"lat":60.0},{"lon":-70.0,"lat":60.0},{"lon":-70.0,"lat":-70.0}]},"interiors":[{"points":[{"lon":-65.0,"lat":-65.0},{"lon":0.0,"lat":-65.0},{"lon":0.0,"lat":0.0},{"lon":-65.0,"lat":0.0},{"lon":-65.0,"lat":-65.0}]}]}}]}`, `{"location":{"lon":-10,"lat":-10}}`, false},
		{"polygon outside", `{"must":[{"key":"location","geo_polygon":{"exterior":{"points":[{"lon":0,"lat":0},{"lon":1,"lat":0},{"lon":1,"lat":1},{"lon":0,"lat":0}]}}}]}`, berlin, false},
		{"not geo", `{"must":[{"key":"location","geo_radius":{"center":{"lon":0,"lat":0},"radius":1e9}}]}`, `{"location":"here"}`, false},
		{"lon only", `{"must":[{"key":"location","geo_radius":{"center":{"lon":0,"lat":0},"radius":1e9}}]}`, `{"location":{"lon":1}}`, false},
	})
}

func TestValuesCountEmptyNull(t *testing.T) {
	runMatchCases(t, []matchCase{
		{"count gt", `{"must":[{"key":"comments","values_count":{"gt":2}}]}`, `{"comments":["a","b","c"]}`, true},
		{"count gt miss", `{"must":[{"key":"comments","values_count":{"gt":2}}]}`, `{"comments":["a","b"]}`, false},
		{"count scalar", `{"must":[{"key":"comments","values_count":{"gte":1,"lte":1}}]}`, `{"comments":"a"}`, true},
		{"count null", `{"must":[{"key":"comments","values_count":{"lt":1}}]}`, `{"comments":null}`, true},
		{"count missing", `{"must":[{"key":"comments","values_count":{"lt":1}}]}`, `{}`, true}, // a missing field has no values (Qdrant issue 9586)
		{"is_empty missing", `{"must":[{"is_empty":{"key":"reports"}}]}`, `{}`, true},
		{"is_empty null", `{"must":[{"is_empty":{"key":"reports"}}]}`, `{"reports":null}`, true},
		{"is_empty []", `{"must":[{"is_empty":{"key":"reports"}}]}`, `{"reports":[]}`, true},
		{"is_empty [null]", `{"must":[{"is_empty":{"key":"reports"}}]}`, `{"reports":[null]}`, false},
		{"is_empty value", `{"must":[{"is_empty":{"key":"reports"}}]}`, `{"reports":"x"}`, false},
		{"is_empty object", `{"must":[{"is_empty":{"key":"reports"}}]}`, `{"reports":{}}`, false},
		{"is_empty path", `{"must":[{"is_empty":{"key":"a[].c"}}]}`, `{"a":[{"b":1},{"c":null}]}`, true},
		{"is_empty path value", `{"must":[{"is_empty":{"key":"a[].b"}}]}`, `{"a":[{"b":1},{"b":null}]}`, false},
		{"is_null null", `{"must":[{"is_null":{"key":"reports"}}]}`, `{"reports":null}`, true},
		{"is_null missing", `{"must":[{"is_null":{"key":"reports"}}]}`, `{}`, false},
		{"is_null []", `{"must":[{"is_null":{"key":"reports"}}]}`, `{"reports":[]}`, false},
		{"is_null [null]", `{"must":[{"is_null":{"key":"reports"}}]}`, `{"reports":[null]}`, true}, // as the field condition (Qdrant issue 10096)
		{"is_null path", `{"must":[{"is_null":{"key":"a[].b"}}]}`, `{"a":[{"b":1},{"b":null}]}`, true},
		{"field is_empty true missing", `{"must":[{"key":"reports","is_empty":true}]}`, `{}`, true},
		{"field is_empty false", `{"must":[{"key":"reports","is_empty":false}]}`, `{"reports":[1]}`, true},
		{"field is_empty false empty", `{"must":[{"key":"reports","is_empty":false}]}`, `{"reports":[]}`, false},
		{"field is_null false missing", `{"must":[{"key":"reports","is_null":false}]}`, `{}`, true},
		{"field is_null true [null]", `{"must":[{"key":"reports","is_null":true}]}`, `{"reports":[1,null]}`, true},
	})
}

func TestNested(t *testing.T) {
	dinosaurs := []string{
		`{"dinosaur":"t-rex","diet":[{"food":"leaves","likes":false},{"food":"meat","likes":true}]}`,
		`{"dinosaur":"diplodocus","diet":[{"food":"leaves","likes":true},{"food":"meat","likes":false}]}`,
	}
	arrayKey := `{"should":[{"key":"diet[].food","match":{"value":"meat"}},{"key":"diet[].likes","match":{"value":true}}]}`
	nested := `{"must":[{"nested":{"key":"diet","filter":{"must":[{"key":"food","match":{"value":"meat"}},{"key":"likes","match":{"value":true}}]}}}]}`
	nestedArr := `{"must":[{"nested":{"key":"diet[]","filter":{"must":[{"key":"food","match":{"value":"meat"}},{"key":"likes","match":{"value":true}}]}}}]}`
	withID := `{"must":[{"nested":{"key":"diet","filter":{"must":[{"has_id":[1]}]}}}]}`
	outerID := `{"must":[{"nested":{"key":"diet","filter":{"must":[{"key":"food","match":{"value":"meat"}}]}}},{"has_id":[1]}]}`
	mustNot := `{"must":[{"nested":{"key":"diet","filter":{"must_not":[{"key":"likes","match":{"value":true}}]}}}]}`
	var cases []matchCase
	for i, want := range []bool{true, true} {
		cases = append(cases, matchCase{"array key", arrayKey, dinosaurs[i], want})
	}
	cases = append(cases,
		matchCase{"nested t-rex", nested, dinosaurs[0], true},
		matchCase{"nested diplodocus", nested, dinosaurs[1], false},
		matchCase{"nested []", nestedArr, dinosaurs[0], true},
		matchCase{"nested has_id is false inside", withID, dinosaurs[0], false},
		matchCase{"has_id outside nested", outerID, dinosaurs[0], true},
		matchCase{"nested must_not", mustNot, dinosaurs[0], true},
		matchCase{"nested not array", nested, `{"diet":{"food":"meat","likes":true}}`, false},
		matchCase{"nested skips scalars", nested, `{"diet":[1,"meat",{"food":"meat","likes":true}]}`, true},
		matchCase{"nested deeper", `{"must":[{"nested":{"key":"a.b","filter":{"must":[{"nested":{"key":"c","filter":{"must":[{"key":"d","match":{"value":1}}]}}}]}}}]}`,
			`{"a":{"b":[{"c":[{"d":2}]},{"c":[{"d":1}]}]}}`, true},
	)
	runMatchCases(t, cases)
}

func TestPathsAndKeys(t *testing.T) {
	runMatchCases(t, []matchCase{
		{"dotted object", `{"must":[{"key":"country.name","match":{"value":"Germany"}}]}`, `{"country":{"name":"Germany"}}`, true},
		{"no implicit flattening", `{"must":[{"key":"country.name","match":{"value":"Germany"}}]}`, `{"country":[{"name":"Germany"}]}`, false},
		{"index", `{"must":[{"key":"a.b[0].c","match":{"value":1}}]}`, `{"a":{"b":[{"c":1},{"c":2}]}}`, true},
		{"index other", `{"must":[{"key":"a.b[1].c","match":{"value":1}}]}`, `{"a":{"b":[{"c":1},{"c":2}]}}`, false},
		{"index out of range", `{"must":[{"key":"a[5]","match":{"value":1}}]}`, `{"a":[1]}`, false},
		{"wildcard leaf", `{"must":[{"key":"a[]","match":{"value":2}}]}`, `{"a":[1,[2]]}`, true},
		{"quoted key", `{"must":[{"key":"\"a.b\"","match":{"value":1}}]}`, `{"a.b":1}`, true},
		{"quoted nested key", `{"must":[{"key":"x.\"a b\"","match":{"value":1}}]}`, `{"x":{"a b":1}}`, true},
		{"unicode key", `{"must":[{"key":"città","match":{"value":"Roma"}}]}`, `{"città":"Roma"}`, true},
		{"deep wildcards", `{"must":[{"key":"arr1[].arr2[].a","match":{"value":5}}]}`, `{"arr1":[{"arr2":[{"a":1}]},{"arr2":[{"a":3},{"a":5}]}]}`, true},
		{"has_vector", `{"must":[{"has_vector":"image"}]}`, `{}`, false},
	})
	m, err := Compile(mustFilter(t, `{"must":[{"has_vector":"image"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if !m.Match(api.NumID(1), nil, func(n string) bool { return n == "image" }) {
		t.Error("has_vector: want match")
	}
	if m.Match(api.NumID(1), nil, func(n string) bool { return n == "text" }) {
		t.Error("has_vector: want no match")
	}
}

func TestValidate(t *testing.T) {
	bad := []struct{ filter, want string }{
		{`{"must":[{"key":"a b","match":{"value":1}}]}`, "Invalid json path"},
		{`{"must":[{"key":"a..b","match":{"value":1}}]}`, "Invalid json path"},
		{`{"must":[{"key":"a[x]","match":{"value":1}}]}`, "Invalid json path"},
		{`{"must":[{"is_empty":{"key":""}}]}`, "must not be empty"},
		{`{"must":[{"key":"l","geo_radius":{"center":{"lon":0,"lat":91},"radius":1}}]}`, "must be from -90 to 90"},
		{`{"must":[{"key":"l","geo_radius":{"center":{"lon":181,"lat":0},"radius":1}}]}`, "must be from -180 to 180"},
		{`{"must":[{"key":"l","geo_radius":{"center":{"lon":0,"lat":0},"radius":-1}}]}`, "must be 0 or greater"},
		{`{"must":[{"key":"l","geo_polygon":{"exterior":{"points":[{"lon":0,"lat":0},{"lon":1,"lat":0},{"lon":0,"lat":0}]}}}]}`, "the size must be at least 4, got 3"},
		{`{"must":[{"key":"l","geo_polygon":{"exterior":{"points":[{"lon":0,"lat":0},{"lon":1,"lat":0},{"lon":1,"lat":1},{"lon":0,"lat":1}]}}}]}`, "closed line"},
		{`{"min_should":{"conditions":[],"min_count":-1}}`, "must be 0 or greater"},
		{`{"must":[{"key":"a","values_count":{"gt":-1}}]}`, "must be 0 or greater"},
		{`{"must":[{"key":"a","match":{"value":1.5}}]}`, "match value must be"},
		{`{"must":[{"key":"a","match":{"any":["x",1]}}]}`, "all strings or all integers"},
		{`{"must":[{"key":"a"}]}`, "[filter.must[0]: At least one field condition must be specified]"},
		{`{"should":[{"must":[{"key":"a"}]}]}`, "[filter.should[0].must[0]: At least one field condition must be specified]"},
		{`{"must":[{"nested":{"key":"a","filter":{"must":[{"key":"","match":{"value":1}}]}}}]}`, ""},
	}
	for _, c := range bad {
		var f api.Filter
		if err := json.Unmarshal([]byte(c.filter), &f); err != nil {
			if c.want != "" && api.KindOf(err) != api.KindBadInput {
				t.Errorf("%s: decode error %v is not bad input", c.filter, err)
			}
			continue // rejected while decoding: fine
		}
		err := Validate(&f)
		if err == nil {
			t.Errorf("%s: want error", c.filter)
			continue
		}
		// Broken constraints are Qdrant's 422 validation errors; paths
		// and match values that cannot be used are bad input (400).
		if k := api.KindOf(err); k != api.KindBadInput && k != api.KindValidation {
			t.Errorf("%s: error %v is neither bad input nor a validation error", c.filter, err)
		}
		if strings.HasPrefix(err.Error(), "Validation error in JSON body") != (api.KindOf(err) == api.KindValidation) {
			t.Errorf("%s: error %q has kind %v", c.filter, err, api.KindOf(err))
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not mention %q", c.filter, err, c.want)
		}
		if _, cerr := Compile(&f); cerr == nil {
			t.Errorf("%s: Compile accepted an invalid filter", c.filter)
		}
	}
	deep := `{"key":"a","match":{"value":1}}`
	for i := 0; i < api.MaxFilterDepth+1; i++ {
		deep = `{"must":[` + deep + `]}`
	}
	var f api.Filter
	if err := json.Unmarshal([]byte(deep), &f); err == nil {
		if err := Validate(&f); err == nil || api.KindOf(err) != api.KindBadInput {
			t.Errorf("deep filter: got %v, want bad input", err)
		}
	}
	if err := Validate(nil); err != nil {
		t.Errorf("nil filter: %v", err)
	}
}

func TestSingleConditionForm(t *testing.T) {
	// Qdrant's schema lets must/should/must_not be one condition object.
	runMatchCases(t, []matchCase{
		{"must object", `{"must":{"key":"city","match":{"value":"London"}}}`, `{"city":"London"}`, true},
		{"must object miss", `{"must":{"key":"city","match":{"value":"London"}}}`, `{"city":"Paris"}`, false},
		{"must_not object", `{"must_not":{"key":"city","match":{"value":"London"}}}`, `{"city":"London"}`, false},
		{"should object and null", `{"should":{"has_id":[1]},"must":null}`, `{}`, true},
	})
	var f api.Filter
	if err := json.Unmarshal([]byte(`{"must":{"key":"a","bogus":1}}`), &f); err == nil || api.KindOf(err) != api.KindBadInput {
		t.Errorf("bad single condition: %v", err)
	}
	if err := json.Unmarshal([]byte(`{"must":5}`), &f); err == nil || api.KindOf(err) != api.KindBadInput {
		t.Errorf("must number: %v", err)
	}
}
