package index

import (
	"fmt"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// MapFile is a cache file of equal-sized chunks, each mapped shared at its
// own page-aligned offset, so that adding a chunk never moves the data of
// another: the data lives in the page cache, which the kernel may write
// back and evict, instead of the Go heap. It backs on_disk vector stores
// (NewFileStore) and on_disk HNSW graphs.
//
// The file is never read back after a restart: it is created afresh,
// unlinked at once (nothing is left behind by a crash, and nothing else can
// open it) and its blocks are freed when it is closed. Each chunk's blocks
// are allocated (fallocate) when it is mapped, so a store through the
// mapping never meets a full disk, which would raise SIGBUS.
//
// All methods are safe for concurrent use.
type MapFile struct {
	f      *os.File
	size   int // bytes per chunk
	stride int // bytes per chunk in the file: size rounded up to the page size
	prot   int

	mu     sync.Mutex     // guards the fields below
	mapped map[int][]byte // every chunk mapping, by chunk
	closed bool
}

// NewMapFile creates an unlinked file in dir (its name, while it has one,
// matches pattern as in os.CreateTemp) whose chunks hold chunkBytes each;
// with writable the mappings may be written, otherwise only read (the
// file is then written with WriteAt).
func NewMapFile(dir, pattern string, chunkBytes int, writable bool) (*MapFile, error) {
	if chunkBytes <= 0 {
		return nil, fmt.Errorf("cannot create mapped file: chunk of %d bytes", chunkBytes)
	}
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, fmt.Errorf("cannot create mapped file: %w", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot unlink mapped file: %w", err)
	}
	page := os.Getpagesize()
	prot := unix.PROT_READ
	if writable {
		prot |= unix.PROT_WRITE
	}
	return &MapFile{f: f, size: chunkBytes, stride: (chunkBytes + page - 1) / page * page, prot: prot, mapped: map[int][]byte{}}, nil
}

// Map allocates chunk i and returns its mapping, of the chunk size: it
// holds what was written to the chunk before (through a mapping or with
// WriteAt) and zeros elsewhere, and after Release only zeros. Mapping a
// chunk again allocates its blocks again (after a Release) and returns
// the same mapping. Searches read scattered chunk data, so the mapping is
// advised MADV_RANDOM (no readahead).
func (m *MapFile) Map(i int) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("cannot map chunk %d: %w", i, os.ErrClosed)
	}
	off := int64(i) * int64(m.stride)
	if err := unix.Fallocate(int(m.f.Fd()), 0, off, int64(m.size)); err != nil {
		return nil, fmt.Errorf("cannot allocate chunk %d of mapped file: %w", i, err)
	}
	if b, ok := m.mapped[i]; ok {
		return b, nil
	}
	p, err := unix.MmapPtr(int(m.f.Fd()), off, nil, uintptr(m.size), m.prot, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("cannot map chunk %d of mapped file: %w", i, err)
	}
	b := unsafe.Slice((*byte)(p), m.size)
	_ = unix.Madvise(b, unix.MADV_RANDOM)
	m.mapped[i] = b
	return b, nil
}

// Pos returns the file offset of byte j of chunk i.
func (m *MapFile) Pos(i, j int) int64 { return int64(i)*int64(m.stride) + int64(j) }

// WriteAt writes b at file offset off (Pos), not through the mapping, so
// that the pages written do not enter the process's resident set.
func (m *MapFile) WriteAt(b []byte, off int64) (int, error) { return m.f.WriteAt(b, off) }

// ReadAt reads into b from file offset off (Pos), not through the mapping.
func (m *MapFile) ReadAt(b []byte, off int64) (int, error) { return m.f.ReadAt(b, off) }

// Contiguous reports whether the chunks follow each other in the file
// without padding (the chunk size is a multiple of the page size), so
// that the file's first n bytes are the first n bytes of the chunks'
// data.
func (m *MapFile) Contiguous() bool { return m.stride == m.size }

// File returns the file for sequential reads (io.NewSectionReader).
func (m *MapFile) File() *os.File { return m.f }

// Release frees the blocks and cached pages of chunk i; its mapping stays
// valid and reads zeros. After Close it does nothing (it may run from a
// cleanup while the owner closes the file, and the descriptor's number
// may belong to another file by then).
func (m *MapFile) Release(i int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	_ = unix.Fallocate(int(m.f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, int64(i)*int64(m.stride), int64(m.size))
}

// DropResident drops the mapped pages from the process's resident set
// (MADV_DONTNEED). The data stays in the page cache (and the file), so
// later reads fault it back in cheaply; written pages are kept.
func (m *MapFile) DropResident() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	for _, b := range m.mapped {
		_ = unix.Madvise(b, unix.MADV_DONTNEED)
	}
}

// Closed reports whether Close was called.
func (m *MapFile) Closed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

// Close releases the file: every mapping is replaced by private anonymous
// zero pages with the same protection (a reader still holding a slice of
// it reads zeros instead of faulting, and a writable one's late writes
// land in private pages; the address space is given back only at exit)
// and the file is closed, which frees its blocks. Map fails after Close;
// Close twice does nothing.
func (m *MapFile) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	for _, b := range m.mapped {
		if _, err := unix.MmapPtr(-1, 0, unsafe.Pointer(&b[0]), uintptr(len(b)), m.prot,
			unix.MAP_FIXED|unix.MAP_PRIVATE|unix.MAP_ANONYMOUS); err != nil {
			return fmt.Errorf("cannot unmap mapped file: %w", err)
		}
	}
	return m.f.Close()
}
