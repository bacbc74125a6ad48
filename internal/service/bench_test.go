package service

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/auth"
	"github.com/shoal-db/shoal/internal/texmex"
)

// benchService builds a collection of n random points in dim dimensions
// over the given shards and waits until the HNSW indexes hold them all.
func benchService(b *testing.B, n, dim, shards int) (*Service, *dataset) {
	b.Helper()
	s, err := New(Options{StorageDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	// A tiny full_scan_threshold makes the shards search their HNSW graphs
	// (10k x 64 floats is below Qdrant's default exact-scan threshold).
	if err := s.CreateCollection(bg, "c", &api.CreateCollection{Vectors: api.VectorsConfig{"": {Size: dim, Distance: api.DistanceCosine}}, ShardNumber: &shards,
		HnswConfig: &api.HnswConfigDiff{FullScanThreshold: ptr(10)}}); err != nil {
		b.Fatal(err)
	}
	d := makeDataset(7, n, dim, api.DistanceCosine)
	pts := d.points("")
	for i := 0; i < len(pts); i += 1000 {
		if _, err := s.Upsert(bg, "c", &api.UpsertPoints{Points: pts[i:min(i+1000, len(pts))]}, api.WriteParams{Wait: true}); err != nil {
			b.Fatal(err)
		}
	}
	c, release, err := s.use(bg, "c", auth.Read)
	if err != nil {
		b.Fatal(err)
	}
	defer release()
	if err := c.WaitIndexed(bg); err != nil {
		b.Fatal(err)
	}
	return s, d
}

// BenchmarkQueryNearest measures one top-10 query through the service (HNSW,
// fan-out and merge), and reports recall@10 against exact search.
func BenchmarkQueryNearest(b *testing.B) {
	for _, shards := range []int{1, 4} {
		b.Run(fmt.Sprintf("shards=%d", shards), func(b *testing.B) {
			s, d := benchService(b, 10_000, 64, shards)
			queries := makeDataset(8, 100, 64, api.DistanceCosine)
			var found, total int
			for qi := uint64(1); qi <= 100; qi++ {
				res, err := s.Query(bg, "c", &api.QueryRequest{Query: &api.Query{Nearest: &api.VectorInput{Vector: queries.vecs[qi]}}, Limit: ptr(10)}, api.ReadParams{})
				if err != nil {
					b.Fatal(err)
				}
				want := map[uint64]bool{}
				for _, id := range d.bruteTop(queries.vecs[qi], 10, nil) {
					want[id] = true
				}
				for _, h := range res.Points {
					if want[h.ID.Num] {
						found++
					}
				}
				total += 10
			}
			b.ReportAllocs()
			i := uint64(0)
			for b.Loop() {
				i = i%100 + 1
				if _, err := s.Query(bg, "c", &api.QueryRequest{Query: &api.Query{Nearest: &api.VectorInput{Vector: queries.vecs[i]}}, Limit: ptr(10)}, api.ReadParams{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(found)/float64(total), "recall@10")
		})
	}
}

// BenchmarkQueryFusion measures an rrf query over two prefetches of 50.
func BenchmarkQueryFusion(b *testing.B) {
	s, _ := benchService(b, 10_000, 64, 2)
	queries := makeDataset(9, 100, 64, api.DistanceCosine)
	b.ReportAllocs()
	i := uint64(0)
	for b.Loop() {
		i = i%99 + 1
		req := &api.QueryRequest{
			Prefetch: api.Prefetches{
				{Query: &api.Query{Nearest: &api.VectorInput{Vector: queries.vecs[i]}}, Limit: ptr(50)},
				{Query: &api.Query{Nearest: &api.VectorInput{Vector: queries.vecs[i+1]}}, Limit: ptr(50)},
			},
			Query: &api.Query{Fusion: "rrf"}, Limit: ptr(10),
		}
		if _, err := s.Query(bg, "c", req, api.ReadParams{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpsert measures batches of 100 points into 2 shards.
func BenchmarkUpsert(b *testing.B) {
	s, err := New(Options{StorageDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateCollection(bg, "c", &api.CreateCollection{Vectors: api.VectorsConfig{"": {Size: 64, Distance: api.DistanceCosine}}, ShardNumber: ptr(2)}); err != nil {
		b.Fatal(err)
	}
	d := makeDataset(10, 100, 64, api.DistanceCosine)
	pts := d.points("")
	b.ReportAllocs()
	next := uint64(0)
	for b.Loop() {
		for i := range pts {
			next++
			pts[i].ID = api.NumID(next)
		}
		if _, err := s.Upsert(bg, "c", &api.UpsertPoints{Points: pts}, api.WriteParams{Wait: true}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(pts))/b.Elapsed().Seconds(), "points/s")
}

// BenchmarkFashionMNIST loads the first SHOAL_BENCH_POINTS (default 20000)
// vectors of fashion-mnist-784-euclidean into 2 shards and measures top-10
// queries with recall@10 against exact search through the same service.
// It runs only when SHOAL_BENCH_DATA names the data directory, e.g.
// SHOAL_BENCH_DATA=/work/shared/data.
func BenchmarkFashionMNIST(b *testing.B) {
	root := os.Getenv("SHOAL_BENCH_DATA")
	if root == "" {
		b.Skip("set SHOAL_BENCH_DATA to the TEXMEX data directory")
	}
	n := 20_000
	if v := os.Getenv("SHOAL_BENCH_POINTS"); v != "" {
		fmt.Sscan(v, &n)
	}
	dir := filepath.Join(root, "fashion-mnist-784-euclidean")
	base, err := texmex.ReadFvecs(filepath.Join(dir, "base.fvecs.gz"), n)
	if err != nil {
		b.Fatal(err)
	}
	queries, err := texmex.ReadFvecs(filepath.Join(dir, "query.fvecs.gz"), 100)
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(Options{StorageDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateCollection(bg, "f", &api.CreateCollection{Vectors: api.VectorsConfig{"": {Size: 784, Distance: api.DistanceEuclid}}, ShardNumber: ptr(2)}); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < len(base); i += 1000 {
		var pts []api.PointStruct
		for j := i; j < min(i+1000, len(base)); j++ {
			pts = append(pts, api.PointStruct{ID: api.NumID(uint64(j)), Vector: api.Vectors{"": base[j]}})
		}
		if _, err := s.Upsert(bg, "f", &api.UpsertPoints{Points: pts}, api.WriteParams{Wait: true}); err != nil {
			b.Fatal(err)
		}
	}
	c, release, err := s.use(bg, "f", auth.Read)
	if err != nil {
		b.Fatal(err)
	}
	if err := c.WaitIndexed(bg); err != nil {
		b.Fatal(err)
	}
	release()
	var found, total int
	for _, q := range queries {
		approx, err := s.Query(bg, "f", &api.QueryRequest{Query: &api.Query{Nearest: &api.VectorInput{Vector: q}}, Limit: ptr(10)}, api.ReadParams{})
		if err != nil {
			b.Fatal(err)
		}
		exact, err := s.Query(bg, "f", &api.QueryRequest{Query: &api.Query{Nearest: &api.VectorInput{Vector: q}}, Limit: ptr(10), Params: &api.SearchParams{Exact: true}}, api.ReadParams{})
		if err != nil {
			b.Fatal(err)
		}
		want := map[uint64]bool{}
		for _, h := range exact.Points {
			want[h.ID.Num] = true
		}
		for _, h := range approx.Points {
			if want[h.ID.Num] {
				found++
			}
		}
		total += len(exact.Points)
	}
	i := 0
	for b.Loop() {
		i = (i + 1) % len(queries)
		if _, err := s.Query(bg, "f", &api.QueryRequest{Query: &api.Query{Nearest: &api.VectorInput{Vector: queries[i]}}, Limit: ptr(10)}, api.ReadParams{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(found)/float64(total), "recall@10")
}

// BenchmarkQueryFeatures measures, on one collection (10k × 64, 2 shards),
// a plain nearest query with strict mode off and on (every check of a
// query runs, none refuses), MMR over 100 candidates down to 10, and a
// formula re-scoring 100 prefetched points by score and payload.
func BenchmarkQueryFeatures(b *testing.B) {
	s, _ := benchService(b, 10_000, 64, 2)
	queries := makeDataset(9, 100, 64, api.DistanceCosine)
	nearest := func(i uint64) *api.QueryRequest {
		return &api.QueryRequest{Query: &api.Query{Nearest: &api.VectorInput{Vector: queries.vecs[i]}}, Limit: ptr(10)}
	}
	run := func(b *testing.B, req func(i uint64) *api.QueryRequest) {
		b.ReportAllocs()
		i := uint64(0)
		for b.Loop() {
			i = i%100 + 1
			if _, err := s.Query(bg, "c", req(i), api.ReadParams{TimeoutSeconds: 5}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("strict=off", func(b *testing.B) { run(b, nearest) })
	b.Run("mmr=100to10", func(b *testing.B) {
		run(b, func(i uint64) *api.QueryRequest {
			r := nearest(i)
			r.Query.MMR = &api.MMR{CandidatesLimit: ptr(100)}
			return r
		})
	})
	formula := &api.Query{}
	if err := formula.UnmarshalJSON([]byte(`{"formula": {"sum": ["$score", {"mult": [0.1, {"ln": {"sum": [1, "n"]}}]}]}, "defaults": {"n": 0}}`)); err != nil {
		b.Fatal(err)
	}
	b.Run("formula=100", func(b *testing.B) {
		run(b, func(i uint64) *api.QueryRequest {
			return &api.QueryRequest{Prefetch: api.Prefetches{{Query: &api.Query{Nearest: &api.VectorInput{Vector: queries.vecs[i]}}, Limit: ptr(100)}},
				Query: formula, Limit: ptr(10)}
		})
	})
	if err := s.UpdateCollection(bg, "c", &api.UpdateCollection{StrictModeConfig: []byte(`{"enabled": true, "max_query_limit": 100, "max_timeout": 10,
		"search_max_hnsw_ef": 512, "search_allow_exact": false, "unindexed_filtering_retrieve": false, "filter_max_conditions": 10, "read_rate_limit": 1000000000}`)}); err != nil {
		b.Fatal(err)
	}
	b.Run("strict=on", func(b *testing.B) { run(b, nearest) })
}
