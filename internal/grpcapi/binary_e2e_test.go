package grpcapi

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc/codes"
)

// TestBinaryQuantizationGRPC: a collection created over gRPC with binary
// quantization reports it back, searches by the codes (rescore: false
// gives the sign vectors' scores dim − 2·hamming, the default the exact
// scores), updates to the two_bits encoding (scored by its codes as
// Qdrant scores them), refuses one_and_half_bits by name, and updates to scalar
// and then product quantization take effect (the product config echoed
// back, rescored scores exact).
func TestBinaryQuantizationGRPC(t *testing.T) {
	ts := startServer(t, serverConfig{})
	c := ts.client(t, "")
	ctx := ctxT(t)
	const coll, dim = "bq", 32
	err := c.CreateCollection(ctx, &qdrant.CreateCollection{
		CollectionName:   coll,
		VectorsConfig:    qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: dim, Distance: qdrant.Distance_Dot}),
		HnswConfig:       &qdrant.HnswConfigDiff{FullScanThreshold: qdrant.PtrOf(uint64(10))},
		OptimizersConfig: &qdrant.OptimizersConfigDiff{IndexingThreshold: qdrant.PtrOf(uint64(1))},
		QuantizationConfig: qdrant.NewQuantizationBinary(&qdrant.BinaryQuantization{
			AlwaysRam:     qdrant.PtrOf(true),
			Encoding:      qdrant.BinaryQuantizationEncoding_OneBit.Enum(),
			QueryEncoding: qdrant.NewBinaryQuantizationQueryEncodingSetting(qdrant.BinaryQuantizationQueryEncoding_Binary),
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.GetCollectionInfo(ctx, coll)
	if err != nil {
		t.Fatal(err)
	}
	b := info.GetConfig().GetQuantizationConfig().GetBinary()
	if b == nil || !b.GetAlwaysRam() || b.GetEncoding() != qdrant.BinaryQuantizationEncoding_OneBit || b.GetQueryEncoding().GetSetting() != qdrant.BinaryQuantizationQueryEncoding_Binary {
		t.Fatalf("quantization config %v", info.GetConfig().GetQuantizationConfig())
	}
	r := rand.New(rand.NewPCG(9, 10))
	vec := func() []float32 {
		v := make([]float32, dim)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		return v
	}
	var pts []*qdrant.PointStruct
	for i := range 400 {
		pts = append(pts, &qdrant.PointStruct{Id: qdrant.NewIDNum(uint64(i + 1)), Vectors: qdrant.NewVectors(vec()...)})
	}
	if _, err := c.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: coll, Wait: qdrant.PtrOf(true), Points: pts}); err != nil {
		t.Fatal(err)
	}
	q := vec()
	query := func(params *qdrant.SearchParams, limit uint64) []*qdrant.ScoredPoint {
		t.Helper()
		res, err := c.Query(ctx, &qdrant.QueryPoints{CollectionName: coll, Query: qdrant.NewQueryDense(q), Limit: &limit, Params: params})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	exact := map[uint64]float32{}
	for _, h := range query(&qdrant.SearchParams{Exact: qdrant.PtrOf(true)}, 400) {
		exact[h.GetId().GetNum()] = h.GetScore()
	}
	for _, h := range query(&qdrant.SearchParams{Quantization: &qdrant.QuantizationSearchParams{Oversampling: qdrant.PtrOf(3.0)}}, 10) {
		if want := exact[h.GetId().GetNum()]; math.Abs(float64(h.GetScore()-want)) > 1e-5 {
			t.Errorf("rescored score of %d: %v, exact %v", h.GetId().GetNum(), h.GetScore(), want)
		}
	}
	byCodes := query(&qdrant.SearchParams{Quantization: &qdrant.QuantizationSearchParams{Rescore: qdrant.PtrOf(false)}}, 10)
	if len(byCodes) != 10 {
		t.Fatalf("%d hits by codes", len(byCodes))
	}
	for _, h := range byCodes {
		if s := h.GetScore(); s != float32(math.Trunc(float64(s))) || int(s)%2 != 0 || s < -dim || s > dim {
			t.Errorf("score by binary codes %v", s)
		}
	}
	// two_bits: the codes are the thermometer codes of each element's level
	// by its z-score over the stored vectors (−1 at or below −2/3, 0 below
	// 2/3, else +1), and the score by codes is dim − 2·h, h the L1
	// distance between the query's levels and the point's.
	if err := c.UpdateCollection(ctx, &qdrant.UpdateCollection{CollectionName: coll, QuantizationConfig: qdrant.NewQuantizationDiffBinary(&qdrant.BinaryQuantization{
		Encoding: qdrant.BinaryQuantizationEncoding_TwoBits.Enum(),
	})}); err != nil {
		t.Fatal(err)
	}
	var mean, sd [dim]float64
	for _, p := range pts {
		for i, x := range p.GetVectors().GetVector().GetDense().GetData() {
			mean[i] += float64(x) / float64(len(pts))
			sd[i] += float64(x) * float64(x) / float64(len(pts))
		}
	}
	for i := range sd {
		sd[i] = math.Sqrt(sd[i] - mean[i]*mean[i])
	}
	level := func(i int, x float32) int {
		switch z := (float64(x) - mean[i]) / sd[i]; {
		case z <= -2.0/3:
			return -1
		case z < 2.0/3:
			return 0
		}
		return 1
	}
	byID := map[uint64][]float32{}
	for _, p := range pts {
		byID[p.GetId().GetNum()] = p.GetVectors().GetVector().GetDense().GetData()
	}
	byTwoBits := query(&qdrant.SearchParams{Quantization: &qdrant.QuantizationSearchParams{Rescore: qdrant.PtrOf(false)}}, 10)
	if len(byTwoBits) != 10 {
		t.Fatalf("%d hits by two_bits codes", len(byTwoBits))
	}
	for _, h := range byTwoBits {
		if len(byID[h.GetId().GetNum()]) != dim {
			t.Fatalf("point %d has no vector to check", h.GetId().GetNum())
		}
		var l1 int
		for i, x := range byID[h.GetId().GetNum()] {
			d := level(i, x) - level(i, q[i])
			l1 += max(d, -d)
		}
		if want := float32(dim - 2*l1); h.GetScore() != want {
			t.Errorf("two_bits score by codes of %d: %v, want %v", h.GetId().GetNum(), h.GetScore(), want)
		}
	}
	for _, h := range query(&qdrant.SearchParams{Quantization: &qdrant.QuantizationSearchParams{Oversampling: qdrant.PtrOf(3.0)}}, 10) {
		if want := exact[h.GetId().GetNum()]; math.Abs(float64(h.GetScore()-want)) > 1e-5 {
			t.Errorf("two_bits rescored score of %d: %v, exact %v", h.GetId().GetNum(), h.GetScore(), want)
		}
	}
	err = c.UpdateCollection(ctx, &qdrant.UpdateCollection{CollectionName: coll, QuantizationConfig: qdrant.NewQuantizationDiffBinary(&qdrant.BinaryQuantization{
		Encoding: qdrant.BinaryQuantizationEncoding_OneAndHalfBits.Enum(),
	})})
	wantCode(t, "update to one_and_half_bits", err, codes.InvalidArgument, `"one_and_half_bits" is not supported`)
	err = c.UpdateCollection(ctx, &qdrant.UpdateCollection{CollectionName: coll, QuantizationConfig: qdrant.NewQuantizationDiffScalar(&qdrant.ScalarQuantization{Type: qdrant.QuantizationType_Int8})})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range query(&qdrant.SearchParams{Quantization: &qdrant.QuantizationSearchParams{Rescore: qdrant.PtrOf(false)}}, 10) {
		if s := h.GetScore(); s == float32(math.Trunc(float64(s))) {
			t.Errorf("score %v after the update to scalar is an integer: still binary codes?", s)
		}
	}
	err = c.UpdateCollection(ctx, &qdrant.UpdateCollection{CollectionName: coll, QuantizationConfig: qdrant.NewQuantizationDiffProduct(&qdrant.ProductQuantization{
		Compression: qdrant.CompressionRatio_x8, AlwaysRam: qdrant.PtrOf(true),
	})})
	if err != nil {
		t.Fatal(err)
	}
	info, err = c.GetCollectionInfo(ctx, coll)
	if err != nil {
		t.Fatal(err)
	}
	if p := info.GetConfig().GetQuantizationConfig().GetProduct(); p == nil || p.GetCompression() != qdrant.CompressionRatio_x8 || !p.GetAlwaysRam() {
		t.Fatalf("quantization config after the update to product: %v", info.GetConfig().GetQuantizationConfig())
	}
	for _, h := range query(&qdrant.SearchParams{Quantization: &qdrant.QuantizationSearchParams{Oversampling: qdrant.PtrOf(3.0)}}, 10) {
		if want := exact[h.GetId().GetNum()]; math.Abs(float64(h.GetScore()-want)) > 1e-5 {
			t.Errorf("product: rescored score of %d: %v, exact %v", h.GetId().GetNum(), h.GetScore(), want)
		}
	}
}
