package service

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
)

// TestVectorDatatypesSnapshotRoundTrip: a collection with a float16 and a
// uint8 vector stores float16 values rounded to half precision and refuses
// uint8 values that are not integers from 0 to 255 (or float16 values
// beyond its range), and a collection snapshot restores the same vectors,
// datatypes and search results in another node; an on_disk uint8
// multi-vector (Euclid) stores its floats converted as Qdrant converts them
// and comes back the same from the snapshot; so do a turbo4 vector (its
// decoded approximation and its searches) and the payloads, which the
// collection keeps on disk (on_disk_payload).
func TestVectorDatatypesSnapshotRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s := newService(t, filepath.Join(dir, "storage"))
	defer s.Close()
	f16, u8, t4 := "float16", "uint8", "turbo4"
	mustNil(t, s.CreateCollection(bg, "src", &api.CreateCollection{Vectors: api.VectorsConfig{
		"h": {Size: 3, Distance: api.DistanceCosine, Datatype: &f16},
		"u": {Size: 3, Distance: api.DistanceEuclid, Datatype: &u8},
		"t": {Size: 16, Distance: api.DistanceDot, Datatype: &t4},
		"m": {Size: 2, Distance: api.DistanceEuclid, Datatype: &u8, OnDisk: ptr(true), MultivectorConfig: &api.MultiVectorConfig{Comparator: api.ComparatorMaxSim}},
	}, OnDiskPayload: ptr(true)}))
	var pts []api.PointStruct
	for i := range 50 {
		x := float32(i)
		tv := make([]float32, 16)
		for j := range tv {
			tv[j] = float32((i*7+j*3)%11) - 5
		}
		pts = append(pts, api.PointStruct{ID: api.NumID(uint64(i + 1)), Vector: api.Vectors{
			"h": {0.1 + x, 1, -2},
			"u": {x, 255 - x, 7},
			"t": tv,
		}, Multi: api.MultiVectors{"m": {{x + 0.7, 3}, {300, -1}}}, Payload: api.Payload{"i": json.Number(strconv.Itoa(i)), "tag": []any{"a", "b"}}})
	}
	upsert(t, s, "src", pts)
	for _, bad := range []struct {
		vec  api.Vectors
		want string
	}{
		{api.Vectors{"u": {1.5, 2, 3}}, "integers from 0 to 255"},
		{api.Vectors{"u": {256, 2, 3}}, "integers from 0 to 255"},
		{api.Vectors{"u": {-1, 2, 3}}, "integers from 0 to 255"},
	} {
		_, err := s.Upsert(bg, "src", &api.UpsertPoints{Points: []api.PointStruct{{ID: api.NumID(99), Vector: bad.vec}}}, api.WriteParams{Wait: true})
		if api.KindOf(err) != api.KindBadInput || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("upsert %v: %v", bad.vec, err)
		}
	}
	mustNil(t, s.CreateCollection(bg, "big", &api.CreateCollection{Vectors: api.VectorsConfig{"": {Size: 2, Distance: api.DistanceDot, Datatype: &f16}}}))
	if _, err := s.Upsert(bg, "big", &api.UpsertPoints{Points: []api.PointStruct{{ID: api.NumID(1), Vector: api.Vectors{"": {70000, 1}}}}}, api.WriteParams{Wait: true}); api.KindOf(err) != api.KindBadInput || !strings.Contains(err.Error(), "float16 range") {
		t.Errorf("float16 overflow: %v", err)
	}
	get := func(s *Service, coll string) []api.Record {
		t.Helper()
		recs, err := s.GetPoints(bg, coll, &api.GetPoints{IDs: []api.PointID{api.NumID(1), api.NumID(50)}, WithVector: &api.VectorSelector{Enable: true}, WithPayload: api.PayloadAll}, api.ReadParams{})
		mustNil(t, err)
		return recs
	}
	before := get(s, "src")
	// Point 1's "h" is (0.1, 1, -2) normalised, then rounded to half precision.
	h := before[0].Vector["h"]
	for i, want := range []float32{0.044677734, 0.44677734, -0.8935547} {
		if h[i] != want {
			t.Fatalf("float16 vector %v, want element %d %v", h, i, want)
		}
	}
	if u := before[1].Vector["u"]; !slices.Equal(u, []float32{49, 206, 7}) {
		t.Fatalf("uint8 vector %v", u)
	}
	if m := before[1].Multi["m"]; len(m) != 2 || !slices.Equal(m[0], []float32{49, 3}) || !slices.Equal(m[1], []float32{255, 0}) {
		t.Fatalf("uint8 multi-vector %v", m)
	}
	multi := func(s *Service, coll string) []api.ScoredPoint {
		t.Helper()
		res, err := s.Query(bg, coll, &api.QueryRequest{Query: &api.Query{Nearest: &api.VectorInput{Multi: [][]float32{{15, 3}, {250, 0}}}}, Using: ptr("m"), Limit: ptr(3)}, api.ReadParams{})
		mustNil(t, err)
		return res.Points
	}
	wantMulti := multi(s, "src")
	if len(wantMulti) != 3 || wantMulti[0].ID.Num != 16 || wantMulti[0].Score != 5 {
		t.Fatalf("query by the uint8 multi-vector: %+v", wantMulti)
	}
	search := func(s *Service, coll string) []api.ScoredPoint {
		t.Helper()
		res, err := s.Search(bg, coll, &api.SearchRequest{Vector: api.NamedVector{Name: "u", Vector: []float32{15, 240, 7}}, Limit: 3}, api.ReadParams{})
		mustNil(t, err)
		return res
	}
	want := search(s, "src")
	if len(want) != 3 || want[0].ID.Num != 16 || want[0].Score != 0 {
		t.Fatalf("search by the uint8 vector: %+v", want)
	}
	a, err := newManager(t, s, dir).CreateArchive(bg, "src")
	mustNil(t, err)
	archive := filepath.Join(dir, "src.snapshot")
	mustNil(t, os.Rename(a.Path, archive))

	dir2 := t.TempDir()
	s2 := newService(t, filepath.Join(dir2, "storage"))
	defer s2.Close()
	mustNil(t, recoverFile(newManager(t, s2, dir2), "dst", archive))
	info, err := s2.CollectionInfo(bg, "dst")
	mustNil(t, err)
	if p := info.Config.Params.Vectors; *p["h"].Datatype != "float16" || *p["u"].Datatype != "uint8" || *p["t"].Datatype != "turbo4" || !info.Config.Params.OnDiskPayload {
		t.Fatalf("restored datatypes %v %v %v, on_disk_payload %v", *p["h"].Datatype, *p["u"].Datatype, *p["t"].Datatype, info.Config.Params.OnDiskPayload)
	}
	after := get(s2, "dst")
	for i := range before {
		for name, v := range before[i].Vector {
			if !slices.Equal(after[i].Vector[name], v) {
				t.Errorf("restored %d %q: %v, was %v", before[i].ID.Num, name, after[i].Vector[name], v)
			}
		}
	}
	for i := range before {
		if g, w := fmt.Sprint(after[i].Payload), fmt.Sprint(before[i].Payload); g != w || !strings.Contains(w, "tag") {
			t.Errorf("restored %d payload: %v, was %v", before[i].ID.Num, g, w)
		}
		if g, w := after[i].Multi["m"], before[i].Multi["m"]; !slices.EqualFunc(g, w, slices.Equal) {
			t.Errorf("restored %d multi-vector: %v, was %v", before[i].ID.Num, g, w)
		}
	}
	if p := info.Config.Params.Vectors["m"]; p.OnDisk == nil || !*p.OnDisk {
		t.Fatalf("restored multi-vector on_disk %v", p.OnDisk)
	}
	if got := multi(s2, "dst"); !slices.EqualFunc(got, wantMulti, func(a, b api.ScoredPoint) bool { return a.ID == b.ID && a.Score == b.Score }) {
		t.Errorf("restored multi-vector query %+v, was %+v", got, wantMulti)
	}
	got := search(s2, "dst")
	for i := range want {
		if got[i].ID != want[i].ID || got[i].Score != want[i].Score {
			t.Errorf("restored search hit %d: %+v, was %+v", i, got[i], want[i])
		}
	}
	turbo := func(s *Service, coll string) []api.ScoredPoint {
		t.Helper()
		q := make([]float32, 16)
		for j := range q {
			q[j] = float32(j%5) - 2
		}
		res, err := s.Query(bg, coll, &api.QueryRequest{Query: &api.Query{Nearest: &api.VectorInput{Vector: q}}, Using: ptr("t"), Limit: ptr(5),
			Filter: &api.Filter{Must: []api.Condition{{Field: &api.FieldCondition{Key: "i", Range: &api.Range{Gte: ptr(10.0)}}}}}, WithPayload: api.PayloadAll}, api.ReadParams{})
		mustNil(t, err)
		return res.Points
	}
	wantT, gotT := turbo(s, "src"), turbo(s2, "dst")
	if len(wantT) != 5 || fmt.Sprint(wantT) != fmt.Sprint(gotT) {
		t.Errorf("restored turbo4 query with a payload filter:\n%v\nwas\n%v", gotT, wantT)
	}
}
