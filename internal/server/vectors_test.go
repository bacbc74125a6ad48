package server

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestNamedVectorManagement adds and removes named vectors of an existing
// collection over REST (the served gRPC protos have no such RPCs): new
// vectors take writes and queries at once, a removed vector is gone from
// every point and from the configuration, and both survive a restart.
func TestNamedVectorManagement(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	s := start(t, cfg)
	c := newREST(t, s)
	c.ok("PUT", "/collections/v", map[string]any{"vectors": map[string]any{"a": map[string]any{"size": 2, "distance": "Dot"}}, "shard_number": 2})
	for id := 1; id <= 20; id++ {
		c.ok("PUT", "/collections/v/points?wait=true", map[string]any{"points": []any{
			map[string]any{"id": id, "vector": map[string]any{"a": []float32{1, float32(id)}}, "payload": map[string]any{"n": id}}}})
	}

	// Add a dense vector, a multi-vector and a sparse vector.
	c.ok("PUT", "/collections/v/vectors/b?wait=true", map[string]any{"dense": map[string]any{"size": 3, "distance": "Cosine"}})
	c.ok("PUT", "/collections/v/vectors/m", map[string]any{"dense": map[string]any{"size": 2, "distance": "Dot", "multivector_config": map[string]any{"comparator": "max_sim"}}})
	c.ok("PUT", "/collections/v/vectors/sp", map[string]any{"sparse": map[string]any{"modifier": "idf"}})
	code, msg := parityREST(t, c, parityCase{method: "PUT", path: "v/vectors/b", body: `{"dense": {"size": 3, "distance": "Cosine"}}`})
	if code != 400 || !strings.Contains(msg, "already exists") {
		t.Errorf("duplicate name: %d %s", code, msg)
	}
	code, msg = parityREST(t, c, parityCase{method: "PUT", path: "v/vectors/x", body: `{"dense": {"size": 3, "distance": "Cosine", "hnsw_config": {"m": 4}}}`})
	if code != 400 || !strings.Contains(msg, "unknown field `hnsw_config`") {
		t.Errorf("unknown field: %d %s", code, msg)
	}
	code, msg = parityREST(t, c, parityCase{method: "PUT", path: "v/vectors/x", body: `{"dense": {"size": 3, "distance": "Cosine"}, "sparse": {}}`})
	if code != 400 || !strings.Contains(msg, "exactly one of dense and sparse") {
		t.Errorf("both kinds: %d %s", code, msg)
	}
	code, _ = parityREST(t, c, parityCase{method: "PUT", path: "nope/vectors/x", body: `{"sparse": {}}`})
	if code != 404 {
		t.Errorf("missing collection: %d", code)
	}

	c.ok("PUT", "/collections/v/points?wait=true", map[string]any{"points": []any{
		map[string]any{"id": 1, "vector": map[string]any{"a": []float32{1, 1}, "b": []float32{0, 0, 1}, "m": [][]float32{{1, 0}, {0, 1}},
			"sp": map[string]any{"indices": []int{3}, "values": []float32{1}}}},
	}})
	hit := func(using string, query any) float64 {
		t.Helper()
		pts := c.ok("POST", "/collections/v/points/query", map[string]any{"query": query, "using": using, "limit": 1})["result"].(map[string]any)["points"].([]any)
		if len(pts) != 1 {
			t.Fatalf("query %s: %v", using, pts)
		}
		return pts[0].(map[string]any)["id"].(float64)
	}
	if id := hit("b", []float32{0, 0, 1}); id != 1 {
		t.Errorf("query b: %v", id)
	}
	if id := hit("sp", map[string]any{"indices": []int{3}, "values": []float32{1}}); id != 1 {
		t.Errorf("query sp: %v", id)
	}
	if id := hit("m", [][]float32{{1, 0}}); id != 1 {
		t.Errorf("query m: %v", id)
	}

	// Remove "a": every point loses it; the configuration too.
	c.ok("DELETE", "/collections/v/vectors/a?wait=true", nil)
	code, msg = parityREST(t, c, parityCase{method: "POST", path: "v/points/query", body: `{"query": [1, 1], "using": "a"}`})
	if code != 400 || !strings.Contains(msg, "Not existing vector name error: a") {
		t.Errorf("query removed vector: %d %s", code, msg)
	}
	code, msg = parityREST(t, c, parityCase{method: "DELETE", path: "v/vectors/a", body: ``})
	if code != 400 || !strings.Contains(msg, "Not existing vector name error: a") {
		t.Errorf("delete removed vector: %d %s", code, msg)
	}
	check := func(c *restClient) {
		t.Helper()
		info := c.ok("GET", "/collections/v", nil)["result"].(map[string]any)
		params := info["config"].(map[string]any)["params"].(map[string]any)
		vecs := params["vectors"].(map[string]any)
		if _, ok := vecs["a"]; ok || vecs["b"] == nil || vecs["m"] == nil || params["sparse_vectors"].(map[string]any)["sp"] == nil {
			t.Errorf("config after changes: %v", params)
		}
		if info["points_count"] != 20.0 {
			t.Errorf("points: %v", info["points_count"])
		}
		rec := c.ok("GET", "/collections/v/points/1", nil)["result"].(map[string]any)["vector"].(map[string]any)
		if _, ok := rec["a"]; ok || rec["b"] == nil || rec["sp"] == nil {
			t.Errorf("point 1 vectors: %v", rec)
		}
		rec = c.ok("GET", "/collections/v/points/2", nil)["result"].(map[string]any)
		if v, ok := rec["vector"].(map[string]any); ok && len(v) > 0 {
			t.Errorf("point 2 still has vectors: %v", v)
		}
		if rec["payload"].(map[string]any)["n"] != 2.0 {
			t.Errorf("point 2 payload: %v", rec["payload"])
		}
	}
	check(c)

	// Restart: the configuration and the data are as they were.
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	s2 := start(t, cfg)
	c2 := newREST(t, s2)
	check(c2)

	// A vector of the removed name can come back, with another shape, empty.
	c2.ok("PUT", "/collections/v/vectors/a", map[string]any{"dense": map[string]any{"size": 4, "distance": "Euclid"}})
	c2.ok("PUT", "/collections/v/points?wait=true", map[string]any{"points": []any{
		map[string]any{"id": 5, "vector": map[string]any{"a": []float32{0, 0, 0, 1}}}}})
	pts := c2.ok("POST", "/collections/v/points/query", map[string]any{"query": []float32{0, 0, 0, 1}, "using": "a", "limit": 5})["result"].(map[string]any)["points"].([]any)
	if len(pts) != 1 || pts[0].(map[string]any)["id"] != 5.0 {
		t.Errorf("re-created vector: %v", pts)
	}
	// The last vector cannot go.
	c2.ok("DELETE", "/collections/v/vectors/a", nil)
	c2.ok("DELETE", "/collections/v/vectors/b", nil)
	c2.ok("DELETE", "/collections/v/vectors/m", nil)
	code, msg = parityREST(t, c2, parityCase{method: "DELETE", path: "v/vectors/sp", body: ``})
	if code != 400 || !strings.Contains(msg, "last vector") {
		t.Errorf("last vector: %d %s", code, msg)
	}
}

// TestNamedVectorsInSnapshots checks that a snapshot taken after a vector
// change carries the new vector set: recovered under another name, the
// collection has the added vector (with its data) and lacks the removed one.
func TestNamedVectorsInSnapshots(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	s := start(t, cfg)
	c := newREST(t, s)
	c.ok("PUT", "/collections/v", map[string]any{"vectors": map[string]any{"a": map[string]any{"size": 2, "distance": "Dot"}, "b": map[string]any{"size": 2, "distance": "Dot"}}})
	c.ok("PUT", "/collections/v/vectors/sp?wait=true", map[string]any{"sparse": map[string]any{}})
	c.ok("DELETE", "/collections/v/vectors/a?wait=true", nil)
	c.ok("PUT", "/collections/v/points?wait=true", map[string]any{"points": []any{
		map[string]any{"id": 1, "vector": map[string]any{"b": []float32{1, 0}, "sp": map[string]any{"indices": []int{7}, "values": []float32{2}}}}}})
	out := c.ok("POST", "/collections/v/snapshots", nil)
	name := out["result"].(map[string]any)["name"].(string)
	c.ok("PUT", "/collections/v2/snapshots/recover", map[string]any{"location": "file://" + filepath.Join(cfg.Storage.SnapshotsPath, "v", name)})
	info := c.ok("GET", "/collections/v2", nil)["result"].(map[string]any)
	params := info["config"].(map[string]any)["params"].(map[string]any)
	vecs := params["vectors"].(map[string]any)
	if _, ok := vecs["a"]; ok || vecs["b"] == nil || params["sparse_vectors"].(map[string]any)["sp"] == nil {
		t.Errorf("recovered config: %v", params)
	}
	pts := c.ok("POST", "/collections/v2/points/query", map[string]any{"query": map[string]any{"indices": []int{7}, "values": []float32{1}}, "using": "sp"})["result"].(map[string]any)["points"].([]any)
	if len(pts) != 1 || pts[0].(map[string]any)["id"] != 1.0 {
		t.Errorf("recovered sparse data: %v", pts)
	}
}
