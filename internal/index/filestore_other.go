//go:build !linux

package index

import (
	"errors"
	"io"
)

type fileBacking struct{}

func (b *fileBacking) mapChunk(i int) []byte            { panic("unreachable") }
func (b *fileBacking) write(off int64, raw []byte)      { panic("unreachable") }
func (b *fileBacking) release(c int)                    {}
func (b *fileBacking) pos(off uint32, vbytes int) int64 { panic("unreachable") }

// NewFileStore is supported on Linux only.
func NewFileStore(dim int, dir string) (*Store, error) { return NewTypedFileStore(dim, Float32, dir) }

// NewTypedFileStore is supported on Linux only.
func NewTypedFileStore(dim int, dt Datatype, dir string) (*Store, error) {
	return nil, errors.New("on_disk vectors are supported on Linux only")
}

// OnDisk reports whether the store keeps its vectors in a mapped file.
func (s *Store) OnDisk() bool { return false }

// DropResident does nothing on this platform.
func (s *Store) DropResident() {}

// Close does nothing on this platform.
func (s *Store) Close() error { return nil }

// WriteVectors writes the vectors of offsets below n to w as
// little-endian float32s.
func (s *Store) WriteVectors(w io.Writer, n uint32) error {
	return s.writeVectors(w, n, func(off uint32, _ []byte) []byte { return s.Raw(off) })
}

// ReadInto returns Decode(off, dst).
func (s *Store) ReadInto(off uint32, dst []float32) []float32 { return s.Decode(off, dst) }
