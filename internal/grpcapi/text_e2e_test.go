package grpcapi

import (
	"slices"
	"testing"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
)

// TestClientTextFiltering drives full-text filtering through the official
// Go client: a text index with stemming, stopwords and ASCII folding,
// text_any, text and phrase conditions in scroll, count and query, the
// index parameters in collection info, and the errors for languages the
// server has no list or stemmer for.
func TestClientTextFiltering(t *testing.T) {
	ts := startServer(t, serverConfig{})
	c := ts.client(t, "")
	ctx := ctxT(t)
	const coll = "texts"
	if err := c.CreateCollection(ctx, &qdrant.CreateCollection{CollectionName: coll, ShardNumber: qdrant.PtrOf(uint32(2)),
		VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 2, Distance: qdrant.Distance_Dot})}); err != nil {
		t.Fatal(err)
	}
	bodies := map[uint64]any{
		1: "The cats are running in the garden",
		2: "A Café near the station",
		3: "Running shoes for runners",
		4: []any{"Dogs chase cats", "nothing else"},
		5: "Qdrant stores vectors",
	}
	var pts []*qdrant.PointStruct
	for id := uint64(1); id <= 6; id++ {
		payload := map[string]any{"raw": "hello world"}
		if b, ok := bodies[id]; ok {
			payload = map[string]any{"body": b}
		}
		pts = append(pts, &qdrant.PointStruct{Id: qdrant.NewIDNum(id), Vectors: qdrant.NewVectors(1, float32(id)/10), Payload: qdrant.NewValueMap(payload)})
	}
	if _, err := c.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: coll, Wait: qdrant.PtrOf(true), Points: pts}); err != nil {
		t.Fatal(err)
	}
	params := &qdrant.TextIndexParams{
		Tokenizer:      qdrant.TokenizerType_Word,
		Lowercase:      qdrant.PtrOf(true),
		AsciiFolding:   qdrant.PtrOf(true),
		PhraseMatching: qdrant.PtrOf(true),
		MinTokenLen:    qdrant.PtrOf(uint64(2)),
		Stopwords:      &qdrant.StopwordsSet{Languages: []string{"english"}, Custom: []string{"qdrant"}},
		Stemmer:        qdrant.NewStemmingAlgorithmSnowball(&qdrant.SnowballParams{Language: "english"}),
	}
	if _, err := c.CreateFieldIndex(ctx, &qdrant.CreateFieldIndexCollection{CollectionName: coll, Wait: qdrant.PtrOf(true),
		FieldName: "body", FieldType: qdrant.FieldType_FieldTypeText.Enum(), FieldIndexParams: qdrant.NewPayloadIndexParamsText(params)}); err != nil {
		t.Fatal(err)
	}

	scroll := func(cond *qdrant.Condition) []uint64 {
		t.Helper()
		res, err := c.Scroll(ctx, &qdrant.ScrollPoints{CollectionName: coll, Filter: &qdrant.Filter{Must: []*qdrant.Condition{cond}}, Limit: qdrant.PtrOf(uint32(10))})
		if err != nil {
			t.Fatal(err)
		}
		var ids []uint64
		for _, p := range res {
			ids = append(ids, p.GetId().GetNum())
		}
		return ids
	}
	for _, tc := range []struct {
		name string
		cond *qdrant.Condition
		want []uint64
	}{
		{"text_any stemmed", qdrant.NewMatchTextAny("body", "cat station"), []uint64{1, 2, 4}},
		{"text_any folded", qdrant.NewMatchTextAny("body", "CAFE dog"), []uint64{2, 4}},
		{"text_any stopwords", qdrant.NewMatchTextAny("body", "the qdrant"), nil},
		{"text_any unindexed", qdrant.NewMatchTextAny("raw", "orl xyz"), []uint64{6}},
		{"text", qdrant.NewMatchText("body", "running cat"), []uint64{1}},
		{"phrase", qdrant.NewMatchPhrase("body", "cats run"), []uint64{1}},
		{"phrase order", qdrant.NewMatchPhrase("body", "run cats"), nil},
	} {
		if got := scroll(tc.cond); !slices.Equal(got, tc.want) {
			t.Errorf("%s: ids %v, want %v", tc.name, got, tc.want)
		}
	}
	n, err := c.Count(ctx, &qdrant.CountPoints{CollectionName: coll, Exact: qdrant.PtrOf(true),
		Filter: &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatchTextAny("body", "runner dog garden")}}})
	if err != nil || n != 3 {
		t.Errorf("count: %d %v, want 3", n, err)
	}
	hits, err := c.Query(ctx, &qdrant.QueryPoints{CollectionName: coll, Query: qdrant.NewQuery(1, 1), Limit: qdrant.PtrOf(uint64(10)),
		Filter: &qdrant.Filter{MustNot: []*qdrant.Condition{qdrant.NewMatchTextAny("body", "cat dog")}}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for _, h := range hits {
		ids = append(ids, h.GetId().GetNum())
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []uint64{2, 3, 5, 6}) {
		t.Errorf("query with must_not text_any: ids %v", ids)
	}

	// The parameters come back as they were sent.
	info, err := c.GetCollectionInfo(ctx, coll)
	if err != nil {
		t.Fatal(err)
	}
	schema := info.GetPayloadSchema()["body"]
	if schema.GetDataType() != qdrant.PayloadSchemaType_Text || schema.GetPoints() != 5 || !proto.Equal(schema.GetParams().GetTextIndexParams(), params) {
		t.Errorf("payload schema: %v, want text params %v", schema, params)
	}

	// Languages without a list or a stemmer here are invalid arguments
	// that name the language.
	for _, tc := range []struct {
		params *qdrant.TextIndexParams
		want   string
	}{
		{&qdrant.TextIndexParams{Stopwords: &qdrant.StopwordsSet{Languages: []string{"klingon"}}}, `unknown language "klingon"`},
		{&qdrant.TextIndexParams{Stopwords: &qdrant.StopwordsSet{Languages: []string{"english", "japanese"}}}, `"japanese" list is not available`},
		{&qdrant.TextIndexParams{Stemmer: qdrant.NewStemmingAlgorithmSnowball(&qdrant.SnowballParams{Language: "german"})}, `snowball stemming for "german" is not available`},
	} {
		_, err := c.CreateFieldIndex(ctx, &qdrant.CreateFieldIndexCollection{CollectionName: coll, Wait: qdrant.PtrOf(true),
			FieldName: "bad", FieldType: qdrant.FieldType_FieldTypeText.Enum(), FieldIndexParams: qdrant.NewPayloadIndexParamsText(tc.params)})
		wantCode(t, tc.want, err, codes.InvalidArgument, tc.want)
	}
	info, err = c.GetCollectionInfo(ctx, coll)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := info.GetPayloadSchema()["bad"]; ok {
		t.Errorf("a refused index stayed: %v", info.GetPayloadSchema())
	}
}
