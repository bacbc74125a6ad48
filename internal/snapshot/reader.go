package snapshot

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/durable"
)

// DefaultMaxArchiveSize is the global cap on the bytes of files an archive
// may hold when ReadOptions.MaxTotalSize is zero (1 TiB).
const DefaultMaxArchiveSize int64 = 1 << 40

// maxTrailing bounds the bytes accepted after the tar end marker (padding).
const maxTrailing = 1 << 20

// ErrInvalidArchive is wrapped by every refusal of a damaged or hostile
// archive (other than a checksum mismatch, which is an *api.Error of kind
// KindChecksumMismatch).
var ErrInvalidArchive = errors.New("invalid snapshot archive")

// ReadOptions control how an archive is read and checked.
type ReadOptions struct {
	// ExpectedChecksum, when set, is the lower-case hex SHA-256 the whole
	// archive must have; a mismatch fails with api.ErrChecksumMismatch.
	ExpectedChecksum string
	// MaxTotalSize caps the sum of file sizes (DefaultMaxArchiveSize when 0).
	MaxTotalSize int64
	// Check, when set, is called with the manifest before anything is
	// extracted; an error refuses the archive (e.g. wrong dimensions).
	Check func(*Manifest) error
	// NoSync, when set, names the files (by archive path) that Extract
	// does not fsync: caches whose loss or damage in a crash the reader
	// detects and rebuilds (a shard's index files). They are verified
	// like every other file.
	NoSync func(path string) bool
	// Yield, when set, is called after each buffer (1 MiB) extracted; its
	// error ends the extraction (background work passes a
	// background.Meter's Yield).
	Yield func() error
}

// maxSyncing bounds the extracted files being fsynced at once, in the
// background while the next ones are written.
const maxSyncing = 4

// syncer fsyncs and closes extracted files in the background, so that
// the archive keeps streaming while the disk catches up.
type syncer struct {
	sem chan struct{}
	wg  sync.WaitGroup
	mu  sync.Mutex
	err error
}

// add fsyncs (unless noSync) and closes f in the background; it waits
// while maxSyncing files are in flight.
func (s *syncer) add(f *os.File, noSync bool) {
	if s.sem == nil {
		s.sem = make(chan struct{}, maxSyncing)
	}
	s.sem <- struct{}{}
	s.wg.Add(1)
	go func() {
		defer func() { <-s.sem; s.wg.Done() }()
		var err error
		if !noSync {
			if err = f.Sync(); err != nil {
				err = fmt.Errorf("cannot fsync %s: %w", f.Name(), err)
			}
		}
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("cannot close %s: %w", f.Name(), cerr)
		}
		if err != nil {
			s.mu.Lock()
			if s.err == nil {
				s.err = err
			}
			s.mu.Unlock()
		}
	}()
}

// wait waits for every file added and returns the first error.
func (s *syncer) wait() error {
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidArchive, fmt.Sprintf(format, args...))
}

// hashingReader hashes and counts what is read through it.
type hashingReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

func (hr *hashingReader) Read(p []byte) (int, error) {
	n, err := hr.r.Read(p)
	hr.h.Write(p[:n])
	hr.n += int64(n)
	return n, err
}

// ReadManifest reads only the manifest at the start of an archive.
func ReadManifest(r io.Reader) (*Manifest, error) {
	return readManifest(tar.NewReader(r))
}

func readManifest(tr *tar.Reader) (*Manifest, error) {
	hdr, err := tr.Next()
	if err != nil {
		return nil, invalid("cannot read the first entry: %v", err)
	}
	if hdr.Name != ManifestName || (hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeRegA) {
		return nil, invalid("the first entry is %q, want %s", hdr.Name, ManifestName)
	}
	if hdr.Size > maxManifestSize {
		return nil, invalid("manifest of %d bytes exceeds the limit of %d", hdr.Size, maxManifestSize)
	}
	b, err := io.ReadAll(io.LimitReader(tr, hdr.Size))
	if err != nil {
		return nil, invalid("cannot read the manifest: %v", err)
	}
	m, err := decodeManifest(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidArchive, err)
	}
	return m, nil
}

// Extract reads an archive from r into dir, which must not exist, and
// verifies it completely: the manifest's version and consistency, every
// entry's type, path, size and SHA-256 against the manifest, that nothing is
// missing or extra, the global size cap, opts.Check, and the whole
// archive's checksum. On any failure dir is removed and nothing else is
// touched. Extracted files (but those opts.NoSync names) and directories
// are fsynced; files are fsynced in the background while the next ones
// are written, and Extract returns once every one is durable.
func Extract(ctx context.Context, r io.Reader, dir string, opts ReadOptions) (*Manifest, error) {
	if _, err := os.Lstat(dir); err == nil {
		return nil, fmt.Errorf("cannot extract snapshot into %s: it already exists", dir)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot extract snapshot: %w", err)
	}
	m, err := extract(ctx, r, dir, opts)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return m, nil
}

func extract(ctx context.Context, r io.Reader, dir string, opts ReadOptions) (*Manifest, error) {
	limit := opts.MaxTotalSize
	if limit <= 0 {
		limit = DefaultMaxArchiveSize
	}
	hr := &hashingReader{r: r, h: sha256.New()}
	tr := tar.NewReader(hr)
	m, err := readManifest(tr)
	if err != nil {
		return nil, err
	}
	if total := m.TotalSize(); total > limit {
		return nil, invalid("the files total %d bytes, over the limit of %d", total, limit)
	}
	if opts.Check != nil {
		if err := opts.Check(m); err != nil {
			return nil, err
		}
	}
	files := make(map[string]FileEntry, len(m.Files))
	for _, f := range m.Files {
		files[f.Path] = f
	}
	dirs := make(map[string]bool, len(m.Dirs))
	for _, d := range m.Dirs {
		dirs[d] = true
	}
	seen := make(map[string]bool, len(m.Files)+len(m.Dirs))
	buf := make([]byte, copyBufSize)
	var sy syncer
	defer sy.wait() // no file is left open, whatever the outcome
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, invalid("cannot read an entry: %v", err)
		}
		name := hdr.Name
		if hdr.Typeflag == tar.TypeDir {
			name = strings.TrimSuffix(name, "/")
		}
		if err := checkPath(name); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidArchive, err)
		}
		for k := range hdr.PAXRecords {
			// Sparse entries expand holes into zeros without input bytes.
			if strings.HasPrefix(k, "GNU.sparse.") {
				return nil, invalid("entry %q is a sparse file: only regular files and directories are allowed", name)
			}
		}
		if seen[name] {
			return nil, invalid("entry %q appears twice", name)
		}
		seen[name] = true
		target := filepath.Join(dir, filepath.FromSlash(name))
		if parent := path.Dir(name); parent != "." && !seen[parent] {
			return nil, invalid("entry %q comes before its directory", name)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if !dirs[name] {
				return nil, invalid("directory %q is not in the manifest", name)
			}
			if err := os.Mkdir(target, 0o755); err != nil {
				return nil, fmt.Errorf("cannot create %s: %w", target, err)
			}
		case tar.TypeReg, tar.TypeRegA:
			f, ok := files[name]
			if !ok {
				return nil, invalid("file %q is not in the manifest", name)
			}
			if hdr.Size != f.Size {
				return nil, invalid("file %q holds %d bytes, the manifest says %d", name, hdr.Size, f.Size)
			}
			out, err := extractFile(tr, target, f, buf, opts.Yield)
			if err != nil {
				return nil, err
			}
			sy.add(out, opts.NoSync != nil && opts.NoSync(name))
		default:
			return nil, invalid("entry %q has type %q: only regular files and directories are allowed (no links or devices)", name, string(hdr.Typeflag))
		}
	}
	for _, d := range m.Dirs {
		if !seen[d] {
			return nil, invalid("directory %q of the manifest is missing", d)
		}
	}
	for _, f := range m.Files {
		if !seen[f.Path] {
			return nil, invalid("file %q of the manifest is missing", f.Path)
		}
	}
	// Read the end-of-archive padding so the checksum covers every byte.
	n, err := io.Copy(io.Discard, io.LimitReader(hr, maxTrailing+1))
	if err != nil {
		return nil, invalid("cannot read the end of the archive: %v", err)
	}
	if n > maxTrailing {
		return nil, invalid("more than %d bytes follow the end of the archive", maxTrailing)
	}
	if opts.ExpectedChecksum != "" {
		if got := hex.EncodeToString(hr.h.Sum(nil)); !strings.EqualFold(got, strings.TrimSpace(opts.ExpectedChecksum)) {
			return nil, api.ErrChecksumMismatch(strings.ToLower(strings.TrimSpace(opts.ExpectedChecksum)), got)
		}
	}
	if err := sy.wait(); err != nil {
		return nil, err
	}
	// Make the directory entries durable, deepest first.
	for i := len(m.Dirs) - 1; i >= 0; i-- {
		if err := durable.SyncDir(filepath.Join(dir, filepath.FromSlash(m.Dirs[i]))); err != nil {
			return nil, err
		}
	}
	if err := durable.SyncDir(dir); err != nil {
		return nil, err
	}
	return m, nil
}

// extractFile writes the next f.Size bytes of r into a new file at target,
// checks their SHA-256, and returns the file, still open for its fsync.
func extractFile(r io.Reader, target string, f FileEntry, buf []byte, yield func() error) (*os.File, error) {
	out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cannot create %s: %w", target, err)
	}
	h := sha256.New()
	// An error of yield's (its context's end) is not the archive's fault.
	var yerr error
	y := yield
	if yield != nil {
		y = func() error { yerr = yield(); return yerr }
	}
	n, err := copyYielding(io.MultiWriter(out, h), io.LimitReader(r, f.Size), buf, y)
	switch {
	case yerr != nil:
		err = yerr
	case err != nil:
		err = invalid("cannot extract %q: %v", f.Path, err)
	case n != f.Size:
		err = invalid("file %q is truncated: %d of %d bytes", f.Path, n, f.Size)
	default:
		if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 {
			err = invalid("file %q has sha256 %s, the manifest says %s", f.Path, got, f.SHA256)
		}
	}
	if err != nil {
		out.Close()
		return nil, err
	}
	return out, nil
}

// ChecksumFile returns the lower-case hex SHA-256 and size of the file at p.
func ChecksumFile(p string) (string, int64, error) {
	n, sum, err := hashFile(p, make([]byte, copyBufSize), nil)
	if err != nil {
		return "", 0, fmt.Errorf("cannot checksum %s: %w", p, err)
	}
	return sum, n, nil
}
