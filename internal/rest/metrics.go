package rest

import (
	"fmt"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-db/shoal/internal/metrics"
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

// stats holds the REST response statistics behind the Prometheus metrics
// (rest_responses_*, defined once in package metrics for both APIs) and
// the "requests.rest" section of /telemetry.
type stats struct {
	resp *metrics.Responses
}

func newStats() *stats {
	return &stats{resp: metrics.NewResponses("rest", "method", "endpoint", metrics.StatusLabel)}
}

func (s *stats) register(reg prometheus.Registerer) error {
	if err := reg.Register(s.resp); err != nil {
		return fmt.Errorf("cannot register REST metrics: %w", err)
	}
	return nil
}

// observe records one response. Durations feed the timing metrics only for
// successful (2xx) responses, as Qdrant reports timings.
func (s *stats) observe(method, endpoint string, status int, d time.Duration) {
	if method == "" {
		return // unmatched routes are not reported
	}
	s.resp.Observe(d, status >= 200 && status < 300, method, endpoint, strconv.Itoa(status))
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
	return responseTelemetry(s.resp.Snapshot(), func(v []string) (string, string) { return v[0] + " " + v[1], v[2] })
}

// responseTelemetry converts response statistics into Qdrant's telemetry
// shape, operation → status → statistics; key names the operation and the
// status of a statistic's label values.
func responseTelemetry(st []metrics.ResponseStat, key func(values []string) (op, status string)) map[string]map[string]operationStats {
	out := map[string]map[string]operationStats{}
	for _, o := range st {
		name, status := key(o.Values)
		if out[name] == nil {
			out[name] = map[string]operationStats{}
		}
		st := operationStats{Count: o.Count}
		last := o.Last.UTC().Format(time.RFC3339Nano)
		st.LastResponded = &last
		if o.Fail > 0 {
			f := o.Fail
			st.FailCount = &f
		}
		if o.Timed > 0 {
			avg, mn, mx := micros(o.Avg), micros(o.Min), micros(o.Max)
			tot := uint64(o.Total / time.Microsecond)
			st.AvgMicros, st.MinMicros, st.MaxMicros, st.TotalMicros = &avg, &mn, &mx, &tot
		}
		out[name][status] = st
	}
	return out
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// seen returns the "METHOD /endpoint" keys that have answered at least once.
func (s *stats) seen() map[string]bool {
	out := map[string]bool{}
	for _, o := range s.resp.Snapshot() {
		out[o.Values[0]+" "+o.Values[1]] = true
	}
	return out
}
