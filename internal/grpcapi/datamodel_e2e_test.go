package grpcapi

import (
	"fmt"
	"math"
	"testing"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc/codes"

	"github.com/shoal-db/shoal/internal/service"
)

// TestClientUpdateModes checks the upsert modes and update_filter through
// the official client against the real service: insert_only keeps existing
// points, update_only skips new ones, and both survive in a batch update.
func TestClientUpdateModes(t *testing.T) {
	ts := startServer(t, serverConfig{})
	c := ts.client(t, "")
	ctx := ctxT(t)
	if err := c.CreateCollection(ctx, &qdrant.CreateCollection{CollectionName: "um", VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 2, Distance: qdrant.Distance_Dot})}); err != nil {
		t.Fatal(err)
	}
	point := func(id uint64, x float32, v string) *qdrant.PointStruct {
		return &qdrant.PointStruct{Id: qdrant.NewIDNum(id), Vectors: qdrant.NewVectors(x, 0), Payload: qdrant.NewValueMap(map[string]any{"v": v})}
	}
	upsert := func(mode *qdrant.UpdateMode, f *qdrant.Filter, pts ...*qdrant.PointStruct) {
		t.Helper()
		if _, err := c.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "um", Wait: qdrant.PtrOf(true), Points: pts, UpdateMode: mode, UpdateFilter: f}); err != nil {
			t.Fatal(err)
		}
	}
	state := func() string {
		t.Helper()
		got := must[[]*qdrant.RetrievedPoint](t, "scroll")(c.Scroll(ctx, &qdrant.ScrollPoints{CollectionName: "um", WithPayload: qdrant.NewWithPayload(true), Limit: qdrant.PtrOf(uint32(100))}))
		out := ""
		for _, p := range got {
			out += fmt.Sprintf("%d=%s ", p.GetId().GetNum(), p.GetPayload()["v"].GetStringValue())
		}
		return out
	}
	upsert(nil, nil, point(1, 1, "a"), point(2, 2, "b"))
	upsert(qdrant.UpdateMode_InsertOnly.Enum(), nil, point(1, 9, "x"), point(3, 3, "c"))
	if got := state(); got != "1=a 2=b 3=c " {
		t.Fatalf("after insert_only: %s", got)
	}
	upsert(qdrant.UpdateMode_UpdateOnly.Enum(), nil, point(2, 9, "B"), point(4, 4, "d"))
	if got := state(); got != "1=a 2=B 3=c " {
		t.Fatalf("after update_only: %s", got)
	}
	upsert(qdrant.UpdateMode_Upsert.Enum(), &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatch("v", "a")}}, point(1, 5, "A"), point(3, 5, "C"), point(5, 5, "e"))
	if got := state(); got != "1=A 2=B 3=c 5=e " {
		t.Fatalf("after upsert with update_filter: %s", got)
	}
	ops := []*qdrant.PointsUpdateOperation{{Operation: &qdrant.PointsUpdateOperation_Upsert{Upsert: &qdrant.PointsUpdateOperation_PointStructList{
		Points: []*qdrant.PointStruct{point(5, 1, "E"), point(6, 6, "f")}, UpdateMode: qdrant.UpdateMode_UpdateOnly.Enum(),
	}}}}
	if _, err := c.UpdateBatch(ctx, &qdrant.UpdateBatchPoints{CollectionName: "um", Wait: qdrant.PtrOf(true), Operations: ops}); err != nil {
		t.Fatal(err)
	}
	if got := state(); got != "1=A 2=B 3=c 5=E " {
		t.Fatalf("after batch update_only: %s", got)
	}
	_, err := c.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "um", Wait: qdrant.PtrOf(true), Points: []*qdrant.PointStruct{point(7, 1, "g")}, UpdateMode: qdrant.UpdateMode(9).Enum()})
	wantCode(t, "unknown mode", err, codes.InvalidArgument, "unknown update_mode 9")
}

// TestClientMultiVectors runs multi-vectors (max_sim) through the official
// client against the real service, Euclid on_disk ones included (Qdrant's
// test_multi_with_euclidean: the square root of the summed smallest
// squared distances).
func TestClientMultiVectors(t *testing.T) {
	ts := startServer(t, serverConfig{})
	c := ts.client(t, "")
	ctx := ctxT(t)
	mv := &qdrant.MultiVectorConfig{Comparator: qdrant.MultiVectorComparator_MaxSim}
	if err := c.CreateCollection(ctx, &qdrant.CreateCollection{CollectionName: "eu", VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{
		Size: 3, Distance: qdrant.Distance_Euclid, MultivectorConfig: mv, OnDisk: qdrant.PtrOf(true),
	})}); err != nil {
		t.Fatal(err)
	}
	q := [][]float32{{1, 2, 3}, {3, 3, 3}, {4, 5, 6}}
	if _, err := c.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "eu", Wait: qdrant.PtrOf(true), Points: []*qdrant.PointStruct{
		{Id: qdrant.NewIDNum(1), Vectors: qdrant.NewVectorsMulti(q)},
		{Id: qdrant.NewIDNum(2), Vectors: qdrant.NewVectorsMulti([][]float32{{3, 3, 3}, {4, 2, 1}})},
	}}); err != nil {
		t.Fatal(err)
	}
	eu := must[[]*qdrant.ScoredPoint](t, "euclid query")(c.Query(ctx, &qdrant.QueryPoints{CollectionName: "eu", Query: qdrant.NewQueryMulti(q)}))
	if len(eu) != 2 || eu[0].GetId().GetNum() != 1 || eu[0].GetScore() != 0 || eu[1].GetId().GetNum() != 2 || eu[1].GetScore() != float32(math.Sqrt(19)) {
		t.Fatalf("euclid multi-vector query: %v", eu)
	}
	if err := c.CreateCollection(ctx, &qdrant.CreateCollection{CollectionName: "mv", ShardNumber: qdrant.PtrOf(uint32(2)),
		VectorsConfig: qdrant.NewVectorsConfigMap(map[string]*qdrant.VectorParams{"colbert": {Size: 2, Distance: qdrant.Distance_Dot, MultivectorConfig: mv}}),
	}); err != nil {
		t.Fatal(err)
	}
	info := must[*qdrant.CollectionInfo](t, "info")(c.GetCollectionInfo(ctx, "mv"))
	if info.GetConfig().GetParams().GetVectorsConfig().GetParamsMap().GetMap()["colbert"].GetMultivectorConfig() == nil {
		t.Fatalf("multivector config not reported: %v", info.GetConfig().GetParams())
	}
	pts := []*qdrant.PointStruct{
		{Id: qdrant.NewIDNum(1), Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{"colbert": qdrant.NewVectorMulti([][]float32{{1, 0}, {0, 1}})})},
		{Id: qdrant.NewIDNum(2), Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{"colbert": qdrant.NewVectorMulti([][]float32{{0, 3}, {1, 1}})})},
	}
	if _, err := c.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "mv", Wait: qdrant.PtrOf(true), Points: pts}); err != nil {
		t.Fatal(err)
	}
	// MaxSim of [[1,0],[0,1]]: 1 -> 2, 2 -> 1 + 3 = 4.
	res := must[[]*qdrant.ScoredPoint](t, "multi query")(c.Query(ctx, &qdrant.QueryPoints{CollectionName: "mv", Query: qdrant.NewQueryMulti([][]float32{{1, 0}, {0, 1}}), Using: qdrant.PtrOf("colbert"), WithVectors: qdrant.NewWithVectors(true)}))
	if fmt.Sprint(numIDs(res)) != "[2 1]" || res[0].GetScore() != 4 || res[1].GetScore() != 2 {
		t.Fatalf("multi query: %v", res)
	}
	got := res[0].GetVectors().GetVectors().GetVectors()["colbert"].GetMultiDense().GetVectors()
	if len(got) != 2 || fmt.Sprint(got[0].GetData(), got[1].GetData()) != "[0 3] [1 1]" {
		t.Fatalf("multi-vector back: %v", res[0].GetVectors())
	}
}

// TestClientSparseVectors runs sparse vectors through the official client
// against the real service: config round trip, upsert beside a dense
// vector, sparse and hybrid queries, reads and the legacy sparse search.
func TestClientSparseVectors(t *testing.T) {
	ts := startServer(t, serverConfig{})
	c := ts.client(t, "")
	ctx := ctxT(t)
	idf := qdrant.Modifier_Idf
	err := c.CreateCollection(ctx, &qdrant.CreateCollection{CollectionName: "sp", ShardNumber: qdrant.PtrOf(uint32(2)),
		VectorsConfig:       qdrant.NewVectorsConfigMap(map[string]*qdrant.VectorParams{"dense": {Size: 2, Distance: qdrant.Distance_Dot}}),
		SparseVectorsConfig: qdrant.NewSparseVectorsConfig(map[string]*qdrant.SparseVectorParams{"lex": {}, "bm25": {Modifier: &idf}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	info := must[*qdrant.CollectionInfo](t, "info")(c.GetCollectionInfo(ctx, "sp"))
	if m := info.GetConfig().GetParams().GetSparseVectorsConfig().GetMap(); len(m) != 2 || m["bm25"].GetModifier() != qdrant.Modifier_Idf {
		t.Fatalf("sparse config back: %v", info.GetConfig().GetParams().GetSparseVectorsConfig())
	}
	pts := []*qdrant.PointStruct{
		{Id: qdrant.NewIDNum(1), Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{"dense": qdrant.NewVector(1, 0), "lex": qdrant.NewVectorSparse([]uint32{7, 1}, []float32{2, 1})})},
		{Id: qdrant.NewIDNum(2), Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{"dense": qdrant.NewVector(0, 1), "lex": qdrant.NewVectorSparse([]uint32{1, 3}, []float32{0.5, 4})})},
		{Id: qdrant.NewIDNum(3), Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{"bm25": qdrant.NewVectorSparse([]uint32{10, 11}, []float32{1, 1})})},
		{Id: qdrant.NewIDNum(4), Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{"bm25": qdrant.NewVectorSparse([]uint32{10}, []float32{1})})},
	}
	if _, err := c.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "sp", Wait: qdrant.PtrOf(true), Points: pts}); err != nil {
		t.Fatal(err)
	}
	res := must[[]*qdrant.ScoredPoint](t, "sparse query")(c.Query(ctx, &qdrant.QueryPoints{CollectionName: "sp", Query: qdrant.NewQuerySparse([]uint32{1, 7}, []float32{1, 2}), Using: qdrant.PtrOf("lex")}))
	if fmt.Sprint(numIDs(res)) != "[1 2]" || res[0].GetScore() != 5 || res[1].GetScore() != 0.5 {
		t.Fatalf("sparse query: %v", res)
	}
	// IDF: 10 is in both bm25 vectors, 11 in one.
	res = must[[]*qdrant.ScoredPoint](t, "idf query")(c.Query(ctx, &qdrant.QueryPoints{CollectionName: "sp", Query: qdrant.NewQuerySparse([]uint32{10, 11}, []float32{1, 1}), Using: qdrant.PtrOf("bm25")}))
	want10, want11 := math.Log((2-2+0.5)/(2+0.5)+1), math.Log((2-1+0.5)/(1+0.5)+1)
	if fmt.Sprint(numIDs(res)) != "[3 4]" || math.Abs(float64(res[0].GetScore())-(want10+want11)) > 1e-5 || math.Abs(float64(res[1].GetScore())-want10) > 1e-5 {
		t.Fatalf("idf query: %v, want scores %v and %v", res, want10+want11, want10)
	}
	res = must[[]*qdrant.ScoredPoint](t, "hybrid")(c.Query(ctx, &qdrant.QueryPoints{CollectionName: "sp",
		Prefetch: []*qdrant.PrefetchQuery{
			{Query: qdrant.NewQuery(0, 1), Using: qdrant.PtrOf("dense")},
			{Query: qdrant.NewQuerySparse([]uint32{3}, []float32{1}), Using: qdrant.PtrOf("lex")},
		},
		Query: qdrant.NewQueryFusion(qdrant.Fusion_RRF), Limit: qdrant.PtrOf(uint64(1)),
	}))
	if fmt.Sprint(numIDs(res)) != "[2]" {
		t.Fatalf("hybrid: %v", numIDs(res))
	}
	got := must[[]*qdrant.RetrievedPoint](t, "get")(c.Get(ctx, &qdrant.GetPoints{CollectionName: "sp", Ids: []*qdrant.PointId{qdrant.NewIDNum(1)}, WithVectors: qdrant.NewWithVectors(true)}))
	lex := got[0].GetVectors().GetVectors().GetVectors()["lex"].GetSparse()
	if fmt.Sprint(lex.GetIndices(), lex.GetValues()) != "[1 7] [1 2]" {
		t.Fatalf("get sparse: %v", got[0].GetVectors())
	}
	legacy := must[*qdrant.SearchResponse](t, "legacy sparse search")(c.GetPointsClient().Search(ctx, &qdrant.SearchPoints{CollectionName: "sp",
		Vector: []float32{1}, SparseIndices: &qdrant.SparseIndices{Data: []uint32{3}}, VectorName: qdrant.PtrOf("lex"), Limit: 5}))
	if fmt.Sprint(numIDs(legacy.GetResult())) != "[2]" {
		t.Fatalf("legacy sparse search: %v", numIDs(legacy.GetResult()))
	}
	_, err = c.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "sp", Wait: qdrant.PtrOf(true), Points: []*qdrant.PointStruct{
		{Id: qdrant.NewIDNum(9), Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{"lex": qdrant.NewVectorSparse([]uint32{1, 1}, []float32{1, 2})})},
	}})
	wantCode(t, "duplicate indices", err, codes.InvalidArgument, "Validation error in JSON body: [points[0].vector.?.indices: Validation error: must be unique [{}]]")
}

// TestClientUpdateOnDisk: UpdateCollection's vectors_config on_disk moves
// an existing vector's store to a mapped file and back (every shard), and
// the points answer as before.
func TestClientUpdateOnDisk(t *testing.T) {
	svc := newRealService(t)
	ts := startServer(t, serverConfig{svc: svc})
	c := ts.client(t, "")
	ctx := ctxT(t)
	if err := c.CreateCollection(ctx, &qdrant.CreateCollection{CollectionName: "od", ShardNumber: qdrant.PtrOf(uint32(2)),
		VectorsConfig: qdrant.NewVectorsConfigMap(map[string]*qdrant.VectorParams{"text": {Size: 2, Distance: qdrant.Distance_Dot}})}); err != nil {
		t.Fatal(err)
	}
	var pts []*qdrant.PointStruct
	for i := range 20 {
		pts = append(pts, &qdrant.PointStruct{Id: qdrant.NewIDNum(uint64(i + 1)), Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{"text": qdrant.NewVector(1, float32(i))})})
	}
	if _, err := c.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "od", Wait: qdrant.PtrOf(true), Points: pts}); err != nil {
		t.Fatal(err)
	}
	for _, onDisk := range []bool{true, false} {
		if err := c.UpdateCollection(ctx, &qdrant.UpdateCollection{CollectionName: "od",
			VectorsConfig: qdrant.NewVectorsConfigDiffMap(map[string]*qdrant.VectorParamsDiff{"text": {OnDisk: qdrant.PtrOf(onDisk)}})}); err != nil { //nolint:staticcheck // on_disk is what the suite sends.
			t.Fatal(err)
		}
		for i := range 2 {
			sh, _, release, err := svc.(*service.Service).LocateShard(ctx, "od", 0, i)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := sh.VectorOnDisk("text")
			release()
			if !ok || got != onDisk {
				t.Fatalf("on_disk %v: shard %d store on disk %v", onDisk, i, got)
			}
		}
		res := must[[]*qdrant.ScoredPoint](t, "query")(c.Query(ctx, &qdrant.QueryPoints{CollectionName: "od", Query: qdrant.NewQuery(0, 1), Using: qdrant.PtrOf("text"), Limit: qdrant.PtrOf(uint64(1))}))
		if len(res) != 1 || res[0].GetId().GetNum() != 20 {
			t.Fatalf("on_disk %v: query: %v", onDisk, res)
		}
	}
}

// TestClientU64Limit: Qdrant's u64 limits (test_query.py's
// test_basic_search_high_limit) answer every point over gRPC too, for
// Query and Search, and strict mode still counts them.
func TestClientU64Limit(t *testing.T) {
	ts := startServer(t, serverConfig{})
	c := ts.client(t, "")
	ctx := ctxT(t)
	if err := c.CreateCollection(ctx, &qdrant.CreateCollection{CollectionName: "lim", VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 2, Distance: qdrant.Distance_Dot})}); err != nil {
		t.Fatal(err)
	}
	var pts []*qdrant.PointStruct
	for i := range 12 {
		pts = append(pts, &qdrant.PointStruct{Id: qdrant.NewIDNum(uint64(i + 1)), Vectors: qdrant.NewVectors(1, float32(i))})
	}
	if _, err := c.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "lim", Wait: qdrant.PtrOf(true), Points: pts}); err != nil {
		t.Fatal(err)
	}
	res := must[[]*qdrant.ScoredPoint](t, "query")(c.Query(ctx, &qdrant.QueryPoints{CollectionName: "lim", Query: qdrant.NewQuery(0, 1), Limit: qdrant.PtrOf(uint64(math.MaxUint64)),
		Prefetch: []*qdrant.PrefetchQuery{{Limit: qdrant.PtrOf(uint64(math.MaxUint64))}}}))
	if len(res) != 12 || res[0].GetId().GetNum() != 12 {
		t.Fatalf("query with a u64 limit: %d points", len(res))
	}
	sr, err := c.GetPointsClient().Search(ctx, &qdrant.SearchPoints{CollectionName: "lim", Vector: []float32{0, 1}, Limit: math.MaxUint64})
	if err != nil || len(sr.GetResult()) != 12 {
		t.Fatalf("search with a u64 limit: %v, %d points", err, len(sr.GetResult()))
	}
	if err := c.UpdateCollection(ctx, &qdrant.UpdateCollection{CollectionName: "lim", StrictModeConfig: &qdrant.StrictModeConfig{Enabled: qdrant.PtrOf(true), MaxQueryLimit: qdrant.PtrOf(uint32(5))}}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Query(ctx, &qdrant.QueryPoints{CollectionName: "lim", Query: qdrant.NewQuery(0, 1), Limit: qdrant.PtrOf(uint64(math.MaxUint64))})
	wantCode(t, "strict u64 limit", err, codes.InvalidArgument, `Limit exceeded 2147483647 > 5 for "limit"`)
}
