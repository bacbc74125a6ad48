package service

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/collection"
)

// TestVectorChangesUnderLoad adds and removes a named vector while
// readers query and writers upsert the collection's other vector: no
// request fails (they wait for the reopen), every acknowledged write is
// kept, and the removed vector is gone from every point.
func TestVectorChangesUnderLoad(t *testing.T) {
	s := newService(t, t.TempDir())
	defer s.Close()
	mustNil(t, s.CreateCollection(bg, "c", &api.CreateCollection{Vectors: api.VectorsConfig{"a": {Size: 4, Distance: api.DistanceDot}}, ShardNumber: ptr(2)}))
	d := makeDataset(7, 400, 4, api.DistanceDot)
	pts := d.points("a")
	upsert(t, s, "c", pts[:100])

	var wg, readers sync.WaitGroup
	var failure atomic.Value
	stop := make(chan struct{})
	var written atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 100; i < 400; i += 10 {
			if _, err := s.Upsert(bg, "c", &api.UpsertPoints{Points: pts[i : i+10]}, api.WriteParams{Wait: true}); err != nil {
				failure.Store(err)
				return
			}
			written.Store(int64(i + 10))
		}
	}()
	for r := range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, err := s.Query(bg, "c", &api.QueryRequest{Query: &api.Query{Nearest: &api.VectorInput{Vector: d.vecs[uint64(r+1)]}}, Using: ptr("a"), Limit: ptr(3)}, api.ReadParams{})
				if err != nil {
					failure.Store(err)
					return
				}
			}
		}()
	}
	for range 3 {
		_, err := s.CreateVectorName(bg, "c", "b", &api.CreateVectorName{Dense: &api.DenseVectorConfig{Size: 2, Distance: api.DistanceCosine}}, api.WriteParams{})
		mustNil(t, err)
		_, err = s.Upsert(bg, "c", &api.UpsertPoints{Points: []api.PointStruct{{ID: api.NumID(1), Vector: api.Vectors{"a": d.vecs[1], "b": {1, 0}}}}}, api.WriteParams{Wait: true})
		mustNil(t, err)
		_, err = s.DeleteVectorName(bg, "c", "b", api.WriteParams{})
		mustNil(t, err)
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	if err, _ := failure.Load().(error); err != nil {
		t.Fatalf("a request failed during vector changes: %v", err)
	}
	n, err := s.Count(bg, "c", &api.CountRequest{Exact: ptr(true)}, api.ReadParams{})
	mustNil(t, err)
	if int64(n.Count) != written.Load() {
		t.Errorf("count %d, written %d", n.Count, written.Load())
	}
	recs, err := s.GetPoints(bg, "c", &api.GetPoints{IDs: []api.PointID{api.NumID(1)}, WithVector: &api.VectorSelector{Enable: true}}, api.ReadParams{})
	mustNil(t, err)
	if len(recs) != 1 || recs[0].Vector["b"] != nil || recs[0].Vector["a"] == nil {
		t.Errorf("point 1 after the changes: %+v", recs)
	}
	_, err = s.Query(bg, "c", &api.QueryRequest{Query: &api.Query{Nearest: &api.VectorInput{Vector: []float32{1, 0}}}, Using: ptr("b")}, api.ReadParams{})
	if err == nil || !strings.Contains(err.Error(), "Not existing vector name error: b") {
		t.Errorf("query of the removed vector: %v", err)
	}
}

// TestOnDiskChangeMovesVectors: PATCH on_disk of an existing dense
// vector and of a multi-vector moves their stores between the heap and a
// mapped file on every shard while readers query and a writer upserts (no
// request fails, every acknowledged write is kept), and the answers after
// each move are the answers before it.
func TestOnDiskChangeMovesVectors(t *testing.T) {
	s := newService(t, t.TempDir())
	defer s.Close()
	mv := &api.MultiVectorConfig{Comparator: api.ComparatorMaxSim}
	mustNil(t, s.CreateCollection(bg, "c", &api.CreateCollection{Vectors: api.VectorsConfig{
		"a": {Size: 4, Distance: api.DistanceEuclid},
		"m": {Size: 4, Distance: api.DistanceDot, MultivectorConfig: mv},
	}, ShardNumber: ptr(2)}))
	d := makeDataset(9, 400, 4, api.DistanceEuclid)
	pts := d.points("a")
	for i := range pts {
		id := pts[i].ID.Num
		pts[i].Multi = api.MultiVectors{"m": {d.vecs[id], d.vecs[1+id%400]}}
	}
	upsert(t, s, "c", pts[:200])

	onDisk := func(want bool) {
		t.Helper()
		s.mu.RLock()
		c := s.colls["c"]
		s.mu.RUnlock()
		for i := range c.Shards() {
			for _, name := range []string{"a", "m"} {
				got, ok := c.LocalShard(i).VectorOnDisk(name)
				if !ok || got != want {
					t.Fatalf("shard %d vector %s: on disk %v (known %v), want %v", i, name, got, ok, want)
				}
			}
		}
		info, err := s.CollectionInfo(bg, "c")
		mustNil(t, err)
		for _, name := range []string{"a", "m"} {
			p := info.Config.Params.Vectors[name]
			if (p.OnDisk != nil && *p.OnDisk) != want {
				t.Fatalf("config of %s: on_disk %v, want %v", name, p.OnDisk, want)
			}
		}
	}
	answers := func() string {
		t.Helper()
		var out []string
		for _, id := range []uint64{3, 77, 150} {
			for _, q := range []*api.QueryRequest{
				{Query: &api.Query{Nearest: &api.VectorInput{Vector: d.vecs[id]}}, Using: ptr("a"), Limit: ptr(5), Params: &api.SearchParams{Exact: true}},
				{Query: &api.Query{Nearest: &api.VectorInput{Multi: [][]float32{d.vecs[id]}}}, Using: ptr("m"), Limit: ptr(5)},
			} {
				res, err := s.Query(bg, "c", q, api.ReadParams{})
				mustNil(t, err)
				for _, p := range res.Points {
					out = append(out, fmt.Sprintf("%v:%.5f", p.ID, p.Score))
				}
			}
		}
		return strings.Join(out, " ")
	}
	onDisk(false)
	before := answers()

	set := func(v bool) {
		t.Helper()
		mustNil(t, s.UpdateCollection(bg, "c", &api.UpdateCollection{Vectors: map[string]api.VectorParamsDiff{"a": {OnDisk: &v}, "m": {OnDisk: &v}}}))
	}
	movesUnderLoad(t, s, pts[200:400], func() error {
		_, err := s.Query(bg, "c", &api.QueryRequest{Query: &api.Query{Nearest: &api.VectorInput{Multi: [][]float32{d.vecs[5]}}}, Using: ptr("m"), Limit: ptr(3)}, api.ReadParams{})
		return err
	}, func() {
		set(true)
		onDisk(true)
		set(false)
		onDisk(false)
		set(true)
	})
	onDisk(true)
	n, err := s.Count(bg, "c", &api.CountRequest{Exact: ptr(true)}, api.ReadParams{})
	mustNil(t, err)
	if n.Count != 400 {
		t.Fatalf("count %d, want 400", n.Count)
	}
	// The points written meanwhile are not among the answers' ids (all
	// of them come from the first 200), so the answers stay the same.
	_, err = s.DeletePoints(bg, "c", &api.PointsSelector{Points: idsFrom(pts[200:])}, api.WriteParams{Wait: true})
	mustNil(t, err)
	if after := answers(); after != before {
		t.Fatalf("answers on disk:\n%s\nbefore:\n%s", after, before)
	}
}

func idsFrom(pts []api.PointStruct) []api.PointID {
	out := make([]api.PointID, len(pts))
	for i, p := range pts {
		out[i] = p.ID
	}
	return out
}

// TestHnswOnDiskChange: PATCH of hnsw_config.on_disk, the collection's and
// a vector's own (which takes precedence), moves the vector's HNSW graph
// between the heap and a mapped file on every shard while a reader
// queries (no request fails); GET reports the setting in force, and the
// graph's answers after each move are the answers before it.
func TestHnswOnDiskChange(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("mapped graph files are supported on Linux only")
	}
	s := newService(t, t.TempDir())
	defer s.Close()
	mustNil(t, s.CreateCollection(bg, "c", &api.CreateCollection{
		Vectors:          api.VectorsConfig{"a": {Size: 4, Distance: api.DistanceEuclid}, "b": {Size: 4, Distance: api.DistanceEuclid}},
		ShardNumber:      ptr(2),
		HnswConfig:       &api.HnswConfigDiff{FullScanThreshold: ptr(1)},
		OptimizersConfig: json.RawMessage(`{"indexing_threshold":1}`),
	}))
	d := makeDataset(11, 600, 4, api.DistanceEuclid)
	pts := d.points("a")
	for i := range pts {
		pts[i].Vector["b"] = pts[i].Vector["a"]
	}
	upsert(t, s, "c", pts)
	wait := func() {
		t.Helper()
		s.mu.RLock()
		c := s.colls["c"]
		s.mu.RUnlock()
		for i := range c.Shards() {
			mustNil(t, c.LocalShard(i).WaitIndexed(bg))
		}
	}
	onDisk := func(wantA, wantB bool) {
		t.Helper()
		s.mu.RLock()
		c := s.colls["c"]
		s.mu.RUnlock()
		for i := range c.Shards() {
			for name, want := range map[string]bool{"a": wantA, "b": wantB} {
				got, ok := c.LocalShard(i).GraphOnDisk(name)
				if !ok || got != want {
					t.Fatalf("shard %d vector %s: graph on disk %v (known %v), want %v", i, name, got, ok, want)
				}
			}
		}
		info, err := s.CollectionInfo(bg, "c")
		mustNil(t, err)
		for name, want := range map[string]bool{"a": wantA, "b": wantB} {
			if h := info.Config.VectorHnsw(name); (h.OnDisk != nil && *h.OnDisk) != want {
				t.Fatalf("config of %s: hnsw on_disk %v, want %v", name, h.OnDisk, want)
			}
		}
	}
	answers := func() string {
		t.Helper()
		wait()
		var out []string
		for _, id := range []uint64{3, 77, 150, 420} {
			for _, using := range []string{"a", "b"} {
				res, err := s.Query(bg, "c", &api.QueryRequest{Query: &api.Query{Nearest: &api.VectorInput{Vector: d.vecs[id]}}, Using: ptr(using), Limit: ptr(5)}, api.ReadParams{})
				mustNil(t, err)
				for _, p := range res.Points {
					out = append(out, fmt.Sprintf("%v:%.5f", p.ID, p.Score))
				}
			}
		}
		return strings.Join(out, " ")
	}
	onDisk(false, false)
	before := answers()

	var readers sync.WaitGroup
	var failure atomic.Value
	stop := make(chan struct{})
	readers.Add(1)
	go func() {
		defer readers.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := s.Query(bg, "c", &api.QueryRequest{Query: &api.Query{Nearest: &api.VectorInput{Vector: d.vecs[5]}}, Using: ptr("a"), Limit: ptr(3)}, api.ReadParams{}); err != nil {
				failure.Store(err)
				return
			}
		}
	}()
	yes, no := true, false
	mustNil(t, s.UpdateCollection(bg, "c", &api.UpdateCollection{HnswConfig: &api.HnswConfigDiff{OnDisk: &yes}}))
	onDisk(true, true)
	if got := answers(); got != before {
		t.Fatalf("answers with the graphs on disk:\n%s\nbefore:\n%s", got, before)
	}
	mustNil(t, s.UpdateCollection(bg, "c", &api.UpdateCollection{Vectors: map[string]api.VectorParamsDiff{"b": {HnswConfig: &api.HnswConfigDiff{OnDisk: &no}}}}))
	onDisk(true, false)
	mustNil(t, s.UpdateCollection(bg, "c", &api.UpdateCollection{HnswConfig: &api.HnswConfigDiff{OnDisk: &no}}))
	onDisk(false, false)
	close(stop)
	readers.Wait()
	if err, _ := failure.Load().(error); err != nil {
		t.Fatalf("a request failed during the moves: %v", err)
	}
	if got := answers(); got != before {
		t.Fatalf("answers after the moves:\n%s\nbefore:\n%s", got, before)
	}
}

// TestOnDiskPayloadChange: PATCH of params.on_disk_payload reopens every
// shard with its payloads moved between memory and the store while a
// writer upserts and readers filter on payloads (no request fails), and
// the answers after each move are the answers before it.
func TestOnDiskPayloadChange(t *testing.T) {
	s := newService(t, t.TempDir())
	defer s.Close()
	mustNil(t, s.CreateCollection(bg, "c", &api.CreateCollection{Vectors: api.VectorsConfig{"": {Size: 4, Distance: api.DistanceEuclid}},
		ShardNumber: ptr(2), OnDiskPayload: ptr(false)}))
	d := makeDataset(4, 400, 4, api.DistanceEuclid)
	pts := d.points("")
	for i := range pts {
		pts[i].Payload = api.Payload{"group": json.Number(strconv.Itoa(i % 5)), "name": fmt.Sprintf("p%d", i)}
	}
	upsert(t, s, "c", pts[:200])
	onDisk := func(want bool) {
		t.Helper()
		s.mu.RLock()
		c := s.colls["c"]
		s.mu.RUnlock()
		for i := range c.Shards() {
			if got := c.LocalShard(i).PayloadOnDisk(); got != want {
				t.Fatalf("shard %d: payloads on disk %v, want %v", i, got, want)
			}
		}
		info, err := s.CollectionInfo(bg, "c")
		mustNil(t, err)
		if info.Config.Params.OnDiskPayload != want {
			t.Fatalf("config: on_disk_payload %v, want %v", info.Config.Params.OnDiskPayload, want)
		}
	}
	group2 := &api.Filter{Must: []api.Condition{{Field: &api.FieldCondition{Key: "group", Match: &api.Match{Kind: api.MatchValue, Value: json.Number("2")}}}}}
	// The answers among the first 200 points, which the writer leaves.
	var first []api.PointID
	for _, p := range pts[:200] {
		first = append(first, p.ID)
	}
	firstOfGroup2 := &api.Filter{Must: append([]api.Condition{{HasID: first}}, group2.Must...)}
	answers := func() string {
		t.Helper()
		res, err := s.Query(bg, "c", &api.QueryRequest{Query: &api.Query{Nearest: &api.VectorInput{Vector: d.vecs[3]}}, Filter: firstOfGroup2, Limit: ptr(5),
			WithPayload: api.PayloadAll, Params: &api.SearchParams{Exact: true}}, api.ReadParams{})
		mustNil(t, err)
		b, err := json.Marshal(res.Points)
		mustNil(t, err)
		return string(b)
	}
	onDisk(false)
	before := answers()

	set := func(v bool) {
		t.Helper()
		mustNil(t, s.UpdateCollection(bg, "c", &api.UpdateCollection{Params: &api.CollectionParamsDiff{OnDiskPayload: &v}}))
	}
	movesUnderLoad(t, s, pts[200:400], func() error {
		res, err := s.Scroll(bg, "c", &api.ScrollRequest{Filter: group2, Limit: ptr(20), WithPayload: api.PayloadAll}, api.ReadParams{})
		if err != nil {
			return err
		}
		for _, p := range res.Points {
			if fmt.Sprint(p.Payload["group"]) != "2" {
				return fmt.Errorf("scroll of group 2 returned %v", p.Payload)
			}
		}
		return nil
	}, func() {
		set(true)
		onDisk(true)
		set(false)
		onDisk(false)
		set(true)
	})
	onDisk(true)
	n, err := s.Count(bg, "c", &api.CountRequest{Filter: group2, Exact: ptr(true)}, api.ReadParams{})
	mustNil(t, err)
	if n.Count != 80 {
		t.Fatalf("count of group 2: %d, want 80", n.Count)
	}
	if got := answers(); got != before {
		t.Fatalf("answers changed:\nbefore %s\nafter  %s", before, got)
	}
}

// movesUnderLoad runs moves while one writer upserts pts to collection
// "c" ten at a time and a reader calls read in a loop; it fails the test
// when a write or read failed.
func movesUnderLoad(t *testing.T, s *Service, pts []api.PointStruct, read func() error, moves func()) {
	t.Helper()
	var wg, readers sync.WaitGroup
	var failure atomic.Value
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < len(pts); i += 10 {
			if _, err := s.Upsert(bg, "c", &api.UpsertPoints{Points: pts[i:min(i+10, len(pts))]}, api.WriteParams{Wait: true}); err != nil {
				failure.Store(err)
				return
			}
		}
	}()
	readers.Add(1)
	go func() {
		defer readers.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := read(); err != nil {
				failure.Store(err)
				return
			}
		}
	}()
	moves()
	wg.Wait()
	close(stop)
	readers.Wait()
	if err, _ := failure.Load().(error); err != nil {
		t.Fatalf("a request failed during the moves: %v", err)
	}
}

// TestOptimizersChangeTakesEffect: a PATCH of optimizers_config reopens
// the collection with the new settings: memmap_threshold below the
// shards' vectors maps them, indexing_threshold 0 (no indexing) raised
// to 1 KB builds the graphs; the points and answers stay.
func TestOptimizersChangeTakesEffect(t *testing.T) {
	s := newService(t, t.TempDir())
	defer s.Close()
	mustNil(t, s.CreateCollection(bg, "c", &api.CreateCollection{Vectors: api.VectorsConfig{"": {Size: 8, Distance: api.DistanceEuclid}},
		ShardNumber: ptr(2), OptimizersConfig: json.RawMessage(`{"indexing_threshold":0}`)}))
	d := makeDataset(5, 600, 8, api.DistanceEuclid)
	upsert(t, s, "c", d.points(""))
	coll := func() *collection.Collection {
		s.mu.RLock()
		defer s.mu.RUnlock()
		return s.colls["c"]
	}
	query := func() string {
		t.Helper()
		res, err := s.Query(bg, "c", &api.QueryRequest{Query: &api.Query{Nearest: &api.VectorInput{Vector: d.vecs[7]}}, Limit: ptr(5), Params: &api.SearchParams{Exact: true}}, api.ReadParams{})
		mustNil(t, err)
		b, err := json.Marshal(res.Points)
		mustNil(t, err)
		return string(b)
	}
	before := query()
	c := coll()
	for i := range c.Shards() {
		sh := c.LocalShard(i)
		if on, _ := sh.VectorOnDisk(""); on || sh.Stats().IndexedVectors != 0 {
			t.Fatalf("shard %d before the change: mapped %v, %d vectors indexed", i, on, sh.Stats().IndexedVectors)
		}
	}
	// About 300 vectors of 32 bytes a shard: 9.4 KB, past 4 KB.
	mustNil(t, s.UpdateCollection(bg, "c", &api.UpdateCollection{OptimizersConfig: json.RawMessage(`{"memmap_threshold":4,"indexing_threshold":1}`)}))
	c = coll()
	for i := range c.Shards() {
		sh := c.LocalShard(i)
		mustNil(t, sh.WaitIndexed(bg))
		if on, _ := sh.VectorOnDisk(""); !on || sh.Stats().IndexedVectors == 0 {
			t.Fatalf("shard %d after the change: mapped %v, %d vectors indexed", i, on, sh.Stats().IndexedVectors)
		}
	}
	if got := query(); got != before {
		t.Fatalf("answers changed:\nbefore %s\nafter  %s", before, got)
	}
	n, err := s.Count(bg, "c", &api.CountRequest{Exact: ptr(true)}, api.ReadParams{})
	mustNil(t, err)
	if n.Count != 600 {
		t.Fatalf("count %d, want 600", n.Count)
	}
}

// TestMaxOptimizationThreads: a collection's max_optimization_threads 0
// disables optimizations as in Qdrant (no graph is built, searches stay
// exact); raised to 1 by a PATCH, the graphs are built.
func TestMaxOptimizationThreads(t *testing.T) {
	s := newService(t, t.TempDir())
	defer s.Close()
	mustNil(t, s.CreateCollection(bg, "c", &api.CreateCollection{Vectors: api.VectorsConfig{"": {Size: 8, Distance: api.DistanceEuclid}},
		ShardNumber: ptr(1), OptimizersConfig: json.RawMessage(`{"indexing_threshold":1,"max_optimization_threads":0}`)}))
	d := makeDataset(6, 300, 8, api.DistanceEuclid)
	upsert(t, s, "c", d.points(""))
	indexed := func() uint64 {
		t.Helper()
		s.mu.RLock()
		sh := s.colls["c"].LocalShard(0)
		s.mu.RUnlock()
		mustNil(t, sh.WaitIndexed(bg))
		return sh.Stats().IndexedVectors
	}
	if n := indexed(); n != 0 {
		t.Fatalf("max_optimization_threads 0: %d vectors indexed", n)
	}
	mustNil(t, s.UpdateCollection(bg, "c", &api.UpdateCollection{OptimizersConfig: json.RawMessage(`{"max_optimization_threads":1}`)}))
	if n := indexed(); n != 300 {
		t.Fatalf("max_optimization_threads 1: %d of 300 vectors indexed", n)
	}
}
