package rest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-db/shoal/internal/auth"
)

// step is one call of an end-to-end walk: method, path, JSON body, and an
// optional check of the decoded result.
type step struct {
	method, path string
	body         string
	check        func(t testing.TB, result json.RawMessage)
	// legacy names the spec schema that validates the result of a route the
	// v1.19 spec no longer lists: "ScoredPoint" (a list of them),
	// "ScoredPointBatch" (a list of lists) or "GroupsResult"; "shoal" marks
	// a route of Shoal's own, which the spec does not describe.
	legacy string
}

func (s step) run(t testing.TB, c *testClient) json.RawMessage {
	t.Helper()
	var body any
	if s.body != "" {
		body = s.body
	}
	if s.legacy == "" {
		var b []byte
		if s.body != "" {
			b = []byte(s.body)
		}
		spec(t).validateRequest(t, s.method, s.path, b)
	}
	r := c.do(s.method, s.path, body)
	if r.status != 200 {
		t.Fatalf("%s %s: %d %s", s.method, s.path, r.status, r.body)
	}
	var env struct {
		Result json.RawMessage `json:"result"`
		Status string          `json:"status"`
		Time   *float64        `json:"time"`
	}
	if err := json.Unmarshal(r.body, &env); err != nil {
		t.Fatalf("%s %s: %v: %s", s.method, s.path, err, r.body)
	}
	if env.Status != "ok" || env.Time == nil {
		t.Errorf("%s %s: envelope %s", s.method, s.path, r.body)
	}
	sp := spec(t)
	path, _, _ := strings.Cut(s.path, "?")
	switch s.legacy {
	case "":
		sp.validateResponse(t, s.method, path, r.status, r.header, r.body)
	case "shoal":
	case "ScoredPoint":
		var items []json.RawMessage
		if err := json.Unmarshal(env.Result, &items); err != nil {
			t.Fatalf("%s %s: result is not a list: %s", s.method, s.path, env.Result)
		}
		for _, it := range items {
			sp.validateSchema(t, "ScoredPoint", it)
		}
	case "ScoredPointBatch":
		var lists [][]json.RawMessage
		if err := json.Unmarshal(env.Result, &lists); err != nil {
			t.Fatalf("%s %s: result is not a list of lists: %s", s.method, s.path, env.Result)
		}
		for _, l := range lists {
			for _, it := range l {
				sp.validateSchema(t, "ScoredPoint", it)
			}
		}
	default:
		sp.validateSchema(t, s.legacy, env.Result)
	}
	if s.check != nil {
		s.check(t, env.Result)
	}
	return env.Result
}

// wantJSON checks that result, decoded, equals want decoded.
func wantJSON(want string) func(testing.TB, json.RawMessage) {
	return func(t testing.TB, got json.RawMessage) {
		t.Helper()
		var g, w any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(want), &w); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(g) != fmt.Sprint(w) {
			t.Errorf("result %s, want %s", got, want)
		}
	}
}

// wantIDs checks the ids of a list of points (or of {"points": [...]}), in
// order.
func wantIDs(ids ...any) func(testing.TB, json.RawMessage) {
	return func(t testing.TB, got json.RawMessage) {
		t.Helper()
		var pts []struct {
			ID any `json:"id"`
		}
		if err := json.Unmarshal(got, &pts); err != nil {
			var wrapped struct {
				Points []struct {
					ID any `json:"id"`
				} `json:"points"`
			}
			if err := json.Unmarshal(got, &wrapped); err != nil {
				t.Fatalf("cannot read ids from %s", got)
			}
			for _, p := range wrapped.Points {
				pts = append(pts, struct {
					ID any `json:"id"`
				}{p.ID})
			}
		}
		var g []string
		for _, p := range pts {
			g = append(g, fmt.Sprint(p.ID))
		}
		var w []string
		for _, id := range ids {
			w = append(w, fmt.Sprint(id))
		}
		if strings.Join(g, ",") != strings.Join(w, ",") {
			t.Errorf("ids %v, want %v (result %s)", g, w, got)
		}
	}
}

func wantContains(subs ...string) func(testing.TB, json.RawMessage) {
	return func(t testing.TB, got json.RawMessage) {
		t.Helper()
		for _, s := range subs {
			if !strings.Contains(string(got), s) {
				t.Errorf("result lacks %s: %s", s, got)
			}
		}
	}
}

const demoPoints = `{"points": [
  {"id": 1, "vector": [0.05, 0.61, 0.76, 0.74], "payload": {"city": "Berlin", "n": 1}},
  {"id": 2, "vector": [0.19, 0.81, 0.75, 0.11], "payload": {"city": ["Berlin", "London"], "n": 2}},
  {"id": 3, "vector": [0.36, 0.55, 0.47, 0.94], "payload": {"city": ["Berlin", "Moscow"], "n": 3}},
  {"id": 4, "vector": [0.18, 0.01, 0.85, 0.80], "payload": {"city": ["London", "Moscow"], "n": 4}},
  {"id": 5, "vector": [0.24, 0.18, 0.22, 0.44], "payload": {"count": [0], "n": 5}},
  {"id": 6, "vector": [0.35, 0.08, 0.11, 0.44], "payload": {"n": 6}}
]}`

// TestEndpointsEndToEnd walks every endpoint over real HTTP against the
// real service with real shards, validating each answer against Qdrant's
// OpenAPI spec.
//
// It ends by checking that the walk reached every registered route.
func TestEndpointsEndToEnd(t *testing.T) {
	c := walkServer(t)
	if !t.Failed() {
		checkEveryRoute(t, c)
	}
}

// walkServer is TestEndpointsEndToEnd's body; it returns the client of the
// server it walked.
func walkServer(t *testing.T) *testClient {
	reg := prometheus.NewRegistry()
	c := newRealServer(t, Options{Registerer: reg, Gatherer: reg}, auth.Options{})
	const d = "/collections/demo"
	const q = `[0.2, 0.1, 0.9, 0.7]`
	steps := []step{
		{method: "PUT", path: d, body: `{"vectors": {"size": 4, "distance": "Dot"}, "shard_number": 2}`, check: wantJSON(`true`)},
		{method: "PUT", path: "/collections/named", body: `{"vectors": {"img": {"size": 2, "distance": "Cosine"}, "txt": {"size": 3, "distance": "Euclid"}}}`, check: wantJSON(`true`)},
		{method: "GET", path: "/collections", check: wantContains(`{"name":"demo"}`, `{"name":"named"}`)},
		{method: "GET", path: d, check: wantContains(`"distance":"Dot"`, `"shard_number":2`)},
		{method: "GET", path: d + "/exists", check: wantJSON(`{"exists": true}`)},
		{method: "GET", path: "/collections/nope/exists", check: wantJSON(`{"exists": false}`)},
		{method: "PATCH", path: d, body: `{"optimizers_config": {"indexing_threshold": 10000}}`, check: wantJSON(`true`)},
		{method: "PUT", path: d + "/index?wait=true", body: `{"field_name": "city", "field_schema": "keyword"}`, check: wantContains(`"status":"completed"`)},
		{method: "PUT", path: d + "/index?wait=true&ordering=strong", body: `{"field_name": "n", "field_schema": "integer"}`, check: wantContains(`"status":"completed"`)},
		{method: "PUT", path: d + "/points?wait=true", body: demoPoints, check: wantContains(`"status":"completed"`)},
		{method: "PUT", path: d + "/points?wait=true&ordering=medium&timeout=10", body: `{"batch": {"ids": [7, 8], "vectors": [[0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]], "payloads": [{"city": "Paris"}, null]}}`, check: wantContains(`"status":"completed"`)},
		{method: "PUT", path: "/collections/named/points?wait=true", body: `{"points": [{"id": "5c56c793-69f3-4fbf-87e6-c4bf54c28c26", "vector": {"img": [1, 0], "txt": [1, 2, 3]}}, {"id": 2, "vector": {"img": [0, 1], "txt": [3, 2, 1]}}]}`, check: wantContains(`"status":"completed"`)},
		{method: "GET", path: d, check: wantContains(`"points_count":8`, `"city":{"data_type":"keyword"`)},
		{method: "GET", path: d + "/points/1", check: wantContains(`"id":1`, `"city":"Berlin"`)},
		{method: "GET", path: d + "/points/1?consistency=majority"},
		{method: "GET", path: "/collections/named/points/5c56c793-69f3-4fbf-87e6-c4bf54c28c26", check: wantContains(`"img":[`, `"txt":[1,2,3]`)},
		{method: "POST", path: d + "/points?consistency=2", body: `{"ids": [2, 1, 99], "with_vector": true, "with_payload": ["n"]}`, check: wantContains(`"vector":[`, `"n":1`)},
		{method: "POST", path: d + "/points/scroll", body: `{"limit": 3, "with_payload": true}`, check: wantContains(`"next_page_offset":4`)},
		{method: "POST", path: d + "/points/scroll?consistency=all", body: `{"filter": {"must": [{"key": "city", "match": {"value": "Berlin"}}]}, "limit": 10}`, check: func(t testing.TB, r json.RawMessage) {
			wantContains(`"next_page_offset":null`)(t, r)
			var s struct {
				Points []any `json:"points"`
			}
			_ = json.Unmarshal(r, &s)
			if len(s.Points) != 3 {
				t.Errorf("scroll with filter: %s", r)
			}
		}},
		{method: "POST", path: d + "/points/scroll", body: `{"limit": 2, "order_by": {"key": "n", "direction": "desc"}}`, check: wantContains(`"id":6`, `"id":5`)},
		{method: "POST", path: d + "/points/count", body: `{"filter": {"must": [{"key": "city", "match": {"any": ["London", "Paris"]}}]}}`, check: wantJSON(`{"count": 3}`)},
		{method: "POST", path: d + "/points/count", body: `{}`, check: wantJSON(`{"count": 8}`)},
		{method: "POST", path: d + "/facet", body: `{"key": "city", "exact": true}`, check: wantContains(`{"value":"Berlin","count":3}`)},
		{method: "POST", path: d + "/points/search/matrix/pairs", body: `{"sample": 4, "limit": 2}`, check: wantContains(`"pairs":[`)},
		{method: "POST", path: d + "/points/search/matrix/offsets", body: `{"sample": 4, "limit": 2}`, check: wantContains(`"offsets_row":[`, `"ids":[`)},
		{method: "POST", path: d + "/points/query", body: `{"query": ` + q + `, "limit": 3}`, check: wantIDs(4, 1, 3)},
		{method: "POST", path: d + "/points/query?consistency=quorum&timeout=5", body: `{"query": {"nearest": ` + q + `}, "filter": {"should": [{"key": "city", "match": {"value": "London"}}]}, "limit": 3, "with_payload": true}`, check: wantIDs(4, 2)},
		{method: "POST", path: d + "/points/query", body: `{"prefetch": [{"query": ` + q + `, "limit": 5}, {"query": [0.1, 0.9, 0.8, 0.1], "limit": 5}], "query": {"fusion": "rrf"}, "limit": 4}`},
		{method: "POST", path: d + "/points/query", body: `{"query": {"recommend": {"positive": [1], "negative": [4]}}, "limit": 3}`},
		{method: "POST", path: "/collections/named/points/query", body: `{"query": [0.9, 0.1], "using": "img", "limit": 1, "with_vector": ["img"]}`, check: wantIDs("5c56c793-69f3-4fbf-87e6-c4bf54c28c26")},
		{method: "POST", path: d + "/points/query/batch", body: `{"searches": [{"query": ` + q + `, "limit": 1}, {"query": 2, "limit": 2}]}`, check: wantContains(`"points":[{"id":4`)},
		{method: "POST", path: d + "/points/query/groups", body: `{"query": ` + q + `, "group_by": "city", "limit": 2, "group_size": 2}`, check: wantContains(`"groups":[`, `"hits":[`)},
		// Legacy families (validated against v1.18 result schemas).
		{method: "POST", path: d + "/points/search", body: `{"vector": ` + q + `, "limit": 3}`, legacy: "ScoredPoint", check: wantIDs(4, 1, 3)},
		{method: "POST", path: d + "/points/search", body: `{"vector": ` + q + `, "limit": 2, "offset": 1, "with_payload": true, "with_vector": true, "score_threshold": 0.1}`, legacy: "ScoredPoint", check: wantIDs(1, 3)},
		{method: "POST", path: d + "/points/search", body: `{"vector": ` + q + `, "top": 2}`, legacy: "ScoredPoint", check: wantIDs(4, 1)},
		{method: "POST", path: d + "/points/recommend", body: `{"positive": [4], "top": 1}`, legacy: "ScoredPoint"},
		{method: "POST", path: "/collections/named/points/search", body: `{"vector": {"name": "txt", "vector": [3, 2, 1]}, "limit": 1}`, legacy: "ScoredPoint", check: wantIDs(2)},
		{method: "POST", path: d + "/points/search/batch", body: `{"searches": [{"vector": ` + q + `, "limit": 1}, {"vector": [0.1, 0.9, 0.8, 0.1], "limit": 2, "filter": {"must": [{"key": "n", "range": {"gte": 2}}]}}]}`, legacy: "ScoredPointBatch"},
		{method: "POST", path: d + "/points/search/groups", body: `{"vector": ` + q + `, "group_by": "city", "limit": 3, "group_size": 1}`, legacy: "GroupsResult", check: wantContains(`"groups":[`)},
		{method: "POST", path: d + "/points/recommend", body: `{"positive": [1, 2], "negative": [4], "limit": 2}`, legacy: "ScoredPoint"},
		{method: "POST", path: d + "/points/recommend", body: `{"positive": [1], "strategy": "best_score", "limit": 2}`, legacy: "ScoredPoint"},
		{method: "POST", path: d + "/points/recommend/batch", body: `{"searches": [{"positive": [1], "limit": 1}, {"positive": [3], "limit": 2}]}`, legacy: "ScoredPointBatch"},
		{method: "POST", path: d + "/points/recommend/groups", body: `{"positive": [1], "group_by": "city", "limit": 2, "group_size": 2}`, legacy: "GroupsResult"},
		{method: "POST", path: d + "/points/discover", body: `{"target": 1, "context": [{"positive": 2, "negative": 4}], "limit": 2}`, legacy: "ScoredPoint"},
		{method: "POST", path: d + "/points/discover/batch", body: `{"searches": [{"target": ` + q + `, "context": [{"positive": 3, "negative": 5}], "limit": 2}]}`, legacy: "ScoredPointBatch"},
		// Payload and vector writes.
		{method: "POST", path: d + "/points/payload?wait=true", body: `{"payload": {"color": "red"}, "points": [1, 2]}`, check: wantContains(`"status":"completed"`)},
		{method: "POST", path: d + "/points/payload?wait=true", body: `{"payload": {"deep": 1}, "filter": {"must": [{"has_id": [3]}]}}`},
		{method: "GET", path: d + "/points/2", check: wantContains(`"color":"red"`, `"n":2`)},
		{method: "PUT", path: d + "/points/payload?wait=true", body: `{"payload": {"only": true}, "points": [2]}`},
		{method: "GET", path: d + "/points/2", check: func(t testing.TB, r json.RawMessage) {
			wantContains(`"payload":{"only":true}`)(t, r)
		}},
		{method: "POST", path: d + "/points/payload/delete?wait=true", body: `{"keys": ["color"], "points": [1]}`},
		{method: "GET", path: d + "/points/1", check: func(t testing.TB, r json.RawMessage) {
			if strings.Contains(string(r), "color") {
				t.Errorf("payload key not deleted: %s", r)
			}
		}},
		{method: "POST", path: d + "/points/payload/clear?wait=true", body: `{"points": [3]}`},
		{method: "GET", path: d + "/points/3", check: func(t testing.TB, r json.RawMessage) {
			if strings.Contains(string(r), "city") {
				t.Errorf("payload not cleared: %s", r)
			}
		}},
		{method: "PUT", path: d + "/points/vectors?wait=true", body: `{"points": [{"id": 6, "vector": [1, 1, 1, 1]}]}`},
		{method: "POST", path: d + "/points", body: `{"ids": [6], "with_vector": true}`, check: wantContains(`"vector":[1,1,1,1]`)},
		{method: "POST", path: "/collections/named/points/vectors/delete?wait=true", body: `{"points": [2], "vector": ["txt"]}`},
		{method: "POST", path: "/collections/named/points", body: `{"ids": [2], "with_vector": true}`, check: func(t testing.TB, r json.RawMessage) {
			if strings.Contains(string(r), "txt") || !strings.Contains(string(r), "img") {
				t.Errorf("named vector not deleted: %s", r)
			}
		}},
		{method: "POST", path: d + "/points/batch?wait=true", body: `{"operations": [
			{"upsert": {"points": [{"id": 9, "vector": [0.5, 0.5, 0.5, 0.5], "payload": {"city": "Oslo"}}]}},
			{"set_payload": {"payload": {"tag": "b"}, "points": [9]}},
			{"overwrite_payload": {"payload": {"city": "Bergen"}, "points": [9]}},
			{"delete_payload": {"keys": ["city"], "points": [8]}},
			{"clear_payload": {"points": [7]}},
			{"update_vectors": {"points": [{"id": 7, "vector": [0, 0, 0, 1]}]}},
			{"delete": {"points": [5]}}
		]}`, check: func(t testing.TB, r json.RawMessage) {
			var rs []map[string]any
			_ = json.Unmarshal(r, &rs)
			if len(rs) != 7 {
				t.Errorf("batch results: %s", r)
			}
		}},
		{method: "GET", path: d + "/points/9", check: wantContains(`"payload":{"city":"Bergen"}`)},
		{method: "POST", path: d + "/points/delete?wait=true", body: `{"points": [8]}`},
		{method: "POST", path: d + "/points/delete?wait=true", body: `{"filter": {"must": [{"key": "city", "match": {"value": "Bergen"}}]}}`},
		{method: "POST", path: d + "/points/count", body: `{"exact": true}`, check: wantJSON(`{"count": 6}`)},
		// Aliases.
		{method: "POST", path: "/collections/aliases", body: `{"actions": [{"create_alias": {"collection_name": "demo", "alias_name": "prod"}}]}`, check: wantJSON(`true`)},
		{method: "GET", path: "/aliases", check: wantContains(`{"alias_name":"prod","collection_name":"demo"}`)},
		{method: "GET", path: d + "/aliases", check: wantContains(`"alias_name":"prod"`)},
		{method: "POST", path: "/collections/prod/points/query", body: `{"query": ` + q + `, "limit": 1}`, check: wantIDs(6)}, // 6 is now [1,1,1,1]
		{method: "POST", path: "/collections/aliases", body: `{"actions": [{"rename_alias": {"old_alias_name": "prod", "new_alias_name": "live"}}]}`},
		{method: "POST", path: "/collections/aliases", body: `{"actions": [{"delete_alias": {"alias_name": "live"}}]}`},
		{method: "GET", path: "/aliases", check: wantJSON(`{"aliases": []}`)},
		// Index deletion, service endpoints, cluster, deletion.
		{method: "DELETE", path: d + "/index/n?wait=true"},
		{method: "GET", path: d + "/optimizations", check: wantContains(`"summary":{"queued_optimizations":`, `"idle_segments":`, `"running":[`)},
		{method: "GET", path: d + "/optimizations?with=queued,completed,idle_segments&completed_limit=2", check: wantContains(`"queued":[`, `"completed":[`, `"idle_segments":[{"uuid":"`)},
		{method: "GET", path: d + "/shards"},
		{method: "GET", path: "/cluster", check: wantJSON(`{"status": "disabled"}`)},
		{method: "GET", path: d + "/cluster/digests", legacy: "shoal", check: wantContains(`{"shard":0,"state":"Active"`, `{"shard":1,"state":"Active"`, `"digest":"`)},
		{method: "GET", path: "/cluster/health", legacy: "shoal", check: wantContains(`"status":"green"`, `"standalone":true`, `"reasons":[]`, `"shard_count":2`)},
		{method: "GET", path: d + "/cluster", check: wantContains(`"shard_count":2`, `{"shard_id":0,"points_count":`, `{"shard_id":1,"points_count":`, `"remote_shards":[]`)},
		{method: "GET", path: "/telemetry?details_level=2", check: wantContains(`"number_of_collections":2`, `"id":"demo"`, `"init_time_ms":null`, `"config":{"params":{"vectors":{"size":4,"distance":"Dot"`)},
		{method: "DELETE", path: "/collections/named", check: wantJSON(`true`)},
		{method: "GET", path: "/collections", check: func(t testing.TB, r json.RawMessage) {
			if strings.Contains(string(r), "named") {
				t.Errorf("collection not deleted: %s", r)
			}
		}},
	}
	for _, s := range steps {
		s.run(t, c)
		if t.Failed() {
			t.Fatalf("stopping after the failed step %s %s", s.method, s.path)
		}
	}

	// The routes without a success path in standalone Shoal answer in
	// Qdrant's error shape.
	for _, e := range []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"PUT", d + "/vectors/extra", `{"size": 2, "distance": "Dot"}`, 400, "unknown field `size`"},
		{"DELETE", d + "/vectors/extra", ``, 400, "Not existing vector name error: extra"},
		{"PUT", d + "/shards", `{"shard_key": "a"}`, 400, "custom sharding"},
		{"POST", d + "/shards/delete", `{"shard_key": "a"}`, 400, "custom sharding"},
		{"POST", d + "/cluster", `{"move_shard": {"shard_id": 0, "from_peer_id": 1, "to_peer_id": 2}}`, 405, "standalone"},
		{"GET", "/collections/nope/cluster", ``, 404, "Collection `nope` doesn't exist!"},
		{"GET", "/cluster/telemetry", ``, 405, "standalone"},
		{"POST", "/cluster/recover", ``, 405, "standalone"},
		{"DELETE", "/cluster/peer/7", ``, 405, "standalone"},
		{"GET", "/cluster/metadata/keys", ``, 405, "standalone"},
		{"GET", "/quotas", ``, 400, "quotas are not supported"},
		{"PUT", "/quotas", `{"enabled": true}`, 400, "quotas are not supported"},
		{"GET", d + "/snapshots", ``, 501, "Snapshots are not available"},
	} {
		var body any
		if e.body != "" {
			body = e.body
		}
		c.do(e.method, e.path, body).wantError(t, e.status, e.want)
	}
	step{method: "GET", path: "/issues", check: wantJSON(`{"issues": []}`)}.run(t, c)
	step{method: "DELETE", path: "/issues", check: wantJSON(`true`)}.run(t, c)
	for _, p := range []string{"/", "/healthz", "/livez", "/readyz"} {
		r := c.do("GET", p, nil)
		if r.status != 200 {
			t.Errorf("%s: %d", p, r.status)
		}
		spec(t).validateResponse(t, "GET", p, r.status, r.header, r.body)
	}

	r := c.do("GET", "/metrics", nil)
	for _, want := range []string{
		`rest_responses_total{endpoint="/collections/{name}/points/query",method="POST",status="200"}`,
		`rest_responses_duration_seconds_bucket{endpoint="/collections/{name}/points/search",method="POST",le=`,
	} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	return c
}

// checkEveryRoute checks, from the handler's own statistics, that every
// registered route (snapshot routes aside, which belong to
// Options.Snapshots) answered at least once.
func checkEveryRoute(t *testing.T, c *testClient) {
	seen := c.h.stats.seen()
	snap := map[string]bool{}
	for _, p := range SnapshotPatterns() {
		snap[p] = true
	}
	n := 0
	for _, p := range c.h.patterns {
		if snap[p] && p != "GET /collections/{collection_name}/snapshots" {
			continue
		}
		n++
		if method, path := splitPattern(p); !seen[method+" "+path] {
			t.Errorf("route %s was not exercised", p)
		}
	}
	t.Logf("%d routes exercised", n)
	if n < 60 {
		t.Errorf("only %d routes registered", n)
	}
}

// TestCurlExamples runs docs/rest-examples.md against a real server.
func TestCurlExamples(t *testing.T) {
	c := newRealServer(t, Options{}, auth.Options{})
	n := runCurlExamples(t, c.base, "")
	t.Logf("%d curl examples passed", n)
}

// TestErrorsEndToEnd covers bad input over real HTTP against the real
// service: every answer must be Qdrant's ErrorResponse with the right
// status and text, and nothing may be partially applied.
func TestErrorsEndToEnd(t *testing.T) {
	c := newRealServer(t, Options{MaxRequestBytes: 64 << 10}, auth.Options{})
	const d = "/collections/e"
	step{method: "PUT", path: d, body: `{"vectors": {"size": 3, "distance": "Euclid"}}`}.run(t, c)
	step{method: "PUT", path: d + "/points?wait=true", body: `{"points": [{"id": 1, "vector": [1, 2, 3], "payload": {"a": 1}}]}`}.run(t, c)

	cases := []struct {
		name, method, path, body string
		status                   int
		want                     string
	}{
		{"bad JSON", "PUT", d + "/points", `{"points": [`, 400, "Format error in JSON body: EOF while parsing a value at line 1 column 12"},
		{"wrong type in config", "PUT", "/collections/x", `{"vectors": {"size": "four", "distance": "Dot"}}`, 400, "Wrong input: invalid vector params"},
		{"batch too large", "PUT", d + "/points", batchOf(1001), 400, "1001"},
		{"syntax error position", "PUT", "/collections/x", "{\n  \"vectors\": {,}\n}", 400, "at line 2 column"},
		{"empty body", "POST", d + "/points/scroll", ``, 400, "Format error in JSON body: EOF while parsing a value"},
		{"wrong type", "POST", d + "/points/scroll", `{"limit": "ten"}`, 400, "Format error in JSON body: invalid type: string, expected int"},
		{"wrong vector type", "PUT", d + "/points", `{"points": [{"id": 2, "vector": "abc"}]}`, 400, "vector must be"},
		{"negative id", "PUT", d + "/points", `{"points": [{"id": -2, "vector": [1, 2, 3]}]}`, 400, "point id"},
		{"unknown collection", "GET", "/collections/nope", ``, 404, "Not found: Collection `nope` doesn't exist!"},
		{"unknown collection search", "POST", "/collections/nope/points/query", `{"query": [1, 2, 3]}`, 404, "Collection `nope` doesn't exist!"},
		{"missing point", "GET", d + "/points/77", ``, 404, "Not found: No point with id 77 found"},
		{"bad point id", "GET", d + "/points/x-y", ``, 400, "Unable to parse point id"},
		{"wrong dimension", "PUT", d + "/points?wait=true", `{"points": [{"id": 2, "vector": [1, 2, 3]}, {"id": 3, "vector": [1, 2]}]}`, 400, "dim"},
		{"wrong query dimension", "POST", d + "/points/query", `{"query": [1, 2]}`, 400, "dim"},
		{"bad wait", "PUT", d + "/points?wait=yes", `{"points": []}`, 400, "Deserialize error in query parameters: provided string was not `true` or `false`"},
		{"bad ordering", "PUT", d + "/points?ordering=fast", `{"points": []}`, 400, "unknown variant `fast`, expected one of `weak`, `medium`, `strong`"},
		{"bad consistency", "POST", d + "/points/scroll?consistency=most", `{}`, 400, "data did not match any variant of untagged enum ReadConsistency"},
		{"bad optimizations part", "GET", d + "/optimizations?with=queued,all", ``, 400, "Deserialize error in query parameters: unknown variant `all`, expected one of `queued`, `completed`, `idle_segments`"},
		{"bad completed_limit", "GET", d + "/optimizations?completed_limit=-1", ``, 400, "Deserialize error in query parameters: invalid digit found in string"},
		{"optimizations of unknown collection", "GET", "/collections/nope/optimizations", ``, 404, "Not found: Collection `nope` doesn't exist!"},
		{"zero consistency", "POST", d + "/points/count?consistency=0", `{}`, 400, "consistency"},
		{"bad timeout", "POST", d + "/points/count?timeout=soon", `{}`, 400, "Deserialize error in query parameters: invalid digit found in string"},
		{"zero timeout", "POST", d + "/points/count?timeout=0", `{}`, 400, "timeout"},
		{"duplicate collection", "PUT", d, `{"vectors": {"size": 3, "distance": "Dot"}}`, 400, "Wrong input: Collection `e` already exists!"},
		{"bad distance", "PUT", "/collections/bad", `{"vectors": {"size": 3, "distance": "Hamming"}}`, 400, ""},
		{"oversize body", "PUT", d + "/points", `{"points": [{"id": 5, "vector": [1, 2, 3], "payload": {"s": "` + strings.Repeat("x", 70<<10) + `"}}]}`, 413, "is larger than allowed"},
		{"filter too deep", "POST", d + "/points/count", `{"filter": ` + deepFilter(40) + `}`, 400, "deep"},
		{"standalone", "POST", "/cluster/recover", ``, 405, "Qdrant is running in standalone mode"},
		// Qdrant validates the collection name in the path: 422.
		{"encoded slash in name", "PUT", "/collections/..%2F..%2Fescape", `{"vectors": {"size": 3, "distance": "Dot"}}`, 422, `Validation error in path parameters: [name: Collection name contains forbidden characters (/ \ : * ? " < > | or control characters): "../../escape"]`},
		{"encoded dot-dot name", "PUT", "/collections/%2E%2E", `{"vectors": {"size": 3, "distance": "Dot"}}`, 422, "is not allowed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body any
			if tc.body != "" || tc.method != "GET" {
				body = tc.body
			}
			c.do(tc.method, tc.path, body).wantError(t, tc.status, tc.want)
		})
	}
	// Nothing of the refused writes was applied.
	step{method: "POST", path: d + "/points/count", body: `{}`, check: wantJSON(`{"count": 1}`)}.run(t, c)
	r := c.do("GET", "/collections/bad", nil)
	if r.status != 404 {
		t.Errorf("refused collection exists: %d %s", r.status, r.body)
	}
}

// batchOf returns an upsert body of n 3-d points.
func batchOf(n int) string {
	var b strings.Builder
	b.WriteString(`{"points": [`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id": %d, "vector": [1, 2, 3]}`, i+10)
	}
	b.WriteString(`]}`)
	return b.String()
}

// deepFilter nests n filters inside each other.
func deepFilter(n int) string {
	f := `{"must": [{"key": "a", "match": {"value": 1}}]}`
	for range n - 1 {
		f = `{"must": [` + f + `]}`
	}
	return f
}

// TestAuthEndToEnd checks keys over real HTTP: the read-only key can read
// but not write (the service decides, with 403), the full key can do both.
func TestAuthEndToEnd(t *testing.T) {
	c := newRealServer(t, Options{}, auth.Options{APIKey: "full-key", ReadOnlyAPIKey: "ro-key"})
	c.do("PUT", "/collections/a", `{"vectors": {"size": 2, "distance": "Dot"}}`).wantError(t, 401, "Must provide an API key")
	c.key = "bad"
	c.do("GET", "/collections", nil).wantError(t, 401, "Invalid API key")
	c.key = "full-key"
	step{method: "PUT", path: "/collections/a", body: `{"vectors": {"size": 2, "distance": "Dot"}}`}.run(t, c)
	step{method: "PUT", path: "/collections/a/points?wait=true", body: `{"points": [{"id": 1, "vector": [1, 0]}]}`}.run(t, c)

	c.key = "ro-key"
	step{method: "GET", path: "/collections/a"}.run(t, c)
	step{method: "POST", path: "/collections/a/points/query", body: `{"query": [1, 0]}`, check: wantIDs(1)}.run(t, c)
	c.do("PUT", "/collections/a/points?wait=true", `{"points": [{"id": 2, "vector": [0, 1]}]}`).wantError(t, 403, "")
	c.do("DELETE", "/collections/a", nil).wantError(t, 403, "")
	c.do("PUT", "/collections/b", `{"vectors": {"size": 2, "distance": "Dot"}}`).wantError(t, 403, "")
	c.do("POST", "/collections/aliases", `{"actions": [{"create_alias": {"collection_name": "a", "alias_name": "x"}}]}`).wantError(t, 403, "")

	c.key = "full-key"
	step{method: "POST", path: "/collections/a/points/count", body: `{}`, check: wantJSON(`{"count": 1}`)}.run(t, c)
	// Bearer tokens work like the api-key header.
	req, _ := http.NewRequest("GET", c.base+"/collections/a", nil)
	req.Header.Set("Authorization", "Bearer ro-key")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("bearer read-only key: %d", resp.StatusCode)
	}
}

// TestJWTEndToEnd checks that a JWT given as a bearer token reaches the
// service with its per-collection access.
func TestJWTEndToEnd(t *testing.T) {
	c := newRealServer(t, Options{}, auth.Options{APIKey: "signing-key", JWTRBAC: true})
	c.key = "signing-key"
	for _, n := range []string{"a", "b"} {
		step{method: "PUT", path: "/collections/" + n, body: `{"vectors": {"size": 2, "distance": "Dot"}}`}.run(t, c)
	}
	c.key = ""
	sign := func(key string, claims jwt.MapClaims) string {
		claims["exp"] = time.Now().Add(time.Hour).Unix()
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(key))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	doBearer := func(token, method, path, body string) response {
		req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return response{status: resp.StatusCode, header: resp.Header, body: b}
	}
	readA := sign("signing-key", jwt.MapClaims{"access": []map[string]string{{"collection": "a", "access": "r"}}})
	if r := doBearer(readA, "GET", "/collections/a", ""); r.status != 200 {
		t.Errorf("read a with r-token: %d %s", r.status, r.body)
	}
	doBearer(readA, "PUT", "/collections/a/points?wait=true", `{"points": [{"id": 1, "vector": [1, 0]}]}`).wantError(t, 403, "Forbidden")
	doBearer(readA, "GET", "/collections/b", "").wantError(t, 403, "Forbidden")
	writeA := sign("signing-key", jwt.MapClaims{"access": []map[string]string{{"collection": "a", "access": "rw"}}})
	if r := doBearer(writeA, "PUT", "/collections/a/points?wait=true", `{"points": [{"id": 1, "vector": [1, 0]}]}`); r.status != 200 {
		t.Errorf("write a with rw-token: %d %s", r.status, r.body)
	}
	forged := sign("other-key", jwt.MapClaims{"access": "m"})
	doBearer(forged, "GET", "/collections", "").wantError(t, 403, "InvalidSignature")
}

// TestGzipEndToEnd upserts with a gzip-compressed body, as clients with
// request compression enabled send it.
func TestGzipEndToEnd(t *testing.T) {
	c := newRealServer(t, Options{}, auth.Options{})
	step{method: "PUT", path: "/collections/z", body: `{"vectors": {"size": 3, "distance": "Cosine"}}`}.run(t, c)
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write([]byte(batchOf(50)))
	_ = zw.Close()
	req, _ := http.NewRequest("PUT", c.base+"/collections/z/points?wait=true", &b)
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("gzip upsert: %d %s", resp.StatusCode, body)
	}
	step{method: "POST", path: "/collections/z/points/count", body: `{}`, check: wantJSON(`{"count": 50}`)}.run(t, c)
}

// BenchmarkQueryOverHTTP measures one top-10 query over loopback HTTP
// against the real service (5,000 points of 64 dimensions, 2 shards):
// the whole REST path, JSON both ways, plus the search itself.
func BenchmarkQueryOverHTTP(b *testing.B) {
	for _, withVector := range []bool{false, true} {
		b.Run(fmt.Sprintf("with_vector=%v", withVector), func(b *testing.B) {
			c := newRealServer(b, Options{}, auth.Options{})
			step{method: "PUT", path: "/collections/bench", body: `{"vectors": {"size": 64, "distance": "Cosine"}, "shard_number": 2}`}.run(b, c)
			r := rand.New(rand.NewPCG(7, 8))
			vec := func() string {
				parts := make([]string, 64)
				for i := range parts {
					parts[i] = fmt.Sprintf("%.4f", r.Float32())
				}
				return "[" + strings.Join(parts, ",") + "]"
			}
			for batchStart := 0; batchStart < 5000; batchStart += 500 {
				var sb strings.Builder
				sb.WriteString(`{"points": [`)
				for i := range 500 {
					if i > 0 {
						sb.WriteByte(',')
					}
					fmt.Fprintf(&sb, `{"id": %d, "vector": %s, "payload": {"n": %d}}`, batchStart+i, vec(), i)
				}
				sb.WriteString(`]}`)
				step{method: "PUT", path: "/collections/bench/points?wait=true", body: sb.String()}.run(b, c)
			}
			body := fmt.Sprintf(`{"query": %s, "limit": 10, "with_payload": true, "with_vector": %v}`, vec(), withVector)
			client := &http.Client{}
			b.ReportAllocs()
			for b.Loop() {
				resp, err := client.Post(c.base+"/collections/bench/points/query", "application/json", strings.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatal(resp.StatusCode)
				}
			}
		})
	}
}

// TestConcurrentRequests runs writers and readers in parallel over real
// HTTP (run with -race): every answer must be 200, every write must be
// visible at the end, and the statistics must count every request.
func TestConcurrentRequests(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := newRealServer(t, Options{Registerer: reg, Gatherer: reg}, auth.Options{})
	step{method: "PUT", path: "/collections/cc", body: `{"vectors": {"size": 3, "distance": "Dot"}, "shard_number": 3}`}.run(t, c)
	const workers, perWorker = 6, 30
	errs := make(chan error, workers*perWorker)
	done := make(chan struct{})
	for w := range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range perWorker {
				var method, path, body string
				switch i % 3 {
				case 0:
					method, path = "PUT", "/collections/cc/points?wait=true"
					body = fmt.Sprintf(`{"points": [{"id": %d, "vector": [%d, 1, 0.5], "payload": {"w": %d}}]}`, w*perWorker+i, i, w)
				case 1:
					method, path, body = "POST", "/collections/cc/points/query", `{"query": [1, 0, 0], "limit": 5, "with_payload": true}`
				default:
					method, path, body = "POST", "/collections/cc/points/scroll", `{"limit": 100, "with_vector": true}`
				}
				req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
				req.Header.Set("Accept-Encoding", "gzip")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- fmt.Errorf("%s %s: %d", method, path, resp.StatusCode)
				}
			}
		}()
	}
	for range workers {
		<-done
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	writes := workers * perWorker / 3
	step{method: "POST", path: "/collections/cc/points/count", body: `{}`, check: wantJSON(fmt.Sprintf(`{"count": %d}`, writes))}.run(t, c)
	seen := c.h.stats.snapshot()
	if got := seen["PUT /collections/{name}/points"]["200"].Count; got != uint64(writes) {
		t.Errorf("statistics count %d upserts, want %d", got, writes)
	}
	if got := seen["POST /collections/{name}/points/query"]["200"].Count; got != uint64(writes) {
		t.Errorf("statistics count %d queries, want %d", got, writes)
	}
}
