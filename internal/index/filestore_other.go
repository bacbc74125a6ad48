//go:build !linux

package index

import (
	"encoding/binary"
	"errors"
	"io"
	"math"
)

type fileBacking struct{}

func (b *fileBacking) mapChunk(i int) []float32       { panic("unreachable") }
func (b *fileBacking) write(off int64, vec []float32) { panic("unreachable") }
func (b *fileBacking) release(c int)                  {}

// NewFileStore is supported on Linux only.
func NewFileStore(dim int, dir string) (*Store, error) {
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
	buf := make([]byte, 0, 4*s.dim*64)
	for off := range n {
		for _, x := range s.Get(off) {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(x))
		}
		if len(buf)+4*s.dim > cap(buf) || off == n-1 {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	return nil
}

// ReadInto returns Get(off).
func (s *Store) ReadInto(off uint32, dst []float32) []float32 { return s.Get(off) }
