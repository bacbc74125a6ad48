package hnsw

import (
	"bytes"
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

// graphFiles returns the number of this process's open descriptors of
// graph files in dir (unlinked, so only /proc/self/fd still names them).
func graphFiles(t *testing.T, dir string) int {
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

// waitGraphFiles collects garbage until at most want graph files in dir
// are open (files of unreachable graphs, and packed files no chunk refers
// to, are closed by cleanups), failing after 10 s.
func waitGraphFiles(t *testing.T, dir string, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for graphFiles(t, dir) > want {
		if time.Now().After(deadline) {
			t.Fatalf("%d graph files open, want %d", graphFiles(t, dir), want)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

func image(t testing.TB, g *Graph) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := g.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestOnDiskSameAsHeap: a graph whose level-0 lists are in a mapped file
// (Options.Dir) is the same graph as one on the heap built alike: the
// same image, the same search results, after deletes and a repair too;
// its heap footprint leaves the lists out; Load and Remap into a mapped
// graph keep it in a file; the file is never visible in the directory and
// is released by Close, or by the garbage collector once a graph is
// unreachable. M = 5 makes a chunk of 11 pages, M = 16 one of 33.
func TestOnDiskSameAsHeap(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("mapped graph files are supported on Linux only")
	}
	for _, m := range []int{16, 5} {
		t.Run(fmt.Sprintf("m=%d", m), func(t *testing.T) {
			const n, dim = 2500, 16
			d := api.DistanceEuclid
			r := rand.New(rand.NewPCG(21, uint64(m)))
			s := randomStore(r, d, n, dim)
			dir := t.TempDir()
			opts := Options{M: m, EfConstruct: 60, Distance: d, Seed: 3}
			heap := build(t, opts, s, n, 1)
			opts.Dir = dir
			disk := build(t, opts, s, n, 1)
			if !disk.OnDisk() || heap.OnDisk() || disk.FileError() != nil {
				t.Fatalf("OnDisk: disk %v (%v), heap %v", disk.OnDisk(), disk.FileError(), heap.OnDisk())
			}
			if got := graphFiles(t, dir); got != 1 {
				t.Fatalf("%d graph files open, want 1", got)
			}
			chunks := (n + chunkLen - 1) / chunkLen
			lists := int64(chunks * chunkLen * (1 + 2*m) * 4)
			if hb, db := heap.MemoryBytes(), disk.MemoryBytes(); hb-db != lists {
				t.Fatalf("MemoryBytes: heap %d, on_disk %d: differ by %d, want the lists' %d", hb, db, hb-db, lists)
			}
			same := func(stage string, a, b *Graph) {
				t.Helper()
				if !bytes.Equal(image(t, a), image(t, b)) {
					t.Fatalf("%s: the graphs' images differ", stage)
				}
				qr := rand.New(rand.NewPCG(22, 22))
				for range 50 {
					q := randomVec(qr, d, dim)
					if x, y := a.Search(q, 10, 40, nil), b.Search(q, 10, 40, nil); fmt.Sprint(x) != fmt.Sprint(y) || len(x) != 10 {
						t.Fatalf("%s: search results differ: %v and %v", stage, x, y)
					}
				}
			}
			same("built", heap, disk)
			for off := uint32(0); off < n; off += 7 {
				heap.Delete(off)
				disk.Delete(off)
			}
			if a, b := heap.Repair(), disk.Repair(); a != b || a == 0 {
				t.Fatalf("Repair unlinked %d and %d nodes", a, b)
			}
			same("repaired", heap, disk)

			img := image(t, heap)
			loaded, err := Load(bytes.NewReader(img), opts, s)
			if err != nil {
				t.Fatal(err)
			}
			if !loaded.OnDisk() {
				t.Fatal("loaded graph not on disk")
			}
			same("loaded", heap, loaded)
			remapped := disk.Remap(s, func(off uint32) (uint32, bool) { return off, true })
			if !remapped.OnDisk() {
				t.Fatal("remapped graph not on disk")
			}
			if !loaded.chunkPacked(0) {
				t.Fatal("loaded graph not packed")
			}
			// The loaded graph has its links file and its packed file.
			if got := graphFiles(t, dir); got != 4 {
				t.Fatalf("%d graph files open, want 4", got)
			}
			if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
				t.Fatalf("files visible in the directory: %v %v", ents, err)
			}

			// Close releases the file; the graph then reads as empty
			// lists instead of faulting.
			if err := loaded.Close(); err != nil {
				t.Fatal(err)
			}
			if err := loaded.Close(); err != nil {
				t.Fatal(err)
			}
			_ = loaded.Search(s.Get(1), 10, 40, nil)
			if got := graphFiles(t, dir); got != 2 {
				t.Fatalf("%d graph files open after Close, want 2", got)
			}
			runtime.KeepAlive(disk) // referred to until here
			runtime.KeepAlive(remapped)
			// A graph nobody refers to any more (replaced by a rebuild)
			// releases its file when collected.
			waitGraphFiles(t, dir, 0)
		})
	}
}

// TestOnDiskFallback: a graph whose file cannot be created keeps its
// lists on the heap, says why, and works as usual.
func TestOnDiskFallback(t *testing.T) {
	const n, dim = 1500, 8
	d := api.DistanceCosine
	r := rand.New(rand.NewPCG(23, 23))
	s := randomStore(r, d, n, dim)
	opts := Options{M: 8, EfConstruct: 40, Distance: d, Dir: filepath.Join(t.TempDir(), "missing")}
	g := build(t, opts, s, n, 2)
	defer g.Close()
	if g.OnDisk() || g.FileError() == nil {
		t.Fatalf("OnDisk %v, FileError %v", g.OnDisk(), g.FileError())
	}
	if rec := recall(t, g, s, d, queries(r, d, 50, dim), 10, 64, nil); rec < 0.9 {
		t.Fatalf("recall %.3f", rec)
	}
}
