package shard

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/shoal-db/shoal/internal/durable"
	"github.com/shoal-db/shoal/internal/index"
	"github.com/shoal-db/shoal/internal/index/hnsw"
)

// Index files (docs/format/shard.md): one per vector name in <dir>/index,
// holding the vector store for offsets [0, n) (version 1) or not (version
// 2, a checkpoint's: the point records hold every vector too) and, once the
// space indexes, its HNSW graph. They are caches: Open validates and
// reconciles them with the point records, and rebuilds from the store when
// they are missing, stale or damaged.
const (
	indexDirName     = "index"
	indexFileMagic   = "SHOALVEC"
	indexFileVersion = 1
	// indexFileNoVectors is the version of a file without the vector
	// section. A build that reads only version 1 ignores such a file and
	// rebuilds the graph, as for any file it cannot use.
	indexFileNoVectors = 2
	indexFileSuffix    = ".vec"
)

// IndexDir is the directory of a shard's index files, relative to the
// shard's directory. Everything in it is a cache (see above): a copy of a
// shard need not make it durable, since Open detects a damaged or missing
// file and rebuilds from the store.
const IndexDir = indexDirName

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// indexFileName returns the file name of a vector name's index file.
func indexFileName(name string) string {
	return "v-" + hex.EncodeToString([]byte(name)) + indexFileSuffix
}

// indexFile is a loaded index file of one space.
type indexFile struct {
	seq uint64
	n   uint32 // the file describes offsets [0, n)
	// vectors is set when the file held the vectors of [0, n) (version 1),
	// which store then holds; otherwise store is n zero vectors that Open
	// fills from the point records.
	vectors bool
	store   *index.Store
	graph   *hnsw.Graph // nil when the file has no graph
}

// covers reports whether the file provided the vector at off.
func (f *indexFile) covers(off uint32) bool { return f != nil && f.vectors && off < f.n }

type indexFiles map[string]*indexFile

// minSeq returns the lowest sequence the files cover (0 unless every one
// of names spaces has a file).
func (fs indexFiles) minSeq(names int) uint64 {
	if len(fs) < names || len(fs) == 0 {
		return 0
	}
	low := uint64(math.MaxUint64)
	for _, f := range fs {
		low = min(low, f.seq)
	}
	return low
}

// loadIndexFiles reads every usable index file. A file that is damaged,
// from another configuration or newer than the store is ignored (and
// logged): the space is then rebuilt from the point records.
func (s *Shard) loadIndexFiles(m meta) indexFiles {
	out := indexFiles{}
	for name, sp := range s.spaces {
		path := filepath.Join(s.opts.Dir, indexDirName, indexFileName(name))
		f, err := readIndexFile(path, sp, m.LastSeq)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			s.log.Warn("ignoring index file; rebuilding from the store", "vector", name, "path", path, "err", err)
			continue
		}
		out[name] = f
	}
	return out
}

// header layout: magic, u32 version, u64 seq, u32 dim, u16 len + name,
// u16 len + distance, u32 n, u8 flags.
func readIndexFile(path string, sp *space, lastSeq uint64) (_ *indexFile, err error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	crc := crc32.New(castagnoli)
	br := bufio.NewReaderSize(fh, 1<<20)
	r := io.TeeReader(br, crc)
	rd := func(n int) ([]byte, error) {
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, fmt.Errorf("cannot read index file: %w", err)
		}
		return b, nil
	}
	hdr, err := rd(len(indexFileMagic) + 4 + 8 + 4)
	if err != nil {
		return nil, err
	}
	if string(hdr[:8]) != indexFileMagic {
		return nil, fmt.Errorf("cannot read index file: bad magic %q", hdr[:8])
	}
	v := binary.LittleEndian.Uint32(hdr[8:])
	if v != indexFileVersion && v != indexFileNoVectors {
		return nil, fmt.Errorf("cannot read index file: version %d, this build reads %d and %d", v, indexFileVersion, indexFileNoVectors)
	}
	f := &indexFile{seq: binary.LittleEndian.Uint64(hdr[12:]), vectors: v == indexFileVersion}
	if dim := binary.LittleEndian.Uint32(hdr[20:]); int(dim) != sp.dim {
		return nil, fmt.Errorf("cannot use index file: dimension %d, configured %d", dim, sp.dim)
	}
	str := func() (string, error) {
		l, err := rd(2)
		if err != nil {
			return "", err
		}
		b, err := rd(int(binary.LittleEndian.Uint16(l)))
		return string(b), err
	}
	name, err := str()
	if err != nil {
		return nil, err
	}
	dist, err := str()
	if err != nil {
		return nil, err
	}
	if name != sp.name || dist != string(sp.dist) {
		return nil, fmt.Errorf("cannot use index file: vector %q/%s, configured %q/%s", name, dist, sp.name, sp.dist)
	}
	if f.seq > lastSeq {
		return nil, fmt.Errorf("cannot use index file: covers sequence %d, store is at %d", f.seq, lastSeq)
	}
	tail, err := rd(5)
	if err != nil {
		return nil, err
	}
	f.n = binary.LittleEndian.Uint32(tail)
	hasGraph := tail[4]&1 != 0
	st, err := sp.newStore()
	if err != nil {
		return nil, err
	}
	f.store = st
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	if f.vectors {
		f.store.Grow(int(f.n))
		vec := make([]float32, sp.dim)
		raw := make([]byte, 4*sp.dim)
		for off := range f.n {
			if _, err := io.ReadFull(r, raw); err != nil {
				return nil, fmt.Errorf("cannot read index file vectors: %w", err)
			}
			for i := range vec {
				vec[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
			f.store.Set(off, vec)
		}
	} else {
		// The graph refers to offsets below n; Open fills their vectors
		// from the point records before anything reads them.
		f.store.Extend(int(f.n))
	}
	if hasGraph {
		l, err := rd(8)
		if err != nil {
			return nil, err
		}
		glen := int64(binary.LittleEndian.Uint64(l))
		lr := io.LimitReader(r, glen)
		g, err := hnsw.Load(lr, sp.graphOptions(), f.store)
		if err != nil {
			return nil, fmt.Errorf("cannot load HNSW graph: %w", err)
		}
		sp.checkGraphFile(g)
		if _, err := io.Copy(io.Discard, lr); err != nil {
			return nil, fmt.Errorf("cannot read index file graph: %w", err)
		}
		f.graph = g
	}
	sum := crc.Sum32()
	var trailer [4]byte
	if _, err := io.ReadFull(br, trailer[:]); err != nil {
		return nil, fmt.Errorf("cannot read index file checksum: %w", err)
	}
	if got := binary.LittleEndian.Uint32(trailer[:]); got != sum {
		return nil, fmt.Errorf("cannot use index file: checksum %08x, computed %08x", got, sum)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return nil, fmt.Errorf("cannot use index file: trailing bytes after checksum")
	}
	return f, nil
}

// writeIndexFile writes sp's store (unless !vectors) and graph into path
// atomically, tagged with seq.
//
// A turbo4 space never writes its vectors: the file would hold their
// decoded approximations, and encoding those again at Open need not give
// the codes the original vectors gave (a replica that restarted would
// then hold other codes than one that did not, and their digests would
// differ). Open encodes the original vectors of the point records instead.
func writeIndexFile(path string, sp *space, g *hnsw.Graph, seq uint64, sync, vectors bool) error {
	vectors = vectors && sp.dtype != index.Turbo4
	var gbuf bytes.Buffer
	if g != nil {
		if _, err := g.WriteTo(&gbuf); err != nil {
			return fmt.Errorf("cannot write HNSW graph: %w", err)
		}
	}
	// Taken after the graph image: every node in it was set in the store
	// before being inserted, so n covers the whole graph. Vectors below n
	// never change (offsets are immutable), so reading them while writers
	// set higher offsets is safe.
	n := uint32(sp.store.Len())
	write := durable.WriteFileFunc
	if !sync {
		write = writeFileNoSync
	}
	return write(path, 0o644, func(w io.Writer) error {
		crc := crc32.New(castagnoli)
		bw := bufio.NewWriterSize(w, 1<<20)
		mw := io.MultiWriter(bw, crc)
		h := make([]byte, 0, 64)
		h = append(h, indexFileMagic...)
		if vectors {
			h = binary.LittleEndian.AppendUint32(h, indexFileVersion)
		} else {
			h = binary.LittleEndian.AppendUint32(h, indexFileNoVectors)
		}
		h = binary.LittleEndian.AppendUint64(h, seq)
		h = binary.LittleEndian.AppendUint32(h, uint32(sp.dim))
		h = binary.LittleEndian.AppendUint16(h, uint16(len(sp.name)))
		h = append(h, sp.name...)
		h = binary.LittleEndian.AppendUint16(h, uint16(len(sp.dist)))
		h = append(h, sp.dist...)
		h = binary.LittleEndian.AppendUint32(h, n)
		flags := byte(0)
		if g != nil {
			flags |= 1
		}
		h = append(h, flags)
		if _, err := mw.Write(h); err != nil {
			return err
		}
		if vectors {
			if err := sp.store.WriteVectors(mw, n); err != nil {
				return err
			}
		}
		if g != nil {
			var l [8]byte
			binary.LittleEndian.PutUint64(l[:], uint64(gbuf.Len()))
			if _, err := mw.Write(l[:]); err != nil {
				return err
			}
			if _, err := mw.Write(gbuf.Bytes()); err != nil {
				return err
			}
		}
		var t [4]byte
		binary.LittleEndian.PutUint32(t[:], crc.Sum32())
		if _, err := bw.Write(t[:]); err != nil {
			return err
		}
		return bw.Flush()
	})
}

// persist writes the index files of every space into dir/index, tagged with
// the current sequence. Unless force, it does nothing when the files in
// dir are already up to date.
func (s *Shard) persist(ctx context.Context, dir string, force bool) error {
	s.persistMu.Lock()
	defer s.persistMu.Unlock()
	seq := s.LastSeq()
	s.mu.RLock()
	dirty := false
	for _, sp := range s.spaces {
		dirty = dirty || sp.dirty.Load()
	}
	s.mu.RUnlock()
	if !force && dir == s.opts.Dir && seq == s.persistedAt && s.persistedOK && !dirty {
		return nil
	}
	if dir == s.opts.Dir {
		// Cleared before the images are taken: a change racing with the
		// write sets it again and is persisted next time.
		for _, sp := range s.spaces {
			sp.dirty.Store(false)
		}
	}
	if err := s.writeIndexFiles(ctx, dir, seq, true, true); err != nil {
		return err
	}
	if dir == s.opts.Dir {
		s.persistedAt, s.persistedOK = seq, true
	}
	return nil
}

// writeIndexFiles writes the index files into dir/index for seq and removes
// files of vector names no longer configured.
//
// Unless sync, nothing is fsynced: for a checkpoint that is read once
// into an archive and removed (a crash leaves only scratch to remove), the
// files then usually never reach the disk at all.
//
// Unless vectors, the files leave the vectors out (version 2): the
// checkpoint's point records hold every live vector, so an archive or a
// transfer would carry each one twice. The copy's Open reads them from
// its store instead (slower than from the file, but the bytes sent are
// about halved), and its own persister writes full files later.
func (s *Shard) writeIndexFiles(ctx context.Context, dir string, seq uint64, sync, vectors bool) error {
	idir := filepath.Join(dir, indexDirName)
	if err := os.MkdirAll(idir, 0o755); err != nil {
		return fmt.Errorf("cannot create index directory: %w", err)
	}
	s.mu.RLock()
	spaces := s.sortedSpaces()
	graphs := make([]*hnsw.Graph, len(spaces))
	for i, sp := range spaces {
		graphs[i] = sp.graph.Load()
	}
	s.mu.RUnlock()
	keep := map[string]bool{}
	for i, sp := range spaces {
		if err := ctx.Err(); err != nil {
			return err
		}
		name := indexFileName(sp.name)
		keep[name] = true
		if err := writeIndexFile(filepath.Join(idir, name), sp, graphs[i], seq, sync, vectors); err != nil {
			return fmt.Errorf("cannot persist index of vector %q: %w", sp.name, err)
		}
	}
	entries, err := os.ReadDir(idir)
	if err != nil {
		return fmt.Errorf("cannot list index directory: %w", err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), indexFileSuffix) && !keep[e.Name()] {
			os.Remove(filepath.Join(idir, e.Name()))
		}
	}
	if !sync {
		return nil
	}
	return durable.SyncDir(idir)
}

// writeFileNoSync writes path through write, without fsync (see
// writeIndexFiles).
func writeFileNoSync(path string, perm os.FileMode, write func(w io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return fmt.Errorf("cannot create %s: %w", path, err)
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	return f.Close()
}
