package shard

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/vecmath"
)

// TestMultiVectorsOnDisk: a multi-vector name kept on_disk (rows in a
// mapped, unlinked file) answers exactly as one on the heap and as a
// brute-force MaxSim over the points written, for every distance and
// datatype, through updates, deletes, a reopen, a compaction and a
// checkpoint opened as a shard; it holds no heap bytes and leaves no file
// in the shard directory.
func TestMultiVectorsOnDisk(t *testing.T) {
	for _, tc := range []struct {
		dist api.Distance
		dt   string
	}{
		{api.DistanceDot, "float32"}, {api.DistanceCosine, "float32"}, {api.DistanceEuclid, "float32"},
		{api.DistanceManhattan, "float32"}, {api.DistanceDot, "uint8"}, {api.DistanceEuclid, "float16"},
	} {
		t.Run(string(tc.dist)+"-"+tc.dt, func(t *testing.T) { testMultiOnDisk(t, tc.dist, tc.dt) })
	}
}

func testMultiOnDisk(t *testing.T, dist api.Distance, dt string) {
	const n, dim = 300, 6
	r := rand.New(rand.NewPCG(11, uint64(len(dist)+len(dt))))
	vec := func() []float32 {
		v := make([]float32, dim)
		for i := range v {
			v[i] = float32(r.IntN(16)) // integers: exact in every datatype
			if dist == api.DistanceCosine {
				v[i] = r.Float32() - 0.5
			}
		}
		if dist == api.DistanceCosine {
			vecmath.Normalize(v)
		}
		return v
	}
	multi := func() [][]float32 {
		out := make([][]float32, 1+r.IntN(4))
		for i := range out {
			out[i] = vec()
		}
		return out
	}
	open := func(dir string, onDisk bool) (*Shard, Options) {
		opts := testOptions(dir)
		opts.Vectors = api.VectorsConfig{"m": {Size: dim, Distance: dist, OnDisk: &onDisk, Datatype: &dt,
			MultivectorConfig: &api.MultiVectorConfig{Comparator: api.ComparatorMaxSim}}}
		opts.CompactMinDead = 1
		s, err := Open(opts)
		if err != nil {
			t.Fatal(err)
		}
		return s, opts
	}
	heapDir, diskDir := t.TempDir(), t.TempDir()
	heap, _ := open(heapDir, false)
	disk, diskOpts := open(diskDir, true)
	defer func() { heap.Close(); disk.Close() }()
	want := map[uint64][][]float32{}
	write := func(op *api.UpdateOperation) {
		t.Helper()
		apply(t, heap, op)
		apply(t, disk, op)
	}
	for i := 0; i < n; i += 50 {
		var pts []api.PointStruct
		for id := i; id < i+50; id++ {
			m := multi()
			want[uint64(id)] = m
			pts = append(pts, api.PointStruct{ID: api.NumID(uint64(id)), Vector: api.Vectors{}, Multi: api.MultiVectors{"m": m},
				Payload: payload(t, `{"even":`+map[bool]string{true: "true", false: "false"}[id%2 == 0]+`}`)})
		}
		write(upsert(pts...))
	}
	// Updates move points to new offsets, deletes leave dead rows behind.
	for id := uint64(0); id < n; id += 3 {
		m := multi()
		want[id] = m
		write(upsert(api.PointStruct{ID: api.NumID(id), Vector: api.Vectors{}, Multi: api.MultiVectors{"m": m},
			Payload: payload(t, `{"even":`+map[bool]string{true: "true", false: "false"}[id%2 == 0]+`}`)}))
	}
	var del []api.PointID
	for id := uint64(1); id < n; id += 7 {
		del = append(del, api.NumID(id))
		delete(want, id)
	}
	write(&api.UpdateOperation{Delete: &api.PointsSelector{Points: del}})

	oracle := func(q [][]float32, evenOnly bool, limit int) []api.ScoredPoint {
		var out []api.ScoredPoint
		for id, m := range want {
			if evenOnly && id%2 != 0 {
				continue
			}
			out = append(out, api.ScoredPoint{ID: api.NumID(id), Score: MaxSimDist(dist, q, m)})
		}
		slices.SortFunc(out, func(a, b api.ScoredPoint) int {
			if a.Score != b.Score {
				if a.Score < b.Score {
					return -1
				}
				return 1
			}
			return int(a.ID.Num) - int(b.ID.Num)
		})
		if len(out) > limit {
			out = out[:limit]
		}
		for i := range out {
			out[i].Score = vecmath.ScoreFromDist(dist, out[i].Score)
		}
		return out
	}
	check := func(stage string, disk *Shard, diskDir string) {
		t.Helper()
		ms := disk.multi["m"]
		if !ms.store.OnDisk() || ms.store.Bytes() != 0 {
			t.Fatalf("%s: on_disk multi-vector store: on disk %v, %d heap bytes", stage, ms.store.OnDisk(), ms.store.Bytes())
		}
		if heap.multi["m"].store.OnDisk() {
			t.Fatalf("%s: heap store on disk", stage)
		}
		for i := range 25 {
			q := multi()
			even := i%2 == 0
			req := SearchRequest{Using: "m", Multi: q, Limit: 10, WithVector: all}
			if even {
				req.Filter = filterJSON(t, `{"must":[{"key":"even","match":{"value":true}}]}`)
			}
			got, err := disk.Search(bg, req)
			if err != nil {
				t.Fatal(err)
			}
			fromHeap, err := heap.Search(bg, req)
			if err != nil {
				t.Fatal(err)
			}
			if jsonOf(t, got) != jsonOf(t, fromHeap) {
				t.Fatalf("%s: on_disk %s\nheap %s", stage, jsonOf(t, got), jsonOf(t, fromHeap))
			}
			exp := oracle(q, even, 10)
			if len(got) != len(exp) {
				t.Fatalf("%s: %d hits, want %d", stage, len(got), len(exp))
			}
			for j := range got {
				// Ties (frequent with integer elements) may come in any
				// order: the scores must match position by position, and
				// each hit's score must be its own.
				own := vecmath.ScoreFromDist(dist, MaxSimDist(dist, q, want[got[j].ID.Num]))
				if math.Abs(float64(got[j].Score-exp[j].Score)) > 1e-4 || math.Abs(float64(got[j].Score-own)) > 1e-4 {
					t.Fatalf("%s: hit %d: %v %v (its own %v), want %v %v", stage, j, got[j].ID, got[j].Score, own, exp[j].ID, exp[j].Score)
				}
				if g, w := jsonOf(t, got[j].Multi["m"]), jsonOf(t, want[got[j].ID.Num]); g != w {
					t.Fatalf("%s: vectors of %v: %s, want %s", stage, got[j].ID, g, w)
				}
			}
		}
		if rec := getOne(t, disk, 1); rec != nil {
			t.Fatalf("%s: deleted point 1 read back", stage)
		}
		ents, err := os.ReadDir(diskDir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".vectors-") {
				t.Fatalf("%s: vector file %s visible in the shard directory", stage, e.Name())
			}
		}
	}
	check("written", disk, diskDir)

	rowsBefore := disk.multi["m"].rows
	if err := disk.Compact(bg); err != nil {
		t.Fatal(err)
	}
	if err := heap.Compact(bg); err != nil {
		t.Fatal(err)
	}
	if rows := disk.multi["m"].rows; rows >= rowsBefore {
		t.Fatalf("compaction kept %d rows of %d", rows, rowsBefore)
	}
	check("compacted", disk, diskDir)

	ckpt := filepath.Join(t.TempDir(), "ckpt")
	if _, err := disk.Checkpoint(bg, ckpt); err != nil {
		t.Fatal(err)
	}
	if err := disk.Close(); err != nil {
		t.Fatal(err)
	}
	disk, _ = open(diskDir, true)
	check("reopened", disk, diskDir)

	copyOpts := diskOpts
	copyOpts.Dir = ckpt
	fromCkpt, err := Open(copyOpts)
	if err != nil {
		t.Fatal(err)
	}
	defer fromCkpt.Close()
	check("checkpoint", fromCkpt, ckpt)
}

// TestMultiVectorEuclid is Qdrant's test_multi_with_euclidean: max_sim
// takes the smallest squared distance per query vector and reports the
// square root of their sum; the closer point comes first.
func TestMultiVectorEuclid(t *testing.T) {
	for _, onDisk := range []bool{false, true} {
		opts := testOptions(t.TempDir())
		opts.Vectors = api.VectorsConfig{"m": {Size: 3, Distance: api.DistanceEuclid, OnDisk: &onDisk,
			MultivectorConfig: &api.MultiVectorConfig{Comparator: api.ComparatorMaxSim}}}
		s := openShard(t, opts)
		q := [][]float32{{1, 2, 3}, {3, 3, 3}, {4, 5, 6}}
		apply(t, s, upsert(
			api.PointStruct{ID: api.NumID(1), Vector: api.Vectors{}, Multi: api.MultiVectors{"m": q}},
			api.PointStruct{ID: api.NumID(2), Vector: api.Vectors{}, Multi: api.MultiVectors{"m": {{3, 3, 3}, {4, 2, 1}}}},
		))
		hits, err := s.Search(bg, SearchRequest{Using: "m", Multi: q, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) != 2 || hits[0].ID.Num != 1 || hits[0].Score != 0 || hits[1].ID.Num != 2 || hits[1].Score != float32(math.Sqrt(19)) {
			t.Fatalf("on_disk %v: %s", onDisk, jsonOf(t, hits))
		}
		// A threshold on a distance keeps the points within it.
		th := float32(4)
		hits, err = s.Search(bg, SearchRequest{Using: "m", Multi: q, Limit: 10, ScoreThreshold: &th})
		if err != nil || len(hits) != 1 || hits[0].ID.Num != 1 {
			t.Fatalf("on_disk %v: threshold: %v %s", onDisk, err, jsonOf(t, hits))
		}
	}
}
