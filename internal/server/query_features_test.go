package server

import (
	"context"
	"slices"
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

// TestMMRAlike runs nearest queries with maximal marginal relevance over
// REST and gRPC: without diversity the hits are the nearest ones; with
// full diversity the second hit is the one least like the first; the hits
// keep their query scores; bad parameters are refused alike.
func TestMMRAlike(t *testing.T) {
	s := start(t, testConfig(t, t.TempDir()))
	c := newREST(t, s)
	c.ok("PUT", "/collections/m", map[string]any{"vectors": map[string]any{"size": 2, "distance": "Cosine"},
		"sparse_vectors": map[string]any{"sp": map[string]any{}}, "shard_number": 2})
	c.ok("PUT", "/collections/m/points?wait=true", map[string]any{"points": []any{
		map[string]any{"id": 1, "vector": map[string]any{"": []float32{1, 0}, "sp": map[string]any{"indices": []int{1}, "values": []float32{1}}}},
		map[string]any{"id": 2, "vector": map[string]any{"": []float32{0.99, 0.05}, "sp": map[string]any{"indices": []int{1}, "values": []float32{0.9}}}},
		map[string]any{"id": 3, "vector": map[string]any{"": []float32{0.6, 0.8}, "sp": map[string]any{"indices": []int{1, 2}, "values": []float32{0.5, 0.5}}}},
		map[string]any{"id": 4, "vector": map[string]any{"": []float32{0.1, 1}, "sp": map[string]any{"indices": []int{2}, "values": []float32{1}}}},
	}})
	conn, err := grpc.NewClient(s.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	points := qdrant.NewPointsClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	restIDs := func(body map[string]any) ([]float64, []float64) {
		t.Helper()
		pts := c.ok("POST", "/collections/m/points/query", body)["result"].(map[string]any)["points"].([]any)
		var ids, scores []float64
		for _, p := range pts {
			ids = append(ids, p.(map[string]any)["id"].(float64))
			scores = append(scores, p.(map[string]any)["score"].(float64))
		}
		return ids, scores
	}
	grpcIDs := func(q *qdrant.Query, using *string, limit uint64) []float64 {
		t.Helper()
		res, err := points.Query(ctx, &qdrant.QueryPoints{CollectionName: "m", Query: q, Using: using, Limit: proto.Uint64(limit)})
		if err != nil {
			t.Fatal(err)
		}
		var ids []float64
		for _, p := range res.GetResult() {
			ids = append(ids, float64(p.GetId().GetNum()))
		}
		return ids
	}
	f32 := proto.Float32
	for _, tc := range []struct {
		diversity float32
		want      []float64
	}{
		{0, []float64{1, 2, 3}},
		{1, []float64{1, 4, 3}},
	} {
		ids, scores := restIDs(map[string]any{"query": map[string]any{"nearest": []float32{1, 0}, "mmr": map[string]any{"diversity": tc.diversity, "candidates_limit": 4}}, "limit": 3})
		if !slices.Equal(ids, tc.want) {
			t.Errorf("REST diversity %v: %v, want %v", tc.diversity, ids, tc.want)
		}
		if scores[0] < 0.99 || scores[1] >= scores[0] && tc.diversity == 1 {
			t.Errorf("REST diversity %v: scores %v are not the query scores", tc.diversity, scores)
		}
		g := grpcIDs(qdrant.NewQueryMMR(qdrant.NewVectorInput(1, 0), &qdrant.Mmr{Diversity: f32(tc.diversity), CandidatesLimit: proto.Uint32(4)}), nil, 3)
		if !slices.Equal(g, tc.want) {
			t.Errorf("gRPC diversity %v: %v, want %v", tc.diversity, g, tc.want)
		}
	}
	// The candidates bound the choice: only the 2 nearest are considered.
	if ids, _ := restIDs(map[string]any{"query": map[string]any{"nearest": []float32{1, 0}, "mmr": map[string]any{"diversity": 1, "candidates_limit": 2}}, "limit": 3}); !slices.Equal(ids, []float64{1, 2}) {
		t.Errorf("candidates_limit 2: %v", ids)
	}
	// Sparse: full diversity picks the point sharing no dimension second.
	sp := "sp"
	if ids, _ := restIDs(map[string]any{"query": map[string]any{"nearest": map[string]any{"indices": []int{1, 2}, "values": []float32{1, 0.1}}, "mmr": map[string]any{"diversity": 1, "candidates_limit": 4}}, "using": "sp", "limit": 2}); !slices.Equal(ids, []float64{1, 4}) {
		t.Errorf("sparse REST: %v", ids)
	}
	if g := grpcIDs(qdrant.NewQueryMMR(qdrant.NewVectorInputSparse([]uint32{1, 2}, []float32{1, 0.1}), &qdrant.Mmr{Diversity: f32(1), CandidatesLimit: proto.Uint32(4)}), &sp, 2); !slices.Equal(g, []float64{1, 4}) {
		t.Errorf("sparse gRPC: %v", g)
	}

	// Refusals, alike.
	code, msg := parityREST(t, c, parityCase{method: "POST", path: "m/points/query", body: `{"query": {"nearest": [1, 0], "mmr": {"diversity": 1.5}}}`})
	_, err = points.Query(ctx, &qdrant.QueryPoints{CollectionName: "m", Query: qdrant.NewQueryMMR(qdrant.NewVectorInput(1, 0), &qdrant.Mmr{Diversity: f32(1.5)})})
	st := status.Convert(err)
	if code != 400 || st.Code() != codes.InvalidArgument || msg != st.Message() || !strings.Contains(msg, "mmr.diversity: value 1.5 invalid") {
		t.Errorf("diversity 1.5: REST %d %s, gRPC %s %s", code, msg, st.Code(), st.Message())
	}
	code, msg = parityREST(t, c, parityCase{method: "POST", path: "m/points/query", body: `{"query": {"nearest": [1, 0], "mmr": {"candidates_limit": 20000}}}`})
	if code != 400 || !strings.Contains(msg, "mmr.candidates_limit") {
		t.Errorf("candidates_limit 20000: %d %s", code, msg)
	}
	code, msg = parityREST(t, c, parityCase{method: "POST", path: "m/points/query", body: `{"query": {"recommend": {"positive": [1]}, "mmr": {}}}`})
	if code != 400 || !strings.Contains(msg, "mmr is an option of a nearest query") {
		t.Errorf("mmr with recommend: %d %s", code, msg)
	}
}

// TestFormulaAlike re-scores prefetched points with formulas over REST and
// gRPC: both give the same hits and scores, computed as Qdrant defines
// them; formula errors read alike.
func TestFormulaAlike(t *testing.T) {
	s := start(t, testConfig(t, t.TempDir()))
	c := newREST(t, s)
	c.ok("PUT", "/collections/f", map[string]any{"vectors": map[string]any{"size": 2, "distance": "Dot"}, "shard_number": 2})
	c.ok("PUT", "/collections/f/points?wait=true", map[string]any{"points": []any{
		map[string]any{"id": 1, "vector": []float32{1, 0}, "payload": map[string]any{"price": 2, "tag": "cold", "loc": map[string]any{"lat": 52.52, "lon": 13.405}, "at": "2025-01-01T00:00:00Z"}},
		map[string]any{"id": 2, "vector": []float32{0.5, 0}, "payload": map[string]any{"price": 10, "tag": "hot", "loc": map[string]any{"lat": 48.8566, "lon": 2.3522}, "at": "2025-01-02T00:00:00Z"}},
		map[string]any{"id": 3, "vector": []float32{0.25, 0}, "payload": map[string]any{"tag": "hot", "loc": map[string]any{"lat": 52.5, "lon": 13.4}, "at": "2025-01-03T00:00:00Z"}},
	}})
	conn, err := grpc.NewClient(s.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	points := qdrant.NewPointsClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type hit struct {
		id    float64
		score float64
	}
	rest := func(formula any, defaults map[string]any) ([]hit, int, string) {
		t.Helper()
		q := map[string]any{"formula": formula}
		if defaults != nil {
			q["defaults"] = defaults
		}
		code, out := c.do("POST", "/collections/f/points/query", map[string]any{"prefetch": map[string]any{"query": []float32{1, 0}, "limit": 10}, "query": q, "limit": 10})
		if code != 200 {
			return nil, code, out["status"].(map[string]any)["error"].(string)
		}
		var hs []hit
		for _, p := range out["result"].(map[string]any)["points"].([]any) {
			m := p.(map[string]any)
			hs = append(hs, hit{m["id"].(float64), m["score"].(float64)})
		}
		return hs, code, ""
	}
	grpcQ := func(f *qdrant.Formula) ([]hit, codes.Code, string) {
		t.Helper()
		res, err := points.Query(ctx, &qdrant.QueryPoints{CollectionName: "f", Prefetch: []*qdrant.PrefetchQuery{{Query: qdrant.NewQuery(1, 0), Limit: proto.Uint64(10)}},
			Query: qdrant.NewQueryFormula(f), Limit: proto.Uint64(10)})
		if err != nil {
			st := status.Convert(err)
			return nil, st.Code(), st.Message()
		}
		var hs []hit
		for _, p := range res.GetResult() {
			hs = append(hs, hit{float64(p.GetId().GetNum()), float64(p.GetScore())})
		}
		return hs, codes.OK, ""
	}
	near := func(a, b float64) bool { return a-b < 1e-4 && b-a < 1e-4 }
	same := func(name string, a, b []hit) {
		t.Helper()
		if len(a) != len(b) {
			t.Errorf("%s: REST %v, gRPC %v", name, a, b)
			return
		}
		for i := range a {
			if a[i].id != b[i].id || !near(a[i].score, b[i].score) {
				t.Errorf("%s: REST %v, gRPC %v", name, a, b)
				return
			}
		}
	}
	hot := qdrant.NewMatch("tag", "hot")
	E := qdrant.NewExpressionConstant
	V := qdrant.NewExpressionVariable

	// Boost "hot" points: $score + 0.5 × (tag = hot).
	r, _, _ := rest(map[string]any{"sum": []any{"$score", map[string]any{"mult": []any{0.5, map[string]any{"key": "tag", "match": map[string]any{"value": "hot"}}}}}}, nil)
	// 1: 1 + 0; 2: 0.5 + 0.5; 3: 0.25 + 0.5 (ties in id order).
	if len(r) != 3 || r[0].id != 1 || r[1].id != 2 || !near(r[1].score, 1.0) || !near(r[2].score, 0.75) || r[2].id != 3 {
		t.Errorf("boost: %v", r)
	}
	g, _, _ := grpcQ(&qdrant.Formula{Expression: qdrant.NewExpressionSum(&qdrant.SumExpression{Sum: []*qdrant.Expression{V("$score"),
		qdrant.NewExpressionMult(&qdrant.MultExpression{Mult: []*qdrant.Expression{E(0.5), qdrant.NewExpressionCondition(hot)}})}})})
	same("boost", r, g)

	// Payload variable with a default: $score × price (price 1 when missing).
	r, _, _ = rest(map[string]any{"mult": []any{"$score", "price"}}, map[string]any{"price": 1})
	if len(r) != 3 || r[0].id != 2 || !near(r[0].score, 5) || r[1].id != 1 || !near(r[1].score, 2) || !near(r[2].score, 0.25) {
		t.Errorf("price: %v", r)
	}
	g, _, _ = grpcQ(&qdrant.Formula{Expression: qdrant.NewExpressionMult(&qdrant.MultExpression{Mult: []*qdrant.Expression{V("$score"), V("price")}}),
		Defaults: map[string]*qdrant.Value{"price": qdrant.NewValueInt(1)}})
	same("price", r, g)

	// Decays: exp_decay of the distance to Berlin (scale 1000 km): Berlin
	// points first; gauss decay of a datetime key; lin decay.
	r, _, _ = rest(map[string]any{"exp_decay": map[string]any{"x": map[string]any{"geo_distance": map[string]any{"origin": map[string]any{"lat": 52.52, "lon": 13.405}, "to": "loc"}}, "scale": 1000000}}, nil)
	if len(r) != 3 || r[0].id != 1 || !near(r[0].score, 1) || r[2].id != 2 || r[2].score < 0.5 || r[2].score > 0.6 {
		t.Errorf("geo decay: %v", r)
	}
	g, _, _ = grpcQ(&qdrant.Formula{Expression: qdrant.NewExpressionExpDecay(&qdrant.DecayParamsExpression{
		X: qdrant.NewExpressionGeoDistance(&qdrant.GeoDistance{Origin: &qdrant.GeoPoint{Lat: 52.52, Lon: 13.405}, To: "loc"}), Scale: proto.Float32(1000000)})})
	same("geo decay", r, g)
	r, _, _ = rest(map[string]any{"gauss_decay": map[string]any{"x": map[string]any{"datetime_key": "at"}, "target": map[string]any{"datetime": "2025-01-03T00:00:00Z"}, "scale": 86400, "midpoint": 0.5}}, nil)
	if len(r) != 3 || r[0].id != 3 || !near(r[0].score, 1) || r[1].id != 2 || !near(r[1].score, 0.5) || !near(r[2].score, 0.0625) {
		t.Errorf("datetime decay: %v", r)
	}
	g, _, _ = grpcQ(&qdrant.Formula{Expression: qdrant.NewExpressionGaussDecay(&qdrant.DecayParamsExpression{X: qdrant.NewExpressionDatetimeKey("at"),
		Target: qdrant.NewExpressionDatetime("2025-01-03T00:00:00Z"), Scale: proto.Float32(86400), Midpoint: proto.Float32(0.5)})})
	same("datetime decay", r, g)
	r, _, _ = rest(map[string]any{"lin_decay": map[string]any{"x": "price", "target": 10, "scale": 10}}, map[string]any{"price": 0})
	if len(r) != 3 || r[0].id != 2 || !near(r[0].score, 1) || r[1].id != 1 || !near(r[1].score, 0.6) || !near(r[2].score, 0.5) {
		t.Errorf("lin decay: %v", r)
	}
	// Arithmetic: abs, neg, pow, sqrt, ln, log10, exp, div with a zero default.
	r, _, _ = rest(map[string]any{"sum": []any{
		map[string]any{"abs": map[string]any{"neg": 2}},
		map[string]any{"pow": map[string]any{"base": 2, "exponent": 3}},
		map[string]any{"sqrt": 16},
		map[string]any{"ln": 1},
		map[string]any{"log10": 100},
		map[string]any{"exp": 0},
		map[string]any{"div": map[string]any{"left": 1, "right": map[string]any{"sum": []any{"price", -2}}, "by_zero_default": 7}},
	}}, map[string]any{"price": 0})
	// 2 + 8 + 4 + 0 + 2 + 1 = 17, plus 1/(price-2): id 1 → 7, id 2 → 0.125, id 3 → -0.5.
	if len(r) != 3 || r[0].id != 1 || !near(r[0].score, 24) || !near(r[1].score, 17.125) || !near(r[2].score, 16.5) {
		t.Errorf("arithmetic: %v", r)
	}

	// Errors, alike.
	for _, tc := range []struct {
		name    string
		formula any
		g       *qdrant.Formula
		want    string
	}{
		{"missing variable", map[string]any{"mult": []any{"$score", "price"}}, &qdrant.Formula{Expression: qdrant.NewExpressionMult(&qdrant.MultExpression{Mult: []*qdrant.Expression{V("$score"), V("price")}})},
			"Expected number value for price in the payload and/or in the formula defaults. Error: No value found in a payload nor defaults"},
		{"sqrt of negative", map[string]any{"sqrt": -1}, &qdrant.Formula{Expression: qdrant.NewExpressionSqrt(E(-1))}, "The expression √-1 = NaN produced a non-finite number"},
		{"bad reserved word", "$scores", &qdrant.Formula{Expression: V("$scores")}, "Invalid reserved"},
		{"bad midpoint", map[string]any{"exp_decay": map[string]any{"x": 1, "midpoint": 1}}, &qdrant.Formula{Expression: qdrant.NewExpressionExpDecay(&qdrant.DecayParamsExpression{X: E(1), Midpoint: proto.Float32(1)})},
			"Decay midpoint should be in the range (0.0, 1.0), got 1."},
	} {
		_, code, msg := rest(tc.formula, nil)
		_, gc, gmsg := grpcQ(tc.g)
		if code != 400 || gc != codes.InvalidArgument || msg != gmsg || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: REST %d %s, gRPC %s %s", tc.name, code, msg, gc, gmsg)
		}
	}
	code, msg := parityREST(t, c, parityCase{method: "POST", path: "f/points/query", body: `{"query": {"formula": 1}}`})
	if code != 400 || !strings.Contains(msg, "Formula queries need at least one prefetch") {
		t.Errorf("no prefetch: %d %s", code, msg)
	}
	code, msg = parityREST(t, c, parityCase{method: "POST", path: "f/points/query", body: `{"prefetch": {"query": [1, 0]}, "query": {"formula": {"div": {"left": 1, "rigth": 2}}}}`})
	if code != 400 || !strings.Contains(msg, "rigth") {
		t.Errorf("unknown member: %d %s", code, msg)
	}
}

// TestRelevanceFeedbackAlike runs the naive relevance feedback query over
// REST and gRPC: with a = 0 only the feedback pairs rank the points, so
// the points nearest the better-scored example come first; with c = 0 it
// is a nearest search scaled by a. Scores match the formula.
func TestRelevanceFeedbackAlike(t *testing.T) {
	s := start(t, testConfig(t, t.TempDir()))
	c := newREST(t, s)
	c.ok("PUT", "/collections/r", map[string]any{"vectors": map[string]any{"size": 2, "distance": "Dot"}, "shard_number": 2})
	c.ok("PUT", "/collections/r/points?wait=true", map[string]any{"points": []any{
		map[string]any{"id": 1, "vector": []float32{1, 0}},
		map[string]any{"id": 2, "vector": []float32{0, 1}},
		map[string]any{"id": 3, "vector": []float32{0.5, 0.5}},
	}})
	conn, err := grpc.NewClient(s.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	points := qdrant.NewPointsClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type hit struct {
		id    uint64
		score float32
	}
	rest := func(a, b, cc float32) []hit {
		t.Helper()
		out := c.ok("POST", "/collections/r/points/query", map[string]any{"query": map[string]any{"relevance_feedback": map[string]any{
			"target":   []float32{1, 0},
			"feedback": []any{map[string]any{"example": 2, "score": 0.9}, map[string]any{"example": []float32{1, 0}, "score": 0.1}},
			"strategy": map[string]any{"naive": map[string]any{"a": a, "b": b, "c": cc}},
		}}, "limit": 3})
		var hs []hit
		for _, p := range out["result"].(map[string]any)["points"].([]any) {
			m := p.(map[string]any)
			hs = append(hs, hit{uint64(m["id"].(float64)), float32(m["score"].(float64))})
		}
		return hs
	}
	grpcQ := func(a, b, cc float32) []hit {
		t.Helper()
		res, err := points.Query(ctx, &qdrant.QueryPoints{CollectionName: "r", Limit: proto.Uint64(3), Query: &qdrant.Query{Variant: &qdrant.Query_RelevanceFeedback{
			RelevanceFeedback: &qdrant.RelevanceFeedbackInput{
				Target: qdrant.NewVectorInput(1, 0),
				Feedback: []*qdrant.FeedbackItem{{Example: qdrant.NewVectorInputID(qdrant.NewIDNum(2)), Score: 0.9},
					{Example: qdrant.NewVectorInput(1, 0), Score: 0.1}},
				Strategy: &qdrant.FeedbackStrategy{Variant: &qdrant.FeedbackStrategy_Naive{Naive: &qdrant.NaiveFeedbackStrategy{A: a, B: b, C: cc}}},
			}}}})
		if err != nil {
			t.Fatal(err)
		}
		var hs []hit
		for _, p := range res.GetResult() {
			hs = append(hs, hit{p.GetId().GetNum(), p.GetScore()})
		}
		return hs
	}
	near := func(a, b float32) bool { return a-b < 1e-5 && b-a < 1e-5 }
	// Pair (better: point 2's vector (0,1), worse: (1,0)), weight 0.8^1 × 1:
	// score = a × x₁ + 0.8 × c × (x₂ − x₁). Point 2, an example given by id,
	// is excluded, as example ids are in recommend.
	for _, tc := range []struct{ a, b, c float32 }{{0, 1, 1}, {2, 1, 0}} {
		r, g := rest(tc.a, tc.b, tc.c), grpcQ(tc.a, tc.b, tc.c)
		if len(r) != len(g) {
			t.Fatalf("a=%v c=%v: REST %v, gRPC %v", tc.a, tc.c, r, g)
		}
		for i := range r {
			if r[i].id != g[i].id || !near(r[i].score, g[i].score) {
				t.Errorf("a=%v c=%v: REST %v, gRPC %v", tc.a, tc.c, r, g)
			}
		}
	}
	if r := rest(0, 1, 1); len(r) != 2 || r[0].id != 3 || !near(r[0].score, 0) || r[1].id != 1 || !near(r[1].score, -0.8) {
		t.Errorf("feedback toward (0,1): %v", r)
	}
	if r := rest(2, 1, 0); len(r) < 2 || r[0].id != 1 || !near(r[0].score, 2) || r[1].id != 3 || !near(r[1].score, 1) {
		t.Errorf("a only: %v", r)
	}
	code, msg := parityREST(t, c, parityCase{method: "POST", path: "r/points/query", body: `{"query": {"relevance_feedback": {"target": [1, 0], "feedback": [], "strategy": {"naive": {"a": 1, "b": -1, "c": 1}}}}}`})
	if code != 400 || !strings.Contains(msg, "strategy.naive") {
		t.Errorf("b < 0: %d %s", code, msg)
	}
}

// TestMatchPrefix filters by match prefix (REST: the served gRPC protos
// have no such match) with and without a keyword index: byte-wise and
// case-sensitive, on single values and arrays.
func TestMatchPrefix(t *testing.T) {
	s := start(t, testConfig(t, t.TempDir()))
	c := newREST(t, s)
	c.ok("PUT", "/collections/p", map[string]any{"vectors": map[string]any{"size": 2, "distance": "Dot"}})
	c.ok("PUT", "/collections/p/points?wait=true", map[string]any{"points": []any{
		map[string]any{"id": 1, "vector": []float32{1, 0}, "payload": map[string]any{"sku": "AB-100"}},
		map[string]any{"id": 2, "vector": []float32{1, 0}, "payload": map[string]any{"sku": []any{"x", "AB-200"}}},
		map[string]any{"id": 3, "vector": []float32{1, 0}, "payload": map[string]any{"sku": "ab-300"}},
		map[string]any{"id": 4, "vector": []float32{1, 0}, "payload": map[string]any{"sku": 12}},
	}})
	ids := func() []float64 {
		t.Helper()
		out := c.ok("POST", "/collections/p/points/scroll", map[string]any{"filter": map[string]any{"must": []any{map[string]any{"key": "sku", "match": map[string]any{"prefix": "AB-"}}}}})
		var ids []float64
		for _, p := range out["result"].(map[string]any)["points"].([]any) {
			ids = append(ids, p.(map[string]any)["id"].(float64))
		}
		return ids
	}
	if got := ids(); !slices.Equal(got, []float64{1, 2}) {
		t.Errorf("without index: %v", got)
	}
	c.ok("PUT", "/collections/p/index?wait=true", map[string]any{"field_name": "sku", "field_schema": "keyword"})
	if got := ids(); !slices.Equal(got, []float64{1, 2}) {
		t.Errorf("with a keyword index: %v", got)
	}
	code, msg := parityREST(t, c, parityCase{method: "POST", path: "p/points/scroll", body: `{"filter": {"must": [{"key": "sku", "match": {"prefix": 1}}]}}`})
	if code != 400 || !strings.Contains(msg, "match prefix must be a string") {
		t.Errorf("prefix 1: %d %s", code, msg)
	}
}
