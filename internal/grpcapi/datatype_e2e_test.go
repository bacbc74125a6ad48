package grpcapi

import (
	"slices"
	"testing"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc/codes"
)

// TestVectorDatatypesGRPC: a collection created over gRPC with float16,
// uint8 and turbo4 vectors reports the datatypes, returns float16 values
// rounded to half precision, uint8 values as stored and turbo4 values as
// their 4-bit approximation, searches by them, and refuses a uint8 value
// that is not an integer from 0 to 255.
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
			"t": {Size: 16, Distance: qdrant.Distance_Euclid, Datatype: qdrant.Datatype_Turbo4.Enum()},
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
	if m["h"].GetDatatype() != qdrant.Datatype_Float16 || m["u"].GetDatatype() != qdrant.Datatype_Uint8 || m["t"].GetDatatype() != qdrant.Datatype_Turbo4 {
		t.Fatalf("datatypes %v", m)
	}
	var pts []*qdrant.PointStruct
	for i := range 20 {
		x := float32(i)
		pts = append(pts, &qdrant.PointStruct{Id: qdrant.NewIDNum(uint64(i + 1)), Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{
			"h": qdrant.NewVector(0.1*x, 1, 2),
			"u": qdrant.NewVector(x, 3, 250),
			"t": qdrant.NewVector(turbo4Vec(i)...),
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
	// The turbo4 vector is an approximation: within 25% of the original.
	tv, want := vs["t"].GetDense().GetData(), turbo4Vec(1)
	var e, n float64
	for i := range want {
		e += float64(tv[i]-want[i]) * float64(tv[i]-want[i])
		n += float64(want[i]) * float64(want[i])
	}
	if len(tv) != 16 || e == 0 || e > 0.0625*n {
		t.Errorf("turbo4 vector %v, written %v", tv, want)
	}
	res, err := c.Query(ctx, &qdrant.QueryPoints{CollectionName: coll, Query: qdrant.NewQueryDense(turbo4Vec(7)), Using: qdrant.PtrOf("t"), Limit: qdrant.PtrOf(uint64(1))})
	if err != nil || len(res) != 1 || res[0].GetId().GetNum() != 8 {
		t.Fatalf("query by the turbo4 vector: %v %v", res, err)
	}
	res, err = c.Query(ctx, &qdrant.QueryPoints{CollectionName: coll, Query: qdrant.NewQueryDense([]float32{1, 0, 0}), Using: qdrant.PtrOf("u"), Limit: qdrant.PtrOf(uint64(1))})
	if err != nil || len(res) != 1 || res[0].GetId().GetNum() != 20 || res[0].GetScore() != 19 {
		t.Fatalf("query by the uint8 vector: %v %v", res, err)
	}
	_, err = c.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: coll, Wait: qdrant.PtrOf(true), Points: []*qdrant.PointStruct{
		{Id: qdrant.NewIDNum(99), Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{"u": qdrant.NewVector(0.5, 1, 2)})},
	}})
	wantCode(t, "uint8 0.5", err, codes.InvalidArgument, "integers from 0 to 255")
}

// turbo4Vec returns the 16-element vector i of TestVectorDatatypesGRPC's
// turbo4 vector: distinct directions and norms.
func turbo4Vec(i int) []float32 {
	v := make([]float32, 16)
	for j := range v {
		v[j] = float32((i*7+j*3)%11) - 5 + float32(i)/4
	}
	return v
}
