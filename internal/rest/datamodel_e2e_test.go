package rest

import (
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
	step{method: "GET", path: d + "/points/1", check: wantJSON(`{"id": 1, "vector": {"img": [0, 0, 5], "text": [1, 0]}}`)}.run(t, c)
	step{method: "POST", path: d + "/points/vectors/delete?wait=true", body: `{"points": [1], "vector": ["text"]}`}.run(t, c)
	step{method: "GET", path: d + "/points/1", check: wantJSON(`{"id": 1, "vector": {"img": [0, 0, 5]}}`)}.run(t, c)
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
	step{method: "GET", path: d + "/points/12", check: wantJSON(`{"id": 12, "vector": [7, 7]}`)}.run(t, c)

	// The same through the batch update endpoint.
	step{method: "POST", path: d + "/points/batch?wait=true", body: `{"operations": [{"upsert": {"points": [{"id": 1, "vector": [8, 8]}, {"id": 13, "vector": [1, 3]}], "update_mode": "update_only"}}]}`}.run(t, c)
	step{method: "GET", path: d + "/points/1", check: wantJSON(`{"id": 1, "vector": [8, 8]}`)}.run(t, c)
	c.do("GET", d+"/points/13", nil).wantError(t, 404, "Not found: No point with id 13 found")

	c.do("PUT", d+"/points?wait=true", `{"points": [{"id": 1, "vector": [1, 1]}], "update_mode": "sometimes"}`).
		wantError(t, 400, "unknown variant `sometimes`, expected one of `upsert`, `insert_only`, `update_only`")
	step{method: "POST", path: d + "/points/count", body: `{}`, check: wantJSON(`{"count": 4}`)}.run(t, c)
}

// TestMultivectorConfigRefused checks that a multivector_config is refused,
// not silently dropped (multi-vectors are not implemented yet).
func TestMultivectorConfigRefused(t *testing.T) {
	c := newRealServer(t, Options{}, auth.Options{})
	c.do("PUT", "/collections/mv", `{"vectors": {"size": 4, "distance": "Cosine", "multivector_config": {"comparator": "max_sim"}}}`).
		wantError(t, 400, `Wrong input: vector "": multivector_config is not supported by this server; use dense vectors`)
	c.do("PUT", "/collections/mv", `{"vectors": {"colbert": {"size": 4, "distance": "Cosine", "multivector_config": {"comparator": "max_sim"}}}}`).
		wantError(t, 400, `vector "colbert": multivector_config is not supported`)
	if r := c.do("GET", "/collections/mv", nil); r.status != 404 {
		t.Fatalf("refused collection exists: %d %s", r.status, r.body)
	}
}
