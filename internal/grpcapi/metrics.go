package grpcapi

import (
	"strconv"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/shoal-db/shoal/internal/metrics"
)

// newMetrics returns the gRPC response metrics, named as Qdrant names them
// and defined once for both APIs in package metrics (metrics.Responses):
// grpc_responses_total, grpc_responses_fail_total,
// grpc_responses_{avg,min,max}_duration_seconds and the
// grpc_responses_duration_seconds histogram, labelled by endpoint (the full
// method name, e.g. "/qdrant.Points/Search") and status (the numeric gRPC
// code, "0" for OK).
func newMetrics() *metrics.Responses {
	return metrics.NewResponses("grpc", "endpoint", metrics.StatusLabel)
}

// observeResponse records one response with code c that took d.
func observeResponse(m *metrics.Responses, endpoint string, c codes.Code, d time.Duration) {
	m.Observe(d, c == codes.OK, endpoint, strconv.Itoa(int(c)))
}
