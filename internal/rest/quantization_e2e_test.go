package rest

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/auth"
)

// TestQuantizationEndToEnd: a collection created with scalar int8
// quantization searches by its codes over REST (rescore: false reports
// approximate scores, the default rescores to the exact ones),
// params.quantization is validated, unknown product compressions and
// binary encodings other than one_bit are refused, and PATCH "Disabled" turns the
// codes off.
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
	// A broken constraint of a decoded body is Qdrant's 422.
	c.do("POST", d+"/points/query", `{"query": [5,5,5,5,5,5,5,5], "params": {"quantization": {"oversampling": 0.5}}}`).wantError(t, 422,
		"Validation error in JSON body: [params.quantization.oversampling: value 0.5 invalid, must be 1.0 or larger]")
	for _, bad := range []struct{ method, path, body, want string }{
		{"PUT", "/collections/b", `{"vectors": {"size": 8, "distance": "Dot"}, "quantization_config": {"binary": {"encoding": "one_and_half_bits"}}}`, `binary quantization encoding \"one_and_half_bits\" is not supported`},
		{"PUT", "/collections/b", `{"vectors": {"size": 8, "distance": "Dot", "quantization_config": {"binary": {"encoding": "one_and_half_bits"}}}}`, `one_and_half_bits`},
		{"PATCH", d, `{"quantization_config": {"binary": {"query_encoding": "scalar2bits"}}}`, "scalar2bits"},
		{"PUT", "/collections/p", `{"vectors": {"size": 8, "distance": "Dot", "quantization_config": {"product": {"compression": "x12"}}}}`, "unknown variant `x12`"},
		{"PUT", "/collections/t4", `{"vectors": {"size": 8, "distance": "Manhattan", "datatype": "turbo4"}}`, `datatype turbo4 with Manhattan distance is not supported`},
	} {
		resp := c.do(bad.method, bad.path, bad.body)
		if resp.status != 400 || !strings.Contains(string(resp.body), bad.want) {
			t.Errorf("%s %s %s: %d %s", bad.method, bad.path, bad.body, resp.status, resp.body)
		}
	}
	// on_disk moves the vectors to the heap: the exact and rescored
	// answers stay the same, the codes are trained again.
	step{method: "PATCH", path: d, body: `{"vectors": {"": {"on_disk": false}}}`}.run(t, c)
	step{method: "GET", path: d, check: wantContains(`"on_disk":false`)}.run(t, c)
	if got := scores(`{"exact": true}`); differs(got, exact) {
		t.Errorf("exact scores on the heap %v, on disk %v", got, exact)
	}
	if got := scores(`{"quantization": {"rescore": true, "oversampling": 3}}`); differs(got, exact) {
		t.Errorf("rescored scores on the heap %v, exact %v", got, exact)
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

// TestBinaryQuantizationEndToEnd: a collection created with binary
// quantization (a per-vector config over a collection-level scalar one)
// echoes its config, searches by the codes over REST (rescore: false
// reports the sign vectors' scores, the default rescores to the exact
// ones, oversampling widens the candidates), and PATCH changes the vector's
// quantization to an asymmetric query encoding and back to scalar.
func TestBinaryQuantizationEndToEnd(t *testing.T) {
	c := newRealServer(t, Options{}, auth.Options{})
	const d = "/collections/bq"
	const dim = 64
	step{method: "PUT", path: d, body: `{"vectors": {"v": {"size": 64, "distance": "Cosine",
		"quantization_config": {"binary": {"always_ram": true, "encoding": "one_bit"}}}},
		"hnsw_config": {"full_scan_threshold": 10}, "optimizers_config": {"indexing_threshold": 1},
		"quantization_config": {"scalar": {"type": "int8"}}}`}.run(t, c)
	step{method: "GET", path: d, check: func(t testing.TB, res json.RawMessage) {
		var info struct {
			Config struct {
				Params struct {
					Vectors map[string]struct {
						QuantizationConfig json.RawMessage `json:"quantization_config"`
					} `json:"vectors"`
				} `json:"params"`
			} `json:"config"`
		}
		if err := json.Unmarshal(res, &info); err != nil {
			t.Fatal(err)
		}
		if got := string(info.Config.Params.Vectors["v"].QuantizationConfig); got != `{"binary":{"always_ram":true,"encoding":"one_bit"}}` {
			t.Errorf("vector quantization_config %s", got)
		}
	}}.run(t, c)
	r := rand.New(rand.NewPCG(3, 4))
	var pts []string
	for i := range 500 {
		v := make([]string, dim)
		for j := range v {
			v[j] = fmt.Sprintf("%.4f", r.NormFloat64())
		}
		pts = append(pts, fmt.Sprintf(`{"id": %d, "vector": {"v": [%s]}}`, i, strings.Join(v, ",")))
	}
	step{method: "PUT", path: d + "/points?wait=true", body: `{"points": [` + strings.Join(pts, ",") + `]}`}.run(t, c)
	q := make([]string, dim)
	for j := range q {
		q[j] = fmt.Sprintf("%.4f", r.NormFloat64())
	}
	query := "[" + strings.Join(q, ",") + "]"
	type hit struct {
		ID    int     `json:"id"`
		Score float64 `json:"score"`
	}
	search := func(params string, limit int) []hit {
		t.Helper()
		res := step{method: "POST", path: d + "/points/query", body: fmt.Sprintf(`{"query": %s, "using": "v", "limit": %d, "params": %s}`, query, limit, params)}.run(t, c)
		var out struct {
			Points []hit `json:"points"`
		}
		if err := json.Unmarshal(res, &out); err != nil {
			t.Fatal(err)
		}
		return out.Points
	}
	exact := search(`{"exact": true}`, 10)
	exactAll := map[int]float64{}
	for _, h := range search(`{"exact": true}`, 500) {
		exactAll[h.ID] = h.Score
	}
	for _, params := range []string{`{}`, `{"quantization": {"rescore": true, "oversampling": 4}}`} {
		got := search(params, 10)
		if len(got) != 10 {
			t.Fatalf("%s: %d hits", params, len(got))
		}
		for i, h := range got {
			if math.Abs(h.Score-exactAll[h.ID]) > 1e-5 || (i > 0 && h.Score > got[i-1].Score) {
				t.Errorf("%s: hit %d (id %d) score %v, exact %v (or out of order)", params, i, h.ID, h.Score, exactAll[h.ID])
			}
		}
	}
	if got := search(`{"quantization": {"rescore": true, "oversampling": 10}}`, 10); len(got) != 10 || got[0].ID != exact[0].ID {
		t.Errorf("oversampling 10: best %v, exact best %v", got, exact[0])
	}
	// Without rescoring the scores are dim − 2·hamming: even integers in [−64, 64].
	for _, h := range search(`{"quantization": {"rescore": false}}`, 10) {
		if h.Score != math.Trunc(h.Score) || int(h.Score)%2 != 0 || h.Score < -dim || h.Score > dim {
			t.Errorf("score by binary codes %v", h.Score)
		}
	}
	step{method: "PATCH", path: d, body: `{"vectors": {"v": {"quantization_config": {"binary": {"query_encoding": "scalar8bits"}}}}}`}.run(t, c)
	for _, h := range search(`{"quantization": {"rescore": false}}`, 10) {
		if h.Score == math.Trunc(h.Score) {
			t.Errorf("asymmetric score %v is an integer: still binary queries?", h.Score)
		}
	}
	if got := search(`{"quantization": {"oversampling": 10}}`, 10); len(got) != 10 || got[0].ID != exact[0].ID {
		t.Errorf("scalar8bits: best %v, exact best %v", got, exact[0])
	}
	step{method: "PATCH", path: d, body: `{"vectors": {"v": {"quantization_config": "Disabled"}}}`}.run(t, c)
	// The collection's scalar config is in force again: scores by 7-bit codes are not even integers.
	got := search(`{"quantization": {"rescore": false}}`, 10)
	if len(got) != 10 || got[0].Score == math.Trunc(got[0].Score) {
		t.Errorf("after Disabled: %v", got)
	}
}

// TestProductQuantizationEndToEnd: a collection with product quantization
// echoes its config, rescored searches report the exact scores, searches
// by the codes alone approximate scores, and PATCH "Disabled" turns the
// codes off.
func TestProductQuantizationEndToEnd(t *testing.T) {
	c := newRealServer(t, Options{}, auth.Options{})
	const d = "/collections/pq"
	step{method: "PUT", path: d, body: `{"vectors": {"size": 16, "distance": "Euclid"},
		"hnsw_config": {"full_scan_threshold": 10}, "optimizers_config": {"indexing_threshold": 1},
		"quantization_config": {"product": {"compression": "x16", "always_ram": true}}}`}.run(t, c)
	step{method: "GET", path: d, check: func(t testing.TB, res json.RawMessage) {
		if !strings.Contains(string(res), `"quantization_config":{"product":{"compression":"x16","always_ram":true}}`) {
			t.Errorf("collection info %s", res)
		}
	}}.run(t, c)
	r := rand.New(rand.NewPCG(7, 8))
	var pts []string
	for i := range 600 {
		v := make([]string, 16)
		for j := range v {
			v[j] = fmt.Sprintf("%.4f", r.NormFloat64()+float64(i%4))
		}
		pts = append(pts, fmt.Sprintf(`{"id": %d, "vector": [%s]}`, i, strings.Join(v, ",")))
	}
	step{method: "PUT", path: d + "/points?wait=true", body: `{"points": [` + strings.Join(pts, ",") + `]}`}.run(t, c)
	// The product codes are trained in the background: the collection is
	// yellow until they are in.
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(string(step{method: "GET", path: d}.run(t, c)), `"status":"green"`); {
		if time.Now().After(deadline) {
			t.Fatal("collection not green 30 s after the upsert")
		}
		time.Sleep(10 * time.Millisecond)
	}
	q := make([]string, 16)
	for j := range q {
		q[j] = fmt.Sprintf("%.4f", r.NormFloat64()+1)
	}
	type hit struct {
		ID    int     `json:"id"`
		Score float64 `json:"score"`
	}
	search := func(params string) []hit {
		t.Helper()
		res := step{method: "POST", path: d + "/points/query", body: `{"query": [` + strings.Join(q, ",") + `], "limit": 10, "params": ` + params + `}`}.run(t, c)
		var out struct {
			Points []hit `json:"points"`
		}
		if err := json.Unmarshal(res, &out); err != nil {
			t.Fatal(err)
		}
		return out.Points
	}
	exact := search(`{"exact": true}`)
	got := search(`{"quantization": {"rescore": true, "oversampling": 8}}`)
	if len(got) != 10 || got[0] != exact[0] {
		t.Errorf("rescored %v, exact %v", got, exact)
	}
	same := 0
	for i, h := range search(`{"quantization": {"rescore": false}}`) {
		if h.Score == exact[min(i, len(exact)-1)].Score {
			same++
		}
	}
	if same == 10 {
		t.Error("scores by the product codes equal the exact ones")
	}
	step{method: "PATCH", path: d, body: `{"quantization_config": "Disabled"}`}.run(t, c)
	if got := search(`{"quantization": {"rescore": false}}`); len(got) != 10 || got[0] != exact[0] || got[9] != exact[9] {
		t.Errorf("after Disabled: %v, exact %v", got, exact)
	}
}
