package grpcapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/p2p"
)

func TestPointIDRoundTrip(t *testing.T) {
	u := uuid.MustParse("5c56c793-69f3-4fbf-87e6-c4bf54c28c26")
	for _, id := range []api.PointID{api.NumID(0), api.NumID(42), api.NumID(math.MaxUint64), api.UUIDID(u)} {
		p := idToProto(id)
		back, err := idFromProto(p)
		if err != nil {
			t.Fatalf("%v: %v", id, err)
		}
		if back != id {
			t.Fatalf("round trip of %v gave %v", id, back)
		}
	}
	// UUIDs in other spellings normalise to the hyphenated lower-case form.
	got, err := idFromProto(qdrant.NewIDUUID("5C56C79369F34FBF87E6C4BF54C28C26"))
	if err != nil || got != api.UUIDID(u) {
		t.Fatalf("upper-case unhyphenated uuid: %v %v", got, err)
	}
	for _, bad := range []*qdrant.PointId{qdrant.NewIDUUID("not-a-uuid"), {}, nil} {
		if _, err := idFromProto(bad); api.KindOf(err) != api.KindBadInput {
			t.Fatalf("id %v: want bad input, got %v", bad, err)
		}
	}
}

// protoPayload exercises every value kind, the int64 extremes and doubles
// that look like integers.
func protoPayload() map[string]*qdrant.Value {
	return map[string]*qdrant.Value{
		"int":       qdrant.NewValueInt(123),
		"neg":       qdrant.NewValueInt(-7),
		"maxint":    qdrant.NewValueInt(math.MaxInt64),
		"minint":    qdrant.NewValueInt(math.MinInt64),
		"one":       qdrant.NewValueDouble(1.0),
		"tenth":     qdrant.NewValueDouble(0.1),
		"huge":      qdrant.NewValueDouble(1e300),
		"e21":       qdrant.NewValueDouble(1e21),
		"negzero":   qdrant.NewValueDouble(math.Copysign(0, -1)),
		"tiny":      qdrant.NewValueDouble(5e-324),
		"str":       qdrant.NewValueString("héllo"),
		"yes":       qdrant.NewValueBool(true),
		"null":      qdrant.NewValueNull(),
		"emptylist": qdrant.NewValueFromList(),
		"emptyobj":  qdrant.NewValueFromFields(map[string]*qdrant.Value{}),
		"nested": qdrant.NewValueFromFields(map[string]*qdrant.Value{
			"list": qdrant.NewValueFromList(qdrant.NewValueInt(1), qdrant.NewValueDouble(2.5), qdrant.NewValueNull(),
				qdrant.NewValueFromFields(map[string]*qdrant.Value{"deep": qdrant.NewValueString("x")})),
			"city": qdrant.NewValueString("Berlin"),
		}),
	}
}

func TestPayloadProtoRoundTrip(t *testing.T) {
	in := protoPayload()
	p, err := payloadFromProto(in)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]json.Number{
		"int": "123", "neg": "-7", "maxint": "9223372036854775807", "minint": "-9223372036854775808",
		"one": "1.0", "tenth": "0.1", "huge": "1e+300", "e21": "1e+21", "negzero": "-0.0", "tiny": "5e-324",
	} {
		if p[k] != want {
			t.Errorf("%s: got %#v, want %#v", k, p[k], want)
		}
	}
	if p["null"] != nil || p["yes"] != true || p["str"] != "héllo" {
		t.Errorf("scalars: %#v %#v %#v", p["null"], p["yes"], p["str"])
	}
	back, err := payloadToProto(p)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&qdrant.Struct{Fields: in}, &qdrant.Struct{Fields: back}) {
		t.Fatalf("proto -> api -> proto changed the payload:\n in=%v\nout=%v", in, back)
	}
	// The api form encodes to JSON that REST decodes to the same api form.
	js, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := api.DecodePayload(js)
	if err != nil {
		t.Fatal(err)
	}
	back2, err := payloadToProto(p2)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&qdrant.Struct{Fields: in}, &qdrant.Struct{Fields: back2}) {
		t.Fatalf("proto -> api -> JSON -> api -> proto changed the payload: %s", js)
	}
}

func TestPayloadFromRESTJSON(t *testing.T) {
	const doc = `{"a":1,"b":1.5,"c":18446744073709551615,"d":-3,"e":[1,"x",null,{"f":true}],"g":{"h":{"i":2.0}},"n":null}`
	p, err := api.DecodePayload([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	pp, err := payloadToProto(p)
	if err != nil {
		t.Fatal(err)
	}
	if pp["a"].GetIntegerValue() != 1 || pp["d"].GetIntegerValue() != -3 {
		t.Errorf("integers: %v %v", pp["a"], pp["d"])
	}
	if _, ok := pp["b"].GetKind().(*qdrant.Value_DoubleValue); !ok || pp["b"].GetDoubleValue() != 1.5 {
		t.Errorf("b: %v", pp["b"])
	}
	// An integer beyond int64 travels as a double, as in Qdrant.
	if _, ok := pp["c"].GetKind().(*qdrant.Value_DoubleValue); !ok || pp["c"].GetDoubleValue() != 18446744073709551615 {
		t.Errorf("c: %v", pp["c"])
	}
	// 2.0 written in JSON is a double and stays one.
	if _, ok := pp["g"].GetStructValue().GetFields()["h"].GetStructValue().GetFields()["i"].GetKind().(*qdrant.Value_DoubleValue); !ok {
		t.Errorf("g.h.i is not a double: %v", pp["g"])
	}
	if _, ok := pp["n"].GetKind().(*qdrant.Value_NullValue); !ok {
		t.Errorf("n: %v", pp["n"])
	}
	back, err := payloadFromProto(pp)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(back)
	want := `{"a":1,"b":1.5,"c":1.8446744073709552e+19,"d":-3,"e":[1,"x",null,{"f":true}],"g":{"h":{"i":2.0}},"n":null}`
	if string(js) != want {
		t.Errorf("round trip:\n got %s\nwant %s", js, want)
	}
}

func TestPayloadRejectsNonFiniteAndDeepValues(t *testing.T) {
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		_, err := payloadFromProto(map[string]*qdrant.Value{"x": qdrant.NewValueDouble(f)})
		if api.KindOf(err) != api.KindBadInput || !strings.Contains(api.Message(err), "finite") {
			t.Errorf("%v: got %v", f, err)
		}
	}
	v := qdrant.NewValueInt(1)
	for range api.MaxPayloadDepth + 5 {
		v = qdrant.NewValueFromList(v)
	}
	if _, err := payloadFromProto(map[string]*qdrant.Value{"deep": v}); api.KindOf(err) != api.KindBadInput {
		t.Errorf("deep payload: got %v", err)
	}
}

func ts(s string) *timestamppb.Timestamp {
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return timestamppb.New(tm)
}

// protoFilterAllKinds uses every condition and match kind that Shoal
// supports.
func protoFilterAllKinds() *qdrant.Filter {
	f64 := func(x float64) *float64 { return &x }
	u64 := func(x uint64) *uint64 { return &x }
	yes, no := true, false
	return &qdrant.Filter{
		Must: []*qdrant.Condition{
			qdrant.NewMatchKeyword("city", "Berlin"),
			qdrant.NewMatchInt("count", -5),
			qdrant.NewMatchBool("ok", true),
			qdrant.NewMatchText("desc", "good cheap"),
			qdrant.NewMatchPhrase("desc", "very good"),
			qdrant.NewMatchKeywords("color", "red", "green"),
			qdrant.NewMatchInts("size", 1, 2, 3),
			qdrant.NewRange("price", &qdrant.Range{Gte: f64(1.5), Lt: f64(100)}),
			qdrant.NewDatetimeRange("at", &qdrant.DatetimeRange{Gt: ts("2024-01-02T03:04:05.123456789Z"), Lte: ts("2025-01-01T00:00:00Z")}),
			qdrant.NewGeoRadius("loc", 52.52, 13.405, 1000),
			qdrant.NewGeoBoundingBox("loc", 53, 13, 52, 14),
			qdrant.NewGeoPolygon("loc",
				&qdrant.GeoLineString{Points: []*qdrant.GeoPoint{{Lon: 0, Lat: 0}, {Lon: 1, Lat: 0}, {Lon: 1, Lat: 1}, {Lon: 0, Lat: 0}}},
				&qdrant.GeoLineString{Points: []*qdrant.GeoPoint{{Lon: 0.2, Lat: 0.2}, {Lon: 0.3, Lat: 0.2}, {Lon: 0.2, Lat: 0.2}}}),
			qdrant.NewValuesCount("tags", &qdrant.ValuesCount{Gt: u64(1), Lte: u64(10)}),
			{ConditionOneOf: &qdrant.Condition_Field{Field: &qdrant.FieldCondition{Key: "maybe", IsEmpty: &yes}}},
			{ConditionOneOf: &qdrant.Condition_Field{Field: &qdrant.FieldCondition{Key: "maybe", IsNull: &no}}},
		},
		Should: []*qdrant.Condition{
			qdrant.NewIsEmpty("tags"),
			qdrant.NewIsNull("owner"),
			qdrant.NewHasID(qdrant.NewIDNum(1), qdrant.NewIDUUID("5c56c793-69f3-4fbf-87e6-c4bf54c28c26")),
			qdrant.NewHasVector("image"),
			qdrant.NewMatchTextAny("description", "good cheap"),
		},
		MustNot: []*qdrant.Condition{
			qdrant.NewMatchExceptKeywords("color", "blue"),
			qdrant.NewMatchExceptInts("size", 9),
			qdrant.NewNestedFilter("items", &qdrant.Filter{Must: []*qdrant.Condition{
				qdrant.NewMatchKeyword("items[].kind", "x"),
				qdrant.NewFilterAsCondition(&qdrant.Filter{Should: []*qdrant.Condition{qdrant.NewMatchInt("items[].n", 3)}}),
			}}),
		},
		MinShould: &qdrant.MinShould{MinCount: 2, Conditions: []*qdrant.Condition{
			qdrant.NewMatchKeyword("a", "1"), qdrant.NewMatchKeyword("b", "2"), qdrant.NewMatchKeyword("c", "3"),
		}},
	}
}

func TestFilterProtoRoundTrip(t *testing.T) {
	in := protoFilterAllKinds()
	f, err := filterFromProto(in)
	if err != nil {
		t.Fatal(err)
	}
	back, err := filterToProto(f)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(in, back) {
		t.Fatalf("proto -> api -> proto changed the filter:\n in=%v\nout=%v", in, back)
	}
	// Spot checks of the api form.
	if f.Must[1].Field.Match.Value != json.Number("-5") {
		t.Errorf("integer match: %#v", f.Must[1].Field.Match.Value)
	}
	dr := f.Must[8].Field.DatetimeRange
	if dr == nil || dr.Gt.Format(time.RFC3339Nano) != "2024-01-02T03:04:05.123456789Z" || dr.Lt != nil {
		t.Errorf("datetime range: %+v", dr)
	}
	if f.MinShould.MinCount != 2 || len(f.MinShould.Conditions) != 3 {
		t.Errorf("min_should: %+v", f.MinShould)
	}
	// api -> JSON (REST) -> api -> proto gives the same filter too.
	js, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	var f2 api.Filter
	if err := json.Unmarshal(js, &f2); err != nil {
		t.Fatalf("REST cannot decode %s: %v", js, err)
	}
	back2, err := filterToProto(&f2)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(in, back2) {
		t.Fatalf("proto -> api -> JSON -> api -> proto changed the filter:\n json=%s\n in=%v\nout=%v", js, in, back2)
	}
}

func TestFilterFromRESTJSON(t *testing.T) {
	const doc = `{"must":[{"key":"a","match":{"any":["x","y"]}},{"key":"t","range":{"gte":"2024-05-01T00:00:00Z"}},
		{"nested":{"key":"items","filter":{"must":[{"key":"n","range":{"gt":1}}]}}},{"has_id":[1,"5c56c793-69f3-4fbf-87e6-c4bf54c28c26"]}],
		"should":[{"is_empty":{"key":"e"}},{"must_not":[{"key":"b","match":{"except":[1,2]}}]}],
		"min_should":{"conditions":[{"has_vector":"v"},{"key":"c","match":{"value":true}}],"min_count":1}}`
	var f api.Filter
	if err := json.Unmarshal([]byte(doc), &f); err != nil {
		t.Fatal(err)
	}
	p, err := filterToProto(&f)
	if err != nil {
		t.Fatal(err)
	}
	back, err := filterFromProto(p)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(&f)
	got, _ := json.Marshal(back)
	if string(want) != string(got) {
		t.Fatalf("REST -> proto -> api:\n got %s\nwant %s", got, want)
	}
}

func TestFilterRejections(t *testing.T) {
	deep := &qdrant.Filter{}
	for range api.MaxFilterDepth + 3 {
		deep = &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewFilterAsCondition(deep)}}
	}
	cases := map[string]*qdrant.Filter{
		"too deep":       deep,
		"empty cond":     {Must: []*qdrant.Condition{{}}},
		"no key":         {Must: []*qdrant.Condition{{ConditionOneOf: &qdrant.Condition_Field{Field: &qdrant.FieldCondition{}}}}},
		"empty match":    {Must: []*qdrant.Condition{{ConditionOneOf: &qdrant.Condition_Field{Field: &qdrant.FieldCondition{Key: "k", Match: &qdrant.Match{}}}}}},
		"bad timestamp":  {Must: []*qdrant.Condition{qdrant.NewDatetimeRange("t", &qdrant.DatetimeRange{Lt: &timestamppb.Timestamp{Seconds: 1, Nanos: -5}})}},
		"bad has_id uid": {Must: []*qdrant.Condition{qdrant.NewHasID(qdrant.NewIDUUID("zz"))}},
	}
	for name, f := range cases {
		if _, err := filterFromProto(f); api.KindOf(err) != api.KindBadInput {
			t.Errorf("%s: want bad input, got %v", name, err)
		}
	}
	// A key without a condition converts; filter.Validate refuses it as
	// for REST (Qdrant's 422 text, InvalidArgument; see the server's
	// parity test).
	f, err := filterFromProto(&qdrant.Filter{Must: []*qdrant.Condition{{ConditionOneOf: &qdrant.Condition_Field{Field: &qdrant.FieldCondition{Key: "k"}}}}})
	if err != nil || f.Must[0].Field.HasCondition() {
		t.Errorf("key without a condition: %+v, %v", f, err)
	}
}

func TestSelectorsRoundTrip(t *testing.T) {
	for _, s := range []*api.PayloadSelector{{Enable: true}, {Enable: false}, {Enable: true, Include: []string{"a", "b.c"}}, {Enable: true, Exclude: []string{"x"}}, {Enable: true, Include: []string{}}} {
		got := payloadSelectorFromProto(payloadSelectorToProto(s))
		if fmt.Sprint(got) != fmt.Sprint(s) || (s.Include != nil) != (got.Include != nil) || (s.Exclude != nil) != (got.Exclude != nil) {
			t.Errorf("payload selector %v came back as %v", s, got)
		}
	}
	if payloadSelectorFromProto(nil) != nil || payloadSelectorFromProto(&qdrant.WithPayloadSelector{}) != nil {
		t.Error("absent payload selector must stay nil (service default)")
	}
	for _, s := range []*api.VectorSelector{{Enable: true}, {Enable: false}, {Enable: true, Names: []string{"img"}}, {Enable: true, Names: []string{}}} {
		got := vectorSelectorFromProto(vectorSelectorToProto(s))
		if got.Enable != s.Enable || fmt.Sprint(got.Names) != fmt.Sprint(s.Names) || (got.Names != nil) != (s.Names != nil) {
			t.Errorf("vector selector %v came back as %v", s, got)
		}
	}
	if vectorSelectorFromProto(nil) != nil {
		t.Error("absent vector selector must stay nil")
	}
}

func TestVectorsConversion(t *testing.T) {
	v, err := vectorsFromProto(qdrant.NewVectorsDense([]float32{1, 2}))
	if err != nil || len(v) != 1 || fmt.Sprint(v[""]) != "[1 2]" {
		t.Fatalf("dense: %v %v", v, err)
	}
	v, err = vectorsFromProto(qdrant.NewVectorsMap(map[string]*qdrant.Vector{"a": qdrant.NewVector(1), "b": qdrant.NewVector(2, 3)}))
	if err != nil || len(v) != 2 || fmt.Sprint(v["b"]) != "[2 3]" {
		t.Fatalf("named: %v %v", v, err)
	}
	// The deprecated data field, as older clients send it.
	v, err = vectorsFromProto(&qdrant.Vectors{VectorsOptions: &qdrant.Vectors_Vector{Vector: &qdrant.Vector{Data: []float32{4, 5}}}})
	if err != nil || fmt.Sprint(v[""]) != "[4 5]" {
		t.Fatalf("deprecated data: %v %v", v, err)
	}
	two := uint32(2)
	bad := map[string]*qdrant.Vectors{
		"sparse":            qdrant.NewVectorsSparse([]uint32{1}, []float32{1}),
		"document":          qdrant.NewVectorsDocument(&qdrant.Document{Text: "hi", Model: "m"}),
		"deprecated sparse": {VectorsOptions: &qdrant.Vectors_Vector{Vector: &qdrant.Vector{Data: []float32{1}, Indices: &qdrant.SparseIndices{Data: []uint32{3}}}}},
	}
	named := qdrant.NewVectorsMap(map[string]*qdrant.Vector{"s": qdrant.NewVectorSparse([]uint32{3, 1}, []float32{1, 2}), "d": qdrant.NewVector(1)})
	if v, err := vectorsFromProto(named); err != nil || len(v) != 1 || fmt.Sprint(v["d"]) != "[1]" {
		t.Fatalf("named dense beside sparse: %v %v", v, err)
	}
	if sv := sparseFromProto(named); fmt.Sprint(sv["s"].Indices, sv["s"].Values) != "[3 1] [1 2]" || len(sv) != 1 {
		t.Fatalf("named sparse: %v", sv)
	}
	for name, in := range map[string]*qdrant.Vectors{
		"multi":            qdrant.NewVectorsMulti([][]float32{{1, 2}, {3, 4}}),
		"deprecated multi": {VectorsOptions: &qdrant.Vectors_Vector{Vector: &qdrant.Vector{Data: []float32{1, 2, 3, 4}, VectorsCount: &two}}},
	} {
		v, err := vectorsFromProto(in)
		mv, errMv := multiFromProto(in)
		if err != nil || errMv != nil || len(v) != 0 || fmt.Sprint(mv[""]) != "[[1 2] [3 4]]" {
			t.Errorf("%s: %v %v %v %v", name, v, mv, err, errMv)
		}
	}
	for name, in := range bad {
		_, err := vectorsFromProto(in)
		if api.KindOf(err) != api.KindBadInput || !strings.Contains(api.Message(err), "not supported") {
			t.Errorf("%s: want a clear bad-input error, got %v", name, err)
		}
	}
	out := vectorsOutputToProto(api.Vectors{"": {1, 2}})
	if fmt.Sprint(vectorsFromOutput(out)[""]) != "[1 2]" || out.GetVector().GetDenseVector() == nil {
		t.Errorf("unnamed output: %v", out)
	}
	out = vectorsOutputToProto(api.Vectors{"a": {1}, "": {2}})
	if len(out.GetVectors().GetVectors()) != 2 {
		t.Errorf("named output: %v", out)
	}
	if vectorsOutputToProto(nil) != nil {
		t.Error("no vectors must give no output")
	}
}

func TestErrorTable(t *testing.T) {
	for k := api.KindInternal; k <= api.KindCanceled; k++ {
		if p2p.Code(k) == codes.Internal && k != api.KindInternal {
			t.Errorf("kind %d has no gRPC code", k)
		}
	}
	cases := []struct {
		err  error
		code codes.Code
		msg  string
	}{
		{api.ErrCollectionNotFound("c"), codes.NotFound, "Not found: Collection `c` doesn't exist!"},
		{api.ErrBadInput("dim"), codes.InvalidArgument, "Wrong input: dim"},
		{fmt.Errorf("cannot upsert: %w", api.ErrForbidden("nope")), codes.PermissionDenied, "nope"},
		{api.ErrUnauthorized("key"), codes.Unauthenticated, "key"},
		{api.ErrAlreadyExists("exists"), codes.AlreadyExists, "exists"},
		{api.ErrTimeout("slow"), codes.DeadlineExceeded, "Timeout: slow"},
		{api.ErrStandalone, codes.Unimplemented, "Qdrant is running in standalone mode"},
		{errors.New("disk on fire"), codes.Internal, "Service internal error: disk on fire"},
		{fmt.Errorf("search: %w", contextDeadline{}), codes.DeadlineExceeded, "Timeout: Operation timed out"},
		{fmt.Errorf("search: %w", context.Canceled), codes.Canceled, api.Message(api.ContextError(context.Canceled))},
	}
	for _, c := range cases {
		st := status.Convert(toStatus(c.err))
		if st.Code() != c.code || st.Message() != c.msg {
			t.Errorf("%v: got %s %q, want %s %q", c.err, st.Code(), st.Message(), c.code, c.msg)
		}
	}
	if toStatus(nil) != nil {
		t.Error("nil error must stay nil")
	}
}

// contextDeadline behaves like context.DeadlineExceeded for errors.Is.
type contextDeadline struct{}

func (contextDeadline) Error() string { return "deadline" }
func (contextDeadline) Is(target error) bool {
	return target != nil && target.Error() == "context deadline exceeded"
}

func TestQueryConversion(t *testing.T) {
	id := qdrant.NewIDNum(7)
	k := uint32(60)
	lim, off := uint64(5), uint64(2)
	using := "img"
	q := &qdrant.QueryPoints{
		CollectionName: "c",
		Prefetch: []*qdrant.PrefetchQuery{
			{Query: qdrant.NewQueryDense([]float32{1, 2}), Using: &using, Limit: &lim,
				Prefetch: []*qdrant.PrefetchQuery{{Query: qdrant.NewQueryID(id), Filter: &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewIsNull("x")}}}}},
			{Query: qdrant.NewQueryRecommend(&qdrant.RecommendInput{Positive: []*qdrant.VectorInput{qdrant.NewVectorInputID(id)}, Negative: []*qdrant.VectorInput{qdrant.NewVectorInput(0, 1)}, Strategy: qdrant.RecommendStrategy_BestScore.Enum()})},
		},
		Query:  qdrant.NewQueryRRF(&qdrant.Rrf{K: &k, Weights: []float32{1, 2}}),
		Limit:  &lim,
		Offset: &off,
		Params: &qdrant.SearchParams{HnswEf: &lim, Exact: proto.Bool(true)},
	}
	req, err := queryPointsFromProto(q)
	if err != nil {
		t.Fatal(err)
	}
	if *req.Limit != 5 || *req.Offset != 2 || *req.Query.RRF.K != 60 || len(req.Prefetch) != 2 || !req.Params.Exact || *req.Params.HnswEf != 5 {
		t.Fatalf("query request: %+v", req)
	}
	p0 := req.Prefetch[0]
	if *p0.Using != "img" || fmt.Sprint(p0.Query.Nearest.Vector) != "[1 2]" || p0.Prefetch[0].Query.Nearest.ID.Num != 7 || p0.Prefetch[0].Filter.Must[0].IsNull.Key != "x" {
		t.Fatalf("prefetch: %+v", p0)
	}
	rec := req.Prefetch[1].Query.Recommend
	if rec.Strategy != api.StrategyBestScore || rec.Positive[0].ID.Num != 7 || len(rec.Negative[0].Vector) != 2 {
		t.Fatalf("recommend: %+v", rec)
	}
	// Every other query form.
	forms := map[string]*qdrant.Query{
		"discover": qdrant.NewQueryDiscover(&qdrant.DiscoverInput{Target: qdrant.NewVectorInput(1, 0), Context: &qdrant.ContextInput{Pairs: []*qdrant.ContextInputPair{{Positive: qdrant.NewVectorInputID(id), Negative: qdrant.NewVectorInput(0, 1)}}}}),
		"context":  qdrant.NewQueryContext(&qdrant.ContextInput{Pairs: []*qdrant.ContextInputPair{{Positive: qdrant.NewVectorInput(1, 0), Negative: qdrant.NewVectorInput(0, 1)}}}),
		"order_by": qdrant.NewQueryOrderBy(&qdrant.OrderBy{Key: "n", Direction: qdrant.Direction_Desc.Enum(), StartFrom: qdrant.NewStartFromInt(10)}),
		"fusion":   qdrant.NewQueryFusion(qdrant.Fusion_DBSF),
		"sample":   qdrant.NewQuerySample(qdrant.Sample_Random),
	}
	wantForms := map[string]string{
		"discover": `{"discover":{"target":[1,0],"context":[{"positive":7,"negative":[0,1]}]}}`,
		"context":  `{"context":[{"positive":[1,0],"negative":[0,1]}]}`,
		"order_by": `{"order_by":{"key":"n","direction":"desc","start_from":10}}`,
		"fusion":   `{"fusion":"dbsf"}`,
		"sample":   `{"sample":"random"}`,
	}
	for name, f := range forms {
		got, err := queryFromProto(f)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		js, _ := json.Marshal(got)
		if w := wantForms[name]; string(js) != w {
			t.Errorf("%s: got %s, want %s", name, js, w)
		}
		var rest api.Query // the REST decoder accepts what we produce
		if err := json.Unmarshal(js, &rest); err != nil {
			t.Errorf("%s: REST cannot decode %s: %v", name, js, err)
		}
		js2, _ := json.Marshal(rest)
		if string(js) != string(js2) {
			t.Errorf("%s: REST round trip %s != %s", name, js, js2)
		}
	}
	unsupported := map[string]*qdrant.Query{
		"formula without expression": qdrant.NewQueryFormula(&qdrant.Formula{}),
		"mmr without nearest":        qdrant.NewQueryMMR(nil, &qdrant.Mmr{}),
		"mmr diversity 2":            qdrant.NewQueryMMR(qdrant.NewVectorInput(1), &qdrant.Mmr{Diversity: proto.Float32(2)}),
		"document":                   qdrant.NewQueryDocument(&qdrant.Document{Text: "x"}),
		"empty":                      {},
	}
	if q, err := queryFromProto(qdrant.NewQueryMMR(qdrant.NewVectorInput(1), &qdrant.Mmr{Diversity: proto.Float32(0.25), CandidatesLimit: proto.Uint32(7)})); err != nil ||
		q.Nearest.Vector[0] != 1 || *q.MMR.Diversity != 0.25 || *q.MMR.CandidatesLimit != 7 {
		t.Errorf("mmr query: %+v %v", q, err)
	}
	if q, err := queryFromProto(qdrant.NewQuerySparse([]uint32{1}, []float32{2})); err != nil || q.Nearest.Sparse == nil || q.Nearest.Sparse.Values[0] != 2 {
		t.Errorf("sparse query: %+v %v", q, err)
	}
	for name, f := range unsupported {
		if _, err := queryFromProto(f); api.KindOf(err) != api.KindBadInput && api.KindOf(err) != api.KindBadRequest {
			t.Errorf("%s: want bad input, got %v", name, err)
		}
	}
}

func TestLegacySearchConversion(t *testing.T) {
	name := "img"
	s, err := searchFromProto(&qdrant.SearchPoints{Vector: []float32{1, 2}, VectorName: &name, Limit: 3, WithPayload: qdrant.NewWithPayload(true)})
	if err != nil || s.Vector.Name != "img" || s.Limit != 3 || !s.WithPayload.Enable {
		t.Fatalf("search: %+v %v", s, err)
	}
	if s, err := searchFromProto(&qdrant.SearchPoints{Vector: []float32{1}, VectorName: &name, SparseIndices: &qdrant.SparseIndices{Data: []uint32{7}}}); err != nil || s.Vector.Sparse == nil || s.Vector.Sparse.Indices[0] != 7 {
		t.Fatalf("sparse search: %+v %v", s, err)
	}
	r, err := recommendFromProto(&qdrant.RecommendPoints{Positive: []*qdrant.PointId{qdrant.NewIDNum(1)}, PositiveVectors: []*qdrant.Vector{qdrant.NewVector(1, 2)}, Negative: []*qdrant.PointId{qdrant.NewIDNum(2)}, Limit: 4})
	if err != nil || len(r.Positive) != 2 || r.Positive[0].ID.Num != 1 || len(r.Positive[1].Vector) != 2 || r.Negative[0].ID.Num != 2 {
		t.Fatalf("recommend: %+v %v", r, err)
	}
	d, err := discoverFromProto(&qdrant.DiscoverPoints{Target: qdrant.NewTargetID(qdrant.NewIDNum(3)), Context: []*qdrant.ContextExamplePair{{Positive: &qdrant.VectorExample{Example: &qdrant.VectorExample_Id{Id: qdrant.NewIDNum(1)}}, Negative: &qdrant.VectorExample{Example: &qdrant.VectorExample_Vector{Vector: qdrant.NewVector(0, 1)}}}}, Limit: 2})
	if err != nil || d.Target.ID.Num != 3 || d.Context[0].Positive.ID.Num != 1 || len(d.Context[0].Negative.Vector) != 2 {
		t.Fatalf("discover: %+v %v", d, err)
	}
}

func TestCreateCollectionConversion(t *testing.T) {
	m, ef := uint64(32), uint64(200)
	shards := uint32(3)
	q := float32(0.99)
	cap := uint64(64)
	threads := uint64(2)
	maxLimit := uint32(100)
	r := &qdrant.CreateCollection{
		CollectionName: "c",
		VectorsConfig: qdrant.NewVectorsConfigMap(map[string]*qdrant.VectorParams{
			"img": {Size: 4, Distance: qdrant.Distance_Cosine, HnswConfig: &qdrant.HnswConfigDiff{M: &m}, OnDisk: proto.Bool(true)},
			"txt": {Size: 2, Distance: qdrant.Distance_Dot, Datatype: qdrant.Datatype_Float32.Enum()},
		}),
		HnswConfig:         &qdrant.HnswConfigDiff{EfConstruct: &ef},
		ShardNumber:        &shards,
		QuantizationConfig: qdrant.NewQuantizationScalar(&qdrant.ScalarQuantization{Type: qdrant.QuantizationType_Int8, Quantile: &q, AlwaysRam: proto.Bool(true)}),
		WalConfig:          &qdrant.WalConfigDiff{WalCapacityMb: &cap},
		OptimizersConfig:   &qdrant.OptimizersConfigDiff{MaxOptimizationThreads: qdrant.NewMaxOptimizationThreads(threads), DeletedThreshold: proto.Float64(0.3)},
		StrictModeConfig:   &qdrant.StrictModeConfig{Enabled: proto.Bool(true), MaxQueryLimit: &maxLimit},
		Metadata:           qdrant.NewValueMap(map[string]any{"team": "search", "v": 2}),
		ShardingMethod:     qdrant.ShardingMethod_Auto.Enum(),
	}
	c, err := createCollectionFromProto(r)
	if err != nil {
		t.Fatal(err)
	}
	if c.Vectors["img"].Size != 4 || c.Vectors["img"].Distance != api.DistanceCosine || *c.Vectors["img"].HnswConfig.M != 32 || !*c.Vectors["img"].OnDisk {
		t.Errorf("vectors: %+v", c.Vectors)
	}
	if *c.Vectors["txt"].Datatype != "float32" || *c.ShardNumber != 3 || *c.HnswConfig.EfConstruct != 200 || *c.ShardingMethod != "auto" {
		t.Errorf("params: %+v", c)
	}
	for _, check := range []struct{ got, want string }{
		{string(c.QuantizationConfig), `{"scalar":{"always_ram":true,"quantile":0.9900000095367432,"type":"int8"}}`},
		{string(c.WalConfig), `{"wal_capacity_mb":64}`},
		{string(c.OptimizersConfig), `{"deleted_threshold":0.3,"max_optimization_threads":2}`},
		{string(c.StrictModeConfig), `{"enabled":true,"max_query_limit":100}`},
	} {
		if check.got != check.want {
			t.Errorf("got %s, want %s", check.got, check.want)
		}
	}
	if c.Metadata["team"] != "search" || c.Metadata["v"] != json.Number("2") {
		t.Errorf("metadata: %#v", c.Metadata)
	}
	// The REST-shaped JSON decodes into package api's config types.
	var opt api.OptimizersConfig
	if err := json.Unmarshal(c.OptimizersConfig, &opt); err != nil || *opt.MaxOptimizationThreads != 2 || opt.DeletedThreshold != 0.3 {
		t.Errorf("optimizers JSON: %+v %v", opt, err)
	}
	var wal api.WalConfig
	if err := json.Unmarshal(c.WalConfig, &wal); err != nil || wal.WalCapacityMB != 64 {
		t.Errorf("wal JSON: %+v %v", wal, err)
	}
	// Quantization and strict mode survive the trip back into collection info.
	if got := quantizationFromJSON(c.QuantizationConfig); !proto.Equal(got, r.QuantizationConfig) {
		t.Errorf("quantization back: %v", got)
	}
	idf, thr := qdrant.Modifier_Idf, uint64(77)
	sp := &qdrant.CreateCollection{SparseVectorsConfig: qdrant.NewSparseVectorsConfig(map[string]*qdrant.SparseVectorParams{"s": {Modifier: &idf, Index: &qdrant.SparseIndexConfig{FullScanThreshold: &thr}}})}
	if c, err := createCollectionFromProto(sp); err != nil || !c.SparseVectors["s"].IDF() || c.SparseVectors["s"].FullScanThreshold() != 77 {
		t.Errorf("sparse config: %+v %v", c, err)
	} else if back := sparseConfigToProto(c.SparseVectors); !proto.Equal(back, sp.SparseVectorsConfig) {
		t.Errorf("sparse config back: %v", back)
	}
	for name, bad := range map[string]*qdrant.CreateCollection{
		"sparse":   {SparseVectorsConfig: qdrant.NewSparseVectorsConfig(map[string]*qdrant.SparseVectorParams{"s": {Modifier: qdrant.Modifier(9).Enum()}})},
		"multi":    {VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 2, Distance: qdrant.Distance_Dot, MultivectorConfig: &qdrant.MultiVectorConfig{Comparator: 7}})},
		"distance": {VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 2})},
	} {
		if _, err := createCollectionFromProto(bad); api.KindOf(err) != api.KindBadInput {
			t.Errorf("%s: want bad input, got %v", name, err)
		}
	}
}

func TestCollectionInfoConversion(t *testing.T) {
	method := "auto"
	info := &api.CollectionInfo{
		Status: api.StatusYellow, OptimizerStatus: "ok", PointsCount: 10, IndexedVectorsCount: 4, SegmentsCount: 2,
		Config: api.CollectionConfig{
			Params:     api.CollectionParams{Vectors: api.VectorsConfig{"": {Size: 3, Distance: api.DistanceEuclid}}, ShardNumber: 2, ShardingMethod: &method, ReplicationFactor: 1, WriteConsistencyFactor: 1},
			HnswConfig: api.DefaultHnswConfig(), OptimizerConfig: api.DefaultOptimizersConfig(), WalConfig: api.DefaultWalConfig(),
			QuantizationConfig: json.RawMessage(`{"binary":{"always_ram":true,"encoding":"two_bits"}}`),
			StrictModeConfig:   json.RawMessage(`{"enabled":true,"max_timeout":5,"unknown_future_key":1}`),
			Metadata:           map[string]any{"k": json.Number("1.5")},
		},
		PayloadSchema: map[string]api.PayloadIndexInfo{
			"city": {DataType: api.SchemaKeyword, Points: 7, Params: map[string]any{"is_tenant": true}},
			"desc": {DataType: api.SchemaText, Params: map[string]any{"tokenizer": "word", "min_token_len": float64(2), "lowercase": true}},
			"n":    {DataType: api.SchemaInteger},
		},
	}
	p, err := collectionInfoToProto(info)
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != qdrant.CollectionStatus_Yellow || !p.OptimizerStatus.Ok || p.GetPointsCount() != 10 || p.GetIndexedVectorsCount() != 4 || p.SegmentsCount != 2 {
		t.Errorf("info: %v", p)
	}
	cfg := p.Config
	if cfg.Params.ShardNumber != 2 || cfg.Params.VectorsConfig.GetParams().GetSize() != 3 || cfg.Params.VectorsConfig.GetParams().GetDistance() != qdrant.Distance_Euclid {
		t.Errorf("params: %v", cfg.Params)
	}
	if cfg.HnswConfig.GetM() != 16 || cfg.HnswConfig.GetEfConstruct() != 100 || cfg.WalConfig.GetWalCapacityMb() != 32 || cfg.OptimizerConfig.GetDeletedThreshold() != 0.2 {
		t.Errorf("config: %v", cfg)
	}
	if b := cfg.QuantizationConfig.GetBinary(); b == nil || !b.GetAlwaysRam() || b.GetEncoding() != qdrant.BinaryQuantizationEncoding_TwoBits {
		t.Errorf("quantization: %v", cfg.QuantizationConfig)
	}
	if !cfg.StrictModeConfig.GetEnabled() || cfg.StrictModeConfig.GetMaxTimeout() != 5 {
		t.Errorf("strict mode: %v", cfg.StrictModeConfig)
	}
	if cfg.Metadata["k"].GetDoubleValue() != 1.5 {
		t.Errorf("metadata: %v", cfg.Metadata)
	}
	if ps := p.PayloadSchema["city"]; ps.DataType != qdrant.PayloadSchemaType_Keyword || ps.GetPoints() != 7 || !ps.Params.GetKeywordIndexParams().GetIsTenant() {
		t.Errorf("keyword schema: %v", ps)
	}
	if ps := p.PayloadSchema["desc"].Params.GetTextIndexParams(); ps.Tokenizer != qdrant.TokenizerType_Word || ps.GetMinTokenLen() != 2 || !ps.GetLowercase() {
		t.Errorf("text schema: %v", ps)
	}
	if ps := p.PayloadSchema["n"]; ps.DataType != qdrant.PayloadSchemaType_Integer || ps.Params != nil {
		t.Errorf("integer schema: %v", ps)
	}
	// Create-field-index params travel into the same REST params map.
	ci, err := createFieldIndexFromProto(&qdrant.CreateFieldIndexCollection{FieldName: "desc", FieldType: qdrant.FieldType_FieldTypeText.Enum(),
		FieldIndexParams: qdrant.NewPayloadIndexParamsText(&qdrant.TextIndexParams{Tokenizer: qdrant.TokenizerType_Word, MinTokenLen: proto.Uint64(2), Lowercase: proto.Bool(true)})})
	if err != nil || ci.FieldSchema.Type != api.SchemaText || fmt.Sprint(ci.FieldSchema.Params) != fmt.Sprint(info.PayloadSchema["desc"].Params) {
		t.Errorf("create field index: %+v %v", ci, err)
	}
	ci, err = createFieldIndexFromProto(&qdrant.CreateFieldIndexCollection{FieldName: "n", FieldIndexParams: qdrant.NewPayloadIndexParamsInt(&qdrant.IntegerIndexParams{Lookup: proto.Bool(true), Range: proto.Bool(false)})})
	if err != nil || ci.FieldSchema.Type != api.SchemaInteger || ci.FieldSchema.Params["lookup"] != true || ci.FieldSchema.Params["range"] != false {
		t.Errorf("type from params: %+v %v", ci, err)
	}
	if _, err := createFieldIndexFromProto(&qdrant.CreateFieldIndexCollection{FieldName: "n", FieldType: qdrant.FieldType_FieldTypeKeyword.Enum(), FieldIndexParams: qdrant.NewPayloadIndexParamsInt(&qdrant.IntegerIndexParams{})}); api.KindOf(err) != api.KindBadInput {
		t.Errorf("mismatched type and params: %v", err)
	}
}

func TestUpdateBatchConversion(t *testing.T) {
	ops := []*qdrant.PointsUpdateOperation{
		qdrant.NewPointsUpdateUpsert(&qdrant.PointsUpdateOperation_PointStructList{Points: []*qdrant.PointStruct{{Id: qdrant.NewIDNum(1), Vectors: qdrant.NewVectors(1, 2), Payload: qdrant.NewValueMap(map[string]any{"a": 1})}}}),
		qdrant.NewPointsUpdateDeletePoints(&qdrant.PointsUpdateOperation_DeletePoints{Points: qdrant.NewPointsSelector(qdrant.NewIDNum(2))}),
		qdrant.NewPointsUpdateSetPayload(&qdrant.PointsUpdateOperation_SetPayload{Payload: qdrant.NewValueMap(map[string]any{"b": "x"}), PointsSelector: qdrant.NewPointsSelectorFilter(&qdrant.Filter{}), Key: proto.String("inner")}),
		qdrant.NewPointsUpdateOverwritePayload(&qdrant.PointsUpdateOperation_OverwritePayload{Payload: map[string]*qdrant.Value{}, PointsSelector: qdrant.NewPointsSelector(qdrant.NewIDNum(1))}),
		qdrant.NewPointsUpdateDeletePayload(&qdrant.PointsUpdateOperation_DeletePayload{Keys: []string{"a"}, PointsSelector: qdrant.NewPointsSelector(qdrant.NewIDNum(1))}),
		qdrant.NewPointsUpdateClearPayload(&qdrant.PointsUpdateOperation_ClearPayload{Points: qdrant.NewPointsSelector(qdrant.NewIDNum(1))}),
		qdrant.NewPointsUpdateUpdateVectors(&qdrant.PointsUpdateOperation_UpdateVectors{Points: []*qdrant.PointVectors{{Id: qdrant.NewIDNum(1), Vectors: qdrant.NewVectors(3, 4)}}}),
		qdrant.NewPointsUpdateDeleteVectors(&qdrant.PointsUpdateOperation_DeleteVectors{PointsSelector: qdrant.NewPointsSelector(qdrant.NewIDNum(1)), Vectors: &qdrant.VectorsSelector{Names: []string{""}}}),
	}
	var got []string
	for _, op := range ops {
		u, err := updateOperationFromProto(op)
		if err != nil {
			t.Fatal(err)
		}
		js, _ := json.Marshal(u)
		got = append(got, string(js))
	}
	want := []string{
		`{"upsert":{"points":[{"id":1,"vector":[1,2],"payload":{"a":1}}]}}`,
		`{"delete":{"points":[2]}}`,
		`{"set_payload":{"payload":{"b":"x"},"filter":{},"key":"inner"}}`,
		`{"overwrite_payload":{"payload":{},"points":[1]}}`,
		`{"delete_payload":{"keys":["a"],"points":[1]}}`,
		`{"clear_payload":{"points":[1]}}`,
		`{"update_vectors":{"points":[{"id":1,"vector":[3,4]}]}}`,
		`{"delete_vectors":{"points":[1],"vector":[""]}}`,
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("op %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
	if _, err := updateOperationFromProto(&qdrant.PointsUpdateOperation{}); api.KindOf(err) != api.KindBadInput {
		t.Errorf("empty op: %v", err)
	}
	if _, err := updateOperationFromProto(qdrant.NewPointsUpdateSetPayload(&qdrant.PointsUpdateOperation_SetPayload{})); api.KindOf(err) != api.KindBadInput {
		t.Errorf("set payload without selector: %v", err)
	}
}

func TestOutputConversions(t *testing.T) {
	sp := api.ScoredPoint{ID: api.NumID(3), Version: 9, Score: 0.5, Payload: api.Payload{"n": json.Number("4")}, Vector: api.Vectors{"": {1}}, OrderValue: json.Number("2.5")}
	p, err := scoredToProto(&sp)
	if err != nil || p.GetId().GetNum() != 3 || p.Version != 9 || p.Score != 0.5 || p.Payload["n"].GetIntegerValue() != 4 || p.GetOrderValue().GetFloat() != 2.5 {
		t.Fatalf("scored: %v %v", p, err)
	}
	g, err := groupsToProto(&api.GroupsResult{Groups: []api.PointGroup{{ID: "a"}, {ID: json.Number("5")}, {ID: json.Number("-5")}}})
	if err != nil || g.Groups[0].Id.GetStringValue() != "a" || g.Groups[1].Id.GetUnsignedValue() != 5 || g.Groups[2].Id.GetIntegerValue() != -5 {
		t.Fatalf("groups: %v %v", g, err)
	}
	for v, want := range map[any]string{"x": "string_value:\"x\"", true: "bool_value:true", json.Number("3"): "integer_value:3"} {
		fv, err := facetValueToProto(v)
		if err != nil || !strings.Contains(fv.String(), strings.ReplaceAll(want, " ", "")) && !strings.Contains(strings.ReplaceAll(fv.String(), " ", ""), want) {
			t.Errorf("facet %v: %v %v", v, fv, err)
		}
	}
}

func TestReadWriteParams(t *testing.T) {
	rp, err := readParams(qdrant.NewReadConsistencyFactor(2), proto.Uint64(3))
	if err != nil || rp.Consistency != "2" || rp.TimeoutSeconds != 3 {
		t.Fatalf("%+v %v", rp, err)
	}
	for typ, want := range map[qdrant.ReadConsistencyType]string{qdrant.ReadConsistencyType_All: "all", qdrant.ReadConsistencyType_Majority: "majority", qdrant.ReadConsistencyType_Quorum: "quorum"} {
		if rp, _ := readParams(qdrant.NewReadConsistencyType(typ), nil); rp.Consistency != want {
			t.Errorf("%v: %q", typ, rp.Consistency)
		}
	}
	if _, err := readParams(qdrant.NewReadConsistencyFactor(0), nil); api.KindOf(err) != api.KindBadRequest {
		t.Errorf("factor 0: %v", err)
	}
	wp, _ := writeParams(proto.Bool(true), &qdrant.WriteOrdering{Type: qdrant.WriteOrderingType_Strong}, proto.Uint64(math.MaxUint64))
	if !wp.Wait || wp.Ordering != api.OrderingStrong || wp.TimeoutSeconds != api.MaxTimeoutSeconds {
		t.Errorf("write params: %+v", wp)
	}
	if _, err := writeParams(nil, &qdrant.WriteOrdering{Type: 9}, nil); api.KindOf(err) != api.KindBadInput {
		t.Errorf("unknown ordering type accepted: %v", err)
	}
	if wp, _ := writeParams(nil, nil, nil); wp.Wait || wp.Ordering != api.OrderingWeak || wp.TimeoutSeconds != 0 {
		t.Errorf("default write params: %+v", wp)
	}
}

func TestUnknownFieldFindsNestedUnknowns(t *testing.T) {
	mark := func(m proto.Message) proto.Message {
		m.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 900, protowire.VarintType), 1))
		return m
	}
	point := func() *qdrant.PointStruct {
		return &qdrant.PointStruct{Id: qdrant.NewIDNum(1), Vectors: qdrant.NewVectorsDense([]float32{1, 2}),
			Payload: qdrant.NewValueMap(map[string]any{"a": map[string]any{"b": []any{"x", map[string]any{"c": 1}}}})}
	}
	up := func(p *qdrant.PointStruct) *qdrant.UpsertPoints {
		return &qdrant.UpsertPoints{CollectionName: "c", Points: []*qdrant.PointStruct{point(), p}}
	}
	if err := unknownField(up(point()).ProtoReflect(), 0); err != nil {
		t.Fatalf("clean request refused: %v", err)
	}
	cases := map[string]struct {
		req  proto.Message
		want string
	}{
		"top level": {mark(up(point())), "qdrant.UpsertPoints"},
		"point":     {up(mark(point()).(*qdrant.PointStruct)), "qdrant.PointStruct"},
		"point id":  {func() proto.Message { p := point(); mark(p.Id); return up(p) }(), "qdrant.PointId"},
		"dense vector": {func() proto.Message {
			p := point()
			mark(p.Vectors.GetVector())
			return up(p)
		}(), "qdrant.Vector"},
		"deep payload value": {func() proto.Message {
			p := point()
			mark(p.Payload["a"].GetStructValue().Fields["b"].GetListValue().Values[1].GetStructValue().Fields["c"])
			return up(p)
		}(), "qdrant.Value"},
		"payload list": {func() proto.Message {
			p := point()
			mark(p.Payload["a"].GetStructValue().Fields["b"].GetListValue())
			return up(p)
		}(), "qdrant.ListValue"},
		"filter condition": {func() proto.Message {
			f := &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatch("k", "v")}}
			mark(f.Must[0].GetField())
			return &qdrant.CountPoints{CollectionName: "c", Filter: f}
		}(), "qdrant.FieldCondition"},
	}
	for name, c := range cases {
		err := unknownField(c.req.ProtoReflect(), 0)
		if api.KindOf(err) != api.KindBadInput || !strings.Contains(api.Message(err), "unknown field 900 in "+c.want+":") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestUnknownFieldFastPathsCoverEveryMessageField pins the typed walks of
// unknownField to the served protos: a newer go-client that adds a message
// field to PointStruct or Vector must extend them.
func TestUnknownFieldFastPathsCoverEveryMessageField(t *testing.T) {
	for msg, want := range map[proto.Message]string{
		&qdrant.PointStruct{}: "[id payload vectors]",
		&qdrant.Vector{}:      "[dense document image indices multi_dense object sparse]",
	} {
		var got []string
		fields := msg.ProtoReflect().Descriptor().Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			if fd.Message() != nil {
				got = append(got, string(fd.Name()))
			}
		}
		sort.Strings(got)
		if fmt.Sprint(got) != want {
			t.Errorf("%s has message fields %v; unknownField's typed walk covers %s", msg.ProtoReflect().Descriptor().FullName(), got, want)
		}
	}
}
