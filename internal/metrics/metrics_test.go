package metrics

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestAppMetricsUseQdrantNames(t *testing.T) {
	reg := NewRegistry()
	stats := &Stats{Collections: []CollectionStats{
		{Name: "b", Points: 10, Vectors: map[string]uint64{"image": 10, "text": 7}, Shards: 2, RunningOptimizations: 1, PendingPoints: 3},
		{Name: "a", Points: 5, Vectors: map[string]uint64{"": 5}, Shards: 1},
	}}
	if _, err := Register(reg, Options{Version: "0.1.0", Source: func(context.Context) (*Stats, error) { return stats, nil }}); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP app_info information about qdrant server
# TYPE app_info gauge
app_info{name="shoal",version="0.1.0"} 1
# HELP app_status_recovery_mode features enabled in qdrant server
# TYPE app_status_recovery_mode gauge
app_status_recovery_mode 0
# HELP cluster_enabled is cluster support enabled
# TYPE cluster_enabled gauge
cluster_enabled 0
# HELP collection_points approximate amount of points per collection
# TYPE collection_points gauge
collection_points{id="a"} 5
collection_points{id="b"} 10
# HELP collection_vectors amount of vectors grouped by vector name
# TYPE collection_vectors gauge
collection_vectors{collection="a",vector=""} 5
collection_vectors{collection="b",vector="image"} 10
collection_vectors{collection="b",vector="text"} 7
# HELP collections_total number of collections
# TYPE collections_total gauge
collections_total 2
# HELP collections_vector_total total number of vectors in all collections
# TYPE collections_vector_total gauge
collections_vector_total 22
# HELP optimizer_running_processes number of currently running optimization processes
# TYPE optimizer_running_processes gauge
optimizer_running_processes 1
# HELP collection_active_replicas_min minimum number of active replicas across all shards
# TYPE collection_active_replicas_min gauge
collection_active_replicas_min{id="a"} 1
collection_active_replicas_min{id="b"} 1
`
	names := []string{"app_info", "app_status_recovery_mode", "cluster_enabled", "collection_points", "collection_vectors",
		"collections_total", "collections_vector_total", "optimizer_running_processes", "collection_active_replicas_min"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
	// Process and Go collectors are present.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, mf := range mfs {
		seen[mf.GetName()] = true
	}
	for _, n := range []string{"go_goroutines", "process_open_fds", "process_resident_memory_bytes", "collection_dead_replicas", "collection_running_optimizations"} {
		if !seen[n] {
			t.Errorf("metric %s missing", n)
		}
	}
}

func TestSourceErrorKeepsNodeMetrics(t *testing.T) {
	reg := NewRegistry()
	if _, err := Register(reg, Options{Version: "x", ClusterEnabled: true, Source: func(context.Context) (*Stats, error) {
		return nil, errors.New("boom")
	}}); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP cluster_enabled is cluster support enabled
# TYPE cluster_enabled gauge
cluster_enabled 1
# HELP shoal_metrics_source_errors_total scrapes whose collection statistics could not be read
# TYPE shoal_metrics_source_errors_total counter
shoal_metrics_source_errors_total 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "cluster_enabled", "shoal_metrics_source_errors_total", "collections_total"); err != nil {
		t.Fatal(err)
	}
	// Two registries in one process do not collide.
	if _, err := Register(NewRegistry(), Options{}); err != nil {
		t.Fatal(err)
	}
}
