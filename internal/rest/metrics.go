package rest

import (
	"net/http"
	"runtime/debug"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if !s.wrote {
		s.status, s.wrote = http.StatusOK, true
	}
	return s.ResponseWriter.Write(b)
}

// Flush lets streaming handlers (snapshot downloads) flush.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		if !s.wrote {
			s.status, s.wrote = http.StatusOK, true
		}
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusRecorder) statusCode() int {
	if !s.wrote {
		return http.StatusOK
	}
	return s.status
}

func stack() string { return string(debug.Stack()) }

// avgWindow is how many latest durations the average covers (Qdrant: 128).
const avgWindow = 128

// opStats are the statistics of one (method, endpoint, status).
type opStats struct {
	count, fail uint64
	min, max    time.Duration
	total       time.Duration
	last        time.Time
	recent      [avgWindow]time.Duration
	n           int // filled entries of recent
	next        int // next slot of recent
}

func (o *opStats) avg() time.Duration {
	if o.n == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range o.recent[:o.n] {
		sum += d
	}
	return sum / time.Duration(o.n)
}

type statKey struct {
	method, endpoint string
	status           int
}

// stats holds the REST response statistics behind the Prometheus metrics
// (rest_responses_*) and the "requests.rest" section of /telemetry.
type stats struct {
	total    *prometheus.CounterVec
	fail     *prometheus.CounterVec
	duration *prometheus.HistogramVec
	avgDesc  *prometheus.Desc
	minDesc  *prometheus.Desc
	maxDesc  *prometheus.Desc

	mu sync.Mutex
	// ops is guarded by mu.
	ops map[statKey]*opStats
}

func newStats() *stats {
	labels := []string{"method", "endpoint", "status"}
	return &stats{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rest_responses_total", Help: "total number of responses",
		}, labels),
		fail: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rest_responses_fail_total", Help: "total number of failed responses",
		}, labels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rest_responses_duration_seconds",
			Help:    "response duration histogram of successful responses",
			Buckets: []float64{0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30},
		}, []string{"method", "endpoint"}),
		avgDesc: prometheus.NewDesc("rest_responses_avg_duration_seconds", "average response duration of the latest successful responses", labels, nil),
		minDesc: prometheus.NewDesc("rest_responses_min_duration_seconds", "minimum response duration of successful responses", labels, nil),
		maxDesc: prometheus.NewDesc("rest_responses_max_duration_seconds", "maximum response duration of successful responses", labels, nil),
		ops:     map[statKey]*opStats{},
	}
}

func (s *stats) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{s.total, s.fail, s.duration, s} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// observe records one response. Durations feed the timing metrics only for
// successful (2xx) responses, as Qdrant reports timings.
func (s *stats) observe(method, endpoint string, status int, d time.Duration) {
	if method == "" {
		return // unmatched routes are not reported
	}
	code := strconv.Itoa(status)
	s.total.WithLabelValues(method, endpoint, code).Inc()
	ok := status >= 200 && status < 300
	if !ok {
		s.fail.WithLabelValues(method, endpoint, code).Inc()
	} else {
		s.duration.WithLabelValues(method, endpoint).Observe(d.Seconds())
	}
	k := statKey{method, endpoint, status}
	s.mu.Lock()
	o := s.ops[k]
	if o == nil {
		o = &opStats{min: d, max: d}
		s.ops[k] = o
	}
	o.count++
	o.last = time.Now()
	if !ok {
		o.fail++
	} else {
		o.total += d
		o.min, o.max = min(o.min, d), max(o.max, d)
		o.recent[o.next] = d
		o.next = (o.next + 1) % avgWindow
		o.n = min(o.n+1, avgWindow)
	}
	s.mu.Unlock()
}

// Describe implements prometheus.Collector for the avg/min/max gauges.
func (s *stats) Describe(ch chan<- *prometheus.Desc) {
	ch <- s.avgDesc
	ch <- s.minDesc
	ch <- s.maxDesc
}

// Collect implements prometheus.Collector for the avg/min/max gauges.
func (s *stats) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, o := range s.ops {
		if o.n == 0 {
			continue
		}
		lv := []string{k.method, k.endpoint, strconv.Itoa(k.status)}
		ch <- prometheus.MustNewConstMetric(s.avgDesc, prometheus.GaugeValue, o.avg().Seconds(), lv...)
		ch <- prometheus.MustNewConstMetric(s.minDesc, prometheus.GaugeValue, o.min.Seconds(), lv...)
		ch <- prometheus.MustNewConstMetric(s.maxDesc, prometheus.GaugeValue, o.max.Seconds(), lv...)
	}
}

// operationStats is Qdrant's OperationDurationStatistics.
type operationStats struct {
	Count         uint64   `json:"count"`
	FailCount     *uint64  `json:"fail_count,omitempty"`
	AvgMicros     *float64 `json:"avg_duration_micros,omitempty"`
	MinMicros     *float64 `json:"min_duration_micros,omitempty"`
	MaxMicros     *float64 `json:"max_duration_micros,omitempty"`
	TotalMicros   *uint64  `json:"total_duration_micros,omitempty"`
	LastResponded *string  `json:"last_responded,omitempty"`
}

// snapshot returns the statistics as WebApiTelemetry.responses: "METHOD
// /endpoint" → status → statistics.
func (s *stats) snapshot() map[string]map[string]operationStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]map[string]operationStats{}
	keys := make([]statKey, 0, len(s.ops))
	for k := range s.ops {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].endpoint < keys[j].endpoint })
	for _, k := range keys {
		o := s.ops[k]
		name := k.method + " " + k.endpoint
		if out[name] == nil {
			out[name] = map[string]operationStats{}
		}
		st := operationStats{Count: o.count}
		last := o.last.UTC().Format(time.RFC3339Nano)
		st.LastResponded = &last
		if o.fail > 0 {
			f := o.fail
			st.FailCount = &f
		}
		if o.n > 0 {
			avg, mn, mx := micros(o.avg()), micros(o.min), micros(o.max)
			tot := uint64(o.total / time.Microsecond)
			st.AvgMicros, st.MinMicros, st.MaxMicros, st.TotalMicros = &avg, &mn, &mx, &tot
		}
		out[name][strconv.Itoa(k.status)] = st
	}
	return out
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// seen returns the "METHOD /endpoint" keys that have answered at least once.
func (s *stats) seen() map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]bool, len(s.ops))
	for k := range s.ops {
		out[k.method+" "+k.endpoint] = true
	}
	return out
}
