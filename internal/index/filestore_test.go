//go:build linux

package index

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"testing"
)

// TestFileStore: a file store reads back what was set (across chunk
// growth), writes its vectors like a heap store, releases chunks to zeros,
// leaves no file in its directory, and reads zeros after Close.
func TestFileStore(t *testing.T) {
	dir := t.TempDir()
	fs, err := NewFileStore(5, dir)
	if err != nil {
		t.Fatal(err)
	}
	hs := NewStore(5)
	if !fs.OnDisk() || hs.OnDisk() {
		t.Fatal("OnDisk")
	}
	const n = 3*ChunkLen + 7
	for off := range uint32(n) {
		v := []float32{float32(off), 1, 2, 3, float32(-int(off))}
		fs.Set(off, v)
		hs.Set(off, v)
	}
	for off := range uint32(n) {
		if got := fs.Get(off); got[0] != float32(off) || got[4] != float32(-int(off)) || got[2] != 2 {
			t.Fatalf("Get(%d) = %v", off, got)
		}
	}
	buf := make([]float32, 5)
	if got := fs.ReadInto(77, buf); got[0] != 77 || got[4] != -77 || &got[0] != &buf[0] {
		t.Fatalf("ReadInto(77) = %v", got)
	}
	if got := hs.ReadInto(77, buf); got[0] != 77 {
		t.Fatalf("heap ReadInto(77) = %v", got)
	}
	fs.DropResident()
	if got := fs.View().Get(n - 1); got[0] != n-1 {
		t.Fatalf("after DropResident: %v", got)
	}
	var fb, hb bytes.Buffer
	if err := fs.WriteVectors(&fb, n); err != nil {
		t.Fatal(err)
	}
	if err := hs.WriteVectors(&hb, n); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fb.Bytes(), hb.Bytes()) {
		t.Fatal("WriteVectors differ between file and heap stores")
	}
	if got := math.Float32frombits(binary.LittleEndian.Uint32(fb.Bytes()[4*5*9:])); got != 9 {
		t.Fatalf("vector 9 written as %v", got)
	}
	if fs.Bytes() != 0 {
		t.Fatalf("file store reports %d heap bytes", fs.Bytes())
	}
	held := fs.Get(ChunkLen + 1)
	if !fs.ReleaseChunk(1) || fs.Get(ChunkLen + 1)[0] != 0 {
		t.Fatal("released chunk")
	}
	if held[0] != 0 { // the hole reads zeros through the old mapping too
		t.Fatalf("held vector of a released chunk reads %v", held)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("files left in the directory: %v", ents)
	}
	last := fs.Get(2 * ChunkLen)
	if err := fs.Close(); err != nil {
		t.Fatal(err)
	}
	if last[0] != 0 || last[1] != 0 {
		t.Fatalf("vector held across Close reads %v", last)
	}
}
