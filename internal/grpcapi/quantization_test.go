package grpcapi

import (
	"testing"

	"github.com/qdrant/go-client/qdrant"
)

// TestQuantizationSearchParamsFromProto: gRPC's quantization search params
// reach the one parser REST uses with the same values.
func TestQuantizationSearchParamsFromProto(t *testing.T) {
	ignore, rescore, over := true, false, 2.5
	p, err := searchParamsFromProto(&qdrant.SearchParams{Quantization: &qdrant.QuantizationSearchParams{Ignore: &ignore, Rescore: &rescore, Oversampling: &over}})
	if err != nil {
		t.Fatal(err)
	}
	q, err := p.QuantizationParams()
	if err != nil {
		t.Fatal(err)
	}
	if !q.Ignore || q.RescoreOn() || q.OversamplingFactor() != 2.5 {
		t.Fatalf("params %+v from %s", q, p.Quantization)
	}
	if p, err = searchParamsFromProto(&qdrant.SearchParams{Quantization: &qdrant.QuantizationSearchParams{}}); err != nil {
		t.Fatal(err)
	}
	if q, err := p.QuantizationParams(); err != nil || q.Ignore || !q.RescoreOn() || q.OversamplingFactor() != 1 {
		t.Fatalf("empty params %+v %v", q, err)
	}
}
