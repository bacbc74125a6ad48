package shard

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/texmex"
)

// The benchmarks read the TEXMEX fashion-mnist set when present
// (SHOAL_DATA overrides the directory) and skip otherwise.
func dataDir() string {
	if d := os.Getenv("SHOAL_DATA"); d != "" {
		return d
	}
	return "/work/shared/data/fashion-mnist-784-euclidean"
}

// benchShard is one built 60k-point shard shared by the benchmarks.
type benchShard struct {
	once    sync.Once
	dir     string
	base    [][]float32
	queries [][]float32
	build   time.Duration
	err     error
}

var fashion benchShard

func benchOptions(dir string, dim int) Options {
	o := Options{
		Dir:            dir,
		Vectors:        api.VectorsConfig{"": {Size: dim, Distance: api.DistanceEuclid}},
		Hnsw:           map[string]api.HnswConfig{"": api.DefaultHnswConfig()},
		Optimizers:     api.DefaultOptimizersConfig(),
		PayloadIndexes: map[string]api.PayloadFieldSchema{"k": {Type: api.SchemaKeyword}},
	}
	return o
}

// buildFashion builds the shard once: upserts of 256 points (payload
// k = u = "v<i mod 1000>", k indexed) until every vector is in the graph,
// then Close.
func buildFashion(b *testing.B) *benchShard {
	fashion.once.Do(func() {
		d := dataDir()
		fashion.base, fashion.err = texmex.ReadFvecs(filepath.Join(d, "base.fvecs.gz"), 0)
		if fashion.err != nil {
			return
		}
		fashion.queries, fashion.err = texmex.ReadFvecs(filepath.Join(d, "query.fvecs.gz"), 0)
		if fashion.err != nil {
			return
		}
		fashion.dir, fashion.err = os.MkdirTemp("", "shoal-shard-bench-")
		if fashion.err != nil {
			return
		}
		start := time.Now()
		s, err := Open(benchOptions(fashion.dir, len(fashion.base[0])))
		if err != nil {
			fashion.err = err
			return
		}
		for i := 0; i < len(fashion.base); i += 256 {
			var pts []api.PointStruct
			for j := i; j < min(i+256, len(fashion.base)); j++ {
				pts = append(pts, api.PointStruct{ID: api.NumID(uint64(j)), Vector: api.Vectors{"": fashion.base[j]}, Payload: api.Payload{"k": fmt.Sprintf("v%d", j%1000), "u": fmt.Sprintf("v%d", j%1000)}})
			}
			if _, err := s.Apply(bg, upsert(pts...)); err != nil {
				fashion.err = err
				return
			}
		}
		if err := s.WaitIndexed(bg); err != nil {
			fashion.err = err
			return
		}
		if err := s.Close(); err != nil {
			fashion.err = err
			return
		}
		fashion.build = time.Since(start)
	})
	if fashion.err != nil {
		if os.IsNotExist(fashion.err) {
			b.Skipf("no benchmark data: %v", fashion.err)
		}
		b.Fatal(fashion.err)
	}
	return &fashion
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fashion.dir != "" {
		os.RemoveAll(fashion.dir)
	}
	if angular.dir != "" {
		os.RemoveAll(angular.dir)
	}
	os.Exit(code)
}

// BenchmarkReopen60k measures Open+Close of the built fashion-mnist shard
// (60,000 x 784) and reports the build time and the build/reopen ratio.
func BenchmarkReopen60k(b *testing.B) {
	f := buildFashion(b)
	b.ReportAllocs()
	var total time.Duration
	n := 0
	for b.Loop() {
		start := time.Now()
		s, err := Open(benchOptions(f.dir, len(f.base[0])))
		if err != nil {
			b.Fatal(err)
		}
		if s.loadedFromStore != 0 || s.Stats().PendingIndex != 0 {
			b.Fatalf("reopen rebuilt: %d vectors from the store, %d pending", s.loadedFromStore, s.Stats().PendingIndex)
		}
		total += time.Since(start)
		n++
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(f.build.Seconds(), "build-s")
	b.ReportMetric(f.build.Seconds()/(total.Seconds()/float64(n)), "build/reopen")
}

// BenchmarkFilteredSearch60k measures top-10 searches on the built shard
// with a keyword filter of the given selectivity: one op is 200 queries
// (reported as qps, single goroutine), with recall@10 against the exact
// filtered answer and the share of searches planned on the graph. Each
// case runs with payloads in memory and on disk (on_disk_payload); the
// "unindexed" cases filter on a key without a payload index, so that
// every candidate's payload is read, and "payload" returns the hits'
// payloads.
func BenchmarkFilteredSearch60k(b *testing.B) {
	f := buildFashion(b)
	const nq = 200
	for _, onDisk := range []bool{false, true} {
		opts := benchOptions(f.dir, len(f.base[0]))
		opts.OnDiskPayload = onDisk
		s, err := Open(opts)
		if err != nil {
			b.Fatal(err)
		}
		mode := map[bool]string{false: "mem", true: "disk"}[onDisk]
		for _, sel := range []struct {
			name    string
			values  int
			graph   bool // force the graph path (cost model off)
			key     string
			payload bool
		}{{"none", 0, false, "k", false}, {"50pct", 500, false, "k", false}, {"10pct", 100, false, "k", false}, {"1pct", 10, false, "k", false}, {"0.1pct", 1, false, "k", false},
			{"50pct-graph", 500, true, "k", false}, {"10pct-graph", 100, true, "k", false}, {"1pct-graph", 10, true, "k", false},
			{"10pct-unindexed", 100, true, "u", false}, {"1pct-unindexed", 10, false, "u", false}, {"none-payload", 0, false, "k", true}} {
			b.Run(mode+"/"+sel.name, func(b *testing.B) {
				s.opts.graphCost = 0
				if sel.graph {
					s.opts.graphCost = 1e-9
				}
				var flt *api.Filter
				if sel.values > 0 {
					vals := make([]any, sel.values)
					for i := range vals {
						vals[i] = fmt.Sprintf("v%d", i)
					}
					flt = &api.Filter{Must: []api.Condition{{Field: &api.FieldCondition{Key: sel.key, Match: &api.Match{Kind: api.MatchAny, Values: vals}}}}}
				}
				var with *api.PayloadSelector
				if sel.payload {
					with = api.PayloadAll
				}
				truth := make([][]uint64, nq)
				for i := range nq {
					hits, err := s.Search(bg, SearchRequest{Vector: f.queries[i], Limit: 10, Filter: flt, Params: api.SearchParams{Exact: true}})
					if err != nil {
						b.Fatal(err)
					}
					truth[i] = ids(hits)
				}
				var sum float64
				n := 0
				g0 := s.plansGraph.Load()
				var elapsed time.Duration
				for b.Loop() {
					start := time.Now()
					for i := range nq {
						hits, err := s.Search(bg, SearchRequest{Vector: f.queries[i], Limit: 10, Filter: flt, WithPayload: with})
						if err != nil {
							b.Fatal(err)
						}
						if sel.payload && (len(hits) == 0 || hits[0].Payload["u"] == nil) {
							b.Fatalf("no payload returned: %+v", hits)
						}
						sum += recall(ids(hits), truth[i])
						n++
					}
					elapsed += time.Since(start)
				}
				b.ReportMetric(float64(n)/elapsed.Seconds(), "qps")
				b.ReportMetric(sum/float64(n), "recall@10")
				b.ReportMetric(float64(s.plansGraph.Load()-g0)/float64(n), "graph-share")
			})
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkImportWriteAmp imports 60,000 random 784-dimensional vectors
// (integers 0..255, like Fashion-MNIST) in batches of 256 into a shard
// without indexing and reports the store's write amplification: bytes
// written to the WAL, flushes and compactions over the bytes of input, once
// the background compactions it triggered have settled.
func BenchmarkImportWriteAmp(b *testing.B) {
	const n, dim, batch = 60000, 784, 256
	r := rand.New(rand.NewPCG(1, 2))
	ops := make([]*api.UpdateOperation, 0, n/batch+1)
	for first := 0; first < n; first += batch {
		ps := make([]api.PointStruct, min(batch, n-first))
		for i := range ps {
			v := make([]float32, dim)
			for j := range v {
				v[j] = float32(r.IntN(256))
			}
			ps[i] = pt(uint64(first+i), v, nil)
		}
		ops = append(ops, upsert(ps...))
	}
	var amp float64
	for b.Loop() {
		b.StopTimer()
		opts := testOptions(b.TempDir())
		opts.Vectors = api.VectorsConfig{"": {Size: dim, Distance: api.DistanceEuclid}}
		opts.noIndexer = true
		s := openShard(b, opts)
		b.StartTimer()
		for _, op := range ops {
			apply(b, s, op)
		}
		b.StopTimer()
		time.Sleep(2 * time.Second) // let triggered compactions finish
		m := s.db.Metrics()
		t := m.Total()
		amp = float64(t.TableBytesFlushed+t.TableBytesCompacted+m.WAL.BytesWritten) / float64(m.WAL.BytesIn)
		s.Close()
		b.StartTimer()
	}
	b.ReportMetric(amp, "write-amp")
}

// BenchmarkQuantizedSearch60k compares top-10 searches on the built
// fashion-mnist shard by the original float32 vectors (quantization
// ignore: Shoal's float32 path) and by scalar int8 codes rescored by the
// originals, interleaved query by query in the same run so that the noise
// of a shared machine hits both alike: one op is 1,000 queries of each
// from one goroutine. It reports qps and recall@10 (against the data set's
// ground truth) of each and the qps ratio.
func BenchmarkQuantizedSearch60k(b *testing.B) {
	benchQuantized(b, "int8", `{"scalar":{"type":"int8","quantile":0.99,"always_ram":true}}`, []quantBenchCase{
		{"os1-ef64", `{"rescore":true}`, 64},
		{"os2-ef64", `{"rescore":true,"oversampling":2}`, 64},
		{"os2-ef100", `{"rescore":true,"oversampling":2}`, 100},
		{"norescore-ef100", `{"rescore":false}`, 100},
	})
}

// BenchmarkBinarySearch60k is BenchmarkQuantizedSearch60k with binary
// one_bit quantization (binary queries, and the scalar8bits asymmetric
// query encoding). Fashion-MNIST's pixels are never negative, so a code
// holds which pixels are not black: the data set binary quantization fits
// worst; the oversampling cases show what rescoring recovers.
func BenchmarkBinarySearch60k(b *testing.B) {
	cases := []quantBenchCase{
		{"os1-ef100", `{"rescore":true}`, 100},
		{"os4-ef100", `{"rescore":true,"oversampling":4}`, 100},
		{"os10-ef100", `{"rescore":true,"oversampling":10}`, 100},
		{"norescore-ef100", `{"rescore":false}`, 100},
	}
	b.Run("binary", func(b *testing.B) {
		benchQuantized(b, "binary", `{"binary":{"always_ram":true}}`, cases)
	})
	b.Run("scalar8bits", func(b *testing.B) {
		benchQuantized(b, "binary", `{"binary":{"always_ram":true,"query_encoding":"scalar8bits"}}`, cases)
	})
}

type quantBenchCase struct {
	name   string
	params string
	ef     int
}

// benchQuantized runs the cases of a quantized search benchmark on the
// built fashion-mnist shard with quantization cfg; label names the
// quantized metrics.
func benchQuantized(b *testing.B, label, cfg string, cases []quantBenchCase) {
	f := buildFashion(b)
	s, err := Open(benchOptions(f.dir, len(f.base[0])))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	truth, err := texmex.ReadIvecs(filepath.Join(dataDir(), "groundtruth.ivecs.gz"), 0)
	if err != nil {
		b.Fatal(err)
	}
	runQuantized(b, s, f.queries, truth, label, cfg, cases)
}

// runQuantized runs the cases of a quantized search benchmark on shard s
// (one dense vector, unnamed) with quantization cfg: queries and their
// true top 10 (at least 1,000 of each).
func runQuantized(b *testing.B, s *Shard, queries [][]float32, truth [][]int32, label, cfg string, cases []quantBenchCase) {
	q, err := api.ParseQuantization([]byte(cfg))
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	s.SetQuantization("", q)
	held := time.Since(start) // the writer lock's share: product codes train in the background
	if err := s.WaitIndexed(bg); err != nil {
		b.Fatal(err)
	}
	b.Logf("codes: %d bytes, trained and encoded in %v (SetQuantization returned after %v)", s.QuantizedBytes(""), time.Since(start), held)
	const nq = 1000
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			ef := c.ef
			float := api.SearchParams{HnswEf: &ef, Quantization: []byte(`{"ignore":true}`)}
			quantized := api.SearchParams{HnswEf: &ef, Quantization: []byte(c.params)}
			var rec [2]float64
			var took [2]time.Duration
			n := 0
			for b.Loop() {
				for i := range nq {
					want := make([]uint64, 10)
					for j := range want {
						want[j] = uint64(truth[i][j])
					}
					for k, p := range []api.SearchParams{float, quantized} {
						start := time.Now()
						hits, err := s.Search(bg, SearchRequest{Vector: queries[i], Limit: 10, Params: p})
						took[k] += time.Since(start)
						if err != nil {
							b.Fatal(err)
						}
						rec[k] += recall(ids(hits), want)
					}
					n++
				}
			}
			b.ReportMetric(float64(n)/took[0].Seconds(), "qps-float32")
			b.ReportMetric(float64(n)/took[1].Seconds(), "qps-"+label)
			b.ReportMetric(took[0].Seconds()/took[1].Seconds(), label+"/float32")
			b.ReportMetric(rec[0]/float64(n), "recall-float32")
			b.ReportMetric(rec[1]/float64(n), "recall-"+label)
		})
	}
}

// BenchmarkDatatypeSearch60k builds the fashion-mnist shard again with the
// vectors kept as uint8 and as float16 (its pixels are integers from 0 to
// 255, exact in both), and as turbo4 (4 bits an element, approximate), and
// compares top-10 searches with the float32 shard,
// interleaved query by query: one op is 1,000 queries of each from one
// goroutine. It reports qps and recall@10 of each, the qps ratio, the
// bytes of each store and the typed shard's build time.
func BenchmarkDatatypeSearch60k(b *testing.B) {
	f := buildFashion(b)
	dim := len(f.base[0])
	base, err := Open(benchOptions(f.dir, dim))
	if err != nil {
		b.Fatal(err)
	}
	defer base.Close()
	truth, err := texmex.ReadIvecs(filepath.Join(dataDir(), "groundtruth.ivecs.gz"), 0)
	if err != nil {
		b.Fatal(err)
	}
	for _, dt := range []string{"uint8", "float16", "turbo4"} {
		b.Run(dt, func(b *testing.B) {
			opts := benchOptions(b.TempDir(), dim)
			opts.Vectors = api.VectorsConfig{"": {Size: dim, Distance: api.DistanceEuclid, Datatype: &dt}}
			s, err := Open(opts)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			start := time.Now()
			for i := 0; i < len(f.base); i += 256 {
				var pts []api.PointStruct
				for j := i; j < min(i+256, len(f.base)); j++ {
					pts = append(pts, api.PointStruct{ID: api.NumID(uint64(j)), Vector: api.Vectors{"": f.base[j]}})
				}
				if _, err := s.Apply(bg, upsert(pts...)); err != nil {
					b.Fatal(err)
				}
			}
			if err := s.WaitIndexed(bg); err != nil {
				b.Fatal(err)
			}
			build := time.Since(start)
			ef := 64
			p := api.SearchParams{HnswEf: &ef}
			var rec [2]float64
			var took [2]time.Duration
			n := 0
			for b.Loop() {
				for i := range 1000 {
					want := make([]uint64, 10)
					for j := range want {
						want[j] = uint64(truth[i][j])
					}
					for k, sh := range []*Shard{base, s} {
						t0 := time.Now()
						hits, err := sh.Search(bg, SearchRequest{Vector: f.queries[i], Limit: 10, Params: p})
						took[k] += time.Since(t0)
						if err != nil {
							b.Fatal(err)
						}
						rec[k] += recall(ids(hits), want)
					}
					n++
				}
			}
			b.ReportMetric(float64(n)/took[0].Seconds(), "qps-float32")
			b.ReportMetric(float64(n)/took[1].Seconds(), "qps-"+dt)
			b.ReportMetric(took[0].Seconds()/took[1].Seconds(), dt+"/float32")
			b.ReportMetric(rec[0]/float64(n), "recall-float32")
			b.ReportMetric(rec[1]/float64(n), "recall-"+dt)
			b.ReportMetric(float64(base.spaces[""].store.Bytes())/(1<<20), "MiB-float32")
			b.ReportMetric(float64(s.spaces[""].store.Bytes())/(1<<20), "MiB-"+dt)
			b.ReportMetric(build.Seconds(), "build-s")
		})
	}
}

// BenchmarkProductSearch60k is BenchmarkQuantizedSearch60k with product
// quantization at compressions x16 and x64 (4 and 16 elements per code
// byte).
func BenchmarkProductSearch60k(b *testing.B) {
	cases := []quantBenchCase{
		{"os1-ef100", `{"rescore":true}`, 100},
		{"os4-ef100", `{"rescore":true,"oversampling":4}`, 100},
		{"norescore-ef100", `{"rescore":false}`, 100},
	}
	for _, comp := range []string{"x16", "x64"} {
		b.Run(comp, func(b *testing.B) {
			benchQuantized(b, "pq", `{"product":{"compression":"`+comp+`","always_ram":true}}`, cases)
		})
	}
}
