package snapshot

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// copyBufSize is the buffer used to stream files in and out of archives.
const copyBufSize = 1 << 20

// ScanDir fills m.Dirs and m.Files from the tree at root: every directory
// and regular file, with sizes and SHA-256 hashes, in the order
// WriteArchive writes them. It refuses symlinks and special files. yield,
// when not nil, is called after each buffer hashed (see WriteArchive).
func ScanDir(ctx context.Context, root string, m *Manifest, yield func() error) error {
	m.Dirs, m.Files = nil, nil
	buf := make([]byte, copyBufSize)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			m.Dirs = append(m.Dirs, rel)
		case d.Type().IsRegular():
			size, sum, err := hashFile(p, buf, yield)
			if err != nil {
				return err
			}
			m.Files = append(m.Files, FileEntry{Path: rel, Size: size, SHA256: sum})
		default:
			return fmt.Errorf("cannot archive %s: not a regular file or directory", p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot scan snapshot source %s: %w", root, err)
	}
	sort.Strings(m.Dirs)
	sort.Slice(m.Files, func(i, j int) bool { return m.Files[i].Path < m.Files[j].Path })
	return nil
}

func hashFile(p string, buf []byte, yield func() error) (int64, string, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := copyYielding(h, f, buf, yield)
	if err != nil {
		return 0, "", fmt.Errorf("cannot read %s: %w", p, err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// WriteArchive scans root into m (see ScanDir), then streams the archive to
// w: manifest.json first, then the directories, then the files in manifest
// order. Files are streamed, never held in memory. root must not change
// while it is archived (every caller archives a checkpoint or scratch tree
// taken for the archive): each file is hashed once, by the scan, and only
// its length is checked as it is written (a file that changed anyway is
// caught by the hash when the archive is read). It returns the number of
// bytes written. yield, when not nil, is called after each buffer (1 MiB)
// read, hashed or written, and its error ends the archive: background
// work passes a background.Meter's Yield, which pauses while the node's
// writes need the cores.
func WriteArchive(ctx context.Context, w io.Writer, m *Manifest, root string, yield func() error) (int64, error) {
	if m.FormatVersion == 0 {
		m.FormatVersion = FormatVersion
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = time.Now()
	}
	m.CreatedAt = m.CreatedAt.UTC().Truncate(time.Second)
	if err := ScanDir(ctx, root, m, yield); err != nil {
		return 0, err
	}
	if err := m.Validate(); err != nil {
		return 0, fmt.Errorf("cannot write snapshot: %w", err)
	}
	mb, err := encodeManifest(m)
	if err != nil {
		return 0, err
	}
	cw := &countingWriter{w: w}
	tw := tar.NewWriter(cw)
	hdr := func(name string, typ byte, size int64, mode int64) *tar.Header {
		return &tar.Header{Typeflag: typ, Name: name, Size: size, Mode: mode, ModTime: m.CreatedAt, Format: tar.FormatPAX}
	}
	if err := tw.WriteHeader(hdr(ManifestName, tar.TypeReg, int64(len(mb)), 0o644)); err != nil {
		return cw.n, fmt.Errorf("cannot write snapshot manifest: %w", err)
	}
	if _, err := tw.Write(mb); err != nil {
		return cw.n, fmt.Errorf("cannot write snapshot manifest: %w", err)
	}
	for _, d := range m.Dirs {
		if err := tw.WriteHeader(hdr(d+"/", tar.TypeDir, 0, 0o755)); err != nil {
			return cw.n, fmt.Errorf("cannot write snapshot entry %s: %w", d, err)
		}
	}
	buf := make([]byte, copyBufSize)
	for _, f := range m.Files {
		if err := ctx.Err(); err != nil {
			return cw.n, err
		}
		if err := tw.WriteHeader(hdr(f.Path, tar.TypeReg, f.Size, 0o644)); err != nil {
			return cw.n, fmt.Errorf("cannot write snapshot entry %s: %w", f.Path, err)
		}
		if err := copyFileInto(tw, filepath.Join(root, filepath.FromSlash(f.Path)), f, buf, yield); err != nil {
			return cw.n, err
		}
	}
	if err := tw.Close(); err != nil {
		return cw.n, fmt.Errorf("cannot finish snapshot archive: %w", err)
	}
	return cw.n, nil
}

func copyFileInto(w io.Writer, p string, f FileEntry, buf []byte, yield func() error) error {
	src, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("cannot open %s: %w", p, err)
	}
	defer src.Close()
	n, err := copyYielding(w, io.LimitReader(src, f.Size), buf, yield)
	if err != nil {
		return fmt.Errorf("cannot archive %s: %w", p, err)
	}
	if n != f.Size {
		return fmt.Errorf("cannot archive %s: the file shrank while the snapshot was written (%d of %d bytes)", p, n, f.Size)
	}
	return nil
}

// copyYielding is io.CopyBuffer that calls yield (when not nil) after each
// buffer it copied.
func copyYielding(dst io.Writer, src io.Reader, buf []byte, yield func() error) (int64, error) {
	if yield == nil {
		return io.CopyBuffer(dst, src, buf)
	}
	var n int64
	for {
		k, rerr := src.Read(buf)
		if k > 0 {
			w, err := dst.Write(buf[:k])
			n += int64(w)
			if err != nil {
				return n, err
			}
			if w != k {
				return n, io.ErrShortWrite
			}
			if err := yield(); err != nil {
				return n, err
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// HashingWriter computes the SHA-256 and length of what passes through it.
type HashingWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

// NewHashingWriter returns a writer that forwards to w and hashes.
func NewHashingWriter(w io.Writer) *HashingWriter { return &HashingWriter{w: w, h: sha256.New()} }

// Write implements io.Writer.
func (hw *HashingWriter) Write(p []byte) (int, error) {
	n, err := hw.w.Write(p)
	hw.h.Write(p[:n])
	hw.n += int64(n)
	return n, err
}

// Sum returns the lower-case hex SHA-256 of everything written.
func (hw *HashingWriter) Sum() string { return hex.EncodeToString(hw.h.Sum(nil)) }

// Size returns the number of bytes written.
func (hw *HashingWriter) Size() int64 { return hw.n }
