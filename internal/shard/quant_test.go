package shard

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/api"
)

func scalarInt8(t testing.TB, quantile string) *api.QuantizationConfig {
	t.Helper()
	raw := `{"scalar":{"type":"int8"` + quantile + `}}`
	q, err := api.ParseQuantization(json.RawMessage(raw))
	if err != nil || q == nil {
		t.Fatalf("ParseQuantization(%s): %v", raw, err)
	}
	return q
}

// quantShard opens a shard of n clustered random vectors of dim elements
// under distance d with scalar quantization, indexed from the first vector.
func quantShard(t testing.TB, dir string, d api.Distance, n, dim int) (*Shard, [][]float32) {
	t.Helper()
	r := rand.New(rand.NewPCG(7, 8))
	vecs := make([][]float32, n)
	for i := range vecs {
		vecs[i] = make([]float32, dim)
		c := float32(i%10) / 10
		for j := range vecs[i] {
			vecs[i][j] = c + float32(r.NormFloat64())*0.3
		}
	}
	return quantShardOf(t, dir, d, vecs, scalarInt8(t, `,"quantile":0.99`)), vecs
}

// quantShardOf opens a shard of vecs under distance d with quantization
// cfg, indexed from the first vector.
func quantShardOf(t testing.TB, dir string, d api.Distance, vecs [][]float32, cfg *api.QuantizationConfig) *Shard {
	t.Helper()
	n, dim := len(vecs), len(vecs[0])
	opts := testOptions(dir)
	opts.Vectors = api.VectorsConfig{"": {Size: dim, Distance: d}}
	opts.Quantization = map[string]*api.QuantizationConfig{"": cfg}
	it := 1
	opts.Optimizers = api.DefaultOptimizersConfig()
	opts.Optimizers.IndexingThreshold = &it
	opts.Hnsw = map[string]api.HnswConfig{"": {M: 16, EfConstruct: 64}}
	s := openShard(t, opts)
	for i := 0; i < n; i += 200 {
		var pts []api.PointStruct
		for j := i; j < min(i+200, n); j++ {
			pts = append(pts, pt(uint64(j), vecs[j], nil))
		}
		apply(t, s, upsert(pts...))
	}
	if err := s.WaitIndexed(bg); err != nil {
		t.Fatal(err)
	}
	return s
}

func quantParams(js string) api.SearchParams {
	return api.SearchParams{Quantization: json.RawMessage(js)}
}

// TestQuantizedRecall checks recall@10 of graph searches by the codes
// against the exact oracle, for every distance, with and without
// rescoring; with rescoring the reported scores are the exact ones.
func TestQuantizedRecall(t *testing.T) {
	for _, d := range []api.Distance{api.DistanceEuclid, api.DistanceDot, api.DistanceCosine, api.DistanceManhattan} {
		t.Run(string(d), func(t *testing.T) {
			s, vecs := quantShard(t, t.TempDir(), d, 3000, 48)
			if s.QuantizedBytes("") == 0 {
				t.Fatal("no codes after indexing")
			}
			ef := 128
			// The graph's own recall by the original vectors (Dot is
			// hard for a graph on this data) is the baseline.
			base := quantRecall(t, s, vecs, d, api.SearchParams{HnswEf: &ef, Quantization: json.RawMessage(`{"ignore":true}`)}, false)
			for _, c := range []struct {
				params  string
				slack   float64
				rescore bool
			}{{`{"rescore":true,"oversampling":3}`, 0.03, true}, {``, 0.12, true}, {`{"rescore":false}`, 0.2, false}} {
				p := quantParams(c.params)
				p.HnswEf = &ef
				if r := quantRecall(t, s, vecs, d, p, c.rescore); r < base-c.slack || r < 0.6 {
					t.Errorf("%s params %q: recall@10 %.3f, by the original vectors %.3f", d, c.params, r, base)
				}
			}
			if d == api.DistanceEuclid && base < 0.95 {
				t.Errorf("Euclid: recall@10 by the original vectors %.3f", base)
			}
		})
	}
}

// quantRecall returns the mean recall@10 of graph searches with params
// against exact searches; with rescore it checks that every hit found by
// both reports the exact score.
func quantRecall(t *testing.T, s *Shard, vecs [][]float32, d api.Distance, params api.SearchParams, rescore bool) float64 {
	t.Helper()
	var sum float64
	const nq = 50
	for i := range nq {
		q := vecs[(i*61)%len(vecs)]
		if d == api.DistanceCosine {
			q = normalized(q)
		}
		exact, err := s.Search(bg, SearchRequest{Vector: q, Limit: 10, Params: api.SearchParams{Exact: true}})
		if err != nil {
			t.Fatal(err)
		}
		before := s.plansGraph.Load()
		got, err := s.Search(bg, SearchRequest{Vector: q, Limit: 10, Params: params})
		if err != nil {
			t.Fatal(err)
		}
		if s.plansGraph.Load() == before {
			t.Fatal("search not planned on the graph")
		}
		sum += recall(ids(got), ids(exact))
		if rescore {
			byID := map[uint64]float32{}
			for _, h := range exact {
				byID[h.ID.Num] = h.Score
			}
			for _, h := range got {
				if want, ok := byID[h.ID.Num]; ok && want != h.Score {
					t.Fatalf("%s: rescored score %v, exact %v", params.Quantization, h.Score, want)
				}
			}
		}
	}
	return sum / nq
}

func normalized(v []float32) []float32 {
	out := append([]float32(nil), v...)
	var n float64
	for _, x := range out {
		n += float64(x) * float64(x)
	}
	if n > 0 {
		inv := float32(1 / sqrt(n))
		for i := range out {
			out[i] *= inv
		}
	}
	return out
}

func sqrt(x float64) float64 {
	z := x
	for range 40 {
		z = (z + x/z) / 2
	}
	return z
}

// TestQuantizationLifecycle: codes come back after a reopen (rebuilt from
// the vectors, never persisted), new vectors are encoded as they arrive, a
// bad search parameter is refused, and SetQuantization(nil) drops them.
func TestQuantizationLifecycle(t *testing.T) {
	dir := t.TempDir()
	s, vecs := quantShard(t, dir, api.DistanceEuclid, 1000, 40)
	before := s.QuantizedBytes("")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	opts := testOptions(dir)
	opts.Vectors = api.VectorsConfig{"": {Size: 40, Distance: api.DistanceEuclid}}
	opts.Quantization = map[string]*api.QuantizationConfig{"": scalarInt8(t, "")}
	it := 1
	opts.Optimizers = api.DefaultOptimizersConfig()
	opts.Optimizers.IndexingThreshold = &it
	s = openShard(t, opts)
	if got := s.QuantizedBytes(""); got != before || got == 0 {
		t.Fatalf("codes after reopen: %d bytes, before %d", got, before)
	}
	// A new point far from the rest is found by the codes at once.
	far := make([]float32, 40)
	for i := range far {
		far[i] = 50
	}
	apply(t, s, upsert(pt(5000, far, nil)))
	hits, err := s.Search(bg, SearchRequest{Vector: far, Limit: 1, Params: quantParams(`{"rescore":false}`)})
	if err != nil || len(hits) != 1 || hits[0].ID.Num != 5000 {
		t.Fatalf("new point by codes: %+v %v", hits, err)
	}
	if _, err := s.Search(bg, SearchRequest{Vector: vecs[0], Limit: 1, Params: quantParams(`{"oversampling":0.5}`)}); api.KindOf(err) != api.KindValidation {
		t.Fatalf("oversampling 0.5: %v", err)
	}
	if _, err := s.Search(bg, SearchRequest{Vector: vecs[0], Limit: 1, Params: quantParams(`{"rescor":true}`)}); api.KindOf(err) != api.KindBadInput {
		t.Fatalf("unknown member: %v", err)
	}
	s.SetQuantization("", nil)
	if got := s.QuantizedBytes(""); got != 0 {
		t.Fatalf("codes after SetQuantization(nil): %d bytes", got)
	}
	s.SetQuantization("", scalarInt8(t, ""))
	if got := s.QuantizedBytes(""); got == 0 {
		t.Fatal("no codes after SetQuantization")
	}
	_ = fmt.Sprint
	_ = time.Second
}
