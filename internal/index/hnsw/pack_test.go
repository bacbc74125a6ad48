package hnsw

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	mbits "math/bits"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/api"
)

// TestPackedListRoundTrip: a list packs and decodes to itself, for empty,
// single, full, duplicate-bearing and extreme lists and every width of the
// first id.
func TestPackedListRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	lists := [][]uint32{{}, {0}, {7}, {math.MaxUint32}, {0, math.MaxUint32}, {3, 3, 3}, {1, 2, 3, 4}}
	for range 500 {
		n := r.IntN(256)
		limit := uint64(1) << r.IntN(33) // ids below 1, 2, 4, …, 2³²
		l := make([]uint32, n)
		for i := range l {
			l[i] = uint32(r.Uint64N(limit))
		}
		lists = append(lists, l)
	}
	for _, l := range lists {
		l = slices.Clone(l)
		slices.Sort(l)
		var w0 uint = 32
		if len(l) > 0 && l[len(l)-1] < math.MaxUint32 {
			// Also the narrowest first-id width that holds every id.
			w0 = uint(mbits.Len32(l[len(l)-1]))
		}
		for _, w := range []uint{w0, 32} {
			// A part whose first three nodes hold l, the last of them
			// followed only by the slack a segment has.
			part := make([]byte, 4*(chunkLen+1))
			for i := range 3 {
				binary.LittleEndian.PutUint32(part[4*i:], uint32(len(part)))
				part = appendPackedList(part, l, w)
			}
			binary.LittleEndian.PutUint32(part[4*chunkLen:], uint32(len(part)))
			mem := append(part, make([]byte, 8)...)
			c := &chunk{packed: mem[:len(part):len(part)], w0: uint8(w)}
			for i := range 3 {
				if got := c.decode(i, nil); !slices.Equal(got, l) && !(len(got) == 0 && len(l) == 0) {
					t.Fatalf("w0 %d: list %v decoded as %v", w, l, got)
				}
			}
		}
	}
}

// linksBlocks returns the disk blocks (512 bytes) of the graph's links
// file, found through /proc/self/fd as it is unlinked.
func linksBlocks(t *testing.T, g *Graph) int64 {
	t.Helper()
	target := "/proc/self/fd/" + strconv.Itoa(int(g.file.File().Fd()))
	fi, err := os.Stat(target)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Blocks
}

// TestPackKeepsTheGraph: Pack changes how a mapped graph holds its
// level-0 lists, not the graph: the same image and the same search
// results; inserts, deletes and a repair afterwards unpack the chunks they
// change and leave a valid, searchable graph, which packs again; the
// region a packed chunk left is released once the old chunk is collected,
// unless the chunk was unpacked into it again; Close closes the packed
// files too.
func TestPackKeepsTheGraph(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("mapped graph files are supported on Linux only")
	}
	// 4,096 offsets take 12 bits, the 5,500 of the store 13.
	const n, more, dim = 4000, 1500, 16
	d := api.DistanceEuclid
	r := rand.New(rand.NewPCG(31, 32))
	s := randomStore(r, d, n+more, dim)
	dir := t.TempDir()
	opts := Options{M: 8, EfConstruct: 60, Distance: d, Seed: 5, Dir: dir}
	g := build(t, opts, s, n, 2)
	before := image(t, g)
	qr := rand.New(rand.NewPCG(33, 34))
	queries := make([][]float32, 100)
	for i := range queries {
		queries[i] = randomVec(qr, d, dim)
	}
	results := func(g *Graph) []string {
		var out []string
		for _, q := range queries {
			out = append(out, fmt.Sprint(g.Search(q, 10, 50, nil)))
		}
		return out
	}
	want := results(g)
	blocks := linksBlocks(t, g)

	packed, err := g.Pack()
	if err != nil || packed != (n+chunkLen-1)/chunkLen {
		t.Fatalf("Pack: %d chunks, %v", packed, err)
	}
	if again, err := g.Pack(); again != 0 || err != nil {
		t.Fatalf("Pack of a packed graph: %d chunks, %v", again, err)
	}
	if !bytes.Equal(image(t, g), before) {
		t.Fatal("packing changed the graph's image")
	}
	if got := results(g); !slices.Equal(got, want) {
		t.Fatalf("packing changed search results:\n%v\n%v", got[:3], want[:3])
	}
	// The regions the packed chunks left are released once the old
	// chunks are unreachable.
	deadline := time.Now().Add(10 * time.Second)
	for linksBlocks(t, g) > blocks/10 {
		if time.Now().After(deadline) {
			t.Fatalf("links file holds %d blocks after packing, %d before", linksBlocks(t, g), blocks)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}

	// A later Pack copies the parts of the chunks still packed, which keep
	// the width of the first neighbour they were packed with although
	// the graph has grown since.
	lists := func() []string {
		var out []string
		for off := uint32(0); off < n; off++ {
			out = append(out, fmt.Sprint(g.neighbours(off, 0, nil)))
		}
		return out
	}
	was := lists()
	func() {
		g.persistMu.RLock()
		defer g.persistMu.RUnlock()
		g.grow(n + more - 1)
		g.unpack(0)
	}()
	grown := len(*g.chunks.Load()) - (n+chunkLen-1)/chunkLen
	if packed, err := g.Pack(); packed != 1+grown || err != nil {
		t.Fatalf("Pack after growing: %d chunks, %v", packed, err)
	}
	if dir := *g.chunks.Load(); dir[1].w0 == dir[0].w0 || !g.chunkPacked(1) {
		t.Fatalf("copied part has first-neighbour width %d, a new one %d: want them to differ", dir[1].w0, dir[0].w0)
	}
	if !slices.Equal(lists(), was) {
		t.Fatal("repacking changed level-0 lists")
	}
	if got := results(g); !slices.Equal(got, want) {
		t.Fatal("repacking changed search results")
	}

	// Inserts link new nodes into old ones: the chunks they change are
	// unpacked into their regions again, the others stay packed.
	for off := uint32(n); off < n+more; off++ {
		g.Insert(off)
	}
	unpacked := 0
	for ci := range (n + chunkLen - 1) / chunkLen {
		if !g.chunkPacked(ci) {
			unpacked++
		}
	}
	if unpacked == 0 {
		t.Fatal("no chunk was unpacked by inserts")
	}
	if _, err := Load(bytes.NewReader(image(t, g)), Options{M: 8, Distance: d}, s); err != nil {
		t.Fatalf("image after inserts into a packed graph: %v", err)
	}
	if rec := recall(t, g, s, d, queries, 10, 50, nil); rec < 0.9 {
		t.Fatalf("recall %.3f after inserts into a packed graph", rec)
	}

	// Pack, then unpack some chunks again before the collector runs: the
	// pending releases of their regions must not free them.
	if _, err := g.Pack(); err != nil {
		t.Fatal(err)
	}
	for off := uint32(0); off < n+more; off += 5 {
		g.Delete(off)
	}
	if g.Repair() == 0 {
		t.Fatal("Repair unlinked nothing")
	}
	img := image(t, g)
	for range 5 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if !bytes.Equal(image(t, g), img) {
		t.Fatal("a released region took lists of an unpacked chunk with it")
	}
	if u := g.Unreachable(); len(u) != 0 {
		t.Fatalf("%d live nodes unreachable after repairing a packed graph", len(u))
	}
	if rec := recall(t, g, s, d, queries, 10, 50, nil); rec < 0.9 {
		t.Fatalf("recall %.3f after repairing a packed graph", rec)
	}

	// Load packs; Close closes the links file and every packed file.
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	opts.Dir = t.TempDir()
	loaded, err := Load(bytes.NewReader(img), opts, s)
	if err != nil {
		t.Fatal(err)
	}
	if !loaded.chunkPacked(0) || !bytes.Equal(image(t, loaded), img) {
		t.Fatal("loaded graph not packed, or not the image it was loaded from")
	}
	if got := graphFiles(t, opts.Dir); got != 2 {
		t.Fatalf("%d graph files open after Load, want 2", got)
	}
	if err := loaded.Close(); err != nil {
		t.Fatal(err)
	}
	if got := graphFiles(t, opts.Dir); got != 0 {
		t.Fatalf("%d graph files open after Close, want 0", got)
	}
	_ = loaded.Search(queries[0], 10, 50, nil) // empty lists, no fault
	for _, d := range []string{dir, opts.Dir} {
		if ents, err := os.ReadDir(d); err != nil || len(ents) != 0 {
			t.Fatalf("files visible in the directory: %v %v", ents, err)
		}
	}
}

// TestPackConcurrent: searches, inserts, deletes and repairs run while the
// graph packs again and again; every search finds results and the final
// graph is valid and reachable. (The race detector does not see the
// mapped lists, but it sees the chunk directory and the node records.)
func TestPackConcurrent(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("mapped graph files are supported on Linux only")
	}
	const n, dim = 6000, 8
	d := api.DistanceEuclid
	r := rand.New(rand.NewPCG(41, 42))
	s := randomStore(r, d, n, dim)
	dir := t.TempDir()
	g := build(t, Options{M: 6, EfConstruct: 40, Distance: d, Seed: 7, Dir: dir}, s, n/2, 1)
	var stop atomic.Bool
	var wg sync.WaitGroup
	var empty atomic.Int64
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			qr := rand.New(rand.NewPCG(43, uint64(w)))
			for !stop.Load() {
				if len(g.Search(randomVec(qr, d, dim), 5, 20, nil)) == 0 {
					empty.Add(1)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			if _, err := g.Pack(); err != nil {
				t.Error(err)
				return
			}
			runtime.GC()
		}
	}()
	for off := uint32(n / 2); off < n; off++ {
		g.Insert(off)
		if off%50 == 0 {
			g.Delete(off - 40)
		}
		if off%1000 == 0 {
			g.Repair()
		}
	}
	stop.Store(true)
	wg.Wait()
	// Every Pack wrote all chunks, so the files of earlier ones are
	// released once unreferenced: the links file and one packed file
	// stay.
	if _, err := g.Pack(); err != nil {
		t.Fatal(err)
	}
	waitGraphFiles(t, dir, 2)
	if empty.Load() != 0 {
		t.Fatalf("%d searches found nothing", empty.Load())
	}
	g.Reconnect()
	if u := g.Unreachable(); len(u) != 0 {
		t.Fatalf("%d live nodes unreachable", len(u))
	}
	if _, err := Load(bytes.NewReader(image(t, g)), Options{M: 6, Distance: d}, s); err != nil {
		t.Fatal(err)
	}
}
