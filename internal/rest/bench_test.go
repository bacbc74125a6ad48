package rest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/auth"
)

// discardWriter is a ResponseWriter that counts bytes.
type discardWriter struct {
	h http.Header
	n int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Write(b []byte) (int, error) { d.n += len(b); return len(b), nil }

func searchResult(n, dim int, withVector bool) []api.ScoredPoint {
	r := rand.New(rand.NewPCG(1, 2))
	out := make([]api.ScoredPoint, n)
	for i := range out {
		out[i] = api.ScoredPoint{
			ID: api.NumID(uint64(i)), Version: uint64(i), Score: r.Float32(),
			Payload: api.Payload{"city": "Berlin", "n": json.Number(fmt.Sprint(i)), "tags": []any{"a", "b"}},
		}
		if withVector {
			v := make([]float32, dim)
			for j := range v {
				v[j] = r.Float32()
			}
			out[i].Vector = api.Vectors{"": v}
		}
	}
	return out
}

// BenchmarkWriteSearchResult measures encoding a search answer into the
// envelope: 10 hits with payloads (the common case) and 100 hits with
// 768-d vectors (the heavy case), plain and gzipped (bytes/s are of the
// bytes written to the client).
func BenchmarkWriteSearchResult(b *testing.B) {
	h := New(Options{Service: &faultService{}})
	for _, bc := range []struct {
		name       string
		n, dim     int
		withVector bool
		gzip       bool
	}{
		{"10hits_payload", 10, 0, false, false},
		{"10hits_payload_gzip", 10, 0, false, true},
		{"100hits_768d_vectors", 100, 768, true, false},
		{"100hits_768d_vectors_gzip", 100, 768, true, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			res := searchResult(bc.n, bc.dim, bc.withVector)
			w := &discardWriter{h: http.Header{}}
			req := httptest.NewRequest("POST", "/collections/c/points/search", nil)
			if bc.gzip {
				req.Header.Set("Accept-Encoding", "gzip")
			}
			start := time.Now()
			if err := h.writeResult(w, req, start, res); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(w.n))
			b.ReportAllocs()
			for b.Loop() {
				if err := h.writeResult(w, req, start, res); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeUpsert measures decoding an upsert body of 100 points of
// 768 dimensions with payloads (about 800 KB): "checked" is decodeJSON as
// served, "loose" the same without the refusal of unknown members
// (api.CheckFields), whose cost is the difference.
func BenchmarkDecodeUpsert(b *testing.B) {
	pts := searchResult(100, 768, true)
	var buf bytes.Buffer
	buf.WriteString(`{"points":[`)
	for i, p := range pts {
		if i > 0 {
			buf.WriteByte(',')
		}
		js, _ := json.Marshal(api.PointStruct{ID: p.ID, Vector: p.Vector, Payload: p.Payload})
		buf.Write(js)
	}
	buf.WriteString(`]}`)
	body := buf.Bytes()
	for _, bc := range []struct {
		name   string
		decode func([]byte, any) error
	}{{"checked", decodeJSON}, {"loose", decodeJSONLoose}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				var req api.UpsertPoints
				if err := bc.decode(body, &req); err != nil {
					b.Fatal(err)
				}
				if len(req.Points) != 100 {
					b.Fatal("wrong count")
				}
			}
		})
	}
}

// TestFastEncodingMatchesJSON checks that the point encoder's output
// decodes to the same value as encoding/json's for every result type it
// handles.
func TestFastEncodingMatchesJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	pts := searchResult(20, 7, true)
	u := api.UUIDID([16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	pts[1].ID = u
	pts[2].Payload = nil
	pts[3].Vector = api.Vectors{"a": {1, 2}, "b<>&": {3e-9, -4.5e22}}
	pts[4].ShardKey = "k1"
	pts[5].OrderValue = json.Number("12.5")
	pts[6].Score = 1e-7
	pts[7].Score = -3.25e25
	pts[8].Payload = api.Payload{"html": "<b>&</b>", "nested": map[string]any{"x": []any{json.Number("1"), nil, true}}}
	for i := range pts {
		if r.IntN(3) == 0 {
			pts[i].Score = r.Float32() * float32(math.Pow(10, float64(r.IntN(40)-20)))
		}
	}
	recs := make([]api.Record, len(pts))
	for i, p := range pts {
		recs[i] = api.Record{ID: p.ID, Payload: p.Payload, Vector: p.Vector, ShardKey: p.ShardKey, OrderValue: p.OrderValue}
	}
	next := api.NumID(99)
	for _, v := range []any{
		pts, []api.ScoredPoint{}, [][]api.ScoredPoint{pts[:3], {}, pts[3:]},
		&api.QueryResponse{Points: pts}, []api.QueryResponse{{Points: pts[:2]}, {Points: []api.ScoredPoint{}}},
		recs, &recs[1], &api.ScrollResult{Points: recs, NextPageOffset: &next}, &api.ScrollResult{Points: []api.Record{}},
		map[string]int{"other": 1},
	} {
		var buf bytes.Buffer
		if err := newEncoder(&buf).encodeResult(v); err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var g, w any
		if err := json.Unmarshal(buf.Bytes(), &g); err != nil {
			t.Fatalf("fast output is not JSON: %v\n%s", err, buf.Bytes())
		}
		_ = json.Unmarshal(want, &w)
		if gs, ws := fmt.Sprint(g), fmt.Sprint(w); gs != ws {
			t.Errorf("%T: fast encoding differs\n got %s\nwant %s", v, buf.Bytes(), want)
		}
	}
	// Scores are formatted byte for byte as encoding/json formats float32.
	for range 10000 {
		f := math.Float32frombits(r.Uint32())
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			continue
		}
		want, _ := json.Marshal(f)
		if got := appendJSONFloat32(nil, f); string(got) != string(want) {
			t.Fatalf("float %v: got %s want %s", f, got, want)
		}
	}
}

// BenchmarkHandlerOverhead measures the adapter's own cost per request
// (routing, authentication, timeout parsing, metrics, logging, envelope)
// around a service call that returns at once.
func BenchmarkHandlerOverhead(b *testing.B) {
	reg := prometheus.NewRegistry()
	h := New(Options{
		Service:    &faultService{},
		Auth:       auth.New(auth.Options{APIKey: "k"}),
		Registerer: reg,
	})
	req := httptest.NewRequest("GET", "/collections", nil)
	req.Header.Set("api-key", "k")
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}
