package server

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// TestMMRAlike runs nearest queries with maximal marginal relevance over
// REST and gRPC: without diversity the hits are the nearest ones; with
// full diversity the second hit is the one least like the first; the hits
// keep their query scores; bad parameters are refused alike.
func TestMMRAlike(t *testing.T) {
	s := start(t, testConfig(t, t.TempDir()))
	c := newREST(t, s)
	c.ok("PUT", "/collections/m", map[string]any{"vectors": map[string]any{"size": 2, "distance": "Cosine"},
		"sparse_vectors": map[string]any{"sp": map[string]any{}}, "shard_number": 2})
	c.ok("PUT", "/collections/m/points?wait=true", map[string]any{"points": []any{
		map[string]any{"id": 1, "vector": map[string]any{"": []float32{1, 0}, "sp": map[string]any{"indices": []int{1}, "values": []float32{1}}}},
		map[string]any{"id": 2, "vector": map[string]any{"": []float32{0.99, 0.05}, "sp": map[string]any{"indices": []int{1}, "values": []float32{0.9}}}},
		map[string]any{"id": 3, "vector": map[string]any{"": []float32{0.6, 0.8}, "sp": map[string]any{"indices": []int{1, 2}, "values": []float32{0.5, 0.5}}}},
		map[string]any{"id": 4, "vector": map[string]any{"": []float32{0.1, 1}, "sp": map[string]any{"indices": []int{2}, "values": []float32{1}}}},
	}})
	conn, err := grpc.NewClient(s.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	points := qdrant.NewPointsClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	restIDs := func(body map[string]any) ([]float64, []float64) {
		t.Helper()
		pts := c.ok("POST", "/collections/m/points/query", body)["result"].(map[string]any)["points"].([]any)
		var ids, scores []float64
		for _, p := range pts {
			ids = append(ids, p.(map[string]any)["id"].(float64))
			scores = append(scores, p.(map[string]any)["score"].(float64))
		}
		return ids, scores
	}
	grpcIDs := func(q *qdrant.Query, using *string, limit uint64) []float64 {
		t.Helper()
		res, err := points.Query(ctx, &qdrant.QueryPoints{CollectionName: "m", Query: q, Using: using, Limit: proto.Uint64(limit)})
		if err != nil {
			t.Fatal(err)
		}
		var ids []float64
		for _, p := range res.GetResult() {
			ids = append(ids, float64(p.GetId().GetNum()))
		}
		return ids
	}
	f32 := proto.Float32
	for _, tc := range []struct {
		diversity float32
		want      []float64
	}{
		{0, []float64{1, 2, 3}},
		{1, []float64{1, 4, 3}},
	} {
		ids, scores := restIDs(map[string]any{"query": map[string]any{"nearest": []float32{1, 0}, "mmr": map[string]any{"diversity": tc.diversity, "candidates_limit": 4}}, "limit": 3})
		if !slices.Equal(ids, tc.want) {
			t.Errorf("REST diversity %v: %v, want %v", tc.diversity, ids, tc.want)
		}
		if scores[0] < 0.99 || scores[1] >= scores[0] && tc.diversity == 1 {
			t.Errorf("REST diversity %v: scores %v are not the query scores", tc.diversity, scores)
		}
		g := grpcIDs(qdrant.NewQueryMMR(qdrant.NewVectorInput(1, 0), &qdrant.Mmr{Diversity: f32(tc.diversity), CandidatesLimit: proto.Uint32(4)}), nil, 3)
		if !slices.Equal(g, tc.want) {
			t.Errorf("gRPC diversity %v: %v, want %v", tc.diversity, g, tc.want)
		}
	}
	// The candidates bound the choice: only the 2 nearest are considered.
	if ids, _ := restIDs(map[string]any{"query": map[string]any{"nearest": []float32{1, 0}, "mmr": map[string]any{"diversity": 1, "candidates_limit": 2}}, "limit": 3}); !slices.Equal(ids, []float64{1, 2}) {
		t.Errorf("candidates_limit 2: %v", ids)
	}
	// Sparse: full diversity picks the point sharing no dimension second.
	sp := "sp"
	if ids, _ := restIDs(map[string]any{"query": map[string]any{"nearest": map[string]any{"indices": []int{1, 2}, "values": []float32{1, 0.1}}, "mmr": map[string]any{"diversity": 1, "candidates_limit": 4}}, "using": "sp", "limit": 2}); !slices.Equal(ids, []float64{1, 4}) {
		t.Errorf("sparse REST: %v", ids)
	}
	if g := grpcIDs(qdrant.NewQueryMMR(qdrant.NewVectorInputSparse([]uint32{1, 2}, []float32{1, 0.1}), &qdrant.Mmr{Diversity: f32(1), CandidatesLimit: proto.Uint32(4)}), &sp, 2); !slices.Equal(g, []float64{1, 4}) {
		t.Errorf("sparse gRPC: %v", g)
	}

	// Refusals, alike.
	code, msg := parityREST(t, c, parityCase{method: "POST", path: "m/points/query", body: `{"query": {"nearest": [1, 0], "mmr": {"diversity": 1.5}}}`})
	_, err = points.Query(ctx, &qdrant.QueryPoints{CollectionName: "m", Query: qdrant.NewQueryMMR(qdrant.NewVectorInput(1, 0), &qdrant.Mmr{Diversity: f32(1.5)})})
	st := status.Convert(err)
	if code != 400 || st.Code() != codes.InvalidArgument || msg != st.Message() || !strings.Contains(msg, "mmr.diversity: value 1.5 invalid") {
		t.Errorf("diversity 1.5: REST %d %s, gRPC %s %s", code, msg, st.Code(), st.Message())
	}
	code, msg = parityREST(t, c, parityCase{method: "POST", path: "m/points/query", body: `{"query": {"nearest": [1, 0], "mmr": {"candidates_limit": 20000}}}`})
	if code != 400 || !strings.Contains(msg, "mmr.candidates_limit") {
		t.Errorf("candidates_limit 20000: %d %s", code, msg)
	}
	code, msg = parityREST(t, c, parityCase{method: "POST", path: "m/points/query", body: `{"query": {"recommend": {"positive": [1]}, "mmr": {}}}`})
	if code != 400 || !strings.Contains(msg, "mmr is an option of a nearest query") {
		t.Errorf("mmr with recommend: %d %s", code, msg)
	}
}
