package shard

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/api"
)

// openGraphFiles returns the number of this process's open descriptors of
// HNSW graph files in dir (unlinked, so only /proc/self/fd still names
// them).
func openGraphFiles(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && strings.HasPrefix(target, dir+"/") && strings.Contains(target, "/.hnsw-") {
			n++
		}
	}
	return n
}

// TestOnDiskGraph: a shard whose HNSW graph is on_disk (hnsw_config) gives
// the same graph search answers as one whose graph is on the heap (one
// indexing worker: the same graph), with a graph file open while it runs
// and none visible in its directory; it answers the same after a reopen
// from its index files (the file's graph loaded into a new mapping) and
// after a reopen without them, as after a crash before any persist (the
// graph rebuilt from the store into a new mapping), and after a
// compaction (a new file; the old one released); Close and Drop release
// the file.
func TestOnDiskGraph(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("mapped graph files are supported on Linux only")
	}
	const n, dim = 2500, 16
	r := rand.New(rand.NewPCG(31, 32))
	var pts []api.PointStruct
	vecs := make([][]float32, n)
	for i := range vecs {
		vecs[i] = make([]float32, dim)
		for j := range vecs[i] {
			vecs[i][j] = float32(r.NormFloat64())
		}
		pts = append(pts, pt(uint64(i), vecs[i], nil))
	}
	open := func(dir string, onDisk bool) *Shard {
		opts := testOptions(dir)
		opts.Vectors = api.VectorsConfig{"": {Size: dim, Distance: api.DistanceEuclid}}
		h := api.HnswConfig{M: 8, EfConstruct: 48, FullScanThreshold: 1, OnDisk: &onDisk}
		opts.Hnsw = map[string]api.HnswConfig{"": h}
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
	defer heap.Close()
	for i := 0; i < n; i += 500 {
		apply(t, heap, upsert(pts[i:i+500]...))
		apply(t, disk, upsert(pts[i:i+500]...))
	}
	answers := func(s *Shard) string {
		t.Helper()
		if err := s.WaitIndexed(bg); err != nil {
			t.Fatal(err)
		}
		var out []string
		ef := 24
		for i := range 60 {
			hits, err := s.Search(bg, SearchRequest{Vector: vecs[(i*41)%n], Limit: 10, Params: api.SearchParams{HnswEf: &ef}})
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range hits {
				out = append(out, fmt.Sprintf("%v:%.4f", h.ID, h.Score))
			}
		}
		return strings.Join(out, " ")
	}
	check := func(stage string, disk *Shard) {
		t.Helper()
		if got, want := answers(disk), answers(heap); got != want {
			t.Fatalf("%s: on_disk graph answers\n%s\nheap graph answers\n%s", stage, got, want)
		}
		if on, ok := disk.GraphOnDisk(""); !on || !ok {
			t.Fatalf("%s: GraphOnDisk %v %v", stage, on, ok)
		}
		if on, _ := heap.GraphOnDisk(""); on {
			t.Fatalf("%s: heap graph on disk", stage)
		}
		// The graph's links file, and the packed file of its level-0
		// lists (packed once indexing is done, or at load); the packed
		// files of earlier Packs close once the collector finds them
		// unreferenced.
		for deadline := time.Now().Add(5 * time.Second); openGraphFiles(t, diskDir) != 2; {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d graph files open, want 2", stage, openGraphFiles(t, diskDir))
			}
			runtime.GC()
			time.Sleep(10 * time.Millisecond)
		}
		ents, err := os.ReadDir(diskDir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".hnsw") {
				t.Fatalf("%s: graph file visible: %s", stage, e.Name())
			}
		}
	}
	check("built", disk)
	if err := disk.Close(); err != nil { // index files written
		t.Fatal(err)
	}
	if got := openGraphFiles(t, diskDir); got != 0 {
		t.Fatalf("%d graph files open after Close", got)
	}
	disk = open(diskDir, true)
	check("reopened from the index files", disk)
	if err := disk.Drop(); err != nil {
		t.Fatal(err)
	}
	if got := openGraphFiles(t, diskDir); got != 0 {
		t.Fatalf("%d graph files open after Drop", got)
	}
	if err := os.RemoveAll(filepath.Join(diskDir, indexDirName)); err != nil {
		t.Fatal(err)
	}
	disk = open(diskDir, true)
	check("reopened without index files", disk)

	// Compaction copies the graph into a new file at the new offsets; the
	// old graph's file is released once nothing refers to it.
	for i := range pts {
		vecs[i][0] += 0.001 // a changed vector takes a new offset
		pts[i] = pt(uint64(i), vecs[i], nil)
	}
	for i := 0; i < n; i += 500 {
		apply(t, disk, upsert(pts[i:i+500]...))
	}
	if err := disk.WaitIndexed(bg); err != nil {
		t.Fatal(err)
	}
	if err := disk.Compact(bg); err != nil {
		t.Fatal(err)
	}
	if disk.Compactions() == 0 {
		t.Fatal("no compaction ran")
	}
	if err := disk.WaitIndexed(bg); err != nil {
		t.Fatal(err)
	}
	if on, _ := disk.GraphOnDisk(""); !on {
		t.Fatal("graph not on disk after compaction")
	}
	ef := 32
	for i := range 100 {
		id := (i * 23) % n
		hits, err := disk.Search(bg, SearchRequest{Vector: vecs[id], Limit: 1, Params: api.SearchParams{HnswEf: &ef}})
		if err != nil || len(hits) != 1 || hits[0].ID.Num != uint64(id) {
			t.Fatalf("after compaction, nearest of point %d: %+v %v", id, hits, err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for openGraphFiles(t, diskDir) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d graph files open after compaction, want 2", openGraphFiles(t, diskDir))
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if err := disk.Drop(); err != nil {
		t.Fatal(err)
	}
	if got := openGraphFiles(t, diskDir); got != 0 {
		t.Fatalf("%d graph files open after Drop", got)
	}
}
