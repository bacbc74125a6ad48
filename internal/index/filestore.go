package index

import (
	"fmt"
	"io"
)

// A file store (on_disk vectors) keeps its chunks in a MapFile instead of
// the heap: the vectors live in the page cache, which the kernel may
// evict. The file is a cache of the shard's durable store, never read
// back after a restart (see MapFile).
//
// Writes go through pwrite, not the mapping, so filling the store does not
// fault its pages into the process's resident set; reads go through the
// mapping (or pread, ReadInto). A chunk's blocks are allocated when it is
// mapped, so a write never meets a full disk.

// NewFileStore returns an empty store of float32 vectors whose vectors are
// kept in a memory-mapped temporary file in dir instead of the heap (see
// Store for the concurrency rules, which are the same). Close releases the
// file. It fails on platforms other than Linux (NewMapFile).
func NewFileStore(dim int, dir string) (*Store, error) { return NewTypedFileStore(dim, Float32, dir) }

// NewTypedFileStore is NewFileStore for vectors of element type dt.
func NewTypedFileStore(dim int, dt Datatype, dir string) (*Store, error) {
	s := NewTypedStore(dim, dt)
	f, err := NewMapFile(dir, ".vectors-*.f32", chunkLen*s.vbytes, false)
	if err != nil {
		return nil, fmt.Errorf("cannot create vector file: %w", err)
	}
	s.file = f
	return s, nil
}

// mapChunk maps chunk i of the store's file. It panics when the file
// system cannot hold the chunk or the mapping fails: Set and growth have
// no error path (the shard's free-space guard keeps a reserve for this).
func (s *Store) mapChunk(i int) []byte {
	b, err := s.file.Map(i)
	if err != nil {
		panic(fmt.Sprintf("index: %v", err))
	}
	return b
}

// filePos returns the byte offset in the file of the vector at off.
func (s *Store) filePos(off uint32) int64 {
	return s.file.Pos(int(off>>chunkShift), int(off&(chunkLen-1))*s.vbytes)
}

// fileWrite stores the encoded vector raw of off in the file.
func (s *Store) fileWrite(off uint32, raw []byte) {
	if _, err := s.file.WriteAt(raw, s.filePos(off)); err != nil {
		panic(fmt.Sprintf("index: cannot write vector file: %v", err))
	}
}

// OnDisk reports whether the store keeps its vectors in a mapped file.
func (s *Store) OnDisk() bool { return s.file != nil }

// DropResident drops the store's mapped pages from the process's resident
// set after a bulk pass over them (the pages stay in the page cache, so
// later reads fault them back in cheaply). It does nothing for a heap
// store.
func (s *Store) DropResident() {
	if s.file != nil {
		s.file.DropResident()
	}
}

// WriteVectors writes the vectors of offsets below n to w as
// little-endian float32s (whatever the store's datatype), reading a file
// store through the file rather than the mapping (so a persist does not
// fault every page in).
func (s *Store) WriteVectors(w io.Writer, n uint32) error {
	if s.file != nil && s.dt == Float32 && s.file.Contiguous() {
		_, err := io.Copy(w, io.NewSectionReader(s.file.File(), 0, int64(n)*int64(s.dim)*4))
		return err
	}
	return s.writeVectors(w, n, func(off uint32, raw []byte) []byte {
		if s.file != nil {
			if _, err := s.file.ReadAt(raw, s.filePos(off)); err == nil {
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
	if s.file == nil {
		return s.Decode(off, dst)
	}
	var stack [4 * 256]byte
	buf := stack[:]
	if n := s.vbytes; n > len(buf) {
		buf = make([]byte, n)
	} else {
		buf = buf[:n]
	}
	if _, err := s.file.ReadAt(buf, s.filePos(off)); err != nil {
		return s.Decode(off, dst) // closed or short: the mapping answers (zeros once closed)
	}
	return decodeLE(s.dt, dst[:s.dim], buf)
}

// Close releases a file store's file (MapFile.Close: a reader still
// holding a vector of it reads zeros). A heap store needs no Close; Close
// on it does nothing. No Set may follow Close.
func (s *Store) Close() error {
	if s.file == nil {
		return nil
	}
	return s.file.Close()
}
