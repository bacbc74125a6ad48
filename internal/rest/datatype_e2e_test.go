package rest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/shoal-db/shoal/internal/auth"
)

// TestVectorDatatypesEndToEnd: vectors of datatype float16 and uint8 over
// REST: the collection echoes the datatypes, float16 values come back
// rounded to half precision, uint8 values that are not integers from 0 to
// 255 and float16 values beyond its range are refused with 400, and graph
// searches (by queries of any float32 values) agree with exact ones; a
// recommend query by an example vector is not bound by the datatype.
func TestVectorDatatypesEndToEnd(t *testing.T) {
	c := newRealServer(t, Options{}, auth.Options{})
	const d = "/collections/dt"
	step{method: "PUT", path: d, body: `{"vectors": {"h": {"size": 4, "distance": "Dot", "datatype": "float16"},
		"u": {"size": 4, "distance": "Euclid", "datatype": "uint8", "on_disk": true}},
		"hnsw_config": {"full_scan_threshold": 10}, "optimizers_config": {"indexing_threshold": 1}}`}.run(t, c)
	datatypesShown(t, c, d, map[string]string{"h": "float16", "u": "uint8"})
	r := rand.New(rand.NewPCG(5, 6))
	var pts []string
	for i := range 400 {
		u := make([]string, 4)
		for j := range u {
			u[j] = fmt.Sprint(r.IntN(256))
		}
		pts = append(pts, fmt.Sprintf(`{"id": %d, "vector": {"h": [%.5f, %.5f, 1, -1], "u": [%s]}}`, i, r.NormFloat64(), r.NormFloat64(), strings.Join(u, ",")))
	}
	pts[0] = `{"id": 0, "vector": {"h": [0.1, 1000.3, 3.14159, -65504], "u": [0, 1, 254, 255]}}`
	step{method: "PUT", path: d + "/points?wait=true", body: `{"points": [` + strings.Join(pts, ",") + `]}`}.run(t, c)
	step{method: "GET", path: d + "/points/0", check: func(t testing.TB, res json.RawMessage) {
		var p struct {
			Vector map[string][]float64 `json:"vector"`
		}
		if err := json.Unmarshal(res, &p); err != nil {
			t.Fatal(err)
		}
		// 0.1, 1000.3 and π rounded to half precision (printed as float32s).
		if h := p.Vector["h"]; !slices.Equal(h, []float64{0.099975586, 1000.5, 3.140625, -65504}) {
			t.Errorf("float16 vector %v", h)
		}
		if u := p.Vector["u"]; !slices.Equal(u, []float64{0, 1, 254, 255}) {
			t.Errorf("uint8 vector %v", u)
		}
	}}.run(t, c)
	for _, bad := range []struct{ body, want string }{
		{`{"points": [{"id": 1, "vector": {"u": [0, 1, 2.5, 3]}}]}`, "integers from 0 to 255"},
		{`{"points": [{"id": 1, "vector": {"u": [0, 1, 256, 3]}}]}`, "integers from 0 to 255"},
		{`{"points": [{"id": 1, "vector": {"u": [-1, 1, 2, 3]}}]}`, "integers from 0 to 255"},
		{`{"points": [{"id": 1, "vector": {"h": [1e6, 1, 2, 3]}}]}`, "float16 range"},
	} {
		resp := c.do("PUT", d+"/points?wait=true", bad.body)
		if resp.status != 400 || !strings.Contains(string(resp.body), bad.want) {
			t.Errorf("%s: %d %s", bad.body, resp.status, resp.body)
		}
	}
	ids := func(using, query, params string) []int {
		t.Helper()
		res := step{method: "POST", path: d + "/points/query", body: fmt.Sprintf(`{"query": %s, "using": %q, "limit": 5, "params": %s}`, query, using, params)}.run(t, c)
		var out struct {
			Points []struct {
				ID int `json:"id"`
			} `json:"points"`
		}
		if err := json.Unmarshal(res, &out); err != nil {
			t.Fatal(err)
		}
		var ids []int
		for _, p := range out.Points {
			ids = append(ids, p.ID)
		}
		return ids
	}
	// Queries stay float32 whatever the datatype: a uint8 vector is
	// searched by non-integers too.
	for _, q := range []struct{ using, vec string }{{"u", "[10.5, 200, 30, 99]"}, {"h", "[0.5, -1, 0.2, 0.1]"}, {"h", "[1e6, 0, 0, 0]"}} {
		exact, graph := ids(q.using, q.vec, `{"exact": true}`), ids(q.using, q.vec, `{"hnsw_ef": 200}`)
		if len(exact) != 5 || !slices.Equal(exact, graph) {
			t.Errorf("%s: graph %v, exact %v", q.using, graph, exact)
		}
	}
	step{method: "POST", path: d + "/points/query", body: `{"query": {"recommend": {"positive": [[0.5, 1.5, 2.5, 300]], "negative": [1]}}, "using": "u", "limit": 3}`}.run(t, c)
}

// datatypesShown checks that the collection at path d reports each named
// vector's datatype as want says.
func datatypesShown(t *testing.T, c *testClient, d string, want map[string]string) {
	t.Helper()
	step{method: "GET", path: d, check: func(t testing.TB, res json.RawMessage) {
		var info struct {
			Config struct {
				Params struct {
					Vectors map[string]struct {
						Datatype string `json:"datatype"`
					} `json:"vectors"`
				} `json:"params"`
			} `json:"config"`
		}
		if err := json.Unmarshal(res, &info); err != nil {
			t.Fatal(err)
		}
		for name, dt := range want {
			if got := info.Config.Params.Vectors[name].Datatype; got != dt {
				t.Errorf("vector %s: datatype %q, want %q", name, got, dt)
			}
		}
	}}.run(t, c)
}
