package rest

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/shoal-db/shoal/internal/auth"
)

// TestQuantizationEndToEnd: a collection created with scalar int8
// quantization searches by its codes over REST (rescore: false reports
// approximate scores, the default rescores to the exact ones),
// params.quantization is validated, product/binary quantization is
// refused, and PATCH "Disabled" turns the codes off.
func TestQuantizationEndToEnd(t *testing.T) {
	c := newRealServer(t, Options{}, auth.Options{})
	const d = "/collections/q"
	step{method: "PUT", path: d, body: `{"vectors": {"size": 8, "distance": "Euclid", "on_disk": true},
		"hnsw_config": {"full_scan_threshold": 10}, "optimizers_config": {"indexing_threshold": 1},
		"quantization_config": {"scalar": {"type": "int8", "quantile": 0.99, "always_ram": true}}}`}.run(t, c)
	r := rand.New(rand.NewPCG(1, 2))
	var pts []string
	for i := range 400 {
		v := make([]string, 8)
		for j := range v {
			v[j] = fmt.Sprintf("%.4f", r.Float64()*10)
		}
		pts = append(pts, fmt.Sprintf(`{"id": %d, "vector": [%s]}`, i, strings.Join(v, ",")))
	}
	step{method: "PUT", path: d + "/points?wait=true", body: `{"points": [` + strings.Join(pts, ",") + `]}`}.run(t, c)
	scores := func(params string) []float64 {
		t.Helper()
		res := step{method: "POST", path: d + "/points/query", body: `{"query": [5,5,5,5,5,5,5,5], "limit": 10, "params": ` + params + `}`}.run(t, c)
		var out struct {
			Points []struct {
				ID    int     `json:"id"`
				Score float64 `json:"score"`
			} `json:"points"`
		}
		if err := json.Unmarshal(res, &out); err != nil {
			t.Fatal(err)
		}
		s := make([]float64, len(out.Points))
		for i, p := range out.Points {
			s[i] = p.Score
		}
		return s
	}
	exact := scores(`{"exact": true}`)
	differs := func(a, b []float64) bool {
		if len(a) != len(b) {
			return true
		}
		for i := range a {
			if math.Abs(a[i]-b[i]) > 1e-6 {
				return true
			}
		}
		return false
	}
	if got := scores(`{"quantization": {"rescore": true, "oversampling": 3}}`); differs(got, exact) {
		t.Errorf("rescored scores %v, exact %v", got, exact)
	}
	if got := scores(`{"quantization": {"rescore": false}}`); !differs(got, exact) || len(got) != 10 {
		t.Errorf("scores by the codes equal the exact ones: %v", got)
	}
	if got := scores(`{"quantization": {"ignore": true}}`); len(got) != 10 {
		t.Errorf("ignore: %v", got)
	}
	for _, bad := range []struct{ method, path, body, want string }{
		{"POST", d + "/points/query", `{"query": [5,5,5,5,5,5,5,5], "params": {"quantization": {"oversampling": 0.5}}}`, "oversampling"},
		{"PUT", "/collections/b", `{"vectors": {"size": 8, "distance": "Dot"}, "quantization_config": {"binary": {"always_ram": true}}}`, "binary quantization is not supported"},
		{"PUT", "/collections/p", `{"vectors": {"size": 8, "distance": "Dot", "quantization_config": {"product": {"compression": "x16"}}}}`, "product quantization is not supported"},
		{"PUT", "/collections/f16", `{"vectors": {"size": 8, "distance": "Dot", "datatype": "float16"}}`, "datatype"},
		{"PATCH", d, `{"vectors": {"": {"on_disk": false}}}`, "on_disk"},
	} {
		resp := c.do(bad.method, bad.path, bad.body)
		if resp.status != 400 || !strings.Contains(string(resp.body), bad.want) {
			t.Errorf("%s %s %s: %d %s", bad.method, bad.path, bad.body, resp.status, resp.body)
		}
	}
	step{method: "PATCH", path: d, body: `{"quantization_config": "Disabled"}`}.run(t, c)
	if got := scores(`{"quantization": {"rescore": false}}`); differs(got, exact) {
		t.Errorf("after Disabled: scores %v, exact %v", got, exact)
	}
	step{method: "PATCH", path: d, body: `{"quantization_config": {"scalar": {"type": "int8"}}}`}.run(t, c)
	if got := scores(`{"quantization": {"rescore": false}}`); !differs(got, exact) {
		t.Errorf("after PATCH to scalar: scores by the codes equal the exact ones: %v", got)
	}
}
