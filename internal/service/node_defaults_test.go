package service

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/api"
)

func decode[T any](t *testing.T, s string) *T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return &v
}

// TestCollectionDefaultsFromNode: a collection created without hnsw_config,
// optimizers_config or on_disk_payload takes the node's; a request's values
// are merged onto them; the node's defaults never change.
func TestCollectionDefaultsFromNode(t *testing.T) {
	it, segs, threads := 5000, 2000, 3
	def := CollectionDefaults{
		Hnsw: api.HnswConfig{M: 24, EfConstruct: 64, FullScanThreshold: 2000, MaxIndexingThreads: 2},
		Optimizers: api.OptimizersConfig{DeletedThreshold: 0.35, VacuumMinVectorNumber: 500, DefaultSegmentNumber: 2,
			MaxSegmentSize: &segs, IndexingThreshold: &it, FlushIntervalSec: 9, MaxOptimizationThreads: &threads},
		OnDiskPayload: false,
	}
	before := def
	s, err := New(Options{StorageDir: t.TempDir(), CollectionDefaults: &def})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	mustNil(t, s.CreateCollection(bg, "plain", decode[api.CreateCollection](t, `{"vectors":{"size":4,"distance":"Dot"}}`)))
	info, err := s.CollectionInfo(bg, "plain")
	mustNil(t, err)
	if !reflect.DeepEqual(info.Config.HnswConfig, def.Hnsw) || !reflect.DeepEqual(info.Config.OptimizerConfig, def.Optimizers) ||
		info.Config.Params.OnDiskPayload {
		t.Fatalf("defaults not applied: %+v %+v on_disk_payload=%v", info.Config.HnswConfig, info.Config.OptimizerConfig, info.Config.Params.OnDiskPayload)
	}

	mustNil(t, s.CreateCollection(bg, "own", decode[api.CreateCollection](t, `{"vectors":{"size":4,"distance":"Dot"},
		"hnsw_config":{"m":8},"optimizers_config":{"indexing_threshold":100,"max_optimization_threads":1},"on_disk_payload":true}`)))
	info, err = s.CollectionInfo(bg, "own")
	mustNil(t, err)
	h, o := info.Config.HnswConfig, info.Config.OptimizerConfig
	if h.M != 8 || h.EfConstruct != 64 || h.FullScanThreshold != 2000 || *o.IndexingThreshold != 100 || *o.MaxOptimizationThreads != 1 ||
		o.DeletedThreshold != 0.35 || !info.Config.Params.OnDiskPayload {
		t.Fatalf("request not merged onto the node's defaults: %+v %+v", h, o)
	}
	if !reflect.DeepEqual(def, before) || *def.Optimizers.IndexingThreshold != 5000 || *def.Optimizers.MaxOptimizationThreads != 3 {
		t.Fatalf("a request changed the node's defaults: %+v", def.Optimizers)
	}
	info, err = s.CollectionInfo(bg, "plain")
	mustNil(t, err)
	if *info.Config.OptimizerConfig.IndexingThreshold != 5000 {
		t.Fatal("a request changed another collection's config")
	}

	// Without node defaults: Qdrant's.
	s2 := newService(t, t.TempDir())
	defer s2.Close()
	mustNil(t, s2.CreateCollection(bg, "q", decode[api.CreateCollection](t, `{"vectors":{"size":4,"distance":"Dot"}}`)))
	info, err = s2.CollectionInfo(bg, "q")
	mustNil(t, err)
	if !reflect.DeepEqual(info.Config.HnswConfig, api.DefaultHnswConfig()) || !reflect.DeepEqual(info.Config.OptimizerConfig, api.DefaultOptimizersConfig()) ||
		!info.Config.Params.OnDiskPayload {
		t.Fatalf("Qdrant's defaults expected: %+v", info.Config)
	}
}

// TestConcurrencySlots: with every read (update) slot taken, a read
// (update) waits and times out with its request's timeout; once a slot is
// free it runs.
func TestConcurrencySlots(t *testing.T) {
	s, err := New(Options{StorageDir: t.TempDir(), Limits: Limits{MaxConcurrentReads: 2, MaxConcurrentUpdates: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Options().Limits; got.MaxConcurrentReads != 2 || got.MaxConcurrentUpdates != 1 {
		t.Fatalf("limits %+v", got)
	}
	mustNil(t, s.CreateCollection(bg, "c", decode[api.CreateCollection](t, `{"vectors":{"size":2,"distance":"Dot"}}`)))
	up := decode[api.UpsertPoints](t, `{"points":[{"id":1,"vector":[1,0]}]}`)
	if _, err := s.Upsert(bg, "c", up, api.WriteParams{Wait: true}); err != nil {
		t.Fatal(err)
	}
	q := decode[api.QueryRequest](t, `{"query":[1,0],"limit":1}`)
	rp := api.ReadParams{TimeoutSeconds: 1}

	// Both read slots busy: queries and scrolls wait, then time out.
	s.readSlots <- struct{}{}
	s.readSlots <- struct{}{}
	start := time.Now()
	_, err = s.Query(bg, "c", q, rp)
	wantErr(t, err, api.KindTimeout, "Timeout")
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("timed out after %v, before the request's timeout", d)
	}
	_, err = s.Scroll(bg, "c", &api.ScrollRequest{}, rp)
	wantErr(t, err, api.KindTimeout, "Timeout")
	// Writes have their own slots.
	if _, err := s.Upsert(bg, "c", up, api.WriteParams{Wait: true, TimeoutSeconds: 1}); err != nil {
		t.Fatalf("a write waited for read slots: %v", err)
	}
	// One slot free: a query runs.
	<-s.readSlots
	res, err := s.Query(bg, "c", q, rp)
	mustNil(t, err)
	if len(res.Points) != 1 {
		t.Fatalf("query: %+v", res)
	}
	<-s.readSlots
	if len(s.readSlots) != 0 {
		t.Fatalf("%d read slots leaked", len(s.readSlots))
	}

	// The update slot busy: updates time out, reads run.
	s.updateSlots <- struct{}{}
	_, err = s.Upsert(bg, "c", up, api.WriteParams{Wait: true, TimeoutSeconds: 1})
	wantErr(t, err, api.KindTimeout, "Timeout")
	if _, err := s.Query(bg, "c", q, rp); err != nil {
		t.Fatalf("a read waited for update slots: %v", err)
	}
	<-s.updateSlots
	if _, err := s.Upsert(bg, "c", up, api.WriteParams{Wait: true, TimeoutSeconds: 1}); err != nil {
		t.Fatal(err)
	}
	if len(s.updateSlots) != 0 {
		t.Fatalf("%d update slots leaked", len(s.updateSlots))
	}

	// Unbounded by default.
	s2 := newService(t, t.TempDir())
	defer s2.Close()
	if s2.readSlots != nil || s2.updateSlots != nil {
		t.Fatal("slots without limits")
	}
}
