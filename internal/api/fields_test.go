package api

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestCheckFields(t *testing.T) {
	cases := []struct {
		name string
		body string
		v    any
		want string // "" for no error
	}{
		{"query ok", `{"query": [1, 2], "limit": 3, "params": {"hnsw_ef": 8, "exact": true}, "with_payload": {"include": ["a"]}}`, &QueryRequest{}, ""},
		{"unknown null asks for nothing", `{"query": [1, 2], "acorn": null, "params": {"acorn": null}}`, &QueryRequest{}, ""},
		{"query top level", `{"query": [1, 2], "limt": 3}`, &QueryRequest{}, "unknown field `limt`, expected one of `shard_key`, `prefetch`, `query`, `using`, `filter`, `params`, `score_threshold`, `limit`, `offset`, `with_vector`, `with_vectors`, `with_payload`, `lookup_from` at line 1 column 24"},
		{"query params", `{"query": [1, 2],
 "params": {"hnsw": 8}}`, &QueryRequest{}, "unknown field `hnsw`, expected one of `hnsw_ef`, `exact`, `indexed_only`, `quantization` at line 2 column 18"},
		{"prefetch object", `{"prefetch": {"query": [1], "limits": 2}, "query": {"fusion": "rrf"}}`, &QueryRequest{}, "unknown field `limits`"},
		{"prefetch list nested", `{"prefetch": [{"prefetch": [{"query": [1], "x": 1}]}], "query": {"fusion": "rrf"}}`, &QueryRequest{}, "unknown field `x`"},
		{"recommend input", `{"query": {"recommend": {"positive": [1], "strategy": "best_score", "negativ": [2]}}}`, &QueryRequest{}, "unknown field `negativ`"},
		{"order by object", `{"order_by": {"key": "a", "directions": "asc"}}`, &ScrollRequest{}, "unknown field `directions`"},
		{"order by string", `{"order_by": "a"}`, &ScrollRequest{}, ""},
		{"selector object", `{"with_payload": {"includes": ["a"]}}`, &ScrollRequest{}, "unknown field `includes`, expected `include` or `exclude`"},
		{"selector forms", `{"with_payload": ["a"], "with_vector": true}`, &ScrollRequest{}, ""},
		{"payload is free-form", `{"points": [{"id": 1, "vector": [1, 2], "payload": {"anything": {"goes": 1}}}]}`, &UpsertPoints{}, ""},
		{"point", `{"points": [{"id": 1, "vector": [1, 2], "paylod": {}}]}`, &UpsertPoints{}, "unknown field `paylod`, expected one of `id`, `vector`, `payload`"},
		{"upsert batch", `{"batch": {"ids": [1], "vectors": [[1, 2]], "payloads": [{}]}}`, &UpsertPoints{}, ""},
		{"upsert batch unknown", `{"batch": {"ids": [1], "vectors": [[1, 2]], "payload": [{}]}}`, &UpsertPoints{}, "unknown field `payload`, expected one of `ids`, `vectors`, `payloads`"},
		{"upsert top level", `{"points": [], "point": []}`, &UpsertPoints{}, "unknown field `point`"},
		{"unnamed vectors", `{"vectors": {"size": 4, "distance": "Dot", "hnsw_config": {"m": 8}}}`, &CreateCollection{}, ""},
		{"unnamed vectors unknown", `{"vectors": {"size": 4, "distance": "Dot", "dims": 4}}`, &CreateCollection{}, "unknown field `dims`"},
		{"named vectors", `{"vectors": {"img": {"size": 4, "distance": "Dot"}, "txt": {"size": 2, "distance": "Cosine", "hnsw_config": {"mm": 1}}}}`, &CreateCollection{}, "unknown field `mm`"},
		{"create top level", `{"vectors": {"size": 4, "distance": "Dot"}, "shards": 2}`, &CreateCollection{}, "unknown field `shards`"},
		{"escaped key", `{"\u006cimit": 1, "lim\u0069": 2}`, &ScrollRequest{}, "unknown field `limi`"},
		{"filter is its own", `{"filter": {"must": [{"key": "a", "match": {"value": 1}}]}}`, &ScrollRequest{}, ""},
		{"search vector forms", `{"vector": {"name": "img", "vector": [1]}, "limit": 1}`, &SearchRequest{}, ""},
		{"search named vector", `{"vector": {"name": "img", "vector": [1], "nam": 1}, "limit": 1}`, &SearchRequest{}, "unknown field `nam`, expected `name` or `vector`"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := json.Unmarshal([]byte(c.body), c.v); err != nil {
				t.Fatalf("body does not decode: %v", err)
			}
			err := CheckFields([]byte(c.body), c.v)
			if c.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "Format error in JSON body: ") || KindOf(err) != KindBadInput {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}

// FuzzCheckFields runs CheckFields over arbitrary bodies that decode into
// the main request types: it must neither panic nor loop, and a body it
// refuses must name a member that occurs in the body.
func FuzzCheckFields(f *testing.F) {
	for _, s := range []string{
		`{"query": [1, 2], "limit": 3, "params": {"hnsw_ef": 8}}`,
		`{"prefetch": [{"query": [1], "limit": 2}], "query": {"fusion": "rrf"}}`,
		`{"points": [{"id": 1, "vector": [1, 2], "payload": {"a": [1, {"b": null}]}}]}`,
		`{"batch": {"ids": [1], "vectors": [[1, 2]]}}`,
		`{"vectors": {"size": 4, "distance": "Dot", "hnsw_config": {"m": 8}}}`,
		`{"vectors": {"a": {"size": 4, "distance": "Dot"}}, "x": 1}`,
		`{"filter": {"must": [{"key": "a", "match": {"value": 1}}]}, "with_payload": {"include": ["a"]}}`,
		`{"\u0071uery": 1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, v := range []any{&QueryRequest{}, &UpsertPoints{}, &CreateCollection{}, &ScrollRequest{}} {
			if json.Unmarshal(b, v) != nil {
				continue
			}
			err := CheckFields(b, v)
			if err == nil {
				continue
			}
			msg := Message(err)
			_, rest, ok := strings.Cut(msg, "unknown field `")
			name, _, ok2 := strings.Cut(rest, "`")
			if !ok || !ok2 || KindOf(err) != KindBadInput {
				t.Fatalf("%T %q: %v", v, b, err)
			}
			var probe any
			if json.Unmarshal(b, &probe) == nil && !strings.Contains(string(b), name) && !strings.Contains(string(b), `\u`) && !strings.Contains(string(b), `\`) {
				t.Fatalf("%T %q: refused a member %q the body lacks", v, b, name)
			}
		}
	})
}
