package service

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/auth"
	"github.com/shoal-db/shoal/internal/collection"
)

func TestCreateCollectionDefaultsAndInfo(t *testing.T) {
	s := newService(t, t.TempDir())
	defer s.Close()
	mustNil(t, s.CreateCollection(bg, "plain", &api.CreateCollection{Vectors: api.VectorsConfig{"": {Size: 4, Distance: api.DistanceCosine}}}))
	mustNil(t, s.CreateCollection(bg, "named", &api.CreateCollection{
		Vectors: api.VectorsConfig{
			"image": {Size: 3, Distance: api.DistanceEuclid},
			"text":  {Size: 2, Distance: api.DistanceDot, HnswConfig: &api.HnswConfigDiff{M: ptr(8)}},
		},
		ShardNumber:      ptr(3),
		OptimizersConfig: json.RawMessage(`{"indexing_threshold": 500}`),
		Metadata:         map[string]any{"team": "search"},
	}))
	info, err := s.CollectionInfo(bg, "named")
	mustNil(t, err)
	cfg := info.Config
	if info.SegmentsCount != 3 || cfg.Params.ShardNumber != 3 || info.Status != api.StatusGreen || info.PointsCount != 0 {
		t.Fatalf("info %+v", info)
	}
	if cfg.HnswConfig != api.DefaultHnswConfig() || *cfg.OptimizerConfig.IndexingThreshold != 500 ||
		cfg.OptimizerConfig.DeletedThreshold != 0.2 || cfg.WalConfig != api.DefaultWalConfig() {
		t.Fatalf("defaults not resolved: %+v", cfg)
	}
	if !cfg.Params.OnDiskPayload || cfg.Params.ReplicationFactor != 1 || *cfg.Params.Vectors["image"].Datatype != "float32" {
		t.Fatalf("params %+v", cfg.Params)
	}
	if cfg.VectorHnsw("text").M != 8 || cfg.Metadata["team"] != "search" {
		t.Fatalf("vector hnsw / metadata: %+v", cfg)
	}
	list, err := s.ListCollections(bg)
	mustNil(t, err)
	if len(list) != 2 || list[0].Name != "named" || list[1].Name != "plain" {
		t.Fatalf("list %v", list)
	}
	ok, err := s.CollectionExists(bg, "plain")
	mustNil(t, err)
	if !ok {
		t.Fatal("plain does not exist")
	}
	wantErr(t, s.CreateCollection(bg, "plain", &api.CreateCollection{Vectors: api.VectorsConfig{"": {Size: 4, Distance: api.DistanceDot}}}),
		api.KindBadInput, "Wrong input: Collection `plain` already exists!")
	deleted, err := s.DeleteCollection(bg, "plain")
	mustNil(t, err)
	if !deleted {
		t.Fatal("delete returned false")
	}
	if _, err := os.Stat(filepath.Join(s.opts.StorageDir, "collections", "plain")); !os.IsNotExist(err) {
		t.Fatalf("directory left after delete: %v", err)
	}
	deleted, err = s.DeleteCollection(bg, "plain")
	mustNil(t, err)
	if deleted {
		t.Fatal("second delete returned true")
	}
	_, err = s.CollectionInfo(bg, "plain")
	wantErr(t, err, api.KindNotFound, "Not found: Collection `plain` doesn't exist!")
}

func TestCreateCollectionValidation(t *testing.T) {
	s := newService(t, t.TempDir())
	defer s.Close()
	vec := api.VectorsConfig{"": {Size: 4, Distance: api.DistanceDot}}
	for _, name := range []string{"", "a/b", "a\\b", "x:y", "q?", "s*", "<a>", "p|q", "quo\"te", "nul\x00", strings.Repeat("x", 256), ".."} {
		wantErr(t, s.CreateCollection(bg, name, &api.CreateCollection{Vectors: vec}), api.KindBadInput, "Collection name")
	}
	bad := []struct {
		req *api.CreateCollection
		msg string
	}{
		{&api.CreateCollection{Vectors: api.VectorsConfig{"": {Size: 0, Distance: api.DistanceDot}}}, "size: value 0 invalid"},
		{&api.CreateCollection{Vectors: api.VectorsConfig{"": {Size: api.MaxVectorDim + 1, Distance: api.DistanceDot}}}, "must be from 1 to 65536"},
		{&api.CreateCollection{Vectors: api.VectorsConfig{"": {Size: 4, Distance: "Hamming"}}}, "unknown distance"},
		{&api.CreateCollection{Vectors: api.VectorsConfig{"": {Size: 4, Distance: api.DistanceManhattan, Datatype: ptr("turbo4")}}}, "datatype turbo4 with Manhattan distance is not supported"},
		{&api.CreateCollection{Vectors: api.VectorsConfig{"": {Size: 4, Distance: api.DistanceDot, Datatype: ptr("turbo4"), MultivectorConfig: &api.MultiVectorConfig{Comparator: api.ComparatorMaxSim}}}}, "turbo4 is not supported for multi-vectors"},
		{&api.CreateCollection{Vectors: api.VectorsConfig{"": {Size: 4, Distance: api.DistanceDot, Datatype: ptr("int8")}}}, "unknown variant `int8`"},
		{&api.CreateCollection{Vectors: api.VectorsConfig{"": {Size: 4, Distance: api.DistanceCosine, Datatype: ptr("uint8")}}}, "uint8 with Cosine"},
		{&api.CreateCollection{Vectors: api.VectorsConfig{"": {Size: 4, Distance: api.DistanceCosine, Datatype: ptr("uint8"), MultivectorConfig: &api.MultiVectorConfig{Comparator: api.ComparatorMaxSim}}}}, "uint8 with Cosine"},
		{&api.CreateCollection{Vectors: vec, SparseVectors: api.SparseVectorsConfig{"": {}}}, "Wrong input: Sparse vector name cannot be empty"},
		{&api.CreateCollection{Vectors: vec, SparseVectors: api.SparseVectorsConfig{"text": {Index: &api.SparseIndexParams{Datatype: ptr("uint8")}}}}, "only float32"},
		{&api.CreateCollection{Vectors: vec, ShardNumber: ptr(0)}, "shard_number"},
		{&api.CreateCollection{Vectors: vec, HnswConfig: &api.HnswConfigDiff{M: ptr(0)}}, "hnsw_config.m"},
		{&api.CreateCollection{Vectors: vec, HnswConfig: &api.HnswConfigDiff{EfConstruct: ptr(0)}}, "ef_construct"},
		{&api.CreateCollection{Vectors: vec, ShardingMethod: ptr("custom")}, "sharding_method"},
		{&api.CreateCollection{Vectors: vec, OptimizersConfig: json.RawMessage(`{"bogus": 1}`)}, "optimizers_config"},
		{&api.CreateCollection{}, "vectors config must not be empty"},
	}
	for _, b := range bad {
		// Broken range constraints are Qdrant's 422 validation errors.
		kind := api.KindBadInput
		if strings.Contains(b.msg, "size: value") || strings.Contains(b.msg, "must be from 1 to") || b.msg == "ef_construct" {
			kind = api.KindValidation
		}
		wantErr(t, s.CreateCollection(bg, "c", b.req), kind, b.msg)
	}
	list, _ := s.ListCollections(bg)
	if len(list) != 0 {
		t.Fatalf("a refused create left %v", list)
	}
}

func TestPointsCRUDAcrossShards(t *testing.T) {
	s := newService(t, t.TempDir())
	defer s.Close()
	createUnnamed(t, s, "c", 4, api.DistanceDot, 3)
	d := makeDataset(1, 300, 4, api.DistanceDot)
	upsert(t, s, "c", d.points(""))

	// Points are spread over the shards.
	c, release, err := s.use(bg, "c", auth.Read)
	mustNil(t, err)
	info, _ := c.Info(bg)
	release()
	if info.PointsCount != 300 {
		t.Fatalf("points %d", info.PointsCount)
	}

	rec, err := s.GetPoint(bg, "c", api.NumID(7), api.ReadParams{})
	mustNil(t, err)
	if rec.Payload["color"] != d.pays[7]["color"] || len(rec.Vector[""]) != 4 || rec.Vector[""][0] != d.vecs[7][0] {
		t.Fatalf("point 7: %+v", rec)
	}
	_, err = s.GetPoint(bg, "c", api.NumID(999), api.ReadParams{})
	wantErr(t, err, api.KindNotFound, "No point with id 999 found")

	recs, err := s.GetPoints(bg, "c", &api.GetPoints{IDs: []api.PointID{api.NumID(50), api.NumID(999), api.NumID(3), api.NumID(50)}}, api.ReadParams{})
	mustNil(t, err)
	if len(recs) != 2 || recs[0].ID.Num != 50 || recs[1].ID.Num != 3 || recs[0].Vector != nil || recs[0].Payload == nil {
		t.Fatalf("get points: %+v", recs)
	}

	// Scroll pages through every point once, in id order.
	var seen []uint64
	var offset *api.PointID
	for {
		page, err := s.Scroll(bg, "c", &api.ScrollRequest{Offset: offset, Limit: ptr(64)}, api.ReadParams{})
		mustNil(t, err)
		for _, r := range page.Points {
			seen = append(seen, r.ID.Num)
		}
		if page.NextPageOffset == nil {
			break
		}
		offset = page.NextPageOffset
	}
	if len(seen) != 300 {
		t.Fatalf("scroll saw %d points", len(seen))
	}
	for i, id := range seen {
		if id != uint64(i+1) {
			t.Fatalf("scroll order broken at %d: %d", i, id)
		}
	}

	red := filterJSON(t, `{"must": [{"key": "color", "match": {"value": "red"}}]}`)
	n, err := s.Count(bg, "c", &api.CountRequest{Filter: red}, api.ReadParams{})
	mustNil(t, err)
	if n.Count != 100 {
		t.Fatalf("red count %d", n.Count)
	}

	// Delete by ids and by filter.
	_, err = s.DeletePoints(bg, "c", &api.PointsSelector{Points: []api.PointID{api.NumID(1), api.NumID(2)}}, api.WriteParams{Wait: true})
	mustNil(t, err)
	_, err = s.DeletePoints(bg, "c", &api.PointsSelector{Filter: red}, api.WriteParams{Wait: true})
	mustNil(t, err)
	n, _ = s.Count(bg, "c", nil, api.ReadParams{})
	// ids 1 (red) and 2 (green) plus the other 99 red points.
	if n.Count != 300-100-1 {
		t.Fatalf("count after deletes %d", n.Count)
	}

	// Payload operations.
	ids := []api.PointID{api.NumID(3), api.NumID(5)}
	_, err = s.SetPayload(bg, "c", &api.SetPayload{Payload: payload(t, `{"tag": "x", "color": "teal"}`), Points: ids}, api.WriteParams{Wait: true})
	mustNil(t, err)
	recs, _ = s.GetPoints(bg, "c", &api.GetPoints{IDs: ids}, api.ReadParams{})
	if recs[0].Payload["tag"] != "x" || recs[0].Payload["color"] != "teal" || recs[0].Payload["n"] == nil {
		t.Fatalf("set payload: %+v", recs[0].Payload)
	}
	_, err = s.OverwritePayload(bg, "c", &api.SetPayload{Payload: payload(t, `{"only": true}`), Points: ids[:1]}, api.WriteParams{Wait: true})
	mustNil(t, err)
	_, err = s.DeletePayload(bg, "c", &api.DeletePayload{Keys: []string{"tag"}, Points: ids[1:]}, api.WriteParams{Wait: true})
	mustNil(t, err)
	recs, _ = s.GetPoints(bg, "c", &api.GetPoints{IDs: ids}, api.ReadParams{})
	if len(recs[0].Payload) != 1 || recs[0].Payload["only"] != true || recs[1].Payload["tag"] != nil || recs[1].Payload["color"] != "teal" {
		t.Fatalf("overwrite/delete payload: %+v / %+v", recs[0].Payload, recs[1].Payload)
	}
	_, err = s.ClearPayload(bg, "c", &api.PointsSelector{Points: ids}, api.WriteParams{Wait: true})
	mustNil(t, err)
	recs, _ = s.GetPoints(bg, "c", &api.GetPoints{IDs: ids}, api.ReadParams{})
	if len(recs[0].Payload) != 0 || len(recs[1].Payload) != 0 {
		t.Fatalf("clear payload: %+v", recs)
	}

	// Vector update: point 3 becomes the best match for (0,0,0,1).
	_, err = s.UpdateVectors(bg, "c", &api.UpdateVectors{Points: []api.PointVectors{{ID: api.NumID(3), Vector: api.Vectors{"": {0, 0, 0, 100}}}}}, api.WriteParams{Wait: true})
	mustNil(t, err)
	hits := query(t, s, "c", &api.QueryRequest{Query: &api.Query{Nearest: &api.VectorInput{Vector: []float32{0, 0, 0, 1}}}, Limit: ptr(1)})
	if len(hits) != 1 || hits[0].ID.Num != 3 || hits[0].Score != 100 {
		t.Fatalf("after update_vectors: %+v", hits)
	}
	_, err = s.DeleteVectors(bg, "c", &api.DeleteVectors{Points: []api.PointID{api.NumID(3)}, Vector: []string{""}}, api.WriteParams{Wait: true})
	mustNil(t, err)
	hits = query(t, s, "c", &api.QueryRequest{Query: &api.Query{Nearest: &api.VectorInput{Vector: []float32{0, 0, 0, 1}}}, Limit: ptr(1)})
	if hits[0].ID.Num == 3 {
		t.Fatal("point without its vector still found")
	}

	// Batch: validated as a whole, so a bad second operation stops the first.
	_, err = s.BatchUpdate(bg, "c", []api.UpdateOperation{
		{Delete: &api.PointsSelector{Points: []api.PointID{api.NumID(9)}}},
		{Upsert: &api.UpsertPoints{Points: []api.PointStruct{{ID: api.NumID(9), Vector: api.Vectors{"": {1, 2}}}}}},
	}, api.WriteParams{Wait: true})
	wantErr(t, err, api.KindBadInput, "Vector dimension error: expected dim: 4, got 2")
	if _, err := s.GetPoint(bg, "c", api.NumID(9), api.ReadParams{}); err != nil {
		t.Fatalf("point 9 was deleted by a refused batch: %v", err)
	}
	res, err := s.BatchUpdate(bg, "c", []api.UpdateOperation{
		{Delete: &api.PointsSelector{Points: []api.PointID{api.NumID(9)}}},
		{SetPayload: &api.SetPayload{Payload: api.Payload{"b": true}, Points: []api.PointID{api.NumID(6)}}},
	}, api.WriteParams{})
	mustNil(t, err)
	if len(res) != 2 || res[0].Status != api.UpdateAcknowledged {
		t.Fatalf("batch result %+v", res)
	}
	if _, err := s.GetPoint(bg, "c", api.NumID(9), api.ReadParams{}); api.KindOf(err) != api.KindNotFound {
		t.Fatalf("point 9 after batch delete: %v", err)
	}
}

func TestSearchMatchesBruteForce(t *testing.T) {
	s := newService(t, t.TempDir())
	defer s.Close()
	for i, dist := range []api.Distance{api.DistanceCosine, api.DistanceDot, api.DistanceEuclid, api.DistanceManhattan} {
		name := strings.ToLower(string(dist))
		createUnnamed(t, s, name, 8, dist, 1+i%3)
		d := makeDataset(uint64(10+i), 400, 8, dist)
		upsert(t, s, name, d.points(""))
		r := makeDataset(uint64(100+i), 5, 8, dist)
		for qi := uint64(1); qi <= 5; qi++ {
			q := r.vecs[qi]
			want := d.bruteTop(q, 15, nil)
			// Exact search, with offset 5 on top of limit 10.
			res, err := s.Search(bg, name, &api.SearchRequest{Vector: api.NamedVector{Vector: q}, Limit: 10, Offset: ptr(5),
				Params: &api.SearchParams{Exact: true}}, api.ReadParams{})
			mustNil(t, err)
			if !sameIDs(hitIDs(res), want[5:]) {
				t.Fatalf("%s query %d: got %v, want %v", dist, qi, hitIDs(res), want[5:])
			}
			for _, h := range res {
				if w := d.score(q, d.vecs[h.ID.Num]); math.Abs(float64(w-h.Score)) > 1e-3*max(1, math.Abs(float64(w))) {
					t.Fatalf("%s: score of %d is %v, want %v", dist, h.ID.Num, h.Score, w)
				}
			}
			// Filtered search.
			keep := func(id uint64) bool { return d.pays[id]["color"] == "blue" }
			res, err = s.Search(bg, name, &api.SearchRequest{Vector: api.NamedVector{Vector: q}, Limit: 5,
				Filter: filterJSON(t, `{"must": [{"key": "color", "match": {"value": "blue"}}]}`), WithPayload: api.PayloadAll}, api.ReadParams{})
			mustNil(t, err)
			if !sameIDs(hitIDs(res), d.bruteTop(q, 5, keep)) {
				t.Fatalf("%s filtered: got %v, want %v", dist, hitIDs(res), d.bruteTop(q, 5, keep))
			}
			if res[0].Payload["color"] != "blue" {
				t.Fatalf("payload not returned: %+v", res[0])
			}
		}
	}
}

func TestQueryForms(t *testing.T) {
	s := newService(t, t.TempDir())
	defer s.Close()
	mustNil(t, s.CreateCollection(bg, "m", &api.CreateCollection{
		Vectors:     api.VectorsConfig{"a": {Size: 4, Distance: api.DistanceDot}, "b": {Size: 3, Distance: api.DistanceEuclid}},
		ShardNumber: ptr(2),
	}))
	da := makeDataset(21, 120, 4, api.DistanceDot)
	db := makeDataset(22, 120, 3, api.DistanceEuclid)
	var pts []api.PointStruct
	for id := uint64(1); id <= 120; id++ {
		pts = append(pts, api.PointStruct{ID: api.NumID(id), Vector: api.Vectors{"a": da.vecs[id], "b": db.vecs[id]}, Payload: da.pays[id]})
	}
	upsert(t, s, "m", pts)
	exact := &api.SearchParams{Exact: true}

	t.Run("using and unknown vector", func(t *testing.T) {
		q := db.vecs[9]
		hits := query(t, s, "m", &api.QueryRequest{Query: &api.Query{Nearest: &api.VectorInput{Vector: q}}, Using: ptr("b"), Limit: ptr(4), Params: exact})
		if !sameIDs(hitIDs(hits), db.bruteTop(q, 4, nil)) {
			t.Fatalf("got %v want %v", hitIDs(hits), db.bruteTop(q, 4, nil))
		}
		_, err := s.Query(bg, "m", &api.QueryRequest{Query: &api.Query{Nearest: &api.VectorInput{Vector: q}}}, api.ReadParams{})
		wantErr(t, err, api.KindBadInput, "Wrong input: Not existing vector name error: ")
		_, err = s.Query(bg, "m", &api.QueryRequest{Query: &api.Query{Nearest: &api.VectorInput{Vector: q}}, Using: ptr("zz")}, api.ReadParams{})
		wantErr(t, err, api.KindBadInput, "Not existing vector name error: zz")
	})

	t.Run("nearest by id excludes the point", func(t *testing.T) {
		hits := query(t, s, "m", &api.QueryRequest{Query: &api.Query{Nearest: &api.VectorInput{ID: ptr(api.NumID(10))}}, Using: ptr("a"), Limit: ptr(5), Params: exact})
		want := da.bruteTop(da.vecs[10], 5, func(id uint64) bool { return id != 10 })
		if !sameIDs(hitIDs(hits), want) {
			t.Fatalf("got %v want %v", hitIDs(hits), want)
		}
		_, err := s.Query(bg, "m", &api.QueryRequest{Query: &api.Query{Nearest: &api.VectorInput{ID: ptr(api.NumID(5000))}}, Using: ptr("a")}, api.ReadParams{})
		wantErr(t, err, api.KindNotFound, "No point with id 5000 found")
	})

	t.Run("recommend average_vector", func(t *testing.T) {
		pos := []api.VectorInput{{ID: ptr(api.NumID(1))}, {ID: ptr(api.NumID(2))}}
		neg := []api.VectorInput{{Vector: []float32{1, 0, 0, 0}}}
		hits := query(t, s, "m", &api.QueryRequest{Query: &api.Query{Recommend: &api.RecommendInput{Positive: pos, Negative: neg}}, Using: ptr("a"), Limit: ptr(6), Params: exact})
		q := make([]float32, 4)
		for i := range q {
			avg := (da.vecs[1][i] + da.vecs[2][i]) / 2
			q[i] = 2*avg - []float32{1, 0, 0, 0}[i]
		}
		want := da.bruteTop(q, 6, func(id uint64) bool { return id != 1 && id != 2 })
		if !sameIDs(hitIDs(hits), want) {
			t.Fatalf("got %v want %v", hitIDs(hits), want)
		}
		// The legacy endpoint is the same query.
		legacy, err := s.Recommend(bg, "m", &api.RecommendRequest{Positive: pos, Negative: neg, Using: ptr("a"), Limit: 6, Params: exact}, api.ReadParams{})
		mustNil(t, err)
		if !sameIDs(hitIDs(legacy), want) {
			t.Fatalf("legacy got %v want %v", hitIDs(legacy), want)
		}
		_, err = s.Query(bg, "m", &api.QueryRequest{Query: &api.Query{Recommend: &api.RecommendInput{Negative: neg}}, Using: ptr("a")}, api.ReadParams{})
		wantErr(t, err, api.KindBadInput, "Positive vectors should not be empty")
	})

	t.Run("recommend best_score and sum_scores", func(t *testing.T) {
		pos := [][]float32{da.vecs[3], {0, 1, 0, 0}}
		neg := [][]float32{da.vecs[4]}
		in := []api.VectorInput{{ID: ptr(api.NumID(3))}, {Vector: []float32{0, 1, 0, 0}}}
		for _, strat := range []api.RecommendStrategy{api.StrategyBestScore, api.StrategySumScores} {
			hits := query(t, s, "m", &api.QueryRequest{Query: &api.Query{Recommend: &api.RecommendInput{Positive: in,
				Negative: []api.VectorInput{{ID: ptr(api.NumID(4))}}, Strategy: strat}}, Using: ptr("a"), Limit: ptr(5), Params: exact})
			score := func(v []float32) float32 {
				dot := func(a, b []float32) (s float32) {
					for i := range a {
						s += a[i] * b[i]
					}
					return s
				}
				if strat == api.StrategySumScores {
					return dot(pos[0], v) + dot(pos[1], v) - dot(neg[0], v)
				}
				bp := max(dot(pos[0], v), dot(pos[1], v))
				bn := dot(neg[0], v)
				sig := func(x float32) float32 { return 0.5 * (x/(1+float32(math.Abs(float64(x)))) + 1) }
				if bp > bn {
					return sig(bp)
				}
				return -sig(bn)
			}
			best, bestID := float32(math.Inf(-1)), uint64(0)
			for id, v := range da.vecs {
				if id == 3 || id == 4 {
					continue
				}
				if sc := score(v); sc > best || (sc == best && id < bestID) {
					best, bestID = sc, id
				}
			}
			if hits[0].ID.Num != bestID || math.Abs(float64(hits[0].Score-best)) > 1e-4 {
				t.Fatalf("%s: top %d (%v), want %d (%v)", strat, hits[0].ID.Num, hits[0].Score, bestID, best)
			}
			for _, h := range hits {
				if h.ID.Num == 3 || h.ID.Num == 4 {
					t.Fatalf("%s: example %d returned", strat, h.ID.Num)
				}
			}
		}
	})

	t.Run("discover and context", func(t *testing.T) {
		target := []float32{1, 1, 0, 0}
		pair := api.ContextPair{Positive: api.VectorInput{Vector: []float32{0, 0, 1, 0}}, Negative: api.VectorInput{Vector: []float32{0, 0, -1, 0}}}
		hits := query(t, s, "m", &api.QueryRequest{Query: &api.Query{Discover: &api.DiscoverInput{Target: api.VectorInput{Vector: target}, Context: []api.ContextPair{pair}}},
			Using: ptr("a"), Limit: ptr(10), Params: exact})
		// Points with a positive third coordinate are in the context zone
		// (rank +1) and rank above all others, ordered by the target.
		inside := func(id uint64) bool { return da.vecs[id][2] > 0 }
		want := da.bruteTop(target, 10, inside)
		if !sameIDs(hitIDs(hits), want) {
			t.Fatalf("discover got %v want %v", hitIDs(hits), want)
		}
		hits = query(t, s, "m", &api.QueryRequest{Query: &api.Query{Context: []api.ContextPair{pair}}, Using: ptr("a"), Limit: ptr(10), Params: exact})
		for _, h := range hits {
			if !inside(h.ID.Num) || h.Score != 0 {
				t.Fatalf("context hit %d score %v outside the zone", h.ID.Num, h.Score)
			}
		}
		legacy, err := s.Discover(bg, "m", &api.DiscoverRequest{Target: &api.VectorInput{Vector: target}, Context: []api.ContextPair{pair}, Using: ptr("a"), Limit: 10, Params: exact}, api.ReadParams{})
		mustNil(t, err)
		if !sameIDs(hitIDs(legacy), want) {
			t.Fatalf("legacy discover got %v", hitIDs(legacy))
		}
	})

	t.Run("fusion over prefetches", func(t *testing.T) {
		qa, qb := da.vecs[50], db.vecs[60]
		pa := api.Prefetch{Query: &api.Query{Nearest: &api.VectorInput{Vector: qa}}, Using: ptr("a"), Limit: ptr(20), Params: exact}
		pb := api.Prefetch{Query: &api.Query{Nearest: &api.VectorInput{Vector: qb}}, Using: ptr("b"), Limit: ptr(20), Params: exact}
		la := query(t, s, "m", &api.QueryRequest{Query: pa.Query, Using: pa.Using, Limit: ptr(20), Params: exact})
		lb := query(t, s, "m", &api.QueryRequest{Query: pb.Query, Using: pb.Using, Limit: ptr(20), Params: exact})
		for _, tc := range []struct {
			q    *api.Query
			want func() []api.ScoredPoint
		}{
			{&api.Query{Fusion: "rrf"}, func() []api.ScoredPoint { r, _ := fuseRRFForTest(la, lb, 2, nil); return r }},
			{&api.Query{RRF: &api.RRF{K: ptr(60), Weights: []float32{2, 1}}}, func() []api.ScoredPoint { r, _ := fuseRRFForTest(la, lb, 60, []float32{2, 1}); return r }},
			{&api.Query{Fusion: "dbsf"}, func() []api.ScoredPoint { return fuseDBSFForTest(la, lb) }},
		} {
			hits := query(t, s, "m", &api.QueryRequest{Prefetch: api.Prefetches{pa, pb}, Query: tc.q, Limit: ptr(7), Offset: ptr(2)})
			want := tc.want()[2:9]
			if !sameIDs(hitIDs(hits), hitIDs(want)) {
				t.Fatalf("%+v: got %v want %v", tc.q, hitIDs(hits), hitIDs(want))
			}
		}
		_, err := s.Query(bg, "m", &api.QueryRequest{Query: &api.Query{Fusion: "rrf"}}, api.ReadParams{})
		wantErr(t, err, api.KindBadInput, "prefetch")
	})

	t.Run("nested prefetch rescoring", func(t *testing.T) {
		// Inner: 15 nearest by vector b; outer: re-rank exactly those by a.
		qb, qa := db.vecs[70], da.vecs[71]
		inner := api.Prefetch{Query: &api.Query{Nearest: &api.VectorInput{Vector: qb}}, Using: ptr("b"), Limit: ptr(15), Params: exact}
		hits := query(t, s, "m", &api.QueryRequest{Prefetch: api.Prefetches{inner}, Query: &api.Query{Nearest: &api.VectorInput{Vector: qa}}, Using: ptr("a"), Limit: ptr(8)})
		cand := map[uint64]bool{}
		for _, id := range db.bruteTop(qb, 15, nil) {
			cand[id] = true
		}
		want := da.bruteTop(qa, 8, func(id uint64) bool { return cand[id] })
		if !sameIDs(hitIDs(hits), want) {
			t.Fatalf("got %v want %v", hitIDs(hits), want)
		}
		// The outer filter applies inside the prefetches too: the inner
		// candidates are the 15 nearest blue points.
		blue := filterJSON(t, `{"must": [{"key": "color", "match": {"value": "blue"}}]}`)
		isBlue := func(id uint64) bool { return da.pays[id]["color"] == "blue" }
		hits = query(t, s, "m", &api.QueryRequest{Prefetch: api.Prefetches{inner}, Query: &api.Query{Nearest: &api.VectorInput{Vector: qa}}, Using: ptr("a"), Filter: blue, Limit: ptr(20)})
		blueCand := map[uint64]bool{}
		for _, id := range db.bruteTop(qb, 15, isBlue) {
			blueCand[id] = true
		}
		want = da.bruteTop(qa, 20, func(id uint64) bool { return blueCand[id] })
		if len(want) != 15 || !sameIDs(hitIDs(hits), want) {
			t.Fatalf("filtered rescoring: got %v want %v", hitIDs(hits), want)
		}
	})

	t.Run("score threshold, payload and vector selection", func(t *testing.T) {
		q := db.vecs[80]
		all := db.bruteTop(q, 120, nil)
		// Halfway between the 10th and 11th distances.
		thr := (db.score(q, db.vecs[all[9]]) + db.score(q, db.vecs[all[10]])) / 2
		hits := query(t, s, "m", &api.QueryRequest{Query: &api.Query{Nearest: &api.VectorInput{Vector: q}}, Using: ptr("b"), Limit: ptr(50),
			ScoreThreshold: &thr, Params: exact, WithPayload: &api.PayloadSelector{Enable: true, Include: []string{"color"}}, WithVector: &api.VectorSelector{Enable: true, Names: []string{"b"}}})
		if len(hits) != 10 {
			t.Fatalf("threshold %v kept %d hits, want 10", thr, len(hits))
		}
		if len(hits[0].Payload) != 1 || hits[0].Payload["color"] == nil || len(hits[0].Vector) != 1 || len(hits[0].Vector["b"]) != 3 {
			t.Fatalf("selection: %+v", hits[0])
		}
	})

	t.Run("no query, order_by and sample", func(t *testing.T) {
		hits := query(t, s, "m", &api.QueryRequest{Limit: ptr(5), Offset: ptr(3)})
		if !sameIDs(hitIDs(hits), []uint64{4, 5, 6, 7, 8}) {
			t.Fatalf("id order: %v", hitIDs(hits))
		}
		_, err := s.CreateFieldIndex(bg, "m", &api.CreateFieldIndex{FieldName: "n", FieldSchema: &api.PayloadFieldSchema{Type: api.SchemaInteger}}, api.WriteParams{Wait: true})
		mustNil(t, err)
		hits = query(t, s, "m", &api.QueryRequest{Query: &api.Query{OrderBy: &api.OrderBy{Key: "n", Direction: "desc"}}, Limit: ptr(3)})
		// n = id-1, so the largest n are ids 120, 119, 118.
		if !sameIDs(hitIDs(hits), []uint64{120, 119, 118}) {
			t.Fatalf("order_by desc: %v", hitIDs(hits))
		}
		page, err := s.Scroll(bg, "m", &api.ScrollRequest{OrderBy: &api.OrderBy{Key: "n"}, Limit: ptr(3), Filter: filterJSON(t, `{"must": [{"key": "color", "match": {"value": "green"}}]}`)}, api.ReadParams{})
		mustNil(t, err)
		if len(page.Points) != 3 || page.Points[0].ID.Num != 2 || page.Points[1].ID.Num != 5 || page.Points[0].OrderValue == nil {
			t.Fatalf("scroll order_by: %+v", page.Points)
		}
		hits = query(t, s, "m", &api.QueryRequest{Query: &api.Query{Sample: "random"}, Limit: ptr(30)})
		seen := map[uint64]bool{}
		for _, h := range hits {
			if seen[h.ID.Num] || h.ID.Num < 1 || h.ID.Num > 120 {
				t.Fatalf("sample returned %d twice or unknown", h.ID.Num)
			}
			seen[h.ID.Num] = true
		}
		if len(hits) != 30 {
			t.Fatalf("sample size %d", len(hits))
		}
	})

	t.Run("batch", func(t *testing.T) {
		res, err := s.QueryBatch(bg, "m", []api.QueryRequest{
			{Query: &api.Query{Nearest: &api.VectorInput{Vector: da.vecs[1]}}, Using: ptr("a"), Limit: ptr(3), Params: exact},
			{Query: &api.Query{Nearest: &api.VectorInput{Vector: db.vecs[1]}}, Using: ptr("b"), Limit: ptr(2), Params: exact},
		}, api.ReadParams{})
		mustNil(t, err)
		if len(res) != 2 || !sameIDs(hitIDs(res[0].Points), da.bruteTop(da.vecs[1], 3, nil)) || !sameIDs(hitIDs(res[1].Points), db.bruteTop(db.vecs[1], 2, nil)) {
			t.Fatalf("batch %+v", res)
		}
	})
}

func TestGroupsFacetMatrix(t *testing.T) {
	s := newService(t, t.TempDir())
	defer s.Close()
	createUnnamed(t, s, "g", 4, api.DistanceEuclid, 3)
	d := makeDataset(31, 210, 4, api.DistanceEuclid)
	upsert(t, s, "g", d.points(""))
	createUnnamed(t, s, "groups-info", 2, api.DistanceDot, 1)
	var info []api.PointStruct
	for g := range 7 {
		info = append(info, api.PointStruct{ID: api.NumID(uint64(g)), Vector: api.Vectors{"": {1, 0}}, Payload: api.Payload{"name": "group-" + string(rune('A'+g))}})
	}
	upsert(t, s, "groups-info", info)

	q := d.vecs[17]
	res, err := s.QueryGroups(bg, "g", &api.QueryGroupsRequest{
		QueryRequest: api.QueryRequest{Query: &api.Query{Nearest: &api.VectorInput{Vector: q}}, Limit: ptr(3), Params: &api.SearchParams{Exact: true}, WithPayload: api.PayloadAll},
		GroupBy:      "group", GroupSize: ptr(2), WithLookup: &api.WithLookup{Collection: "groups-info"},
	}, api.ReadParams{})
	mustNil(t, err)
	// Oracle: walk the exact ranking and fill groups.
	order := d.bruteTop(q, 210, nil)
	type grp struct {
		id   string
		hits []uint64
	}
	var want []*grp
	by := map[string]*grp{}
	for _, id := range order {
		g := string(d.pays[id]["group"].(json.Number))
		gg, ok := by[g]
		if !ok {
			if len(want) == 3 {
				continue
			}
			gg = &grp{id: g}
			by[g] = gg
			want = append(want, gg)
		}
		if len(gg.hits) < 2 {
			gg.hits = append(gg.hits, id)
		}
	}
	if len(res.Groups) != 3 {
		t.Fatalf("%d groups", len(res.Groups))
	}
	for i, g := range res.Groups {
		if g.ID != json.Number(want[i].id) || !sameIDs(hitIDs(g.Hits), want[i].hits) {
			t.Fatalf("group %d: %v %v, want %s %v", i, g.ID, hitIDs(g.Hits), want[i].id, want[i].hits)
		}
		if g.Hits[0].Payload["group"] != g.ID {
			t.Fatalf("hit payload %+v", g.Hits[0].Payload)
		}
		if g.Lookup == nil || g.Lookup.Payload["name"] == nil {
			t.Fatalf("lookup missing for group %v", g.ID)
		}
	}
	legacy, err := s.SearchGroups(bg, "g", &api.SearchGroupsRequest{SearchRequest: api.SearchRequest{Vector: api.NamedVector{Vector: q}, Limit: 3, Params: &api.SearchParams{Exact: true}},
		GroupBy: "group", GroupSize: 2}, api.ReadParams{})
	mustNil(t, err)
	if len(legacy.Groups) != 3 || legacy.Groups[0].ID != json.Number(want[0].id) {
		t.Fatalf("legacy groups %+v", legacy.Groups)
	}

	// Facet over three shards: exact merged counts (color cycles r,g,b).
	_, err = s.CreateFieldIndex(bg, "g", &api.CreateFieldIndex{FieldName: "color", FieldSchema: &api.PayloadFieldSchema{Type: api.SchemaKeyword}}, api.WriteParams{Wait: true})
	mustNil(t, err)
	fr, err := s.Facet(bg, "g", &api.FacetRequest{Key: "color", Filter: filterJSON(t, `{"must_not": [{"has_id": [1, 2]}]}`)}, api.ReadParams{})
	mustNil(t, err)
	if len(fr.Hits) != 3 || fr.Hits[0] != (api.FacetHit{Value: "blue", Count: 70}) || fr.Hits[1] != (api.FacetHit{Value: "green", Count: 69}) || fr.Hits[2] != (api.FacetHit{Value: "red", Count: 69}) {
		t.Fatalf("facet %+v", fr.Hits)
	}

	// Distance matrix: each row holds the sample's nearest points.
	pairs, err := s.SearchMatrixPairs(bg, "g", &api.SearchMatrixRequest{Sample: ptr(20), Limit: ptr(2)}, api.ReadParams{})
	mustNil(t, err)
	if len(pairs.Pairs) != 40 {
		t.Fatalf("%d pairs", len(pairs.Pairs))
	}
	for _, p := range pairs.Pairs {
		if p.A == p.B || math.Abs(float64(p.Score-d.score(d.vecs[p.A.Num], d.vecs[p.B.Num]))) > 1e-4 {
			t.Fatalf("pair %+v", p)
		}
	}
	offs, err := s.SearchMatrixOffsets(bg, "g", &api.SearchMatrixRequest{Sample: ptr(10), Limit: ptr(3), Filter: filterJSON(t, `{"must": [{"key": "color", "match": {"value": "red"}}]}`)}, api.ReadParams{})
	mustNil(t, err)
	if len(offs.IDs) != 10 || len(offs.Scores) != 30 || len(offs.OffsetsRow) != 30 {
		t.Fatalf("offsets %+v", offs)
	}
	for _, id := range offs.IDs {
		if d.pays[id.Num]["color"] != "red" {
			t.Fatalf("matrix sample %d ignores the filter", id.Num)
		}
	}
}

func fuseRRFForTest(a, b []api.ScoredPoint, k int, w []float32) ([]api.ScoredPoint, error) {
	return collection.FuseRRF([][]api.ScoredPoint{a, b}, k, w)
}

func fuseDBSFForTest(a, b []api.ScoredPoint) []api.ScoredPoint {
	return collection.FuseDBSF([][]api.ScoredPoint{a, b})
}

func TestAliases(t *testing.T) {
	s := newService(t, t.TempDir())
	defer s.Close()
	createUnnamed(t, s, "v1", 2, api.DistanceDot, 1)
	createUnnamed(t, s, "v2", 2, api.DistanceDot, 2)
	upsert(t, s, "v1", []api.PointStruct{{ID: api.NumID(1), Vector: api.Vectors{"": {1, 0}}}})
	upsert(t, s, "v2", []api.PointStruct{{ID: api.NumID(2), Vector: api.Vectors{"": {1, 0}}}})
	ca := func(alias, coll string) api.AliasOperation {
		return api.AliasOperation{CreateAlias: &api.AliasDescription{AliasName: alias, CollectionName: coll}}
	}
	del := func(alias string) api.AliasOperation {
		op := api.AliasOperation{}
		op.DeleteAlias = &struct {
			AliasName string `json:"alias_name"`
		}{alias}
		return op
	}
	mustNil(t, s.UpdateAliases(bg, []api.AliasOperation{ca("prod", "v1")}))
	// Reads and writes through the alias.
	upsert(t, s, "prod", []api.PointStruct{{ID: api.NumID(3), Vector: api.Vectors{"": {0, 1}}}})
	n, err := s.Count(bg, "prod", nil, api.ReadParams{})
	mustNil(t, err)
	if n.Count != 2 {
		t.Fatalf("count via alias %d", n.Count)
	}
	// A failing request changes nothing.
	wantErr(t, s.UpdateAliases(bg, []api.AliasOperation{del("prod"), ca("prod", "v3")}), api.KindNotFound, "Collection `v3` doesn't exist!")
	wantErr(t, s.UpdateAliases(bg, []api.AliasOperation{ca("v2", "v1")}), api.KindAlreadyExists, "Collection `v2` already exists!")
	hits := query(t, s, "prod", &api.QueryRequest{Limit: ptr(10)})
	if len(hits) != 2 || hits[0].ID.Num != 1 {
		t.Fatalf("prod after refused change: %v", hitIDs(hits))
	}
	// Switch atomically.
	mustNil(t, s.UpdateAliases(bg, []api.AliasOperation{del("prod"), ca("prod", "v2")}))
	hits = query(t, s, "prod", &api.QueryRequest{Limit: ptr(10)})
	if !sameIDs(hitIDs(hits), []uint64{2}) {
		t.Fatalf("prod after switch: %v", hitIDs(hits))
	}
	al, _ := s.ListAliases(bg)
	if len(al) != 1 || al[0] != (api.AliasDescription{AliasName: "prod", CollectionName: "v2"}) {
		t.Fatalf("aliases %v", al)
	}
	al, _ = s.ListCollectionAliases(bg, "v1")
	if len(al) != 0 {
		t.Fatalf("v1 aliases %v", al)
	}
	wantErr(t, s.CreateCollection(bg, "prod", &api.CreateCollection{Vectors: api.VectorsConfig{"": {Size: 2, Distance: api.DistanceDot}}}),
		api.KindBadInput, "Alias with the same name already exists")
	ok, _ := s.CollectionExists(bg, "prod")
	if !ok {
		t.Fatal("alias does not exist")
	}
	// lookup_from through an alias, from another collection.
	hits = query(t, s, "v1", &api.QueryRequest{Query: &api.Query{Nearest: &api.VectorInput{ID: ptr(api.NumID(2))}}, LookupFrom: &api.LookupFrom{Collection: "prod"}, Limit: ptr(1)})
	if len(hits) != 1 || hits[0].ID.Num != 1 {
		t.Fatalf("lookup_from: %v", hitIDs(hits))
	}
	// Deleting the collection drops its aliases.
	_, err = s.DeleteCollection(bg, "v2")
	mustNil(t, err)
	_, err = s.Count(bg, "prod", nil, api.ReadParams{})
	wantErr(t, err, api.KindNotFound, "Collection `prod` doesn't exist!")
}

func TestErrors(t *testing.T) {
	s := newService(t, t.TempDir())
	defer s.Close()
	mustNil(t, s.CreateCollection(bg, "c", &api.CreateCollection{Vectors: api.VectorsConfig{"img": {Size: 3, Distance: api.DistanceCosine}}, ShardNumber: ptr(2)}))
	wp := api.WriteParams{Wait: true}
	pt := func(name string, v ...float32) *api.UpsertPoints {
		return &api.UpsertPoints{Points: []api.PointStruct{{ID: api.NumID(1), Vector: api.Vectors{"img": {1, 1, 1}}}, {ID: api.NumID(2), Vector: api.Vectors{name: v}}}}
	}
	_, err := s.Upsert(bg, "nope", pt("img", 1, 2, 3), wp)
	wantErr(t, err, api.KindNotFound, "Not found: Collection `nope` doesn't exist!")
	_, err = s.Upsert(bg, "c", pt("img", 1, 2), wp)
	wantErr(t, err, api.KindBadInput, "Wrong input: Vector dimension error: expected dim: 3, got 2")
	_, err = s.Upsert(bg, "c", pt("text", 1, 2, 3), wp)
	wantErr(t, err, api.KindBadInput, "Wrong input: Not existing vector name error: text")
	_, err = s.Upsert(bg, "c", pt("img", 1, float32(math.NaN()), 3), wp)
	wantErr(t, err, api.KindBadInput, "NaN")
	_, err = s.Upsert(bg, "c", pt("img", 1, float32(math.Inf(1)), 3), wp)
	wantErr(t, err, api.KindBadInput, "infinite")
	deep := api.Payload{}
	cur := deep
	for range api.MaxPayloadDepth + 2 {
		next := map[string]any{}
		cur["x"] = next
		cur = next
	}
	_, err = s.Upsert(bg, "c", &api.UpsertPoints{Points: []api.PointStruct{{ID: api.NumID(5), Vector: api.Vectors{"img": {1, 1, 1}}, Payload: deep}}}, wp)
	wantErr(t, err, api.KindBadInput, "nested deeper")
	// Nothing of the refused batches landed, not even the valid point 1.
	n, _ := s.Count(bg, "c", nil, api.ReadParams{})
	if n.Count != 0 {
		t.Fatalf("refused upserts stored %d points", n.Count)
	}
	badFilter := filterJSON(t, `{"must": [{"key": "loc", "geo_radius": {"center": {"lon": 0, "lat": 100}, "radius": 5}}]}`)
	_, err = s.Count(bg, "c", &api.CountRequest{Filter: badFilter}, api.ReadParams{})
	wantErr(t, err, api.KindValidation, "must be from -90 to 90")
	_, err = s.DeletePoints(bg, "c", &api.PointsSelector{Filter: badFilter}, wp)
	wantErr(t, err, api.KindValidation, "must be from -90 to 90")
	_, err = s.Query(bg, "c", &api.QueryRequest{Query: &api.Query{Nearest: &api.VectorInput{Vector: []float32{1, 2, 3}}}, Using: ptr("img"), Filter: badFilter}, api.ReadParams{})
	wantErr(t, err, api.KindValidation, "must be from -90 to 90")
	_, err = s.Query(bg, "c", &api.QueryRequest{Query: &api.Query{Nearest: &api.VectorInput{Vector: []float32{1, 2}}}, Using: ptr("img")}, api.ReadParams{})
	wantErr(t, err, api.KindBadInput, "Vector dimension error: expected dim: 3, got 2")
	_, err = s.Query(bg, "c", &api.QueryRequest{Limit: ptr(0)}, api.ReadParams{})
	wantErr(t, err, api.KindValidation, "[internal.limit: value 0 invalid, must be 1 or larger]")
	// A limit above the maximum fits a collection smaller than it (see
	// TestLimits).
	_, err = s.Query(bg, "c", &api.QueryRequest{Limit: ptr(DefaultMaxLimit + 1)}, api.ReadParams{})
	mustNil(t, err)

	// Read-only access: reads pass, writes and management are 403.
	ro := auth.WithAccess(bg, auth.ReadOnly)
	_, err = s.Count(ro, "c", nil, api.ReadParams{})
	mustNil(t, err)
	_, err = s.Upsert(ro, "c", pt("img", 1, 2, 3), wp)
	wantErr(t, err, api.KindForbidden, "write access")
	wantErr(t, s.CreateCollection(ro, "d", &api.CreateCollection{Vectors: api.VectorsConfig{"": {Size: 2, Distance: api.DistanceDot}}}), api.KindForbidden, "manage")
	_, err = s.DeleteCollection(ro, "c")
	wantErr(t, err, api.KindForbidden, "manage")
	_, err = s.CreateFieldIndex(ro, "c", &api.CreateFieldIndex{FieldName: "x", FieldSchema: &api.PayloadFieldSchema{Type: api.SchemaKeyword}}, wp)
	wantErr(t, err, api.KindForbidden, "manage")
	// Per-collection access: write on c only.
	w := auth.WithAccess(bg, auth.Access{Collections: map[string]auth.Mode{"c": auth.Write}})
	_, err = s.Upsert(w, "c", pt("img", 1, 2, 3), wp)
	mustNil(t, err)
	_, err = s.Count(w, "other", nil, api.ReadParams{})
	wantErr(t, err, api.KindForbidden, "read access")
	list, _ := s.ListCollections(auth.WithAccess(bg, auth.Access{Collections: map[string]auth.Mode{"zzz": auth.Read}}))
	if len(list) != 0 {
		t.Fatalf("list shows collections without access: %v", list)
	}

	// An expired deadline is a timeout.
	ctx, cancel := context.WithDeadline(bg, time.Now().Add(-time.Second))
	defer cancel()
	_, err = s.Query(ctx, "c", &api.QueryRequest{Query: &api.Query{Nearest: &api.VectorInput{Vector: []float32{1, 2, 3}}}, Using: ptr("img")}, api.ReadParams{})
	wantErr(t, err, api.KindTimeout, "Timeout")
}

func TestRestartKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	s := newService(t, dir)
	createUnnamed(t, s, "a", 4, api.DistanceCosine, 3)
	d := makeDataset(41, 150, 4, api.DistanceCosine)
	upsert(t, s, "a", d.points(""))
	_, err := s.CreateFieldIndex(bg, "a", &api.CreateFieldIndex{FieldName: "color", FieldSchema: &api.PayloadFieldSchema{Type: api.SchemaKeyword}}, api.WriteParams{Wait: true})
	mustNil(t, err)
	mustNil(t, s.UpdateAliases(bg, []api.AliasOperation{{CreateAlias: &api.AliasDescription{AliasName: "al", CollectionName: "a"}}}))
	mustNil(t, s.UpdateCollection(bg, "a", &api.UpdateCollection{Params: &api.CollectionParamsDiff{ReplicationFactor: ptr(2)}, Metadata: map[string]any{"v": "2"}}))
	createUnnamed(t, s, "gone", 2, api.DistanceDot, 1)
	_, err = s.DeleteCollection(bg, "gone")
	mustNil(t, err)
	q := d.vecs[5]
	before := query(t, s, "al", &api.QueryRequest{Query: &api.Query{Nearest: &api.VectorInput{Vector: q}}, Limit: ptr(10), Params: &api.SearchParams{Exact: true}})
	mustNil(t, s.Close())

	// A stray directory (a crash between metadata change and removal) is
	// removed on start.
	stray := filepath.Join(dir, "collections", "stray")
	mustNil(t, os.MkdirAll(filepath.Join(stray, "0"), 0o755))

	s = newService(t, dir)
	defer s.Close()
	if _, err := os.Stat(stray); !os.IsNotExist(err) {
		t.Fatalf("stray directory survived: %v", err)
	}
	info, err := s.CollectionInfo(bg, "al")
	mustNil(t, err)
	if info.PointsCount != 150 || info.Config.Params.ReplicationFactor != 2 || info.Config.Metadata["v"] != "2" || info.SegmentsCount != 3 {
		t.Fatalf("info after restart %+v", info)
	}
	if pi, ok := info.PayloadSchema["color"]; !ok || pi.DataType != api.SchemaKeyword || pi.Points != 150 {
		t.Fatalf("payload schema after restart %+v", info.PayloadSchema)
	}
	after := query(t, s, "al", &api.QueryRequest{Query: &api.Query{Nearest: &api.VectorInput{Vector: q}}, Limit: ptr(10), Params: &api.SearchParams{Exact: true}})
	if !sameIDs(hitIDs(before), hitIDs(after)) {
		t.Fatalf("results changed across restart: %v vs %v", hitIDs(before), hitIDs(after))
	}
	if !sameIDs(hitIDs(after), d.bruteTop(q, 10, nil)) {
		t.Fatalf("results after restart %v, oracle %v", hitIDs(after), d.bruteTop(q, 10, nil))
	}
	list, _ := s.ListCollections(bg)
	if len(list) != 1 || list[0].Name != "a" {
		t.Fatalf("collections after restart %v", list)
	}
	// The deleted collection's name is free again, with no old data.
	createUnnamed(t, s, "gone", 2, api.DistanceDot, 1)
	n, _ := s.Count(bg, "gone", nil, api.ReadParams{})
	if n.Count != 0 {
		t.Fatalf("recreated collection has %d points", n.Count)
	}
	tel, err := s.Telemetry(bg)
	mustNil(t, err)
	if len(tel.Collections) != 2 || tel.Collections[0].Name != "a" || tel.Collections[0].Points != 150 || tel.Collections[0].Vectors[""] != 4 || tel.Collections[0].Shards != 3 {
		t.Fatalf("telemetry %+v", tel)
	}
}

func TestFieldIndexLifecycle(t *testing.T) {
	dir := t.TempDir()
	s := newService(t, dir)
	createUnnamed(t, s, "c", 2, api.DistanceDot, 2)
	upsert(t, s, "c", []api.PointStruct{
		{ID: api.NumID(1), Vector: api.Vectors{"": {1, 0}}, Payload: payload(t, `{"n": 1, "k": "a"}`)},
		{ID: api.NumID(2), Vector: api.Vectors{"": {0, 1}}, Payload: payload(t, `{"n": 2, "k": "b"}`)},
	})
	wp := api.WriteParams{Wait: true}
	_, err := s.CreateFieldIndex(bg, "c", &api.CreateFieldIndex{FieldName: "k", FieldSchema: &api.PayloadFieldSchema{Type: api.SchemaKeyword}}, wp)
	mustNil(t, err)
	// An index the shards refuse is not kept anywhere; an existing index
	// of the same key survives a refused replacement.
	bad := &api.PayloadFieldSchema{Type: api.SchemaInteger, Params: map[string]any{"lookup": false, "range": false}}
	_, err = s.CreateFieldIndex(bg, "c", &api.CreateFieldIndex{FieldName: "n", FieldSchema: bad}, wp)
	wantErr(t, err, api.KindBadInput, "cannot both be false")
	_, err = s.CreateFieldIndex(bg, "c", &api.CreateFieldIndex{FieldName: "k", FieldSchema: bad}, wp)
	wantErr(t, err, api.KindBadInput, "cannot both be false")
	_, err = s.CreateFieldIndex(bg, "c", &api.CreateFieldIndex{FieldName: "bad path["}, wp)
	wantErr(t, err, api.KindBadInput, "Invalid json path")
	check := func(s *Service) {
		t.Helper()
		info, err := s.CollectionInfo(bg, "c")
		mustNil(t, err)
		if len(info.PayloadSchema) != 1 || info.PayloadSchema["k"].DataType != api.SchemaKeyword || info.PayloadSchema["k"].Points != 2 {
			t.Fatalf("payload schema %+v", info.PayloadSchema)
		}
	}
	check(s)
	mustNil(t, s.Close())
	s = newService(t, dir)
	check(s)
	_, err = s.DeleteFieldIndex(bg, "c", "k", wp)
	mustNil(t, err)
	info, _ := s.CollectionInfo(bg, "c")
	if len(info.PayloadSchema) != 0 {
		t.Fatalf("index not dropped: %+v", info.PayloadSchema)
	}
	mustNil(t, s.Close())
}

func TestLookupFromNamedVector(t *testing.T) {
	s := newService(t, t.TempDir())
	defer s.Close()
	createUnnamed(t, s, "target", 2, api.DistanceDot, 2)
	upsert(t, s, "target", []api.PointStruct{
		{ID: api.NumID(1), Vector: api.Vectors{"": {1, 0}}},
		{ID: api.NumID(2), Vector: api.Vectors{"": {0, 1}}},
	})
	mustNil(t, s.CreateCollection(bg, "src", &api.CreateCollection{Vectors: api.VectorsConfig{
		"x": {Size: 2, Distance: api.DistanceDot}, "y": {Size: 3, Distance: api.DistanceDot}}}))
	upsert(t, s, "src", []api.PointStruct{{ID: api.NumID(7), Vector: api.Vectors{"x": {0, 5}, "y": {1, 1, 1}}}})
	hits := query(t, s, "target", &api.QueryRequest{Query: &api.Query{Nearest: &api.VectorInput{ID: ptr(api.NumID(7))}},
		LookupFrom: &api.LookupFrom{Collection: "src", Vector: ptr("x")}, Limit: ptr(1)})
	// Not excluded (the id belongs to src), scored by src's vector x.
	if len(hits) != 1 || hits[0].ID.Num != 2 || hits[0].Score != 5 {
		t.Fatalf("lookup_from x: %+v", hits)
	}
	// Without lookup_from.vector the unnamed vector is used, which src lacks.
	_, err := s.Query(bg, "target", &api.QueryRequest{Query: &api.Query{Nearest: &api.VectorInput{ID: ptr(api.NumID(7))}},
		LookupFrom: &api.LookupFrom{Collection: "src"}}, api.ReadParams{})
	wantErr(t, err, api.KindBadInput, "Not existing vector name error: ")
	// A vector of the wrong size is refused.
	_, err = s.Query(bg, "target", &api.QueryRequest{Query: &api.Query{Nearest: &api.VectorInput{ID: ptr(api.NumID(7))}},
		LookupFrom: &api.LookupFrom{Collection: "src", Vector: ptr("y")}}, api.ReadParams{})
	wantErr(t, err, api.KindBadInput, "expected dim: 2, got 3")
	// lookup_from needs read access to the other collection.
	ctx := auth.WithAccess(bg, auth.Access{Collections: map[string]auth.Mode{"target": auth.Read}})
	_, err = s.Query(ctx, "target", &api.QueryRequest{Query: &api.Query{Nearest: &api.VectorInput{ID: ptr(api.NumID(7))}},
		LookupFrom: &api.LookupFrom{Collection: "src", Vector: ptr("x")}}, api.ReadParams{})
	wantErr(t, err, api.KindForbidden, "read access to collection src")
}

func TestUpdateCollection(t *testing.T) {
	s := newService(t, t.TempDir())
	defer s.Close()
	mustNil(t, s.CreateCollection(bg, "c", &api.CreateCollection{Vectors: api.VectorsConfig{
		"a": {Size: 2, Distance: api.DistanceDot, HnswConfig: &api.HnswConfigDiff{M: ptr(8)}}, "b": {Size: 2, Distance: api.DistanceDot}}}))
	mustNil(t, s.UpdateCollection(bg, "c", &api.UpdateCollection{
		Vectors:          map[string]api.VectorParamsDiff{"a": {HnswConfig: &api.HnswConfigDiff{EfConstruct: ptr(200)}, OnDisk: ptr(false)}},
		HnswConfig:       &api.HnswConfigDiff{M: ptr(24)},
		OptimizersConfig: json.RawMessage(`{"deleted_threshold": 0.5}`),
		Params:           &api.CollectionParamsDiff{WriteConsistencyFactor: ptr(2), OnDiskPayload: ptr(false)},
	}))
	info, err := s.CollectionInfo(bg, "c")
	mustNil(t, err)
	cfg := info.Config
	// Vector a keeps its own m and gains ef_construct; b follows the collection.
	if h := cfg.VectorHnsw("a"); h.M != 8 || h.EfConstruct != 200 {
		t.Fatalf("vector a hnsw %+v", h)
	}
	if h := cfg.VectorHnsw("b"); h.M != 24 || h.EfConstruct != 100 {
		t.Fatalf("vector b hnsw %+v", h)
	}
	if *cfg.Params.Vectors["a"].OnDisk != false || cfg.OptimizerConfig.DeletedThreshold != 0.5 || cfg.OptimizerConfig.VacuumMinVectorNumber != 1000 ||
		cfg.Params.WriteConsistencyFactor != 2 || cfg.Params.OnDiskPayload {
		t.Fatalf("config after update %+v", cfg)
	}
	wantErr(t, s.UpdateCollection(bg, "c", &api.UpdateCollection{Vectors: map[string]api.VectorParamsDiff{"zz": {OnDisk: ptr(true)}}}),
		api.KindBadInput, "Not existing vector name error: zz")
	wantErr(t, s.UpdateCollection(bg, "c", &api.UpdateCollection{HnswConfig: &api.HnswConfigDiff{EfConstruct: ptr(1)}}), api.KindValidation, "ef_construct")
	wantErr(t, s.UpdateCollection(bg, "nope", &api.UpdateCollection{}), api.KindNotFound, "doesn't exist")
	info2, _ := s.CollectionInfo(bg, "c")
	if info2.Config.HnswConfig.EfConstruct != 100 {
		t.Fatal("refused update changed the config")
	}
}

func TestLimits(t *testing.T) {
	s, err := New(Options{StorageDir: t.TempDir(), Limits: Limits{MaxBatchPoints: 3, MaxBatchQueries: 2, MaxPrefetchDepth: 2, MaxLimit: 50, MaxCollections: 1}})
	mustNil(t, err)
	defer s.Close()
	createUnnamed(t, s, "c", 2, api.DistanceDot, 1)
	wantErr(t, s.CreateCollection(bg, "d", &api.CreateCollection{Vectors: api.VectorsConfig{"": {Size: 2, Distance: api.DistanceDot}}}), api.KindBadInput, "limited to 1")
	var pts []api.PointStruct
	for i := range 4 {
		pts = append(pts, api.PointStruct{ID: api.NumID(uint64(i)), Vector: api.Vectors{"": {1, 1}}})
	}
	_, err = s.Upsert(bg, "c", &api.UpsertPoints{Points: pts}, api.WriteParams{})
	wantErr(t, err, api.KindBadInput, "the limit is 3")
	_, err = s.QueryBatch(bg, "c", make([]api.QueryRequest, 3), api.ReadParams{})
	wantErr(t, err, api.KindBadInput, "too many queries")
	// Limits and offsets above the maximum are clamped to the points the
	// collection holds (Qdrant takes any u64): the answer is every point
	// after the offset, and only a collection larger than the maximum
	// refuses them. Strict mode counts them as given.
	for i := 0; i < 51; i += 3 {
		_, err = s.Upsert(bg, "c", &api.UpsertPoints{Points: []api.PointStruct{
			{ID: api.NumID(uint64(i)), Vector: api.Vectors{"": {1, float32(i)}}},
			{ID: api.NumID(uint64(i + 1)), Vector: api.Vectors{"": {1, float32(i + 1)}}},
			{ID: api.NumID(uint64(i + 2)), Vector: api.Vectors{"": {1, float32(i + 2)}}},
		}}, api.WriteParams{Wait: true})
		mustNil(t, err)
		if i == 0 {
			near := &api.Query{Nearest: &api.VectorInput{Vector: []float32{0, 1}}}
			res, err := s.Query(bg, "c", &api.QueryRequest{Query: near, Limit: ptr(math.MaxInt), Offset: ptr(1),
				Prefetch: api.Prefetches{{Limit: ptr(math.MaxInt)}}}, api.ReadParams{})
			mustNil(t, err)
			if len(res.Points) != 2 || res.Points[0].ID.Num != 1 || res.Points[1].ID.Num != 0 {
				t.Fatalf("huge limit and offset 1 over 3 points: %+v", res.Points)
			}
			res, err = s.Query(bg, "c", &api.QueryRequest{Query: near, Offset: ptr(math.MaxInt)}, api.ReadParams{})
			mustNil(t, err)
			if len(res.Points) != 0 {
				t.Fatalf("huge offset: %+v", res.Points)
			}
			page, err := s.Scroll(bg, "c", &api.ScrollRequest{Limit: ptr(math.MaxInt)}, api.ReadParams{})
			mustNil(t, err)
			if len(page.Points) != 3 {
				t.Fatalf("scroll with a huge limit over 3 points: %+v", page.Points)
			}
			groups, err := s.QueryGroups(bg, "c", &api.QueryGroupsRequest{QueryRequest: api.QueryRequest{Query: near, Limit: ptr(math.MaxInt)}, GroupBy: "g"}, api.ReadParams{})
			mustNil(t, err)
			if len(groups.Groups) != 0 {
				t.Fatalf("groups of points without the key: %+v", groups)
			}
		}
	}
	_, err = s.Query(bg, "c", &api.QueryRequest{Limit: ptr(40), Offset: ptr(20)}, api.ReadParams{})
	wantErr(t, err, api.KindBadInput, "limit + offset 51 exceeds the maximum of 50")
	_, err = s.Query(bg, "c", &api.QueryRequest{Limit: ptr(math.MaxInt)}, api.ReadParams{})
	wantErr(t, err, api.KindBadInput, "limit + offset 51 exceeds the maximum of 50")
	_, err = s.Scroll(bg, "c", &api.ScrollRequest{Limit: ptr(math.MaxInt)}, api.ReadParams{})
	wantErr(t, err, api.KindBadInput, "limit 51 exceeds the maximum of 50")
	_, err = s.Query(bg, "c", &api.QueryRequest{Prefetch: api.Prefetches{{Limit: ptr(60)}}, Query: &api.Query{Nearest: &api.VectorInput{Vector: []float32{0, 1}}}}, api.ReadParams{})
	wantErr(t, err, api.KindBadInput, "prefetch limit 51 exceeds the maximum of 50")
	mustNil(t, s.UpdateCollection(bg, "c", &api.UpdateCollection{StrictModeConfig: json.RawMessage(`{"enabled": true, "max_query_limit": 5}`)}))
	_, err = s.Query(bg, "c", &api.QueryRequest{Limit: ptr(math.MaxInt)}, api.ReadParams{})
	wantErr(t, err, api.KindBadRequest, `Limit exceeded 2147483647 > 5 for "limit"`)
	nest := api.Prefetch{Limit: ptr(5)}
	for range 2 {
		nest = api.Prefetch{Prefetch: api.Prefetches{nest}, Limit: ptr(5)}
	}
	_, err = s.Query(bg, "c", &api.QueryRequest{Prefetch: api.Prefetches{nest}}, api.ReadParams{})
	wantErr(t, err, api.KindBadInput, "nested deeper than 2")
	deep := &api.Filter{}
	for range api.MaxFilterDepth + 1 {
		deep = &api.Filter{Must: []api.Condition{{Filter: deep}}}
	}
	_, err = s.Count(bg, "c", &api.CountRequest{Filter: deep}, api.ReadParams{})
	wantErr(t, err, api.KindBadInput, "nested too deeply")
}

func TestMissingMetaRefusesToDeleteData(t *testing.T) {
	dir := t.TempDir()
	s := newService(t, dir)
	createUnnamed(t, s, "keep", 2, api.DistanceDot, 1)
	upsert(t, s, "keep", []api.PointStruct{{ID: api.NumID(1), Vector: api.Vectors{"": {1, 0}}}})
	mustNil(t, s.Close())
	mustNil(t, os.Remove(filepath.Join(dir, "meta.json")))
	if _, err := New(Options{StorageDir: dir}); err == nil || !strings.Contains(err.Error(), "meta.json is missing") {
		t.Fatalf("started without meta.json over existing data: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "collections", "keep", "0")); err != nil {
		t.Fatalf("data removed: %v", err)
	}
}

func TestFacetExactAcrossShards(t *testing.T) {
	s := newService(t, t.TempDir())
	defer s.Close()
	createUnnamed(t, s, "f", 2, api.DistanceDot, 2)
	_, err := s.CreateFieldIndex(bg, "f", &api.CreateFieldIndex{FieldName: "k", FieldSchema: &api.PayloadFieldSchema{Type: api.SchemaKeyword}}, api.WriteParams{Wait: true})
	mustNil(t, err)
	// Shard 0 holds x:5 y:4, shard 1 holds y:4 z:3. Each shard's own top
	// value is x or y with at most 5, but y's total of 8 is the answer.
	r := collection.NewRouter(2)
	plan := [][]string{{"x", "x", "x", "x", "x", "y", "y", "y", "y"}, {"y", "y", "y", "y", "z", "z", "z"}}
	var pts []api.PointStruct
	next := uint64(0)
	for sh, vals := range plan {
		for _, v := range vals {
			for r.ShardOf(api.NumID(next)) != sh {
				next++
			}
			pts = append(pts, api.PointStruct{ID: api.NumID(next), Vector: api.Vectors{"": {1, 0}}, Payload: api.Payload{"k": v}})
			next++
		}
	}
	upsert(t, s, "f", pts)
	fr, err := s.Facet(bg, "f", &api.FacetRequest{Key: "k", Limit: ptr(1)}, api.ReadParams{})
	mustNil(t, err)
	if len(fr.Hits) != 1 || fr.Hits[0] != (api.FacetHit{Value: "y", Count: 8}) {
		t.Fatalf("facet %+v, want y:8", fr.Hits)
	}
}
