package shard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/shoal-db/shoal/internal/api"
)

var bg = context.Background()

// testOptions are the options most tests open shards with. With
// SHOAL_TEST_ONDISK_PAYLOAD set, their payloads are on disk, which runs
// those tests against the on-disk payload path as well.
func testOptions(dir string) Options {
	return Options{
		Dir: dir,
		Vectors: api.VectorsConfig{
			"": {Size: 4, Distance: api.DistanceDot},
		},
		IndexingThreads: 1,
		OnDiskPayload:   os.Getenv("SHOAL_TEST_ONDISK_PAYLOAD") != "",
	}
}

func openShard(t testing.TB, opts Options) *Shard {
	t.Helper()
	s, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func apply(t testing.TB, s *Shard, op *api.UpdateOperation) uint64 {
	t.Helper()
	seq, err := s.Apply(bg, op)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return seq
}

func payload(t testing.TB, js string) api.Payload {
	t.Helper()
	p, err := api.DecodePayload([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func filterJSON(t testing.TB, js string) *api.Filter {
	t.Helper()
	f := new(api.Filter)
	if err := json.Unmarshal([]byte(js), f); err != nil {
		t.Fatal(err)
	}
	return f
}

func upsert(points ...api.PointStruct) *api.UpdateOperation {
	return &api.UpdateOperation{Upsert: &api.UpsertPoints{Points: points}}
}

func pt(id uint64, vec []float32, p api.Payload) api.PointStruct {
	return api.PointStruct{ID: api.NumID(id), Vector: api.Vectors{"": vec}, Payload: p}
}

func jsonOf(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var all = &api.VectorSelector{Enable: true}

func getOne(t testing.TB, s *Shard, id uint64) *api.Record {
	t.Helper()
	rs, err := s.Get(bg, []api.PointID{api.NumID(id)}, api.PayloadAll, all)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) == 0 {
		return nil
	}
	return &rs[0]
}

func TestUpsertGetScroll(t *testing.T) {
	s := openShard(t, testOptions(t.TempDir()))
	u := api.UUIDID(uuid.MustParse("5c56c793-69f3-4fbf-87e6-c4bf54c28c26"))
	seq1 := apply(t, s, upsert(pt(3, []float32{1, 0, 0, 0}, payload(t, `{"a":1}`)), pt(1, []float32{0, 1, 0, 0}, nil)))
	seq2 := apply(t, s, &api.UpdateOperation{Upsert: &api.UpsertPoints{Points: []api.PointStruct{
		{ID: u, Vector: api.Vectors{"": {0, 0, 1, 0}}, Payload: payload(t, `{"b":"x"}`)},
		pt(2, []float32{0, 0, 0, 1}, payload(t, `{"c":[1,2]}`)),
	}}})
	if seq1 != 1 || seq2 != 2 || s.LastSeq() != 2 {
		t.Fatalf("seqs %d %d last %d, want 1 2 2", seq1, seq2, s.LastSeq())
	}
	rs, err := s.Get(bg, []api.PointID{api.NumID(2), api.NumID(9), u, api.NumID(3)}, api.PayloadAll, all)
	if err != nil {
		t.Fatal(err)
	}
	got := jsonOf(t, rs)
	want := `[{"id":2,"payload":{"c":[1,2]},"vector":[0,0,0,1]},{"id":"5c56c793-69f3-4fbf-87e6-c4bf54c28c26","payload":{"b":"x"},"vector":[0,0,1,0]},{"id":3,"payload":{"a":1},"vector":[1,0,0,0]}]`
	if got != want {
		t.Fatalf("Get:\n got %s\nwant %s", got, want)
	}
	// Without selectors: ids only; a point without payload gives {} when selected.
	rs, _ = s.Get(bg, []api.PointID{api.NumID(1)}, nil, nil)
	if jsonOf(t, rs) != `[{"id":1}]` {
		t.Fatalf("Get without selectors: %s", jsonOf(t, rs))
	}
	rs, _ = s.Get(bg, []api.PointID{api.NumID(1)}, api.PayloadAll, nil)
	if len(rs) != 1 || rs[0].Payload == nil || len(rs[0].Payload) != 0 {
		t.Fatalf("Get empty payload: %s", jsonOf(t, rs))
	}

	page, err := s.Scroll(bg, ScrollRequest{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range page {
		ids = append(ids, r.ID.String())
	}
	if fmt.Sprint(ids) != "[1 2 3 5c56c793-69f3-4fbf-87e6-c4bf54c28c26]" {
		t.Fatalf("scroll order %v", ids)
	}
	off := api.NumID(2)
	page, _ = s.Scroll(bg, ScrollRequest{Limit: 2, Offset: &off})
	if len(page) != 2 || page[0].ID != api.NumID(2) || page[1].ID != api.NumID(3) {
		t.Fatalf("scroll from 2: %s", jsonOf(t, page))
	}
	page, _ = s.Scroll(bg, ScrollRequest{Limit: 10, Filter: filterJSON(t, `{"must":[{"key":"a","match":{"value":1}}]}`)})
	if len(page) != 1 || page[0].ID != api.NumID(3) {
		t.Fatalf("filtered scroll: %s", jsonOf(t, page))
	}
	// Upsert replaces the whole point, version follows.
	seq3 := apply(t, s, upsert(pt(3, []float32{2, 0, 0, 0}, nil)))
	r := getOne(t, s, 3)
	if r.Payload == nil || len(r.Payload) != 0 || r.Vector[""][0] != 2 {
		t.Fatalf("after replace: %s", jsonOf(t, r))
	}
	hits, err := s.Search(bg, SearchRequest{Vector: []float32{1, 0, 0, 0}, Limit: 1})
	if err != nil || len(hits) != 1 || hits[0].ID != api.NumID(3) || hits[0].Version != seq3 || hits[0].Score != 2 {
		t.Fatalf("search after replace: %v %s", err, jsonOf(t, hits))
	}
	if st := s.Stats(); st.Points != 4 || st.LastSeq != seq3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestDelete(t *testing.T) {
	s := openShard(t, testOptions(t.TempDir()))
	for i := range 10 {
		apply(t, s, upsert(pt(uint64(i), []float32{float32(i), 1, 0, 0}, payload(t, fmt.Sprintf(`{"n":%d,"even":%v}`, i, i%2 == 0)))))
	}
	apply(t, s, &api.UpdateOperation{Delete: &api.PointsSelector{Points: []api.PointID{api.NumID(1), api.NumID(100)}}})
	apply(t, s, &api.UpdateOperation{Delete: &api.PointsSelector{Filter: filterJSON(t, `{"must":[{"key":"even","match":{"value":true}}]}`)}})
	page, _ := s.Scroll(bg, ScrollRequest{Limit: 100})
	var ids []uint64
	for _, r := range page {
		ids = append(ids, r.ID.Num)
	}
	if fmt.Sprint(ids) != "[3 5 7 9]" {
		t.Fatalf("after deletes: %v", ids)
	}
	if n, _ := s.Count(bg, nil, true); n != 4 {
		t.Fatalf("count %d", n)
	}
	hits, _ := s.Search(bg, SearchRequest{Vector: []float32{1, 0, 0, 0}, Limit: 10})
	if len(hits) != 4 || hits[0].ID.Num != 9 {
		t.Fatalf("search after delete: %s", jsonOf(t, hits))
	}
	// Re-inserting a deleted id works.
	apply(t, s, upsert(pt(2, []float32{100, 0, 0, 0}, nil)))
	hits, _ = s.Search(bg, SearchRequest{Vector: []float32{1, 0, 0, 0}, Limit: 1})
	if hits[0].ID.Num != 2 {
		t.Fatalf("reinserted point not found first: %s", jsonOf(t, hits))
	}
}

func TestPayloadOperations(t *testing.T) {
	s := openShard(t, testOptions(t.TempDir()))
	apply(t, s, upsert(pt(1, []float32{1, 0, 0, 0}, payload(t, `{"a":1,"nested":{"x":1,"y":2}}`)), pt(2, []float32{0, 1, 0, 0}, payload(t, `{"a":2}`))))
	check := func(id uint64, want string) {
		t.Helper()
		if got := jsonOf(t, getOne(t, s, id).Payload); got != want {
			t.Fatalf("payload of %d: got %s want %s", id, got, want)
		}
	}
	apply(t, s, &api.UpdateOperation{SetPayload: &api.SetPayload{Payload: payload(t, `{"b":"x","a":5}`), Points: []api.PointID{api.NumID(1)}}})
	check(1, `{"a":5,"b":"x","nested":{"x":1,"y":2}}`)
	key := "nested"
	apply(t, s, &api.UpdateOperation{SetPayload: &api.SetPayload{Payload: payload(t, `{"z":3}`), Points: []api.PointID{api.NumID(1)}, Key: &key}})
	check(1, `{"a":5,"b":"x","nested":{"x":1,"y":2,"z":3}}`)
	apply(t, s, &api.UpdateOperation{SetPayload: &api.SetPayload{Payload: payload(t, `{"tag":"t"}`), Filter: filterJSON(t, `{"must":[{"key":"a","match":{"value":2}}]}`)}})
	check(2, `{"a":2,"tag":"t"}`)
	apply(t, s, &api.UpdateOperation{DeletePayload: &api.DeletePayload{Keys: []string{"b", "nested.x"}, Points: []api.PointID{api.NumID(1)}}})
	check(1, `{"a":5,"nested":{"y":2,"z":3}}`)
	apply(t, s, &api.UpdateOperation{OverwritePayload: &api.SetPayload{Payload: payload(t, `{"only":true}`), Points: []api.PointID{api.NumID(1)}}})
	check(1, `{"only":true}`)
	seq := apply(t, s, &api.UpdateOperation{ClearPayload: &api.PointsSelector{Points: []api.PointID{api.NumID(2)}}})
	check(2, `{}`)
	if n, _ := s.Count(bg, filterJSON(t, `{"must":[{"key":"tag","match":{"value":"t"}}]}`), true); n != 0 {
		t.Fatalf("cleared payload still matches: %d", n)
	}
	// Payload changes keep the vector and bump the version.
	hits, _ := s.Search(bg, SearchRequest{Vector: []float32{0, 1, 0, 0}, Limit: 1})
	if hits[0].ID.Num != 2 || hits[0].Version != seq {
		t.Fatalf("hit %s, want id 2 version %d", jsonOf(t, hits), seq)
	}
	// Missing points are 404 and nothing is applied.
	last := s.LastSeq()
	_, err := s.Apply(bg, &api.UpdateOperation{SetPayload: &api.SetPayload{Payload: payload(t, `{"q":1}`), Points: []api.PointID{api.NumID(1), api.NumID(77)}}})
	if api.KindOf(err) != api.KindNotFound || api.Message(err) != "Not found: No point with id 77 found" {
		t.Fatalf("set_payload on missing point: %v", err)
	}
	if s.LastSeq() != last {
		t.Fatal("failed operation consumed a sequence number")
	}
	check(1, `{"only":true}`)
}

func namedOptions(dir string) Options {
	o := testOptions(dir)
	o.Vectors = api.VectorsConfig{
		"img":  {Size: 3, Distance: api.DistanceEuclid},
		"text": {Size: 2, Distance: api.DistanceCosine},
	}
	return o
}

func TestVectorOperations(t *testing.T) {
	s := openShard(t, namedOptions(t.TempDir()))
	apply(t, s, upsert(
		api.PointStruct{ID: api.NumID(1), Vector: api.Vectors{"img": {1, 2, 3}, "text": {1, 0}}, Payload: payload(t, `{"k":"a"}`)},
		api.PointStruct{ID: api.NumID(2), Vector: api.Vectors{"img": {0, 0, 0}}, Payload: payload(t, `{"k":"b"}`)},
	))
	apply(t, s, &api.UpdateOperation{UpdateVectors: &api.UpdateVectors{Points: []api.PointVectors{{ID: api.NumID(2), Vector: api.Vectors{"text": {0, 1}}}}}})
	r := getOne(t, s, 2)
	if jsonOf(t, r) != `{"id":2,"payload":{"k":"b"},"vector":{"img":[0,0,0],"text":[0,1]}}` {
		t.Fatalf("after update_vectors: %s", jsonOf(t, r))
	}
	// update_filter skips non-matching points.
	apply(t, s, &api.UpdateOperation{UpdateVectors: &api.UpdateVectors{
		Points:       []api.PointVectors{{ID: api.NumID(1), Vector: api.Vectors{"img": {9, 9, 9}}}, {ID: api.NumID(2), Vector: api.Vectors{"img": {7, 7, 7}}}},
		UpdateFilter: filterJSON(t, `{"must":[{"key":"k","match":{"value":"b"}}]}`),
	}})
	if v := getOne(t, s, 1).Vector["img"]; !slices.Equal(v, []float32{1, 2, 3}) {
		t.Fatalf("filtered-out point changed: %v", v)
	}
	if v := getOne(t, s, 2).Vector["img"]; !slices.Equal(v, []float32{7, 7, 7}) {
		t.Fatalf("matching point not changed: %v", v)
	}
	_, err := s.Apply(bg, &api.UpdateOperation{UpdateVectors: &api.UpdateVectors{Points: []api.PointVectors{{ID: api.NumID(5), Vector: api.Vectors{"img": {1, 1, 1}}}}}})
	if api.KindOf(err) != api.KindNotFound || api.Message(err) != "Not found: No point with id 5 found" {
		t.Fatalf("update_vectors on missing point: %v", err)
	}
	apply(t, s, &api.UpdateOperation{DeleteVectors: &api.DeleteVectors{Points: []api.PointID{api.NumID(1)}, Vector: []string{"text"}}})
	if jsonOf(t, getOne(t, s, 1).Vector) != `{"img":[1,2,3]}` {
		t.Fatalf("after delete_vectors: %s", jsonOf(t, getOne(t, s, 1)))
	}
	if n, _ := s.Count(bg, filterJSON(t, `{"must":[{"has_vector":"text"}]}`), true); n != 1 {
		t.Fatalf("has_vector text count %d, want 1", n)
	}
	hits, err := s.Search(bg, SearchRequest{Using: "text", Vector: []float32{0, 1}, Limit: 10})
	if err != nil || len(hits) != 1 || hits[0].ID.Num != 2 {
		t.Fatalf("text search: %v %s", err, jsonOf(t, hits))
	}
	// Euclid reports the distance; lower is better.
	hits, _ = s.Search(bg, SearchRequest{Using: "img", Vector: []float32{1, 2, 4}, Limit: 10})
	if len(hits) != 2 || hits[0].ID.Num != 1 || hits[0].Score != 1 {
		t.Fatalf("img search: %s", jsonOf(t, hits))
	}
	thr := float32(2)
	hits, _ = s.Search(bg, SearchRequest{Using: "img", Vector: []float32{1, 2, 4}, Limit: 10, ScoreThreshold: &thr})
	if len(hits) != 1 {
		t.Fatalf("euclid threshold kept %d hits", len(hits))
	}
	// Selected vectors only.
	rs, _ := s.Get(bg, []api.PointID{api.NumID(2)}, nil, &api.VectorSelector{Enable: true, Names: []string{"text"}})
	if jsonOf(t, rs[0].Vector) != `{"text":[0,1]}` {
		t.Fatalf("vector selector: %s", jsonOf(t, rs))
	}
}

func TestUpsertUpdateFilter(t *testing.T) {
	s := openShard(t, testOptions(t.TempDir()))
	apply(t, s, upsert(pt(1, []float32{1, 0, 0, 0}, payload(t, `{"v":1}`)), pt(2, []float32{1, 0, 0, 0}, payload(t, `{"v":2}`))))
	apply(t, s, &api.UpdateOperation{Upsert: &api.UpsertPoints{
		Points:       []api.PointStruct{pt(1, []float32{0, 1, 0, 0}, payload(t, `{"v":10}`)), pt(2, []float32{0, 1, 0, 0}, payload(t, `{"v":20}`)), pt(3, []float32{0, 1, 0, 0}, payload(t, `{"v":30}`))},
		UpdateFilter: filterJSON(t, `{"must":[{"key":"v","match":{"value":2}}]}`),
	}})
	for id, want := range map[uint64]string{1: `{"v":1}`, 2: `{"v":20}`, 3: `{"v":30}`} {
		if got := jsonOf(t, getOne(t, s, id).Payload); got != want {
			t.Fatalf("point %d payload %s, want %s", id, got, want)
		}
	}
}

func TestBadInputAppliesNothing(t *testing.T) {
	s := openShard(t, namedOptions(t.TempDir()))
	apply(t, s, upsert(api.PointStruct{ID: api.NumID(1), Vector: api.Vectors{"img": {1, 2, 3}}}))
	deep := api.Payload{}
	cur := map[string]any(deep)
	for range api.MaxPayloadDepth + 2 {
		n := map[string]any{}
		cur["d"] = n
		cur = n
	}
	nan := float32(math.NaN())
	cases := []struct {
		name string
		op   *api.UpdateOperation
		want string
	}{
		{"dim", upsert(api.PointStruct{ID: api.NumID(2), Vector: api.Vectors{"img": {1}}}, api.PointStruct{ID: api.NumID(3), Vector: api.Vectors{"img": {1, 2, 3}}}), "Wrong input: Vector dimension error: expected dim: 3, got 1"},
		{"name", upsert(api.PointStruct{ID: api.NumID(3), Vector: api.Vectors{"img": {1, 2, 3}}}, api.PointStruct{ID: api.NumID(2), Vector: api.Vectors{"nope": {1}}}), "Wrong input: Not existing vector name error: nope"},
		{"nan", upsert(api.PointStruct{ID: api.NumID(2), Vector: api.Vectors{"img": {1, nan, 3}}}), `Wrong input: vector "img" contains NaN or infinite values`},
		{"depth", upsert(api.PointStruct{ID: api.NumID(2), Vector: api.Vectors{"img": {1, 2, 3}}, Payload: deep}), "Wrong input: payload is nested deeper than 64 levels"},
		{"set depth", &api.UpdateOperation{SetPayload: &api.SetPayload{Points: []api.PointID{api.NumID(1)}, Payload: deep}}, "Wrong input: payload is nested deeper than 64 levels"},
		{"filter", &api.UpdateOperation{Delete: &api.PointsSelector{Filter: &api.Filter{Must: []api.Condition{{Field: &api.FieldCondition{Key: ""}}}}}}, ""},
		{"two actions", &api.UpdateOperation{Delete: &api.PointsSelector{}, ClearPayload: &api.PointsSelector{}}, "Wrong input: an update operation must have exactly one action"},
		{"update dims", &api.UpdateOperation{UpdateVectors: &api.UpdateVectors{Points: []api.PointVectors{{ID: api.NumID(1), Vector: api.Vectors{"text": {1, 2, 3}}}}}}, "Wrong input: Vector dimension error: expected dim: 2, got 3"},
		{"delete vector name", &api.UpdateOperation{DeleteVectors: &api.DeleteVectors{Points: []api.PointID{api.NumID(1)}, Vector: []string{"zzz"}}}, "Wrong input: Not existing vector name error: zzz"},
	}
	for _, c := range cases {
		_, err := s.Apply(bg, c.op)
		if err == nil {
			t.Fatalf("%s: no error", c.name)
		}
		if k := api.KindOf(err); k != api.KindBadInput && k != api.KindValidation {
			t.Fatalf("%s: kind %v (%v), want bad input or a validation error", c.name, k, err)
		}
		if c.want != "" && api.Message(err) != c.want {
			t.Fatalf("%s: message %q, want %q", c.name, api.Message(err), c.want)
		}
	}
	if s.LastSeq() != 1 {
		t.Fatalf("failed operations advanced the sequence to %d", s.LastSeq())
	}
	if n, _ := s.Count(bg, nil, true); n != 1 {
		t.Fatalf("failed operations changed the point count to %d", n)
	}
	if r := getOne(t, s, 1); jsonOf(t, r) != `{"id":1,"vector":{"img":[1,2,3]}}` || len(r.Payload) != 0 {
		t.Fatalf("point changed: %s", jsonOf(t, r))
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(namedOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	apply(t, s, upsert(
		api.PointStruct{ID: api.NumID(1), Vector: api.Vectors{"img": {1, 2, 3}, "text": {1, 0}}, Payload: payload(t, `{"k":"a"}`)},
		api.PointStruct{ID: api.NumID(2), Vector: api.Vectors{"img": {0, 0, 0}}},
	))
	apply(t, s, &api.UpdateOperation{UpdateVectors: &api.UpdateVectors{Points: []api.PointVectors{{ID: api.NumID(2), Vector: api.Vectors{"text": {0, 1}}}}}})
	apply(t, s, &api.UpdateOperation{Delete: &api.PointsSelector{Points: []api.PointID{api.NumID(1)}}})
	apply(t, s, upsert(api.PointStruct{ID: api.NumID(3), Vector: api.Vectors{"img": {3, 3, 3}}, Payload: payload(t, `{"k":"c"}`)}))
	before, _ := s.Scroll(bg, ScrollRequest{Limit: 10, WithPayload: api.PayloadAll, WithVector: all})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Apply(bg, upsert(pt(9, []float32{1, 2, 3, 4}, nil))); !errors.Is(err, ErrClosed) {
		t.Fatalf("Apply after Close: %v", err)
	}
	if _, err := s.Get(bg, []api.PointID{api.NumID(1)}, nil, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}
	if err := s.ReadOps(bg, 1, func(uint64, *api.UpdateOperation) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("ReadOps after Close: %v", err)
	}
	s2 := openShard(t, namedOptions(dir))
	after, _ := s2.Scroll(bg, ScrollRequest{Limit: 10, WithPayload: api.PayloadAll, WithVector: all})
	if jsonOf(t, before) != jsonOf(t, after) {
		t.Fatalf("reopen changed points:\nbefore %s\n after %s", jsonOf(t, before), jsonOf(t, after))
	}
	if s2.LastSeq() != 4 {
		t.Fatalf("last seq %d after reopen", s2.LastSeq())
	}
	if seq := apply(t, s2, upsert(api.PointStruct{ID: api.NumID(4), Vector: api.Vectors{"img": {4, 4, 4}}})); seq != 5 {
		t.Fatalf("next seq %d, want 5", seq)
	}
	hits, _ := s2.Search(bg, SearchRequest{Using: "img", Vector: []float32{3, 3, 3}, Limit: 1, WithPayload: api.PayloadAll})
	if len(hits) != 1 || hits[0].ID.Num != 3 || hits[0].Version != 4 || jsonOf(t, hits[0].Payload) != `{"k":"c"}` {
		t.Fatalf("search after reopen: %s", jsonOf(t, hits))
	}
}

func TestReadOps(t *testing.T) {
	s := openShard(t, namedOptions(t.TempDir()))
	key := "n"
	ops := []*api.UpdateOperation{
		upsert(api.PointStruct{ID: api.NumID(1), Vector: api.Vectors{"img": {1, 2, 3}, "text": {0.6, 0.8}}, Payload: payload(t, `{"k":"a","f":1.5}`)},
			api.PointStruct{ID: api.UUIDID(uuid.MustParse("00000000-0000-0000-0000-000000000001")), Vector: api.Vectors{"img": {0, 0, 0}}}),
		{Upsert: &api.UpsertPoints{Points: []api.PointStruct{{ID: api.NumID(2), Vector: api.Vectors{}}}, UpdateFilter: filterJSON(t, `{"must":[{"key":"k","match":{"any":["a","b"]}}]}`)}},
		{SetPayload: &api.SetPayload{Payload: payload(t, `{"x":[1,{"y":null}]}`), Points: []api.PointID{api.NumID(1)}, Key: &key}},
		{OverwritePayload: &api.SetPayload{Payload: payload(t, `{"z":1}`), Filter: filterJSON(t, `{"must":[{"has_id":[1]}]}`)}},
		{DeletePayload: &api.DeletePayload{Keys: []string{"z"}, Points: []api.PointID{api.NumID(1)}}},
		{ClearPayload: &api.PointsSelector{Points: []api.PointID{api.NumID(1)}}},
		{UpdateVectors: &api.UpdateVectors{Points: []api.PointVectors{{ID: api.NumID(1), Vector: api.Vectors{"img": {float32(math.Pi), -0, 1e-30}}}}}},
		{DeleteVectors: &api.DeleteVectors{Points: []api.PointID{api.NumID(1)}, Vector: []string{"text"}}},
		{Delete: &api.PointsSelector{Filter: filterJSON(t, `{"must_not":[{"has_id":[1]}]}`)}},
	}
	for _, op := range ops {
		apply(t, s, op)
	}
	var got []*api.UpdateOperation
	err := s.ReadOps(bg, 0, func(seq uint64, op *api.UpdateOperation) error {
		if seq != uint64(len(got)+1) {
			t.Fatalf("seq %d at position %d", seq, len(got))
		}
		got = append(got, op)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ops) {
		t.Fatalf("read %d ops, want %d", len(got), len(ops))
	}
	for i := range ops {
		if jsonOf(t, ops[i]) != jsonOf(t, got[i]) {
			t.Fatalf("op %d:\n got %s\nwant %s", i+1, jsonOf(t, got[i]), jsonOf(t, ops[i]))
		}
	}
	if !reflect.DeepEqual(ops[6].UpdateVectors.Points[0].Vector, got[6].UpdateVectors.Points[0].Vector) {
		t.Fatal("vectors not bit-exact through the op log")
	}
	n := 0
	if err := s.ReadOps(bg, 8, func(uint64, *api.UpdateOperation) error { n++; return nil }); err != nil || n != 2 {
		t.Fatalf("ReadOps(8): %d ops, %v", n, err)
	}
	if err := s.ReadOps(bg, 10, func(uint64, *api.UpdateOperation) error { t.Fatal("called"); return nil }); err != nil {
		t.Fatalf("ReadOps past the end: %v", err)
	}
	stop := errors.New("stop")
	if err := s.ReadOps(bg, 1, func(uint64, *api.UpdateOperation) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("callback error not returned: %v", err)
	}
}

func TestOpLogTruncation(t *testing.T) {
	opts := testOptions(t.TempDir())
	opts.OpLogRetain = 5
	s := openShard(t, opts)
	for i := range 20 {
		apply(t, s, upsert(pt(uint64(i), []float32{1, 2, 3, 4}, nil)))
	}
	if err := s.truncateLog(); err != nil {
		t.Fatal(err)
	}
	if err := s.ReadOps(bg, 3, func(uint64, *api.UpdateOperation) error { return nil }); !errors.Is(err, ErrTruncated) {
		t.Fatalf("ReadOps(3) after truncation: %v, want ErrTruncated", err)
	}
	var seqs []uint64
	if err := s.ReadOps(bg, 16, func(seq uint64, _ *api.UpdateOperation) error { seqs = append(seqs, seq); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(seqs) != "[16 17 18 19 20]" {
		t.Fatalf("retained ops %v", seqs)
	}
}

// bruteForce returns the ids of the k best points by score.
func bruteForce(vecs map[uint64][]float32, q []float32, k int, dist func(a, b []float32) float32, keep func(uint64) bool) []uint64 {
	type sc struct {
		id uint64
		d  float32
	}
	var all []sc
	for id, v := range vecs {
		if keep == nil || keep(id) {
			all = append(all, sc{id, dist(q, v)})
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].d != all[j].d {
			return all[i].d < all[j].d
		}
		return all[i].id < all[j].id
	})
	var out []uint64
	for _, s := range all[:min(k, len(all))] {
		out = append(out, s.id)
	}
	return out
}

func randVec(r *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = r.Float32()*2 - 1
	}
	return v
}

func TestSearchExactMatchesBruteForce(t *testing.T) {
	opts := testOptions(t.TempDir())
	opts.Vectors = api.VectorsConfig{"": {Size: 8, Distance: api.DistanceEuclid}}
	s := openShard(t, opts)
	r := rand.New(rand.NewPCG(1, 2))
	vecs := map[uint64][]float32{}
	var batch []api.PointStruct
	for i := range 500 {
		v := randVec(r, 8)
		vecs[uint64(i)] = v
		batch = append(batch, pt(uint64(i), v, payload(t, fmt.Sprintf(`{"g":%d}`, i%7))))
	}
	apply(t, s, upsert(batch...))
	euclid := func(a, b []float32) float32 {
		var s float32
		for i := range a {
			d := a[i] - b[i]
			s += d * d
		}
		return s
	}
	for range 20 {
		q := randVec(r, 8)
		hits, err := s.Search(bg, SearchRequest{Vector: q, Limit: 10, Filter: filterJSON(t, `{"must":[{"key":"g","match":{"value":3}}]}`), Params: api.SearchParams{Exact: true}})
		if err != nil {
			t.Fatal(err)
		}
		want := bruteForce(vecs, q, 10, euclid, func(id uint64) bool { return id%7 == 3 })
		var got []uint64
		for i, h := range hits {
			got = append(got, h.ID.Num)
			if d := float32(math.Sqrt(float64(euclid(q, vecs[h.ID.Num])))); math.Abs(float64(d-h.Score)) > 1e-4 {
				t.Fatalf("hit %d score %v, want distance %v", i, h.Score, d)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("exact search %v, want %v", got, want)
		}
	}
}

func TestCountFacetSample(t *testing.T) {
	s := openShard(t, testOptions(t.TempDir()))
	var batch []api.PointStruct
	for i := range 100 {
		batch = append(batch, pt(uint64(i), []float32{1, 0, 0, 0}, payload(t, fmt.Sprintf(`{"color":%q,"tags":["t%d","all"],"n":%d}`, []string{"red", "green", "blue"}[i%3], i%2, i))))
	}
	apply(t, s, upsert(batch...))
	red := filterJSON(t, `{"must":[{"key":"color","match":{"value":"red"}}]}`)
	if n, err := s.Count(bg, red, true); err != nil || n != 34 {
		t.Fatalf("count red %d %v", n, err)
	}
	if n, err := s.Count(bg, red, false); err != nil || n == 0 {
		t.Fatalf("approximate count red %d %v", n, err)
	}
	hits, err := s.Facet(bg, "color", nil, 2, true)
	if err != nil || jsonOf(t, hits) != `[{"value":"red","count":34},{"value":"blue","count":33}]` {
		t.Fatalf("facet color: %s %v", jsonOf(t, hits), err)
	}
	hits, _ = s.Facet(bg, "tags", red, 10, true)
	if jsonOf(t, hits) != `[{"value":"all","count":34},{"value":"t0","count":17},{"value":"t1","count":17}]` {
		t.Fatalf("facet tags: %s", jsonOf(t, hits))
	}
	ids, err := s.Sample(bg, 10, red)
	if err != nil || len(ids) != 10 {
		t.Fatalf("sample: %v %v", ids, err)
	}
	seen := map[api.PointID]bool{}
	for _, id := range ids {
		if id.Num%3 != 0 || seen[id] {
			t.Fatalf("sample returned %v (not red or duplicate)", id)
		}
		seen[id] = true
	}
	// Uniformity: every red point is drawn sometimes over many samples.
	drawn := map[uint64]int{}
	for range 200 {
		ids, _ := s.Sample(bg, 5, red)
		for _, id := range ids {
			drawn[id.Num]++
		}
	}
	if len(drawn) != 34 {
		t.Fatalf("sampling reached %d of 34 points", len(drawn))
	}
	if ids, _ := s.Sample(bg, 1000, red); len(ids) != 34 {
		t.Fatalf("sample larger than population: %d", len(ids))
	}
}

func TestScrollOrderBy(t *testing.T) {
	opts := testOptions(t.TempDir())
	opts.PayloadIndexes = map[string]api.PayloadFieldSchema{"price": {Type: api.SchemaFloat}}
	s := openShard(t, opts)
	apply(t, s, upsert(
		pt(1, []float32{1, 0, 0, 0}, payload(t, `{"price":3.5}`)),
		pt(2, []float32{1, 0, 0, 0}, payload(t, `{"price":1}`)),
		pt(3, []float32{1, 0, 0, 0}, payload(t, `{"price":[2,10]}`)),
		pt(4, []float32{1, 0, 0, 0}, payload(t, `{"other":1}`)),
	))
	page, err := s.Scroll(bg, ScrollRequest{Limit: 10, OrderBy: &api.OrderBy{Key: "price"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range page {
		got = append(got, fmt.Sprintf("%d:%v", r.ID.Num, r.OrderValue))
	}
	if fmt.Sprint(got) != "[2:1 3:2 1:3.5 3:10]" {
		t.Fatalf("ordered scroll %v", got)
	}
	page, _ = s.Scroll(bg, ScrollRequest{Limit: 2, OrderBy: &api.OrderBy{Key: "price", Direction: "desc", StartFrom: json.Number("3")}})
	if len(page) != 2 || page[0].ID.Num != 3 || page[1].ID.Num != 2 {
		t.Fatalf("desc from 3: %s", jsonOf(t, page))
	}
	if _, err := s.Scroll(bg, ScrollRequest{Limit: 2, OrderBy: &api.OrderBy{Key: "other"}}); api.KindOf(err) != api.KindBadRequest {
		t.Fatalf("order by unindexed key: %v", err)
	}
}

func TestCheckpointIsConsistent(t *testing.T) {
	dir := t.TempDir()
	s := openShard(t, testOptions(filepath.Join(dir, "live")))
	for i := range 50 {
		apply(t, s, upsert(pt(uint64(i), []float32{float32(i), 0, 0, 1}, payload(t, fmt.Sprintf(`{"i":%d}`, i)))))
	}
	// Writes continue while checkpoints are taken.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 50; i < 150; i++ {
			if _, err := s.Apply(bg, upsert(pt(uint64(i), []float32{float32(i), 0, 0, 1}, nil))); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	cp := filepath.Join(dir, "cp")
	seq, err := s.Checkpoint(bg, cp)
	if err != nil {
		t.Fatal(err)
	}
	<-done
	if _, err := s.Checkpoint(bg, cp); !errors.Is(err, os.ErrExist) {
		t.Fatalf("checkpoint into existing dir: %v", err)
	}
	c := openShard(t, testOptions(cp))
	if c.LastSeq() != seq {
		t.Fatalf("copy at seq %d, checkpoint said %d", c.LastSeq(), seq)
	}
	// Each upsert adds one point: the copy holds exactly seq points, ids 0..seq-1.
	if n, _ := c.Count(bg, nil, true); n != seq {
		t.Fatalf("copy has %d points at seq %d", n, seq)
	}
	rs, _ := c.Get(bg, []api.PointID{api.NumID(seq - 1), api.NumID(seq)}, nil, nil)
	if len(rs) != 1 || rs[0].ID.Num != seq-1 {
		t.Fatalf("copy content at seq %d: %s", seq, jsonOf(t, rs))
	}
	var n uint64
	if err := c.ReadOps(bg, 1, func(uint64, *api.UpdateOperation) error { n++; return nil }); err != nil || n != seq {
		t.Fatalf("copy op log has %d ops (%v), want %d", n, err, seq)
	}
	// The copy is independent of the original.
	apply(t, c, &api.UpdateOperation{Delete: &api.PointsSelector{Points: []api.PointID{api.NumID(0)}}})
	if r := getOne(t, s, 0); r == nil {
		t.Fatal("deleting in the copy changed the original")
	}
}

// TestDropSkipsIndexFiles checks that Drop closes without writing index
// files and that the directory still opens with every point.
func TestDropSkipsIndexFiles(t *testing.T) {
	opts := testOptions(t.TempDir())
	s := openShard(t, opts)
	for i := range 50 {
		apply(t, s, upsert(pt(uint64(i), []float32{float32(i), 1, 2, 3}, nil)))
	}
	if err := s.Drop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(opts.Dir, "index")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("index files after Drop: %v", err)
	}
	if _, err := s.Apply(bg, upsert(pt(99, []float32{1, 1, 1, 1}, nil))); !errors.Is(err, ErrClosed) {
		t.Fatalf("Apply after Drop: %v, want ErrClosed", err)
	}
	s2 := openShard(t, opts)
	if n, _ := s2.Count(bg, nil, true); n != 50 {
		t.Fatalf("reopen after Drop: %d points, want 50", n)
	}
	if rec := getOne(t, s2, 7); rec == nil || rec.Vector[""][0] != 7 {
		t.Fatalf("point 7 after Drop and reopen: %+v", rec)
	}
}

// TestPauseReachChecks checks that a pause stops background reachability
// passes until every holder resumes (each resume counts once), and that a
// closed shard stops them too.
func TestPauseReachChecks(t *testing.T) {
	s := openShard(t, testOptions(t.TempDir()))
	if s.reachStop() {
		t.Fatal("an open shard without pauses stops its passes")
	}
	r1 := s.PauseReachChecks()
	r2 := s.PauseReachChecks()
	r1()
	r1() // a second call of the same resume changes nothing
	if !s.reachStop() {
		t.Fatal("a pause still held does not stop the passes")
	}
	r2()
	// A pause counts as a write on the node, which the passes yield to
	// until writes have been quiet for a while.
	time.Sleep(2 * yieldQuietMax)
	if s.reachStop() {
		t.Fatalf("the passes stay stopped after every resume (%d holders)", s.reachPaused.Load())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !s.reachStop() {
		t.Fatal("a closed shard does not stop its passes")
	}
}

// TestReachChecksYieldToNodeWrites checks that background reachability
// passes yield to writes anywhere on the node: another shard's transfer
// (its PauseReachChecks) or write stops this shard's passes, but for at
// most reachYieldAge.
func TestReachChecksYieldToNodeWrites(t *testing.T) {
	node := new(WriteActivity)
	oa, ob := testOptions(t.TempDir()), testOptions(t.TempDir())
	oa.Writes, ob.Writes = node, node
	a, b := openShard(t, oa), openShard(t, ob)
	if b.reachStop() {
		t.Fatal("passes stopped on a quiet node")
	}
	resume := a.PauseReachChecks() // a transfer of shard a
	if !b.reachStop() {
		t.Fatal("shard b's passes go on while shard a is transferred")
	}
	resume()
	time.Sleep(2 * yieldQuietMax)
	if b.reachStop() {
		t.Fatal("shard b's passes stay stopped after the transfer and a quiet while")
	}
	node.Begin() // a write that goes on
	if !b.reachStop() {
		t.Fatal("passes go on while a write is in flight on the node")
	}
	b.reachDeferred.Store(time.Now().Add(-reachYieldAge - time.Second).UnixNano())
	if b.reachStop() {
		t.Fatal("passes yielded to writes for longer than reachYieldAge")
	}
	node.End()
}
