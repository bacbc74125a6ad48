package snapshot

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/shoal-db/shoal/internal/durable"
)

// streamWriter writes an archive whose manifest is known only at the end
// (a cluster archive: each shard's size and hash are known once it has
// arrived) straight into its final file, so that nothing is written twice.
// The manifest entry comes first with a reserved length; each file entry is
// written with a placeholder header, streamed through one hashing pass, and
// its header rewritten in place with the real size; finish writes the
// manifest into its reserved place (padded with spaces, which JSON
// ignores). File headers use the GNU tar format, whose size field holds
// any size in the same 512 bytes, so a rewritten header never changes
// length. Readers see an ordinary archive (docs/format/snapshot.md).
type streamWriter struct {
	f     *os.File
	w     *durable.WritebackWriter // f, paced, its writeback kept going
	off   int64                    // bytes written to f so far
	mtime time.Time
	// manData and manLen locate the manifest's reserved bytes.
	manData, manLen int64
	// yield, when not nil, is called after each write and each buffer
	// read back (WriteArchive).
	yield func() error
}

// newStreamWriter starts an archive in f (empty) with reserve bytes kept
// for the manifest; w is f, possibly paced; yield may be nil.
func newStreamWriter(f *os.File, w io.Writer, mtime time.Time, reserve int64, yield func() error) (*streamWriter, error) {
	s := &streamWriter{f: f, w: durable.NewWritebackWriter(f, w, 0), mtime: mtime.UTC().Truncate(time.Second), manLen: reserve, yield: yield}
	h, err := s.header(&tar.Header{Typeflag: tar.TypeReg, Name: ManifestName, Size: reserve, Mode: 0o644, Format: tar.FormatPAX})
	if err != nil {
		return nil, err
	}
	if err := s.write(h); err != nil {
		return nil, err
	}
	s.manData = s.off
	if err := s.write(bytes.Repeat([]byte{' '}, int(reserve))); err != nil {
		return nil, err
	}
	return s, s.pad(reserve)
}

// header encodes one tar header (with any extension records it needs).
func (s *streamWriter) header(h *tar.Header) ([]byte, error) {
	h.ModTime = s.mtime
	var b bytes.Buffer
	if err := tar.NewWriter(&b).WriteHeader(h); err != nil {
		return nil, fmt.Errorf("cannot write snapshot entry %s: %w", h.Name, err)
	}
	return b.Bytes(), nil
}

func (s *streamWriter) write(b []byte) error {
	n, err := s.w.Write(b)
	s.off += int64(n)
	if err != nil {
		return fmt.Errorf("cannot write snapshot archive: %w", err)
	}
	if s.yield != nil {
		return s.yield()
	}
	return nil
}

// pad writes the zeros that end an entry of size bytes on a block.
func (s *streamWriter) pad(size int64) error {
	if n := -size & 511; n > 0 {
		return s.write(make([]byte, n))
	}
	return nil
}

// dir writes a directory entry.
func (s *streamWriter) dir(name string) error {
	h, err := s.header(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755, Format: tar.FormatPAX})
	if err != nil {
		return err
	}
	return s.write(h)
}

// mark returns the current end of the archive, for truncate.
func (s *streamWriter) mark() int64 { return s.off }

// truncate drops every entry written after mark.
func (s *streamWriter) truncate(mark int64) error {
	if err := s.f.Truncate(mark); err != nil {
		return fmt.Errorf("cannot truncate snapshot archive: %w", err)
	}
	if _, err := s.f.Seek(mark, io.SeekStart); err != nil {
		return fmt.Errorf("cannot truncate snapshot archive: %w", err)
	}
	s.off = mark
	s.w.Truncated(mark)
	return nil
}

// EntryWriter receives the content of one archive entry as it is
// produced. Reset discards what was written so far (an entry fetched from
// another source starts over).
type EntryWriter interface {
	io.Writer
	Reset() error
	// Written reads back what was written so far.
	Written() io.Reader
}

// entryWriter streams one file entry, hashing and counting it.
type entryWriter struct {
	s     *streamWriter
	start int64 // offset of the entry's data
	hw    *HashingWriter
}

func (e *entryWriter) Write(p []byte) (int, error) { return e.hw.Write(p) }

func (e *entryWriter) Reset() error {
	if err := e.s.truncate(e.start); err != nil {
		return err
	}
	e.hw = NewHashingWriter(writerFunc(e.s.write))
	return nil
}

// writerFunc adapts streamWriter.write to io.Writer.
type writerFunc func([]byte) error

func (f writerFunc) Write(p []byte) (int, error) {
	if err := f(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// file writes the entry name with the content fill writes (fill may Reset
// it to start over) and returns its size and SHA-256, hashed as it passed.
// On an error the archive ends where the entry began.
func (s *streamWriter) file(name string, fill func(w EntryWriter) error) (FileEntry, error) {
	hdrAt := s.off
	hdr := func(size int64) ([]byte, error) {
		return s.header(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644, Format: tar.FormatGNU})
	}
	placeholder, err := hdr(0)
	if err != nil {
		return FileEntry{}, err
	}
	if err := s.write(placeholder); err != nil {
		return FileEntry{}, err
	}
	e := &entryWriter{s: s, start: s.off}
	e.hw = NewHashingWriter(writerFunc(s.write))
	if err := fill(e); err != nil {
		return FileEntry{}, fmt.Errorf("%w%s", err, s.undo(hdrAt))
	}
	size := e.hw.Size()
	if err := s.pad(size); err != nil {
		return FileEntry{}, err
	}
	real, err := hdr(size)
	if err != nil {
		return FileEntry{}, err
	}
	if len(real) != len(placeholder) {
		return FileEntry{}, fmt.Errorf("cannot write snapshot entry %s: its header changed length", name)
	}
	if _, err := s.f.WriteAt(real, hdrAt); err != nil {
		return FileEntry{}, fmt.Errorf("cannot write snapshot entry %s: %w", name, err)
	}
	return FileEntry{Path: name, Size: size, SHA256: e.hw.Sum()}, nil
}

// undo truncates the archive back to mark after a failed entry; it returns
// a suffix for the entry's error when that fails too.
func (s *streamWriter) undo(mark int64) string {
	if err := s.truncate(mark); err != nil {
		return fmt.Sprintf(" (and %v)", err)
	}
	return ""
}

// Written returns a reader of what was written to the entry so far (for
// checks after it was filled).
func (e *entryWriter) Written() io.Reader {
	return io.NewSectionReader(e.s.f, e.start, e.hw.Size())
}

// finish ends the archive, writes the manifest into its reserved place,
// fsyncs the file and returns its size and SHA-256 (read back once: the
// manifest at its start was written last).
func (s *streamWriter) finish(ctx context.Context, man *Manifest) (int64, string, error) {
	mb, err := encodeManifest(man)
	if err != nil {
		return 0, "", err
	}
	if int64(len(mb)) > s.manLen {
		return 0, "", fmt.Errorf("cannot write snapshot manifest: %d bytes, %d reserved", len(mb), s.manLen)
	}
	if err := s.write(make([]byte, 1024)); err != nil { // the end of the archive
		return 0, "", err
	}
	if _, err := s.f.WriteAt(append(mb, bytes.Repeat([]byte{' '}, int(s.manLen)-len(mb))...), s.manData); err != nil {
		return 0, "", fmt.Errorf("cannot write snapshot manifest: %w", err)
	}
	if err := s.f.Sync(); err != nil {
		return 0, "", fmt.Errorf("cannot fsync snapshot archive: %w", err)
	}
	h := sha256.New()
	n, err := copyYielding(h, ctxReader{ctx: ctx, r: io.NewSectionReader(s.f, 0, s.off)}, make([]byte, copyBufSize), s.yield)
	if err != nil {
		return 0, "", fmt.Errorf("cannot checksum snapshot archive: %w", err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}
