package metrics

import (
	"context"
	"log/slog"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-db/shoal/internal/api"
)

// healthStatuses are the values of the status label, one series each
// (a Prometheus state set: the current status is 1, the others 0).
var healthStatuses = []api.HealthStatus{api.HealthGreen, api.HealthYellow, api.HealthRed}

// HealthCollector exports GET /cluster/health as gauges, computed on every
// scrape from its source:
//
//	shoal_cluster_health{status="green|yellow|red"}            1 for the current status
//	shoal_cluster_health_code                                   0 green, 1 yellow, 2 red
//	shoal_collection_health{collection,status}                  1 for the collection's status
//	shoal_collection_shards_below_replication_factor{collection}
//	shoal_collection_shards_unreadable{collection}
type HealthCollector struct {
	source  func(ctx context.Context) (*api.ClusterHealth, error)
	timeout time.Duration
	log     *slog.Logger

	cluster, code, collection, below, unreadable *prometheus.Desc
	errors                                       prometheus.Counter
}

// NewHealthCollector returns the collector over source; a nil logger
// discards.
func NewHealthCollector(source func(ctx context.Context) (*api.ClusterHealth, error), log *slog.Logger) *HealthCollector {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &HealthCollector{
		source: source, timeout: 5 * time.Second, log: log,
		cluster:    prometheus.NewDesc("shoal_cluster_health", "cluster health as this node's metadata shows it: 1 for the current status (green, yellow, red)", []string{"status"}, nil),
		code:       prometheus.NewDesc("shoal_cluster_health_code", "cluster health: 0 green, 1 yellow, 2 red", nil, nil),
		collection: prometheus.NewDesc("shoal_collection_health", "collection health: 1 for the current status (green, yellow, red)", []string{"collection", "status"}, nil),
		below:      prometheus.NewDesc("shoal_collection_shards_below_replication_factor", "shards with fewer Active replicas than the replication factor", []string{"collection"}, nil),
		unreadable: prometheus.NewDesc("shoal_collection_shards_unreadable", "shards without an Active replica", []string{"collection"}, nil),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shoal_health_source_errors_total",
			Help: "scrapes whose cluster health could not be computed",
		}),
	}
}

// Describe implements prometheus.Collector.
func (c *HealthCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.cluster, c.code, c.collection, c.below, c.unreadable} {
		ch <- d
	}
	c.errors.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *HealthCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	h, err := c.source(ctx)
	cancel()
	if err != nil {
		c.errors.Inc()
		c.log.Warn("cannot compute cluster health for metrics", "err", err)
	}
	c.errors.Collect(ch)
	if h == nil {
		return
	}
	for _, s := range healthStatuses {
		gauge(c.cluster, boolFloat(h.Status == s), string(s))
	}
	gauge(c.code, float64(h.Status.Rank()))
	names := make([]string, 0, len(h.Collections))
	for n := range h.Collections {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		col := h.Collections[n]
		for _, s := range healthStatuses {
			gauge(c.collection, boolFloat(col.Status == s), n, string(s))
		}
		gauge(c.below, float64(col.ShardsBelowFactor), n)
		gauge(c.unreadable, float64(col.ShardsUnreadable), n)
	}
}
