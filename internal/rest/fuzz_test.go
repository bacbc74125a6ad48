package rest

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/shoal-db/shoal/internal/service"
)

// fuzzRoutes are the body-carrying routes the fuzzer sends bodies to; the
// fuzzer picks one with its first input.
var fuzzRoutes = [...]string{
	"PUT /collections/f/points?wait=true",
	"POST /collections/f/points",
	"POST /collections/f/points/delete?wait=true",
	"PUT /collections/f/points/vectors?wait=true",
	"POST /collections/f/points/vectors/delete?wait=true",
	"POST /collections/f/points/payload?wait=true",
	"PUT /collections/f/points/payload?wait=true",
	"POST /collections/f/points/payload/delete?wait=true",
	"POST /collections/f/points/payload/clear?wait=true",
	"POST /collections/f/points/batch?wait=true",
	"POST /collections/f/points/scroll",
	"POST /collections/f/points/count",
	"POST /collections/f/facet",
	"POST /collections/f/points/search/matrix/pairs",
	"POST /collections/f/points/query",
	"POST /collections/f/points/query/batch",
	"POST /collections/f/points/query/groups",
	"POST /collections/f/points/search",
	"POST /collections/f/points/search/batch",
	"POST /collections/f/points/search/groups",
	"POST /collections/f/points/recommend",
	"POST /collections/f/points/recommend/groups",
	"POST /collections/f/points/discover",
	"PUT /collections/f/index?wait=true",
	"PATCH /collections/f",
	"PUT /collections/g",
	"POST /collections/aliases",
}

// FuzzRequestBodies sends arbitrary bodies to every body-carrying route of
// a real server and requires an answer in Qdrant's envelope that is never a
// server error: bad input must be refused as bad input.
func FuzzRequestBodies(f *testing.F) {
	seeds := []string{
		`{"points": [{"id": 1, "vector": [1, 2, 3], "payload": {"a": 1}}]}`,
		`{"batch": {"ids": [1, 2], "vectors": [[1, 2, 3], [3, 2, 1]]}}`,
		`{"ids": [1, "00000000-0000-0000-0000-000000000001"], "with_vector": true}`,
		`{"filter": {"must": [{"key": "a", "match": {"value": 1}}]}}`,
		`{"filter": {"should": {"key": "a", "range": {"gte": 0.5}}}, "limit": 3}`,
		`{"query": [1, 2, 3], "limit": 2, "with_payload": ["a"]}`,
		`{"query": {"recommend": {"positive": [1]}}}`,
		`{"prefetch": [{"query": [1, 2, 3]}], "query": {"fusion": "rrf"}}`,
		`{"vector": [1, 2, 3], "limit": 1}`,
		`{"searches": [{"query": [1, 2, 3]}]}`,
		`{"query": [1, 2, 3], "group_by": "a"}`,
		`{"operations": [{"upsert": {"points": [{"id": 2, "vector": [1, 1, 1]}]}}, {"delete": {"points": [2]}}]}`,
		`{"payload": {"b": [1, {"c": null}]}, "points": [1], "key": "x"}`,
		`{"keys": ["a"], "filter": {"must_not": [{"has_id": [1]}]}}`,
		`{"points": [{"id": 1, "vector": {"": [1, 2, 3]}}]}`,
		`{"key": "a", "limit": 1}`,
		`{"field_name": "a", "field_schema": {"type": "integer", "range": true}}`,
		`{"vectors": {"size": 3, "distance": "Dot"}}`,
		`{"actions": [{"create_alias": {"collection_name": "f", "alias_name": "h"}}]}`,
		`{"target": 1, "context": [{"positive": 1, "negative": 1}]}`,
		`[]`, `null`, `"x"`, `{"points": null}`, `{"query": {}}`, `{"filter": {"must": [{}]}}`,
		`{"limit": 1e400}`, `{"limit": -5}`, `{"points": [{"id": 18446744073709551615, "vector": [1e38, -1e38, 0]}]}`,
	}
	for i, s := range seeds {
		f.Add(uint8(i%len(fuzzRoutes)), []byte(s))
		f.Add(uint8((i*7+3)%len(fuzzRoutes)), []byte(s))
	}
	svc, err := service.New(service.Options{StorageDir: f.TempDir(), Logger: slog.New(slog.DiscardHandler),
		Limits: service.Limits{MaxBatchPoints: 1000, MaxLimit: 1000}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = svc.Close() })
	h := New(Options{Service: svc, MaxRequestBytes: 1 << 20})
	setup := httptest.NewRecorder()
	h.ServeHTTP(setup, httptest.NewRequest("PUT", "/collections/f", strings.NewReader(`{"vectors": {"size": 3, "distance": "Cosine"}, "shard_number": 2}`)))
	if setup.Code != 200 {
		f.Fatalf("cannot create collection: %s", setup.Body)
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		method, target, _ := strings.Cut(fuzzRoutes[int(route)%len(fuzzRoutes)], " ")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(method, target, strings.NewReader(string(body))))
		if w.Code >= 500 {
			t.Fatalf("%s %s with %q: %d %s", method, target, body, w.Code, w.Body)
		}
		var env struct {
			Status json.RawMessage `json:"status"`
			Time   *float64        `json:"time"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil || env.Time == nil || env.Status == nil {
			t.Fatalf("%s %s with %q: answer is not an envelope: %d %s", method, target, body, w.Code, w.Body)
		}
		if w.Code != http.StatusOK && !strings.HasPrefix(string(env.Status), `{"error":`) {
			t.Fatalf("%s %s: error without status.error: %s", method, target, w.Body)
		}
	})
}
