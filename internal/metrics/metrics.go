// Package metrics builds Shoal's Prometheus registry and exports the
// application metrics under Qdrant's names and labels (app_info,
// collections_total, collections_vector_total, collection_points, ...), so
// Grafana dashboards made for Qdrant work against Shoal. Request metrics
// (rest_responses_*, grpc_responses_*) are defined once here (Responses:
// names, buckets, averaging) and recorded by the API adapters, which
// register them on the same registry.
//
// The package sits below the service layer: the composition root adapts the
// service's telemetry into a Stats value through Options.Source.
package metrics

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// NewRegistry returns a fresh registry holding the Go runtime and process
// collectors (process_open_fds, process_resident_memory_bytes, ...). Each
// server gets its own, so several servers fit in one process.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// Stats is a point-in-time summary of the node, the input of the
// application metrics.
type Stats struct {
	// RecoveryMode is true when the node started in recovery mode.
	RecoveryMode bool
	// Collections summarises every collection.
	Collections []CollectionStats
}

// CollectionStats summarises one collection.
type CollectionStats struct {
	// Name is the collection name.
	Name string
	// Points is the number of points.
	Points uint64
	// Vectors counts stored vectors per vector name ("" for the unnamed
	// vector).
	Vectors map[string]uint64
	// Shards is the number of local shard replicas (all active on a single
	// node).
	Shards int
	// DeadReplicas counts replicas not in the active state.
	DeadReplicas int
	// ReplicaCounts is set when ActiveReplicasMin and ActiveReplicasMax
	// come from the cluster's placement (the fewest and most Active
	// replicas of a shard); unset, every shard is one local replica.
	ReplicaCounts                        bool
	ActiveReplicasMin, ActiveReplicasMax int
	// RunningOptimizations counts background index builds in progress.
	RunningOptimizations int
	// PendingPoints counts points not yet in the vector index.
	PendingPoints uint64
}

// TotalVectors returns the sum of Vectors.
func (c CollectionStats) TotalVectors() uint64 {
	var n uint64
	for _, v := range c.Vectors {
		n += v
	}
	return n
}

// Options configure the application collector.
type Options struct {
	// Name is the app_info "name" label; "" means "shoal".
	Name string
	// Version is the app_info "version" label.
	Version string
	// ClusterEnabled is the value of cluster_enabled.
	ClusterEnabled bool
	// Source returns the current statistics; nil reports only the
	// node-level metrics.
	Source func(ctx context.Context) (*Stats, error)
	// Timeout bounds one Source call; 0 means 5 s.
	Timeout time.Duration
	// Logger receives Source errors; nil discards.
	Logger *slog.Logger
}

// AppCollector is a prometheus.Collector of Qdrant's application metrics,
// computed from Options.Source on every scrape.
type AppCollector struct {
	opts Options

	appInfo, recoveryMode, clusterEnabled        *prometheus.Desc
	collectionsTotal, vectorsTotal, optimizerRun *prometheus.Desc
	collectionVectors, collectionPoints          *prometheus.Desc
	activeMin, activeMax, deadReplicas           *prometheus.Desc
	runningOptimizations, pendingPoints          *prometheus.Desc
	scrapeErrors                                 prometheus.Counter
}

// NewAppCollector returns the collector; register it with Register or a
// registry of your own.
func NewAppCollector(opts Options) *AppCollector {
	if opts.Name == "" {
		opts.Name = "shoal"
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	id := []string{"id"}
	return &AppCollector{
		opts:                 opts,
		appInfo:              prometheus.NewDesc("app_info", "information about qdrant server", []string{"name", "version"}, nil),
		recoveryMode:         prometheus.NewDesc("app_status_recovery_mode", "features enabled in qdrant server", nil, nil),
		clusterEnabled:       prometheus.NewDesc("cluster_enabled", "is cluster support enabled", nil, nil),
		collectionsTotal:     prometheus.NewDesc("collections_total", "number of collections", nil, nil),
		vectorsTotal:         prometheus.NewDesc("collections_vector_total", "total number of vectors in all collections", nil, nil),
		optimizerRun:         prometheus.NewDesc("optimizer_running_processes", "number of currently running optimization processes", nil, nil),
		collectionVectors:    prometheus.NewDesc("collection_vectors", "amount of vectors grouped by vector name", []string{"collection", "vector"}, nil),
		collectionPoints:     prometheus.NewDesc("collection_points", "approximate amount of points per collection", id, nil),
		activeMin:            prometheus.NewDesc("collection_active_replicas_min", "minimum number of active replicas across all shards", id, nil),
		activeMax:            prometheus.NewDesc("collection_active_replicas_max", "maximum number of active replicas across all shards", id, nil),
		deadReplicas:         prometheus.NewDesc("collection_dead_replicas", "total amount of shard replicas in non-active state", id, nil),
		runningOptimizations: prometheus.NewDesc("collection_running_optimizations", "number of currently running optimization tasks per collection", id, nil),
		pendingPoints:        prometheus.NewDesc("collection_pending_index_points", "points not yet in the vector index (Shoal)", id, nil),
		scrapeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shoal_metrics_source_errors_total",
			Help: "scrapes whose collection statistics could not be read",
		}),
	}
}

// Register creates the application collector and registers it on reg.
func Register(reg prometheus.Registerer, opts Options) (*AppCollector, error) {
	c := NewAppCollector(opts)
	if err := reg.Register(c); err != nil {
		return nil, fmt.Errorf("cannot register application metrics: %w", err)
	}
	return c, nil
}

// Describe implements prometheus.Collector.
func (c *AppCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.appInfo, c.recoveryMode, c.clusterEnabled, c.collectionsTotal, c.vectorsTotal, c.optimizerRun,
		c.collectionVectors, c.collectionPoints, c.activeMin, c.activeMax, c.deadReplicas,
		c.runningOptimizations, c.pendingPoints,
	} {
		ch <- d
	}
	c.scrapeErrors.Describe(ch)
}

// Collect implements prometheus.Collector: it reads Source once and emits
// every metric from that one snapshot.
func (c *AppCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(c.appInfo, 1, c.opts.Name, c.opts.Version)
	gauge(c.clusterEnabled, boolFloat(c.opts.ClusterEnabled))

	var st *Stats
	if c.opts.Source != nil {
		ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
		s, err := c.opts.Source(ctx)
		cancel()
		if err != nil {
			c.scrapeErrors.Inc()
			c.opts.Logger.Warn("cannot read statistics for metrics", "err", err)
		} else {
			st = s
		}
	}
	c.scrapeErrors.Collect(ch)
	if st == nil {
		return
	}
	gauge(c.recoveryMode, boolFloat(st.RecoveryMode))
	cols := append([]CollectionStats(nil), st.Collections...)
	sort.Slice(cols, func(i, j int) bool { return cols[i].Name < cols[j].Name })
	var vectors uint64
	var running int
	for _, col := range cols {
		vectors += col.TotalVectors()
		running += col.RunningOptimizations
	}
	gauge(c.collectionsTotal, float64(len(cols)))
	gauge(c.vectorsTotal, float64(vectors))
	gauge(c.optimizerRun, float64(running))
	for _, col := range cols {
		names := make([]string, 0, len(col.Vectors))
		for n := range col.Vectors {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			gauge(c.collectionVectors, float64(col.Vectors[n]), col.Name, n)
		}
		gauge(c.collectionPoints, float64(col.Points), col.Name)
		// One replica per shard on a single node: active replicas per
		// shard is 1 unless that replica is dead.
		active := 0.0
		if col.Shards > 0 && col.DeadReplicas < col.Shards {
			active = 1
		}
		minActive := active
		if col.DeadReplicas > 0 {
			minActive = 0
		}
		if col.ReplicaCounts {
			minActive, active = float64(col.ActiveReplicasMin), float64(col.ActiveReplicasMax)
		}
		gauge(c.activeMin, minActive, col.Name)
		gauge(c.activeMax, active, col.Name)
		gauge(c.deadReplicas, float64(col.DeadReplicas), col.Name)
		gauge(c.runningOptimizations, float64(col.RunningOptimizations), col.Name)
		gauge(c.pendingPoints, float64(col.PendingPoints), col.Name)
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
