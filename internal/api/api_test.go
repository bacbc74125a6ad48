package api

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestPointIDJSON(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want PointID
	}{
		{`0`, NumID(0)},
		{`18446744073709551615`, NumID(18446744073709551615)},
		{`"5c56c793-69f3-4fbf-87e6-c4bf54c28c26"`, UUIDID(uuid.MustParse("5c56c793-69f3-4fbf-87e6-c4bf54c28c26"))},
		{`"5C56C79369F34FBF87E6C4BF54C28C26"`, UUIDID(uuid.MustParse("5c56c793-69f3-4fbf-87e6-c4bf54c28c26"))},
	} {
		var id PointID
		if err := json.Unmarshal([]byte(tc.in), &id); err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if id != tc.want {
			t.Fatalf("%s: got %v want %v", tc.in, id, tc.want)
		}
		out, _ := json.Marshal(id)
		var back PointID
		json.Unmarshal(out, &back)
		if back != id {
			t.Fatalf("%s: round trip gave %v", tc.in, back)
		}
		if k, ok := PointIDFromKey(id.Key()); !ok || k != id {
			t.Fatalf("%s: key round trip gave %v %v", tc.in, k, ok)
		}
	}
	for _, bad := range []string{`-1`, `1.5`, `"abc"`, `true`, `null`, `18446744073709551616`, `{}`} {
		var id PointID
		err := json.Unmarshal([]byte(bad), &id)
		if err == nil {
			t.Fatalf("%s accepted as %v", bad, id)
		}
		if KindOf(err) != KindBadInput && !strings.Contains(err.Error(), "point id") {
			t.Fatalf("%s: unexpected error %v", bad, err)
		}
	}
}

func TestPointIDOrder(t *testing.T) {
	a, b := NumID(2), NumID(10)
	u := UUIDID(uuid.MustParse("00000000-0000-0000-0000-000000000001"))
	if a.Compare(b) >= 0 || b.Compare(u) >= 0 || u.Compare(a) <= 0 {
		t.Fatal("ids must order numerically, integers before UUIDs")
	}
}

func TestVectorsJSON(t *testing.T) {
	var v Vectors
	if err := json.Unmarshal([]byte(`[1, 2.5, -3e-2]`), &v); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(v, Vectors{"": {1, 2.5, -0.03}}) {
		t.Fatalf("got %v", v)
	}
	out, _ := json.Marshal(v)
	if string(out) != `[1,2.5,-0.03]` {
		t.Fatalf("marshal %s", out)
	}
	if err := json.Unmarshal([]byte(`{"image":[1,2],"text":[3]}`), &v); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(v, Vectors{"image": {1, 2}, "text": {3}}) {
		t.Fatalf("got %v", v)
	}
	for _, bad := range []string{`{"sparse":{"indices":[1],"values":[0.5]}}`, `[[1,2],[3,4]]`, `["a"]`, `7`} {
		err := json.Unmarshal([]byte(bad), &v)
		if KindOf(err) != KindBadInput {
			t.Fatalf("%s: want bad input, got %v", bad, err)
		}
	}
	if err := CheckFinite("", []float32{1, float32(posInf())}); KindOf(err) != KindBadInput {
		t.Fatalf("Inf accepted: %v", err)
	}
}

func posInf() float64 { var z float64; return 1 / z }

func TestUpsertForms(t *testing.T) {
	var list, batch UpsertPoints
	if err := json.Unmarshal([]byte(`{"points":[{"id":1,"vector":[1,2],"payload":{"n":7}},{"id":"5c56c793-69f3-4fbf-87e6-c4bf54c28c26","vector":[3,4]}]}`), &list); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(`{"batch":{"ids":[1,"5c56c793-69f3-4fbf-87e6-c4bf54c28c26"],"vectors":[[1,2],[3,4]],"payloads":[{"n":7},null]}}`), &batch); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(list.Points, batch.Points) {
		t.Fatalf("forms differ:\n%+v\n%+v", list.Points, batch.Points)
	}
	if n, ok := list.Points[0].Payload["n"].(json.Number); !ok || n != "7" {
		t.Fatalf("payload number kept as %T %v", list.Points[0].Payload["n"], list.Points[0].Payload["n"])
	}
	var named UpsertPoints
	if err := json.Unmarshal([]byte(`{"batch":{"ids":[1,2],"vectors":{"a":[[1],[2]]}}}`), &named); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(named.Points[1].Vector, Vectors{"a": {2}}) {
		t.Fatalf("named batch %v", named.Points)
	}
	for _, bad := range []string{`{}`, `{"batch":{"ids":[1,2],"vectors":[[1]]}}`, `{"points":[],"batch":{"ids":[],"vectors":[]}}`, `{"points":[{"id":-1,"vector":[1]}]}`} {
		var u UpsertPoints
		if err := json.Unmarshal([]byte(bad), &u); KindOf(err) != KindBadInput {
			t.Fatalf("%s: want bad input, got %v", bad, err)
		}
	}
}

func TestFilterJSON(t *testing.T) {
	src := `{
	  "must": [
	    {"key": "city", "match": {"value": "London"}},
	    {"key": "price", "range": {"gte": 10, "lt": 100.5}},
	    {"key": "ts", "range": {"gt": "2024-01-01T00:00:00Z"}},
	    {"key": "loc", "geo_radius": {"center": {"lon": 13.4, "lat": 52.5}, "radius": 1000}},
	    {"is_empty": {"key": "tags"}},
	    {"has_id": [1, "5c56c793-69f3-4fbf-87e6-c4bf54c28c26"]},
	    {"nested": {"key": "items", "filter": {"must": [{"key": "qty", "match": {"any": [1, 2]}}]}}},
	    {"should": [{"key": "a.b[].c", "match": {"text": "hello world"}}]}
	  ],
	  "must_not": [{"key": "color", "match": {"except": ["red"]}}],
	  "min_should": {"conditions": [{"key": "x", "values_count": {"gt": 2}}], "min_count": 1}
	}`
	var f Filter
	if err := json.Unmarshal([]byte(src), &f); err != nil {
		t.Fatal(err)
	}
	if f.Must[0].Field.Match.Kind != MatchValue || f.Must[0].Field.Match.Value != "London" {
		t.Fatalf("match value %+v", f.Must[0].Field.Match)
	}
	if r := f.Must[1].Field.Range; r == nil || *r.Gte != 10 || *r.Lt != 100.5 || r.Gt != nil {
		t.Fatalf("range %+v", r)
	}
	if dr := f.Must[2].Field.DatetimeRange; dr == nil || dr.Gt.Year() != 2024 {
		t.Fatalf("datetime range %+v", dr)
	}
	if f.Must[4].IsEmpty == nil || f.Must[5].HasID == nil || f.Must[6].Nested == nil || f.Must[7].Filter == nil {
		t.Fatal("condition kinds not decoded")
	}
	if f.Depth() != 2 {
		t.Fatalf("depth %d, want 2", f.Depth())
	}
	// Marshal and decode again: same structure.
	out, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	var g Filter
	if err := json.Unmarshal(out, &g); err != nil {
		t.Fatalf("re-decode %s: %v", out, err)
	}
	if !reflect.DeepEqual(normTimes(f), normTimes(g)) {
		t.Fatalf("filter round trip differs:\n%s", out)
	}
	// A key without a condition decodes; filter.Validate refuses it (422).
	var keyOnly Filter
	if err := json.Unmarshal([]byte(`{"must": [{"key": "a"}]}`), &keyOnly); err != nil || keyOnly.Must[0].Field.HasCondition() {
		t.Fatalf("key-only condition: %v, %+v", err, keyOnly)
	}
	for _, bad := range []string{
		`{"must": [{"key": "a", "match": {"value": 1.5}}]}`,
		`{"must": [{"key": "a", "match": {"foo": 1}}]}`,
		`{"must": [{"unknown": 1}]}`,
		`{"must": [{"key": "a", "range": {"gt": "yesterday"}}]}`,
		`{"mustt": []}`,
		`{"must": [{"key": "", "match": {"value": 1}}]}`,
	} {
		var f Filter
		if err := json.Unmarshal([]byte(bad), &f); KindOf(err) != KindBadInput {
			t.Fatalf("%s: want bad input, got %v", bad, err)
		}
	}
}

func normTimes(f Filter) string { b, _ := json.Marshal(f); return string(b) }

func TestQueryForms(t *testing.T) {
	for src, check := range map[string]func(q Query) bool{
		`[0.1, 0.2]`: func(q Query) bool { return q.Nearest != nil && len(q.Nearest.Vector) == 2 },
		`42`:         func(q Query) bool { return q.Nearest != nil && q.Nearest.ID != nil && q.Nearest.ID.Num == 42 },
		`{"nearest": "5c56c793-69f3-4fbf-87e6-c4bf54c28c26"}`: func(q Query) bool { return q.Nearest.ID.IsUUID },
		`{"recommend": {"positive": [1, [0.5, 0.5]], "negative": [2], "strategy": "best_score"}}`: func(q Query) bool {
			return q.Recommend != nil && len(q.Recommend.Positive) == 2 && q.Recommend.Strategy == StrategyBestScore
		},
		`{"discover": {"target": 1, "context": {"positive": 2, "negative": 3}}}`: func(q Query) bool {
			return q.Discover != nil && len(q.Discover.Context) == 1
		},
		`{"context": [{"positive": 2, "negative": 3}]}`:       func(q Query) bool { return len(q.Context) == 1 },
		`{"order_by": "price"}`:                               func(q Query) bool { return q.OrderBy.Key == "price" },
		`{"order_by": {"key": "price", "direction": "desc"}}`: func(q Query) bool { return q.OrderBy.Direction == "desc" },
		`{"fusion": "rrf"}`:                                   func(q Query) bool { return q.Fusion == "rrf" },
		`{"rrf": {"k": 60}}`:                                  func(q Query) bool { return *q.RRF.K == 60 },
		`{"sample": "random"}`:                                func(q Query) bool { return q.Sample == "random" },
		`{"nearest": {"indices": [4, 1], "values": [1, 2]}}`:  func(q Query) bool { return q.Nearest.Sparse != nil && q.Nearest.Sparse.Indices[0] == 4 },
		`{"indices": [1], "values": [0.5]}`:                   func(q Query) bool { return q.Nearest.Sparse != nil && q.Nearest.Sparse.Values[0] == 0.5 },
	} {
		var q Query
		if err := json.Unmarshal([]byte(src), &q); err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if !check(q) {
			t.Fatalf("%s decoded as %+v", src, q)
		}
	}
	for _, bad := range []string{`{"fusion": "max"}`, `{"formula": {}}`, `{}`, `{"sample": "first"}`, `{"nearest": {"text": "a document"}}`, `{"nearest": {"indices": [1]}}`} {
		var q Query
		if err := json.Unmarshal([]byte(bad), &q); err == nil {
			t.Fatalf("%s accepted", bad)
		}
	}
}

func TestSelectors(t *testing.T) {
	var p PayloadSelector
	for src, want := range map[string]PayloadSelector{
		`true`:                    {Enable: true},
		`false`:                   {},
		`["a", "b.c"]`:            {Enable: true, Include: []string{"a", "b.c"}},
		`{"exclude": ["secret"]}`: {Enable: true, Exclude: []string{"secret"}},
	} {
		p = PayloadSelector{}
		if err := json.Unmarshal([]byte(src), &p); err != nil || !reflect.DeepEqual(p, want) {
			t.Fatalf("%s: %+v %v", src, p, err)
		}
	}
	var v VectorSelector
	if err := json.Unmarshal([]byte(`["image"]`), &v); err != nil || !v.Enable || v.Names[0] != "image" {
		t.Fatalf("%+v %v", v, err)
	}
}

func TestCollectionConfigJSON(t *testing.T) {
	var c CreateCollection
	if err := json.Unmarshal([]byte(`{"vectors": {"size": 4, "distance": "Cosine"}, "shard_number": 2}`), &c); err != nil {
		t.Fatal(err)
	}
	if !c.Vectors.Unnamed() || c.Vectors[""].Size != 4 || *c.ShardNumber != 2 {
		t.Fatalf("%+v", c)
	}
	if err := json.Unmarshal([]byte(`{"vectors": {"img": {"size": 4, "distance": "Dot"}, "txt": {"size": 2, "distance": "Euclid"}}}`), &c); err != nil {
		t.Fatal(err)
	}
	if c.Vectors.Unnamed() || c.Vectors["txt"].Distance != DistanceEuclid {
		t.Fatalf("%+v", c.Vectors)
	}
	var s PayloadFieldSchema
	if err := json.Unmarshal([]byte(`{"type": "text", "tokenizer": "word"}`), &s); err != nil || s.Type != SchemaText || s.Params["tokenizer"] != "word" {
		t.Fatalf("%+v %v", s, err)
	}
	if err := json.Unmarshal([]byte(`"vector"`), &s); KindOf(err) != KindBadInput {
		t.Fatalf("unknown schema accepted: %v", err)
	}
}

func TestErrorsKinds(t *testing.T) {
	err := ErrCollectionNotFound("x")
	wrapped := errors.Join(errors.New("ctx"), err)
	if KindOf(wrapped) != KindNotFound || Message(err) != "Not found: Collection `x` doesn't exist!" {
		t.Fatalf("%v %q", KindOf(wrapped), Message(err))
	}
	if Message(errors.New("disk")) != "Service internal error: disk" || KindOf(errors.New("x")) != KindInternal {
		t.Fatal("plain errors must be internal")
	}
}

func TestPayloadDepth(t *testing.T) {
	deep := `{"a":` + strings.Repeat(`[`, MaxPayloadDepth+1) + strings.Repeat(`]`, MaxPayloadDepth+1) + `}`
	p, err := DecodePayload([]byte(deep))
	if err != nil {
		t.Fatal(err)
	}
	if CheckPayloadDepth(p) == nil {
		t.Fatal("deep payload accepted")
	}
	ok, _ := DecodePayload([]byte(`{"a":{"b":[1,2,{"c":null}]}}`))
	if err := CheckPayloadDepth(ok); err != nil {
		t.Fatal(err)
	}
}
