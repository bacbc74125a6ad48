package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/shoal-db/shoal/internal/api"
)

// parityCase is one bad input sent over both protocols.
type parityCase struct {
	name string
	// REST request: method, path (under /collections/) and JSON body.
	method, path, body string
	// grpc sends the same input over gRPC.
	grpc func(ctx context.Context, g *parityClients) error
	// status and code are the expected HTTP status and gRPC code; want is
	// a part of the (equal) error text.
	status int
	code   codes.Code
	want   string
}

type parityClients struct {
	points      qdrant.PointsClient
	collections qdrant.CollectionsClient
}

// TestRESTAndGRPCRefuseAlike sends the same bad inputs to a real server
// over REST and over gRPC (real sockets, real service) and checks that
// both refuse them with the same text and matching statuses.
func TestRESTAndGRPCRefuseAlike(t *testing.T) {
	s := start(t, testConfig(t, t.TempDir()))
	c := newREST(t, s)
	seed(c, "c")
	c.ok("PUT", "/collections/c/index?wait=true", map[string]any{"field_name": "city", "field_schema": "keyword"})

	conn, err := grpc.NewClient(s.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	g := &parityClients{points: qdrant.NewPointsClient(conn), collections: qdrant.NewCollectionsClient(conn)}

	vec := func(xs ...float32) *qdrant.Vectors { return qdrant.NewVectors(xs...) }
	u64 := proto.Uint64
	fieldMatch := func(key string, m *qdrant.Match) *qdrant.Filter {
		return &qdrant.Filter{Must: []*qdrant.Condition{{ConditionOneOf: &qdrant.Condition_Field{Field: &qdrant.FieldCondition{Key: key, Match: m}}}}}
	}
	keyword := func(v string) *qdrant.Match { return &qdrant.Match{MatchValue: &qdrant.Match_Keyword{Keyword: v}} }
	cases := []parityCase{
		{
			name: "timeout 0", method: "POST", path: "c/points/query?timeout=0", body: `{"query": [1, 0, 0, 0]}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.points.Query(ctx, &qdrant.QueryPoints{CollectionName: "c", Query: qdrant.NewQuery(1, 0, 0, 0), Timeout: u64(0)})
				return err
			},
			status: 400, code: codes.InvalidArgument, want: "timeout: value 0 invalid, must be 1 or larger",
		},
		{
			name: "timeout 0 on a write", method: "PUT", path: "c/points?timeout=0", body: `{"points": [{"id": 9, "vector": [1, 0, 0, 0]}]}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.points.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "c", Points: []*qdrant.PointStruct{{Id: qdrant.NewIDNum(9), Vectors: vec(1, 0, 0, 0)}}, Timeout: u64(0)})
				return err
			},
			status: 400, code: codes.InvalidArgument, want: "timeout: value 0 invalid",
		},
		{
			name: "consistency factor 0", method: "POST", path: "c/points/query?consistency=0", body: `{"query": [1, 0, 0, 0]}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.points.Query(ctx, &qdrant.QueryPoints{CollectionName: "c", Query: qdrant.NewQuery(1, 0, 0, 0), ReadConsistency: qdrant.NewReadConsistencyFactor(0)})
				return err
			},
			status: 400, code: codes.InvalidArgument, want: "consistency: value 0 invalid, must be 1 or larger",
		},
		{
			name: "missing collection", method: "POST", path: "nope/points/query", body: `{"query": [1, 0, 0, 0]}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.points.Query(ctx, &qdrant.QueryPoints{CollectionName: "nope", Query: qdrant.NewQuery(1, 0, 0, 0)})
				return err
			},
			status: 404, code: codes.NotFound, want: "Collection `nope` doesn't exist!",
		},
		{
			name: "query dimension", method: "POST", path: "c/points/query", body: `{"query": [1, 0]}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.points.Query(ctx, &qdrant.QueryPoints{CollectionName: "c", Query: qdrant.NewQuery(1, 0)})
				return err
			},
			status: 400, code: codes.InvalidArgument, want: "dimension",
		},
		{
			name: "upsert dimension", method: "PUT", path: "c/points?wait=true", body: `{"points": [{"id": 9, "vector": [1, 0]}]}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.points.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "c", Wait: proto.Bool(true), Points: []*qdrant.PointStruct{{Id: qdrant.NewIDNum(9), Vectors: vec(1, 0)}}})
				return err
			},
			status: 400, code: codes.InvalidArgument, want: "dimension",
		},
		{
			name: "query limit 0", method: "POST", path: "c/points/query", body: `{"query": [1, 0, 0, 0], "limit": 0}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.points.Query(ctx, &qdrant.QueryPoints{CollectionName: "c", Query: qdrant.NewQuery(1, 0, 0, 0), Limit: u64(0)})
				return err
			},
			status: 422, code: codes.InvalidArgument, want: "[internal.limit: value 0 invalid, must be 1 or larger]",
		},
		{
			name: "scroll limit 0", method: "POST", path: "c/points/scroll", body: `{"limit": 0}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.points.Scroll(ctx, &qdrant.ScrollPoints{CollectionName: "c", Limit: proto.Uint32(0)})
				return err
			},
			status: 400, code: codes.InvalidArgument, want: "limit",
		},
		{
			name: "empty filter key", method: "POST", path: "c/points/count", body: `{"filter": {"must": [{"key": "", "match": {"value": "x"}}]}}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.points.Count(ctx, &qdrant.CountPoints{CollectionName: "c", Filter: fieldMatch("", keyword("x"))})
				return err
			},
			status: 400, code: codes.InvalidArgument, want: "key",
		},
		{
			name: "field condition without a condition", method: "POST", path: "c/points/count", body: `{"filter": {"must": [{"key": "city"}]}}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.points.Count(ctx, &qdrant.CountPoints{CollectionName: "c", Filter: fieldMatch("city", nil)})
				return err
			},
			status: 422, code: codes.InvalidArgument, want: "Validation error in JSON body: [filter.must[0]: At least one field condition must be specified]",
		},
		{
			name: "vector size 0", method: "PUT", path: "z", body: `{"vectors": {"size": 0, "distance": "Dot"}}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.collections.Create(ctx, &qdrant.CreateCollection{CollectionName: "z", VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 0, Distance: qdrant.Distance_Dot})})
				return err
			},
			status: 422, code: codes.InvalidArgument, want: "size",
		},
		{
			name: "shard number 0", method: "PUT", path: "z", body: `{"vectors": {"size": 4, "distance": "Dot"}, "shard_number": 0}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.collections.Create(ctx, &qdrant.CreateCollection{CollectionName: "z", ShardNumber: proto.Uint32(0),
					VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 4, Distance: qdrant.Distance_Dot})})
				return err
			},
			status: 400, code: codes.InvalidArgument, want: "shard_number",
		},
		{
			name: "existing collection", method: "PUT", path: "c", body: `{"vectors": {"size": 4, "distance": "Dot"}}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.collections.Create(ctx, &qdrant.CreateCollection{CollectionName: "c", VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 4, Distance: qdrant.Distance_Dot})})
				return err
			},
			status: 400, code: codes.InvalidArgument, want: "already exists",
		},
		{
			name: "index on empty field", method: "PUT", path: "c/index?wait=true", body: `{"field_name": "", "field_schema": "keyword"}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.points.CreateFieldIndex(ctx, &qdrant.CreateFieldIndexCollection{CollectionName: "c", Wait: proto.Bool(true), FieldName: "", FieldType: qdrant.FieldType_FieldTypeKeyword.Enum()})
				return err
			},
			status: 400, code: codes.InvalidArgument, want: "field",
		},
		{
			name: "recommend without examples", method: "POST", path: "c/points/query", body: `{"query": {"recommend": {}}}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.points.Query(ctx, &qdrant.QueryPoints{CollectionName: "c", Query: qdrant.NewQueryRecommend(&qdrant.RecommendInput{})})
				return err
			},
			status: 400, code: codes.InvalidArgument, want: "",
		},
		{
			name: "get missing point id list ok but bad uuid", method: "POST", path: "c/points", body: `{"ids": ["not-a-uuid"]}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.points.Get(ctx, &qdrant.GetPoints{CollectionName: "c", Ids: []*qdrant.PointId{qdrant.NewID("not-a-uuid")}})
				return err
			},
			status: 400, code: codes.InvalidArgument, want: "not-a-uuid",
		},
		{
			name: "unsupported datatype", method: "PUT", path: "z", body: `{"vectors": {"size": 4, "distance": "Cosine", "datatype": "uint8"}}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.collections.Create(ctx, &qdrant.CreateCollection{CollectionName: "z", VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 4, Distance: qdrant.Distance_Cosine, Datatype: qdrant.Datatype_Uint8.Enum()})})
				return err
			},
			status: 400, code: codes.InvalidArgument, want: "uint8",
		},
		{
			name: "custom sharding", method: "PUT", path: "z", body: `{"vectors": {"size": 4, "distance": "Dot"}, "sharding_method": "custom"}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.collections.Create(ctx, &qdrant.CreateCollection{CollectionName: "z", ShardingMethod: qdrant.ShardingMethod_Custom.Enum(), VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 4, Distance: qdrant.Distance_Dot})})
				return err
			},
			status: 400, code: codes.InvalidArgument, want: "custom",
		},
		{
			name: "unknown vector name", method: "POST", path: "c/points/query", body: `{"query": [1, 0, 0, 0], "using": "img"}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.points.Query(ctx, &qdrant.QueryPoints{CollectionName: "c", Query: qdrant.NewQuery(1, 0, 0, 0), Using: proto.String("img")})
				return err
			},
			status: 400, code: codes.InvalidArgument, want: "img",
		},
		{
			name: "lookup from a missing collection", method: "POST", path: "c/points/query", body: `{"query": 1, "lookup_from": {"collection": "nope"}}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.points.Query(ctx, &qdrant.QueryPoints{CollectionName: "c", Query: qdrant.NewQueryID(qdrant.NewIDNum(1)), LookupFrom: &qdrant.LookupLocation{CollectionName: "nope"}})
				return err
			},
			status: 404, code: codes.NotFound, want: "nope",
		},
		{
			name: "alias to a missing collection", method: "POST", path: "aliases", body: `{"actions": [{"create_alias": {"alias_name": "a", "collection_name": "nope"}}]}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.collections.UpdateAliases(ctx, &qdrant.ChangeAliases{Actions: []*qdrant.AliasOperations{{Action: &qdrant.AliasOperations_CreateAlias{CreateAlias: &qdrant.CreateAlias{AliasName: "a", CollectionName: "nope"}}}}})
				return err
			},
			status: 404, code: codes.NotFound, want: "nope",
		},
		{
			name: "order by an unindexed key", method: "POST", path: "c/points/scroll", body: `{"order_by": "price"}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.points.Scroll(ctx, &qdrant.ScrollPoints{CollectionName: "c", OrderBy: &qdrant.OrderBy{Key: "price"}})
				return err
			},
			status: 400, code: codes.InvalidArgument, want: "price",
		},
		{
			name: "group size 0", method: "POST", path: "c/points/query/groups", body: `{"query": [1, 0, 0, 0], "group_by": "city", "group_size": 0}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.points.QueryGroups(ctx, &qdrant.QueryPointGroups{CollectionName: "c", Query: qdrant.NewQuery(1, 0, 0, 0), GroupBy: "city", GroupSize: u64(0)})
				return err
			},
			status: 400, code: codes.InvalidArgument, want: "group_size",
		},
		{
			name: "empty group by", method: "POST", path: "c/points/query/groups", body: `{"query": [1, 0, 0, 0], "group_by": ""}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.points.QueryGroups(ctx, &qdrant.QueryPointGroups{CollectionName: "c", Query: qdrant.NewQuery(1, 0, 0, 0), GroupBy: ""})
				return err
			},
			status: 400, code: codes.InvalidArgument, want: "group_by",
		},
		{
			name: "negative geo radius", method: "POST", path: "c/points/count", body: `{"filter": {"must": [{"key": "loc", "geo_radius": {"center": {"lon": 0, "lat": 0}, "radius": -1}}]}}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.points.Count(ctx, &qdrant.CountPoints{CollectionName: "c", Filter: &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewGeoRadius("loc", 0, 0, -1)}}})
				return err
			},
			status: 422, code: codes.InvalidArgument, want: "radius",
		},
		{
			name: "latitude out of range", method: "POST", path: "c/points/count", body: `{"filter": {"must": [{"key": "loc", "geo_radius": {"center": {"lon": 0, "lat": 91}, "radius": 1}}]}}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.points.Count(ctx, &qdrant.CountPoints{CollectionName: "c", Filter: &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewGeoRadius("loc", 91, 0, 1)}}})
				return err
			},
			status: 422, code: codes.InvalidArgument, want: "91",
		},
		{
			name: "matrix sample 0", method: "POST", path: "c/points/search/matrix/pairs", body: `{"sample": 0}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.points.SearchMatrixPairs(ctx, &qdrant.SearchMatrixPoints{CollectionName: "c", Sample: u64(0)})
				return err
			},
			status: 400, code: codes.InvalidArgument, want: "sample",
		},
		{
			name: "shard key creation", method: "PUT", path: "c/shards", body: `{"shard_key": "a"}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.collections.CreateShardKey(ctx, &qdrant.CreateShardKeyRequest{CollectionName: "c", Request: &qdrant.CreateShardKey{ShardKey: qdrant.NewShardKey("a")}})
				return err
			},
			status: 400, code: codes.InvalidArgument, want: "Shard keys are only supported for collections with custom sharding method",
		},
		{
			name: "shard key deletion of a missing collection", method: "POST", path: "nope/shards/delete", body: `{"shard_key": "a"}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.collections.DeleteShardKey(ctx, &qdrant.DeleteShardKeyRequest{CollectionName: "nope", Request: &qdrant.DeleteShardKey{ShardKey: qdrant.NewShardKey("a")}})
				return err
			},
			status: 404, code: codes.NotFound, want: "Collection `nope` doesn't exist!",
		},
		{
			name: "cluster setup change", method: "POST", path: "c/cluster", body: `{"move_shard": {"shard_id": 0, "from_peer_id": 1, "to_peer_id": 2}}`,
			grpc: func(ctx context.Context, g *parityClients) error {
				_, err := g.collections.UpdateCollectionClusterSetup(ctx, &qdrant.UpdateCollectionClusterSetupRequest{CollectionName: "c",
					Operation: &qdrant.UpdateCollectionClusterSetupRequest_MoveShard{MoveShard: &qdrant.MoveShard{ShardId: 0, FromPeerId: 1, ToPeerId: 2}}})
				return err
			},
			status: 405, code: codes.Unimplemented, want: "Qdrant is running in standalone mode",
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
}

// TestRESTAndGRPCRefuseUnknownFields checks that a member or field the
// server does not know is refused on both protocols, at the top level and
// nested, instead of being dropped.
func TestRESTAndGRPCRefuseUnknownFields(t *testing.T) {
	s := start(t, testConfig(t, t.TempDir()))
	c := newREST(t, s)
	seed(c, "c")
	conn, err := grpc.NewClient(s.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	points := qdrant.NewPointsClient(conn)
	unknown := func(m proto.Message, num protowire.Number) {
		m.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), 1))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Top level.
	code, msg := parityREST(t, c, parityCase{method: "POST", path: "c/points/query", body: `{"query": [1, 0, 0, 0], "limitt": 2}`})
	if code != 400 || !strings.Contains(msg, "Format error in JSON body: unknown field `limitt`, expected one of") {
		t.Errorf("REST top level: %d %s", code, msg)
	}
	q := &qdrant.QueryPoints{CollectionName: "c", Query: qdrant.NewQuery(1, 0, 0, 0)}
	unknown(q, 999)
	st := status.Convert(func() error { _, err := points.Query(ctx, q); return err }())
	if st.Code() != codes.InvalidArgument || st.Message() != "Wrong input: unknown field 999 in qdrant.QueryPoints: it is not part of the Qdrant "+api.QdrantVersion+" API this server serves" {
		t.Errorf("gRPC top level: %s %s", st.Code(), st.Message())
	}

	// Nested: the search parameters.
	code, msg = parityREST(t, c, parityCase{method: "POST", path: "c/points/query", body: `{"query": [1, 0, 0, 0], "params": {"hnsw_ef": 8, "ef": 8}}`})
	if code != 400 || !strings.Contains(msg, "unknown field `ef`, expected one of `hnsw_ef`") {
		t.Errorf("REST nested: %d %s", code, msg)
	}
	params := &qdrant.SearchParams{HnswEf: proto.Uint64(8)}
	unknown(params, 77)
	q = &qdrant.QueryPoints{CollectionName: "c", Query: qdrant.NewQuery(1, 0, 0, 0), Params: params}
	st = status.Convert(func() error { _, err := points.Query(ctx, q); return err }())
	if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "unknown field 77 in qdrant.SearchParams") {
		t.Errorf("gRPC nested: %s %s", st.Code(), st.Message())
	}

	// Nested in a list: one point of an upsert; nothing is written.
	code, msg = parityREST(t, c, parityCase{method: "PUT", path: "c/points?wait=true", body: `{"points": [{"id": 7, "vector": [1, 0, 0, 0]}, {"id": 8, "vector": [1, 0, 0, 0], "payloads": {}}]}`})
	if code != 400 || !strings.Contains(msg, "unknown field `payloads`") {
		t.Errorf("REST upsert: %d %s", code, msg)
	}
	p := &qdrant.PointStruct{Id: qdrant.NewIDNum(8), Vectors: qdrant.NewVectors(1, 0, 0, 0)}
	unknown(p, 12)
	_, err = points.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "c", Wait: proto.Bool(true), Points: []*qdrant.PointStruct{
		{Id: qdrant.NewIDNum(7), Vectors: qdrant.NewVectors(1, 0, 0, 0)}, p}})
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "unknown field 12 in qdrant.PointStruct") {
		t.Errorf("gRPC upsert: %s %s", st.Code(), st.Message())
	}
	if n := c.ok("POST", "/collections/c/points/count", map[string]any{"exact": true})["result"].(map[string]any)["count"]; n != 3.0 {
		t.Errorf("a refused upsert wrote points: count %v", n)
	}
}

// parityREST sends tc's REST request and returns the status and the error
// text of Qdrant's envelope.
func parityREST(t *testing.T, c *restClient, tc parityCase) (int, string) {
	t.Helper()
	req, err := http.NewRequest(tc.method, c.base+"/collections/"+tc.path, bytes.NewReader([]byte(tc.body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var env struct {
		Status json.RawMessage `json:"status"`
		Time   *float64        `json:"time"`
	}
	if err := json.Unmarshal(raw, &env); err != nil || env.Time == nil {
		t.Fatalf("REST answer is not Qdrant's envelope: %d %s", resp.StatusCode, raw)
	}
	var failure struct {
		Error string `json:"error"`
	}
	if resp.StatusCode == http.StatusOK {
		if string(env.Status) != `"ok"` {
			t.Fatalf("REST answered 200 without status ok: %s", raw)
		}
		return resp.StatusCode, ""
	}
	if err := json.Unmarshal(env.Status, &failure); err != nil || failure.Error == "" {
		t.Fatalf("REST error without status.error: %d %s", resp.StatusCode, raw)
	}
	return resp.StatusCode, failure.Error
}

// TestRequestMetricsAlike checks that both APIs report their requests with
// the one definition of request metrics: the same series, the same
// histogram buckets, and both in /telemetry.
func TestRequestMetricsAlike(t *testing.T) {
	s := start(t, testConfig(t, t.TempDir()))
	c := newREST(t, s)
	seed(c, "c")
	g := grpcClient(t, s.GRPCAddr(), qdrant.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := g.Query(ctx, &qdrant.QueryPoints{CollectionName: "c", Query: qdrant.NewQuery(1, 0, 0, 0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Query(ctx, &qdrant.QueryPoints{CollectionName: "nope", Query: qdrant.NewQuery(1, 0, 0, 0)}); status.Code(err) != codes.NotFound {
		t.Fatalf("query of a missing collection: %v", err)
	}
	c.ok("POST", "/collections/c/points/query", map[string]any{"query": []float32{1, 0, 0, 0}})

	req, _ := http.NewRequest("GET", c.base+"/metrics", nil)
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(raw)
	for _, want := range []string{
		`grpc_responses_total{endpoint="/qdrant.Points/Query",status="0"} 1`,
		`grpc_responses_total{endpoint="/qdrant.Points/Query",status="5"} 1`,
		`grpc_responses_fail_total{endpoint="/qdrant.Points/Query",status="5"} 1`,
		`grpc_responses_avg_duration_seconds{endpoint="/qdrant.Points/Query",status="0"}`,
		`grpc_responses_duration_seconds_count{endpoint="/qdrant.Points/Query"} 1`,
		`rest_responses_total{endpoint="/collections/{name}/points/query",method="POST",status="200"} 1`,
		`rest_responses_duration_seconds_count{endpoint="/collections/{name}/points/query",method="POST"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	buckets := func(prefix string) []string {
		var les []string
		for _, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(line, prefix+"_bucket{") && strings.Contains(line, "/points/query") ||
				strings.HasPrefix(line, prefix+"_bucket{") && strings.Contains(line, "/qdrant.Points/Query") {
				_, le, _ := strings.Cut(line, `le="`)
				le, _, _ = strings.Cut(le, `"`)
				les = append(les, le)
			}
		}
		return les
	}
	rb, gb := buckets("rest_responses_duration_seconds"), buckets("grpc_responses_duration_seconds")
	if len(rb) < 10 || strings.Join(rb, ",") != strings.Join(gb, ",") {
		t.Errorf("histogram buckets differ:\nREST %v\ngRPC %v", rb, gb)
	}

	out := c.ok("GET", "/telemetry?details_level=1", nil)
	requests := out["result"].(map[string]any)["requests"].(map[string]any)
	grpcQuery := requests["grpc"].(map[string]any)["responses"].(map[string]any)["/qdrant.Points/Query"].(map[string]any)
	if grpcQuery["0"].(map[string]any)["count"] != 1.0 || grpcQuery["5"].(map[string]any)["fail_count"] != 1.0 {
		t.Errorf("telemetry grpc: %v", grpcQuery)
	}
	restQuery := requests["rest"].(map[string]any)["responses"].(map[string]any)["POST /collections/{name}/points/query"].(map[string]any)
	if restQuery["200"].(map[string]any)["count"] != 1.0 {
		t.Errorf("telemetry rest: %v", restQuery)
	}
}
