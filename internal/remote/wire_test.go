package remote

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"testing"

	"github.com/google/uuid"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/shard"
)

func searchRequests() []SearchRequest {
	ef := 64
	thr := float32(0.25)
	return []SearchRequest{
		{},
		{Target: Target{Collection: "c", Generation: 7, Shard: 3}, Req: shard.SearchRequest{Using: "", Vector: []float32{1, -2.5, float32(math.Inf(1)), 0}, Limit: 10}},
		{Target: Target{Collection: "ü", Generation: math.MaxUint64, Shard: 0}, Req: shard.SearchRequest{Vector: []float32{}, Limit: 0}},
		{Target: Target{Collection: "c", Shard: 1}, Req: shard.SearchRequest{
			Using: "img", Vector: []float32{0.5}, Limit: 3,
			Params:         api.SearchParams{HnswEf: &ef, Exact: true},
			ScoreThreshold: &thr,
			Filter:         &api.Filter{MinShould: &api.MinShould{MinCount: 1}},
			WithPayload:    &api.PayloadSelector{Enable: true, Include: []string{"a"}},
			WithVector:     &api.VectorSelector{Enable: true, Names: []string{"img"}},
		}},
		{Target: Target{Collection: "c"}, Req: shard.SearchRequest{
			Using: "s", Limit: 5, Sparse: &api.SparseVector{Indices: []uint32{1, 9}, Values: []float32{0.5, 2}}, SparseFullScan: 100,
		}},
		{Target: Target{Collection: "c"}, Req: shard.SearchRequest{
			Using: "m", Limit: 5, Multi: [][]float32{{1, 2}, {3, 4}},
			Custom: &shard.CustomScore{Kind: shard.CustomBestScore, Pos: [][]float32{{1, 0}}, Neg: [][]float32{{0, 1}}},
		}},
		// A recommendation on a multi-vector: its examples travel too.
		{Target: Target{Collection: "c"}, Req: shard.SearchRequest{
			Using: "m", Limit: 5,
			Custom: &shard.CustomScore{Kind: shard.CustomSumScores, MultiPos: [][][]float32{{{1, 2}, {3, 4}}}, MultiNeg: [][][]float32{{{-1, 0}}}},
		}},
	}
}

// TestSearchRequestWire: every field of a search request survives the
// binary layout, including those carried as JSON inside it.
func TestSearchRequestWire(t *testing.T) {
	for i, in := range searchRequests() {
		b, err := in.MarshalWire()
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		var out SearchRequest
		if err := out.UnmarshalWire(b); err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if !reflect.DeepEqual(in, out) {
			t.Errorf("%d: round trip\n got %+v\nwant %+v", i, out, in)
		}
	}
}

// TestSearchRequestWireAllFields fails when shard.SearchRequest gains a
// field that the wire layout would not carry: it sets every field by
// reflection (except Scorer, which travels as Custom).
func TestSearchRequestWireAllFields(t *testing.T) {
	var req shard.SearchRequest
	v := reflect.ValueOf(&req).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		if v.Type().Field(i).Name == "Scorer" {
			continue
		}
		switch f.Kind() {
		case reflect.String:
			f.SetString("x")
		case reflect.Int:
			f.SetInt(3)
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Slice:
			if f.Type().Elem().Kind() == reflect.Float32 {
				f.Set(reflect.ValueOf([]float32{1, 2}))
			} else if f.Type().Elem() == reflect.TypeFor[[]float32]() {
				f.Set(reflect.ValueOf([][]float32{{1, 2}}))
			} else {
				t.Fatalf("field %s: add a value for kind %s to this test", v.Type().Field(i).Name, f.Type())
			}
		case reflect.Pointer, reflect.Struct:
			// A non-zero JSON-decodable value: "{}" for pointers to structs.
			if f.Kind() == reflect.Pointer {
				f.Set(reflect.New(f.Type().Elem()))
				if err := json.Unmarshal(jsonSample(f.Type().Elem()), f.Interface()); err != nil {
					t.Fatalf("field %s: %v", v.Type().Field(i).Name, err)
				}
			} else if err := json.Unmarshal([]byte(`{"hnsw_ef":5}`), f.Addr().Interface()); err != nil {
				t.Fatalf("field %s: %v", v.Type().Field(i).Name, err)
			}
		default:
			t.Fatalf("field %s: add a value for kind %s to this test", v.Type().Field(i).Name, f.Kind())
		}
		if f.IsZero() {
			t.Fatalf("field %s: still zero", v.Type().Field(i).Name)
		}
	}
	in := SearchRequest{Target: Target{Collection: "c"}, Req: req}
	b, err := in.MarshalWire()
	if err != nil {
		t.Fatal(err)
	}
	var out SearchRequest
	if err := out.UnmarshalWire(b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("round trip\n got %+v\nwant %+v", out, in)
	}
}

// jsonSample is a non-zero JSON value for the pointer fields of
// shard.SearchRequest.
func jsonSample(t reflect.Type) []byte {
	switch t {
	case reflect.TypeFor[shard.CustomScore]():
		return []byte(`{"kind":"context","pairs":[[[1],[2]]]}`)
	case reflect.TypeFor[api.SparseVector]():
		return []byte(`{"indices":[1],"values":[2]}`)
	case reflect.TypeFor[api.Filter]():
		return []byte(`{"must":[{"key":"a","match":{"value":"b"}}]}`)
	case reflect.TypeFor[api.PayloadSelector]():
		return []byte(`["a"]`)
	case reflect.TypeFor[api.VectorSelector]():
		return []byte(`["v"]`)
	}
	return []byte(`1`)
}

func searchResponses() []SearchResponse {
	u := uuid.MustParse("5c56c793-69f3-4fbf-87e6-c4bf54c28c26")
	return []SearchResponse{
		{},
		{Points: []api.ScoredPoint{}},
		{Points: []api.ScoredPoint{
			{ID: api.NumID(1), Version: 3, Score: 0.5},
			{ID: api.NumID(math.MaxUint64), Version: 0, Score: -1},
			{ID: api.UUIDID(u), Version: 1 << 40, Score: float32(math.Inf(-1))},
		}},
		{Points: []api.ScoredPoint{
			{ID: api.NumID(2), Version: 1, Score: 1, Payload: api.Payload{"a": json.Number("1.5"), "b": "x"}},
			{ID: api.NumID(3), Vector: api.Vectors{}},
			{ID: api.NumID(4), Vector: api.Vectors{"": {1, 2}}, Sparse: api.SparseVectors{"s": {Indices: []uint32{1}, Values: []float32{2}}}, Multi: api.MultiVectors{"m": {{1}, {2}}}},
			{ID: api.NumID(5), OrderValue: 2.5, ShardKey: "k"},
		}},
	}
}

// TestSearchResponseWire: hits survive the binary layout, nil and empty
// vectors apart.
func TestSearchResponseWire(t *testing.T) {
	for i, in := range searchResponses() {
		b, err := in.MarshalWire()
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		var out SearchResponse
		if err := out.UnmarshalWire(b); err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if !reflect.DeepEqual(in, out) {
			t.Errorf("%d: round trip\n got %#v\nwant %#v", i, out, in)
		}
	}
}

// TestSearchWireRefuses: truncated messages, unknown versions and trailing
// bytes are errors, never panics or partial results.
func TestSearchWireRefuses(t *testing.T) {
	for _, in := range searchRequests()[1:] {
		b, _ := in.MarshalWire()
		for n := range len(b) {
			var out SearchRequest
			if err := out.UnmarshalWire(b[:n]); err == nil {
				t.Fatalf("request truncated to %d of %d bytes decoded", n, len(b))
			}
		}
		var out SearchRequest
		if err := out.UnmarshalWire(append(bytes.Clone(b), 0)); err == nil {
			t.Fatal("trailing byte accepted")
		}
		b[0] = 2
		if err := out.UnmarshalWire(b); err == nil {
			t.Fatal("version 2 accepted")
		}
	}
	for _, in := range searchResponses()[2:] {
		b, _ := in.MarshalWire()
		for n := range len(b) {
			var out SearchResponse
			if err := out.UnmarshalWire(b[:n]); err == nil {
				t.Fatalf("response truncated to %d of %d bytes decoded", n, len(b))
			}
		}
		var out SearchResponse
		if err := out.UnmarshalWire(append(bytes.Clone(b), 0)); err == nil {
			t.Fatal("trailing byte accepted")
		}
	}
}

// FuzzSearchRequestWire: decoding never panics, and what decodes encodes
// to bytes that decode to the same message.
func FuzzSearchRequestWire(f *testing.F) {
	for _, r := range searchRequests() {
		b, _ := r.MarshalWire()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m SearchRequest
		if m.UnmarshalWire(data) != nil {
			return
		}
		b1, err := m.MarshalWire()
		if err != nil {
			return // e.g. a NaN in the JSON part cannot be re-encoded
		}
		var m2 SearchRequest
		if err := m2.UnmarshalWire(b1); err != nil {
			t.Fatalf("re-encoded request does not decode: %v", err)
		}
		b2, err := m2.MarshalWire()
		if err != nil || !bytes.Equal(b1, b2) {
			t.Fatalf("encoding not stable: %v\n%x\n%x", err, b1, b2)
		}
	})
}

// FuzzSearchResponseWire is FuzzSearchRequestWire for responses.
func FuzzSearchResponseWire(f *testing.F) {
	for _, r := range searchResponses() {
		b, _ := r.MarshalWire()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m SearchResponse
		if m.UnmarshalWire(data) != nil {
			return
		}
		b1, err := m.MarshalWire()
		if err != nil {
			return
		}
		var m2 SearchResponse
		if err := m2.UnmarshalWire(b1); err != nil {
			t.Fatalf("re-encoded response does not decode: %v", err)
		}
		b2, err := m2.MarshalWire()
		if err != nil || !bytes.Equal(b1, b2) {
			t.Fatalf("encoding not stable: %v\n%x\n%x", err, b1, b2)
		}
	})
}

// BenchmarkSearchWire compares the binary layout with the JSON it
// replaced, for a 128-dimensional query and its 10 hits (encode and
// decode of both messages).
func BenchmarkSearchWire(b *testing.B) {
	ef := 64
	vec := make([]float32, 128)
	for i := range vec {
		vec[i] = float32(i)*0.0137 - 0.5
	}
	req := SearchRequest{Target: Target{Collection: "bench", Generation: 123456789, Shard: 0},
		Req: shard.SearchRequest{Vector: vec, Limit: 10, Params: api.SearchParams{HnswEf: &ef}}}
	resp := SearchResponse{}
	for i := range 10 {
		resp.Points = append(resp.Points, api.ScoredPoint{ID: api.NumID(uint64(i * 1000)), Version: uint64(i * 7), Score: 0.9 - float32(i)*0.01})
	}
	b.Run("binary", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rb, _ := req.MarshalWire()
			var r SearchRequest
			if err := r.UnmarshalWire(rb); err != nil {
				b.Fatal(err)
			}
			pb, _ := resp.MarshalWire()
			var p SearchResponse
			if err := p.UnmarshalWire(pb); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rb, _ := json.Marshal(&req)
			var r SearchRequest
			if err := json.Unmarshal(rb, &r); err != nil {
				b.Fatal(err)
			}
			pb, _ := json.Marshal(&resp)
			var p SearchResponse
			if err := json.Unmarshal(pb, &p); err != nil {
				b.Fatal(err)
			}
		}
	})
}
