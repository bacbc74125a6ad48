package metrics

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DurationBuckets returns the upper bounds, in seconds, of the response
// duration histograms of both APIs (rest_responses_duration_seconds and
// grpc_responses_duration_seconds): from 1 ms to 30 s, the range between a
// cached point lookup and a long filtered scroll.
func DurationBuckets() []float64 {
	return []float64{0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30}
}

// AverageWindow is how many of the latest successful responses the
// *_avg_duration_seconds gauges average over, as Qdrant's
// OperationDurationsAggregator does.
const AverageWindow = 128

// StatusLabel is the name of the label that holds a response's status: the
// HTTP status code for REST, the numeric gRPC code for gRPC ("0" is OK).
const StatusLabel = "status"

// Responses records the responses of one API under Qdrant's names, for both
// adapters alike:
//
//   - <api>_responses_total and <api>_responses_fail_total: counters of every
//     response and of the failed ones;
//   - <api>_responses_{avg,min,max}_duration_seconds: gauges over the
//     successful responses, the average over the latest AverageWindow;
//   - <api>_responses_duration_seconds: a histogram of the successful
//     responses with DurationBuckets, without the status label.
//
// Only successful responses are timed, as Qdrant reports timings. Every
// metric carries the labels given to NewResponses, the last of which must
// be StatusLabel. It is safe for concurrent use.
type Responses struct {
	labels   []string // the caller's labels, StatusLabel last
	duration *prometheus.HistogramVec

	totalDesc, failDesc, avgDesc, minDesc, maxDesc *prometheus.Desc

	mu sync.Mutex // guards ops
	// ops holds the statistics per label values (joined with "\xff").
	ops map[string]*responseStats
}

// responseStats are the statistics of one label combination.
type responseStats struct {
	values        []string
	count, fail   uint64
	ok            uint64        // successful responses, the timed ones
	min, max, sum time.Duration // over the successful responses
	last          time.Time
	recent        [AverageWindow]time.Duration
	next          int // next slot of recent
}

// NewResponses returns the response metrics of the API named api ("rest"
// or "grpc") with the given labels, the last of which must be StatusLabel.
// It panics otherwise: the labels are fixed by the code, not by input.
func NewResponses(api string, labels ...string) *Responses {
	if len(labels) == 0 || labels[len(labels)-1] != StatusLabel {
		panic(fmt.Sprintf("metrics: NewResponses labels %v must end with %q", labels, StatusLabel))
	}
	name := func(suffix string) string { return api + "_responses_" + suffix }
	what := strings.ToUpper(api)
	return &Responses{
		labels: slices.Clone(labels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    name("duration_seconds"),
			Help:    "response duration histogram of successful " + what + " responses",
			Buckets: DurationBuckets(),
		}, labels[:len(labels)-1]),
		totalDesc: prometheus.NewDesc(name("total"), "total number of "+what+" responses", labels, nil),
		failDesc:  prometheus.NewDesc(name("fail_total"), "total number of failed "+what+" responses", labels, nil),
		avgDesc:   prometheus.NewDesc(name("avg_duration_seconds"), fmt.Sprintf("average duration of the latest %d successful %s responses", AverageWindow, what), labels, nil),
		minDesc:   prometheus.NewDesc(name("min_duration_seconds"), "minimum duration of successful "+what+" responses", labels, nil),
		maxDesc:   prometheus.NewDesc(name("max_duration_seconds"), "maximum duration of successful "+what+" responses", labels, nil),
		ops:       map[string]*responseStats{},
	}
}

// Observe records one response that took d; ok says whether it succeeded.
// values are the label values in the order of NewResponses' labels.
func (r *Responses) Observe(d time.Duration, ok bool, values ...string) {
	if len(values) != len(r.labels) {
		panic(fmt.Sprintf("metrics: Observe got %d label values, want %d", len(values), len(r.labels)))
	}
	key := strings.Join(values, "\xff")
	r.mu.Lock()
	o := r.ops[key]
	if o == nil {
		o = &responseStats{values: slices.Clone(values)}
		r.ops[key] = o
	}
	o.count++
	o.last = time.Now()
	if !ok {
		o.fail++
	} else {
		if o.ok == 0 || d < o.min {
			o.min = d
		}
		o.max = max(o.max, d)
		o.ok++
		o.sum += d
		o.recent[o.next] = d
		o.next = (o.next + 1) % AverageWindow
	}
	r.mu.Unlock()
	if ok {
		r.duration.WithLabelValues(values[:len(values)-1]...).Observe(d.Seconds())
	}
}

// avg returns the average of the latest AverageWindow successful durations.
func (o *responseStats) avg() time.Duration {
	n := int(min(o.ok, AverageWindow))
	if n == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range o.recent[:n] {
		sum += d
	}
	return sum / time.Duration(n)
}

// Describe implements prometheus.Collector.
func (r *Responses) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{r.totalDesc, r.failDesc, r.avgDesc, r.minDesc, r.maxDesc} {
		ch <- d
	}
	r.duration.Describe(ch)
}

// Collect implements prometheus.Collector. The failure counter appears
// once a label combination has failed, the duration gauges once it has
// succeeded.
func (r *Responses) Collect(ch chan<- prometheus.Metric) {
	r.mu.Lock()
	for _, o := range r.ops {
		ch <- prometheus.MustNewConstMetric(r.totalDesc, prometheus.CounterValue, float64(o.count), o.values...)
		if o.fail > 0 {
			// A status either fails or succeeds, so a successful status
			// has no failure series.
			ch <- prometheus.MustNewConstMetric(r.failDesc, prometheus.CounterValue, float64(o.fail), o.values...)
		}
		if o.ok == 0 {
			continue
		}
		ch <- prometheus.MustNewConstMetric(r.avgDesc, prometheus.GaugeValue, o.avg().Seconds(), o.values...)
		ch <- prometheus.MustNewConstMetric(r.minDesc, prometheus.GaugeValue, o.min.Seconds(), o.values...)
		ch <- prometheus.MustNewConstMetric(r.maxDesc, prometheus.GaugeValue, o.max.Seconds(), o.values...)
	}
	r.mu.Unlock()
	r.duration.Collect(ch)
}

// ResponseStat is the summary of one label combination, the shape of
// Qdrant's OperationDurationStatistics in /telemetry.
type ResponseStat struct {
	// Values are the label values, in the order of NewResponses' labels.
	Values []string
	// Count and Fail count every response and the failed ones.
	Count, Fail uint64
	// Timed counts the successful responses, which the durations cover.
	Timed uint64
	// Avg (over the latest AverageWindow), Min, Max and Total are the
	// durations of the successful responses; zero when Timed is 0.
	Avg, Min, Max, Total time.Duration
	// Last is when the latest response was recorded.
	Last time.Time
}

// Snapshot returns the statistics of every label combination seen so far,
// ordered by label values.
func (r *Responses) Snapshot() []ResponseStat {
	r.mu.Lock()
	out := make([]ResponseStat, 0, len(r.ops))
	for _, o := range r.ops {
		out = append(out, ResponseStat{
			Values: slices.Clone(o.values), Count: o.count, Fail: o.fail, Timed: o.ok,
			Avg: o.avg(), Min: o.min, Max: o.max, Total: o.sum, Last: o.last,
		})
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(a, b ResponseStat) int { return slices.Compare(a.Values, b.Values) })
	return out
}
