//go:build !linux

package index

import (
	"errors"
	"os"
)

// MapFile is supported on Linux only: NewMapFile fails elsewhere, and the
// callers keep their data on the heap instead (on_disk vectors are
// refused; an on_disk HNSW graph stays on the heap).
type MapFile struct{}

// NewMapFile fails on this platform.
func NewMapFile(dir, pattern string, chunkBytes int, writable bool) (*MapFile, error) {
	return nil, errors.New("memory-mapped files are supported on Linux only")
}

// Map fails on this platform.
func (m *MapFile) Map(i int) ([]byte, error) { return nil, errors.ErrUnsupported }

// Pos returns 0 on this platform.
func (m *MapFile) Pos(i, j int) int64 { return 0 }

// WriteAt fails on this platform.
func (m *MapFile) WriteAt(b []byte, off int64) (int, error) { return 0, errors.ErrUnsupported }

// ReadAt fails on this platform.
func (m *MapFile) ReadAt(b []byte, off int64) (int, error) { return 0, errors.ErrUnsupported }

// Contiguous reports false on this platform.
func (m *MapFile) Contiguous() bool { return false }

// File returns nil on this platform.
func (m *MapFile) File() *os.File { return nil }

// Release does nothing on this platform.
func (m *MapFile) Release(i int) {}

// DropResident does nothing on this platform.
func (m *MapFile) DropResident() {}

// Closed reports true on this platform.
func (m *MapFile) Closed() bool { return true }

// Close does nothing on this platform.
func (m *MapFile) Close() error { return nil }
