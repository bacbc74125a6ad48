package grpcapi

import (
	"testing"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	"google.golang.org/protobuf/encoding/protowire"
)

// The tests of this file cover what Qdrant's API 1.18 and 1.19 (go-client
// v1.19.x) added to the protos: each new option is served or refused with
// a clear error, and requests in the older field layout still work.

// TestClientVectorNames adds and removes named vectors of an existing
// collection through the official client's CreateVectorName and
// DeleteVectorName against the real service.
func TestClientVectorNames(t *testing.T) {
	ts := startServer(t, serverConfig{})
	c := ts.client(t, "")
	ctx := ctxT(t)
	if err := c.CreateCollection(ctx, &qdrant.CreateCollection{CollectionName: "vn", VectorsConfig: qdrant.NewVectorsConfigMap(map[string]*qdrant.VectorParams{
		"a": {Size: 2, Distance: qdrant.Distance_Dot},
	})}); err != nil {
		t.Fatal(err)
	}
	wait := qdrant.PtrOf(true)
	if _, err := c.CreateVectorName(ctx, &qdrant.CreateVectorNameRequest{CollectionName: "vn", VectorName: "b", Wait: wait,
		VectorConfig: &qdrant.CreateVectorNameRequest_DenseConfig{DenseConfig: &qdrant.DenseVectorCreationConfig{Size: 3, Distance: qdrant.Distance_Euclid}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateVectorName(ctx, &qdrant.CreateVectorNameRequest{CollectionName: "vn", VectorName: "s", Wait: wait,
		VectorConfig: &qdrant.CreateVectorNameRequest_SparseConfig{SparseConfig: &qdrant.SparseVectorCreationConfig{Modifier: qdrant.Modifier_Idf.Enum()}},
	}); err != nil {
		t.Fatal(err)
	}
	info := must[*qdrant.CollectionInfo](t, "info")(c.GetCollectionInfo(ctx, "vn"))
	vecs := info.GetConfig().GetParams().GetVectorsConfig().GetParamsMap().GetMap()
	if b := vecs["b"]; len(vecs) != 2 || b.GetSize() != 3 || b.GetDistance() != qdrant.Distance_Euclid {
		t.Fatalf("vectors after CreateVectorName: %v", vecs)
	}
	if s := info.GetConfig().GetParams().GetSparseVectorsConfig().GetMap()["s"]; s.GetModifier() != qdrant.Modifier_Idf {
		t.Fatalf("sparse vectors after CreateVectorName: %v", info.GetConfig().GetParams().GetSparseVectorsConfig())
	}
	// The new vector takes points and answers queries.
	if _, err := c.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "vn", Wait: wait, Points: []*qdrant.PointStruct{
		{Id: qdrant.NewIDNum(1), Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{"a": qdrant.NewVector(1, 0), "b": qdrant.NewVector(1, 2, 3)})},
		{Id: qdrant.NewIDNum(2), Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{"b": qdrant.NewVector(9, 9, 9)})},
	}}); err != nil {
		t.Fatal(err)
	}
	hits := must[[]*qdrant.ScoredPoint](t, "query b")(c.Query(ctx, &qdrant.QueryPoints{CollectionName: "vn", Using: qdrant.PtrOf("b"), Query: qdrant.NewQuery(1, 2, 3)}))
	if len(hits) != 2 || hits[0].GetId().GetNum() != 1 {
		t.Fatalf("query on the new vector: %v", hits)
	}
	_, err := c.CreateVectorName(ctx, &qdrant.CreateVectorNameRequest{CollectionName: "vn", VectorName: "t",
		VectorConfig: &qdrant.CreateVectorNameRequest_DenseConfig{DenseConfig: &qdrant.DenseVectorCreationConfig{Size: 3, Distance: qdrant.Distance_Manhattan, Datatype: qdrant.Datatype_Turbo4.Enum()}},
	})
	wantCode(t, "turbo4", err, codes.InvalidArgument, `datatype turbo4 with Manhattan distance is not supported`)
	_, err = c.CreateVectorName(ctx, &qdrant.CreateVectorNameRequest{CollectionName: "vn", VectorName: "t"})
	wantCode(t, "no config", err, codes.InvalidArgument, "exactly one of dense_config and sparse_config")

	if _, err := c.DeleteVectorName(ctx, &qdrant.DeleteVectorNameRequest{CollectionName: "vn", VectorName: "b", Wait: wait}); err != nil {
		t.Fatal(err)
	}
	info = must[*qdrant.CollectionInfo](t, "info")(c.GetCollectionInfo(ctx, "vn"))
	if vecs := info.GetConfig().GetParams().GetVectorsConfig().GetParamsMap().GetMap(); len(vecs) != 1 || vecs["a"] == nil {
		t.Fatalf("vectors after DeleteVectorName: %v", vecs)
	}
	_, err = c.DeleteVectorName(ctx, &qdrant.DeleteVectorNameRequest{CollectionName: "vn", VectorName: "b"})
	wantCode(t, "delete twice", err, codes.InvalidArgument, "b")
	_, err = c.DeleteVectorName(ctx, &qdrant.DeleteVectorNameRequest{CollectionName: "nope", VectorName: "a"})
	wantCode(t, "missing collection", err, codes.NotFound, "nope")
}

// TestClientMatchPrefix filters by keyword prefix, with and without a
// keyword index that has the prefix option, which collection info reports
// back.
func TestClientMatchPrefix(t *testing.T) {
	ts := startServer(t, serverConfig{})
	c := ts.client(t, "")
	ctx := ctxT(t)
	if err := c.CreateCollection(ctx, &qdrant.CreateCollection{CollectionName: "mp", VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 2, Distance: qdrant.Distance_Dot})}); err != nil {
		t.Fatal(err)
	}
	var pts []*qdrant.PointStruct
	for i, city := range []string{"Berlin", "Bern", "Bergen", "Paris", "berlin"} {
		pts = append(pts, &qdrant.PointStruct{Id: qdrant.NewIDNum(uint64(i + 1)), Vectors: qdrant.NewVectors(1, 0), Payload: qdrant.NewValueMap(map[string]any{"city": city})})
	}
	if _, err := c.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "mp", Wait: qdrant.PtrOf(true), Points: pts}); err != nil {
		t.Fatal(err)
	}
	prefix := &qdrant.Filter{Must: []*qdrant.Condition{{ConditionOneOf: &qdrant.Condition_Field{Field: &qdrant.FieldCondition{Key: "city", Match: &qdrant.Match{MatchValue: &qdrant.Match_Prefix{Prefix: "Ber"}}}}}}}
	count := func() uint64 {
		t.Helper()
		return must[uint64](t, "count")(c.Count(ctx, &qdrant.CountPoints{CollectionName: "mp", Filter: prefix, Exact: qdrant.PtrOf(true)}))
	}
	if n := count(); n != 3 {
		t.Fatalf("prefix Ber without an index matched %d points, want 3", n)
	}
	if _, err := c.CreateFieldIndex(ctx, &qdrant.CreateFieldIndexCollection{CollectionName: "mp", FieldName: "city", Wait: qdrant.PtrOf(true),
		FieldType:        qdrant.FieldType_FieldTypeKeyword.Enum(),
		FieldIndexParams: qdrant.NewPayloadIndexParamsKeyword(&qdrant.KeywordIndexParams{Prefix: &qdrant.KeywordPrefixParams{}, Memory: qdrant.Memory_Cold.Enum()}),
	}); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 3 {
		t.Fatalf("prefix Ber with an index matched %d points, want 3", n)
	}
	info := must[*qdrant.CollectionInfo](t, "info")(c.GetCollectionInfo(ctx, "mp"))
	kw := info.GetPayloadSchema()["city"].GetParams().GetKeywordIndexParams()
	if kw.GetPrefix() == nil || kw.GetMemory() != qdrant.Memory_Cold {
		t.Fatalf("keyword index params reported as %v, want prefix and memory Cold", kw)
	}
}

// TestClientMemoryPlacements checks the memory placements that replace the
// on_disk and always_ram flags: translated into the flags where Shoal's
// configuration has only them (reported back as the flags), kept where it
// has a placement (quantization), refused where Qdrant refuses them.
func TestClientMemoryPlacements(t *testing.T) {
	ts := startServer(t, serverConfig{})
	c := ts.client(t, "")
	ctx := ctxT(t)
	err := c.CreateCollection(ctx, &qdrant.CreateCollection{
		CollectionName: "mem",
		VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 2, Distance: qdrant.Distance_Dot, Memory: qdrant.Memory_Cold.Enum(),
			HnswConfig: &qdrant.HnswConfigDiff{Memory: qdrant.Memory_Pinned.Enum()}}),
		HnswConfig:         &qdrant.HnswConfigDiff{OnDisk: qdrant.PtrOf(false), Memory: qdrant.Memory_Cold.Enum()},
		Payload:            &qdrant.PayloadStorageParams{Memory: qdrant.Memory_Cached.Enum()},
		QuantizationConfig: qdrant.NewQuantizationScalar(&qdrant.ScalarQuantization{Type: qdrant.QuantizationType_Int8, Memory: qdrant.Memory_Pinned.Enum()}),
		SparseVectorsConfig: qdrant.NewSparseVectorsConfig(map[string]*qdrant.SparseVectorParams{
			"s": {Index: &qdrant.SparseIndexConfig{Memory: qdrant.Memory_Cached.Enum()}},
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := must[*qdrant.CollectionInfo](t, "info")(c.GetCollectionInfo(ctx, "mem")).GetConfig()
	p := cfg.GetParams()
	v := p.GetVectorsConfig().GetParams()
	switch {
	case !v.GetOnDisk(): //nolint:staticcheck // the placement is reported as the flag.
		t.Fatalf("vector memory Cold reported as %v, want on_disk", v)
	case v.GetHnswConfig().OnDisk == nil || v.GetHnswConfig().GetOnDisk(): //nolint:staticcheck // as above.
		t.Fatalf("vector hnsw memory Pinned reported as %v, want on_disk false", v.GetHnswConfig())
	case !cfg.GetHnswConfig().GetOnDisk(): //nolint:staticcheck // memory overrides the flag sent alongside.
		t.Fatalf("hnsw memory Cold with on_disk false reported as %v, want on_disk", cfg.GetHnswConfig())
	case p.GetOnDiskPayload(): //nolint:staticcheck // as above.
		t.Fatal("payload memory Cached reported as on_disk_payload")
	case !p.GetSparseVectorsConfig().GetMap()["s"].GetIndex().GetOnDisk(): //nolint:staticcheck // as above.
		t.Fatalf("sparse index memory Cached reported as %v, want on_disk", p.GetSparseVectorsConfig())
	case cfg.GetQuantizationConfig().GetScalar().GetMemory() != qdrant.Memory_Pinned:
		t.Fatalf("scalar quantization memory reported as %v", cfg.GetQuantizationConfig())
	}

	vec := func(m qdrant.Memory) *qdrant.VectorsConfig {
		return qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 2, Distance: qdrant.Distance_Dot, Memory: m.Enum()})
	}
	err = c.CreateCollection(ctx, &qdrant.CreateCollection{CollectionName: "x", VectorsConfig: vec(qdrant.Memory_Pinned)})
	wantCode(t, "pinned vectors", err, codes.InvalidArgument, "vectors.memory: the pinned placement is not supported for this storage")
	err = c.CreateCollection(ctx, &qdrant.CreateCollection{CollectionName: "x", VectorsConfig: vec(qdrant.Memory_MemoryUnknown)})
	wantCode(t, "unknown memory", err, codes.InvalidArgument, "vectors.memory: unknown memory placement 0")
	err = c.CreateCollection(ctx, &qdrant.CreateCollection{CollectionName: "x", VectorsConfig: vec(qdrant.Memory_Cold),
		Payload: &qdrant.PayloadStorageParams{Memory: qdrant.Memory_Pinned.Enum()}})
	wantCode(t, "pinned payload", err, codes.InvalidArgument, "payload.memory: the pinned placement is not supported for this storage")
	err = c.CreateCollection(ctx, &qdrant.CreateCollection{CollectionName: "x", VectorsConfig: vec(qdrant.Memory_Cold),
		QuantizationConfig: &qdrant.QuantizationConfig{Quantization: &qdrant.QuantizationConfig_Turboquant{Turboquant: &qdrant.TurboQuantization{Bits: qdrant.TurboQuantBitSize_Bits4.Enum()}}}})
	wantCode(t, "turboquant", err, codes.InvalidArgument, `unknown quantization "turbo"`)
	err = c.CreateCollection(ctx, &qdrant.CreateCollection{CollectionName: "x", VectorsConfig: vec(qdrant.Memory_Cold),
		HnswConfig: &qdrant.HnswConfigDiff{InlineStorage: qdrant.PtrOf(true)}})
	wantCode(t, "inline storage", err, codes.InvalidArgument, "hnsw_config.inline_storage is not supported")

	// UpdateCollection: the same translations on the diffs.
	if err := c.UpdateCollection(ctx, &qdrant.UpdateCollection{CollectionName: "mem",
		VectorsConfig: qdrant.NewVectorsConfigDiff(&qdrant.VectorParamsDiff{Memory: qdrant.Memory_Cold.Enum()}),
		Params:        &qdrant.CollectionParamsDiff{Payload: &qdrant.PayloadStorageParams{Memory: qdrant.Memory_Cold.Enum()}},
	}); err != nil {
		t.Fatal(err)
	}
	p = must[*qdrant.CollectionInfo](t, "info")(c.GetCollectionInfo(ctx, "mem")).GetConfig().GetParams()
	if v := p.GetVectorsConfig().GetParams(); !v.GetOnDisk() || !p.GetOnDiskPayload() { //nolint:staticcheck // the placements are reported as the flags.
		t.Fatalf("after the update: vector %v, on_disk_payload %v", v, p.GetOnDiskPayload()) //nolint:staticcheck // as above.
	}
	err = c.UpdateCollection(ctx, &qdrant.UpdateCollection{CollectionName: "mem", VectorsConfig: qdrant.NewVectorsConfigDiff(&qdrant.VectorParamsDiff{Memory: qdrant.Memory_Pinned.Enum()})})
	wantCode(t, "pinned vector diff", err, codes.InvalidArgument, "vectors.memory: the pinned placement is not supported for this storage")
	// cached is on_disk false: the vector moves back to the heap.
	if err := c.UpdateCollection(ctx, &qdrant.UpdateCollection{CollectionName: "mem", VectorsConfig: qdrant.NewVectorsConfigDiff(&qdrant.VectorParamsDiff{Memory: qdrant.Memory_Cached.Enum()})}); err != nil {
		t.Fatal(err)
	}
	p = must[*qdrant.CollectionInfo](t, "info")(c.GetCollectionInfo(ctx, "mem")).GetConfig().GetParams()
	if v := p.GetVectorsConfig().GetParams(); v.GetOnDisk() { //nolint:staticcheck // the placements are reported as the flags.
		t.Fatalf("after the cached update: vector %v", v)
	}
}

// TestClientRefusedSearchOptions: the 1.19 search options Shoal does not
// implement are refused, not dropped; their off settings are accepted.
func TestClientRefusedSearchOptions(t *testing.T) {
	ts := startServer(t, serverConfig{})
	c := ts.client(t, "")
	ctx := ctxT(t)
	if err := c.CreateCollection(ctx, &qdrant.CreateCollection{CollectionName: "so", VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 2, Distance: qdrant.Distance_Dot})}); err != nil {
		t.Fatal(err)
	}
	query := func(f *qdrant.Filter, p *qdrant.SearchParams) error {
		_, err := c.Query(ctx, &qdrant.QueryPoints{CollectionName: "so", Query: qdrant.NewQuery(1, 0), Filter: f, Params: p})
		return err
	}
	// The slice condition is served; a total of 0 is refused as Qdrant's
	// deserialisation refuses it, an index beyond the total by validation.
	if err := query(&qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewSlice(2, 1)}}, nil); err != nil {
		t.Fatalf("slice: %v", err)
	}
	wantCode(t, "slice total 0", query(&qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewSlice(0, 0)}}, nil), codes.InvalidArgument, "nonzero")
	wantCode(t, "slice index", query(&qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewSlice(2, 2)}}, nil), codes.InvalidArgument, "must be less than total 2")
	corpus := &qdrant.SearchParams{Idf: &qdrant.IdfParams{Corpus: &qdrant.Filter{}}}
	wantCode(t, "idf corpus", query(nil, corpus), codes.InvalidArgument, "idf with a corpus filter is not supported")
	acorn := &qdrant.SearchParams{Acorn: &qdrant.AcornSearchParams{Enable: qdrant.PtrOf(true)}}
	wantCode(t, "acorn", query(nil, acorn), codes.InvalidArgument, "acorn is not supported")
	prefetch := &qdrant.QueryPoints{CollectionName: "so", Query: qdrant.NewQuery(1, 0), Prefetch: []*qdrant.PrefetchQuery{{Query: qdrant.NewQuery(1, 0), Params: acorn}}}
	_, err := c.Query(ctx, prefetch)
	wantCode(t, "acorn in a prefetch", err, codes.InvalidArgument, "acorn is not supported")
	off := &qdrant.SearchParams{Idf: &qdrant.IdfParams{}, Acorn: &qdrant.AcornSearchParams{Enable: qdrant.PtrOf(false)}}
	if err := query(nil, off); err != nil {
		t.Fatalf("global idf and acorn off: %v", err)
	}
}

// TestClientStrictModeNewKeys: the strict mode keys the 1.19 protos added
// are taken and reported back.
func TestClientStrictModeNewKeys(t *testing.T) {
	ts := startServer(t, serverConfig{})
	c := ts.client(t, "")
	ctx := ctxT(t)
	if err := c.CreateCollection(ctx, &qdrant.CreateCollection{CollectionName: "sm", VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 2, Distance: qdrant.Distance_Dot}),
		StrictModeConfig: &qdrant.StrictModeConfig{Enabled: qdrant.PtrOf(true), SearchMaxBatchsize: qdrant.PtrOf(uint64(2))},
	}); err != nil {
		t.Fatal(err)
	}
	sm := must[*qdrant.CollectionInfo](t, "info")(c.GetCollectionInfo(ctx, "sm")).GetConfig().GetStrictModeConfig()
	if sm.GetSearchMaxBatchsize() != 2 {
		t.Fatalf("strict mode reported as %v", sm)
	}
	q := &qdrant.QueryPoints{CollectionName: "sm", Query: qdrant.NewQuery(1, 0)}
	_, err := c.QueryBatch(ctx, &qdrant.QueryBatchPoints{CollectionName: "sm", QueryPoints: []*qdrant.QueryPoints{q, q, q}})
	wantCode(t, "batch over the limit", err, codes.InvalidArgument, "batch")
	err = c.UpdateCollection(ctx, &qdrant.UpdateCollection{CollectionName: "sm", StrictModeConfig: &qdrant.StrictModeConfig{MaxResidentMemoryPercent: qdrant.PtrOf(uint32(50))}})
	wantCode(t, "max_resident_memory_percent", err, codes.InvalidArgument, "max_resident_memory_percent is not supported")
}

// rawCodec sends and receives messages as the bytes given, so that a test
// can put exactly the wire layout of an older client on the connection.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*v.(*[]byte) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

var _ encoding.Codec = rawCodec{}

// TestOlderClientFieldLayout sends CreateCollection as a go-client v1.17.1
// client encodes it, byte for byte: the flags that 1.19 deprecates in
// favour of memory placements (vector and HNSW on_disk, on_disk_payload,
// scalar always_ram) under their unchanged field numbers. The diff of the
// protos renumbers nothing, so the old layout must keep its meaning.
func TestOlderClientFieldLayout(t *testing.T) {
	ts := startServer(t, serverConfig{})
	conn, err := grpc.NewClient(ts.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	msg := func(fields ...func([]byte) []byte) []byte {
		var b []byte
		for _, f := range fields {
			b = f(b)
		}
		return b
	}
	varint := func(num protowire.Number, v uint64) func([]byte) []byte {
		return func(b []byte) []byte {
			return protowire.AppendVarint(protowire.AppendTag(b, num, protowire.VarintType), v)
		}
	}
	bytesField := func(num protowire.Number, v []byte) func([]byte) []byte {
		return func(b []byte) []byte {
			return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), v)
		}
	}
	hnsw := msg(varint(1, 8), varint(5, 1))                             // HnswConfigDiff{m: 8, on_disk: true}
	params := msg(varint(1, 4), varint(2, uint64(qdrant.Distance_Dot)), // VectorParams{size: 4, distance: Dot,
		bytesField(3, hnsw), varint(5, 1)) // hnsw_config, on_disk: true}
	scalar := msg(varint(1, uint64(qdrant.QuantizationType_Int8)), varint(3, 1)) // ScalarQuantization{type: Int8, always_ram: true}
	req := msg(
		bytesField(1, []byte("old")),               // collection_name
		varint(8, 1),                               // on_disk_payload: true
		bytesField(10, msg(bytesField(1, params))), // vectors_config: {params}
		bytesField(14, msg(bytesField(1, scalar))), // quantization_config: {scalar}
	)
	var resp []byte
	ctx := ctxT(t)
	if err := conn.Invoke(ctx, "/qdrant.Collections/Create", &req, &resp, grpc.ForceCodec(rawCodec{})); err != nil {
		t.Fatal(err)
	}
	c := ts.client(t, "")
	cfg := must[*qdrant.CollectionInfo](t, "info")(c.GetCollectionInfo(ctx, "old")).GetConfig()
	v := cfg.GetParams().GetVectorsConfig().GetParams()
	//nolint:staticcheck // the deprecated flags are what an older client sends and reads.
	if v.GetSize() != 4 || !v.GetOnDisk() || !v.GetHnswConfig().GetOnDisk() || v.GetHnswConfig().GetM() != 8 ||
		!cfg.GetParams().GetOnDiskPayload() || !cfg.GetQuantizationConfig().GetScalar().GetAlwaysRam() {
		t.Fatalf("old layout read as %v", cfg)
	}
}
