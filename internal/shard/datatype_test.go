package shard

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/index"
	"github.com/shoal-db/shoal/internal/vecmath"
)

// typedVectors returns n vectors of dim elements valid for datatype dt
// (what the collection layer stores: integers 0..255 for uint8, values
// rounded to half precision for float16, normalised first for Cosine).
func typedVectors(n, dim int, dt string, d api.Distance) [][]float32 {
	r := rand.New(rand.NewPCG(21, 22))
	vecs := make([][]float32, n)
	for i := range vecs {
		v := make([]float32, dim)
		c := float64(i % 7)
		for j := range v {
			if dt == "uint8" {
				v[j] = float32(min(255, max(0, math.Round(c*30+r.NormFloat64()*40))))
			} else {
				v[j] = float32(c + r.NormFloat64()*3)
			}
		}
		if d == api.DistanceCosine {
			v = normalized(v)
		}
		if dt == "float16" {
			for j := range v {
				v[j] = vecmath.RoundF16(v[j])
			}
		}
		vecs[i] = v
	}
	return vecs
}

// TestVectorDatatypes: float16 and uint8 vectors are kept in 2 and 1 bytes
// per element, returned exactly as stored, scored exactly (an exact search
// equals a float64 oracle over the stored values, scores included), found
// by the graph with high recall, and the same after a reopen (from the
// index files, whose vectors stay float32) and on_disk.
//
// turbo4 vectors are kept in half a byte per element plus 4 bytes, and
// returned as their decoded approximation (within 25% of the original,
// about 10% on average): an exact search equals the oracle over those
// decoded vectors (so the kernels on the rotated query score what reads
// return), its recall@10 against the oracle over the originals stays above
// a floor, the graph finds what the exact search finds, and a reopen (whose
// index files leave turbo4 vectors out, so the store is encoded again from
// the point records) returns the same bits.
func TestVectorDatatypes(t *testing.T) {
	const n, dim = 2000, 24
	for _, c := range []struct {
		dt     string
		d      api.Distance
		onDisk bool
	}{
		{"float16", api.DistanceCosine, false}, {"float16", api.DistanceEuclid, true}, {"float16", api.DistanceDot, false},
		{"uint8", api.DistanceEuclid, false}, {"uint8", api.DistanceDot, true}, {"uint8", api.DistanceManhattan, false},
		{"turbo4", api.DistanceCosine, false}, {"turbo4", api.DistanceEuclid, true}, {"turbo4", api.DistanceDot, false},
	} {
		t.Run(c.dt+"/"+string(c.d), func(t *testing.T) {
			dir := t.TempDir()
			open := func(dir, dt string) *Shard {
				opts := testOptions(dir)
				opts.Vectors = api.VectorsConfig{"": {Size: dim, Distance: c.d, Datatype: &dt, OnDisk: &c.onDisk}}
				it := 1
				opts.Optimizers = api.DefaultOptimizersConfig()
				opts.Optimizers.IndexingThreshold = &it
				opts.Hnsw = map[string]api.HnswConfig{"": {M: 16, EfConstruct: 64, FullScanThreshold: 1}}
				return openShard(t, opts)
			}
			vecs := typedVectors(n, dim, c.dt, c.d)
			fill := func(s *Shard) {
				for i := 0; i < n; i += 500 {
					var pts []api.PointStruct
					for j := i; j < i+500; j++ {
						pts = append(pts, pt(uint64(j), vecs[j], nil))
					}
					apply(t, s, upsert(pts...))
				}
				if err := s.WaitIndexed(bg); err != nil {
					t.Fatal(err)
				}
			}
			s := open(dir, c.dt)
			fill(s)
			st := s.spaces[""].store
			size := map[string]int{"float16": 2, "uint8": 1, "turbo4": 1}[c.dt]
			if st.Type().Size() != size || st.Type().String() != c.dt {
				t.Fatalf("store of %s elements", st.Type())
			}
			vbytes := dim * size
			if c.dt == "turbo4" {
				vbytes = 4 + dim/2
			}
			if want := int64(2 * index.ChunkLen * vbytes); !c.onDisk && st.Bytes() != want {
				t.Fatalf("store holds %d bytes, want %d", st.Bytes(), want)
			}
			// stored is what reads return: vecs, or for turbo4 their
			// decoded approximations as first read.
			stored := vecs
			if c.dt == "turbo4" {
				stored = make([][]float32, n)
				var sum float64
				for i := range n {
					recs, err := s.Get(bg, []api.PointID{api.NumID(uint64(i))}, nil, all)
					if err != nil || len(recs) != 1 {
						t.Fatalf("Get: %v %v", recs, err)
					}
					stored[i] = recs[0].Vector[""]
					var e, nn float64
					for j, x := range vecs[i] {
						e += (float64(stored[i][j]) - float64(x)) * (float64(stored[i][j]) - float64(x))
						nn += float64(x) * float64(x)
					}
					rel := math.Sqrt(e / nn)
					sum += rel
					if rel > 0.25 {
						t.Fatalf("vector %d decodes to %v with relative error %.3f: stored %v", i, stored[i], rel, vecs[i])
					}
				}
				t.Logf("relative error of the decoded vectors: mean %.4f", sum/n)
			}
			check := func(s *Shard, stored [][]float32) float64 {
				t.Helper()
				recs, err := s.Get(bg, []api.PointID{api.NumID(5), api.NumID(1999)}, nil, all)
				if err != nil || len(recs) != 2 {
					t.Fatalf("Get: %v %v", recs, err)
				}
				for _, r := range recs {
					if got := r.Vector[""]; !slices.Equal(got, stored[r.ID.Num]) {
						t.Fatalf("vector of %d: %v, stored %v", r.ID.Num, got, stored[r.ID.Num])
					}
				}
				var rsum, orig float64
				for qi := range 20 {
					q := vecs[(qi*97)%n]
					exact, err := s.Search(bg, SearchRequest{Vector: q, Limit: 10, Params: api.SearchParams{Exact: true}})
					if err != nil {
						t.Fatal(err)
					}
					t4 := s.spaces[""].dtype == index.Turbo4
					if t4 {
						want := oracle(vecs, q, c.d, 10)
						wantIDs := make([]uint64, len(want))
						for i, w := range want {
							wantIDs[i] = w.id
						}
						orig += recall(ids(exact), wantIDs)
					}
					want := oracle(stored, q, c.d, 10)
					for i, h := range exact {
						if h.ID.Num != want[i].id && math.Abs(float64(h.Score)-want[i].score) > 1e-4*(1+math.Abs(want[i].score)) {
							t.Fatalf("exact hit %d: id %d score %v, oracle id %d score %v", i, h.ID.Num, h.Score, want[i].id, want[i].score)
						}
						if math.Abs(float64(h.Score)-want[i].score) > 1e-3*(1+math.Abs(want[i].score)) {
							t.Fatalf("exact hit %d: score %v, oracle %v", i, h.Score, want[i].score)
						}
					}
					before := s.plansGraph.Load()
					ef := 128
					got, err := s.Search(bg, SearchRequest{Vector: q, Limit: 10, Params: api.SearchParams{HnswEf: &ef}})
					if err != nil {
						t.Fatal(err)
					}
					if s.plansGraph.Load() == before {
						t.Fatal("search not planned on the graph")
					}
					rsum += recall(ids(got), ids(exact))
				}
				if s.spaces[""].dtype == index.Turbo4 {
					// Measured 0.805 (Cosine), 0.845 (Euclid), 0.865 (Dot)
					// at dimension 24 (TestTurbo4Recall measures larger
					// ones); the same after the reopen.
					t.Logf("exact turbo4 search: recall@10 %.3f against the float32 originals", orig/20)
					if orig/20 < 0.75 {
						t.Errorf("exact turbo4 search: recall@10 %.3f against the float32 originals", orig/20)
					}
				}
				return rsum / 20
			}
			// The graph's recall by the same values in a float32 store is
			// the baseline (Dot on this positive data is hard for a graph).
			f32 := open(t.TempDir(), "float32")
			fill(f32)
			base := check(f32, vecs)
			if r := check(s, stored); r < base-0.03 || r < 0.8 {
				t.Errorf("graph recall@10 %.3f, float32 store %.3f", r, base)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = open(dir, c.dt)
			if r := check(s, stored); r < base-0.03 || r < 0.8 {
				t.Errorf("after reopen: graph recall@10 %.3f, float32 store %.3f", r, base)
			}
		})
	}
}

type scored struct {
	id    uint64
	score float64
}

// oracle returns the k best of vecs for q under d, scored in float64.
func oracle(vecs [][]float32, q []float32, d api.Distance, k int) []scored {
	out := make([]scored, len(vecs))
	for i, v := range vecs {
		var s float64
		for j := range v {
			a, b := float64(q[j]), float64(v[j])
			switch d {
			case api.DistanceEuclid:
				s += (a - b) * (a - b)
			case api.DistanceManhattan:
				s += math.Abs(a - b)
			default:
				s += a * b
			}
		}
		if d == api.DistanceEuclid {
			s = math.Sqrt(s)
		}
		out[i] = scored{uint64(i), s}
	}
	higher := d == api.DistanceDot || d == api.DistanceCosine
	sort.SliceStable(out, func(i, j int) bool {
		if higher {
			return out[i].score > out[j].score
		}
		return out[i].score < out[j].score
	})
	return out[:k]
}

// TestTypedQuantizedConcurrent: searches (by product or binary codes, and
// exact) run while writers upsert into a float16 or uint8 space that the
// indexer is building and the quantizer retraining: every search succeeds
// with a full result of live points, and a point written before a search
// starts is found by its own vector. turbo4 spaces run the same with
// product and scalar codes (trained on the decoded vectors).
func TestTypedQuantizedConcurrent(t *testing.T) {
	const dim = 16
	for _, c := range []struct{ dt, q string }{
		{"float16", `{"binary":{"query_encoding":"scalar4bits"}}`},
		{"uint8", `{"product":{"compression":"x8"}}`},
		{"turbo4", `{"product":{"compression":"x8"}}`},
		{"turbo4", `{"scalar":{"type":"int8"}}`},
	} {
		t.Run(c.dt, func(t *testing.T) {
			cfg, err := api.ParseQuantization([]byte(c.q))
			if err != nil {
				t.Fatal(err)
			}
			opts := testOptions(t.TempDir())
			dt := c.dt
			opts.Vectors = api.VectorsConfig{"": {Size: dim, Distance: api.DistanceEuclid, Datatype: &dt}}
			opts.Quantization = map[string]*api.QuantizationConfig{"": cfg}
			it := 1
			opts.Optimizers = api.DefaultOptimizersConfig()
			opts.Optimizers.IndexingThreshold = &it
			opts.Hnsw = map[string]api.HnswConfig{"": {M: 8, EfConstruct: 32, FullScanThreshold: 1}}
			s := openShard(t, opts)
			vecs := typedVectors(1200, dim, c.dt, api.DistanceEuclid)
			apply(t, s, upsert(pt(0, vecs[0], nil)))
			var written atomic.Int64
			written.Store(1)
			done := make(chan struct{})
			errs := make(chan error, 4)
			go func() {
				defer close(done)
				for i := 1; i < len(vecs); i += 50 {
					var pts []api.PointStruct
					for j := i; j < min(i+50, len(vecs)); j++ {
						pts = append(pts, pt(uint64(j), vecs[j], nil))
					}
					if _, err := s.Apply(bg, upsert(pts...)); err != nil {
						errs <- err
						return
					}
					written.Store(int64(min(i+50, len(vecs))))
				}
			}()
			var wg sync.WaitGroup
			for g := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for k := 0; ; k++ {
						select {
						case <-done:
							return
						default:
						}
						n := int(written.Load())
						id := (k*31 + g) % n
						params := quantParams(`{"rescore":true,"oversampling":4}`)
						if g == 1 {
							params = api.SearchParams{Exact: true}
						}
						hits, err := s.Search(bg, SearchRequest{Vector: vecs[id], Limit: 5, Params: params})
						if err != nil {
							errs <- err
							return
						}
						if len(hits) < min(5, n) {
							errs <- fmt.Errorf("%d hits of %d points", len(hits), n)
							return
						}
						// A turbo4 vector is not its own approximation:
						// only the other datatypes score 0 against themselves.
						if g == 1 && c.dt != "turbo4" && hits[0].Score != 0 {
							errs <- fmt.Errorf("exact search for point %d: best %+v", id, hits[0])
							return
						}
					}
				}()
			}
			wg.Wait()
			<-done
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if err := s.WaitIndexed(bg); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestTypedCompaction: a compaction of a float16 and a uint8 space (half of
// the points deleted) keeps every live vector exactly, the element types,
// and exact and graph searches.
func TestTypedCompaction(t *testing.T) {
	const n, dim = 1500, 12
	for _, dt := range []string{"float16", "uint8"} {
		t.Run(dt, func(t *testing.T) {
			opts := testOptions(t.TempDir())
			opts.Vectors = api.VectorsConfig{"": {Size: dim, Distance: api.DistanceEuclid, Datatype: &dt}}
			it := 1
			opts.Optimizers = api.DefaultOptimizersConfig()
			opts.Optimizers.IndexingThreshold = &it
			s := openShard(t, opts)
			vecs := typedVectors(n, dim, dt, api.DistanceEuclid)
			var pts []api.PointStruct
			for i, v := range vecs {
				pts = append(pts, pt(uint64(i), v, nil))
			}
			apply(t, s, upsert(pts...))
			var del []api.PointID
			for i := 0; i < n; i += 2 {
				del = append(del, api.NumID(uint64(i)))
			}
			apply(t, s, &api.UpdateOperation{Delete: &api.PointsSelector{Points: del}})
			if err := s.Compact(bg); err != nil {
				t.Fatal(err)
			}
			if err := s.WaitIndexed(bg); err != nil {
				t.Fatal(err)
			}
			s.mu.RLock()
			next := s.nextOff
			s.mu.RUnlock()
			if next != n/2 {
				t.Fatalf("%d offsets after compaction, want %d", next, n/2)
			}
			if got := s.spaces[""].store.Type().String(); got != dt {
				t.Fatalf("store of %s after compaction", got)
			}
			for i := 1; i < n; i += 2 {
				hits, err := s.Search(bg, SearchRequest{Vector: vecs[i], Limit: 1, Params: api.SearchParams{Exact: i%4 == 1}, WithVector: all})
				if err != nil || len(hits) != 1 || hits[0].ID.Num != uint64(i) || hits[0].Score != 0 || !slices.Equal(hits[0].Vector[""], vecs[i]) {
					t.Fatalf("point %d after compaction: %+v %v", i, hits, err)
				}
			}
		})
	}
}

// TestTurbo4Recall measures the recall@10 of exact and graph searches of a
// turbo4 space against an exact float32 oracle over the original vectors,
// on random Gaussian vectors and on clustered ones, at dimension 128
// (Euclid, Cosine and Dot). The floors are the measured recalls less a
// margin (the data and the rotation are fixed, so the numbers are too).
func TestTurbo4Recall(t *testing.T) {
	const n, dim, nq = 5000, 128, 50
	gen := func(clustered bool) [][]float32 {
		r := rand.New(rand.NewPCG(31, 32))
		centers := make([][]float32, 50)
		for i := range centers {
			centers[i] = make([]float32, dim)
			for j := range centers[i] {
				centers[i][j] = float32(r.NormFloat64())
			}
		}
		vecs := make([][]float32, n+nq)
		for i := range vecs {
			v := make([]float32, dim)
			for j := range v {
				v[j] = float32(r.NormFloat64())
				if clustered {
					v[j] = centers[i%len(centers)][j] + 0.35*v[j]
				}
			}
			vecs[i] = v
		}
		return vecs
	}
	for _, c := range []struct {
		data     string
		d        api.Distance
		exactMin float64
		graphMin float64
	}{
		// Measured (exact, graph): 0.886, 0.864; 0.872, 0.830; 0.774,
		// 0.774; 0.898, 0.898. Tight clusters are the hard case for
		// Euclid: neighbours differ by less than the quantization error,
		// which is relative to the vector's norm (about 10%).
		{"random", api.DistanceEuclid, 0.83, 0.80},
		{"random", api.DistanceCosine, 0.82, 0.78},
		{"clustered", api.DistanceEuclid, 0.72, 0.72},
		{"clustered", api.DistanceDot, 0.85, 0.85},
	} {
		t.Run(c.data+"/"+string(c.d), func(t *testing.T) {
			all := gen(c.data == "clustered")
			if c.d == api.DistanceCosine {
				for i := range all {
					all[i] = normalized(all[i])
				}
			}
			vecs, queries := all[:n], all[n:]
			opts := testOptions(t.TempDir())
			dt := "turbo4"
			opts.Vectors = api.VectorsConfig{"": {Size: dim, Distance: c.d, Datatype: &dt}}
			it := 1
			opts.Optimizers = api.DefaultOptimizersConfig()
			opts.Optimizers.IndexingThreshold = &it
			opts.Hnsw = map[string]api.HnswConfig{"": {M: 16, EfConstruct: 100, FullScanThreshold: 1}}
			s := openShard(t, opts)
			for i := 0; i < n; i += 500 {
				var pts []api.PointStruct
				for j := i; j < i+500; j++ {
					pts = append(pts, pt(uint64(j), vecs[j], nil))
				}
				apply(t, s, upsert(pts...))
			}
			if err := s.WaitIndexed(bg); err != nil {
				t.Fatal(err)
			}
			var exactR, graphR float64
			ef := 128
			for _, q := range queries {
				want := oracle(vecs, q, c.d, 10)
				wantIDs := make([]uint64, len(want))
				for i, w := range want {
					wantIDs[i] = w.id
				}
				exact, err := s.Search(bg, SearchRequest{Vector: q, Limit: 10, Params: api.SearchParams{Exact: true}})
				if err != nil {
					t.Fatal(err)
				}
				got, err := s.Search(bg, SearchRequest{Vector: q, Limit: 10, Params: api.SearchParams{HnswEf: &ef}})
				if err != nil {
					t.Fatal(err)
				}
				exactR += recall(ids(exact), wantIDs)
				graphR += recall(ids(got), wantIDs)
			}
			exactR, graphR = exactR/nq, graphR/nq
			t.Logf("recall@10 against float32: exact %.3f, graph (ef 128) %.3f", exactR, graphR)
			if exactR < c.exactMin || graphR < c.graphMin {
				t.Errorf("recall@10 against float32: exact %.3f (floor %v), graph %.3f (floor %v)", exactR, c.exactMin, graphR, c.graphMin)
			}
		})
	}
}

// TestTurbo4Digests: two replicas of a shard with a turbo4 vector, fed the
// same operations, agree on their digests (which hash the decoded vectors)
// although one of them compacts and reopens in between: every turbo4 code
// comes from encoding the vector of a point record, the same bytes on both
// (turbo4 index files leave the vectors out, so a reopen does not encode
// decoded approximations again). An update of a point's other vector
// rewrites its turbo4 record with the decoded vector on both replicas
// alike.
func TestTurbo4Digests(t *testing.T) {
	const n, dim = 1200, 40
	r := rand.New(rand.NewPCG(41, 42))
	open := func(dir string) *Shard {
		opts := testOptions(dir)
		dt := "turbo4"
		opts.Vectors = api.VectorsConfig{"t": {Size: dim, Distance: api.DistanceEuclid, Datatype: &dt}, "f": {Size: 2, Distance: api.DistanceDot}}
		it := 1
		opts.Optimizers = api.DefaultOptimizersConfig()
		opts.Optimizers.IndexingThreshold = &it
		return openShard(t, opts)
	}
	dirA := t.TempDir()
	a, b := open(dirA), open(t.TempDir())
	var ops []*api.UpdateOperation
	for i := 0; i < n; i += 300 {
		var pts []api.PointStruct
		for j := i; j < i+300; j++ {
			v := make([]float32, dim)
			for k := range v {
				v[k] = float32(r.NormFloat64() * 10)
			}
			pts = append(pts, api.PointStruct{ID: api.NumID(uint64(j)), Vector: api.Vectors{"t": v, "f": {1, float32(j)}}})
		}
		ops = append(ops, upsert(pts...))
	}
	var uv []api.PointVectors
	var del []api.PointID
	for j := 0; j < n; j += 5 {
		uv = append(uv, api.PointVectors{ID: api.NumID(uint64(j)), Vector: api.Vectors{"f": {2, 3}}})
		del = append(del, api.NumID(uint64(j+1)))
	}
	ops = append(ops, &api.UpdateOperation{UpdateVectors: &api.UpdateVectors{Points: uv}},
		&api.UpdateOperation{Delete: &api.PointsSelector{Points: del}})
	digest := func(s *Shard) string {
		t.Helper()
		if err := s.WaitIndexed(bg); err != nil {
			t.Fatal(err)
		}
		d, pts, _, err := s.Digest(bg)
		if err != nil || pts != n-n/5 {
			t.Fatalf("digest: %v points, %v", pts, err)
		}
		return d
	}
	for i, op := range ops {
		apply(t, a, op)
		apply(t, b, op)
		if i == 1 {
			// A persists its index files (with a graph) midway and
			// reopens from them.
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
			a = open(dirA)
		}
	}
	want := digest(b)
	if got := digest(a); got != want {
		t.Fatalf("digest %s after a reopen, %s without", got, want)
	}
	if err := a.Compact(bg); err != nil {
		t.Fatal(err)
	}
	if got := digest(a); got != want {
		t.Fatalf("digest %s after a compaction, %s without", got, want)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	a = open(dirA)
	if got := digest(a); got != want {
		t.Fatalf("digest %s after a compaction and a reopen, %s without", got, want)
	}
}
