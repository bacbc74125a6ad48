package filter

import (
	"encoding/json"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
)

// qdrantDocFilters are filter bodies from Qdrant's filtering documentation.
var qdrantDocFilters = []string{
	`{"must":[{"key":"city","match":{"value":"London"}},{"key":"color","match":{"value":"red"}}]}`,
	`{"should":[{"key":"city","match":{"value":"London"}},{"key":"color","match":{"value":"red"}}]}`,
	`{"must_not":[{"key":"city","match":{"value":"London"}},{"key":"color","match":{"value":"red"}}]}`,
	`{"must":[{"key":"city","match":{"value":"London"}}],"must_not":[{"key":"color","match":{"value":"red"}}]}`,
	`{"must_not":[{"must":[{"key":"city","match":{"value":"London"}},{"key":"color","match":{"value":"red"}}]}]}`,
	`{"min_should":{"conditions":[{"key":"city","match":{"value":"London"}},{"key":"color","match":{"value":"red"}}],"min_count":1}}`,
	`{"must":[{"key":"color","match":{"value":"red"}}]}`,
	`{"must":[{"key":"count","match":{"value":0}}]}`,
	`{"must":[{"key":"is_active","match":{"value":true}}]}`,
	`{"must":[{"key":"color","match":{"any":["black","yellow"]}}]}`,
	`{"must":[{"key":"color","match":{"except":["black","yellow"]}}]}`,
	`{"must":[{"key":"country.name","match":{"value":"Germany"}}]}`,
	`{"should":[{"key":"country.cities[].population","range":{"gte":9.0}}]}`,
	`{"should":[{"key":"country.cities[].sightseeing","values_count":{"gt":2}}]}`,
	`{"should":[{"key":"diet[].food","match":{"value":"meat"}},{"key":"diet[].likes","match":{"value":true}}]}`,
	`{"must":[{"nested":{"key":"diet","filter":{"must":[{"key":"food","match":{"value":"meat"}},{"key":"likes","match":{"value":true}}]}}}]}`,
	`{"must":[{"nested":{"key":"diet","filter":{"must":[{"key":"food","match":{"value":"meat"}},{"key":"likes","match":{"value":true}}]}}},{"has_id":[1]}]}`,
	`{"must":[{"key":"description","match":{"text":"good cheap"}}]}`,
	`{"must":[{"key":"description","match":{"phrase":"brown fox"}}]}`,
	`{"must":[{"key":"description","match":{"text_any":"good cheap"}}]}`,
	`{"must":[{"key":"price","range":{"gt":null,"gte":100.0,"lt":null,"lte":450.0}}]}`,
	`{"must":[{"key":"date","range":{"gt":"2023-02-08T10:49:00Z","gte":null,"lt":null,"lte":"2024-01-31 10:14:31Z"}}]}`,
	`{"must":[{"key":"location","geo_bounding_box":{"bottom_right":{"lon":13.455868,"lat":52.495862},"top_left":{"lon":13.403683,"lat":52.520711}}}]}`,
	`{"must":[{"key":"location","geo_polygon":{"exterior":{"points":[{"lon":-70.0,"lat":-70.0},{"lon":60.0,"lat":-70.0},{"lon":60.0,"lat":60.0},{"lon":-70.0,"lat":60.0},{"lon":-70.0,"lat":-70.0}]},"interiors":[{"points":[{"lon":-65.0,"lat":-65.0},{"lon":0.0,"lat":-65.0},{"lon":0.0,"lat":0.0},{"lon":-65.0,"lat":0.0},{"lon":-65.0,"lat":-65.0}]}]}}]}`,
	`{"must":[{"key":"location","geo_radius":{"center":{"lon":13.403683,"lat":52.520711},"radius":1000.0}}]}`,
	`{"must":[{"key":"comments","values_count":{"gt":2}}]}`,
	`{"must":[{"is_empty":{"key":"reports"}}]}`,
	`{"must":[{"is_null":{"key":"reports"}}]}`,
	`{"must":[{"has_id":[1,3,5,7,9,11]}]}`,
	`{"must":[{"has_vector":"image"}]}`,
	`{"must":[{"key":"group_id","match":{"value":"user_1"}}]}`,
	`{"must":[{"key":"uuid","match":{"value":"550e8400-e29b-41d4-a716-446655440000"}}]}`,
	`{"must":[{"key":"a","is_empty":true},{"key":"b","is_null":false}]}`,
	`{}`,
	`{"must":[{}]}`,
	`{"must":[{"key":"\"a.b\"[0][]","match":{"value":1}}]}`,
}

var fuzzPayloads = []string{
	`{"city":"London","color":"red","count":0,"is_active":true,"country":{"name":"Germany","cities":[{"name":"Berlin","population":3.7,"sightseeing":["Brandenburg Gate","Reichstag"]}]}}`,
	`{"diet":[{"food":"meat","likes":true}],"description":"a good cheap brown fox","price":120,"date":"2023-06-01T00:00:00Z"}`,
	`{"location":{"lon":13.404954,"lat":52.520008},"comments":["a","b","c"],"reports":null,"uuid":"550e8400-e29b-41d4-a716-446655440000","a.b":[[1]]}`,
}

// FuzzFilter feeds arbitrary bytes through decoding, validation,
// compilation, matching and the index planner: nothing may panic, and a
// filter Validate accepts must compile. The seeds run as a regular test;
// run the fuzzer with `go test -run '^$' -fuzz FuzzFilter -fuzztime 30s
// ./internal/filter/`.
func FuzzFilter(f *testing.F) {
	for _, s := range qdrantDocFilters {
		f.Add([]byte(s))
	}
	var payloads []api.Payload
	for _, s := range fuzzPayloads {
		p, err := api.DecodePayload([]byte(s))
		if err != nil {
			f.Fatal(err)
		}
		payloads = append(payloads, p)
	}
	set := NewIndexSet()
	for key, typ := range map[string]api.PayloadSchemaType{"city": api.SchemaKeyword, "count": api.SchemaInteger,
		"price": api.SchemaFloat, "is_active": api.SchemaBool, "location": api.SchemaGeo, "date": api.SchemaDatetime,
		"uuid": api.SchemaUUID, "description": api.SchemaText, "diet[].food": api.SchemaKeyword} {
		if err := set.Create(key, api.PayloadFieldSchema{Type: typ}); err != nil {
			f.Fatal(err)
		}
	}
	for i, p := range payloads {
		set.Add(uint32(i), p)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var flt api.Filter
		if err := json.Unmarshal(data, &flt); err != nil {
			return
		}
		if err := Validate(&flt); err != nil {
			if api.KindOf(err) != api.KindBadInput {
				t.Fatalf("Validate returned a non-bad-input error: %v", err)
			}
			if _, err := Compile(&flt); err == nil {
				t.Fatalf("Compile accepted a filter Validate rejected")
			}
			return
		}
		m, err := Compile(&flt)
		if err != nil {
			t.Fatalf("Compile rejected a valid filter: %v", err)
		}
		im, err := set.Compile(&flt)
		if err != nil {
			t.Fatalf("IndexSet.Compile rejected a valid filter: %v", err)
		}
		var truth []uint32
		for i, p := range payloads {
			m.Match(api.NumID(uint64(i)), p, func(string) bool { return true })
			if im.Match(api.NumID(uint64(i)), p, nil) {
				truth = append(truth, uint32(i))
			}
		}
		est := set.Estimate(&flt, len(payloads))
		if est.Min > len(truth) || est.Max < len(truth) {
			t.Fatalf("estimate %+v does not bound %d", est, len(truth))
		}
		if offs, exact, ok := set.Candidates(&flt, len(payloads)); ok {
			if exact && len(offs) != len(truth) {
				t.Fatalf("exact candidates %v, true matches %v", offs, truth)
			}
			for _, off := range truth {
				found := false
				for _, o := range offs {
					found = found || o == off
				}
				if !found {
					t.Fatalf("candidates %v miss %d", offs, off)
				}
			}
		}
	})
}

func TestDocFiltersDecodeAndValidate(t *testing.T) {
	for _, s := range qdrantDocFilters {
		var f api.Filter
		if err := json.Unmarshal([]byte(s), &f); err != nil {
			t.Errorf("%s: %v", s, err)
			continue
		}
		if err := Validate(&f); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
}
