// Package hnsw is Shoal's HNSW (hierarchical navigable small world) graph
// index over vectors held in an index.Store.
//
// # Layout
//
// Nodes are addressed by the Store's dense uint32 offsets. Node data lives in
// chunks of 1024 nodes: one flat []uint32 with a fixed-size level-0
// neighbour list per node (a count followed by 2·M slots) and a small record
// per node with its state, its level and, for the few nodes above level 0,
// one array holding all upper-level lists (count + M slots each), referenced
// by a pointer. The
// chunk directory is copy-on-write, so growth never moves node data.
//
// With Options.Dir (hnsw_config.on_disk) the level-0 lists, 4·(1+2M)
// bytes of every node and nearly all of the graph, are kept in a
// memory-mapped file (index.MapFile: unlinked at creation, each chunk
// mapped at its own offset) instead of the Go heap; they then live in the
// page cache, which the kernel may write back and evict under memory
// pressure. The node records and the few upper lists stay on the heap.
// The file is a cache: the graph file written by WriteTo is the durable
// copy, and Load fills a new mapping from it. Such a graph packs its
// level-0 lists into a second, read-only mapped file in less than half
// the space (pack.go): Load always does, and Pack packs what inserts have
// unpacked since. Close (or, for a graph that
// was replaced, the garbage collector) releases the file. Where
// memory-mapped files are not supported (index.NewMapFile fails: other
// systems than Linux) or a chunk cannot be allocated in the file (a full
// disk), the lists stay on the heap (FileError).
//
// # Concurrency
//
// Searches take no locks. Neighbour lists (on the heap or in the mapped
// file alike) are read and written with atomic 32-bit loads and stores; a
// reader racing with a writer may see a mix of the old and new list, in
// which every id is still a valid node, which is harmless for a greedy
// search. (The race detector does not see the mapped memory.) Writers of
// a list hold the list owner's striped mutex (one of 4096, chosen by offset); a writer holds at most one
// such mutex at a time, so there is no lock order among them. A node's
// level and upper lists are written before the node is linked into any
// list, and links are atomic stores, so a reader that finds a node through a
// link sees its initialised record. entryMu serialises changes of the entry
// point (inserts that raise the top level hold it for their whole insert,
// as hnswlib does). persistMu is held shared by Insert, Delete and each
// batch of Repair, and exclusively by WriteTo, which therefore writes one
// consistent image. Lock order: persistMu, then entryMu, then a stripe.
package hnsw

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/index"
	"github.com/shoal-db/shoal/internal/vecmath"
)

// Options configure a Graph.
type Options struct {
	// M is the number of neighbours a new node links to on each level; the
	// level-0 lists hold up to 2·M. Zero means DefaultM.
	M int
	// EfConstruct is the size of the candidate list while inserting. Zero
	// means DefaultEfConstruct.
	EfConstruct int
	// Distance is the vector distance; the graph orders by vecmath.Dist.
	// Cosine vectors (and queries) must be normalised by the caller.
	Distance api.Distance
	// Seed makes node levels reproducible: a node's level is a function of
	// Seed and its offset only.
	Seed int64
	// Dir, when set, is the directory of the memory-mapped file that holds
	// the level-0 neighbour lists instead of the heap (see the package
	// comment); empty keeps them on the heap.
	Dir string
}

// Defaults of Options (Qdrant's HNSW defaults).
const (
	DefaultM           = 16
	DefaultEfConstruct = 100
)

// maxLevel caps node levels; reaching it needs probability M^-maxLevel.
const maxLevel = 30

const (
	chunkShift = 10
	chunkLen   = 1 << chunkShift
	numStripes = 4096
	noEntry    = math.MaxUint64
)

// Node states (bits of node.state).
const (
	stInserted uint32 = 1 << iota // Insert has initialised the node's record
	stDeleted                     // Delete was called; never returned by searches (alone: a tombstone)
	stRemoved                     // Repair unlinked it; its lists are empty
)

// node is the per-node record beside the level-0 list. It takes 16 bytes
// (every point of a collection has one).
type node struct {
	state atomic.Uint32
	// level and upper are written once, before the node is linked anywhere.
	level int32
	// upper is the first of the node's level × (1+M) uint32s of upper
	// lists (count, then M slots, per level 1..level), nil at level 0: a
	// pointer rather than a slice header, whose length follows from level.
	upper *uint32
}

// uppers returns n's upper lists (nil at level 0).
func (n *node) uppers(m int) []uint32 {
	if n.upper == nil {
		return nil
	}
	return unsafe.Slice(n.upper, int(n.level)*(1+m))
}

// allocUpper gives n (of level > 0, set before) zeroed upper lists.
func (n *node) allocUpper(m int) {
	if n.level > 0 {
		n.upper = &make([]uint32, int(n.level)*(1+m))[0]
	}
}

type chunk struct {
	links  []uint32 // chunkLen × (1+2M); nil when packed
	nodes  []node   // chunkLen
	mapped bool     // links are in the graph's file, not on the heap
	// packed is the chunk's part of pack, which holds its level-0 lists
	// read-only when links is nil (see pack.go).
	packed []byte
	pack   *packFile
	w0     uint8 // bits of the first neighbour of a packed list
}

// Graph is an HNSW index. All methods are safe for concurrent use.
type Graph struct {
	opts  Options
	store *index.Store
	dist  func(a, b []float32) float32 // vecmath.Dist (checks lengths)
	kern  func(a, b []float32) float32 // vecmath.Kernel, for vectors of the store's dimension
	// tkern is the kernel between a float32 query and a stored vector of a
	// float16, uint8 or turbo4 store (nil for a float32 store); its
	// queries are prepared by index.Store.Query (vec's are already).
	tkern  func(q []float32, b []byte) float32
	m, m0  int     // max neighbours on upper levels and on level 0
	stride int     // 1 + m0: uint32s per level-0 list
	ml     float64 // level multiplier 1/ln(M)

	chunks atomic.Pointer[[]*chunk] // copy-on-write directory
	growMu sync.Mutex               // serialises growth of chunks, guards fileErr
	// file holds the level-0 lists of mapped chunks (Options.Dir), nil
	// when they are on the heap.
	file *index.MapFile
	// fileErr is why the file was not created, or why a chunk and the
	// ones after it are on the heap instead of in the file.
	fileErr error
	// regions and packs track packed chunks (see pack.go); nil when the
	// lists are on the heap.
	regions *regionTable
	packs   *packSet

	entry atomic.Uint64 // level<<32 | offset of the entry point, or noEntry
	live  atomic.Int64  // nodes inserted and not deleted
	// hasDeleted is set by the first Delete (or Load of a graph with deleted
	// nodes); until then searches skip the deleted-state check.
	hasDeleted atomic.Bool

	entryMu   sync.Mutex   // serialises entry-point changes
	persistMu sync.RWMutex // shared by writers, exclusive for WriteTo
	stripes   [numStripes]sync.Mutex

	searchers sync.Pool // *searcher

	afterRelink  func()                  // test hook: called by Repair between its passes
	afterReach   func()                  // test hook: called by linkUnreachable after each node it links
	afterPublish func(off uint32)        // test hook: called by Insert once off is marked inserted
	afterLink    func(off uint32, l int) // test hook: called by Insert once off is linked on level l
}

// New returns an empty graph over the vectors of store.
func New(opts Options, store *index.Store) *Graph {
	if opts.M <= 0 {
		opts.M = DefaultM
	}
	if opts.M < 2 {
		opts.M = 2
	}
	if opts.EfConstruct <= 0 {
		opts.EfConstruct = DefaultEfConstruct
	}
	if !opts.Distance.Valid() {
		panic(fmt.Sprintf("hnsw: unknown distance %q", opts.Distance))
	}
	g := &Graph{
		opts:   opts,
		store:  store,
		dist:   vecmath.Dist(opts.Distance),
		kern:   vecmath.Kernel(opts.Distance),
		m:      opts.M,
		m0:     2 * opts.M,
		stride: 1 + 2*opts.M,
		ml:     1 / math.Log(float64(opts.M)),
	}
	switch store.Type() {
	case index.Float16:
		g.tkern = vecmath.KernelF16(opts.Distance)
	case index.Uint8:
		g.tkern = vecmath.KernelU8(opts.Distance)
	case index.Turbo4:
		if opts.Distance == api.DistanceManhattan {
			panic("hnsw: turbo4 vectors support Cosine, Dot and Euclid, not Manhattan")
		}
		g.tkern = vecmath.KernelT4(opts.Distance)
	}
	dir := []*chunk{}
	g.chunks.Store(&dir)
	g.entry.Store(noEntry)
	g.searchers.New = func() any { return &searcher{} }
	if opts.Dir != "" {
		f, err := index.NewMapFile(opts.Dir, ".hnsw-*.links", chunkLen*g.stride*4, true)
		if err != nil {
			g.fileErr = err
		} else {
			g.file = f
			g.regions = &regionTable{file: f, gen: map[int]uint64{}}
			g.packs = &packSet{files: map[*index.MapFile]struct{}{}}
			// A graph replaced by another (a rebuild, a compaction) is
			// not closed by its owner, which cannot know when the last
			// search or worker is done with it: its file is released
			// once the graph is unreachable. (Close replaces the
			// mappings by zero pages, so a list still held reads as
			// empty rather than faulting.)
			runtime.AddCleanup(g, func(f *index.MapFile) { _ = f.Close() }, f)
		}
	}
	return g
}

// OnDisk reports whether the graph keeps its level-0 lists in a
// memory-mapped file (Options.Dir, where supported).
func (g *Graph) OnDisk() bool { return g.file != nil }

// FileError returns why the graph keeps some or all of its level-0 lists
// on the heap although Options.Dir asks for a file (nil when it does not:
// every chunk is in the file, or Dir is empty).
func (g *Graph) FileError() error {
	g.growMu.Lock()
	defer g.growMu.Unlock()
	return g.fileErr
}

// DropResident drops the mapped lists from the process's resident set
// (they stay in the page cache, from which searches fault them back in).
// It does nothing for a graph on the heap.
func (g *Graph) DropResident() {
	if g.file != nil {
		g.file.DropResident()
		g.packs.each((*index.MapFile).DropResident)
	}
}

// Close releases the graph's file (the file's blocks and page cache are
// freed); the graph must not be used afterwards, though a search or insert
// still running finds empty lists rather than faulting. Close on a graph
// on the heap does nothing.
func (g *Graph) Close() error {
	if g.file == nil {
		return nil
	}
	g.packs.each(func(f *index.MapFile) { _ = f.Close() })
	return g.file.Close()
}

// Options returns the graph's options with defaults applied.
func (g *Graph) Options() Options { return g.opts }

// Len returns the number of nodes inserted and not deleted.
func (g *Graph) Len() int { return int(max(g.live.Load(), 0)) }

// Contains reports whether off was inserted and not deleted.
func (g *Graph) Contains(off uint32) bool {
	n := g.nodeOrNil(off)
	return n != nil && n.state.Load()&(stInserted|stDeleted) == stInserted
}

// Delete marks off as deleted: searches never return it again but may still
// pass through it until Repair unlinks it. Deleting an offset whose Insert
// is still running marks it all the same; deleting an offset that was never
// inserted leaves a tombstone, so that a later Insert of it (say, from an
// indexing queue that lags behind the writes) does nothing. Deleting twice
// does nothing. An offset is never inserted again after Delete.
func (g *Graph) Delete(off uint32) {
	g.persistMu.RLock()
	defer g.persistMu.RUnlock()
	g.grow(off)
	n := g.node(off)
	g.hasDeleted.Store(true)
	for {
		s := n.state.Load()
		if s&stDeleted != 0 {
			return
		}
		if n.state.CompareAndSwap(s, s|stDeleted) {
			if s&(stInserted|stClaimed) != 0 {
				g.live.Add(-1)
			}
			return
		}
	}
}

// UsesVectors reports whether any node of offset lo to hi-1 may still be
// visited by a search or an insert, so that its vector is still needed: a
// node whose Insert has started and that Repair has not unlinked. Nodes
// never inserted, and deleted nodes Repair has unlinked, are not visited.
func (g *Graph) UsesVectors(lo, hi uint32) bool {
	for off := lo; off < hi; off++ {
		n := g.nodeOrNil(off)
		if n == nil {
			continue
		}
		if st := n.state.Load(); st&(stClaimed|stInserted) != 0 && st&stRemoved == 0 {
			return true
		}
	}
	return false
}

// Deleted returns the number of nodes deleted but not yet unlinked by Repair.
func (g *Graph) Deleted() int {
	cnt := 0
	for _, c := range *g.chunks.Load() {
		for i := range c.nodes {
			if c.nodes[i].state.Load()&(stInserted|stDeleted|stRemoved) == stInserted|stDeleted {
				cnt++
			}
		}
	}
	return cnt
}

// MemoryBytes returns the heap memory the graph holds (node chunks and
// upper lists, and the level-0 lists unless they are in the mapped file),
// not counting the vector store.
func (g *Graph) MemoryBytes() int64 {
	var b int64
	for _, c := range *g.chunks.Load() {
		if !c.mapped {
			b += int64(len(c.links)) * 4
		}
		b += int64(len(c.nodes)) * int64(nodeSize)
		for i := range c.nodes {
			if c.nodes[i].state.Load()&stInserted != 0 {
				b += int64(len(c.nodes[i].uppers(g.m))) * 4
			}
		}
	}
	return b
}

// nodeSize is the size of a node record in bytes.
const nodeSize = int(unsafe.Sizeof(node{}))

// grow makes sure off is backed by a chunk.
func (g *Graph) grow(off uint32) {
	need := int(off>>chunkShift) + 1
	if len(*g.chunks.Load()) >= need {
		return
	}
	g.growMu.Lock()
	defer g.growMu.Unlock()
	old := *g.chunks.Load()
	if len(old) >= need {
		return
	}
	grown := make([]*chunk, need, max(need, 2*len(old)))
	copy(grown, old)
	for i := len(old); i < need; i++ {
		grown[i] = g.newChunk(i)
	}
	g.chunks.Store(&grown)
}

// newChunk returns chunk i, its level-0 lists in the graph's file when it
// has one and the chunk can be allocated there, else on the heap (and then
// every later chunk too). Caller holds growMu.
func (g *Graph) newChunk(i int) *chunk {
	c := &chunk{nodes: make([]node, chunkLen)}
	n := chunkLen * g.stride
	if g.file != nil && g.fileErr == nil {
		b, err := g.file.Map(i)
		if err == nil {
			// Mappings are page-aligned, so the uint32 view is aligned
			// for atomic access.
			c.links, c.mapped = unsafe.Slice((*uint32)(unsafe.Pointer(&b[0])), n), true
			return c
		}
		g.fileErr = err
	}
	c.links = make([]uint32, n)
	return c
}

// nodeOrNil returns the record of off, or nil if off is beyond the chunks.
func (g *Graph) nodeOrNil(off uint32) *node {
	dir := *g.chunks.Load()
	ci := int(off >> chunkShift)
	if ci >= len(dir) {
		return nil
	}
	return &dir[ci].nodes[off&(chunkLen-1)]
}

// node returns the record of off, which must be backed.
func (g *Graph) node(off uint32) *node {
	return &(*g.chunks.Load())[off>>chunkShift].nodes[off&(chunkLen-1)]
}

// list returns off's neighbour list on level l for a writer: element 0 is
// the count, the rest are slots. off must be backed and have a level of at
// least l. A packed chunk is unpacked first (see pack.go), so callers that
// only read use neighbours instead; callers hold the persistence lock
// shared (or exclusively), as every writer of lists does.
func (g *Graph) list(off uint32, l int) []uint32 {
	if _, lst := g.readList(off, l); lst != nil {
		return lst
	}
	c := g.unpack(int(off >> chunkShift))
	i := int(off&(chunkLen-1)) * g.stride
	return c.links[i : i+g.stride : i+g.stride]
}

// maxConn returns the capacity of neighbour lists on level l.
func (g *Graph) maxConn(l int) int {
	if l == 0 {
		return g.m0
	}
	return g.m
}

func (g *Graph) stripe(off uint32) *sync.Mutex { return &g.stripes[off%numStripes] }

// randomLevel draws off's level from an exponential distribution with
// mean ml, as a pure function of the seed and the offset.
func (g *Graph) randomLevel(off uint32) int {
	x := uint64(g.opts.Seed) ^ (uint64(off)+1)*0x9E3779B97F4A7C15
	x ^= x >> 30
	x *= 0xBF58476D1CE4E5B9
	x ^= x >> 27
	x *= 0x94D049BB133111EB
	x ^= x >> 31
	u := float64(x>>11) / (1 << 53) // [0, 1)
	l := int(-math.Log(1-u) * g.ml)
	return min(l, maxLevel)
}

func packEntry(level int, off uint32) uint64 { return uint64(level)<<32 | uint64(off) }

func unpackEntry(e uint64) (int, uint32) { return int(e >> 32), uint32(e) }

// vec returns the stored vector of off as a query for distTo and
// vectorScorer (index.Store.QueryVector: a decoded copy for a float16 or
// uint8 store, the rotated coordinates for a turbo4 one).
func (g *Graph) vec(off uint32) []float32 { return g.store.QueryVector(off) }

// distTo returns the distance between q and the stored vector of off.
func (g *Graph) distTo(q []float32, off uint32) float32 {
	if g.tkern != nil {
		return g.tkern(q, g.store.Raw(off))
	}
	return g.kern(q, g.store.Get(off))
}
