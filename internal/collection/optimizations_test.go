package collection

import (
	"context"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/shard"
)

// TestReportsFollowTheIndexer holds the real background indexer back,
// checks that the collection's status, optimizations report and vector
// counts show the pending work, then lets it run and checks that they show
// it done.
func TestReportsFollowTheIndexer(t *testing.T) {
	release := make(chan struct{})
	threshold := 1 // KB: indexing starts at 64 vectors of 4 dimensions
	c, err := Open(Options{Dir: t.TempDir(), Name: "opt", Config: api.CollectionConfig{
		Params: api.CollectionParams{Vectors: api.VectorsConfig{
			"a": {Size: 4, Distance: api.DistanceEuclid},
			"b": {Size: 4, Distance: api.DistanceCosine},
		}, ShardNumber: 2},
		HnswConfig:      api.DefaultHnswConfig(),
		OptimizerConfig: api.OptimizersConfig{IndexingThreshold: &threshold, DeletedThreshold: 0.2},
	}, ShardOptions: func(o *shard.Options) {
		o.BeforeIndexBatch = func(ctx context.Context) {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	ctx := context.Background()
	const n, withB = 400, 150
	pts := make([]api.PointStruct, n)
	for i := range pts {
		f := float32(i)
		v := api.Vectors{"a": {f, 1, 2, 3}}
		if i < withB {
			v["b"] = []float32{1, f, 3, 4}
		}
		pts[i] = api.PointStruct{ID: api.NumID(uint64(i + 1)), Vector: v}
	}
	if _, err := c.Update(ctx, &api.UpdateOperation{Upsert: &api.UpsertPoints{Points: pts}}, true); err != nil {
		t.Fatal(err)
	}

	st := c.Stats()
	if st.Vectors["a"] != n || st.Vectors["b"] != withB || len(st.Vectors) != 2 {
		t.Fatalf("vector counts %v, want a=%d b=%d", st.Vectors, n, withB)
	}
	if st.PendingIndex != n+withB || st.Indexing != 4 {
		t.Fatalf("held indexer: pending %d (want %d), indexing %d (want 4)", st.PendingIndex, n+withB, st.Indexing)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Status != api.StatusYellow || info.OptimizerStatus != "ok" || info.IndexedVectorsCount != 0 {
		t.Fatalf("info while indexing: status %v, optimizer %v, indexed %d", info.Status, info.OptimizerStatus, info.IndexedVectorsCount)
	}
	rep, err := c.Optimizations(ctx, api.OptimizationsRequest{WithQueued: true, WithIdleSegments: true, WithCompleted: true, CompletedLimit: 16})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Summary.QueuedPoints != n+withB || rep.Summary.QueuedSegments != 4 || rep.Summary.IdleSegments != 0 {
		t.Fatalf("summary while indexing: %+v", rep.Summary)
	}
	if len(rep.Running) != 4 || len(rep.Queued) != 4 || len(rep.IdleSegments) != 0 || len(rep.Completed) != 0 {
		t.Fatalf("report while indexing: %d running, %d queued, %d idle, %d completed", len(rep.Running), len(rep.Queued), len(rep.IdleSegments), len(rep.Completed))
	}
	var total uint64
	for _, r := range rep.Running {
		if r.Optimizer != "indexing" || r.Status != "optimizing" || r.Progress.StartedAt == nil || r.Progress.FinishedAt != nil ||
			*r.Progress.Done != 0 || len(r.Segments) != 1 || r.UUID == "" {
			t.Fatalf("running optimization: %+v", r)
		}
		total += *r.Progress.Total
	}
	if total != n+withB {
		t.Fatalf("running optimizations total %d vectors, want %d", total, n+withB)
	}
	// The same run keeps its id.
	again, err := c.Optimizations(ctx, api.OptimizationsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, r := range rep.Running {
		ids[r.UUID] = true
	}
	for _, r := range again.Running {
		if !ids[r.UUID] {
			t.Fatalf("running optimization %s changed its id", r.UUID)
		}
	}
	if again.Queued != nil || again.Completed != nil || again.IdleSegments != nil {
		t.Fatal("optional parts reported without being asked for")
	}

	close(release)
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := c.WaitIndexed(wctx); err != nil {
		t.Fatal(err)
	}
	info, err = c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Status != api.StatusGreen || info.OptimizerStatus != "ok" || info.IndexedVectorsCount != n+withB {
		t.Fatalf("info once indexed: status %v, optimizer %v, indexed %d", info.Status, info.OptimizerStatus, info.IndexedVectorsCount)
	}
	rep, err = c.Optimizations(ctx, api.OptimizationsRequest{WithQueued: true, WithIdleSegments: true, WithCompleted: true, CompletedLimit: 16})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Summary.QueuedPoints != 0 || rep.Summary.IdleSegments != 4 || len(rep.Running) != 0 || len(rep.Queued) != 0 || len(rep.IdleSegments) != 4 {
		t.Fatalf("report once indexed: %+v, %d running, %d queued, %d idle", rep.Summary, len(rep.Running), len(rep.Queued), len(rep.IdleSegments))
	}
	if len(rep.Completed) != 4 {
		t.Fatalf("%d completed runs, want 4", len(rep.Completed))
	}
	for _, r := range rep.Completed {
		if r.Status != "done" || r.Progress.FinishedAt == nil || *r.Progress.Done != *r.Progress.Total || !ids[r.UUID] {
			t.Fatalf("completed optimization: %+v", r)
		}
	}
	if rep, err := c.Optimizations(ctx, api.OptimizationsRequest{WithCompleted: true, CompletedLimit: 1}); err != nil || len(rep.Completed) != 1 {
		t.Fatalf("completed_limit 1: %v, %v", rep, err)
	}
	if st := c.Stats(); st.Indexing != 0 || st.PendingIndex != 0 || st.Vectors["b"] != withB {
		t.Fatalf("stats once indexed: %+v", st)
	}
}
