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
