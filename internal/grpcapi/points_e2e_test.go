package grpcapi

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/qdrant/go-client/qdrant"
)

const (
	dim      = 4
	nPoints  = 30
	bigInt   = int64(1) << 62
	uuidA    = "5c56c793-69f3-4fbf-87e6-c4bf54c28c26"
	testColl = "docs"
)

// dataset is deterministic: point i (1..nPoints) has a pseudo-random
// vector and payload {n: i, f: i+0.5, group: "g<i%3>", nested: {x: i},
// maybe: null, big: 2^62}.
func dataset() map[uint64][]float32 {
	r := rand.New(rand.NewPCG(1, 2))
	vecs := map[uint64][]float32{}
	for i := uint64(1); i <= nPoints; i++ {
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(r.IntN(200)-100) / 100
		}
		vecs[i] = v
	}
	return vecs
}

func dot(a, b []float32) float32 {
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// bruteTop returns the ids of the k best points by dot product among those
// accepted by keep.
func bruteTop(vecs map[uint64][]float32, q []float32, k int, keep func(uint64) bool) []uint64 {
	var ids []uint64
	for id := range vecs {
		if keep == nil || keep(id) {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(a, b int) bool {
		da, db := dot(vecs[ids[a]], q), dot(vecs[ids[b]], q)
		if da != db {
			return da > db
		}
		return ids[a] < ids[b]
	})
	return ids[:min(k, len(ids))]
}

func numIDs(pts []*qdrant.ScoredPoint) []uint64 {
	out := make([]uint64, len(pts))
	for i, p := range pts {
		out[i] = p.GetId().GetNum()
	}
	return out
}

func setupDocs(t *testing.T, c *qdrant.Client) map[uint64][]float32 {
	t.Helper()
	ctx := ctxT(t)
	err := c.CreateCollection(ctx, &qdrant.CreateCollection{CollectionName: testColl, VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: dim, Distance: qdrant.Distance_Dot})})
	if err != nil {
		t.Fatal(err)
	}
	vecs := dataset()
	var pts []*qdrant.PointStruct
	for i := uint64(1); i <= nPoints; i++ {
		pts = append(pts, &qdrant.PointStruct{
			Id:      qdrant.NewIDNum(i),
			Vectors: qdrant.NewVectors(vecs[i]...),
			Payload: map[string]*qdrant.Value{
				"n":      qdrant.NewValueInt(int64(i)),
				"f":      qdrant.NewValueDouble(float64(i) + 0.5),
				"whole":  qdrant.NewValueDouble(float64(i)),
				"group":  qdrant.NewValueString(fmt.Sprintf("g%d", i%3)),
				"nested": qdrant.NewValueFromFields(map[string]*qdrant.Value{"x": qdrant.NewValueInt(int64(i)), "l": qdrant.NewValueFromList(qdrant.NewValueBool(true), qdrant.NewValueNull())}),
				"maybe":  qdrant.NewValueNull(),
				"big":    qdrant.NewValueInt(bigInt),
			},
		})
	}
	res, err := c.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: testColl, Wait: qdrant.PtrOf(true), Points: pts})
	if err != nil {
		t.Fatal(err)
	}
	if res.GetStatus() != qdrant.UpdateStatus_Completed {
		t.Fatalf("upsert with wait: %v", res)
	}
	return vecs
}

func TestClientPointOperations(t *testing.T) {
	ts := startServer(t, serverConfig{})
	c := ts.client(t, "")
	ctx := ctxT(t)
	vecs := setupDocs(t, c)

	// A UUID-keyed point.
	_, err := c.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: testColl, Wait: qdrant.PtrOf(true), Points: []*qdrant.PointStruct{
		{Id: qdrant.NewID(uuidA), Vectors: qdrant.NewVectors(1, 0, 0, 0), Payload: qdrant.NewValueMap(map[string]any{"group": "uuid"})},
	}})
	if err != nil {
		t.Fatal(err)
	}

	// Get: exact ids, payload value kinds and vectors.
	got := must[[]*qdrant.RetrievedPoint](t, "get")(c.Get(ctx, &qdrant.GetPoints{
		CollectionName: testColl, Ids: []*qdrant.PointId{qdrant.NewIDNum(7), qdrant.NewID(uuidA), qdrant.NewIDNum(999)},
		WithPayload: qdrant.NewWithPayload(true), WithVectors: qdrant.NewWithVectors(true),
	}))
	if len(got) != 2 {
		t.Fatalf("get returned %d points", len(got))
	}
	sort.Slice(got, func(a, b int) bool { return got[a].GetId().GetUuid() < got[b].GetId().GetUuid() })
	p7, pu := got[0], got[1]
	if p7.GetId().GetNum() != 7 || pu.GetId().GetUuid() != uuidA {
		t.Fatalf("ids: %v %v", p7.GetId(), pu.GetId())
	}
	pl := p7.GetPayload()
	if _, ok := pl["n"].GetKind().(*qdrant.Value_IntegerValue); !ok || pl["n"].GetIntegerValue() != 7 {
		t.Errorf("n must stay an integer: %v", pl["n"])
	}
	if _, ok := pl["whole"].GetKind().(*qdrant.Value_DoubleValue); !ok || pl["whole"].GetDoubleValue() != 7 {
		t.Errorf("whole must stay a double: %v", pl["whole"])
	}
	if pl["f"].GetDoubleValue() != 7.5 || pl["big"].GetIntegerValue() != bigInt || pl["group"].GetStringValue() != "g1" {
		t.Errorf("payload: %v", pl)
	}
	if _, ok := pl["maybe"].GetKind().(*qdrant.Value_NullValue); !ok {
		t.Errorf("maybe must be null: %v", pl["maybe"])
	}
	if nx := pl["nested"].GetStructValue().GetFields(); nx["x"].GetIntegerValue() != 7 || len(nx["l"].GetListValue().GetValues()) != 2 {
		t.Errorf("nested: %v", pl["nested"])
	}
	if v := p7.GetVectors().GetVector().GetDenseVector().GetData(); fmt.Sprint(v) != fmt.Sprint(vecs[7]) {
		t.Errorf("vector: %v want %v", v, vecs[7])
	}
	// Payload selectors.
	got = must[[]*qdrant.RetrievedPoint](t, "get include")(c.Get(ctx, &qdrant.GetPoints{CollectionName: testColl, Ids: []*qdrant.PointId{qdrant.NewIDNum(7)}, WithPayload: qdrant.NewWithPayloadInclude("n", "nested.x")}))
	if len(got[0].GetPayload()) != 2 || got[0].GetVectors() != nil {
		t.Errorf("include selector: %v", got[0])
	}
	got = must[[]*qdrant.RetrievedPoint](t, "get exclude")(c.Get(ctx, &qdrant.GetPoints{CollectionName: testColl, Ids: []*qdrant.PointId{qdrant.NewIDNum(7)}, WithPayload: qdrant.NewWithPayloadExclude("nested", "big")}))
	if _, has := got[0].GetPayload()["nested"]; has || got[0].GetPayload()["n"] == nil {
		t.Errorf("exclude selector: %v", got[0].GetPayload())
	}

	// Count with and without filters.
	if n := must[uint64](t, "count")(c.Count(ctx, &qdrant.CountPoints{CollectionName: testColl, Exact: qdrant.PtrOf(true)})); n != nPoints+1 {
		t.Fatalf("count = %d", n)
	}
	f := &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewRange("n", &qdrant.Range{Gte: qdrant.PtrOf(10.0)}), qdrant.NewMatch("group", "g0")}}
	if n := must[uint64](t, "count filtered")(c.Count(ctx, &qdrant.CountPoints{CollectionName: testColl, Filter: f})); n != 7 { // 12,15,...,30
		t.Fatalf("filtered count = %d", n)
	}
	hasID := &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewHasID(qdrant.NewIDNum(1), qdrant.NewID(uuidA))}}
	if n := must[uint64](t, "count has_id")(c.Count(ctx, &qdrant.CountPoints{CollectionName: testColl, Filter: hasID})); n != 2 {
		t.Fatalf("has_id count = %d", n)
	}

	// Scroll pages through every point in id order (integers before UUIDs).
	var seen []string
	var offset *qdrant.PointId
	for page := 0; page < 10; page++ {
		pts, next, err := c.ScrollAndOffset(ctx, &qdrant.ScrollPoints{CollectionName: testColl, Limit: qdrant.PtrOf(uint32(7)), Offset: offset})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pts {
			seen = append(seen, p.GetId().String())
		}
		if next == nil {
			break
		}
		offset = next
	}
	if len(seen) != nPoints+1 || seen[0] != qdrant.NewIDNum(1).String() || seen[nPoints] != qdrant.NewID(uuidA).String() {
		t.Fatalf("scroll saw %d points: first %v last %v", len(seen), seen[0], seen[len(seen)-1])
	}

	// Payload indexes, facets, order_by.
	if _, err := c.CreateFieldIndex(ctx, &qdrant.CreateFieldIndexCollection{CollectionName: testColl, FieldName: "group", FieldType: qdrant.FieldType_FieldTypeKeyword.Enum(), Wait: qdrant.PtrOf(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateFieldIndex(ctx, &qdrant.CreateFieldIndexCollection{CollectionName: testColl, FieldName: "n", FieldType: qdrant.FieldType_FieldTypeInteger.Enum(), Wait: qdrant.PtrOf(true),
		FieldIndexParams: qdrant.NewPayloadIndexParamsInt(&qdrant.IntegerIndexParams{Lookup: qdrant.PtrOf(true), Range: qdrant.PtrOf(true)})}); err != nil {
		t.Fatal(err)
	}
	info := must[*qdrant.CollectionInfo](t, "info")(c.GetCollectionInfo(ctx, testColl))
	if s := info.GetPayloadSchema(); s["group"].GetDataType() != qdrant.PayloadSchemaType_Keyword || s["n"].GetDataType() != qdrant.PayloadSchemaType_Integer {
		t.Fatalf("payload schema: %v", s)
	}
	if info.GetPointsCount() != nPoints+1 {
		t.Errorf("points count: %d", info.GetPointsCount())
	}
	hits := must[[]*qdrant.FacetHit](t, "facet")(c.Facet(ctx, &qdrant.FacetCounts{CollectionName: testColl, Key: "group", Exact: qdrant.PtrOf(true)}))
	counts := map[string]uint64{}
	for _, h := range hits {
		counts[h.GetValue().GetStringValue()] = h.GetCount()
	}
	if fmt.Sprint(counts) != "map[g0:10 g1:10 g2:10 uuid:1]" {
		t.Fatalf("facet: %v", counts)
	}
	top := must[[]*qdrant.RetrievedPoint](t, "scroll order_by")(c.Scroll(ctx, &qdrant.ScrollPoints{CollectionName: testColl, Limit: qdrant.PtrOf(uint32(3)), OrderBy: &qdrant.OrderBy{Key: "n", Direction: qdrant.Direction_Desc.Enum()}}))
	if len(top) != 3 || top[0].GetId().GetNum() != 30 || top[2].GetId().GetNum() != 28 || top[0].GetOrderValue().GetInt() != 30 {
		t.Fatalf("order_by: %v", top)
	}
	if _, err := c.DeleteFieldIndex(ctx, &qdrant.DeleteFieldIndexCollection{CollectionName: testColl, FieldName: "group", Wait: qdrant.PtrOf(true)}); err != nil {
		t.Fatal(err)
	}
	info = must[*qdrant.CollectionInfo](t, "info")(c.GetCollectionInfo(ctx, testColl))
	if _, has := info.GetPayloadSchema()["group"]; has {
		t.Fatal("group index should be gone")
	}

	// Payload updates.
	sel := qdrant.NewPointsSelector(qdrant.NewIDNum(1))
	get1 := func() map[string]*qdrant.Value {
		pts := must[[]*qdrant.RetrievedPoint](t, "get 1")(c.Get(ctx, &qdrant.GetPoints{CollectionName: testColl, Ids: []*qdrant.PointId{qdrant.NewIDNum(1)}, WithPayload: qdrant.NewWithPayload(true)}))
		return pts[0].GetPayload()
	}
	if _, err := c.SetPayload(ctx, &qdrant.SetPayloadPoints{CollectionName: testColl, Wait: qdrant.PtrOf(true), Payload: qdrant.NewValueMap(map[string]any{"extra": 1}), PointsSelector: sel}); err != nil {
		t.Fatal(err)
	}
	if p := get1(); p["extra"].GetIntegerValue() != 1 || p["n"].GetIntegerValue() != 1 {
		t.Fatalf("set payload merges: %v", p)
	}
	if _, err := c.SetPayload(ctx, &qdrant.SetPayloadPoints{CollectionName: testColl, Wait: qdrant.PtrOf(true), Payload: qdrant.NewValueMap(map[string]any{"y": "deep"}), PointsSelector: sel, Key: qdrant.PtrOf("nested")}); err != nil {
		t.Fatal(err)
	}
	if p := get1(); p["nested"].GetStructValue().GetFields()["y"].GetStringValue() != "deep" || p["nested"].GetStructValue().GetFields()["x"].GetIntegerValue() != 1 {
		t.Fatalf("set payload at key: %v", p["nested"])
	}
	if _, err := c.DeletePayload(ctx, &qdrant.DeletePayloadPoints{CollectionName: testColl, Wait: qdrant.PtrOf(true), Keys: []string{"extra", "big"}, PointsSelector: sel}); err != nil {
		t.Fatal(err)
	}
	if p := get1(); p["extra"] != nil || p["big"] != nil || p["n"] == nil {
		t.Fatalf("delete payload: %v", p)
	}
	if _, err := c.OverwritePayload(ctx, &qdrant.SetPayloadPoints{CollectionName: testColl, Wait: qdrant.PtrOf(true), Payload: qdrant.NewValueMap(map[string]any{"only": true}), PointsSelector: sel}); err != nil {
		t.Fatal(err)
	}
	if p := get1(); len(p) != 1 || !p["only"].GetBoolValue() {
		t.Fatalf("overwrite payload: %v", p)
	}
	if _, err := c.ClearPayload(ctx, &qdrant.ClearPayloadPoints{CollectionName: testColl, Wait: qdrant.PtrOf(true), Points: sel}); err != nil {
		t.Fatal(err)
	}
	if p := get1(); len(p) != 0 {
		t.Fatalf("clear payload: %v", p)
	}
	// Set payload by filter.
	if _, err := c.SetPayload(ctx, &qdrant.SetPayloadPoints{CollectionName: testColl, Wait: qdrant.PtrOf(true), Payload: qdrant.NewValueMap(map[string]any{"flag": "on"}),
		PointsSelector: qdrant.NewPointsSelectorFilter(&qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatch("group", "g2")}})}); err != nil {
		t.Fatal(err)
	}
	if n := must[uint64](t, "count flag")(c.Count(ctx, &qdrant.CountPoints{CollectionName: testColl, Filter: &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatch("flag", "on")}}})); n != 10 {
		t.Fatalf("set payload by filter touched %d points", n)
	}

	// Vector updates.
	if _, err := c.UpdateVectors(ctx, &qdrant.UpdatePointVectors{CollectionName: testColl, Wait: qdrant.PtrOf(true), Points: []*qdrant.PointVectors{{Id: qdrant.NewIDNum(2), Vectors: qdrant.NewVectors(9, 9, 9, 9)}}}); err != nil {
		t.Fatal(err)
	}
	res := must[[]*qdrant.ScoredPoint](t, "query after update")(c.Query(ctx, &qdrant.QueryPoints{CollectionName: testColl, Query: qdrant.NewQuery(1, 1, 1, 1), Limit: qdrant.PtrOf(uint64(1))}))
	if len(res) != 1 || res[0].GetId().GetNum() != 2 || math.Abs(float64(res[0].GetScore())-36) > 1e-4 {
		t.Fatalf("updated vector not found: %v", res)
	}

	// Deletes.
	if _, err := c.Delete(ctx, &qdrant.DeletePoints{CollectionName: testColl, Wait: qdrant.PtrOf(true), Points: qdrant.NewPointsSelector(qdrant.NewIDNum(2), qdrant.NewID(uuidA))}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Delete(ctx, &qdrant.DeletePoints{CollectionName: testColl, Wait: qdrant.PtrOf(true), Points: qdrant.NewPointsSelectorFilter(&qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewRange("n", &qdrant.Range{Gt: qdrant.PtrOf(25.0)})}})}); err != nil {
		t.Fatal(err)
	}
	if n := must[uint64](t, "count after delete")(c.Count(ctx, &qdrant.CountPoints{CollectionName: testColl})); n != nPoints-1-5 {
		t.Fatalf("count after deletes = %d", n)
	}

	// Batch update: every operation kind in one request.
	results := must[[]*qdrant.UpdateResult](t, "update batch")(c.UpdateBatch(ctx, &qdrant.UpdateBatchPoints{CollectionName: testColl, Wait: qdrant.PtrOf(true), Operations: []*qdrant.PointsUpdateOperation{
		qdrant.NewPointsUpdateUpsert(&qdrant.PointsUpdateOperation_PointStructList{Points: []*qdrant.PointStruct{{Id: qdrant.NewIDNum(100), Vectors: qdrant.NewVectors(0, 0, 0, 1), Payload: qdrant.NewValueMap(map[string]any{"a": 1, "b": 2})}}}),
		qdrant.NewPointsUpdateSetPayload(&qdrant.PointsUpdateOperation_SetPayload{Payload: qdrant.NewValueMap(map[string]any{"c": 3}), PointsSelector: qdrant.NewPointsSelector(qdrant.NewIDNum(100))}),
		qdrant.NewPointsUpdateDeletePayload(&qdrant.PointsUpdateOperation_DeletePayload{Keys: []string{"a"}, PointsSelector: qdrant.NewPointsSelector(qdrant.NewIDNum(100))}),
		qdrant.NewPointsUpdateUpdateVectors(&qdrant.PointsUpdateOperation_UpdateVectors{Points: []*qdrant.PointVectors{{Id: qdrant.NewIDNum(100), Vectors: qdrant.NewVectors(0, 0, 1, 0)}}}),
		qdrant.NewPointsUpdateDeletePoints(&qdrant.PointsUpdateOperation_DeletePoints{Points: qdrant.NewPointsSelector(qdrant.NewIDNum(3))}),
	}}))
	if len(results) != 5 {
		t.Fatalf("batch results: %v", results)
	}
	got = must[[]*qdrant.RetrievedPoint](t, "get 100")(c.Get(ctx, &qdrant.GetPoints{CollectionName: testColl, Ids: []*qdrant.PointId{qdrant.NewIDNum(100), qdrant.NewIDNum(3)}, WithPayload: qdrant.NewWithPayload(true), WithVectors: qdrant.NewWithVectors(true)}))
	if len(got) != 1 || fmt.Sprint(got[0].GetPayload()["b"].GetIntegerValue(), got[0].GetPayload()["c"].GetIntegerValue(), got[0].GetPayload()["a"]) != "2 3 <nil>" ||
		fmt.Sprint(got[0].GetVectors().GetVector().GetDenseVector().GetData()) != "[0 0 1 0]" {
		t.Fatalf("batch effects: %v", got)
	}
}

func TestClientNamedVectors(t *testing.T) {
	ts := startServer(t, serverConfig{})
	c := ts.client(t, "")
	ctx := ctxT(t)
	err := c.CreateCollection(ctx, &qdrant.CreateCollection{CollectionName: "nv", VectorsConfig: qdrant.NewVectorsConfigMap(map[string]*qdrant.VectorParams{
		"image": {Size: 2, Distance: qdrant.Distance_Dot}, "text": {Size: 3, Distance: qdrant.Distance_Dot},
	})})
	if err != nil {
		t.Fatal(err)
	}
	var pts []*qdrant.PointStruct
	for i := 1; i <= 5; i++ {
		pts = append(pts, &qdrant.PointStruct{Id: qdrant.NewIDNum(uint64(i)), Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{
			"image": qdrant.NewVector(float32(i), 0), "text": qdrant.NewVector(0, 0, float32(6-i)),
		})})
	}
	if _, err := c.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "nv", Wait: qdrant.PtrOf(true), Points: pts}); err != nil {
		t.Fatal(err)
	}
	res := must[[]*qdrant.ScoredPoint](t, "query image")(c.Query(ctx, &qdrant.QueryPoints{CollectionName: "nv", Query: qdrant.NewQuery(1, 0), Using: qdrant.PtrOf("image"), Limit: qdrant.PtrOf(uint64(2))}))
	if fmt.Sprint(numIDs(res)) != "[5 4]" {
		t.Fatalf("using image: %v", numIDs(res))
	}
	res = must[[]*qdrant.ScoredPoint](t, "query text")(c.Query(ctx, &qdrant.QueryPoints{CollectionName: "nv", Query: qdrant.NewQuery(0, 0, 1), Using: qdrant.PtrOf("text"), Limit: qdrant.PtrOf(uint64(2)), WithVectors: qdrant.NewWithVectorsInclude("text")}))
	if fmt.Sprint(numIDs(res)) != "[1 2]" || len(res[0].GetVectors().GetVectors().GetVectors()) != 1 {
		t.Fatalf("using text: %v %v", numIDs(res), res[0].GetVectors())
	}
	legacy := must[*qdrant.SearchResponse](t, "legacy search")(c.GetPointsClient().Search(ctx, &qdrant.SearchPoints{CollectionName: "nv", Vector: []float32{1, 0}, VectorName: qdrant.PtrOf("image"), Limit: 2}))
	if fmt.Sprint(numIDs(legacy.GetResult())) != "[5 4]" {
		t.Fatalf("legacy named search: %v", numIDs(legacy.GetResult()))
	}
	if _, err := c.DeleteVectors(ctx, &qdrant.DeletePointVectors{CollectionName: "nv", Wait: qdrant.PtrOf(true), PointsSelector: qdrant.NewPointsSelector(qdrant.NewIDNum(1)), Vectors: &qdrant.VectorsSelector{Names: []string{"text"}}}); err != nil {
		t.Fatal(err)
	}
	got := must[[]*qdrant.RetrievedPoint](t, "get")(c.Get(ctx, &qdrant.GetPoints{CollectionName: "nv", Ids: []*qdrant.PointId{qdrant.NewIDNum(1)}, WithVectors: qdrant.NewWithVectors(true)}))
	if m := got[0].GetVectors().GetVectors().GetVectors(); len(m) != 1 || m["image"] == nil {
		t.Fatalf("after delete vectors: %v", got[0].GetVectors())
	}
	if n := must[uint64](t, "has_vector")(c.Count(ctx, &qdrant.CountPoints{CollectionName: "nv", Filter: &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewHasVector("text")}}})); n != 4 {
		t.Fatalf("has_vector text = %d", n)
	}
	if _, err := c.UpdateVectors(ctx, &qdrant.UpdatePointVectors{CollectionName: "nv", Wait: qdrant.PtrOf(true), Points: []*qdrant.PointVectors{{Id: qdrant.NewIDNum(1), Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{"text": qdrant.NewVector(0, 0, 9)})}}}); err != nil {
		t.Fatal(err)
	}
	res = must[[]*qdrant.ScoredPoint](t, "query text")(c.Query(ctx, &qdrant.QueryPoints{CollectionName: "nv", Query: qdrant.NewQuery(0, 0, 1), Using: qdrant.PtrOf("text"), Limit: qdrant.PtrOf(uint64(1))}))
	if numIDs(res)[0] != 1 || res[0].GetScore() != 9 {
		t.Fatalf("after update vectors: %v", res)
	}
}

func TestClientQueries(t *testing.T) {
	ts := startServer(t, serverConfig{})
	c := ts.client(t, "")
	ctx := ctxT(t)
	vecs := setupDocs(t, c)
	q := []float32{0.3, -0.2, 0.9, 0.1}
	lim := qdrant.PtrOf(uint64(5))

	// Nearest by vector, exact scores and ids against brute force.
	res := must[[]*qdrant.ScoredPoint](t, "query")(c.Query(ctx, &qdrant.QueryPoints{CollectionName: testColl, Query: qdrant.NewQuery(q...), Limit: lim, WithPayload: qdrant.NewWithPayload(true)}))
	want := bruteTop(vecs, q, 5, nil)
	if fmt.Sprint(numIDs(res)) != fmt.Sprint(want) {
		t.Fatalf("nearest: got %v want %v", numIDs(res), want)
	}
	for _, r := range res {
		if d := math.Abs(float64(r.GetScore() - dot(vecs[r.GetId().GetNum()], q))); d > 1e-5 {
			t.Errorf("score of %d off by %v", r.GetId().GetNum(), d)
		}
		if r.GetPayload()["n"].GetIntegerValue() != int64(r.GetId().GetNum()) {
			t.Errorf("payload of %d: %v", r.GetId().GetNum(), r.GetPayload())
		}
	}
	// Offset, filter, score threshold.
	res = must[[]*qdrant.ScoredPoint](t, "offset")(c.Query(ctx, &qdrant.QueryPoints{CollectionName: testColl, Query: qdrant.NewQuery(q...), Limit: qdrant.PtrOf(uint64(3)), Offset: qdrant.PtrOf(uint64(2))}))
	if fmt.Sprint(numIDs(res)) != fmt.Sprint(bruteTop(vecs, q, 5, nil)[2:5]) {
		t.Fatalf("offset: %v", numIDs(res))
	}
	g1 := &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatch("group", "g1")}}
	res = must[[]*qdrant.ScoredPoint](t, "filtered")(c.Query(ctx, &qdrant.QueryPoints{CollectionName: testColl, Query: qdrant.NewQuery(q...), Limit: lim, Filter: g1}))
	if fmt.Sprint(numIDs(res)) != fmt.Sprint(bruteTop(vecs, q, 5, func(id uint64) bool { return id%3 == 1 })) {
		t.Fatalf("filtered: %v", numIDs(res))
	}
	// Nearest to a stored point, by id: the point itself is not a result.
	res = must[[]*qdrant.ScoredPoint](t, "by id")(c.Query(ctx, &qdrant.QueryPoints{CollectionName: testColl, Query: qdrant.NewQueryID(qdrant.NewIDNum(3)), Limit: lim}))
	if fmt.Sprint(numIDs(res)) != fmt.Sprint(bruteTop(vecs, vecs[3], 5, func(id uint64) bool { return id != 3 })) {
		t.Fatalf("by id: %v", numIDs(res))
	}

	// Recommend, discover, context: well-formed answers that exclude the
	// example points.
	forms := map[string]*qdrant.Query{
		"recommend": qdrant.NewQueryRecommend(&qdrant.RecommendInput{Positive: []*qdrant.VectorInput{qdrant.NewVectorInputID(qdrant.NewIDNum(3))}, Negative: []*qdrant.VectorInput{qdrant.NewVectorInput(1, 0, 0, 0)}}),
		"best":      qdrant.NewQueryRecommend(&qdrant.RecommendInput{Positive: []*qdrant.VectorInput{qdrant.NewVectorInputID(qdrant.NewIDNum(3))}, Strategy: qdrant.RecommendStrategy_BestScore.Enum()}),
		"discover":  qdrant.NewQueryDiscover(&qdrant.DiscoverInput{Target: qdrant.NewVectorInputID(qdrant.NewIDNum(3)), Context: &qdrant.ContextInput{Pairs: []*qdrant.ContextInputPair{{Positive: qdrant.NewVectorInputID(qdrant.NewIDNum(4)), Negative: qdrant.NewVectorInput(0, 0, -1, 0)}}}}),
		"context":   qdrant.NewQueryContext(&qdrant.ContextInput{Pairs: []*qdrant.ContextInputPair{{Positive: qdrant.NewVectorInputID(qdrant.NewIDNum(3)), Negative: qdrant.NewVectorInputID(qdrant.NewIDNum(4))}}}),
	}
	for name, form := range forms {
		res := must[[]*qdrant.ScoredPoint](t, name)(c.Query(ctx, &qdrant.QueryPoints{CollectionName: testColl, Query: form, Limit: lim}))
		ids := numIDs(res)
		if len(ids) != 5 || slices.Contains(ids, 3) || (name != "recommend" && name != "best" && slices.Contains(ids, 4)) {
			t.Errorf("%s: %v", name, ids)
		}
	}
	// Best-score recommend with one positive ranks like nearest to it.
	res = must[[]*qdrant.ScoredPoint](t, "best")(c.Query(ctx, &qdrant.QueryPoints{CollectionName: testColl, Query: forms["best"], Limit: lim}))
	if fmt.Sprint(numIDs(res)) != fmt.Sprint(bruteTop(vecs, vecs[3], 5, func(id uint64) bool { return id != 3 })) {
		t.Errorf("best-score recommend: %v", numIDs(res))
	}

	// Fusion over prefetches: results come from the prefetched candidates.
	pre := []*qdrant.PrefetchQuery{
		{Query: qdrant.NewQuery(q...), Limit: qdrant.PtrOf(uint64(6))},
		{Query: qdrant.NewQuery(-q[0], q[1], q[2], -q[3]), Limit: qdrant.PtrOf(uint64(6)), Filter: g1},
	}
	cands := append(bruteTop(vecs, q, 6, nil), bruteTop(vecs, []float32{-q[0], q[1], q[2], -q[3]}, 6, func(id uint64) bool { return id%3 == 1 })...)
	for name, form := range map[string]*qdrant.Query{
		"rrf":  qdrant.NewQueryFusion(qdrant.Fusion_RRF),
		"dbsf": qdrant.NewQueryFusion(qdrant.Fusion_DBSF),
		"rrfk": qdrant.NewQueryRRF(&qdrant.Rrf{K: qdrant.PtrOf(uint32(10))}),
	} {
		res := must[[]*qdrant.ScoredPoint](t, name)(c.Query(ctx, &qdrant.QueryPoints{CollectionName: testColl, Prefetch: pre, Query: form, Limit: lim}))
		if len(res) != 5 {
			t.Errorf("%s: %d results", name, len(res))
		}
		for _, id := range numIDs(res) {
			if !slices.Contains(cands, id) {
				t.Errorf("%s: %d was not prefetched (%v)", name, id, cands)
			}
		}
	}
	// Re-scoring a prefetch with a nearest query.
	res = must[[]*qdrant.ScoredPoint](t, "rescore")(c.Query(ctx, &qdrant.QueryPoints{CollectionName: testColl, Prefetch: pre[1:], Query: qdrant.NewQuery(q...), Limit: qdrant.PtrOf(uint64(3))}))
	if want := bruteTop(vecs, q, 3, func(id uint64) bool {
		return slices.Contains(bruteTop(vecs, []float32{-q[0], q[1], q[2], -q[3]}, 6, func(id uint64) bool { return id%3 == 1 }), id)
	}); fmt.Sprint(numIDs(res)) != fmt.Sprint(want) {
		t.Errorf("rescore: %v want %v", numIDs(res), want)
	}

	// order_by needs a range index; sample gives distinct points.
	if _, err := c.CreateFieldIndex(ctx, &qdrant.CreateFieldIndexCollection{CollectionName: testColl, FieldName: "n", FieldType: qdrant.FieldType_FieldTypeInteger.Enum(), Wait: qdrant.PtrOf(true)}); err != nil {
		t.Fatal(err)
	}
	res = must[[]*qdrant.ScoredPoint](t, "order_by")(c.Query(ctx, &qdrant.QueryPoints{CollectionName: testColl, Query: qdrant.NewQueryOrderBy(&qdrant.OrderBy{Key: "n", StartFrom: qdrant.NewStartFromInt(10)}), Limit: qdrant.PtrOf(uint64(3))}))
	if fmt.Sprint(numIDs(res)) != "[10 11 12]" {
		t.Errorf("order_by: %v", numIDs(res))
	}
	res = must[[]*qdrant.ScoredPoint](t, "sample")(c.Query(ctx, &qdrant.QueryPoints{CollectionName: testColl, Query: qdrant.NewQuerySample(qdrant.Sample_Random), Limit: qdrant.PtrOf(uint64(8))}))
	ids := numIDs(res)
	slices.Sort(ids)
	if len(slices.Compact(ids)) != 8 {
		t.Errorf("sample: %v", numIDs(res))
	}

	// Batch and groups.
	batch := must[[]*qdrant.BatchResult](t, "batch")(c.QueryBatch(ctx, &qdrant.QueryBatchPoints{CollectionName: testColl, QueryPoints: []*qdrant.QueryPoints{
		{Query: qdrant.NewQuery(q...), Limit: lim}, {Query: qdrant.NewQuery(q...), Limit: lim, Filter: g1},
	}}))
	if len(batch) != 2 || fmt.Sprint(numIDs(batch[0].GetResult())) != fmt.Sprint(want) || fmt.Sprint(numIDs(batch[1].GetResult())) != fmt.Sprint(bruteTop(vecs, q, 5, func(id uint64) bool { return id%3 == 1 })) {
		t.Errorf("query batch: %v", batch)
	}
	groups := must[[]*qdrant.PointGroup](t, "groups")(c.QueryGroups(ctx, &qdrant.QueryPointGroups{CollectionName: testColl, Query: qdrant.NewQuery(q...), GroupBy: "group", Limit: qdrant.PtrOf(uint64(3)), GroupSize: qdrant.PtrOf(uint64(2)), WithPayload: qdrant.NewWithPayload(true)}))
	checkGroups(t, "query groups", groups, 3, 2)
	// Groups by an integer field.
	igroups := must[[]*qdrant.PointGroup](t, "int groups")(c.QueryGroups(ctx, &qdrant.QueryPointGroups{CollectionName: testColl, Query: qdrant.NewQuery(q...), GroupBy: "n", Limit: qdrant.PtrOf(uint64(2)), GroupSize: qdrant.PtrOf(uint64(1))}))
	if len(igroups) != 2 || igroups[0].GetId().GetUnsignedValue() != want[0] {
		t.Errorf("integer groups: %v", igroups)
	}

	// Legacy search families.
	pc := c.GetPointsClient()
	sr := must[*qdrant.SearchResponse](t, "search")(pc.Search(ctx, &qdrant.SearchPoints{CollectionName: testColl, Vector: q, Limit: 5}))
	if fmt.Sprint(numIDs(sr.GetResult())) != fmt.Sprint(want) {
		t.Errorf("search: %v", numIDs(sr.GetResult()))
	}
	sb := must[*qdrant.SearchBatchResponse](t, "search batch")(pc.SearchBatch(ctx, &qdrant.SearchBatchPoints{CollectionName: testColl, SearchPoints: []*qdrant.SearchPoints{{CollectionName: testColl, Vector: q, Limit: 5}, {CollectionName: testColl, Vector: q, Limit: 2, Filter: g1}}}))
	if len(sb.GetResult()) != 2 || fmt.Sprint(numIDs(sb.GetResult()[0].GetResult())) != fmt.Sprint(want) || len(sb.GetResult()[1].GetResult()) != 2 {
		t.Errorf("search batch: %v", sb)
	}
	sg := must[*qdrant.SearchGroupsResponse](t, "search groups")(pc.SearchGroups(ctx, &qdrant.SearchPointGroups{CollectionName: testColl, Vector: q, GroupBy: "group", Limit: 3, GroupSize: 2, WithPayload: qdrant.NewWithPayload(true)}))
	checkGroups(t, "search groups", sg.GetResult().GetGroups(), 3, 2)
	rr := must[*qdrant.RecommendResponse](t, "recommend")(pc.Recommend(ctx, &qdrant.RecommendPoints{CollectionName: testColl, Positive: []*qdrant.PointId{qdrant.NewIDNum(3)}, Limit: 5, Strategy: qdrant.RecommendStrategy_BestScore.Enum()}))
	if fmt.Sprint(numIDs(rr.GetResult())) != fmt.Sprint(bruteTop(vecs, vecs[3], 5, func(id uint64) bool { return id != 3 })) {
		t.Errorf("recommend: %v", numIDs(rr.GetResult()))
	}
	rb := must[*qdrant.RecommendBatchResponse](t, "recommend batch")(pc.RecommendBatch(ctx, &qdrant.RecommendBatchPoints{CollectionName: testColl, RecommendPoints: []*qdrant.RecommendPoints{
		{CollectionName: testColl, Positive: []*qdrant.PointId{qdrant.NewIDNum(3)}, Limit: 2}, {CollectionName: testColl, PositiveVectors: []*qdrant.Vector{qdrant.NewVector(q...)}, Limit: 3},
	}}))
	if len(rb.GetResult()) != 2 || len(rb.GetResult()[0].GetResult()) != 2 || fmt.Sprint(numIDs(rb.GetResult()[1].GetResult())) != fmt.Sprint(want[:3]) {
		t.Errorf("recommend batch: %v", rb)
	}
	rg := must[*qdrant.RecommendGroupsResponse](t, "recommend groups")(pc.RecommendGroups(ctx, &qdrant.RecommendPointGroups{CollectionName: testColl, Positive: []*qdrant.PointId{qdrant.NewIDNum(3)}, GroupBy: "group", Limit: 3, GroupSize: 2, WithPayload: qdrant.NewWithPayload(true)}))
	checkGroups(t, "recommend groups", rg.GetResult().GetGroups(), 3, 2)
	dr := must[*qdrant.DiscoverResponse](t, "discover")(pc.Discover(ctx, &qdrant.DiscoverPoints{CollectionName: testColl, Target: qdrant.NewTargetID(qdrant.NewIDNum(3)), Limit: 4,
		Context: []*qdrant.ContextExamplePair{{Positive: &qdrant.VectorExample{Example: &qdrant.VectorExample_Id{Id: qdrant.NewIDNum(4)}}, Negative: &qdrant.VectorExample{Example: &qdrant.VectorExample_Vector{Vector: qdrant.NewVector(0, 0, -1, 0)}}}}}))
	if len(dr.GetResult()) != 4 || slices.Contains(numIDs(dr.GetResult()), 3) {
		t.Errorf("discover: %v", numIDs(dr.GetResult()))
	}
	db := must[*qdrant.DiscoverBatchResponse](t, "discover batch")(pc.DiscoverBatch(ctx, &qdrant.DiscoverBatchPoints{CollectionName: testColl, DiscoverPoints: []*qdrant.DiscoverPoints{
		{CollectionName: testColl, Target: qdrant.NewTarget(qdrant.NewVector(q...)), Limit: 3},
		{CollectionName: testColl, Context: []*qdrant.ContextExamplePair{{Positive: &qdrant.VectorExample{Example: &qdrant.VectorExample_Id{Id: qdrant.NewIDNum(4)}}, Negative: &qdrant.VectorExample{Example: &qdrant.VectorExample_Id{Id: qdrant.NewIDNum(5)}}}}, Limit: 3},
	}}))
	if len(db.GetResult()) != 2 || len(db.GetResult()[0].GetResult()) != 3 || len(db.GetResult()[1].GetResult()) != 3 {
		t.Errorf("discover batch: %v", db)
	}

	// Distance matrix.
	pairs := must[*qdrant.SearchMatrixPairs](t, "matrix pairs")(c.SearchMatrixPairs(ctx, &qdrant.SearchMatrixPoints{CollectionName: testColl, Sample: qdrant.PtrOf(uint64(6)), Limit: qdrant.PtrOf(uint64(2))}))
	if len(pairs.GetPairs()) == 0 || len(pairs.GetPairs()) > 12 {
		t.Fatalf("matrix pairs: %d", len(pairs.GetPairs()))
	}
	for _, p := range pairs.GetPairs() {
		a, b := p.GetA().GetNum(), p.GetB().GetNum()
		if a == b || math.Abs(float64(p.GetScore()-dot(vecs[a], vecs[b]))) > 1e-5 {
			t.Errorf("pair %d-%d score %v", a, b, p.GetScore())
		}
	}
	offs := must[*qdrant.SearchMatrixOffsets](t, "matrix offsets")(c.SearchMatrixOffsets(ctx, &qdrant.SearchMatrixPoints{CollectionName: testColl, Sample: qdrant.PtrOf(uint64(6)), Limit: qdrant.PtrOf(uint64(2)), Filter: g1}))
	if len(offs.GetIds()) != 6 || len(offs.GetOffsetsRow()) != len(offs.GetScores()) || len(offs.GetOffsetsCol()) != len(offs.GetScores()) {
		t.Fatalf("matrix offsets: %v", offs)
	}
	for i, s := range offs.GetScores() {
		a, b := offs.GetIds()[offs.GetOffsetsRow()[i]].GetNum(), offs.GetIds()[offs.GetOffsetsCol()[i]].GetNum()
		if a%3 != 1 || b%3 != 1 || math.Abs(float64(s-dot(vecs[a], vecs[b]))) > 1e-5 {
			t.Errorf("offset entry %d: %d-%d %v", i, a, b, s)
		}
	}
}

func checkGroups(t *testing.T, what string, groups []*qdrant.PointGroup, n, size int) {
	t.Helper()
	if len(groups) != n {
		t.Fatalf("%s: %d groups", what, len(groups))
	}
	seen := map[string]bool{}
	for _, g := range groups {
		id := g.GetId().GetStringValue()
		if seen[id] || len(g.GetHits()) == 0 || len(g.GetHits()) > size {
			t.Errorf("%s: group %q with %d hits (seen %v)", what, id, len(g.GetHits()), seen[id])
		}
		seen[id] = true
		for _, h := range g.GetHits() {
			if h.GetPayload()["group"].GetStringValue() != id {
				t.Errorf("%s: hit %v in group %q", what, h.GetId(), id)
			}
		}
	}
}
