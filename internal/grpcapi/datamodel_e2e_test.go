package grpcapi

import (
	"fmt"
	"testing"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc/codes"
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

// TestClientMultivectorRefused checks that gRPC refuses a multivector
// config with the same text as REST.
func TestClientMultivectorRefused(t *testing.T) {
	ts := startServer(t, serverConfig{})
	c := ts.client(t, "")
	ctx := ctxT(t)
	err := c.CreateCollection(ctx, &qdrant.CreateCollection{CollectionName: "mv", VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{
		Size: 4, Distance: qdrant.Distance_Cosine, MultivectorConfig: &qdrant.MultiVectorConfig{Comparator: qdrant.MultiVectorComparator_MaxSim},
	})})
	wantCode(t, "multivector", err, codes.InvalidArgument, `Wrong input: vector "": multivector_config is not supported by this server; use dense vectors`)
	if ok, err := c.CollectionExists(ctx, "mv"); err != nil || ok {
		t.Fatalf("refused collection exists: %v %v", ok, err)
	}
}
