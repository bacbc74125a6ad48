package filter

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
)

func TestParsePath(t *testing.T) {
	good := map[string]string{
		"a":                                 "a",
		"a.b":                               "a.b",
		"country.cities[].population":       "country.cities[].population",
		"a.b[0].c":                          "a.b[0].c",
		`"a.b"`:                             `"a.b"`,
		`foo[1][50].bar-baz[]."qux[.]quux"`: `foo[1][50].bar-baz[]."qux[.]quux"`,
		`"plain"`:                           "plain",
		"città.é":                           "città.é",
	}
	for in, want := range good {
		p, err := ParsePath(in)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if p.String() != want {
			t.Errorf("%s: canonical %s, want %s", in, p.String(), want)
		}
		q, err := ParsePath(p.String())
		if err != nil || !reflect.DeepEqual(p, q) {
			t.Errorf("%s: round trip %v %v", in, q, err)
		}
	}
	for _, in := range []string{"", ".a", "a.", "a b", "a[", "a[x]", "a[-1]", "[0]", `"a`, `a."b\"c"`, "a..b", "a[]b"} {
		if _, err := ParsePath(in); err == nil {
			t.Errorf("%q: want error", in)
		} else if api.KindOf(err) != api.KindBadInput {
			t.Errorf("%q: error kind %v", in, api.KindOf(err))
		}
	}
}

func TestValues(t *testing.T) {
	p := mustPayload(t, `{"a":{"b":[{"c":1},{"c":2},{"d":{"e":3}}]},"f":3,"g":["g0","g1","g2"],
		"arr":[{"a":[1,2,3]},{"a":4},{"b":5}]}`)
	cases := []struct {
		path string
		raw  string
		flat string
	}{
		{"a.b[].c", `[1,2]`, `[1,2]`},
		{"a.b[2].d.e", `[3]`, `[3]`},
		{"g", `[["g0","g1","g2"]]`, `["g0","g1","g2"]`},
		{"g[2]", `["g2"]`, `["g2"]`},
		{"g[3]", `null`, `null`},
		{"arr[].a", `[[1,2,3],4]`, `[1,2,3,4]`},
		{"arr[].a[]", `[1,2,3]`, `[1,2,3]`},
		{"a.b.c", `null`, `null`},
		{"missing", `null`, `null`},
		{"bad path!", `null`, `null`},
	}
	for _, c := range cases {
		raw, _ := json.Marshal(RawValues(p, c.path))
		flat, _ := json.Marshal(Values(p, c.path))
		if string(raw) != c.raw || string(flat) != c.flat {
			t.Errorf("%s: raw %s flat %s, want %s %s", c.path, raw, flat, c.raw, c.flat)
		}
	}
}

func jsonEq(t *testing.T, what string, got any, want string) {
	t.Helper()
	g, _ := json.Marshal(got)
	var a, b any
	_ = json.Unmarshal(g, &a)
	if err := json.Unmarshal([]byte(want), &b); err != nil {
		t.Fatalf("bad want %s", want)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("%s: got %s, want %s", what, g, want)
	}
}

func TestSetAt(t *testing.T) {
	cases := []struct {
		payload, path, value, want string
	}{
		{`{"a":1}`, "", `{"b":2}`, `{"a":1,"b":2}`},
		{`{"a":1,"b":2}`, "", `{"b":null}`, `{"a":1}`},
		{`{"a":{"x":1}}`, "a", `{"y":2}`, `{"a":{"x":1,"y":2}}`},
		{`{"a":1}`, "a", `{"y":2}`, `{"a":{"y":2}}`},
		{`{}`, "a.b.c", `{"y":2}`, `{"a":{"b":{"c":{"y":2}}}}`},
		{`{"a":[{"x":1},{"x":2}]}`, "a[1]", `{"y":2}`, `{"a":[{"x":1},{"x":2,"y":2}]}`},
		{`{"a":[{"x":1}]}`, "a[5]", `{"y":2}`, `{"a":[{"x":1}]}`},
		{`{"a":[{"x":1},{"x":2}]}`, "a[]", `{"y":0}`, `{"a":[{"x":1,"y":0},{"x":2,"y":0}]}`},
		{`{"a":5}`, "a[]", `{"y":0}`, `{"a":[]}`},
		{`{"a":5}`, "a[0]", `{"y":0}`, `{"a":[]}`},
		{`{"a":{"b":[{"c":{}}]}}`, "a.b[].c", `{"d":1}`, `{"a":{"b":[{"c":{"d":1}}]}}`},
	}
	for _, c := range cases {
		p := mustPayload(t, c.payload)
		before, _ := json.Marshal(p)
		got, err := SetAt(p, c.path, mustPayload(t, c.value))
		if err != nil {
			t.Errorf("%s: %v", c.path, err)
			continue
		}
		jsonEq(t, "SetAt "+c.payload+" "+c.path, got, c.want)
		after, _ := json.Marshal(p)
		if string(before) != string(after) {
			t.Errorf("SetAt %s modified its input: %s -> %s", c.path, before, after)
		}
	}
	if _, err := SetAt(api.Payload{}, "a b", api.Payload{}); err == nil || api.KindOf(err) != api.KindBadInput {
		t.Errorf("invalid path: %v", err)
	}
}

func TestDeleteAt(t *testing.T) {
	cases := []struct{ payload, path, want string }{
		{`{"a":1,"b":2}`, "a", `{"b":2}`},
		{`{"a":{"b":1,"c":2}}`, "a.b", `{"a":{"c":2}}`},
		{`{"a":[{"b":1,"c":2},{"b":3}]}`, "a[].b", `{"a":[{"c":2},{}]}`},
		{`{"a":[{"b":1},{"b":3}]}`, "a[1].b", `{"a":[{"b":1},{}]}`},
		{`{"a":[1,2]}`, "a[0]", `{"a":[1,2]}`},
		{`{"a":[1,2]}`, "a[]", `{"a":[]}`},
		{`{"a":1}`, "x.y", `{"a":1}`},
		{`{"a":1}`, "a.y", `{"a":1}`},
		{`{"a":1}`, "bad path", `{"a":1}`},
	}
	for _, c := range cases {
		p := mustPayload(t, c.payload)
		before, _ := json.Marshal(p)
		jsonEq(t, "DeleteAt "+c.payload+" "+c.path, DeleteAt(p, c.path), c.want)
		after, _ := json.Marshal(p)
		if string(before) != string(after) {
			t.Errorf("DeleteAt %s modified its input", c.path)
		}
	}
}

func TestSelect(t *testing.T) {
	p := mustPayload(t, `{"a":{"b":1,"c":2},"d":[{"e":1,"f":2}],"g":3}`)
	cases := []struct {
		sel  *api.PayloadSelector
		want string
	}{
		{nil, `null`},
		{&api.PayloadSelector{}, `null`},
		{&api.PayloadSelector{Enable: true}, `{"a":{"b":1,"c":2},"d":[{"e":1,"f":2}],"g":3}`},
		{&api.PayloadSelector{Enable: true, Include: []string{"g"}}, `{"g":3}`},
		{&api.PayloadSelector{Enable: true, Include: []string{"a.b", "d[].f"}}, `{"a":{"b":1},"d":[{"f":2}]}`},
		{&api.PayloadSelector{Enable: true, Include: []string{}}, `{}`},
		{&api.PayloadSelector{Enable: true, Exclude: []string{"a.b", "d[].e"}}, `{"a":{"c":2},"d":[{"f":2}],"g":3}`},
		{&api.PayloadSelector{Enable: true, Exclude: []string{"a"}}, `{"d":[{"e":1,"f":2}],"g":3}`},
	}
	for i, c := range cases {
		jsonEq(t, "Select case "+string(rune('0'+i)), Select(p, c.sel), c.want)
	}
}
