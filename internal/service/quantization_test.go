package service

import (
	"encoding/json"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
)

// TestQuantizationConfigValidation: scalar int8, product and binary
// one_bit are accepted (collection and vector level, in create and update,
// "Disabled" drops them), unknown compressions, binary encodings other
// than one_bit and bad quantiles are refused; on_disk is accepted at creation and
// refused as a change.
func TestQuantizationConfigValidation(t *testing.T) {
	vec := func(q string, onDisk *bool) api.VectorsConfig {
		return api.VectorsConfig{"": {Size: 4, Distance: api.DistanceDot, QuantizationConfig: json.RawMessage(q), OnDisk: onDisk}}
	}
	yes := true
	for _, c := range []struct {
		name string
		req  api.CreateCollection
		ok   bool
	}{
		{"collection scalar", api.CreateCollection{Vectors: vec("", nil), QuantizationConfig: json.RawMessage(`{"scalar":{"type":"int8","quantile":0.99,"always_ram":true}}`)}, true},
		{"vector scalar", api.CreateCollection{Vectors: vec(`{"scalar":{"type":"int8"}}`, nil)}, true},
		{"binary", api.CreateCollection{Vectors: vec("", nil), QuantizationConfig: json.RawMessage(`{"binary":{"always_ram":true}}`)}, true},
		{"vector binary", api.CreateCollection{Vectors: vec(`{"binary":{"encoding":"one_bit","query_encoding":"scalar8bits","memory":"pinned"}}`, nil)}, true},
		{"binary two_bits", api.CreateCollection{Vectors: vec(`{"binary":{"encoding":"two_bits"}}`, nil)}, true},
		{"binary one_and_half_bits", api.CreateCollection{Vectors: vec("", nil), QuantizationConfig: json.RawMessage(`{"binary":{"encoding":"one_and_half_bits"}}`)}, false},
		{"binary query encoding", api.CreateCollection{Vectors: vec(`{"binary":{"query_encoding":"scalar2bits"}}`, nil)}, false},
		{"binary memory", api.CreateCollection{Vectors: vec(`{"binary":{"memory":"ram"}}`, nil)}, false},
		{"product", api.CreateCollection{Vectors: vec(`{"product":{"compression":"x16"}}`, nil)}, true},
		{"collection product", api.CreateCollection{Vectors: vec("", nil), QuantizationConfig: json.RawMessage(`{"product":{"compression":"x64","always_ram":false}}`)}, true},
		{"product compression", api.CreateCollection{Vectors: vec(`{"product":{"compression":"x2"}}`, nil)}, false},
		{"product no compression", api.CreateCollection{Vectors: vec(`{"product":{"always_ram":true}}`, nil)}, false},
		{"quantile", api.CreateCollection{Vectors: vec(`{"scalar":{"type":"int8","quantile":0.3}}`, nil)}, false},
		{"type", api.CreateCollection{Vectors: vec(`{"scalar":{"type":"int4"}}`, nil)}, false},
		{"unknown member", api.CreateCollection{Vectors: vec(`{"scalar":{"type":"int8","bits":3}}`, nil)}, false},
		{"on_disk", api.CreateCollection{Vectors: vec(`{"scalar":{"type":"int8"}}`, &yes)}, true},
	} {
		cfg, err := ResolveConfig(&c.req, 1)
		if c.ok != (err == nil) {
			t.Errorf("%s: err %v", c.name, err)
			continue
		}
		if k := api.KindOf(err); err != nil && k != api.KindBadInput && k != api.KindValidation {
			t.Errorf("%s: kind %v", c.name, api.KindOf(err))
		}
		if c.ok && cfg.VectorQuantization("") == nil {
			t.Errorf("%s: no quantization in force", c.name)
		}
	}
	cfg, err := ResolveConfig(&api.CreateCollection{Vectors: vec("", nil)}, 1)
	if err != nil || cfg.VectorQuantization("") != nil {
		t.Fatalf("plain: %v %v", cfg.VectorQuantization(""), err)
	}
	up, err := applyUpdate(cfg, &api.UpdateCollection{QuantizationConfig: json.RawMessage(`{"scalar":{"type":"int8"}}`)})
	if err != nil || up.VectorQuantization("") == nil {
		t.Fatalf("update to scalar: %v", err)
	}
	up, err = applyUpdate(up, &api.UpdateCollection{QuantizationConfig: json.RawMessage(`"Disabled"`)})
	if err != nil || up.VectorQuantization("") != nil {
		t.Fatalf("update to Disabled: %v", err)
	}
	up, err = applyUpdate(up, &api.UpdateCollection{Vectors: map[string]api.VectorParamsDiff{"": {QuantizationConfig: json.RawMessage(`{"scalar":{"type":"int8","quantile":0.95}}`)}}})
	if err != nil || up.VectorQuantization("").Quantile() != 0.95 {
		t.Fatalf("vector update: %v", err)
	}
	if b, err := applyUpdate(up, &api.UpdateCollection{QuantizationConfig: json.RawMessage(`{"binary":{}}`)}); err != nil || b.VectorQuantization("").Scalar == nil {
		t.Fatalf("update to binary (the vector's scalar config stays in force): %v", err)
	}
	if b, err := applyUpdate(cfg, &api.UpdateCollection{QuantizationConfig: json.RawMessage(`{"binary":{}}`)}); err != nil || b.VectorQuantization("").Binary == nil {
		t.Fatalf("update to binary: %v", err)
	}
	if b, err := applyUpdate(cfg, &api.UpdateCollection{QuantizationConfig: json.RawMessage(`{"binary":{"encoding":"two_bits"}}`)}); err != nil || !b.VectorQuantization("").Binary.TwoBits() {
		t.Fatalf("update to binary two_bits: %v", err)
	}
	if _, err := applyUpdate(up, &api.UpdateCollection{QuantizationConfig: json.RawMessage(`{"binary":{"encoding":"one_and_half_bits"}}`)}); api.KindOf(err) != api.KindBadInput {
		t.Fatalf("update to binary one_and_half_bits: %v", err)
	}
	// on_disk changes are taken (the service reopens the collection).
	if d, err := applyUpdate(up, &api.UpdateCollection{Vectors: map[string]api.VectorParamsDiff{"": {OnDisk: &yes}}}); err != nil || !*d.Params.Vectors[""].OnDisk || !reopenNeeded(up, d) {
		t.Fatalf("update to on_disk: %v", err)
	}
}

// TestApplyUpdateLeavesTheOldConfig: a PATCH of optimizers_config, hnsw
// and vectors produces a new configuration and leaves the one it started
// from (the metadata's state, compared by the caller to decide a reopen)
// as it was.
func TestApplyUpdateLeavesTheOldConfig(t *testing.T) {
	cfg, err := ResolveConfig(&api.CreateCollection{Vectors: api.VectorsConfig{"": {Size: 4, Distance: api.DistanceDot}},
		OptimizersConfig: json.RawMessage(`{"max_optimization_threads":0,"memmap_threshold":100,"indexing_threshold":5,"max_segment_size":7}`)}, 1)
	if err != nil {
		t.Fatal(err)
	}
	before, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	up, err := applyUpdate(cfg, &api.UpdateCollection{
		OptimizersConfig: json.RawMessage(`{"max_optimization_threads":2,"memmap_threshold":1,"indexing_threshold":9,"max_segment_size":3}`),
		HnswConfig:       &api.HnswConfigDiff{M: ptr(8)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if after, _ := json.Marshal(cfg); string(after) != string(before) {
		t.Fatalf("the old configuration changed:\nbefore %s\nafter  %s", before, after)
	}
	if *up.OptimizerConfig.MaxOptimizationThreads != 2 || *up.OptimizerConfig.MemmapThreshold != 1 || !reopenNeeded(cfg, up) {
		t.Fatalf("update not applied: %+v", up.OptimizerConfig)
	}
}
