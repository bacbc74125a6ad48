package api

import (
	"encoding/json"
	"reflect"
	"testing"
)

// checkFast decodes body with DecodeFast into a fresh *T and with
// encoding/json into another, and fails if DecodeFast accepted something
// encoding/json refused or decoded it differently. It reports whether the
// fast path took the body.
func checkFast[T any](t *testing.T, body string) bool {
	t.Helper()
	var fast, slow T
	took := DecodeFast([]byte(body), &fast)
	err := json.Unmarshal([]byte(body), &slow)
	if !took {
		var zero T
		if !reflect.DeepEqual(fast, zero) {
			t.Fatalf("%s: DecodeFast refused but changed the receiver: %+v", body, fast)
		}
		return false
	}
	if err != nil {
		t.Fatalf("%s: DecodeFast accepted, encoding/json refused: %v", body, err)
	}
	if !reflect.DeepEqual(fast, slow) {
		fj, _ := json.Marshal(fast)
		sj, _ := json.Marshal(slow)
		t.Fatalf("%s:\nfast %s\nslow %s", body, fj, sj)
	}
	return true
}

var fastQueryBodies = []struct {
	body string
	fast bool
}{
	{`{"query":[1,2,3],"limit":10,"params":{"hnsw_ef":64}}`, true},
	{` { "limit" : 5 , "query" : [ 0.5 , -1e-3 ] , "with_payload" : true , "filter" : {"must":[{"key":"k","match":{"value":"a\"b"}}]} } `, true},
	{`{"query":[1,2],"using":"img","score_threshold":0.5,"offset":3,"with_vector":["img"]}`, true},
	{`{"query":[]}`, true},
	{`{"query":5}`, false},                         // by id: left to encoding/json
	{`{"query":{"nearest":[1,2]}}`, false},         // object form
	{`{"query":[1,2],"query":[3,4]}`, false},       // duplicate
	{`{"Query":[1,2]}`, false},                     // case variant
	{`{"query":[1,2],"QUERY":[3]}`, false},         // both
	{`{"query":[1,2],"limit":"x"}`, false},         // type error in the rest
	{`{"query":[1,2],"limit":1,}`, false},          // trailing comma
	{`{"query":[1,2]} x`, false},                   // trailing garbage
	{`{"query":[1,2],"bad":tru}`, false},           // bad literal
	{`{"query":[1,2],"bad":"\x"}`, false},          // bad escape
	{"{\"query\":[1,2],\"bad\":\"a\x01\"}", false}, // control character
	{`{"query":[1,null]}`, false},                  // null element
	{`{"query":[1e39]}`, false},                    // out of float32 range
	{`{"qu\u0065ry":[1,2]}`, false},                // escaped key
	{`{"query":[1,2],"filter":{"must":[]},"limit":1}`, true},
	{`{"query":[1,2],"prefetch":{"query":[3,4],"limit":2}}`, true},
	{`{"query":[1,2],"params":{"hnsw_ef":-1e400}}`, false},
	{`[1,2]`, false},
	{``, false},
}

func TestQueryRequestDecodeFast(t *testing.T) {
	for _, c := range fastQueryBodies {
		if got := checkFast[QueryRequest](t, c.body); got != c.fast {
			t.Errorf("%s: fast path took it: %v, want %v", c.body, got, c.fast)
		}
	}
}

func TestSearchRequestDecodeFast(t *testing.T) {
	for body, fast := range map[string]bool{
		`{"vector":[1,2,3],"limit":10,"params":{"hnsw_ef":64},"with_payload":false}`: true,
		`{"vector":{"name":"a","vector":[1,2]},"limit":1}`:                           false,
		`{"vector":[1,2],"limit":1.5}`:                                               false,
		`{"limit":1}`:                                                                false,
	} {
		if got := checkFast[SearchRequest](t, body); got != fast {
			t.Errorf("%s: fast path took it: %v, want %v", body, got, fast)
		}
	}
}

func TestUpsertPointsDecodeFast(t *testing.T) {
	for body, fast := range map[string]bool{
		`{"batch":{"ids":[1,2,3],"vectors":[[1,2],[3,4],[5,6]]}}`:                                                        true,
		`{"batch":{"ids":[1,"a0e7d3e4-3b3a-4b57-9f37-0f3e1d4c7a11"],"vectors":[[1,2],[3,4]],"payloads":[{"a":1},null]}}`: true,
		`{"batch":{"vectors":[[1,2]],"ids":[7]},"shard_key":"s","update_filter":{"must":[{"has_id":[7]}]}}`:              true,
		`{"points":[{"id":1,"vector":[1,2],"payload":{"x":[1,"y",{"z":null}]}},{"vector":[3,4],"id":2}]}`:                true,
		`{"points":[]}`: true,
		`{"points":[{"id":1,"vector":{"a":[1,2]}}]}`:              false, // named vectors
		`{"points":[{"id":1,"vector":[1,2]}],"batch":{"ids":[]}}`: false,
		`{"batch":{"ids":[1,2],"vectors":[[1,2]]}}`:               false,
		`{"batch":{"ids":[1],"vectors":[[1,2]],"payloads":[]}}`:   false,
		`{"batch":{"ids":[1],"vectors":{"a":[[1,2]]}}}`:           false,
		`{"batch":{"ids":[-1],"vectors":[[1,2]]}}`:                false,
		`{"batch":null}`:  false,
		`{"points":null}`: false,
		`{"points":[{"id":1,"vector":[1,2],"vector":[3]}]}`:             false,
		`{"points":[{"id":1,"vector":[1,2]},]}`:                         false,
		`{"points":[{"id":1,"vector":[1,2],"payload":{"a":"\u00e9"}}]}`: true,
		`{}`: false,
	} {
		if got := checkFast[UpsertPoints](t, body); got != fast {
			t.Errorf("%s: fast path took it: %v, want %v", body, got, fast)
		}
	}
}

// TestDecodeFastExactTypes checks that types embedding a fast-decoded
// request are not decoded as the embedded type (which would drop their own
// fields).
func TestDecodeFastExactTypes(t *testing.T) {
	if DecodeFast([]byte(`{"query":[1,2],"group_by":"g"}`), &QueryGroupsRequest{}) {
		t.Error("QueryGroupsRequest took the fast path")
	}
	if DecodeFast([]byte(`{"vector":[1,2],"group_by":"g"}`), &SearchGroupsRequest{}) {
		t.Error("SearchGroupsRequest took the fast path")
	}
	var wrapped struct{ QueryRequest }
	if DecodeFast([]byte(`{"query":[1,2]}`), &wrapped) {
		t.Error("a struct embedding QueryRequest took the fast path")
	}
}

func TestSkipValueAgreesWithValid(t *testing.T) {
	for _, s := range []string{
		`1`, `-0.5e+3`, `"a\u00e9\n"`, `"\ud800"`, `[1,[2,{"a":[]}],{}]`, `{"a":{"b":null}}`, `true`, `false`, `null`,
		`01`, `1.`, `"\x"`, `"\u12"`, `[1,]`, `{"a"}`, `{"a":1,}`, `{1:2}`, `nul`, `[`, `]`, `"abc`, "\"a\tb\"", `-`, `+1`,
	} {
		end, ok := skipValue([]byte(s), 0, 0)
		got := ok && end == len(s)
		if got != json.Valid([]byte(s)) {
			t.Errorf("%q: skipValue %v, json.Valid %v", s, got, !got)
		}
	}
}

func FuzzDecodeFast(f *testing.F) {
	for _, c := range fastQueryBodies {
		f.Add(c.body)
	}
	f.Add(`{"batch":{"ids":[1,2],"vectors":[[1,2],[3,4]],"payloads":[{"a":1},null]}}`)
	f.Add(`{"points":[{"id":1,"vector":[1,2],"payload":{"x":[1,"y"]}}]}`)
	f.Add(`{"vector":[1,2],"limit":3}`)
	f.Fuzz(func(t *testing.T, body string) {
		checkFast[QueryRequest](t, body)
		checkFast[SearchRequest](t, body)
		checkFast[UpsertPoints](t, body)
		end, ok := skipValue([]byte(body), 0, 0)
		if ok && skipSpace([]byte(body), end) == len(body) && !json.Valid([]byte(body)) {
			t.Fatalf("%q: skipValue accepted invalid JSON", body)
		}
	})
}
