package index

import (
	"fmt"
	"io"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fileBacking maps the chunks of a Store from one unlinked file (on_disk
// vectors): the vectors live in the page cache, which the kernel may
// evict, instead of the Go heap. The file is a cache of the shard's
// durable store, never read back after a restart: it is created afresh,
// unlinked at once (so nothing is left behind by a crash) and freed when
// the store is closed.
//
// Writes go through pwrite, not the mapping, so filling the store does not
// fault its pages into the process's resident set; reads go through the
// mapping. Each chunk's blocks are allocated (fallocate) when it is mapped,
// so a write never meets a full disk (a mapped write would then SIGBUS).
type fileBacking struct {
	f      *os.File
	size   int      // bytes per chunk
	stride int      // bytes per chunk in the file: size rounded up to the page size (mappings start at page boundaries)
	mapped [][]byte // every chunk mapping, released ones included
	closed bool
}

// NewFileStore returns an empty store of float32 vectors whose vectors are
// kept in a memory-mapped temporary file in dir instead of the heap (see
// Store for the concurrency rules, which are the same). Close releases the
// file.
func NewFileStore(dim int, dir string) (*Store, error) { return NewTypedFileStore(dim, Float32, dir) }

// NewTypedFileStore is NewFileStore for vectors of element type dt.
func NewTypedFileStore(dim int, dt Datatype, dir string) (*Store, error) {
	s := NewTypedStore(dim, dt)
	f, err := os.CreateTemp(dir, ".vectors-*.f32")
	if err != nil {
		return nil, fmt.Errorf("cannot create vector file: %w", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot unlink vector file: %w", err)
	}
	size := chunkLen * s.vbytes
	page := os.Getpagesize()
	s.file = &fileBacking{f: f, size: size, stride: (size + page - 1) / page * page}
	return s, nil
}

// mapChunk allocates and maps chunk i. It panics when the file system
// cannot hold the chunk or the mapping fails: Set and growth have no error
// path (the shard's free-space guard keeps a reserve for this).
func (b *fileBacking) mapChunk(i int) []byte {
	off := int64(i) * int64(b.stride)
	if err := unix.Fallocate(int(b.f.Fd()), 0, off, int64(b.size)); err != nil {
		panic(fmt.Sprintf("index: cannot allocate vector file chunk %d: %v", i, err))
	}
	p, err := unix.MmapPtr(int(b.f.Fd()), off, nil, uintptr(b.size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		panic(fmt.Sprintf("index: cannot map vector file chunk %d: %v", i, err))
	}
	m := unsafe.Slice((*byte)(p), b.size)
	// Searches read scattered vectors: no readahead or fault-around, so
	// the resident set holds the pages read, not their neighbours.
	_ = unix.Madvise(m, unix.MADV_RANDOM)
	b.mapped = append(b.mapped, m)
	return m
}

// write stores the encoded vector raw at byte offset off of the file.
func (b *fileBacking) write(off int64, raw []byte) {
	if _, err := b.f.WriteAt(raw, off); err != nil {
		panic(fmt.Sprintf("index: cannot write vector file: %v", err))
	}
}

// pos returns the byte offset in the file of the vector at off, of vbytes
// bytes.
func (b *fileBacking) pos(off uint32, vbytes int) int64 {
	return int64(off>>chunkShift)*int64(b.stride) + int64(off&(chunkLen-1))*int64(vbytes)
}

// release frees the blocks (and page cache) of chunk c; its mapping stays
// valid and reads zeros.
func (b *fileBacking) release(c int) {
	_ = unix.Fallocate(int(b.f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, int64(c)*int64(b.stride), int64(b.size))
}

// OnDisk reports whether the store keeps its vectors in a mapped file.
func (s *Store) OnDisk() bool { return s.file != nil }

// DropResident drops the store's mapped pages from the process's resident
// set after a bulk pass over them (the pages stay in the page cache, so
// later reads fault them back in cheaply). It does nothing for a heap
// store.
func (s *Store) DropResident() {
	s.growMu.Lock()
	defer s.growMu.Unlock()
	if s.file == nil || s.file.closed {
		return
	}
	for _, m := range s.file.mapped {
		_ = unix.Madvise(m, unix.MADV_DONTNEED)
	}
}

// WriteVectors writes the vectors of offsets below n to w as
// little-endian float32s (whatever the store's datatype), reading a file
// store through the file rather than the mapping (so a persist does not
// fault every page in).
func (s *Store) WriteVectors(w io.Writer, n uint32) error {
	if s.file != nil && s.dt == Float32 && s.file.stride == s.file.size {
		_, err := io.Copy(w, io.NewSectionReader(s.file.f, 0, int64(n)*int64(s.dim)*4))
		return err
	}
	return s.writeVectors(w, n, func(off uint32, raw []byte) []byte {
		if s.file != nil {
			if _, err := s.file.f.ReadAt(raw, s.file.pos(off, s.vbytes)); err == nil {
				return raw
			}
		}
		return s.Raw(off)
	})
}

// ReadInto returns the vector at off like Decode, but a file store reads it
// with pread into dst (len ≥ Dim) instead of through the mapping: for
// scattered reads of a few vectors (rescoring) that keeps the pages out of
// the process's resident set, which a mapped read would fault in together
// with their neighbours (the kernel's fault-around). A heap store returns
// Decode(off, dst).
func (s *Store) ReadInto(off uint32, dst []float32) []float32 {
	b := s.file
	if b == nil {
		return s.Decode(off, dst)
	}
	var stack [4 * 256]byte
	buf := stack[:]
	if n := s.vbytes; n > len(buf) {
		buf = make([]byte, n)
	} else {
		buf = buf[:n]
	}
	if _, err := b.f.ReadAt(buf, b.pos(off, s.vbytes)); err != nil {
		return s.Decode(off, dst) // closed or short: the mapping answers (zeros once closed)
	}
	return decodeLE(s.dt, dst[:s.dim], buf)
}

// Close releases a file store's file: every mapping is replaced by
// anonymous zero pages (a reader still holding a vector of it reads zeros
// instead of faulting; the address space is given back only at exit) and
// the file is closed, which frees its blocks. A heap store needs no Close;
// Close on it does nothing. No Set may follow Close.
func (s *Store) Close() error {
	s.growMu.Lock()
	defer s.growMu.Unlock()
	b := s.file
	if b == nil || b.closed {
		return nil
	}
	b.closed = true
	for _, m := range b.mapped {
		if _, err := unix.MmapPtr(-1, 0, unsafe.Pointer(&m[0]), uintptr(len(m)), unix.PROT_READ,
			unix.MAP_FIXED|unix.MAP_PRIVATE|unix.MAP_ANONYMOUS); err != nil {
			return fmt.Errorf("cannot unmap vector file: %w", err)
		}
	}
	return b.f.Close()
}
