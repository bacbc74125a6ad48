package durable

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// dirtyPages returns how many pages of f the page cache holds dirty or
// under writeback (cachestat, Linux 6.5).
func dirtyPages(t *testing.T, f *os.File) uint64 {
	t.Helper()
	var st unix.Cachestat_t
	err := unix.Cachestat(uint(f.Fd()), &unix.CachestatRange{}, &st, 0)
	if errors.Is(err, unix.ENOSYS) {
		t.Skip("the kernel has no cachestat (Linux 6.5)")
	}
	if err != nil {
		t.Fatal(err)
	}
	return st.Dirty
}

// TestWritebackWriterBoundsDirtyPages writes 10 chunks through a
// WritebackWriter and, as the control, through the file alone: the
// WritebackWriter's file has at most its last two chunks dirty (the one
// whose writeback it started last and the bytes written since), the plain
// file nearly all of them.
func TestWritebackWriterBoundsDirtyPages(t *testing.T) {
	dir := t.TempDir()
	chunk := bytes.Repeat([]byte{7}, 1<<20)
	const total = 10*WritebackChunk + 1<<20
	write := func(name string, wb bool) *os.File {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		var w io.Writer = f
		if wb {
			w = NewWritebackWriter(f, f, 0)
		}
		for n := 0; n < total; n += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				t.Fatal(err)
			}
		}
		return f
	}
	page := uint64(os.Getpagesize())
	plain := dirtyPages(t, write("plain", false))
	if plain*page < total/2 {
		t.Skipf("the file system keeps only %d of %d bytes dirty without help (tmpfs, or writeback already under way): nothing to compare", plain*page, total)
	}
	f := write("paced", true)
	if got, limit := dirtyPages(t, f), uint64(2*WritebackChunk+1<<20)/page; got > limit {
		t.Fatalf("%d pages dirty after writing %d bytes through a WritebackWriter, want at most %d (the plain file had %d)", got, total, limit, plain)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != total || !bytes.Equal(got[:len(chunk)], chunk) || !bytes.Equal(got[len(got)-len(chunk):], chunk) {
		t.Fatalf("file holds %d bytes, want %d of the chunk's", len(got), total)
	}
}

// TestWritebackWriterTruncated checks that writing on after a truncation
// lands where the file continues and still starts writeback.
func TestWritebackWriterTruncated(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := NewWritebackWriter(f, f, 0)
	a := bytes.Repeat([]byte{1}, 3*WritebackChunk)
	if _, err := w.Write(a); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(WritebackChunk / 2); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(WritebackChunk/2, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	w.Truncated(WritebackChunk / 2)
	b := bytes.Repeat([]byte{2}, 2*WritebackChunk)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if w.started != WritebackChunk/2+2*WritebackChunk {
		t.Fatalf("writeback started up to %d, want %d", w.started, WritebackChunk/2+2*WritebackChunk)
	}
	got, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	want := append(append([]byte{}, a[:WritebackChunk/2]...), b...)
	if !bytes.Equal(got, want) {
		t.Fatalf("file holds %d bytes, want %d", len(got), len(want))
	}
}
