package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestResponsesNamesTimingsAndWindow(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := NewResponses("grpc", "endpoint", StatusLabel)
	reg.MustRegister(r)
	// 200 successes: the first 72 take 1 s, the latest 128 take 2 ms, so
	// the windowed average is 2 ms while min, max and total span all.
	for i := range 200 {
		d := 2 * time.Millisecond
		if i < 72 {
			d = time.Second
		}
		r.Observe(d, true, "/qdrant.Points/Search", "0")
	}
	r.Observe(time.Hour, false, "/qdrant.Points/Search", "3") // failures are not timed
	want := `
# HELP grpc_responses_avg_duration_seconds average duration of the latest 128 successful GRPC responses
# TYPE grpc_responses_avg_duration_seconds gauge
grpc_responses_avg_duration_seconds{endpoint="/qdrant.Points/Search",status="0"} 0.002
# HELP grpc_responses_fail_total total number of failed GRPC responses
# TYPE grpc_responses_fail_total counter
grpc_responses_fail_total{endpoint="/qdrant.Points/Search",status="3"} 1
# HELP grpc_responses_max_duration_seconds maximum duration of successful GRPC responses
# TYPE grpc_responses_max_duration_seconds gauge
grpc_responses_max_duration_seconds{endpoint="/qdrant.Points/Search",status="0"} 1
# HELP grpc_responses_min_duration_seconds minimum duration of successful GRPC responses
# TYPE grpc_responses_min_duration_seconds gauge
grpc_responses_min_duration_seconds{endpoint="/qdrant.Points/Search",status="0"} 0.002
# HELP grpc_responses_total total number of GRPC responses
# TYPE grpc_responses_total counter
grpc_responses_total{endpoint="/qdrant.Points/Search",status="0"} 200
grpc_responses_total{endpoint="/qdrant.Points/Search",status="3"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"grpc_responses_total", "grpc_responses_fail_total", "grpc_responses_avg_duration_seconds",
		"grpc_responses_min_duration_seconds", "grpc_responses_max_duration_seconds"); err != nil {
		t.Fatal(err)
	}
	// The histogram counts only the successes, with the shared buckets and
	// without the status label.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() != "grpc_responses_duration_seconds" {
			continue
		}
		found = true
		m := mf.GetMetric()
		if len(m) != 1 || len(m[0].GetLabel()) != 1 || m[0].GetLabel()[0].GetName() != "endpoint" {
			t.Fatalf("histogram series %v", m)
		}
		h := m[0].GetHistogram()
		if h.GetSampleCount() != 200 || len(h.GetBucket()) != len(DurationBuckets()) {
			t.Fatalf("histogram count %d, %d buckets", h.GetSampleCount(), len(h.GetBucket()))
		}
	}
	if !found {
		t.Fatal("no histogram")
	}
	snap := r.Snapshot()
	if len(snap) != 2 || snap[0].Timed != 200 || snap[0].Total != 72*time.Second+128*2*time.Millisecond || snap[1].Timed != 0 || snap[1].Fail != 1 {
		t.Fatalf("snapshot %+v", snap)
	}
	if n, err := testutil.GatherAndLint(reg); err != nil || len(n) != 0 {
		t.Fatalf("lint: %v %v", n, err)
	}
}

func TestResponsesRefusesLabelsWithoutStatus(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("labels without a trailing status label accepted")
		}
	}()
	NewResponses("rest", "method", "endpoint")
}
