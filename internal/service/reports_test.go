package service

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/shard"
)

// TestReportsWhileIndexing holds every shard's indexer back and checks the
// service's reports: telemetry (the input of the collection_vectors and
// collection_running_optimizations metrics) counts points per vector name
// and the busy indexers, the optimizations report shows the queued points
// (through an alias too), and both return to idle once the indexer runs.
// A multi-shard write naming a missing point changes nothing meanwhile.
func TestReportsWhileIndexing(t *testing.T) {
	release := make(chan struct{})
	s, err := New(Options{StorageDir: t.TempDir(), ShardOptions: func(o *shard.Options) {
		o.BeforeIndexBatch = func(ctx context.Context) {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
	}})
	mustNil(t, err)
	defer s.Close()
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	mustNil(t, s.CreateCollection(bg, "c", &api.CreateCollection{
		Vectors:          api.VectorsConfig{"img": {Size: 4, Distance: api.DistanceEuclid}, "txt": {Size: 16, Distance: api.DistanceDot}},
		ShardNumber:      ptr(3),
		OptimizersConfig: json.RawMessage(`{"indexing_threshold": 1}`),
	}))
	mustNil(t, s.UpdateAliases(bg, []api.AliasOperation{{CreateAlias: &api.AliasDescription{CollectionName: "c", AliasName: "al"}}}))
	var pts []api.PointStruct
	for i := range 300 {
		f := float32(i)
		v := api.Vectors{"img": {f, 0, 1, 2}}
		if i%3 == 0 {
			txt := make([]float32, 16)
			txt[0], txt[1] = f, 1
			v["txt"] = txt
		}
		pts = append(pts, api.PointStruct{ID: api.NumID(uint64(i + 1)), Vector: v})
	}
	upsert(t, s, "c", pts)

	// Indexing starts at 1 KB of vectors per shard: 64 of img, 16 of txt;
	// each of the 3 shards holds about 100 and 33 of them.
	tel, err := s.Telemetry(bg)
	mustNil(t, err)
	ct := tel.Collections[0]
	if ct.VectorCounts["img"] != 300 || ct.VectorCounts["txt"] != 100 || ct.RunningOptimizations != 6 || ct.PendingOptimization != 400 || ct.Status != api.StatusYellow {
		t.Fatalf("telemetry while indexing: %+v", ct)
	}
	rep, err := s.Optimizations(bg, "al", api.OptimizationsRequest{WithQueued: true})
	mustNil(t, err)
	if rep.Summary.QueuedPoints != 400 || len(rep.Running) != 6 || len(rep.Queued) != 6 {
		t.Fatalf("optimizations while indexing: %+v, %d running", rep.Summary, len(rep.Running))
	}
	_, err = s.Optimizations(bg, "nope", api.OptimizationsRequest{})
	wantErr(t, err, api.KindNotFound, "Collection `nope` doesn't exist!")

	ids := []api.PointID{api.NumID(1), api.NumID(2), api.NumID(3), api.NumID(999), api.NumID(4)}
	_, err = s.SetPayload(bg, "c", &api.SetPayload{Payload: api.Payload{"x": 1.0}, Points: ids}, api.WriteParams{Wait: true})
	wantErr(t, err, api.KindNotFound, "No point with id 999 found")
	n, err := s.Count(bg, "c", &api.CountRequest{Filter: filterJSON(t, `{"must": [{"key": "x", "match": {"value": 1}}]}`)}, api.ReadParams{})
	mustNil(t, err)
	if n.Count != 0 {
		t.Fatalf("a refused set_payload changed %d points", n.Count)
	}

	close(release)
	released = true
	deadline := time.Now().Add(time.Minute)
	for {
		tel, err = s.Telemetry(bg)
		mustNil(t, err)
		if ct = tel.Collections[0]; ct.RunningOptimizations == 0 && ct.Status == api.StatusGreen {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("indexer still busy: %+v", ct)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ct.PendingOptimization != 0 || ct.IndexedVectors != 400 || ct.VectorCounts["txt"] != 100 {
		t.Fatalf("telemetry once indexed: %+v", ct)
	}
	rep, err = s.Optimizations(bg, "c", api.OptimizationsRequest{WithCompleted: true, CompletedLimit: 16})
	mustNil(t, err)
	if rep.Summary.QueuedPoints != 0 || len(rep.Running) != 0 || rep.Summary.IdleSegments != 6 || len(rep.Completed) != 6 {
		t.Fatalf("optimizations once indexed: %+v, %d running, %d completed", rep.Summary, len(rep.Running), len(rep.Completed))
	}
}
