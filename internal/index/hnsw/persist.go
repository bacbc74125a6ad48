package hnsw

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"slices"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/index"
)

// File format: see docs/format/hnsw.md.
const (
	fileMagic   = "SHOALHNW"
	fileVersion = 1
	headerLen   = 48
)

// ErrCorrupt is returned (wrapped) by Load when the file is truncated, fails
// its checksum or is structurally invalid.
var ErrCorrupt = errors.New("corrupt HNSW graph file")

// ErrIncompatible is returned (wrapped) by Load when the file was written
// with a different distance or M than the options ask for, or by an unknown
// format version.
var ErrIncompatible = errors.New("incompatible HNSW graph file")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var distCodes = map[api.Distance]uint8{
	api.DistanceCosine:    1,
	api.DistanceEuclid:    2,
	api.DistanceDot:       3,
	api.DistanceManhattan: 4,
}

// Node state codes in the file.
const (
	fileAbsent  = 0
	fileLive    = 1
	fileDeleted = 2 // deleted, still linked
	fileRemoved = 3 // deleted and unlinked (no lists stored)
)

type countingWriter struct {
	w   *bufio.Writer
	crc hash.Hash32
	n   int64
	err error
}

func (c *countingWriter) write(p []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(p)
	c.crc.Write(p[:n])
	c.n += int64(n)
	c.err = err
}

// WriteTo writes the graph to w in the format of docs/format/hnsw.md. It
// holds the graph's persistence lock exclusively, so the image is
// consistent: Inserts, Deletes and Repair batches wait, searches do not.
// Offsets whose Insert had not finished are not part of the image because
// none can be in flight while the lock is held.
func (g *Graph) WriteTo(w io.Writer) (int64, error) {
	g.persistMu.Lock()
	defer g.persistMu.Unlock()
	cw := &countingWriter{w: bufio.NewWriterSize(w, 1<<16), crc: crc32.New(castagnoli)}
	dir := *g.chunks.Load()
	slots := uint32(len(dir) * chunkLen)
	entry, entryLevel := uint32(0xFFFFFFFF), uint32(0)
	if e := g.entry.Load(); e != noEntry {
		l, off := unpackEntry(e)
		entry, entryLevel = off, uint32(l)
	}
	hdr := make([]byte, headerLen)
	copy(hdr[0:8], fileMagic)
	binary.LittleEndian.PutUint32(hdr[8:], fileVersion)
	hdr[12] = distCodes[g.opts.Distance]
	binary.LittleEndian.PutUint32(hdr[16:], uint32(g.m))
	binary.LittleEndian.PutUint32(hdr[20:], uint32(g.opts.EfConstruct))
	binary.LittleEndian.PutUint64(hdr[24:], uint64(g.opts.Seed))
	binary.LittleEndian.PutUint32(hdr[32:], slots)
	binary.LittleEndian.PutUint32(hdr[36:], entry)
	binary.LittleEndian.PutUint32(hdr[40:], entryLevel)
	binary.LittleEndian.PutUint32(hdr[44:], uint32(g.Len()))
	cw.write(hdr)

	buf := make([]byte, 0, 4*(1+g.m0)+2)
	var nb []uint32
	for off := uint32(0); off < slots; off++ {
		nd := g.node(off)
		st := nd.state.Load()
		code := byte(fileAbsent)
		switch {
		case st&stInserted == 0 && st&stDeleted != 0:
			// A tombstone (deleted before inserted) is written as an
			// unlinked node of level 0, which keeps later Inserts out.
			cw.write([]byte{fileRemoved, 0, 0, 0})
			continue
		case st&stInserted == 0:
		case st&stRemoved != 0:
			code = fileRemoved
		case st&stDeleted != 0:
			code = fileDeleted
		default:
			code = fileLive
		}
		if code == fileAbsent {
			cw.write([]byte{fileAbsent})
			continue
		}
		cw.write([]byte{code, byte(nd.level)})
		for l := 0; l <= int(nd.level); l++ {
			nb = g.neighbours(off, l, nb)
			if code == fileRemoved {
				nb = nb[:0]
			}
			// Ascending, as a packed list holds them: the same graph
			// has the same image, packed or not.
			slices.Sort(nb)
			buf = binary.LittleEndian.AppendUint16(buf[:0], uint16(len(nb)))
			for _, n := range nb {
				buf = binary.LittleEndian.AppendUint32(buf, n)
			}
			cw.write(buf)
		}
	}
	if cw.err == nil {
		var sum [4]byte
		binary.LittleEndian.PutUint32(sum[:], cw.crc.Sum32())
		n, err := cw.w.Write(sum[:])
		cw.n += int64(n)
		cw.err = err
	}
	if cw.err == nil {
		cw.err = cw.w.Flush()
	}
	if cw.err != nil {
		return cw.n, fmt.Errorf("cannot write HNSW graph: %w", cw.err)
	}
	return cw.n, nil
}

type crcReader struct {
	r   *bufio.Reader
	crc hash.Hash32
}

func (c *crcReader) read(p []byte) error {
	if _, err := io.ReadFull(c.r, p); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: truncated", ErrCorrupt)
		}
		return err
	}
	c.crc.Write(p)
	return nil
}

// Load reads a graph written by WriteTo over the vectors of store. The
// file's distance and M must match opts (ErrIncompatible otherwise);
// EfConstruct and Seed are taken from opts for later inserts. A truncated,
// corrupted or inconsistent file is reported with ErrCorrupt and nothing is
// returned; Load never returns a graph that failed its checksum. Load reads
// exactly the bytes WriteTo wrote, buffering ahead from r.
func Load(r io.Reader, opts Options, store *index.Store) (*Graph, error) {
	g := New(opts, store)
	if err := g.load(r, store); err != nil {
		_ = g.Close()
		return nil, err
	}
	return g, nil
}

// load fills g, new, from r (see Load).
func (g *Graph) load(r io.Reader, store *index.Store) error {
	cr := &crcReader{r: bufio.NewReaderSize(r, 1<<16), crc: crc32.New(castagnoli)}
	hdr := make([]byte, headerLen)
	if err := cr.read(hdr); err != nil {
		return fmt.Errorf("cannot load HNSW graph: %w", err)
	}
	if string(hdr[0:8]) != fileMagic {
		return fmt.Errorf("cannot load HNSW graph: %w: bad magic", ErrCorrupt)
	}
	if v := binary.LittleEndian.Uint32(hdr[8:]); v != fileVersion {
		return fmt.Errorf("cannot load HNSW graph: %w: format version %d, want %d", ErrIncompatible, v, fileVersion)
	}
	if hdr[12] != distCodes[g.opts.Distance] {
		return fmt.Errorf("cannot load HNSW graph: %w: distance code %d, want %s", ErrIncompatible, hdr[12], g.opts.Distance)
	}
	if m := binary.LittleEndian.Uint32(hdr[16:]); int(m) != g.m {
		return fmt.Errorf("cannot load HNSW graph: %w: m %d, want %d", ErrIncompatible, m, g.m)
	}
	slots := binary.LittleEndian.Uint32(hdr[32:])
	entry := binary.LittleEndian.Uint32(hdr[36:])
	entryLevel := binary.LittleEndian.Uint32(hdr[40:])
	live := binary.LittleEndian.Uint32(hdr[44:])
	// Every node's vector is in the store, so a valid file has no more slots
	// than the store's length rounded up to whole chunks; checking this
	// before the checksum keeps a corrupt header from allocating at will.
	maxSlots := (uint64(store.Len()) + chunkLen - 1) / chunkLen * chunkLen
	if slots%chunkLen != 0 || uint64(slots) > maxSlots {
		return fmt.Errorf("cannot load HNSW graph: %w: %d node slots for a store of %d vectors", ErrCorrupt, slots, store.Len())
	}
	if slots > 0 {
		g.grow(slots - 1)
	}
	var small [2]byte
	buf := make([]byte, 4*g.m0)
	var liveSeen uint32
	for off := uint32(0); off < slots; off++ {
		if err := cr.read(small[:1]); err != nil {
			return fmt.Errorf("cannot load HNSW graph: %w", err)
		}
		code := small[0]
		if code == fileAbsent {
			continue
		}
		if code > fileRemoved {
			return fmt.Errorf("cannot load HNSW graph: %w: node %d has state %d", ErrCorrupt, off, code)
		}
		if err := cr.read(small[:1]); err != nil {
			return fmt.Errorf("cannot load HNSW graph: %w", err)
		}
		level := int(small[0])
		if level > maxLevel {
			return fmt.Errorf("cannot load HNSW graph: %w: node %d has level %d", ErrCorrupt, off, level)
		}
		nd := g.node(off)
		nd.level = int32(level)
		nd.allocUpper(g.m)
		switch code {
		case fileLive:
			nd.state.Store(stInserted | stLinked)
			liveSeen++
		case fileDeleted:
			nd.state.Store(stInserted | stLinked | stDeleted)
			g.hasDeleted.Store(true)
		case fileRemoved:
			nd.state.Store(stInserted | stLinked | stDeleted | stRemoved)
			g.hasDeleted.Store(true)
		}
		for l := 0; l <= level; l++ {
			if err := cr.read(small[:2]); err != nil {
				return fmt.Errorf("cannot load HNSW graph: %w", err)
			}
			cnt := int(binary.LittleEndian.Uint16(small[:2]))
			if cnt > g.maxConn(l) || (code == fileRemoved && cnt != 0) {
				return fmt.Errorf("cannot load HNSW graph: %w: node %d level %d has %d links", ErrCorrupt, off, l, cnt)
			}
			if err := cr.read(buf[:4*cnt]); err != nil {
				return fmt.Errorf("cannot load HNSW graph: %w", err)
			}
			lst := g.list(off, l)
			for i := 0; i < cnt; i++ {
				lst[1+i] = binary.LittleEndian.Uint32(buf[4*i:])
			}
			lst[0] = uint32(cnt)
		}
	}
	want := cr.crc.Sum32()
	var sum [4]byte
	if _, err := io.ReadFull(cr.r, sum[:]); err != nil {
		return fmt.Errorf("cannot load HNSW graph: %w: truncated checksum", ErrCorrupt)
	}
	if got := binary.LittleEndian.Uint32(sum[:]); got != want {
		return fmt.Errorf("cannot load HNSW graph: %w: checksum %08x, computed %08x", ErrCorrupt, got, want)
	}
	// Structural checks: every link points to a node present on that level,
	// the entry point exists with its level, the live count matches, and
	// every node's vector is within the store.
	if liveSeen != live {
		return fmt.Errorf("cannot load HNSW graph: %w: %d live nodes, header says %d", ErrCorrupt, liveSeen, live)
	}
	storeLen := uint32(store.Len())
	for off := uint32(0); off < slots; off++ {
		nd := g.node(off)
		if nd.state.Load() == 0 {
			continue
		}
		if off >= storeLen {
			return fmt.Errorf("cannot load HNSW graph: %w: node %d is beyond the vector store (%d vectors)", ErrCorrupt, off, storeLen)
		}
		for l := 0; l <= int(nd.level); l++ {
			lst := g.list(off, l)
			for i := 1; i <= int(lst[0]); i++ {
				n := lst[i]
				if n >= slots || g.node(n).state.Load() == 0 || int(g.node(n).level) < l || n == off {
					return fmt.Errorf("cannot load HNSW graph: %w: node %d level %d links to invalid node %d", ErrCorrupt, off, l, n)
				}
			}
		}
	}
	if entry != 0xFFFFFFFF {
		if entry >= slots || g.node(entry).state.Load()&(stInserted|stRemoved) != stInserted || uint32(g.node(entry).level) != entryLevel {
			return fmt.Errorf("cannot load HNSW graph: %w: invalid entry point %d", ErrCorrupt, entry)
		}
		g.entry.Store(packEntry(int(entryLevel), entry))
	} else if liveSeen > 0 {
		return fmt.Errorf("cannot load HNSW graph: %w: no entry point", ErrCorrupt)
	}
	g.live.Store(int64(live))
	if g.canPack() {
		// A loaded graph is packed (see pack.go) and its links file
		// released at once: nothing else has seen it yet. A graph that
		// cannot be packed (no room for the file) keeps its lists as
		// they are; its owner's next Pack tries again and reports why.
		_, _ = g.pack(true)
	}
	// Filling a mapped graph faulted every list into the resident set;
	// searches fault back in the ones they visit.
	g.DropResident()
	return nil
}
