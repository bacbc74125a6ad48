package shard

import (
	"math/rand/v2"
	"os"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
)

// TestOnDiskVectors: a shard whose vectors are on_disk answers exactly as
// one holding them on the heap (exact and graph searches, with and
// without quantization), keeps no vector file in its directory, reports
// no heap bytes for them, and serves the same after a reopen from its
// index files and after a reopen without them (vectors from the store).
func TestOnDiskVectors(t *testing.T) {
	const n, dim = 1500, 24
	r := rand.New(rand.NewPCG(5, 6))
	var pts []api.PointStruct
	vecs := make([][]float32, n)
	for i := range vecs {
		vecs[i] = make([]float32, dim)
		for j := range vecs[i] {
			vecs[i][j] = r.Float32()
		}
		pts = append(pts, pt(uint64(i), vecs[i], nil))
	}
	open := func(dir string, onDisk bool) *Shard {
		opts := testOptions(dir)
		opts.Vectors = api.VectorsConfig{"": {Size: dim, Distance: api.DistanceEuclid, OnDisk: &onDisk}}
		opts.Quantization = map[string]*api.QuantizationConfig{"": scalarInt8(t, "")}
		it := 1
		opts.Optimizers = api.DefaultOptimizersConfig()
		opts.Optimizers.IndexingThreshold = &it
		s, err := Open(opts)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	heapDir, diskDir := t.TempDir(), t.TempDir()
	heap, disk := open(heapDir, false), open(diskDir, true)
	for i := 0; i < n; i += 300 {
		apply(t, heap, upsert(pts[i:i+300]...))
		apply(t, disk, upsert(pts[i:i+300]...))
	}
	same := func(disk *Shard) {
		t.Helper()
		if err := disk.WaitIndexed(bg); err != nil {
			t.Fatal(err)
		}
		if err := heap.WaitIndexed(bg); err != nil {
			t.Fatal(err)
		}
		if b := disk.spaces[""].store.Bytes(); b != 0 || !disk.spaces[""].store.OnDisk() {
			t.Fatalf("on_disk store: %d heap bytes", b)
		}
		for i := 0; i < 40; i++ {
			q := vecs[(i*37)%n]
			for _, p := range []api.SearchParams{{Exact: true}, {Quantization: []byte(`{"ignore":true}`)}, {}} {
				want, err := heap.Search(bg, SearchRequest{Vector: q, Limit: 5, Params: p})
				if err != nil {
					t.Fatal(err)
				}
				got, err := disk.Search(bg, SearchRequest{Vector: q, Limit: 5, Params: p})
				if err != nil {
					t.Fatal(err)
				}
				if p.Exact && jsonOf(t, ids(got)) != jsonOf(t, ids(want)) {
					t.Fatalf("exact: on_disk %v, heap %v", ids(got), ids(want))
				}
				if len(got) != 5 || got[0].ID.Num != uint64((i*37)%n) || got[0].Score != 0 {
					t.Fatalf("params %+v: nearest of a stored vector: %+v", p, got[0])
				}
			}
		}
		if rec := getOne(t, disk, 7); rec == nil || jsonOf(t, rec.Vector[""]) != jsonOf(t, vecs[7]) {
			t.Fatalf("Get: %+v", rec)
		}
		ents, err := os.ReadDir(diskDir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if len(e.Name()) > 8 && e.Name()[:8] == ".vectors" {
				t.Fatalf("vector file left visible: %s", e.Name())
			}
		}
	}
	same(disk)
	if err := disk.Close(); err != nil {
		t.Fatal(err)
	}
	disk = open(diskDir, true) // from the index files
	same(disk)
	if err := disk.Drop(); err != nil { // no index files written
		t.Fatal(err)
	}
	if err := os.RemoveAll(diskDir + "/" + indexDirName); err != nil {
		t.Fatal(err)
	}
	disk = open(diskDir, true) // from the store
	same(disk)
	disk.Close()
	heap.Close()
}

// TestMemmapThreshold: the optimizers' memmap_threshold (kilobytes of a
// shard's vectors) moves a dense vector's store into a mapped file once
// the vectors reach it (by compaction, answers unchanged), opens it mapped
// after a restart, and leaves it on the heap below it or when unset.
func TestMemmapThreshold(t *testing.T) {
	const dim = 16 // 64 bytes a vector: 4 KB is 64 vectors
	open := func(dir string, kb *int) *Shard {
		opts := testOptions(dir)
		opts.Vectors = api.VectorsConfig{"": {Size: dim, Distance: api.DistanceEuclid}}
		opts.Optimizers = api.DefaultOptimizersConfig()
		opts.Optimizers.MemmapThreshold = kb
		s, err := Open(opts)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	r := rand.New(rand.NewPCG(8, 9))
	var pts []api.PointStruct
	for i := range 200 {
		v := make([]float32, dim)
		for j := range v {
			v[j] = r.Float32()
		}
		pts = append(pts, pt(uint64(i), v, nil))
	}
	onDisk := func(s *Shard) bool {
		t.Helper()
		on, ok := s.VectorOnDisk("")
		if !ok {
			t.Fatal("no dense vector")
		}
		return on
	}
	answers := func(s *Shard) string {
		t.Helper()
		var out []any
		for _, q := range []int{3, 50, 120} {
			hits, err := s.Search(bg, SearchRequest{Vector: pts[q].Vector[""], Limit: 5, Params: api.SearchParams{Exact: true}})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, ids(hits))
		}
		rec := getOne(t, s, 77)
		out = append(out, rec.Vector[""])
		return jsonOf(t, out)
	}

	kb := 4
	dir := t.TempDir()
	s := open(dir, &kb)
	apply(t, s, upsert(pts[:50]...)) // 3.1 KB
	s.maybeCompact(bg)
	if onDisk(s) {
		t.Fatal("50 vectors (3.1 KB) below a 4 KB threshold are mapped")
	}
	apply(t, s, upsert(pts[50:]...)) // 12.5 KB
	before := answers(s)
	s.maybeCompact(bg)
	if !onDisk(s) || s.Compactions() != 1 {
		t.Fatalf("200 vectors (12.5 KB) past a 4 KB threshold: mapped %v after %d compactions", onDisk(s), s.Compactions())
	}
	if got := answers(s); got != before {
		t.Fatalf("answers changed when the vectors moved:\nbefore %s\nafter  %s", before, got)
	}
	s.maybeCompact(bg) // not due again
	if s.Compactions() != 1 {
		t.Fatalf("%d compactions: a mapped store is compacted again", s.Compactions())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(dir, &kb)
	if !onDisk(s) {
		t.Fatal("reopened past the threshold: vectors on the heap")
	}
	if got := answers(s); got != before {
		t.Fatalf("answers changed by the reopen:\nbefore %s\nafter  %s", before, got)
	}
	s.Close()

	for _, kb := range []*int{nil, new(int)} { // unset, or 0: no threshold
		s := open(t.TempDir(), kb)
		apply(t, s, upsert(pts...))
		s.maybeCompact(bg)
		if onDisk(s) || s.Compactions() != 0 {
			t.Fatalf("threshold %v: mapped %v after %d compactions", kb, onDisk(s), s.Compactions())
		}
		s.Close()
	}
}
