package rest

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"

	"github.com/shoal-db/shoal/internal/auth"
)

// TestQdrantSuiteBehaviours covers, without Python, the behaviours that
// Qdrant's own REST suite (tests/openapi, run by
// scripts/qdrant-openapi-suite.sh) found missing: 422 validation errors for
// path parameters and body constraints, the with_vectors alias of
// with_vector, and a missing lookup_from collection refused even when the
// query gives raw vectors only.
func TestQdrantSuiteBehaviours(t *testing.T) {
	c := newRealServer(t, Options{}, auth.Options{})
	const d = "/collections/qs"
	step{method: "PUT", path: d, body: `{"vectors": {"size": 4, "distance": "Dot"}}`}.run(t, c)
	step{method: "PUT", path: d + "/points?wait=true", body: `{"points": [
		{"id": 1, "vector": [0.05, 0.61, 0.76, 0.74], "payload": {"k": "a"}},
		{"id": 2, "vector": [0.19, 0.81, 0.75, 0.11]},
		{"id": 3, "vector": [0.36, 0.55, 0.47, 0.94]}
	]}`}.run(t, c)

	t.Run("collection name in the path", func(t *testing.T) {
		// test_collection_exists.py: an empty name and control characters
		// are 422, not a redirect, a 404 or {"exists": false}.
		c.do("GET", "/collections//exists", nil).wantError(t, 422, "Validation error in path parameters: [name: Collection name must not be empty]")
		for _, name := range []string{"%09", "%0A", "%0D", "name%09with%09tabs"} {
			c.do("GET", "/collections/"+name+"/exists", nil).wantError(t, 422, "Validation error in path parameters: [name: Collection name must not contain control characters")
		}
		c.do("GET", "/collections/a:b", nil).wantError(t, 422, "Validation error in path parameters: [name: Collection name contains forbidden characters")
		// A valid name that no collection has is still a plain answer.
		step{method: "GET", path: "/collections/nothere/exists", check: wantJSON(`{"exists": false}`)}.run(t, c)
		c.do("GET", "/collections/nothere", nil).wantError(t, 404, "Collection `nothere` doesn't exist!")
		// Creating a collection with a control character is refused too.
		c.do("PUT", "/collections/a%09b", `{"vectors": {"size": 4, "distance": "Dot"}}`).wantError(t, 422, "control characters")
	})

	t.Run("body constraints are 422", func(t *testing.T) {
		// test_limits.py: the exact text, for the unnamed vector.
		c.do("PUT", "/collections/big", `{"vectors": {"size": 65537, "distance": "Dot"}}`).wantError(t, 422,
			"Validation error in JSON body: [vectors.size: value 65537 invalid, must be from 1 to 65536]")
		r := c.do("PUT", "/collections/big", `{"vectors": {"size": 65537, "distance": "Dot"}}`)
		var e errorBody
		if err := json.Unmarshal(r.body, &e); err != nil || e.Status.Error != "Validation error in JSON body: [vectors.size: value 65537 invalid, must be from 1 to 65536]" {
			t.Errorf("text %q (%v), want Qdrant's exact text without a prefix", e.Status.Error, err)
		}
		c.do("PUT", "/collections/big", `{"vectors": {"v": {"size": 0, "distance": "Dot"}}}`).wantError(t, 422,
			"Validation error in JSON body: [vectors.v.size: value 0 invalid, must be from 1 to 65536]")
		c.do("POST", d+"/points/count", `{"filter": {"must": [{"key": "a", "values_count": {"gt": -1}}]}}`).wantError(t, 422,
			"Validation error in JSON body: [filter.must[0].values_count.gt: value -1 invalid, must be 0 or greater]")
		// A body that does not decode stays 400.
		c.do("POST", d+"/points/count", `{"filter": 1}`).wantError(t, 400, "invalid filter")
	})

	t.Run("with_vectors alias", func(t *testing.T) {
		// test_basic_retrieve_api.py::test_with_vectors_alias_of_with_vector.
		want := `[0.05, 0.61, 0.76, 0.74]`
		for _, key := range []string{"with_vector", "with_vectors"} {
			res := step{method: "POST", path: d + "/points/scroll", body: `{"` + key + `": true, "limit": 1}`}.run(t, c)
			var page struct {
				Points []struct {
					Vector json.RawMessage `json:"vector"`
				} `json:"points"`
			}
			if err := json.Unmarshal(res, &page); err != nil || len(page.Points) != 1 {
				t.Fatalf("%s: %s (%v)", key, res, err)
			}
			wantJSON(want)(t, page.Points[0].Vector)
			step{method: "POST", path: d + "/points", body: `{"ids": [1], "` + key + `": true}`, check: wantContains(`"vector":[0.05,0.61,0.76,0.74]`)}.run(t, c)
			step{method: "POST", path: d + "/points/query", body: `{"query": 1, "limit": 1, "` + key + `": true}`, check: wantContains(`"vector":[`)}.run(t, c)
			step{method: "POST", path: d + "/points/search", legacy: "ScoredPoint", body: `{"vector": [1, 0, 0, 0], "limit": 1, "` + key + `": true}`, check: wantContains(`"vector":[`)}.run(t, c)
			step{method: "POST", path: d + "/points/search/batch", legacy: "ScoredPointBatch", body: `{"searches": [{"vector": [1, 0, 0, 0], "limit": 1, "` + key + `": true}]}`, check: wantContains(`"vector":[`)}.run(t, c)
			step{method: "POST", path: d + "/points/recommend", legacy: "ScoredPoint", body: `{"positive": [1], "limit": 1, "` + key + `": true}`, check: wantContains(`"vector":[`)}.run(t, c)
		}
		c.do("POST", d+"/points/scroll", `{"with_vector": true, "with_vectors": true}`).wantError(t, 400, "duplicate field `with_vector`")
	})

	t.Run("missing lookup_from collection", func(t *testing.T) {
		// test_recommend.py::test_recommend_missing_lookup_from_collection_with_raw_vector.
		lookup := `"lookup_from": {"collection": "missing_lookup", "vector": "default"}`
		c.do("POST", d+"/points/recommend", `{"positive": [[0.1, 0.2, 0.3, 0.4]], "limit": 3, `+lookup+`}`).wantError(t, 404, "missing_lookup")
		c.do("POST", d+"/points/recommend/batch", `{"searches": [{"positive": [[0.1, 0.2, 0.3, 0.4]], "limit": 3, `+lookup+`}]}`).wantError(t, 404, "missing_lookup")
		c.do("POST", d+"/points/query", `{"query": [0.1, 0.2, 0.3, 0.4], `+lookup+`}`).wantError(t, 404, "missing_lookup")
		c.do("POST", d+"/points/query", `{"prefetch": {"query": [0.1, 0.2, 0.3, 0.4], `+lookup+`}, "query": {"fusion": "rrf"}}`).wantError(t, 404, "missing_lookup")
	})
}

// TestAliasNamedLikeACollection checks test_alias.py's
// test_cant_create_alias_if_collection_exists: an alias whose name a
// collection has is Qdrant's 409, not 400.
func TestAliasNamedLikeACollection(t *testing.T) {
	c := newRealServer(t, Options{}, auth.Options{})
	step{method: "PUT", path: "/collections/a1", body: `{"vectors": {"size": 2, "distance": "Dot"}}`}.run(t, c)
	step{method: "PUT", path: "/collections/a2", body: `{"vectors": {"size": 2, "distance": "Dot"}}`}.run(t, c)
	c.do("POST", "/collections/aliases", `{"actions": [{"create_alias": {"alias_name": "a2", "collection_name": "a1"}}]}`).wantError(t, 409, "Collection `a2` already exists!")
	step{method: "POST", path: "/collections/aliases", body: `{"actions": [{"create_alias": {"alias_name": "al", "collection_name": "a1"}}]}`}.run(t, c)
	c.do("POST", "/collections/aliases", `{"actions": [{"rename_alias": {"old_alias_name": "al", "new_alias_name": "a2"}}]}`).wantError(t, 409, "Collection `a2` already exists!")
}

// TestStrictModeEmptyMatchAny checks test_match_any_empty.py: under strict
// mode without unindexed filtering, an empty `any` needs no index (it
// matches nothing; inside must_not, everything).
func TestStrictModeEmptyMatchAny(t *testing.T) {
	c := newRealServer(t, Options{}, auth.Options{})
	const d = "/collections/sm"
	step{method: "PUT", path: d, body: `{"vectors": {"size": 2, "distance": "Dot"}}`}.run(t, c)
	step{method: "PUT", path: d + "/points?wait=true", body: `{"points": [
		{"id": 1, "vector": [1, 0], "payload": {"n": 1, "uid": "550e8400-e29b-41d4-a716-446655440001"}},
		{"id": 2, "vector": [0, 1], "payload": {"n": 2, "uid": "550e8400-e29b-41d4-a716-446655440002"}}
	]}`}.run(t, c)
	step{method: "PUT", path: d + "/index?wait=true", body: `{"field_name": "n", "field_schema": "integer"}`}.run(t, c)
	step{method: "PUT", path: d + "/index?wait=true", body: `{"field_name": "uid", "field_schema": "uuid"}`}.run(t, c)
	step{method: "PATCH", path: d, body: `{"strict_mode_config": {"enabled": true, "unindexed_filtering_retrieve": false}}`}.run(t, c)
	for _, key := range []string{"n", "uid"} {
		step{method: "POST", path: d + "/points/scroll", body: `{"filter": {"must": [{"key": "` + key + `", "match": {"any": []}}]}}`, check: wantContains(`"points":[]`)}.run(t, c)
		step{method: "POST", path: d + "/points/scroll", body: `{"filter": {"must_not": [{"key": "` + key + `", "match": {"any": []}}]}}`, check: wantContains(`"id":1`, `"id":2`)}.run(t, c)
	}
	// A field without an index is still refused.
	c.do("POST", d+"/points/scroll", `{"filter": {"must": [{"key": "other", "match": {"any": [1]}}]}}`).wantError(t, 400, "Index required but not found")
}

// TestQdrantSuiteFiltersAndVectors covers what the second round of Qdrant's
// REST suite (test_filter.py, test_optional_vectors.py ...) found missing.
func TestQdrantSuiteFiltersAndVectors(t *testing.T) {
	c := newRealServer(t, Options{}, auth.Options{})
	const d = "/collections/qv"
	step{method: "PUT", path: d, body: `{"vectors": {"image": {"size": 4, "distance": "Dot"}, "text": {"size": 2, "distance": "Dot"}}}`}.run(t, c)
	step{method: "PUT", path: d + "/points?wait=true", body: `{"points": [
		{"id": 1, "vector": {"image": [0.05, 0.61, 0.76, 0.74], "text": [1, 0]}, "payload": {"city": "Berlin"}},
		{"id": 2, "vector": {"image": [0.19, 0.81, 0.75, 0.11]}}
	]}`}.run(t, c)

	t.Run("field condition without a condition", func(t *testing.T) {
		// test_filter.py::test_just_key: a key alone is a 422 validation
		// error, wherever the filter is.
		const want = "Validation error in JSON body: [filter.must[0]: At least one field condition must be specified]"
		c.do("POST", d+"/points/query", `{"query": [0.2, 0.1, 0.9, 0.7], "using": "image", "filter": {"must": [{"key": "city"}]}}`).wantError(t, 422, want)
		c.do("POST", d+"/points/scroll", `{"filter": {"must": [{"key": "city"}]}}`).wantError(t, 422, want)
		c.do("POST", d+"/points/count", `{"filter": {"should": [{"key": "city", "match": {"value": "x"}}, {"key": "city"}]}}`).wantError(t, 422,
			"Validation error in JSON body: [filter.should[1]: At least one field condition must be specified]")
		// An empty key stays a decoding error.
		c.do("POST", d+"/points/scroll", `{"filter": {"must": [{"key": ""}]}}`).wantError(t, 400, "non-empty key")
	})

	t.Run("update vectors", func(t *testing.T) {
		// test_optional_vectors.py::test_update_vectors_unknown_point and
		// test_no_vectors.
		r := c.do("PUT", d+"/points/vectors?wait=true", `{"points": [{"id": 1, "vector": {"text": [0, 1]}}, {"id": 424242424242424242, "vector": {"image": [1, 2, 3, 4]}}]}`)
		r.wantError(t, 404, "No point with id 424242424242424242 found")
		var e errorBody
		if err := json.Unmarshal(r.body, &e); err != nil || e.Status.Error != "Not found: No point with id 424242424242424242 found" {
			t.Errorf("text %q (%v), want Qdrant's exact text", e.Status.Error, err)
		}
		c.do("PUT", d+"/points/vectors?wait=true", `{"points": [{"id": 1, "vector": {}}]}`).wantError(t, 422,
			"Validation error in JSON body: [points[0].vector: must specify vectors to update for point]")
	})

	t.Run("min_should needs min_count", func(t *testing.T) {
		// test_filter_min_should.py::test_missing_min_count.
		c.do("POST", d+"/points/scroll", `{"filter": {"min_should": {"conditions": [{"key": "city", "match": {"any": ["London"]}}]}}}`).wantError(t, 400, "missing field `min_count`")
		step{method: "POST", path: d + "/points/count", body: `{"filter": {"min_should": {"conditions": [{"key": "city", "match": {"any": ["Berlin"]}}], "min_count": 1}}}`, check: wantJSON(`{"count": 1}`)}.run(t, c)
	})

	t.Run("missing and null values", func(t *testing.T) {
		// test_filter_values_count_missing_field.py: a missing field has
		// a values_count of 0; test_is_null_array_consistency.py: the
		// is_null condition matches an array holding a null, as the field
		// condition does.
		step{method: "POST", path: d + "/points/count", body: `{"filter": {"must": [{"key": "city", "values_count": {"lt": 1}}]}}`, check: wantJSON(`{"count": 1}`)}.run(t, c)
		step{method: "PUT", path: d + "/points/payload?wait=true", body: `{"payload": {"s": [null, "a"]}, "points": [2]}`}.run(t, c)
		for _, f := range []string{`{"is_null": {"key": "s"}}`, `{"key": "s", "is_null": true}`} {
			step{method: "POST", path: d + "/points/count", body: `{"filter": {"must": [` + f + `]}}`, check: wantJSON(`{"count": 1}`)}.run(t, c)
		}
		step{method: "POST", path: d + "/points/payload/clear?wait=true", body: `{"points": [2]}`}.run(t, c)
	})

	t.Run("empty payload asked for is {}", func(t *testing.T) {
		// test_batch_update.py: a point without payload reads back with
		// "payload": {} when payloads are asked for, absent otherwise.
		step{method: "GET", path: d + "/points/2", check: wantContains(`"payload":{}`)}.run(t, c)
		step{method: "POST", path: d + "/points", body: `{"ids": [2], "with_payload": true}`, check: wantJSON(`[{"id": 2, "payload": {}}]`)}.run(t, c)
		step{method: "POST", path: d + "/points", body: `{"ids": [2], "with_payload": false}`, check: wantJSON(`[{"id": 2}]`)}.run(t, c)
		step{method: "POST", path: d + "/points/scroll", body: `{"filter": {"must": [{"has_id": [2]}]}}`, check: wantJSON(`{"points": [{"id": 2, "payload": {}}], "next_page_offset": null}`)}.run(t, c)
	})

	t.Run("create collection aliases", func(t *testing.T) {
		// test_vector_config.py: "quantization" and "optimizer_config" are
		// Qdrant's aliases of quantization_config and optimizers_config.
		step{method: "PUT", path: "/collections/qa", body: `{"vectors": {"size": 4, "distance": "Dot"}, "quantization": {"scalar": {"type": "int8", "quantile": 0.5}}, "optimizer_config": {"indexing_threshold": 0}}`}.run(t, c)
		step{method: "GET", path: "/collections/qa", check: wantContains(`"quantization_config":{"scalar":{"type":"int8","quantile":0.5}}`, `"indexing_threshold":0`)}.run(t, c)
		c.do("PUT", "/collections/qb", `{"vectors": {"size": 4, "distance": "Dot"}, "quantization": {"scalar": {"type": "int8"}}, "quantization_config": {"scalar": {"type": "int8"}}}`).wantError(t, 400, "duplicate field `quantization_config`")
	})
}

// TestQdrantSuiteTelemetry covers test_service.py: the request statistics
// at every details level under Qdrant's endpoint names, and the sections
// and collection entries of each level.
func TestQdrantSuiteTelemetry(t *testing.T) {
	c := newRealServer(t, Options{}, auth.Options{})
	step{method: "PUT", path: "/collections/tl", body: `{"vectors": {"size": 2, "distance": "Dot"}}`}.run(t, c)
	step{method: "PUT", path: "/collections/tl/points?wait=true", body: `{"points": [{"id": 1, "vector": [1, 0]}]}`}.run(t, c)
	keys := func(m map[string]json.RawMessage) string {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		return strings.Join(ks, ",")
	}
	for _, tc := range []struct {
		level            string
		top, collections string
		entry            string
	}{
		{"0", "app,cluster,collections,id,requests", "number_of_collections", ""},
		{"1", "app,cluster,collections,hardware,id,memory,requests", "collections,number_of_collections", "optimizers_status,params,vectors"},
		{"2", "app,cluster,collections,hardware,id,memory,requests", "collections,number_of_collections", "config,id,init_time_ms"},
		{"3", "app,cluster,collections,hardware,id,memory,requests", "collections,number_of_collections", "config,id,init_time_ms,resharding,shards,transfers"},
	} {
		res := step{method: "GET", path: "/telemetry?details_level=" + tc.level}.run(t, c)
		var top map[string]json.RawMessage
		if err := json.Unmarshal(res, &top); err != nil {
			t.Fatal(err)
		}
		if got := keys(top); got != tc.top {
			t.Errorf("level %s: sections %s, want %s", tc.level, got, tc.top)
		}
		var colls struct {
			Collections []map[string]json.RawMessage `json:"collections"`
		}
		var cm map[string]json.RawMessage
		if err := json.Unmarshal(top["collections"], &cm); err != nil {
			t.Fatal(err)
		}
		if got := keys(cm); got != tc.collections {
			t.Errorf("level %s: collections %s, want %s", tc.level, got, tc.collections)
		}
		if tc.entry != "" {
			if err := json.Unmarshal(top["collections"], &colls); err != nil || len(colls.Collections) != 1 {
				t.Fatalf("level %s: %s (%v)", tc.level, top["collections"], err)
			}
			if got := keys(colls.Collections[0]); got != tc.entry {
				t.Errorf("level %s: collection entry %s, want %s", tc.level, got, tc.entry)
			}
		}
		var req struct {
			REST struct {
				Responses map[string]map[string]struct {
					Count uint64 `json:"count"`
				} `json:"responses"`
			} `json:"rest"`
		}
		if err := json.Unmarshal(top["requests"], &req); err != nil || req.REST.Responses["PUT /collections/{name}/points"]["200"].Count != 1 {
			t.Errorf("level %s: requests %s (%v), want one PUT /collections/{name}/points", tc.level, top["requests"], err)
		}
	}
	res := step{method: "GET", path: "/telemetry?details_level=3"}.run(t, c)
	if !strings.Contains(string(res), `"num_points":1`) || !strings.Contains(string(res), `"partial_snapshot":null`) {
		t.Errorf("level 3 shard: %s", res)
	}
}

// TestQdrantSuiteThirdRound covers the differences that the third run of
// Qdrant's REST suite found (test_query.py, test_distance_matrix.py,
// test_multicollection_reco.py).
func TestQdrantSuiteThirdRound(t *testing.T) {
	c := newRealServer(t, Options{}, auth.Options{})
	const d = "/collections/q3"
	step{method: "PUT", path: d, body: `{"vectors": {"size": 4, "distance": "Dot"}}`}.run(t, c)
	step{method: "PUT", path: d + "/points?wait=true", body: `{"points": [
		{"id": 1, "vector": [0.05, 0.61, 0.76, 0.74]},
		{"id": 2, "vector": [0.19, 0.81, 0.75, 0.11]},
		{"id": 3, "vector": [0.36, 0.55, 0.47, 0.94]},
		{"id": 4, "vector": [0.18, 0.01, 0.85, 0.80]},
		{"id": 5, "vector": [0.24, 0.18, 0.22, 0.44]}
	]}`}.run(t, c)

	t.Run("query structure", func(t *testing.T) {
		// test_query.py::test_query_validation: Qdrant's texts, at the root
		// and inside prefetches.
		merge := "Bad request: A query is needed to merge the prefetches. Can't have prefetches without defining a query."
		c.do("POST", d+"/points/query", `{"prefetch": [{"query": {"recommend": {"positive": [1]}}}]}`).wantError(t, 400, merge)
		c.do("POST", d+"/points/query", `{"prefetch": {"prefetch": {"query": [1, 0, 0, 0]}}, "query": {"fusion": "rrf"}}`).wantError(t, 400, merge)
		c.do("POST", d+"/points/query", `{"score_threshold": 10}`).wantError(t, 400,
			"Bad request: A query is needed to use the score_threshold. Can't have score_threshold without defining a query.")
		c.do("POST", d+"/points/query", `{"score_threshold": 10, "query": {"order_by": {"key": "price"}}}`).wantError(t, 400,
			"Bad request: Can't use score_threshold with an order_by query.")
		c.do("POST", d+"/points/query", `{"query": {"recommend": {"positive": [1]}}, "limit": 0}`).wantError(t, 422,
			"Validation error in JSON body: [internal.limit: value 0 invalid, must be 1 or larger]")
		// A prefetch without a query of its own, under a query, is fine.
		step{method: "POST", path: d + "/points/query", body: `{"prefetch": {"limit": 1000}, "query": [1, 0, 0, 0]}`, check: wantContains(`"id":3`)}.run(t, c)
	})

	t.Run("distance matrix in id order", func(t *testing.T) {
		// test_distance_matrix.py: a sample that takes every point lists
		// them in id order.
		for range 5 {
			res := step{method: "POST", path: d + "/points/search/matrix/offsets", body: `{"sample": 10, "limit": 1}`}.run(t, c)
			var m struct {
				IDs []int `json:"ids"`
			}
			if err := json.Unmarshal(res, &m); err != nil {
				t.Fatal(err)
			}
			if !sort.IntsAreSorted(m.IDs) || len(m.IDs) != 5 {
				t.Fatalf("ids %v, want 1..5 ascending", m.IDs)
			}
		}
	})

	t.Run("lookup reads points before the vector name", func(t *testing.T) {
		// test_multicollection_reco.py: a point missing from the lookup
		// collection is 404 even when the vector name is unknown; a present
		// point with an unknown vector name is 400.
		step{method: "PUT", path: "/collections/q3other", body: `{"vectors": {"other": {"size": 4, "distance": "Dot"}}}`}.run(t, c)
		step{method: "PUT", path: "/collections/q3other/points?wait=true", body: `{"points": [{"id": 1, "vector": {"other": [1, 0, 0, 0]}}]}`}.run(t, c)
		c.do("POST", d+"/points/recommend", `{"limit": 3, "positive": [2], "lookup_from": {"collection": "q3other", "vector": "unknown_vector"}}`).wantError(t, 404, "No point with id 2 found")
		c.do("POST", d+"/points/recommend", `{"limit": 3, "positive": [1], "lookup_from": {"collection": "q3other", "vector": "unknown_vector"}}`).wantError(t, 400, "Not existing vector name error: unknown_vector")
	})

	t.Run("multi-vector shapes and the one-vector form", func(t *testing.T) {
		// test_multi_vector.py, test_multi_vector_unnamed.py: Qdrant's 422
		// texts for empty and ragged multi-vectors, its dimension error for
		// an empty one, and a single vector accepted as a multi-vector of one.
		step{method: "PUT", path: "/collections/q3mv", body: `{"vectors": {"mv": {"size": 4, "distance": "Dot", "multivector_config": {"comparator": "max_sim"}}}}`}.run(t, c)
		step{method: "PUT", path: "/collections/q3mvu", body: `{"vectors": {"size": 4, "distance": "Dot", "multivector_config": {"comparator": "max_sim"}}}`}.run(t, c)
		up := func(coll, vec string) response {
			return c.do("PUT", "/collections/"+coll+"/points?wait=true", `{"points": [{"id": 1, "vector": `+vec+`}]}`)
		}
		up("q3mv", `{"mv": []}`).wantError(t, 400, "Wrong input: Vector dimension error: expected dim: 4, got 0")
		up("q3mv", `{"mv": [[]]}`).wantError(t, 422, "Validation error in JSON body: [points[0].vector.?.data: all vectors must be non-empty]")
		up("q3mv", `{"mv": [[1, 2, 3, 4], []]}`).wantError(t, 422, "Validation error in JSON body: [points[0].vector.?.data: all vectors must be non-empty]")
		up("q3mv", `{"mv": [[1, 2, 3, 4], [1, 2, 3]]}`).wantError(t, 422,
			"Validation error in JSON body: [points[0].vector.?.data: all vectors must have the same dimension, found vector with dimension 3]")
		up("q3mvu", `[[1, 2, 3, 4], [1, 2, 3]]`).wantError(t, 422, "Validation error in JSON body: [points[0].vector.data: all vectors must have the same dimension")
		up("q3mvu", `[]`).wantError(t, 400, "Vector dimension error: expected dim: 4, got 0")

		step{method: "PUT", path: "/collections/q3mv/points?wait=true", body: `{"points": [{"id": 2, "vector": {"mv": [0.19, 0.81, 0.75, 0.11]}}]}`}.run(t, c)
		step{method: "GET", path: "/collections/q3mv/points/2", check: wantContains(`"vector":{"mv":[[0.19,0.81,0.75,0.11]]}`)}.run(t, c)
		step{method: "PUT", path: "/collections/q3mvu/points?wait=true", body: `{"points": [{"id": 2, "vector": [0.19, 0.81, 0.75, 0.11]}]}`}.run(t, c)
		step{method: "GET", path: "/collections/q3mvu/points/2", check: wantContains(`"vector":[[0.19,0.81,0.75,0.11]]`)}.run(t, c)
		// update_vectors takes the one-vector form too.
		step{method: "PUT", path: "/collections/q3mv/points/vectors?wait=true", body: `{"points": [{"id": 2, "vector": {"mv": [1, 0, 0, 0]}}]}`}.run(t, c)
		step{method: "GET", path: "/collections/q3mv/points/2", check: wantContains(`"vector":{"mv":[[1,0,0,0]]}`)}.run(t, c)
	})

	t.Run("sparse vectors of a point", func(t *testing.T) {
		// test_sparse_vector_validations.py: the point's path and the
		// validator's code-only wording.
		step{method: "PUT", path: "/collections/q3sp", body: `{"sparse_vectors": {"text": {}}}`}.run(t, c)
		c.do("PUT", "/collections/q3sp/points?wait=true", `{"points": [{"id": 1, "vector": {"text": {"indices": [0], "values": [1]}}}, {"id": 2, "vector": {"text": {"indices": [100, 500], "values": [0.9, 0.8, 0.5]}}}]}`).wantError(t, 422,
			"Validation error in JSON body: [points[1].vector.?.values: Validation error: must be the same length as indices [{}]]")
		c.do("PUT", "/collections/q3sp/points?wait=true", `{"points": [{"id": 1, "vector": {"text": {"indices": [100, 500, 500], "values": [0.9, 0.8, 0.5]}}}]}`).wantError(t, 422,
			"Validation error in JSON body: [points[0].vector.?.indices: Validation error: must be unique [{}]]")
		c.do("PUT", "/collections/q3sp/points/vectors?wait=true", `{"points": [{"id": 1, "vector": {"text": {"indices": [1, 1], "values": [1, 1]}}}]}`).wantError(t, 422,
			"Validation error in JSON body: [points[0].vector.?.indices: Validation error: must be unique [{}]]")
	})

	t.Run("slice condition", func(t *testing.T) {
		// test_filter_slice.py: the slices of one total partition the
		// points (numeric and UUID ids); index >= total is 422, total 0 400.
		seen := map[string]bool{}
		for i := range 4 {
			res := step{method: "POST", path: d + "/points/scroll", body: fmt.Sprintf(`{"filter": {"must": [{"slice": {"total": 4, "index": %d}}]}, "limit": 100}`, i)}.run(t, c)
			var page struct {
				Points []struct {
					ID json.RawMessage `json:"id"`
				} `json:"points"`
			}
			if err := json.Unmarshal(res, &page); err != nil {
				t.Fatal(err)
			}
			for _, p := range page.Points {
				if seen[string(p.ID)] {
					t.Fatalf("point %s in two slices", p.ID)
				}
				seen[string(p.ID)] = true
			}
		}
		if len(seen) != 5 {
			t.Fatalf("slices cover %d of 5 points", len(seen))
		}
		step{method: "POST", path: d + "/points/count", body: `{"filter": {"should": [{"slice": {"total": 1, "index": 0}}]}}`, check: wantJSON(`{"count": 5}`)}.run(t, c)
		c.do("POST", d+"/points/scroll", `{"filter": {"must": [{"slice": {"total": 4, "index": 4}}]}}`).wantError(t, 422, "Validation error in JSON body: [filter.must[0].slice.index: value 4 invalid, must be less than total 4]")
		c.do("POST", d+"/points/scroll", `{"filter": {"must": [{"slice": {"total": 0, "index": 0}}]}}`).wantError(t, 400, "nonzero")
		c.do("POST", d+"/points/query", `{"query": [1, 0, 0, 0], "filter": {"must": [{"slice": {"total": 0, "index": 0}}]}}`).wantError(t, 400, "nonzero")
	})
}

// TestQdrantSuiteFourthRound mirrors the suite cases fixed in the fourth
// round: on_disk multi-vectors (test_multi_vector.py,
// test_multi_vector_unnamed.py and test_multi_vector_uint8.py with
// on_disk_vectors true and false), Euclid multi-vectors, uint8
// multi-vectors converted as Qdrant converts them, on_disk changed by PATCH
// (test_collection_update_multivec.py::test_edit_collection_params) and
// u64 limits (test_query.py::test_basic_search_high_limit).
func TestQdrantSuiteFourthRound(t *testing.T) {
	c := newRealServer(t, Options{}, auth.Options{})
	for _, onDisk := range []bool{false, true} {
		od := fmt.Sprint(onDisk)
		t.Run("multi-vectors on_disk "+od, func(t *testing.T) {
			d := "/collections/q4mv-" + od
			step{method: "PUT", path: d, body: `{"vectors": {"my-multivec": {"size": 4, "distance": "Dot", "on_disk": ` + od + `, "multivector_config": {"comparator": "max_sim"}}}}`}.run(t, c)
			step{method: "GET", path: d, check: wantContains(`"on_disk":` + od)}.run(t, c)
			// test_search_legacy_api: the dimension is checked, an empty
			// collection answers nothing.
			c.do("POST", d+"/points/search", `{"vector": {"name": "my-multivec", "vector": [0.05, 0.61, 0.76]}, "limit": 3}`).wantError(t, 400, "Wrong input: Vector dimension error: expected dim: 4, got 3")
			step{method: "POST", path: d + "/points/search", body: `{"vector": {"name": "my-multivec", "vector": [0.05, 0.61, 0.76, 0.74]}, "limit": 3}`, legacy: "ScoredPoint", check: wantJSON(`[]`)}.run(t, c)
			step{method: "PUT", path: d + "/points?wait=true", body: `{"points": [
				{"id": 1, "vector": {"my-multivec": [[0.05, 0.61, 0.76, 0.74], [0.05, 0.61, 0.76, 0.74], [0.05, 0.61, 0.76, 0.74]]}},
				{"id": 2, "vector": {"my-multivec": [[0.19, 0.81, 0.75, 0.11], [0.19, 0.81, 0.75, 0.11], [0.19, 0.81, 0.75, 0.11]]}},
				{"id": 3, "vector": {"my-multivec": [[0.36, 0.55, 0.47, 0.94], [0.36, 0.55, 0.47, 0.94], [0.36, 0.55, 0.47, 0.94]]}}]}`}.run(t, c)
			step{method: "POST", path: d + "/points/scroll", body: `{"limit": 10, "with_vector": true}`,
				check: wantContains(`{"id":1,"payload":{},"vector":{"my-multivec":[[0.05,0.61,0.76,0.74],[0.05,0.61,0.76,0.74],[0.05,0.61,0.76,0.74]]}}`)}.run(t, c)
			step{method: "GET", path: d + "/points/2", check: wantContains(`"vector":{"my-multivec":[[0.19,0.81,0.75,0.11],[0.19,0.81,0.75,0.11],[0.19,0.81,0.75,0.11]]}`)}.run(t, c)
			step{method: "POST", path: d + "/points/search", body: `{"vector": {"name": "my-multivec", "vector": [0.05, 0.61, 0.76, 0.74]}, "limit": 3}`, legacy: "ScoredPoint", check: wantContains(`"id":1`, `"id":2`, `"id":3`)}.run(t, c)
			// The legacy one-vector form.
			step{method: "PUT", path: d + "/points?wait=true", body: `{"points": [{"id": 4, "vector": {"my-multivec": [0.19, 0.81, 0.75, 0.11]}}]}`}.run(t, c)
			step{method: "GET", path: d + "/points/4", check: wantContains(`"vector":{"my-multivec":[[0.19,0.81,0.75,0.11]]}`)}.run(t, c)
			step{method: "POST", path: d + "/points/delete?wait=true", body: `{"points": [2]}`}.run(t, c)
			c.do("GET", d+"/points/2", "").wantError(t, 404, "No point with id 2 found")
			c.do("PUT", d+"/points?wait=true", `{"points": [{"id": 1, "vector": {"my-multivec": [[0.05, 0.61, 0.76, 0.74], [0.05, 0.61, 0.76]]}}]}`).wantError(t, 422,
				"Validation error in JSON body: [points[0].vector.?.data: all vectors must have the same dimension, found vector with dimension 3")

			// test_multi_vector_unnamed.py: the same for the unnamed vector.
			u := "/collections/q4mvu-" + od
			step{method: "PUT", path: u, body: `{"vectors": {"size": 4, "distance": "Dot", "on_disk": ` + od + `, "multivector_config": {"comparator": "max_sim"}}}`}.run(t, c)
			step{method: "PUT", path: u + "/points?wait=true", body: `{"points": [{"id": 1, "vector": [[0.05, 0.61, 0.76, 0.74], [0.19, 0.81, 0.75, 0.11]]}, {"id": 2, "vector": [0.36, 0.55, 0.47, 0.94]}]}`}.run(t, c)
			step{method: "GET", path: u + "/points/1", check: wantContains(`"vector":[[0.05,0.61,0.76,0.74],[0.19,0.81,0.75,0.11]]`)}.run(t, c)
			step{method: "POST", path: u + "/points/query", body: `{"query": [[0.36, 0.55, 0.47, 0.94]], "limit": 1}`, check: wantContains(`"id":2`)}.run(t, c)

			// test_multi_with_euclidean: the square root of the sum of the
			// smallest squared distances.
			e := "/collections/q4eu-" + od
			step{method: "PUT", path: e, body: `{"vectors": {"my-multivec": {"size": 3, "distance": "Euclid", "on_disk": ` + od + `, "multivector_config": {"comparator": "max_sim"}}}}`}.run(t, c)
			step{method: "PUT", path: e + "/points?wait=true", body: `{"points": [
				{"id": 1, "vector": {"my-multivec": [[1.0, 2.0, 3.0], [3.0, 3.0, 3.0], [4.0, 5.0, 6.0]]}},
				{"id": 2, "vector": {"my-multivec": [[3.0, 3.0, 3.0], [4.0, 2.0, 1.0]]}}]}`}.run(t, c)
			step{method: "GET", path: e + "/points/2", check: wantContains(`"vector":{"my-multivec":[[3,3,3],[4,2,1]]}`)}.run(t, c)
			step{method: "POST", path: e + "/points/query", body: `{"query": [[1.0, 2.0, 3.0], [3.0, 3.0, 3.0], [4.0, 5.0, 6.0]], "using": "my-multivec", "limit": 10}`,
				check: wantContains(`"points":[{"id":1,"version":1,"score":0},{"id":2,"version":1,"score":4.358899}]`)}.run(t, c)

			// test_multi_vector_uint8.py: floats are truncated and clamped.
			b := "/collections/q4u8-" + od
			step{method: "PUT", path: b, body: `{"vectors": {"my-multivec": {"size": 4, "distance": "Dot", "on_disk": ` + od + `, "datatype": "uint8", "multivector_config": {"comparator": "max_sim"}}}}`}.run(t, c)
			step{method: "PUT", path: b + "/points?wait=true", body: `{"points": [
				{"id": 1, "vector": {"my-multivec": [[1.05, 1.61, 1.76, 1.74], [2.05, 2.61, 2.76, 2.74], [3.05, 3.61, 3.76, 3.74]]}},
				{"id": 2, "vector": {"my-multivec": [[3.19, 3.81, 3.75, 3.11], [2.19, 2.81, 2.75, 2.11], [1.19, 1.81, 1.75, 1.11]]}},
				{"id": 3, "vector": {"my-multivec": [[256.19, 1.81, -2.75, 3.11]]}}]}`}.run(t, c)
			step{method: "POST", path: b + "/points/scroll", body: `{"limit": 10, "with_vector": true}`,
				check: wantContains(`{"id":1,"payload":{},"vector":{"my-multivec":[[1,1,1,1],[2,2,2,2],[3,3,3,3]]}}`)}.run(t, c)
			step{method: "GET", path: b + "/points/2", check: wantContains(`"vector":{"my-multivec":[[3,3,3,3],[2,2,2,2],[1,1,1,1]]}`)}.run(t, c)
			step{method: "GET", path: b + "/points/3", check: wantContains(`"vector":{"my-multivec":[[255,1,0,3]]}`)}.run(t, c)
			// MaxSim over the stored integers: point 3 scores 255+1+0+3.
			step{method: "POST", path: b + "/points/query", body: `{"query": [[1, 1, 1, 1]], "using": "my-multivec", "limit": 1}`,
				check: wantContains(`"points":[{"id":3,"version":1,"score":259}]`)}.run(t, c)
			// The query is converted as Qdrant converts it: 1.9 is 1.
			step{method: "POST", path: b + "/points/query", body: `{"query": [[1.9, 1.9, 1.9, 1.9]], "using": "my-multivec", "limit": 1}`,
				check: wantContains(`"points":[{"id":3,"version":1,"score":259}]`)}.run(t, c)
		})

		for _, onDiskPayload := range []bool{false, true} {
			odp := fmt.Sprint(onDiskPayload)
			t.Run("edit collection params on_disk "+od+" payload "+odp, func(t *testing.T) {
				// test_collection_update_multivec.py::test_edit_collection_params
				// (its multivec_collection_setup: image, text, sparse vectors).
				d := "/collections/q4edit-" + od + "-" + odp
				step{method: "PUT", path: d, body: `{"vectors": {"image": {"size": 4, "distance": "Dot", "on_disk": ` + od + `}, "text": {"size": 8, "distance": "Cosine", "on_disk": ` + od + `}},
					"sparse_vectors": {"sparse-image": {}, "sparse-text": {}}}`}.run(t, c)
				step{method: "PUT", path: d + "/points?wait=true", body: `{"points": [
					{"id": 1, "vector": {"image": [0.05, 0.61, 0.76, 0.74], "text": [0.05, 0.61, 0.76, 0.74, 0.05, 0.61, 0.76, 0.74]}},
					{"id": 2, "vector": {"image": [0.19, 0.81, 0.75, 0.11], "text": [0.19, 0.81, 0.75, 0.11, 0.19, 0.81, 0.75, 0.11]}}]}`}.run(t, c)
				type info struct {
					Config struct {
						Params struct {
							Vectors map[string]struct {
								OnDisk             *bool           `json:"on_disk"`
								HnswConfig         map[string]any  `json:"hnsw_config"`
								QuantizationConfig json.RawMessage `json:"quantization_config"`
							} `json:"vectors"`
							OnDiskPayload bool `json:"on_disk_payload"`
						} `json:"params"`
						HnswConfig         map[string]any  `json:"hnsw_config"`
						QuantizationConfig json.RawMessage `json:"quantization_config"`
					} `json:"config"`
				}
				get := func() info {
					t.Helper()
					var in info
					if err := json.Unmarshal(step{method: "GET", path: d}.run(t, c), &in); err != nil {
						t.Fatal(err)
					}
					return in
				}
				in := get()
				if v := in.Config.Params.Vectors["text"].OnDisk; v == nil || *v != onDisk {
					t.Fatalf("text on_disk %v, want %v", v, onDisk)
				}
				step{method: "PATCH", path: d, body: `{"vectors": {"text": {"hnsw_config": {"m": 32}, "quantization_config": {"scalar": {"type": "int8", "quantile": 0.8}}, "on_disk": true}},
					"hnsw_config": {"ef_construct": 123}, "quantization_config": {"scalar": {"type": "int8", "quantile": 0.99, "always_ram": true}},
					"params": {"on_disk_payload": ` + odp + `}}`}.run(t, c)
				in = get()
				text := in.Config.Params.Vectors["text"]
				if text.OnDisk == nil || !*text.OnDisk || text.HnswConfig["m"] != 32.0 || string(text.QuantizationConfig) != `{"scalar":{"type":"int8","quantile":0.8}}` ||
					in.Config.Params.OnDiskPayload != onDiskPayload || in.Config.HnswConfig["m"] != 16.0 || in.Config.HnswConfig["ef_construct"] != 123.0 ||
					string(in.Config.QuantizationConfig) != `{"scalar":{"type":"int8","quantile":0.99,"always_ram":true}}` {
					t.Fatalf("after the first PATCH: %+v", in)
				}
				step{method: "PATCH", path: d, body: `{"vectors": {"text": {"hnsw_config": {"m": 10, "ef_construct": 100}, "quantization_config": {"product": {"compression": "x32", "always_ram": true}}, "on_disk": false}},
					"params": {"on_disk_payload": ` + fmt.Sprint(!onDiskPayload) + `}}`}.run(t, c)
				in = get()
				text = in.Config.Params.Vectors["text"]
				if text.OnDisk == nil || *text.OnDisk || text.HnswConfig["m"] != 10.0 || text.HnswConfig["ef_construct"] != 100.0 ||
					string(text.QuantizationConfig) != `{"product":{"compression":"x32","always_ram":true}}` || in.Config.Params.OnDiskPayload == onDiskPayload {
					t.Fatalf("after the second PATCH: %+v", in)
				}
				step{method: "PATCH", path: d, body: `{"vectors": {"text": {"quantization_config": "Disabled"}}}`}.run(t, c)
				if q := get().Config.Params.Vectors["text"].QuantizationConfig; q != nil && string(q) != "null" {
					t.Fatalf("quantization after Disabled: %s", q)
				}
				// The points are still there, their vectors too.
				step{method: "GET", path: d + "/points/2", check: wantContains(`"image":[0.19,0.81,0.75,0.11]`)}.run(t, c)
				step{method: "POST", path: d + "/points/query", body: `{"query": [0.19, 0.81, 0.75, 0.11, 0.19, 0.81, 0.75, 0.11], "using": "text", "limit": 1}`, check: wantContains(`"id":2`)}.run(t, c)
			})
		}
	}

	t.Run("u64 limit", func(t *testing.T) {
		// test_query.py::test_basic_search_high_limit: u64::MAX as the
		// limit of a search, a query and a query over a prefetch answers
		// every point, the same each way.
		const d = "/collections/q4lim"
		step{method: "PUT", path: d, body: `{"vectors": {"size": 4, "distance": "Dot"}}`}.run(t, c)
		step{method: "PUT", path: d + "/points?wait=true", body: demoPoints}.run(t, c)
		const max = "18446744073709551615"
		search := step{method: "POST", path: d + "/points/search", body: `{"vector": [0.1, 0.2, 0.3, 0.4], "limit": ` + max + `}`, legacy: "ScoredPoint"}.run(t, c)
		root := step{method: "POST", path: d + "/points/query", body: `{"query": [0.1, 0.2, 0.3, 0.4], "limit": ` + max + `}`}.run(t, c)
		nested := step{method: "POST", path: d + "/points/query", body: `{"prefetch": {"limit": 1000}, "query": {"nearest": [0.1, 0.2, 0.3, 0.4]}}`}.run(t, c)
		deep := step{method: "POST", path: d + "/points/query", body: `{"prefetch": {"limit": ` + max + `}, "query": [0.1, 0.2, 0.3, 0.4], "limit": ` + max + `, "offset": ` + max + `}`}.run(t, c)
		var pts struct {
			Points json.RawMessage `json:"points"`
		}
		if err := json.Unmarshal(root, &pts); err != nil {
			t.Fatal(err)
		}
		var n []any
		if err := json.Unmarshal(search, &n); err != nil || len(n) != 6 {
			t.Fatalf("search with a u64 limit: %d points, want all 6 (%v)", len(n), err)
		}
		if string(pts.Points) != string(search) {
			t.Fatalf("query %s\nsearch %s", pts.Points, search)
		}
		var np struct {
			Points json.RawMessage `json:"points"`
		}
		if err := json.Unmarshal(nested, &np); err != nil || string(np.Points) != string(search) {
			t.Fatalf("nested query %s\nsearch %s", np.Points, search)
		}
		if string(deep) != `{"points":[]}` {
			t.Fatalf("u64 offset: %s", deep)
		}
		step{method: "POST", path: d + "/points/scroll", body: `{"limit": ` + max + `}`, check: wantContains(`"id":6`, `"next_page_offset":null`)}.run(t, c)
		// Strict mode still counts the limit as given, and a negative or
		// fractional limit stays a format error.
		step{method: "PATCH", path: d, body: `{"strict_mode_config": {"enabled": true, "max_query_limit": 5}}`}.run(t, c)
		c.do("POST", d+"/points/query", `{"query": [0.1, 0.2, 0.3, 0.4], "limit": `+max+`}`).wantError(t, 400, `Limit exceeded 2147483647 > 5 for "limit"`)
		c.do("POST", d+"/points/search", `{"vector": [0.1, 0.2, 0.3, 0.4], "limit": 6}`).wantError(t, 400, `Limit exceeded 6 > 5 for "limit"`)
		c.do("POST", d+"/points/query", `{"query": [0.1, 0.2, 0.3, 0.4], "limit": -`+max+`}`).wantError(t, 400, "Format error in JSON body")
		c.do("POST", d+"/points/query", `{"query": [0.1, 0.2, 0.3, 0.4], "limit": 1.5}`).wantError(t, 400, "Format error in JSON body")
	})
}

// TestQdrantSuiteFifthRound covers what the fifth run of Qdrant's REST suite
// found (test_strictmode.py): a write that selects its points by filter
// costs the write rate limiter the filter's expected cardinality (an
// unindexed condition expects half of the points), and a 429 of the rate
// limiter carries Retry-After.
func TestQdrantSuiteFifthRound(t *testing.T) {
	c := newRealServer(t, Options{}, auth.Options{})
	d := "/collections/q5rate"
	step{method: "PUT", path: d, body: `{"vectors": {"size": 4, "distance": "Dot"}}`}.run(t, c)
	var pts []string
	for i := 1; i <= 10; i++ {
		pts = append(pts, fmt.Sprintf(`{"id": %d, "vector": [0.1, 0.2, 0.3, 0.4], "payload": {"city": "Berlin"}}`, i))
	}
	step{method: "PUT", path: d + "/points?wait=true", body: `{"points": [` + strings.Join(pts, ",") + `]}`}.run(t, c)
	step{method: "PATCH", path: d, body: `{"strict_mode_config": {"enabled": true, "write_rate_limit": 7}}`}.run(t, c)
	// 10 points, "City" unindexed: 5 expected, 5 tokens; 2 left.
	step{method: "PUT", path: d + "/points/payload", body: `{"payload": {"City": "Not Berlin"}, "filter": {"must": [{"key": "City", "match": {"value": "Berlin"}}]}}`}.run(t, c)
	r := c.do("PUT", d+"/points/payload", `{"payload": {"City": "Not London"}, "filter": {"must": [{"key": "City", "match": {"value": "London"}}]}}`)
	r.wantError(t, 429, "Rate limiting exceeded: Write rate limit exceeded: Operation requires 5 tokens but only 2.0 were available. Retry after")
	if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After %q, want the seconds to wait", ra)
	}
	// test_query_full.py: a missing lookup_from collection, at the root or
	// in a prefetch, has Qdrant's own text.
	for _, body := range []string{
		`{"query": {"recommend": {"positive": [1], "negative": [2]}}, "lookup_from": {"collection": "non-existing-collection", "vector": "other"}}`,
		`{"prefetch": [{"query": {"recommend": {"positive": [1]}}, "lookup_from": {"collection": "non-existing-collection", "vector": "other"}}], "query": {"fusion": "rrf"}}`,
	} {
		c.do("POST", d+"/points/query", body).wantError(t, 404, "Not found: Collection non-existing-collection not found")
	}
	c.do("POST", d+"/points/query/groups", `{"query": {"recommend": {"positive": [1]}}, "group_by": "city", "lookup_from": {"collection": "nope"}}`).wantError(t, 404, "Not found: Collection nope not found")
	// Selection by ids still costs one token per id.
	step{method: "POST", path: d + "/points/payload", body: `{"payload": {"a": 1}, "points": [1]}`}.run(t, c)
	c.do("POST", d+"/points/payload", `{"payload": {"a": 1}, "points": [1, 2]}`).wantError(t, 429, "Operation requires 2 tokens but only 1.0 were available")
}

// TestQdrantSuiteMultiRecommend covers test_recommendation_multivector.py
// and test_sparse_vector_persistence.py: recommendations on a multi-vector
// (Qdrant's average_vector searches with the positive examples' rows
// followed by the negated rows of the negative ones; best_score and
// sum_scores compare every example by MaxSim), and the texts of a create
// request whose sparse vector names are empty or taken by a dense vector.
func TestQdrantSuiteMultiRecommend(t *testing.T) {
	c := newRealServer(t, Options{}, auth.Options{})
	d := "/collections/q5multireco"
	step{method: "PUT", path: d, body: `{"vectors": {"size": 2, "distance": "Dot", "multivector_config": {"comparator": "max_sim"}}}`}.run(t, c)
	step{method: "PUT", path: d + "/points?wait=true", body: `{"points": [
		{"id": 1, "vector": [[-1, 1], [-2, 2], [-3, 3]]},
		{"id": 2, "vector": [[-1.5, 1.5], [-2.5, 2.5], [-3.5, 3.5]]},
		{"id": 3, "vector": [[-1.7, 1.7], [-2.7, 2.7], [-3.7, 3.7]]}]}`}.run(t, c)
	// MaxSim to [1, 2]: 3, 3.5, 3.7; to [4, 3]: -1, -1.5, -1.7.
	avg := wantScores(map[int]float64{1: 6, 2: 7, 3: 7.4})
	step{method: "POST", path: d + "/points/query", body: `{"query": {"recommend": {"positive": [[[1, 2]]], "negative": [[4, 3]]}}}`, check: avg}.run(t, c)
	step{method: "POST", path: d + "/points/query", body: `{"query": [[1, 2], [-4, -3]]}`, check: avg}.run(t, c)
	step{method: "POST", path: d + "/points/query", body: `{"query": {"recommend": {"positive": [[1, 2]], "strategy": "average_vector"}}}`,
		check: wantScores(map[int]float64{1: 3, 2: 3.5, 3: 3.7})}.run(t, c)
	step{method: "POST", path: d + "/points/query", body: `{"query": {"recommend": {"positive": [[1, 2]], "negative": [[4, 3]], "strategy": "sum_scores"}}}`,
		check: wantScores(map[int]float64{1: 4, 2: 5, 3: 5.4})}.run(t, c)
	sig := func(x float64) float64 { return 0.5 * (x/(1+math.Abs(x)) + 1) }
	step{method: "POST", path: d + "/points/query", body: `{"query": {"recommend": {"negative": [[1, 2]], "strategy": "best_score"}}}`,
		check: wantScores(map[int]float64{1: -sig(3), 2: -sig(3.5), 3: -sig(3.7)})}.run(t, c)
	// A positive that beats every negative scores sigmoid(s+).
	step{method: "POST", path: d + "/points/query", body: `{"query": {"recommend": {"positive": [[1, 2]], "negative": [[4, 3]], "strategy": "best_score"}}}`,
		check: wantScores(map[int]float64{1: sig(3), 2: sig(3.5), 3: sig(3.7)})}.run(t, c)
	// Point ids as examples: the point's multi-vector, the point excluded.
	step{method: "POST", path: d + "/points/query", body: `{"query": {"recommend": {"positive": [3], "strategy": "best_score"}}}`, check: wantIDs(2, 1)}.run(t, c)
	// The legacy route and the suite's refusals.
	step{method: "POST", path: d + "/points/recommend", body: `{"negative": [[1, 2]], "strategy": "best_score", "limit": 5}`, legacy: "ScoredPoint", check: wantIDs(1, 2, 3)}.run(t, c)
	c.do("POST", d+"/points/recommend", `{"positive": [[]], "limit": 2}`).wantError(t, 400, "Vector dimension error: expected dim: 2, got 0")
	c.do("POST", d+"/points/recommend", `{"positive": [], "strategy": "best_score", "limit": 2}`).wantError(t, 400, "")
	c.do("POST", d+"/points/query", `{"query": {"context": [{"positive": [1, 2], "negative": [2, 1]}]}}`).wantError(t, 400, "not supported by this server")

	c.do("PUT", "/collections/q5names", `{"vectors": {"image": {"size": 2, "distance": "Euclid"}}, "sparse_vectors": {"image": {}}}`).wantError(t, 400,
		"Wrong input: Dense and sparse vector names must be unique - duplicate found with 'image'")
	c.do("PUT", "/collections/q5names", `{"vectors": {"size": 2, "distance": "Euclid"}, "sparse_vectors": {"": {}}}`).wantError(t, 400,
		"Wrong input: Sparse vector name cannot be empty")
	c.do("PUT", "/collections/q5names", `{"sparse_vectors": {"": {}}}`).wantError(t, 400, "Wrong input: Sparse vector name cannot be empty")
}

// TestQdrantSuiteReadCosts covers the newest test_strictmode.py's read
// rate limiting (a retrieve costs a token per id, a scroll one plus one
// per filter condition, a recommendation one per example; a request
// costing more than the whole limit is refused outright) and its
// max_query_limit on a distance matrix (sample × limit pairs).
func TestQdrantSuiteReadCosts(t *testing.T) {
	c := newRealServer(t, Options{}, auth.Options{})
	d := "/collections/q5reads"
	step{method: "PUT", path: d, body: `{"vectors": {"size": 4, "distance": "Dot"}}`}.run(t, c)
	var pts []string
	for i := 1; i <= 10; i++ {
		pts = append(pts, fmt.Sprintf(`{"id": %d, "vector": [0.%d, 0.2, 0.3, 0.4], "payload": {"price": %d}}`, i, i%10, i))
	}
	step{method: "PUT", path: d + "/points?wait=true", body: `{"points": [` + strings.Join(pts, ",") + `]}`}.run(t, c)
	limit := func(n int) {
		t.Helper()
		step{method: "PATCH", path: d, body: fmt.Sprintf(`{"strict_mode_config": {"enabled": true, "read_rate_limit": %d}}`, n)}.run(t, c)
	}
	tooLarge := "Rate limiting exceeded: Read rate limit exceeded, request larger than rate limiter capacity, please try to split your request"

	limit(4)
	c.do("POST", d+"/points", `{"ids": [1, 2, 3, 4, 5]}`).wantError(t, 429, tooLarge)
	step{method: "POST", path: d + "/points", body: `{"ids": [1, 2, 3, 4]}`}.run(t, c)
	c.do("POST", d+"/points", `{"ids": [1, 2, 3, 4]}`).wantError(t, 429, "Read rate limit exceeded: Operation requires 4 tokens but only 0.0 were available")
	c.do("POST", d+"/points/recommend", `{"positive": [1, 2, 3, 4, 5], "strategy": "best_score", "limit": 10}`).wantError(t, 429, tooLarge)
	c.do("POST", d+"/points/query", `{"query": {"recommend": {"positive": [1, 2, 3], "negative": [4, 5]}}}`).wantError(t, 429, tooLarge)

	limit(10)
	conds := func(n int) string {
		var cs []string
		for i := 0; i < n; i++ {
			cs = append(cs, fmt.Sprintf(`{"key": "price", "match": {"value": %d}}`, i))
		}
		return `{"filter": {"must": [` + strings.Join(cs, ",") + `]}}`
	}
	c.do("POST", d+"/points/scroll", conds(11)).wantError(t, 429, tooLarge)
	step{method: "POST", path: d + "/points/scroll", body: conds(6)}.run(t, c)
	c.do("POST", d+"/points/scroll", conds(6)).wantError(t, 429, "Read rate limit exceeded: Operation requires 7 tokens")

	step{method: "PATCH", path: d, body: `{"strict_mode_config": {"enabled": true, "read_rate_limit": 1000, "max_query_limit": 15}}`}.run(t, c)
	c.do("POST", d+"/points/search/matrix/pairs", `{"sample": 10, "limit": 2}`).wantError(t, 400, `Limit exceeded 20 > 15 for "limit"`)
	c.do("POST", d+"/points/search/matrix/offsets", `{"sample": 6, "limit": 3}`).wantError(t, 400, `Limit exceeded 18 > 15`)
	c.do("POST", d+"/points/search/matrix/offsets", `{"sample": 16}`).wantError(t, 400, `Limit exceeded 16 > 15`)
	step{method: "POST", path: d + "/points/search/matrix/offsets", body: `{"sample": 5, "limit": 3}`}.run(t, c)
	step{method: "POST", path: d + "/points/search/matrix/offsets", body: `{}`}.run(t, c)
}

// TestQdrantSuiteMemoryPlacement covers test_memory_placement.py: Qdrant
// 1.19's memory placements on REST, echoed as given in the collection info
// and translated into the on_disk flags Shoal's storage follows (cold is
// on disk; pinned refused for dense vectors and payloads, with a 422).
func TestQdrantSuiteMemoryPlacement(t *testing.T) {
	c := newRealServer(t, Options{}, auth.Options{})
	d := "/collections/q5memory"
	step{method: "PUT", path: d, body: `{"vectors": {"size": 4, "distance": "Dot", "memory": "cached", "hnsw_config": {"memory": "cold"},
		"quantization_config": {"scalar": {"type": "int8", "memory": "pinned"}}},
		"sparse_vectors": {"sparse": {"index": {"memory": "cold"}}}, "payload": {"memory": "cached"}}`}.run(t, c)
	step{method: "GET", path: d, check: wantContains(`"memory":"cached"`, `"hnsw_config":{"on_disk":true,"memory":"cold"}`,
		`"index":{"on_disk":true,"memory":"cold"}`, `"on_disk_payload":false,"payload":{"memory":"cached"}`)}.run(t, c)
	step{method: "PUT", path: d + "/index?wait=true", body: `{"field_name": "keyword_field", "field_schema": {"type": "keyword", "memory": "cold"}}`}.run(t, c)
	step{method: "GET", path: d, check: wantContains(`"keyword_field":{"data_type":"keyword","params":{"memory":"cold"`)}.run(t, c)

	// A PATCH moves the vectors and the payload, and keeps the placement.
	step{method: "PATCH", path: d, body: `{"vectors": {"": {"memory": "cold"}}, "params": {"payload": {"memory": "cold"}}}`}.run(t, c)
	step{method: "GET", path: d, check: wantContains(`"on_disk":true,"memory":"cold"`, `"on_disk_payload":true,"payload":{"memory":"cold"}`)}.run(t, c)
	step{method: "PUT", path: d + "/points?wait=true", body: `{"points": [{"id": 1, "vector": [1, 2, 3, 4]}]}`}.run(t, c)
	step{method: "POST", path: d + "/points/query", body: `{"query": [1, 0, 0, 0]}`, check: wantIDs(1)}.run(t, c)

	c.do("PATCH", d, `{"vectors": {"": {"memory": "pinned"}}}`).wantError(t, 422, "Validation error in JSON body: [vectors.memory: the pinned placement is not supported")
	c.do("PUT", "/collections/q5pinned", `{"vectors": {"size": 4, "distance": "Dot", "memory": "pinned"}}`).wantError(t, 422, "[vectors.memory: the pinned placement")
	c.do("PUT", "/collections/q5pinned", `{"vectors": {"size": 4, "distance": "Dot"}, "payload": {"memory": "pinned"}}`).wantError(t, 422, "[payload.memory: the pinned placement")
	c.do("PUT", "/collections/q5pinned", `{"vectors": {"size": 4, "distance": "Dot", "memory": "warm"}}`).wantError(t, 400, "unknown variant `warm`")
	// Without placements, none is reported.
	step{method: "PUT", path: "/collections/q5plain", body: `{"vectors": {"size": 4, "distance": "Dot", "on_disk": true}}`}.run(t, c)
	r := step{method: "GET", path: "/collections/q5plain"}.run(t, c)
	if strings.Contains(string(r), `"memory"`) || strings.Contains(string(r), `"payload":{`) {
		t.Errorf("collection without placements reports some: %s", r)
	}
}

// TestQdrantSuiteTelemetrySegments covers test_service.py's
// test_telemetry_detail at details level 4 and more: each local shard
// reports one segment (Shoal's shard is one storage unit) with the
// shard's counts, its vectors' configuration and a uuid that stays the
// same; level 3 reports none.
func TestQdrantSuiteTelemetrySegments(t *testing.T) {
	c := newRealServer(t, Options{}, auth.Options{})
	step{method: "PUT", path: "/collections/tseg", body: `{"vectors": {"a": {"size": 2, "distance": "Dot"}, "b": {"size": 3, "distance": "Euclid", "datatype": "uint8", "on_disk": true},
		"m": {"size": 2, "distance": "Dot", "multivector_config": {"comparator": "max_sim"}}}, "on_disk_payload": true}`}.run(t, c)
	step{method: "PUT", path: "/collections/tseg/points?wait=true", body: `{"points": [
		{"id": 1, "vector": {"a": [1, 0], "b": [1, 2, 3]}, "payload": {"k": "x"}},
		{"id": 2, "vector": {"a": [0, 1], "m": [[1, 0], [0, 1]]}},
		{"id": 3, "vector": {}}]}`}.run(t, c)
	step{method: "PUT", path: "/collections/tseg/index?wait=true", body: `{"field_name": "k", "field_schema": "keyword"}`}.run(t, c)
	type segment struct {
		Info struct {
			UUID             string                     `json:"uuid"`
			SegmentType      string                     `json:"segment_type"`
			NumPoints        uint64                     `json:"num_points"`
			NumVectors       uint64                     `json:"num_vectors"`
			VectorsSizeBytes uint64                     `json:"vectors_size_bytes"`
			IndexSchema      map[string]json.RawMessage `json:"index_schema"`
			VectorData       map[string]struct {
				NumVectors uint64 `json:"num_vectors"`
			} `json:"vector_data"`
		} `json:"info"`
		Config struct {
			VectorData map[string]struct {
				StorageType string `json:"storage_type"`
				Index       struct {
					Type string `json:"type"`
				} `json:"index"`
			} `json:"vector_data"`
			PayloadStorageType struct {
				Type string `json:"type"`
			} `json:"payload_storage_type"`
		} `json:"config"`
	}
	read := func(level string) []segment {
		t.Helper()
		res := step{method: "GET", path: "/telemetry?details_level=" + level}.run(t, c)
		var r struct {
			Collections struct {
				Collections []struct {
					Shards []struct {
						Local map[string]json.RawMessage `json:"local"`
					} `json:"shards"`
				} `json:"collections"`
			} `json:"collections"`
		}
		if err := json.Unmarshal(res, &r); err != nil || len(r.Collections.Collections) != 1 || len(r.Collections.Collections[0].Shards) != 1 {
			t.Fatalf("telemetry %s: %s (%v)", level, res, err)
		}
		raw, ok := r.Collections.Collections[0].Shards[0].Local["segments"]
		if !ok {
			return nil
		}
		var segs []segment
		if err := json.Unmarshal(raw, &segs); err != nil {
			t.Fatal(err)
		}
		return segs
	}
	if segs := read("3"); segs != nil {
		t.Errorf("level 3 reports segments: %+v", segs)
	}
	segs := read("4")
	if len(segs) != 1 {
		t.Fatalf("level 4: %d segments, want 1", len(segs))
	}
	s := segs[0].Info
	// a: 2 vectors × 2 × 4 bytes; b: 1 × 3 × 1 (uint8); m: one point's
	// multi-vector, counted once and not in the bytes.
	if s.NumPoints != 3 || s.NumVectors != 4 || s.VectorsSizeBytes != 16+3 || s.VectorData["a"].NumVectors != 2 || s.VectorData["m"].NumVectors != 1 {
		t.Errorf("segment info %+v", s)
	}
	if _, ok := s.IndexSchema["k"]; !ok || s.SegmentType == "" {
		t.Errorf("segment info %+v", s)
	}
	cf := segs[0].Config
	if cf.VectorData["a"].StorageType != "Memory" || cf.VectorData["b"].StorageType != "Mmap" || cf.VectorData["a"].Index.Type != "hnsw" ||
		cf.VectorData["m"].Index.Type != "plain" || cf.PayloadStorageType.Type != "mmap" {
		t.Errorf("segment config %+v", cf)
	}
	if again := read("10"); len(again) != 1 || again[0].Info.UUID != s.UUID || s.UUID == "" {
		t.Errorf("segment uuid %q, then %+v", s.UUID, again)
	}
}
