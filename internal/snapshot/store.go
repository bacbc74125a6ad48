package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/shoal-db/shoal/internal/durable"
)

// Store is a place snapshots live: a local directory, a mounted file
// system, or an S3 bucket. Keys are slash-separated paths ("coll/x.snapshot").
// Put is atomic: a reader sees either no object or the whole object, never a
// partial one, even if the writer is killed. Missing objects are reported
// with errors wrapping fs.ErrNotExist.
type Store interface {
	// String names the store for logs and metric labels ("local", "fs:/mnt/x", "s3://bucket/prefix").
	String() string
	// Put stores r under key, replacing any object there. size is the
	// length of r, or -1 if unknown.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Get opens the object at key.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Stat describes the object at key.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// List returns the objects directly in dir (not in its subdirectories),
	// sorted by name. A missing dir lists nothing.
	List(ctx context.Context, dir string) ([]ObjectInfo, error)
	// Delete removes the object at key; deleting a missing object is not
	// an error.
	Delete(ctx context.Context, key string) error
}

// FilePutter is implemented by stores that can take a local file more
// cheaply than by streaming it (a rename on the same file system). The
// store owns src afterwards (it is moved or removed).
type FilePutter interface {
	PutFile(ctx context.Context, key, src string) error
}

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	// Name is the object's base name.
	Name string
	// Size is its length in bytes.
	Size int64
	// ModTime is when it was stored.
	ModTime time.Time
}

// DirStore keeps snapshots in a directory: the node's snapshots directory
// or a mounted network file system (NFS, EFS). Every Put writes a temporary
// file, fsyncs it, renames it into place and fsyncs the directory.
type DirStore struct {
	root  string
	label string
}

// tmpMarker marks DirStore's temporary files (".<name>.tmp-<random>").
const tmpMarker = ".tmp-"

// OpenDirStore opens (creating if needed) a directory store rooted at root
// and removes temporary files left by writers that were killed. label names
// the store in logs and metrics.
func OpenDirStore(root, label string) (*DirStore, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create snapshot directory %s: %w", root, err)
	}
	s := &DirStore{root: root, label: label}
	if err := s.cleanTemp(); err != nil {
		return nil, err
	}
	return s, nil
}

// Root returns the store's directory.
func (s *DirStore) Root() string { return s.root }

func (s *DirStore) String() string { return s.label }

// cleanTemp removes stray temporary files and staging directories.
func (s *DirStore) cleanTemp() error {
	return filepath.WalkDir(s.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return fmt.Errorf("cannot clean snapshot directory %s: %w", s.root, err)
		}
		if p == s.root {
			return nil
		}
		name := d.Name()
		if strings.HasPrefix(name, ".") && strings.Contains(name, tmpMarker) {
			if err := os.RemoveAll(p); err != nil {
				return fmt.Errorf("cannot remove stray temporary file %s: %w", p, err)
			}
			if d.IsDir() {
				return filepath.SkipDir
			}
		}
		return nil
	})
}

// CheckKey refuses store keys that are not slash-separated plain names
// (no "..", no empty or dot-leading parts, no absolute paths). The empty key
// is the store's root.
func CheckKey(key string) error {
	if key == "" {
		return nil
	}
	for _, part := range strings.Split(key, "/") {
		if err := CheckName(part); err != nil {
			return fmt.Errorf("invalid snapshot key %q: %w", key, err)
		}
	}
	return nil
}

func (s *DirStore) path(key string) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", err
	}
	return filepath.Join(s.root, filepath.FromSlash(key)), nil
}

// TempFile creates a temporary file in the store's directory for key, which
// cleanTemp removes if the process dies before PutFile moves it into place.
func (s *DirStore) TempFile(key string) (*os.File, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, fmt.Errorf("cannot create %s: %w", filepath.Dir(p), err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+tmpMarker+"*")
	if err != nil {
		return nil, fmt.Errorf("cannot create temporary file for %s: %w", key, err)
	}
	return f, nil
}

// Put implements Store.
func (s *DirStore) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	f, err := s.TempFile(key)
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	n, err := io.CopyBuffer(durable.NewWritebackWriter(f, f, 0), ctxReader{ctx, r}, make([]byte, copyBufSize))
	if err != nil {
		return fmt.Errorf("cannot write %s to %s: %w", key, s.label, err)
	}
	if size >= 0 && n != size {
		return fmt.Errorf("cannot write %s to %s: got %d bytes, want %d", key, s.label, n, size)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("cannot fsync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("cannot close %s: %w", tmp, err)
	}
	if err := s.PutFile(ctx, key, tmp); err != nil {
		return err
	}
	ok = true
	return nil
}

// PutFile implements FilePutter: it fsyncs src and renames it to key when
// both are on the same file system, and copies it otherwise.
func (s *DirStore) PutFile(ctx context.Context, key, src string) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("cannot create %s: %w", filepath.Dir(p), err)
	}
	if err := syncFile(src); err != nil {
		return err
	}
	if err := os.Rename(src, p); err != nil {
		var le *os.LinkError
		if errors.As(err, &le) && isCrossDevice(err) {
			return s.copyIn(ctx, key, src)
		}
		return fmt.Errorf("cannot move %s into place: %w", key, err)
	}
	return durable.SyncDir(filepath.Dir(p))
}

func (s *DirStore) copyIn(ctx context.Context, key, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("cannot open %s: %w", src, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("cannot stat %s: %w", src, err)
	}
	if err := s.Put(ctx, key, f, st.Size()); err != nil {
		return err
	}
	f.Close()
	os.Remove(src)
	return nil
}

func syncFile(p string) error {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("cannot open %s: %w", p, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("cannot fsync %s: %w", p, err)
	}
	return nil
}

// Get implements Store.
func (s *DirStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("cannot open snapshot object %s: %w", key, err)
	}
	return f, nil
}

// Stat implements Store.
func (s *DirStore) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	p, err := s.path(key)
	if err != nil {
		return ObjectInfo{}, err
	}
	st, err := os.Stat(p)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("cannot stat snapshot object %s: %w", key, err)
	}
	if !st.Mode().IsRegular() {
		return ObjectInfo{}, fmt.Errorf("cannot stat snapshot object %s: %w", key, fs.ErrNotExist)
	}
	return ObjectInfo{Name: path.Base(key), Size: st.Size(), ModTime: st.ModTime()}, nil
}

// List implements Store. Temporary files are not listed.
func (s *DirStore) List(ctx context.Context, dir string) ([]ObjectInfo, error) {
	p, err := s.path(dir)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(p)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot list snapshots in %s: %w", p, err)
	}
	var out []ObjectInfo
	for _, e := range entries {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		out = append(out, ObjectInfo{Name: e.Name(), Size: info.Size(), ModTime: info.ModTime()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Delete implements Store.
func (s *DirStore) Delete(ctx context.Context, key string) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return fmt.Errorf("cannot delete snapshot object %s: %w", key, err)
	}
	return durable.SyncDir(filepath.Dir(p))
}

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
