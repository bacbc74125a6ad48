package server

import (
	"context"
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

// TestStrictModeAlike sends requests that strict mode refuses to a real
// server over REST and over gRPC and checks that both refuse them with
// Qdrant's texts; then that allowed requests pass and that the
// configuration is validated, merged by PATCH and reported on both.
func TestStrictModeAlike(t *testing.T) {
	s := start(t, testConfig(t, t.TempDir()))
	c := newREST(t, s)
	seed(c, "s")
	c.ok("PUT", "/collections/s/index?wait=true", map[string]any{"field_name": "city", "field_schema": "keyword"})
	c.ok("PATCH", "/collections/s", map[string]any{"strict_mode_config": map[string]any{
		"enabled": true, "max_query_limit": 5, "max_timeout": 10, "search_max_hnsw_ef": 64, "search_allow_exact": false,
		"search_max_oversampling": 2, "upsert_max_batchsize": 2, "unindexed_filtering_retrieve": false,
		"unindexed_filtering_update": false, "filter_max_conditions": 2, "condition_max_size": 3,
		"max_payload_index_count": 2, "search_max_batchsize": 2,
		"sparse_config": map[string]any{"text": map[string]any{"max_length": 2}},
	}})

	conn, err := grpc.NewClient(s.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	g := &parityClients{points: qdrant.NewPointsClient(conn), collections: qdrant.NewCollectionsClient(conn)}
	u64 := proto.Uint64
	keyword := func(key, v string) *qdrant.Condition {
		return qdrant.NewMatchKeyword(key, v)
	}
	point := func(id uint64) *qdrant.PointStruct {
		return &qdrant.PointStruct{Id: qdrant.NewIDNum(id), Vectors: qdrant.NewVectors(1, 0, 0, 0)}
	}
	const help = ". Help: "
	cases := []parityCase{
		{
			name: "query limit", method: "POST", path: "s/points/query", body: `{"query": [1, 0, 0, 0], "limit": 20}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.points.Query(ctx, &qdrant.QueryPoints{CollectionName: "s", Query: qdrant.NewQuery(1, 0, 0, 0), Limit: u64(20)})
				return err
			},
			status: 400, code: codes.InvalidArgument, want: `Bad request: Limit exceeded 20 > 5 for "limit"` + help + `Reduce the "limit" parameter to or below 5.`,
		},
		{
			name: "prefetch limit", method: "POST", path: "s/points/query", body: `{"prefetch": {"query": [1, 0, 0, 0], "limit": 6}, "query": {"fusion": "rrf"}, "limit": 2}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.points.Query(ctx, &qdrant.QueryPoints{CollectionName: "s", Prefetch: []*qdrant.PrefetchQuery{{Query: qdrant.NewQuery(1, 0, 0, 0), Limit: u64(6)}},
					Query: qdrant.NewQueryFusion(qdrant.Fusion_RRF), Limit: u64(2)})
				return err
			},
			status: 400, code: codes.InvalidArgument, want: `Limit exceeded 6 > 5 for "limit"`,
		},
		{
			name: "exact", method: "POST", path: "s/points/query", body: `{"query": [1, 0, 0, 0], "limit": 2, "params": {"exact": true}}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.points.Query(ctx, &qdrant.QueryPoints{CollectionName: "s", Query: qdrant.NewQuery(1, 0, 0, 0), Limit: u64(2), Params: &qdrant.SearchParams{Exact: proto.Bool(true)}})
				return err
			},
			status: 400, code: codes.InvalidArgument, want: "Bad request: Exact search disabled!" + help + "Set exact=false.",
		},
		{
			name: "hnsw_ef", method: "POST", path: "s/points/search", body: `{"vector": [1, 0, 0, 0], "limit": 2, "params": {"hnsw_ef": 100}}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.points.Search(ctx, &qdrant.SearchPoints{CollectionName: "s", Vector: []float32{1, 0, 0, 0}, Limit: 2, Params: &qdrant.SearchParams{HnswEf: u64(100)}})
				return err
			},
			status: 400, code: codes.InvalidArgument, want: `Limit exceeded 100 > 64 for "hnsw_ef"`,
		},
		{
			name: "oversampling", method: "POST", path: "s/points/query", body: `{"query": [1, 0, 0, 0], "limit": 2, "params": {"quantization": {"oversampling": 3}}}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.points.Query(ctx, &qdrant.QueryPoints{CollectionName: "s", Query: qdrant.NewQuery(1, 0, 0, 0), Limit: u64(2),
					Params: &qdrant.SearchParams{Quantization: &qdrant.QuantizationSearchParams{Oversampling: proto.Float64(3)}}})
				return err
			},
			status: 400, code: codes.InvalidArgument, want: `Limit exceeded 3 > 2 for "oversampling"`,
		},
		{
			name: "timeout", method: "POST", path: "s/points/query?timeout=100", body: `{"query": [1, 0, 0, 0], "limit": 2}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.points.Query(ctx, &qdrant.QueryPoints{CollectionName: "s", Query: qdrant.NewQuery(1, 0, 0, 0), Limit: u64(2), Timeout: u64(100)})
				return err
			},
			status: 400, code: codes.InvalidArgument, want: `Limit exceeded 100 > 10 for "timeout"`,
		},
		{
			name: "unindexed read filter", method: "POST", path: "s/points/scroll", body: `{"limit": 2, "filter": {"must": [{"key": "color", "match": {"value": "red"}}]}}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.points.Scroll(ctx, &qdrant.ScrollPoints{CollectionName: "s", Limit: proto.Uint32(2), Filter: &qdrant.Filter{Must: []*qdrant.Condition{keyword("color", "red")}}})
				return err
			},
			status: 400, code: codes.InvalidArgument,
			want: `Bad request: Index required but not found for "color" of one of the following types: [keyword, uuid]` + help + "Create an index for this key or use a different filter.",
		},
		{
			name: "unindexed update filter", method: "POST", path: "s/points/delete?wait=true", body: `{"filter": {"must": [{"key": "n", "range": {"gt": 1}}]}}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.points.Delete(ctx, &qdrant.DeletePoints{CollectionName: "s", Wait: proto.Bool(true), Points: qdrant.NewPointsSelectorFilter(&qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewRange("n", &qdrant.Range{Gt: proto.Float64(1)})}})})
				return err
			},
			status: 400, code: codes.InvalidArgument, want: `Index required but not found for "n" of one of the following types: [float, integer]`,
		},
		{
			name: "filter conditions", method: "POST", path: "s/points/count", body: `{"exact": false, "filter": {"should": [{"key": "city", "match": {"value": "a"}}, {"key": "city", "match": {"value": "b"}}, {"key": "city", "match": {"value": "c"}}]}}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.points.Count(ctx, &qdrant.CountPoints{CollectionName: "s", Exact: proto.Bool(false), Filter: &qdrant.Filter{Should: []*qdrant.Condition{keyword("city", "a"), keyword("city", "b"), keyword("city", "c")}}})
				return err
			},
			status: 400, code: codes.InvalidArgument, want: "Bad request: Filter condition limit reached (3 > 2)" + help + "Reduce the amount of conditions of your filter.",
		},
		{
			name: "condition size", method: "POST", path: "s/points/count", body: `{"exact": false, "filter": {"must": [{"key": "city", "match": {"any": ["a", "b", "c", "d"]}}]}}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.points.Count(ctx, &qdrant.CountPoints{CollectionName: "s", Exact: proto.Bool(false), Filter: &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatchKeywords("city", "a", "b", "c", "d")}}})
				return err
			},
			status: 400, code: codes.InvalidArgument, want: "Condition size limit reached (4 > 3)",
		},
		{
			name: "exact count", method: "POST", path: "s/points/count", body: `{}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.points.Count(ctx, &qdrant.CountPoints{CollectionName: "s"})
				return err
			},
			status: 400, code: codes.InvalidArgument, want: "Exact search disabled!",
		},
		{
			name: "upsert batch", method: "PUT", path: "s/points?wait=true", body: `{"points": [{"id": 7, "vector": [1, 0, 0, 0]}, {"id": 8, "vector": [1, 0, 0, 0]}, {"id": 9, "vector": [1, 0, 0, 0]}]}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.points.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "s", Wait: proto.Bool(true), Points: []*qdrant.PointStruct{point(7), point(8), point(9)}})
				return err
			},
			status: 400, code: codes.InvalidArgument, want: `Limit exceeded 3 > 2 for "upsert limit"`,
		},
		{
			name: "batch size", method: "POST", path: "s/points/query/batch", body: `{"searches": [{"query": [1, 0, 0, 0], "limit": 1}, {"query": [1, 0, 0, 0], "limit": 1}, {"query": [1, 0, 0, 0], "limit": 1}]}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				q := &qdrant.QueryPoints{CollectionName: "s", Query: qdrant.NewQuery(1, 0, 0, 0), Limit: u64(1)}
				_, err := g.points.QueryBatch(ctx, &qdrant.QueryBatchPoints{CollectionName: "s", QueryPoints: []*qdrant.QueryPoints{q, q, q}})
				return err
			},
			status: 400, code: codes.InvalidArgument, want: `Limit exceeded 3 > 2 for "batch size"`,
		},
		{
			name: "group_by unindexed", method: "POST", path: "s/points/query/groups", body: `{"query": [1, 0, 0, 0], "group_by": "color", "limit": 1}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.points.QueryGroups(ctx, &qdrant.QueryPointGroups{CollectionName: "s", Query: qdrant.NewQuery(1, 0, 0, 0), GroupBy: "color", Limit: u64(1)})
				return err
			},
			status: 400, code: codes.InvalidArgument, want: `Index required but not found for "color". Help: Create an index supporting ` + "`match`" + ` for this key.`,
		},
		{
			name: "groups count limit × group_size", method: "POST", path: "s/points/query/groups", body: `{"query": [1, 0, 0, 0], "group_by": "city", "limit": 2}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.points.QueryGroups(ctx, &qdrant.QueryPointGroups{CollectionName: "s", Query: qdrant.NewQuery(1, 0, 0, 0), GroupBy: "city", Limit: u64(2)})
				return err
			},
			status: 400, code: codes.InvalidArgument, want: `Limit exceeded 6 > 5 for "limit"`,
		},
		{
			name: "formula on an unindexed key", method: "POST", path: "s/points/query", body: `{"prefetch": {"query": [1, 0, 0, 0], "limit": 2}, "query": {"formula": {"mult": ["$score", "price"]}}, "limit": 2}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.points.Query(ctx, &qdrant.QueryPoints{CollectionName: "s", Prefetch: []*qdrant.PrefetchQuery{{Query: qdrant.NewQuery(1, 0, 0, 0), Limit: u64(2)}},
					Query: qdrant.NewQueryFormula(&qdrant.Formula{Expression: qdrant.NewExpressionMult(&qdrant.MultExpression{Mult: []*qdrant.Expression{qdrant.NewExpressionVariable("$score"), qdrant.NewExpressionVariable("price")}})}),
					Limit: u64(2)})
				return err
			},
			status: 400, code: codes.InvalidArgument,
			want: `Bad request: Index required but not found for "price" of one of the following types: [float, integer]` + help + "Create an index for this key or use a different formula expression.",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			restStatus, restMsg := parityREST(t, c, tc)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			st := status.Convert(tc.grpc(ctx, g))
			if restStatus != tc.status || st.Code() != tc.code {
				t.Errorf("REST %d (want %d), gRPC %s (want %s)\nREST: %s\ngRPC: %s", restStatus, tc.status, st.Code(), tc.code, restMsg, st.Message())
			}
			if restMsg != st.Message() {
				t.Errorf("texts differ\nREST: %s\ngRPC: %s", restMsg, st.Message())
			}
			if !strings.Contains(restMsg, tc.want) {
				t.Errorf("text %q lacks %q", restMsg, tc.want)
			}
		})
	}

	// Allowed requests pass: an indexed filter, limits at the maximum.
	if ids := searchIDs(c, "s", map[string]any{"must": []any{map[string]any{"key": "city", "match": map[string]any{"value": "London"}}}}); len(ids) != 2 {
		t.Errorf("indexed filter: %v", ids)
	}
	c.ok("POST", "/collections/s/points/query", map[string]any{"query": []float32{1, 0, 0, 0}, "limit": 5, "params": map[string]any{"hnsw_ef": 64}})
	c.ok("PUT", "/collections/s/points?wait=true", map[string]any{"points": []any{map[string]any{"id": 7, "vector": []float32{1, 0, 0, 0}}}})

	// Index count: one more fits (2), the third is refused; replacing one is not a new one.
	c.ok("PUT", "/collections/s/index?wait=true", map[string]any{"field_name": "n", "field_schema": "integer"})
	c.ok("PUT", "/collections/s/index?wait=true", map[string]any{"field_name": "n", "field_schema": "float"})
	code, msg := parityREST(t, c, parityCase{method: "PUT", path: "s/index?wait=true", body: `{"field_name": "m", "field_schema": "integer"}`})
	if code != 400 || msg != "Bad request: Collection already has the maximum number of payload indices (2). Help: Please delete an existing index before creating a new one." {
		t.Errorf("index count: %d %s", code, msg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = g.points.CreateFieldIndex(ctx, &qdrant.CreateFieldIndexCollection{CollectionName: "s", FieldName: "m", FieldType: qdrant.FieldType_FieldTypeInteger.Enum(), Wait: proto.Bool(true)})
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || st.Message() != msg {
		t.Errorf("gRPC index count: %s %s", st.Code(), st.Message())
	}

	// PATCH merges: raising one limit keeps the others.
	c.ok("PATCH", "/collections/s", map[string]any{"strict_mode_config": map[string]any{"max_query_limit": 50}})
	cfg := c.ok("GET", "/collections/s", nil)["result"].(map[string]any)["config"].(map[string]any)["strict_mode_config"].(map[string]any)
	if cfg["max_query_limit"] != 50.0 || cfg["max_timeout"] != 10.0 || cfg["enabled"] != true || cfg["sparse_config"].(map[string]any)["text"].(map[string]any)["max_length"] != 2.0 {
		t.Errorf("merged config: %v", cfg)
	}
	c.ok("POST", "/collections/s/points/query", map[string]any{"query": []float32{1, 0, 0, 0}, "limit": 20})
	info, err := g.collections.Get(ctx, &qdrant.GetCollectionInfoRequest{CollectionName: "s"})
	if err != nil {
		t.Fatal(err)
	}
	sm := info.GetResult().GetConfig().GetStrictModeConfig()
	if sm.GetMaxQueryLimit() != 50 || sm.GetMaxTimeout() != 10 || !sm.GetEnabled() || sm.GetSparseConfig().GetSparseConfig()["text"].GetMaxLength() != 2 {
		t.Errorf("gRPC info: %v", sm)
	}

	// Disabled: the limits no longer apply.
	c.ok("PATCH", "/collections/s", map[string]any{"strict_mode_config": map[string]any{"enabled": false}})
	c.ok("POST", "/collections/s/points/query", map[string]any{"query": []float32{1, 0, 0, 0}, "limit": 100, "params": map[string]any{"exact": true}})

	// Validation and unsupported keys, alike on create over both protocols.
	for _, tc := range []struct {
		body string
		sm   *qdrant.StrictModeConfig
		want string
	}{
		{`{"max_query_limit": 0}`, &qdrant.StrictModeConfig{MaxQueryLimit: proto.Uint32(0)}, "Validation error: [max_query_limit: value 0 invalid, must be 1 or larger]"},
		{`{"read_rate_limit": 0}`, &qdrant.StrictModeConfig{ReadRateLimit: proto.Uint32(0)}, "Validation error: [read_rate_limit: value 0 invalid, must be 1 or larger]"},
	} {
		code, msg := parityREST(t, c, parityCase{method: "PUT", path: "bad", body: `{"vectors": {"size": 4, "distance": "Dot"}, "strict_mode_config": ` + tc.body + `}`})
		_, err := g.collections.Create(ctx, &qdrant.CreateCollection{CollectionName: "bad", VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 4, Distance: qdrant.Distance_Dot}), StrictModeConfig: tc.sm})
		st := status.Convert(err)
		if code != 400 || st.Code() != codes.InvalidArgument || msg != st.Message() || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: REST %d %s, gRPC %s %s", tc.body, code, msg, st.Code(), st.Message())
		}
	}
	code, msg = parityREST(t, c, parityCase{method: "PUT", path: "bad", body: `{"vectors": {"size": 4, "distance": "Dot"}, "strict_mode_config": {"max_query_limt": 3}}`})
	if code != 400 || !strings.Contains(msg, "max_query_limt") {
		t.Errorf("unknown key: %d %s", code, msg)
	}
}

// TestStrictModeLimitsAndRates covers the limits that need a collection
// of their own: points count, vector storage, sparse and multi-vector
// sizes, and the read and write rate limits (429 on both protocols).
func TestStrictModeLimitsAndRates(t *testing.T) {
	s := start(t, testConfig(t, t.TempDir()))
	c := newREST(t, s)
	conn, err := grpc.NewClient(s.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	points := qdrant.NewPointsClient(conn)
	collections := qdrant.NewCollectionsClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Created over gRPC with the wrapped per-name maps of the protos.
	_, err = collections.Create(ctx, &qdrant.CreateCollection{CollectionName: "m",
		VectorsConfig: qdrant.NewVectorsConfigMap(map[string]*qdrant.VectorParams{
			"d":  {Size: 2, Distance: qdrant.Distance_Dot},
			"mv": {Size: 2, Distance: qdrant.Distance_Dot, MultivectorConfig: &qdrant.MultiVectorConfig{Comparator: qdrant.MultiVectorComparator_MaxSim}},
		}),
		SparseVectorsConfig: qdrant.NewSparseVectorsConfig(map[string]*qdrant.SparseVectorParams{"sp": {}}),
		StrictModeConfig: &qdrant.StrictModeConfig{Enabled: proto.Bool(true), MaxPointsCount: proto.Uint64(2),
			MultivectorConfig: &qdrant.StrictModeMultivectorConfig{MultivectorConfig: map[string]*qdrant.StrictModeMultivector{"mv": {MaxVectors: proto.Uint64(2)}}},
			SparseConfig:      &qdrant.StrictModeSparseConfig{SparseConfig: map[string]*qdrant.StrictModeSparse{"sp": {MaxLength: proto.Uint64(2)}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	expect := func(what string, code int, msg string, wantCode int, want string) {
		t.Helper()
		if code != wantCode || !strings.Contains(msg, want) {
			t.Errorf("%s: %d %s (want %d %q)", what, code, msg, wantCode, want)
		}
	}
	code, msg := parityREST(t, c, parityCase{method: "PUT", path: "m/points?wait=true", body: `{"points": [{"id": 1, "vector": {"mv": [[1, 0], [0, 1], [1, 1]]}}]}`})
	expect("multi", code, msg, 400, "Bad request: Multivector 'mv' has a limit of 2 vectors, but 3 were provided!")
	code, msg = parityREST(t, c, parityCase{method: "PUT", path: "m/points?wait=true", body: `{"points": [{"id": 1, "vector": {"sp": {"indices": [1, 2, 3], "values": [1, 1, 1]}}}]}`})
	expect("sparse", code, msg, 400, "Bad request: Sparse vector 'sp' has a limit of 2 indices, but 3 were provided!")
	_, err = points.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "m", Wait: proto.Bool(true), Points: []*qdrant.PointStruct{{Id: qdrant.NewIDNum(1),
		Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{"sp": qdrant.NewVectorSparse([]uint32{1, 2, 3}, []float32{1, 1, 1})})}}})
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || st.Message() != msg {
		t.Errorf("gRPC sparse: %s %s", st.Code(), st.Message())
	}
	for id := 1; id <= 2; id++ {
		c.ok("PUT", "/collections/m/points?wait=true", map[string]any{"points": []any{map[string]any{"id": id, "vector": map[string]any{"d": []float32{1, 0}}}}})
	}
	code, msg = parityREST(t, c, parityCase{method: "PUT", path: "m/points?wait=true", body: `{"points": [{"id": 3, "vector": {"d": [1, 0]}}]}`})
	expect("points count", code, msg, 400, "Bad request: Max points count limit of 2 reached!")
	// Deletes still work, and make room.
	c.ok("POST", "/collections/m/points/delete?wait=true", map[string]any{"points": []any{2}})
	c.ok("PUT", "/collections/m/points?wait=true", map[string]any{"points": []any{map[string]any{"id": 3, "vector": map[string]any{"d": []float32{1, 0}}}}})

	// Vector storage: 2 points × 2 dims × 4 bytes = 16 bytes.
	c.ok("PATCH", "/collections/m", map[string]any{"strict_mode_config": map[string]any{"max_points_count": 100, "max_collection_vector_size_bytes": 16}})
	code, msg = parityREST(t, c, parityCase{method: "PUT", path: "m/points?wait=true", body: `{"points": [{"id": 4, "vector": {"d": [1, 0]}}]}`})
	expect("vector size", code, msg, 400, "Bad request: Max vector storage size limit of 0.000015258789MB reached!")

	// Payload storage: the payloads' JSON, {"city":"Berlin"} is 17 bytes.
	c.ok("PATCH", "/collections/m", map[string]any{"strict_mode_config": map[string]any{"max_collection_vector_size_bytes": 1000, "max_collection_payload_size_bytes": 30}})
	c.ok("PUT", "/collections/m/points?wait=true", map[string]any{"points": []any{map[string]any{"id": 5, "vector": map[string]any{"d": []float32{1, 0}}, "payload": map[string]any{"city": "Berlin"}}}})
	c.ok("PUT", "/collections/m/points?wait=true", map[string]any{"points": []any{map[string]any{"id": 6, "vector": map[string]any{"d": []float32{1, 0}}, "payload": map[string]any{"city": "Berlin"}}}})
	code, msg = parityREST(t, c, parityCase{method: "PUT", path: "m/points?wait=true", body: `{"points": [{"id": 7, "vector": {"d": [1, 0]}}]}`})
	expect("payload size", code, msg, 400, "Bad request: Max payload storage size limit of 0.00002861023MB reached!")
	_, err = points.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "m", Wait: proto.Bool(true), Points: []*qdrant.PointStruct{{Id: qdrant.NewIDNum(7),
		Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{"d": qdrant.NewVector(1, 0)})}}})
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || st.Message() != msg {
		t.Errorf("gRPC payload size: %s %s", st.Code(), st.Message())
	}
	// Removing payloads makes room again.
	c.ok("POST", "/collections/m/points/payload/clear?wait=true", map[string]any{"points": []any{6}})
	c.ok("PUT", "/collections/m/points?wait=true", map[string]any{"points": []any{map[string]any{"id": 7, "vector": map[string]any{"d": []float32{1, 0}}}}})
	c.ok("POST", "/collections/m/points/delete?wait=true", map[string]any{"points": []any{5, 6, 7}})
	c.ok("PATCH", "/collections/m", map[string]any{"strict_mode_config": map[string]any{"max_collection_payload_size_bytes": 1000000}})

	// Rate limits: a bucket of 2 reads per minute, then 429 on both.
	c.ok("PATCH", "/collections/m", map[string]any{"strict_mode_config": map[string]any{"read_rate_limit": 2, "write_rate_limit": 1}})
	c.ok("POST", "/collections/m/points/scroll", map[string]any{"limit": 1})
	c.ok("POST", "/collections/m/points/scroll", map[string]any{"limit": 1})
	code, msg = parityREST(t, c, parityCase{method: "POST", path: "m/points/scroll", body: `{"limit": 1}`})
	expect("read rate", code, msg, 429, "Rate limiting exceeded: Read rate limit exceeded: Operation requires 1 tokens but only 0.0 were available. Retry after ")
	_, err = points.Scroll(ctx, &qdrant.ScrollPoints{CollectionName: "m", Limit: proto.Uint32(1)})
	if st := status.Convert(err); st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "Read rate limit exceeded") {
		t.Errorf("gRPC read rate: %s %s", st.Code(), st.Message())
	}
	code, msg = parityREST(t, c, parityCase{method: "POST", path: "m/points/delete?wait=true", body: `{"points": [1, 3]}`})
	expect("write larger than the bucket", code, msg, 429, "Write rate limit exceeded, request larger than rate limiter capacity")
	c.ok("POST", "/collections/m/points/delete?wait=true", map[string]any{"points": []any{3}})
	code, msg = parityREST(t, c, parityCase{method: "POST", path: "m/points/delete?wait=true", body: `{"points": [1]}`})
	expect("write rate", code, msg, 429, "Write rate limit exceeded: Operation requires 1 tokens")
}
