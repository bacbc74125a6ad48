package grpcapi

import (
	"fmt"
	"testing"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/protobuf/proto"

	"github.com/shoal-db/shoal/internal/api"
)

// BenchmarkUpsertFromProto measures decoding an upsert of 100 points with
// 768-dimensional vectors and a small payload (the conversion cost the
// adapter adds on top of protobuf decoding).
func BenchmarkUpsertFromProto(b *testing.B) {
	pts := make([]*qdrant.PointStruct, 100)
	for i := range pts {
		v := make([]float32, 768)
		for j := range v {
			v[j] = float32(i*j%97) / 97
		}
		pts[i] = &qdrant.PointStruct{Id: qdrant.NewIDNum(uint64(i)), Vectors: qdrant.NewVectors(v...),
			Payload: qdrant.NewValueMap(map[string]any{"n": i, "f": 1.5, "s": fmt.Sprint("doc-", i), "tags": []any{"a", "b"}})}
	}
	b.SetBytes(int64(proto.Size(&qdrant.UpsertPoints{Points: pts})))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := upsertFromProto(pts, nil, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnknownFieldWalk measures the interceptor's walk for fields
// unknown to the served protos over the same upsert of 100 points, which
// every request pays before its handler runs.
func BenchmarkUnknownFieldWalk(b *testing.B) {
	pts := make([]*qdrant.PointStruct, 100)
	for i := range pts {
		v := make([]float32, 768)
		for j := range v {
			v[j] = float32(i*j%97) / 97
		}
		pts[i] = &qdrant.PointStruct{Id: qdrant.NewIDNum(uint64(i)), Vectors: qdrant.NewVectors(v...),
			Payload: qdrant.NewValueMap(map[string]any{"n": i, "f": 1.5, "s": fmt.Sprint("doc-", i), "tags": []any{"a", "b"}})}
	}
	req := &qdrant.UpsertPoints{CollectionName: "c", Points: pts}
	b.SetBytes(int64(proto.Size(req)))
	b.ReportAllocs()
	for b.Loop() {
		if err := unknownField(req.ProtoReflect(), 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScoredToProto measures encoding 100 search hits with payloads.
func BenchmarkScoredToProto(b *testing.B) {
	hits := make([]api.ScoredPoint, 100)
	for i := range hits {
		hits[i] = api.ScoredPoint{ID: api.NumID(uint64(i)), Score: float32(i), Version: 3,
			Payload: api.Payload{"n": "x", "m": map[string]any{"k": []any{"a", true, nil}}}}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := scoredListToProto(hits); err != nil {
			b.Fatal(err)
		}
	}
}
