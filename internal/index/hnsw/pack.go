package hnsw

import (
	"encoding/binary"
	"fmt"
	mbits "math/bits"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/shoal-db/shoal/internal/index"
)

// Packed level-0 lists
//
// A graph whose level-0 lists are in a mapped file (Options.Dir) can pack
// them: Pack rewrites every chunk's lists, read-only, into a new mapped
// file in about 42 % of the space (a million-node graph of M 16: about 55
// instead of 132 bytes a node). A packed list holds its neighbours sorted,
// the first in w0 bits (enough for any offset of the graph at the time of
// packing) and each of the others as its difference from the one before,
// in the fewest bits that hold the list's largest difference:
//
//	count (1 byte), w (1 byte), then first (w0 bits), count−1 deltas (w bits each), to a whole byte
//
// A chunk's part of the file is 4·(chunkLen+1) bytes of little-endian
// uint32 starts of its lists (relative to the part; the last one is the
// part's end), then the lists. Parts never straddle a segment of the file
// (each segment is mapped on its own), and every segment ends with at
// least 8 bytes of slack, so that a list is decoded with 8-byte loads.
//
// Searches decode a packed list into a scratch slice. The first change
// to any list of a packed chunk (an Insert linking to one of its nodes, a
// Repair) unpacks the whole chunk back into its region of the links file
// and publishes the mutable chunk in place of the packed one (unpack);
// searches racing with it read either, and both hold valid node ids. The
// packed file is closed once no chunk refers to it. The region a packed
// chunk left is released (its blocks and page cache freed) once the
// garbage collector has found the old chunk unreachable, so that no
// search still reads it, unless the chunk was unpacked into it again
// meanwhile (regionTable).

// packFile is one packed image of a graph's chunks. Each Pack writes all
// of them, copying the parts of those still packed, so that the files of
// earlier Packs are released once the collector finds them unreferenced
// and a graph holds one or two packed files, not one per Pack. Chunks
// refer to the packFile rather than to its MapFile, which the graph's
// packSet holds: the packFile becomes unreachable with its last chunk.
type packFile struct {
	f *index.MapFile
}

// packSegment is the size of a segment of a packed file: a mapping of its
// own, holding whole chunk parts.
const packSegment = 1 << 20

// maxPackedPart returns the largest a chunk's packed part can be.
func (g *Graph) maxPackedPart() int {
	return 4*(chunkLen+1) + chunkLen*(2+4*g.m0+1)
}

// canPack reports whether the graph can pack its lists: they are in a
// mapped file, and a count fits in a byte.
func (g *Graph) canPack() bool { return g.file != nil && g.m0 <= 255 }

// Pack packs the level-0 lists of every chunk that is not packed (see
// above) into a new packed file, together with a copy of the parts of
// the chunks still packed, and replaces every chunk with one in the new
// file; it does nothing when every chunk is packed, or for a graph whose
// lists are on the heap. It holds the persistence lock exclusively (as
// WriteTo does), so inserts wait for it; searches go on. It returns the
// number of chunks it packed. On an error (the file cannot be created or
// written) the graph is unchanged.
func (g *Graph) Pack() (int, error) {
	if !g.canPack() || g.file.Closed() || !g.anyUnpacked() {
		return 0, nil // not taking the lock: inserts need not wait
	}
	g.persistMu.Lock()
	defer g.persistMu.Unlock()
	return g.pack(false)
}

// pack is Pack with the persistence lock held (or the graph not yet
// shared, as in Load). With now, the regions the packed chunks leave are
// released at once: the caller knows that nothing reads them.
func (g *Graph) pack(now bool) (int, error) {
	dir := *g.chunks.Load()
	unpacked := 0
	for _, c := range dir {
		if c.packed == nil {
			unpacked++
		}
	}
	if unpacked == 0 {
		return 0, nil
	}
	seg := max(packSegment, (g.maxPackedPart()+8+4095)&^4095)
	f, err := index.NewMapFile(g.opts.Dir, ".hnsw-*.packed", seg, false)
	if err != nil {
		return 0, fmt.Errorf("cannot pack HNSW graph: %w", err)
	}
	pf := &packFile{f: f}
	w0 := uint(mbits.Len32(uint32(len(dir)*chunkLen - 1)))
	type placed struct{ seg, at, n int }
	parts := make([]placed, len(dir))
	buf := make([]byte, 0, seg)
	var sorted []uint32
	segs := 0
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		if _, err := f.WriteAt(buf, f.Pos(segs, 0)); err != nil {
			return err
		}
		segs++
		buf = buf[:0]
		return nil
	}
	for ci, c := range dir {
		start := len(buf)
		if c.packed != nil {
			buf = append(buf, c.packed...) // decoded with its own w0
		} else {
			buf, sorted = g.appendPackedPart(buf, c, w0, sorted)
		}
		if len(buf)+8 > seg {
			// The part goes to the next segment.
			part := slices.Clone(buf[start:])
			buf = buf[:start]
			if err := flush(); err != nil {
				_ = f.Close()
				return 0, fmt.Errorf("cannot pack HNSW graph: %w", err)
			}
			buf = append(buf, part...)
			start = 0
		}
		parts[ci] = placed{segs, start, len(buf) - start}
	}
	if err := flush(); err != nil {
		_ = f.Close()
		return 0, fmt.Errorf("cannot pack HNSW graph: %w", err)
	}
	maps := make([][]byte, segs)
	for i := range maps {
		// The segment was written before it is mapped: Map allocates the
		// rest of its blocks and keeps what is there.
		if maps[i], err = f.Map(i); err != nil {
			_ = f.Close()
			return 0, fmt.Errorf("cannot pack HNSW graph: %w", err)
		}
	}
	g.growMu.Lock()
	defer g.growMu.Unlock()
	next := slices.Clone(*g.chunks.Load())
	for ci, old := range next {
		p := parts[ci]
		nc := &chunk{nodes: old.nodes, pack: pf, packed: maps[p.seg][p.at : p.at+p.n : p.at+p.n], w0: uint8(w0)}
		next[ci] = nc
		if old.packed != nil {
			nc.w0 = old.w0
			runtime.KeepAlive(old) // its part was copied above
			continue
		}
		gen := g.regions.bump(ci)
		if old.mapped {
			if now {
				g.file.Release(ci)
			} else {
				// Neither the cleanup nor its argument may reach the
				// old chunk, or it would never run: they hold the
				// regions, which hold no chunk.
				runtime.AddCleanup(old, g.regions.release, regionRef{ci, gen})
			}
		}
	}
	g.chunks.Store(&next)
	g.packs.add(f)
	runtime.AddCleanup(pf, g.packs.close, f)
	if !now {
		// The encoding read every list of the links file.
		g.file.DropResident()
	}
	return unpacked, nil
}

// anyUnpacked reports whether some chunk is not packed.
func (g *Graph) anyUnpacked() bool {
	return slices.ContainsFunc(*g.chunks.Load(), func(c *chunk) bool { return c.packed == nil })
}

// appendPackedPart appends c's packed part to dst.
func (g *Graph) appendPackedPart(dst []byte, c *chunk, w0 uint, sorted []uint32) ([]byte, []uint32) {
	start := len(dst)
	dst = append(dst, make([]byte, 4*(chunkLen+1))...)
	for i := range chunkLen {
		binary.LittleEndian.PutUint32(dst[start+4*i:], uint32(len(dst)-start))
		lst := c.links[i*g.stride : (i+1)*g.stride]
		cnt := min(int(lst[0]), g.m0)
		sorted = append(sorted[:0], lst[1:1+cnt]...)
		slices.Sort(sorted)
		dst = appendPackedList(dst, sorted, w0)
	}
	binary.LittleEndian.PutUint32(dst[start+4*chunkLen:], uint32(len(dst)-start))
	return dst, sorted
}

// appendPackedList appends the packed form of ids (ascending, at most 255)
// to dst, the first id in w0 bits.
func appendPackedList(dst []byte, ids []uint32, w0 uint) []byte {
	if len(ids) == 0 {
		return append(dst, 0, 0)
	}
	var maxd uint32
	for i := 1; i < len(ids); i++ {
		maxd = max(maxd, ids[i]-ids[i-1])
	}
	w := uint(mbits.Len32(maxd))
	dst = append(dst, byte(len(ids)), byte(w))
	var acc uint64
	var n uint
	put := func(v uint32, width uint) {
		acc |= uint64(v) << n
		n += width
		for n >= 8 {
			dst = append(dst, byte(acc))
			acc >>= 8
			n -= 8
		}
	}
	put(ids[0], w0)
	for i := 1; i < len(ids); i++ {
		put(ids[i]-ids[i-1], w)
	}
	if n > 0 {
		dst = append(dst, byte(acc))
	}
	return dst
}

// decode appends the neighbours of node i of packed chunk c to dst.
func (c *chunk) decode(i int, dst []uint32) []uint32 {
	p := c.packed
	at := binary.LittleEndian.Uint32(p[4*i:])
	cnt, w := int(p[at]), uint(p[at+1])
	if cnt == 0 {
		return dst
	}
	// The part lies in its segment with 8 bytes of slack after it, so
	// every 8-byte load below stays in the mapping.
	b := unsafe.Pointer(unsafe.SliceData(p))
	pos := uint(at+2) * 8 // in bits from the part's start
	load := func(width uint) uint32 {
		x := binary.LittleEndian.Uint64(unsafe.Slice((*byte)(unsafe.Add(b, pos>>3)), 8))
		v := uint32(x>>(pos&7)) & uint32(1<<width-1)
		pos += width
		return v
	}
	v := load(uint(c.w0))
	dst = append(dst, v)
	for range cnt - 1 {
		v += load(w)
		dst = append(dst, v)
	}
	return dst
}

// unpack returns chunk ci with mutable lists, unpacking it first if it is
// packed (see above). The caller holds the persistence lock shared (as
// every writer of lists does), so no Pack runs meanwhile.
func (g *Graph) unpack(ci int) *chunk {
	g.growMu.Lock()
	defer g.growMu.Unlock()
	dir := *g.chunks.Load()
	c := dir[ci]
	if c.packed == nil {
		return c
	}
	nc := &chunk{nodes: c.nodes}
	n := chunkLen * g.stride
	if g.fileErr == nil {
		b, err := g.file.Map(ci)
		if err == nil {
			nc.links, nc.mapped = unsafe.Slice((*uint32)(unsafe.Pointer(&b[0])), n), true
		} else {
			g.fileErr = err
		}
	}
	if nc.links == nil {
		nc.links = make([]uint32, n)
	}
	g.regions.bump(ci) // the region is in use again: a pending release must not free it
	var tmp []uint32
	for i := range chunkLen {
		tmp = c.decode(i, tmp[:0])
		lst := nc.links[i*g.stride : (i+1)*g.stride]
		for j, x := range tmp {
			atomic.StoreUint32(&lst[1+j], x)
		}
		atomic.StoreUint32(&lst[0], uint32(len(tmp)))
	}
	runtime.KeepAlive(c)
	next := slices.Clone(dir)
	next[ci] = nc
	g.chunks.Store(&next)
	return nc
}

// regionRef names the region of the links file a packed chunk left, and
// the generation of that region at the time.
type regionRef struct {
	ci  int
	gen uint64
}

// regionTable counts, per region of the links file, the packs and unpacks
// of its chunk, so that the release of a region a packed chunk left can
// tell whether the chunk was unpacked into it again since.
type regionTable struct {
	file *index.MapFile
	mu   sync.Mutex
	gen  map[int]uint64
}

// bump starts a new generation of region ci and returns it.
func (t *regionTable) bump(ci int) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.gen[ci]++
	return t.gen[ci]
}

// release frees the blocks and page cache of a region a packed chunk
// left, unless the chunk was unpacked into it again since.
func (t *regionTable) release(r regionRef) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.gen[r.ci] == r.gen {
		t.file.Release(r.ci) // nothing once the graph is closed
	}
}

// packSet holds a graph's open packed files, for Close and DropResident.
type packSet struct {
	mu    sync.Mutex
	files map[*index.MapFile]struct{}
}

func (s *packSet) add(f *index.MapFile) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[f] = struct{}{}
}

// close closes f (a packed file no chunk refers to any more).
func (s *packSet) close(f *index.MapFile) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.files, f)
	_ = f.Close()
}

// each calls fn for every open packed file.
func (s *packSet) each(fn func(f *index.MapFile)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for f := range s.files {
		fn(f)
	}
}

// readList returns off's level-l list (count, then slots) for a reader
// that reads it in place with atomic loads, and the chunk that holds it,
// which the reader keeps alive until it is done (the region of a chunk
// replaced by a packed one is released once the chunk is collected); lst
// is nil when the list is packed (use neighbours).
func (g *Graph) readList(off uint32, l int) (c *chunk, lst []uint32) {
	c = (*g.chunks.Load())[off>>chunkShift]
	i := int(off & (chunkLen - 1))
	if l > 0 {
		up := c.nodes[i].uppers(g.m)
		j := (l - 1) * (1 + g.m)
		return c, up[j : j+1+g.m : j+1+g.m]
	}
	if c.packed != nil {
		return c, nil
	}
	j := i * g.stride
	return c, c.links[j : j+g.stride : j+g.stride]
}

// neighbours returns off's level-l neighbours in buf[:0] (grown as
// needed). It takes no lock: a list being changed meanwhile reads as a mix
// of its old and new links.
func (g *Graph) neighbours(off uint32, l int, buf []uint32) []uint32 {
	c, lst := g.readList(off, l)
	if lst == nil {
		return c.decode(int(off&(chunkLen-1)), buf[:0])
	}
	buf = buf[:0]
	cnt := min(int(atomic.LoadUint32(&lst[0])), len(lst)-1)
	for j := 1; j <= cnt; j++ {
		buf = append(buf, atomic.LoadUint32(&lst[j]))
	}
	runtime.KeepAlive(c)
	return buf
}

// chunkPacked reports whether chunk ci holds its level-0 lists packed.
func (g *Graph) chunkPacked(ci int) bool { return (*g.chunks.Load())[ci].packed != nil }
