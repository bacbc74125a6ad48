package grpcapi

import (
	"slices"
	"testing"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc/codes"
)

// TestVectorDatatypesGRPC: a collection created over gRPC with float16 and
// uint8 vectors reports the datatypes, returns float16 values rounded to
// half precision and uint8 values as stored, searches by them, and refuses
// a uint8 value that is not an integer from 0 to 255.
func TestVectorDatatypesGRPC(t *testing.T) {
	ts := startServer(t, serverConfig{})
	c := ts.client(t, "")
	ctx := ctxT(t)
	const coll = "dt"
	err := c.CreateCollection(ctx, &qdrant.CreateCollection{
		CollectionName: coll,
		VectorsConfig: qdrant.NewVectorsConfigMap(map[string]*qdrant.VectorParams{
			"h": {Size: 3, Distance: qdrant.Distance_Euclid, Datatype: qdrant.Datatype_Float16.Enum()},
			"u": {Size: 3, Distance: qdrant.Distance_Dot, Datatype: qdrant.Datatype_Uint8.Enum()},
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.GetCollectionInfo(ctx, coll)
	if err != nil {
		t.Fatal(err)
	}
	m := info.GetConfig().GetParams().GetVectorsConfig().GetParamsMap().GetMap()
	if m["h"].GetDatatype() != qdrant.Datatype_Float16 || m["u"].GetDatatype() != qdrant.Datatype_Uint8 {
		t.Fatalf("datatypes %v", m)
	}
	var pts []*qdrant.PointStruct
	for i := range 20 {
		x := float32(i)
		pts = append(pts, &qdrant.PointStruct{Id: qdrant.NewIDNum(uint64(i + 1)), Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{
			"h": qdrant.NewVector(0.1*x, 1, 2),
			"u": qdrant.NewVector(x, 3, 250),
		})})
	}
	if _, err := c.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: coll, Wait: qdrant.PtrOf(true), Points: pts}); err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(ctx, &qdrant.GetPoints{CollectionName: coll, Ids: []*qdrant.PointId{qdrant.NewIDNum(2)}, WithVectors: qdrant.NewWithVectors(true)})
	if err != nil || len(got) != 1 {
		t.Fatalf("get: %v %v", got, err)
	}
	vs := got[0].GetVectors().GetVectors().GetVectors()
	if h := vs["h"].GetDense().GetData(); !slices.Equal(h, []float32{0.099975586, 1, 2}) {
		t.Errorf("float16 vector %v", h)
	}
	if u := vs["u"].GetDense().GetData(); !slices.Equal(u, []float32{1, 3, 250}) {
		t.Errorf("uint8 vector %v", u)
	}
	res, err := c.Query(ctx, &qdrant.QueryPoints{CollectionName: coll, Query: qdrant.NewQueryDense([]float32{1, 0, 0}), Using: qdrant.PtrOf("u"), Limit: qdrant.PtrOf(uint64(1))})
	if err != nil || len(res) != 1 || res[0].GetId().GetNum() != 20 || res[0].GetScore() != 19 {
		t.Fatalf("query by the uint8 vector: %v %v", res, err)
	}
	_, err = c.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: coll, Wait: qdrant.PtrOf(true), Points: []*qdrant.PointStruct{
		{Id: qdrant.NewIDNum(99), Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{"u": qdrant.NewVector(0.5, 1, 2)})},
	}})
	wantCode(t, "uint8 0.5", err, codes.InvalidArgument, "integers from 0 to 255")
}
