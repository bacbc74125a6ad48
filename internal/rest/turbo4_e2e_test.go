package rest

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/shoal-db/shoal/internal/auth"
)

// TestTurbo4EndToEnd: vectors of datatype turbo4 over REST: the collection
// echoes the datatype, a point's vector comes back as its decoded 4-bit
// approximation (close to what was written, the same on every read),
// graph searches agree with exact ones, scalar quantization on top of
// turbo4 works, and turbo4 with Manhattan distance or for a multi-vector
// is refused with 400.
func TestTurbo4EndToEnd(t *testing.T) {
	c := newRealServer(t, Options{}, auth.Options{})
	const d = "/collections/t4"
	const dim = 32
	step{method: "PUT", path: d, body: `{"vectors": {"c": {"size": 32, "distance": "Cosine", "datatype": "turbo4"},
		"e": {"size": 32, "distance": "Euclid", "datatype": "turbo4", "on_disk": true,
			"quantization_config": {"scalar": {"type": "int8", "always_ram": true}}}},
		"hnsw_config": {"full_scan_threshold": 10}, "optimizers_config": {"indexing_threshold": 1}}`}.run(t, c)
	datatypesShown(t, c, d, map[string]string{"c": "turbo4", "e": "turbo4"})
	r := rand.New(rand.NewPCG(7, 8))
	vec := func() []float64 {
		v := make([]float64, dim)
		for j := range v {
			v[j] = r.NormFloat64()
		}
		return v
	}
	js := func(v []float64) string {
		s := make([]string, len(v))
		for i, x := range v {
			s[i] = fmt.Sprint(x)
		}
		return "[" + strings.Join(s, ",") + "]"
	}
	var pts []string
	orig := make([][]float64, 500)
	for i := range orig {
		orig[i] = vec()
		pts = append(pts, fmt.Sprintf(`{"id": %d, "vector": {"c": %s, "e": %s}}`, i, js(orig[i]), js(orig[i])))
	}
	step{method: "PUT", path: d + "/points?wait=true", body: `{"points": [` + strings.Join(pts, ",") + `]}`}.run(t, c)
	get := func(id int) map[string][]float64 {
		var p struct {
			Vector map[string][]float64 `json:"vector"`
		}
		res := step{method: "GET", path: fmt.Sprintf("%s/points/%d", d, id)}.run(t, c)
		if err := json.Unmarshal(res, &p); err != nil {
			t.Fatal(err)
		}
		return p.Vector
	}
	relErr := func(got, want []float64) float64 {
		var e, n float64
		for i := range want {
			e += (got[i] - want[i]) * (got[i] - want[i])
			n += want[i] * want[i]
		}
		return math.Sqrt(e / n)
	}
	for _, id := range []int{0, 7, 499} {
		v := get(id)
		if e := relErr(v["e"], orig[id]); e > 0.25 || e == 0 {
			t.Errorf("point %d: Euclid vector %v, written %v (relative error %.3f)", id, v["e"], orig[id], e)
		}
		var n float64
		for _, x := range orig[id] {
			n += x * x
		}
		unit := slices.Clone(orig[id])
		for i := range unit {
			unit[i] /= math.Sqrt(n)
		}
		if e := relErr(v["c"], unit); e > 0.25 || e == 0 {
			t.Errorf("point %d: Cosine vector %v, written (normalised) %v (relative error %.3f)", id, v["c"], unit, e)
		}
		if again := get(id); !slices.Equal(again["e"], v["e"]) || !slices.Equal(again["c"], v["c"]) {
			t.Errorf("point %d: a second read differs", id)
		}
	}
	ids := func(using, query, params string) []int {
		t.Helper()
		res := step{method: "POST", path: d + "/points/query", body: fmt.Sprintf(`{"query": %s, "using": %q, "limit": 10, "params": %s}`, query, using, params)}.run(t, c)
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
	var same, total int
	for range 10 {
		q := js(vec())
		for _, using := range []string{"c", "e"} {
			exact := ids(using, q, `{"exact": true}`)
			for _, params := range []string{`{"hnsw_ef": 200}`, `{"hnsw_ef": 200, "quantization": {"rescore": true, "oversampling": 2}}`} {
				graph := ids(using, q, params)
				if len(exact) != 10 || len(graph) != 10 {
					t.Fatalf("%s %s: %v, exact %v", using, params, graph, exact)
				}
				for _, id := range graph {
					if slices.Contains(exact, id) {
						same++
					}
				}
				total += 10
			}
		}
	}
	if f := float64(same) / float64(total); f < 0.9 {
		t.Errorf("graph searches find %.3f of the exact top 10", f)
	}
	// Rescoring the int8 codes' candidates scores them as the exact
	// search does: by the turbo4 vectors.
	hitScores := func(q, params string) map[int]float64 {
		res := step{method: "POST", path: d + "/points/query", body: fmt.Sprintf(`{"query": %s, "using": "e", "limit": 10, "params": %s}`, q, params)}.run(t, c)
		var out struct {
			Points []struct {
				ID    int     `json:"id"`
				Score float64 `json:"score"`
			} `json:"points"`
		}
		if err := json.Unmarshal(res, &out); err != nil {
			t.Fatal(err)
		}
		m := map[int]float64{}
		for _, p := range out.Points {
			m[p.ID] = p.Score
		}
		return m
	}
	for range 5 {
		q := js(vec())
		exact := hitScores(q, `{"exact": true}`)
		rescored := hitScores(q, `{"quantization": {"rescore": true, "oversampling": 4}}`)
		for id, sc := range rescored {
			if want, ok := exact[id]; ok && math.Abs(sc-want) > 1e-4*(1+math.Abs(want)) {
				t.Errorf("point %d: rescored score %v, exact %v", id, sc, want)
			}
		}
	}
	for _, bad := range []struct{ body, want string }{
		{`{"vectors": {"size": 8, "distance": "Manhattan", "datatype": "turbo4"}}`, "turbo4 with Manhattan"},
		{`{"vectors": {"size": 8, "distance": "Dot", "datatype": "turbo4", "multivector_config": {"comparator": "max_sim"}}}`, "turbo4 is not supported for multi-vectors"},
	} {
		resp := c.do("PUT", "/collections/bad", bad.body)
		if resp.status != 400 || !strings.Contains(string(resp.body), bad.want) {
			t.Errorf("%s: %d %s", bad.body, resp.status, resp.body)
		}
	}
}
