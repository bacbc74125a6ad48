package grpcapi

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics holds the gRPC response metrics, named as Qdrant names them:
// grpc_responses_total, grpc_responses_fail_total,
// grpc_responses_{avg,min,max}_duration_seconds (over successful responses,
// as Qdrant reports timings only for them) and the
// grpc_responses_duration_seconds histogram, all labelled by endpoint (the
// full method name, e.g. "/qdrant.Points/Search").
type metrics struct {
	hist *prometheus.HistogramVec

	mu sync.Mutex // guards the fields below
	// stats is keyed by endpoint.
	stats map[string]*endpointStats

	totalDesc, failDesc, avgDesc, minDesc, maxDesc *prometheus.Desc
}

type endpointStats struct {
	total, fail uint64
	ok          uint64 // successful responses, the ones timed
	sum         float64
	min, max    float64
}

func newMetrics() *metrics {
	l := []string{"endpoint"}
	return &metrics{
		hist: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "grpc_responses_duration_seconds",
			Help:    "Duration of successful gRPC responses.",
			Buckets: []float64{0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10},
		}, l),
		stats:     map[string]*endpointStats{},
		totalDesc: prometheus.NewDesc("grpc_responses_total", "Total number of gRPC responses.", l, nil),
		failDesc:  prometheus.NewDesc("grpc_responses_fail_total", "Total number of failed gRPC responses.", l, nil),
		avgDesc:   prometheus.NewDesc("grpc_responses_avg_duration_seconds", "Average duration of successful gRPC responses.", l, nil),
		minDesc:   prometheus.NewDesc("grpc_responses_min_duration_seconds", "Shortest duration of a successful gRPC response.", l, nil),
		maxDesc:   prometheus.NewDesc("grpc_responses_max_duration_seconds", "Longest duration of a successful gRPC response.", l, nil),
	}
}

func (m *metrics) observe(endpoint string, d time.Duration, failed bool) {
	sec := d.Seconds()
	m.mu.Lock()
	s := m.stats[endpoint]
	if s == nil {
		s = &endpointStats{}
		m.stats[endpoint] = s
	}
	s.total++
	if failed {
		s.fail++
	} else {
		if s.ok == 0 || sec < s.min {
			s.min = sec
		}
		if sec > s.max {
			s.max = sec
		}
		s.ok++
		s.sum += sec
	}
	m.mu.Unlock()
	if !failed {
		m.hist.WithLabelValues(endpoint).Observe(sec)
	}
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.totalDesc
	ch <- m.failDesc
	ch <- m.avgDesc
	ch <- m.minDesc
	ch <- m.maxDesc
	m.hist.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	for ep, s := range m.stats {
		ch <- prometheus.MustNewConstMetric(m.totalDesc, prometheus.CounterValue, float64(s.total), ep)
		ch <- prometheus.MustNewConstMetric(m.failDesc, prometheus.CounterValue, float64(s.fail), ep)
		avg := 0.0
		if s.ok > 0 {
			avg = s.sum / float64(s.ok)
		}
		ch <- prometheus.MustNewConstMetric(m.avgDesc, prometheus.GaugeValue, avg, ep)
		ch <- prometheus.MustNewConstMetric(m.minDesc, prometheus.GaugeValue, s.min, ep)
		ch <- prometheus.MustNewConstMetric(m.maxDesc, prometheus.GaugeValue, s.max, ep)
	}
	m.mu.Unlock()
	m.hist.Collect(ch)
}
