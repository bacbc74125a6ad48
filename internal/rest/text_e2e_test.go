package rest

import (
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/shoal-db/shoal/internal/auth"
	"github.com/shoal-db/shoal/internal/service"
)

// startTextServer serves the REST API over a real service stored in dir;
// stop closes the HTTP server and the service.
func startTextServer(t *testing.T, dir string) (c *testClient, stop func()) {
	t.Helper()
	svc, err := service.New(service.Options{StorageDir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	h := New(Options{Service: svc, Auth: auth.New(auth.Options{})})
	srv := httptest.NewServer(h)
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		srv.Close()
		if err := svc.Close(); err != nil {
			t.Errorf("cannot close service: %v", err)
		}
	}
	t.Cleanup(stop)
	return &testClient{t: t, base: srv.URL, h: h}, stop
}

// wantIDSet checks the ids of a list of points (or of {"points": [...]}),
// in any order.
func wantIDSet(ids ...any) func(testing.TB, json.RawMessage) {
	return func(t testing.TB, got json.RawMessage) {
		t.Helper()
		var wrapped struct {
			Points []struct {
				ID json.Number `json:"id"`
			} `json:"points"`
		}
		if err := json.Unmarshal(got, &wrapped); err != nil {
			t.Fatalf("cannot read ids from %s", got)
		}
		var g, w []string
		for _, p := range wrapped.Points {
			g = append(g, p.ID.String())
		}
		for _, id := range ids {
			b, _ := json.Marshal(id)
			w = append(w, string(b))
		}
		slices.Sort(g)
		slices.Sort(w)
		if !slices.Equal(g, w) {
			t.Errorf("ids %v, want %v (result %s)", g, w, got)
		}
	}
}

const textPoints = `{"points": [
  {"id": 1, "vector": [1, 0], "payload": {"body": "The cats are running in the garden", "raw": "hello"}},
  {"id": 2, "vector": [0.9, 0.1], "payload": {"body": "A Café near the station"}},
  {"id": 3, "vector": [0.8, 0.2], "payload": {"body": "Running shoes for runners"}},
  {"id": 4, "vector": [0.7, 0.3], "payload": {"body": ["Dogs chase cats", "nothing else"]}},
  {"id": 5, "vector": [0.6, 0.4], "payload": {"body": "Qdrant stores vectors", "raw": "worldwide"}},
  {"id": 6, "vector": [0.5, 0.5], "payload": {"raw": "hello world"}}
]}`

// textIndexSchema is a text index with every analysis option set.
const textIndexSchema = `{"type": "text", "tokenizer": "word", "lowercase": true, "ascii_folding": true, "phrase_matching": true,
  "min_token_len": 2, "max_token_len": 20,
  "stopwords": {"languages": ["english"], "custom": ["qdrant"]},
  "stemmer": {"type": "snowball", "language": "english"}}`

// TestTextFilteringEndToEnd creates a text index with stemming, stopwords
// and ASCII folding over real HTTP, filters with text_any, text and phrase
// (validating every request and answer against Qdrant's OpenAPI spec),
// checks the index parameters in the collection info, and checks that all
// of it survives a restart.
func TestTextFilteringEndToEnd(t *testing.T) {
	dir := t.TempDir()
	c, stop := startTextServer(t, dir)
	const d = "/collections/texts"
	filterSteps := func(c *testClient) {
		scroll := func(match string) string {
			return `{"filter": {"must": [{"key": "body", "match": ` + match + `}]}, "limit": 10}`
		}
		steps := []step{
			// text_any: any analysed token ("cat" from "cats", "station").
			{method: "POST", path: d + "/points/scroll", body: scroll(`{"text_any": "cat station"}`), check: wantIDs(1, 2, 4)},
			// Folding and stemming apply to the query too.
			{method: "POST", path: d + "/points/scroll", body: scroll(`{"text_any": "CAFE dog"}`), check: wantIDs(2, 4)},
			{method: "POST", path: d + "/points/scroll", body: scroll(`{"text_any": "runs"}`), check: wantIDs(1, 3)},
			// Stopwords (listed and custom) are never tokens.
			{method: "POST", path: d + "/points/scroll", body: scroll(`{"text_any": "the qdrant"}`), check: wantIDs()},
			{method: "POST", path: d + "/points/scroll", body: scroll(`{"text_any": "vectors"}`), check: wantIDs(5)},
			// text needs every token, phrase needs them adjacent in order.
			{method: "POST", path: d + "/points/scroll", body: scroll(`{"text": "running cat"}`), check: wantIDs(1)},
			{method: "POST", path: d + "/points/scroll", body: scroll(`{"text": "run shoe"}`), check: wantIDs(3)},
			{method: "POST", path: d + "/points/scroll", body: scroll(`{"phrase": "cats run"}`), check: wantIDs(1)},
			{method: "POST", path: d + "/points/scroll", body: scroll(`{"phrase": "run cats"}`), check: wantIDs()},
			{method: "POST", path: d + "/points/scroll", body: scroll(`{"phrase": "chasing the cat"}`), check: wantIDs(4)},
			// must_not and should combine with text_any.
			{method: "POST", path: d + "/points/scroll", body: `{"filter": {"must_not": [{"key": "body", "match": {"text_any": "cat dog"}}]}, "limit": 10}`, check: wantIDs(2, 3, 5, 6)},
			// Without a text index, text_any is a substring test of each
			// query word.
			{method: "POST", path: d + "/points/scroll", body: `{"filter": {"must": [{"key": "raw", "match": {"text_any": "orl xyz"}}]}, "limit": 10}`, check: wantIDs(5, 6)},
			{method: "POST", path: d + "/points/scroll", body: `{"filter": {"must": [{"key": "raw", "match": {"text_any": "Hello"}}]}, "limit": 10}`, check: wantIDs()},
			// Count and search go through the planner's index estimates.
			{method: "POST", path: d + "/points/count", body: `{"filter": {"must": [{"key": "body", "match": {"text_any": "cat station"}}]}, "exact": true}`, check: wantJSON(`{"count": 3}`)},
			{method: "POST", path: d + "/points/query", body: `{"query": [1, 0], "filter": {"must": [{"key": "body", "match": {"text_any": "cat garden"}}]}, "limit": 10}`, check: wantIDSet(1, 4)},
			{method: "POST", path: d + "/points/query", body: `{"query": [1, 0], "filter": {"should": [{"key": "body", "match": {"phrase": "cafe near"}}, {"key": "raw", "match": {"text_any": "wide"}}]}, "limit": 10, "params": {"exact": true}}`, check: wantIDSet(2, 5)},
			// The index and its parameters, in Qdrant's shapes.
			{method: "GET", path: d, check: func(t testing.TB, r json.RawMessage) {
				var info struct {
					PayloadSchema map[string]struct {
						DataType string         `json:"data_type"`
						Params   map[string]any `json:"params"`
						Points   int            `json:"points"`
					} `json:"payload_schema"`
				}
				if err := json.Unmarshal(r, &info); err != nil {
					t.Fatal(err)
				}
				body := info.PayloadSchema["body"]
				var want map[string]any
				if err := json.Unmarshal([]byte(textIndexSchema), &want); err != nil {
					t.Fatal(err)
				}
				wb, _ := json.Marshal(want)
				gb, _ := json.Marshal(body.Params)
				if body.DataType != "text" || string(gb) != string(wb) || body.Points != 5 {
					t.Errorf("payload_schema.body: %s %s (%d points), want params %s", body.DataType, gb, body.Points, wb)
				}
			}},
		}
		for _, s := range steps {
			s.run(t, c)
		}
	}

	for _, s := range []step{
		{method: "PUT", path: d, body: `{"vectors": {"size": 2, "distance": "Dot"}, "shard_number": 2}`, check: wantJSON(`true`)},
		{method: "PUT", path: d + "/points?wait=true", body: textPoints, check: wantContains(`"status":"completed"`)},
		{method: "PUT", path: d + "/index?wait=true", body: `{"field_name": "body", "field_schema": ` + textIndexSchema + `}`, check: wantContains(`"status":"completed"`)},
	} {
		s.run(t, c)
	}
	filterSteps(c)

	// Unsupported or unknown languages are refused with a 400 that names
	// them, and leave no index behind.
	for _, tc := range []struct{ schema, want string }{
		{`{"type": "text", "stopwords": "klingon"}`, `unknown language "klingon"`},
		{`{"type": "text", "stopwords": {"languages": ["japanese"]}}`, `"japanese" list is not available`},
		{`{"type": "text", "stemmer": {"type": "snowball", "language": "german"}}`, `snowball stemming for "german" is not available`},
		{`{"type": "text", "stemmer": {"type": "snowball", "language": "elvish"}}`, `unknown snowball language "elvish"`},
	} {
		c.do("PUT", d+"/index?wait=true", `{"field_name": "bad", "field_schema": `+tc.schema+`}`).wantError(t, 400, tc.want)
	}
	c.do("PUT", d+"/index?wait=true", `{"field_name": "body", "field_schema": {"type": "text", "stopwords": "tajik"}}`).wantError(t, 400, `tajik`)
	step{method: "GET", path: d, check: func(t testing.TB, r json.RawMessage) {
		var info struct {
			PayloadSchema map[string]json.RawMessage `json:"payload_schema"`
		}
		if err := json.Unmarshal(r, &info); err != nil {
			t.Fatal(err)
		}
		if _, ok := info.PayloadSchema["bad"]; ok || len(info.PayloadSchema) != 1 {
			t.Errorf("a refused index stayed: %s", r)
		}
	}}.run(t, c)
	// The refused replacement kept the index as it was.
	filterSteps(c)

	// The index definition persists: after a restart the index is rebuilt
	// with the same analysis.
	stop()
	c, _ = startTextServer(t, dir)
	filterSteps(c)
}
