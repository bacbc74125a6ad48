package service

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
)

// TestQuantizedOnDiskSnapshotRoundTrip: a collection with on_disk vectors
// and scalar int8 quantization survives a restart and a snapshot round
// trip: its config (quantization_config, on_disk) comes back, and its
// searches by the codes (rescored, not rescored) and exact ones answer as
// before.
func TestQuantizedOnDiskSnapshotRoundTrip(t *testing.T) {
	dir := t.TempDir()
	storage := filepath.Join(dir, "storage")
	s := newService(t, storage)
	data := makeDataset(3, 600, 16, api.DistanceEuclid)
	yes, shards := true, 2
	it := 1
	opt, _ := json.Marshal(map[string]any{"indexing_threshold": it})
	full := 10
	mustNil(t, s.CreateCollection(bg, "src", &api.CreateCollection{
		Vectors:            api.VectorsConfig{"": {Size: 16, Distance: api.DistanceEuclid, OnDisk: &yes}},
		ShardNumber:        &shards,
		HnswConfig:         &api.HnswConfigDiff{FullScanThreshold: &full},
		OptimizersConfig:   opt,
		QuantizationConfig: json.RawMessage(`{"scalar":{"type":"int8","quantile":0.99}}`),
	}))
	upsert(t, s, "src", data.points(""))
	params := []string{`{"exact":true}`, `{"quantization":{"rescore":false}}`, `{"quantization":{"rescore":true,"oversampling":2}}`}
	answers := func(s *Service, name string) []string {
		t.Helper()
		var out []string
		for _, p := range params {
			var sp api.SearchParams
			mustNil(t, json.Unmarshal([]byte(p), &sp))
			for _, id := range []uint64{1, 77, 300} {
				limit := 5
				res, err := s.Query(bg, name, &api.QueryRequest{Query: &api.Query{Nearest: &api.VectorInput{Vector: data.vecs[id]}}, Params: &sp, Limit: &limit}, api.ReadParams{})
				mustNil(t, err)
				js, _ := json.Marshal(res.Points)
				out = append(out, p+string(js))
			}
		}
		return out
	}
	before := answers(s, "src")
	mgr := newManager(t, s, dir)
	a, err := mgr.CreateArchive(bg, "src")
	mustNil(t, err)
	mustNil(t, recoverFile(mgr, "c", a.Path))
	mustNil(t, s.Close())
	s = newService(t, storage) // restart: codes and vector files rebuilt
	defer s.Close()
	for _, name := range []string{"src", "c"} {
		info, err := s.CollectionInfo(bg, name)
		mustNil(t, err)
		q := info.Config.VectorQuantization("")
		if vp := info.Config.Params.Vectors[""]; q == nil || q.Quantile() != 0.99 || vp.OnDisk == nil || !*vp.OnDisk {
			t.Fatalf("%s: config after restart %+v %s", name, vp, info.Config.QuantizationConfig)
		}
		after := answers(s, name)
		for i := range before {
			if before[i] != after[i] {
				t.Fatalf("%s: answer %d changed:\n%s\n%s", name, i, before[i], after[i])
			}
		}
	}
}
