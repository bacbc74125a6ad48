package rest

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/shoal-db/shoal/internal/auth"
)

// TestOptionalVectorsEndToEnd walks Qdrant's data model over real HTTP:
// points with any subset of the named vectors (none included), has_vector
// filters, and updates or deletions of one named vector that leave the
// others.
func TestOptionalVectorsEndToEnd(t *testing.T) {
	c := newRealServer(t, Options{}, auth.Options{})
	const d = "/collections/ov"
	step{method: "PUT", path: d, body: `{"vectors": {"img": {"size": 3, "distance": "Dot"}, "text": {"size": 2, "distance": "Dot"}}}`}.run(t, c)
	step{method: "PUT", path: d + "/points?wait=true", body: `{"points": [
		{"id": 1, "vector": {"img": [1, 0, 0], "text": [1, 0]}},
		{"id": 2, "vector": {"text": [0, 1]}},
		{"id": 3, "vector": {}, "payload": {"k": 3}}
	]}`}.run(t, c)
	count := func(filter string, want string) {
		t.Helper()
		step{method: "POST", path: d + "/points/count", body: `{"filter": ` + filter + `}`, check: wantJSON(`{"count": ` + want + `}`)}.run(t, c)
	}
	count(`{"must": [{"has_vector": "img"}]}`, "1")
	count(`{"must": [{"has_vector": "text"}]}`, "2")
	count(`{"must_not": [{"has_vector": "img"}, {"has_vector": "text"}]}`, "1")
	step{method: "POST", path: d + "/points/query", body: `{"query": [1, 1], "using": "text"}`, check: wantIDs(1, 2)}.run(t, c)
	step{method: "POST", path: d + "/points/query", body: `{"query": [1, 1, 1], "using": "img"}`, check: wantIDs(1)}.run(t, c)
	step{method: "GET", path: d + "/points/3", check: wantJSON(`{"id": 3, "payload": {"k": 3}, "vector": {}}`)}.run(t, c)

	step{method: "PUT", path: d + "/points/vectors?wait=true", body: `{"points": [{"id": 1, "vector": {"img": [0, 0, 5]}}, {"id": 3, "vector": {"text": [2, 2]}}]}`}.run(t, c)
	step{method: "GET", path: d + "/points/1", check: wantJSON(`{"id": 1, "payload": {}, "vector": {"img": [0, 0, 5], "text": [1, 0]}}`)}.run(t, c)
	step{method: "POST", path: d + "/points/vectors/delete?wait=true", body: `{"points": [1], "vector": ["text"]}`}.run(t, c)
	step{method: "GET", path: d + "/points/1", check: wantJSON(`{"id": 1, "payload": {}, "vector": {"img": [0, 0, 5]}}`)}.run(t, c)
	step{method: "POST", path: d + "/points/vectors/delete?wait=true", body: `{"filter": {"must": [{"has_vector": "text"}]}, "vector": ["text"]}`}.run(t, c)
	count(`{"must": [{"has_vector": "text"}]}`, "0")
	step{method: "POST", path: d + "/points/count", body: `{}`, check: wantJSON(`{"count": 3}`)}.run(t, c)
}

// TestUpdateModeEndToEnd checks update_mode and update_filter over REST in
// both body forms (points list and batch), and that an unknown mode is
// refused with Qdrant's text.
func TestUpdateModeEndToEnd(t *testing.T) {
	c := newRealServer(t, Options{}, auth.Options{})
	const d = "/collections/um"
	step{method: "PUT", path: d, body: `{"vectors": {"size": 2, "distance": "Dot"}}`}.run(t, c)
	step{method: "PUT", path: d + "/points?wait=true", body: `{"points": [{"id": 1, "vector": [1, 0], "payload": {"v": "old"}}, {"id": 2, "vector": [0, 1], "payload": {"v": "two"}}]}`}.run(t, c)

	step{method: "PUT", path: d + "/points?wait=true", body: `{"points": [{"id": 1, "vector": [9, 9], "payload": {"v": "new"}}, {"id": 10, "vector": [1, 1], "payload": {"v": "ten"}}], "update_mode": "insert_only"}`}.run(t, c)
	step{method: "GET", path: d + "/points/1", check: wantJSON(`{"id": 1, "payload": {"v": "old"}, "vector": [1, 0]}`)}.run(t, c)
	step{method: "GET", path: d + "/points/10", check: wantJSON(`{"id": 10, "payload": {"v": "ten"}, "vector": [1, 1]}`)}.run(t, c)

	step{method: "PUT", path: d + "/points?wait=true", body: `{"batch": {"ids": [2, 11], "vectors": [[3, 3], [4, 4]], "payloads": [{"v": "upd"}, {"v": "eleven"}]}, "update_mode": "update_only"}`}.run(t, c)
	step{method: "GET", path: d + "/points/2", check: wantJSON(`{"id": 2, "payload": {"v": "upd"}, "vector": [3, 3]}`)}.run(t, c)
	c.do("GET", d+"/points/11", nil).wantError(t, 404, "Not found: No point with id 11 found")

	// update_filter: existing points that do not match keep their state;
	// new points are inserted regardless.
	step{method: "PUT", path: d + "/points?wait=true", body: `{"points": [{"id": 1, "vector": [5, 5], "payload": {"v": "f"}}, {"id": 2, "vector": [6, 6], "payload": {"v": "f"}}, {"id": 12, "vector": [7, 7]}], "update_filter": {"must": [{"key": "v", "match": {"value": "upd"}}]}}`}.run(t, c)
	step{method: "GET", path: d + "/points/1", check: wantJSON(`{"id": 1, "payload": {"v": "old"}, "vector": [1, 0]}`)}.run(t, c)
	step{method: "GET", path: d + "/points/2", check: wantJSON(`{"id": 2, "payload": {"v": "f"}, "vector": [6, 6]}`)}.run(t, c)
	step{method: "GET", path: d + "/points/12", check: wantJSON(`{"id": 12, "payload": {}, "vector": [7, 7]}`)}.run(t, c)

	// The same through the batch update endpoint.
	step{method: "POST", path: d + "/points/batch?wait=true", body: `{"operations": [{"upsert": {"points": [{"id": 1, "vector": [8, 8]}, {"id": 13, "vector": [1, 3]}], "update_mode": "update_only"}}]}`}.run(t, c)
	step{method: "GET", path: d + "/points/1", check: wantJSON(`{"id": 1, "payload": {}, "vector": [8, 8]}`)}.run(t, c)
	c.do("GET", d+"/points/13", nil).wantError(t, 404, "Not found: No point with id 13 found")

	c.do("PUT", d+"/points?wait=true", `{"points": [{"id": 1, "vector": [1, 1]}], "update_mode": "sometimes"}`).
		wantError(t, 400, "unknown variant `sometimes`, expected one of `upsert`, `insert_only`, `update_only`")
	step{method: "POST", path: d + "/points/count", body: `{}`, check: wantJSON(`{"count": 4}`)}.run(t, c)
}

// TestSparseVectorsEndToEnd walks sparse vectors over real HTTP: config
// (reported back), upsert in both body forms, validation texts, sparse
// queries with filters, IDF, hybrid prefetch + fusion with a dense
// vector, reads, and per-name updates and deletions.
func TestSparseVectorsEndToEnd(t *testing.T) {
	c := newRealServer(t, Options{}, auth.Options{})
	const d = "/collections/sp"
	step{method: "PUT", path: d, body: `{"vectors": {"dense": {"size": 2, "distance": "Dot"}},
		"sparse_vectors": {"lex": {"index": {"full_scan_threshold": 100, "on_disk": false}}, "bm25": {"modifier": "idf"}}, "shard_number": 2}`}.run(t, c)
	step{method: "GET", path: d, check: wantContains(`"sparse_vectors":{`, `"modifier":"idf"`, `"full_scan_threshold":100`)}.run(t, c)
	step{method: "PUT", path: d + "/points?wait=true", body: `{"points": [
		{"id": 1, "vector": {"dense": [1, 0], "lex": {"indices": [7, 1], "values": [2, 1]}}, "payload": {"c": "a"}},
		{"id": 2, "vector": {"dense": [0, 1], "lex": {"indices": [1, 3], "values": [0.5, 4]}}, "payload": {"c": "b"}},
		{"id": 3, "vector": {"lex": {"indices": [3], "values": [1]}, "bm25": {"indices": [10, 11], "values": [1, 1]}}, "payload": {"c": "a"}},
		{"id": 4, "vector": {"dense": [1, 1]}}
	]}`}.run(t, c)
	step{method: "PUT", path: d + "/points?wait=true", body: `{"batch": {"ids": [5, 6], "vectors": {"bm25": [{"indices": [10], "values": [1]}, {"indices": [10, 12], "values": [1, 1]}]}}}`}.run(t, c)

	// Dot products: 1 -> 1*1 + 2*2 = 5, 2 -> 0.5*1 = 0.5; 3 shares nothing.
	step{method: "POST", path: d + "/points/query", body: `{"query": {"indices": [1, 7], "values": [1, 2]}, "using": "lex"}`, check: wantIDs(1, 2)}.run(t, c)
	step{method: "POST", path: d + "/points/query", body: `{"query": {"indices": [3], "values": [1]}, "using": "lex", "filter": {"must": [{"key": "c", "match": {"value": "a"}}]}}`, check: wantIDs(3)}.run(t, c)
	step{method: "POST", path: d + "/points/query", body: `{"query": {"nearest": {"indices": [3, 1], "values": [1, 1]}}, "using": "lex", "params": {"exact": true}}`, check: wantIDs(2, 1, 3)}.run(t, c)
	step{method: "POST", path: d + "/points/query", body: `{"query": 1, "using": "lex"}`, check: wantIDs(2)}.run(t, c)
	// IDF: 10 is in 3 of the 3 bm25 vectors, 12 in 1: 12 outweighs 10.
	step{method: "POST", path: d + "/points/query", body: `{"query": {"indices": [10, 12], "values": [1, 1]}, "using": "bm25"}`, check: wantIDs(6, 3, 5)}.run(t, c)
	// Hybrid: dense and sparse prefetches fused.
	step{method: "POST", path: d + "/points/query", body: `{"prefetch": [{"query": [1, 0], "using": "dense"}, {"query": {"indices": [1, 7], "values": [1, 2]}, "using": "lex"}], "query": {"fusion": "rrf"}, "limit": 2}`, check: wantIDs(1, 2)}.run(t, c)
	step{method: "POST", path: d + "/points/query", body: `{"prefetch": [{"query": [0, 1], "using": "dense"}, {"query": {"indices": [3], "values": [1]}, "using": "lex"}], "query": {"fusion": "dbsf"}, "limit": 1}`, check: wantIDs(2)}.run(t, c)
	// Re-scoring prefetched candidates with a sparse query.
	step{method: "POST", path: d + "/points/query", body: `{"prefetch": {"query": [1, 1], "using": "dense", "limit": 3}, "query": {"indices": [3], "values": [1]}, "using": "lex"}`, check: wantIDs(2)}.run(t, c)
	// Legacy search with a named sparse vector.
	step{method: "POST", path: d + "/points/search", body: `{"vector": {"name": "lex", "vector": {"indices": [7], "values": [1]}}, "limit": 3}`, legacy: "ScoredPoint", check: wantIDs(1)}.run(t, c)

	step{method: "GET", path: d + "/points/1", check: wantJSON(`{"id": 1, "payload": {"c": "a"}, "vector": {"dense": [1, 0], "lex": {"indices": [1, 7], "values": [1, 2]}}}`)}.run(t, c)
	step{method: "POST", path: d + "/points", body: `{"ids": [3], "with_vector": ["bm25"]}`, check: wantJSON(`[{"id": 3, "payload": {"c": "a"}, "vector": {"bm25": {"indices": [10, 11], "values": [1, 1]}}}]`)}.run(t, c)
	step{method: "POST", path: d + "/points/count", body: `{"filter": {"must": [{"has_vector": "lex"}]}}`, check: wantJSON(`{"count": 3}`)}.run(t, c)

	step{method: "PUT", path: d + "/points/vectors?wait=true", body: `{"points": [{"id": 4, "vector": {"lex": {"indices": [7], "values": [10]}}}]}`}.run(t, c)
	step{method: "POST", path: d + "/points/query", body: `{"query": {"indices": [7], "values": [1]}, "using": "lex"}`, check: wantIDs(4, 1)}.run(t, c)
	step{method: "POST", path: d + "/points/vectors/delete?wait=true", body: `{"points": [1], "vector": ["lex"]}`}.run(t, c)
	step{method: "GET", path: d + "/points/1", check: wantJSON(`{"id": 1, "payload": {"c": "a"}, "vector": {"dense": [1, 0]}}`)}.run(t, c)
	step{method: "POST", path: d + "/points/query", body: `{"query": {"indices": [7], "values": [1]}, "using": "lex"}`, check: wantIDs(4)}.run(t, c)

	// Broken constraints of a decoded body are Qdrant's 422 (its Validate
	// derive); bodies that do not decode, or vectors of the wrong kind, 400.
	for _, tc := range []struct {
		body   string
		status int
		want   string
	}{
		{`{"points": [{"id": 9, "vector": {"lex": {"indices": [1, 2], "values": [1]}}}]}`, 422, "Validation error in JSON body: [points[0].vector.?.values: Validation error: must be the same length as indices [{}]]"},
		{`{"points": [{"id": 9, "vector": {"lex": {"indices": [2, 2], "values": [1, 1]}}}]}`, 422, "Validation error in JSON body: [points[0].vector.?.indices: Validation error: must be unique [{}]]"},
		{`{"points": [{"id": 9, "vector": {"lex": [1, 2]}}]}`, 400, `vector "lex" is sparse`},
		{`{"points": [{"id": 9, "vector": {"dense": {"indices": [1], "values": [1]}}}]}`, 400, `vector "dense" is dense`},
		{`{"points": [{"id": 9, "vector": {"lex": {"indices": [-1], "values": [1]}}}]}`, 400, "invalid index -1"},
		{`{"points": [{"id": 9, "vector": {"lex": {"indices": [1]}}}]}`, 400, "missing field `values`"},
	} {
		c.do("PUT", d+"/points?wait=true", tc.body).wantError(t, tc.status, tc.want)
	}
	c.do("POST", d+"/points/query", `{"query": [1, 0], "using": "lex"}`).wantError(t, 400, `vector "lex" is sparse`)
	c.do("POST", d+"/points/query", `{"query": {"indices": [1], "values": [1]}, "using": "dense"}`).wantError(t, 400, `vector "dense" is dense`)
	c.do("PUT", "/collections/bad", `{"vectors": {"x": {"size": 2, "distance": "Dot"}}, "sparse_vectors": {"x": {}}}`).wantError(t, 400, "Wrong input: Dense and sparse vector names must be unique - duplicate found with 'x'")
	c.do("PUT", "/collections/bad", `{"sparse_vectors": {"x": {"modifier": "bm42"}}}`).wantError(t, 400, "")
	// PATCH changes a sparse vector's params; the idf modifier applies to
	// the next query: 7 is in 1 of the 3 lex vectors, 1 in 1 (point 2),
	// 3 in 2.
	step{method: "PATCH", path: d, body: `{"sparse_vectors": {"lex": {"modifier": "idf", "index": {"full_scan_threshold": 0}}}}`}.run(t, c)
	step{method: "GET", path: d, check: wantContains(`"lex":{"index":{"full_scan_threshold":0,"on_disk":false},"modifier":"idf"}`)}.run(t, c)
	step{method: "POST", path: d + "/points/query", body: `{"query": {"indices": [3, 7], "values": [1, 1]}, "using": "lex"}`, check: func(t testing.TB, res json.RawMessage) {
		var r struct {
			Points []struct {
				ID    int     `json:"id"`
				Score float64 `json:"score"`
			} `json:"points"`
		}
		if err := json.Unmarshal(res, &r); err != nil || len(r.Points) != 3 {
			t.Fatalf("idf query: %s %v", res, err)
		}
		idf7, idf3 := math.Log((3-1+0.5)/(1+0.5)+1), math.Log((3-2+0.5)/(2+0.5)+1)
		want := map[int]float64{4: 10 * idf7, 2: 4 * idf3, 3: idf3}
		for _, p := range r.Points {
			if math.Abs(p.Score-want[p.ID]) > 1e-4 {
				t.Fatalf("point %d scored %v, want %v (%s)", p.ID, p.Score, want[p.ID], res)
			}
		}
	}}.run(t, c)
	c.do("PATCH", d, `{"sparse_vectors": {"nope": {"modifier": "idf"}}}`).wantError(t, 400, "Not existing vector name error: nope")
	// A collection of sparse vectors only.
	step{method: "PUT", path: "/collections/only", body: `{"sparse_vectors": {"s": {}}}`}.run(t, c)
	step{method: "PUT", path: "/collections/only/points?wait=true", body: `{"points": [{"id": 1, "vector": {"s": {"indices": [1], "values": [1]}}}, {"id": 2, "vector": {}}]}`}.run(t, c)
	step{method: "POST", path: "/collections/only/points/query", body: `{"query": {"indices": [1], "values": [3]}, "using": "s"}`, check: wantIDs(1)}.run(t, c)
}

// TestMultiVectorsEndToEnd walks multi-vectors (multivector_config
// max_sim) over real HTTP: config, upsert in both forms, MaxSim queries
// (exact), re-scoring dense prefetch candidates, reads, updates and
// validation.
func TestMultiVectorsEndToEnd(t *testing.T) {
	c := newRealServer(t, Options{}, auth.Options{})
	const d = "/collections/mv"
	step{method: "PUT", path: d, body: `{"vectors": {"dense": {"size": 2, "distance": "Dot"}, "colbert": {"size": 2, "distance": "Dot", "multivector_config": {"comparator": "max_sim"}}}, "shard_number": 2}`}.run(t, c)
	step{method: "GET", path: d, check: wantContains(`"multivector_config":{"comparator":"max_sim"}`)}.run(t, c)
	step{method: "PUT", path: d + "/points?wait=true", body: `{"points": [
		{"id": 1, "vector": {"dense": [1, 0], "colbert": [[1, 0], [0, 1]]}},
		{"id": 2, "vector": {"dense": [0, 1], "colbert": [[2, 0]]}},
		{"id": 3, "vector": {"colbert": [[0, 3], [1, 1], [0, 0]]}}
	]}`}.run(t, c)
	step{method: "PUT", path: d + "/points?wait=true", body: `{"batch": {"ids": [4], "vectors": {"colbert": [[[0.5, 0.5]]]}}}`}.run(t, c)
	// MaxSim of [[1,0],[0,1]]: 1 -> 1+1 = 2, 2 -> 2+0 = 2, 3 -> 1+3 = 4, 4 -> 0.5+0.5 = 1.
	step{method: "POST", path: d + "/points/query", body: `{"query": [[1, 0], [0, 1]], "using": "colbert"}`, check: wantScores(map[int]float64{3: 4, 1: 2, 2: 2, 4: 1})}.run(t, c)
	step{method: "POST", path: d + "/points/query", body: `{"query": 1, "using": "colbert", "limit": 1}`, check: wantIDs(3)}.run(t, c)
	// The usual ColBERT pattern: dense candidates re-scored by MaxSim.
	step{method: "POST", path: d + "/points/query", body: `{"prefetch": {"query": [1, 1], "using": "dense", "limit": 2}, "query": [[0, 1]], "using": "colbert"}`, check: wantIDs(1, 2)}.run(t, c)
	step{method: "GET", path: d + "/points/3", check: wantJSON(`{"id": 3, "payload": {}, "vector": {"colbert": [[0, 3], [1, 1], [0, 0]]}}`)}.run(t, c)
	step{method: "PUT", path: d + "/points/vectors?wait=true", body: `{"points": [{"id": 2, "vector": {"colbert": [[0, 9]]}}]}`}.run(t, c)
	step{method: "GET", path: d + "/points/2", check: wantJSON(`{"id": 2, "payload": {}, "vector": {"dense": [0, 1], "colbert": [[0, 9]]}}`)}.run(t, c)
	step{method: "POST", path: d + "/points/vectors/delete?wait=true", body: `{"points": [3], "vector": ["colbert"]}`}.run(t, c)
	step{method: "POST", path: d + "/points/count", body: `{"filter": {"must": [{"has_vector": "colbert"}]}}`, check: wantJSON(`{"count": 3}`)}.run(t, c)

	c.do("PUT", d+"/points?wait=true", `{"points": [{"id": 9, "vector": {"colbert": [[1, 2, 3]]}}]}`).wantError(t, 400, "Vector dimension error: expected dim: 2, got 3")
	// One vector for a multi-vector name is a multi-vector of one, as in
	// Qdrant; an empty one is its dimension error.
	step{method: "PUT", path: d + "/points?wait=true", body: `{"points": [{"id": 9, "vector": {"colbert": [1, 2]}}]}`}.run(t, c)
	step{method: "GET", path: d + "/points/9", check: wantJSON(`{"id": 9, "payload": {}, "vector": {"colbert": [[1, 2]]}}`)}.run(t, c)
	step{method: "POST", path: d + "/points/delete?wait=true", body: `{"points": [9]}`}.run(t, c)
	c.do("PUT", d+"/points?wait=true", `{"points": [{"id": 9, "vector": {"colbert": []}}]}`).wantError(t, 400, "Vector dimension error: expected dim: 2, got 0")
	c.do("PUT", d+"/points?wait=true", `{"points": [{"id": 9, "vector": {"dense": [[1, 2]]}}]}`).wantError(t, 400, `vector "dense" is not a multi-vector`)
	c.do("POST", d+"/points/query", `{"query": [[1, 2]], "using": "dense"}`).wantError(t, 400, `vector "dense" is dense`)
}

// wantScores checks the hits' scores by id, and that they come best first.
func wantScores(want map[int]float64) func(testing.TB, json.RawMessage) {
	return func(t testing.TB, res json.RawMessage) {
		t.Helper()
		var r struct {
			Points []struct {
				ID    int     `json:"id"`
				Score float64 `json:"score"`
			} `json:"points"`
		}
		if err := json.Unmarshal(res, &r); err != nil || len(r.Points) != len(want) {
			t.Fatalf("result %s, want the scores %v (%v)", res, want, err)
		}
		for i, p := range r.Points {
			if w, ok := want[p.ID]; !ok || math.Abs(p.Score-w) > 1e-5 || (i > 0 && p.Score > r.Points[i-1].Score) {
				t.Fatalf("result %s, want the scores %v best first", res, want)
			}
		}
	}
}
