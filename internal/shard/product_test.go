package shard

import (
	"encoding/json"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
)

// TestProductQuantizedRecall checks recall@10 of graph searches by product
// codes against the exact oracle, for every distance and two compressions,
// with rescoring (oversampling 4) and without; with rescoring the reported
// scores are the exact ones. The bounds are the recalls measured on this
// data (seeded; the graph by the original vectors finds all) less a
// margin: x8 1.00 rescored, 0.89–0.91 by codes alone; x32 0.88–0.90
// rescored, 0.55–0.57 by codes alone. Cosine ranks as Dot does here.
func TestProductQuantizedRecall(t *testing.T) {
	vecs := centred(3000, 64, 13)
	for _, d := range []api.Distance{api.DistanceEuclid, api.DistanceDot, api.DistanceManhattan} {
		for _, comp := range []string{"x8", "x32"} {
			t.Run(string(d)+"/"+comp, func(t *testing.T) {
				q, err := api.ParseQuantization(json.RawMessage(`{"product":{"compression":"` + comp + `","always_ram":true}}`))
				if err != nil || q.Product == nil {
					t.Fatal(err)
				}
				s := quantShardOf(t, t.TempDir(), d, vecs, q)
				if s.QuantizedBytes("") == 0 {
					t.Fatal("no codes after indexing")
				}
				ef := 128
				base := quantRecall(t, s, vecs, d, api.SearchParams{HnswEf: &ef, Quantization: json.RawMessage(`{"ignore":true}`)}, false)
				bounds := map[string][2]float64{"x8": {0.95, 0.82}, "x32": {0.82, 0.48}}[comp]
				for i, c := range []struct {
					params  string
					rescore bool
				}{{`{"rescore":true,"oversampling":4}`, true}, {`{"rescore":false}`, false}} {
					p := quantParams(c.params)
					p.HnswEf = &ef
					r := quantRecall(t, s, vecs, d, p, c.rescore)
					t.Logf("%s %s %s: recall@10 %.3f (original vectors %.3f)", d, comp, c.params, r, base)
					if r < bounds[i] {
						t.Errorf("%s %s %s: recall@10 %.3f < %.2f", d, comp, c.params, r, bounds[i])
					}
				}
			})
		}
	}
}

// TestQuantizationReopenRebuilds: binary and product codes come back after
// a reopen (rebuilt from the vectors, never persisted) with the same size,
// and SetQuantization switches between the kinds.
func TestQuantizationReopenRebuilds(t *testing.T) {
	vecs := centred(1500, 32, 17)
	for _, raw := range []string{`{"binary":{}}`, `{"product":{"compression":"x16"}}`} {
		t.Run(raw, func(t *testing.T) {
			q, err := api.ParseQuantization(json.RawMessage(raw))
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			s := quantShardOf(t, dir, api.DistanceDot, vecs, q)
			before := s.QuantizedBytes("")
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			opts := testOptions(dir)
			opts.Vectors = api.VectorsConfig{"": {Size: 32, Distance: api.DistanceDot}}
			opts.Quantization = map[string]*api.QuantizationConfig{"": q}
			it := 1
			opts.Optimizers = api.DefaultOptimizersConfig()
			opts.Optimizers.IndexingThreshold = &it
			s = openShard(t, opts)
			if got := s.QuantizedBytes(""); got != before || got == 0 {
				t.Fatalf("codes after reopen: %d bytes, before %d", got, before)
			}
			hits, err := s.Search(bg, SearchRequest{Vector: vecs[7], Limit: 3, Params: quantParams(`{"oversampling":4}`)})
			if err != nil || len(hits) != 3 {
				t.Fatalf("search after reopen: %v %v", hits, err)
			}
			s.SetQuantization("", scalarInt8(t, ""))
			if got := s.QuantizedBytes(""); got == before || got == 0 {
				t.Fatalf("codes after switching to scalar: %d bytes", got)
			}
		})
	}
}

// TestProductTrainingOffTheWriterLock: a product training that
// SetQuantization starts runs in the background without the shard's
// locks: while it is held at its start, writes and searches complete;
// once it finishes (WaitIndexed waits for it) the codes cover the vectors
// written meanwhile too, and a new configuration meanwhile drops the
// stale training's codes.
func TestProductTrainingOffTheWriterLock(t *testing.T) {
	vecs := centred(1200, 32, 21)
	s := quantShardOf(t, t.TempDir(), api.DistanceDot, vecs[:1000], nil)
	hold := make(chan struct{})
	started := make(chan struct{}, 4)
	productTrainHook = func() {
		started <- struct{}{}
		<-hold
	}
	t.Cleanup(func() { productTrainHook = nil })
	q, err := api.ParseQuantization(json.RawMessage(`{"product":{"compression":"x8"}}`))
	if err != nil {
		t.Fatal(err)
	}
	s.SetQuantization("", q)
	<-started
	// The training is held: a write and a search go through meanwhile.
	var pts []api.PointStruct
	for i := 1000; i < 1200; i++ {
		pts = append(pts, pt(uint64(i), vecs[i], nil))
	}
	apply(t, s, upsert(pts...))
	if hits, err := s.Search(bg, SearchRequest{Vector: vecs[1100], Limit: 1}); err != nil || len(hits) != 1 || hits[0].ID != api.NumID(1100) {
		t.Fatalf("search during training: %v %v", hits, err)
	}
	if got := s.QuantizedBytes(""); got != 0 {
		t.Fatalf("codes before the training finished: %d bytes", got)
	}
	close(hold)
	if err := s.WaitIndexed(bg); err != nil {
		t.Fatal(err)
	}
	if s.QuantizedBytes("") == 0 {
		t.Fatal("no codes after the training")
	}
	// Every vector, those written during the training too, has its code:
	// its distance by codes to a query is the one of its vector encoded
	// afresh at a spare offset.
	s.mu.Lock()
	sp := s.spaces[""]
	codes, spare := sp.quant.codes, s.nextOff+5
	for i := 0; i < 1200; i += 7 {
		off, ok := s.ids.lookup(api.NumID(uint64(i)))
		if !ok {
			s.mu.Unlock()
			t.Fatalf("point %d not found", i)
		}
		codes.Set(spare, vecs[i])
		sc := codes.Scorer(vecs[(i+1)%1200])
		if got, want := sc.Dist(off), sc.Dist(spare); got != want {
			s.mu.Unlock()
			t.Fatalf("point %d (offset %d): distance by its code %v, by its vector encoded afresh %v", i, off, got, want)
		}
	}
	s.mu.Unlock()

	// A configuration change while a training is held drops its codes.
	hold = make(chan struct{})
	s.SetQuantization("", nil)
	s.SetQuantization("", q)
	<-started
	s.SetQuantization("", scalarInt8(t, ""))
	scalarBytes := s.QuantizedBytes("")
	close(hold)
	if err := s.WaitIndexed(bg); err != nil {
		t.Fatal(err)
	}
	if got := s.QuantizedBytes(""); got != scalarBytes || got == 0 {
		t.Fatalf("codes after a stale product training: %d bytes, scalar %d", got, scalarBytes)
	}
}
