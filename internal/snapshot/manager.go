package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/auth"
	"github.com/shoal-db/shoal/internal/background"
	"github.com/shoal-db/shoal/internal/durable"
)

// Source is what the Manager needs from the engine. The service layer
// implements it (internal/service/snapshot_hooks.go).
type Source interface {
	// CollectionNames lists the existing collections (real names).
	CollectionNames(ctx context.Context) ([]string, error)
	// ResolveCollection maps a name or alias to the collection's real name;
	// the error is Qdrant's not-found error when there is none.
	ResolveCollection(ctx context.Context, name string) (string, error)
	// CheckpointCollection writes a consistent checkpoint of every shard of
	// the collection into dir/shards/<id> (dir exists and is empty) and
	// returns a manifest with Kind, Collection, Config, PayloadIndexes and
	// Shards filled; each shard holds exactly the operations up to its
	// LastSeq, while writes continue.
	CheckpointCollection(ctx context.Context, name, dir string) (*Manifest, error)
	// CheckpointShard is CheckpointCollection for one shard.
	CheckpointShard(ctx context.Context, name string, shard int, dir string) (*Manifest, error)
	// RestoreCollection installs the verified extraction in dir (layout
	// shards/<id>, described by m) as collection name, replacing any
	// existing collection of that name atomically: requests are served by
	// the old collection until the new one takes over, never answered "not
	// found", and a crash at any point recovers to the old or the new
	// collection whole (docs/format/meta.md, "Restore"). It takes dir over.
	RestoreCollection(ctx context.Context, name, dir string, m *Manifest) error
	// RestoreShard replaces one shard of an existing collection with the
	// verified extraction in dir (layout shards/<id>). It takes dir over.
	RestoreShard(ctx context.Context, name string, shard int, dir string, m *Manifest) error
	// Aliases returns alias -> collection.
	Aliases(ctx context.Context) (map[string]string, error)
	// TempDir is a scratch directory on the storage file system, so that
	// checkpoints hard-link and restores move by rename.
	TempDir() string
}

// ManagerOptions configure a Manager.
type ManagerOptions struct {
	// Source is the engine.
	Source Source
	// Inspector, when set, is used by Verify for engine-level checks.
	Inspector Inspector
	// Store holds the snapshots the API creates and lists (the local
	// snapshots directory, or S3 with storage.snapshots_config).
	Store Store
	// SnapshotsDir is the node's local snapshots directory
	// (storage.snapshots_path): a recover location on this node (file://
	// or a plain path) must resolve, symbolic links and ".." followed, to
	// a file inside it, as in Qdrant. When empty, the root of a *DirStore
	// Store; with neither, file locations are refused.
	SnapshotsDir string
	// PeerID names this node in snapshot names.
	PeerID uint64
	// ShoalVersion is recorded in manifests.
	ShoalVersion string
	// WriteBytesPerSecond, when positive, paces the writing of archives so
	// that a snapshot leaves disk bandwidth to concurrent writes (see
	// docs/benchmarks.md, "Snapshots").
	WriteBytesPerSecond int64
	// Background, when not nil, bounds the CPU that writing an archive
	// (and, for a cluster archive, receiving its shards) takes while the
	// node's writes come in (snapshots.cpu_share_during_writes).
	Background *background.Limiter
	// MaxArchiveSize caps restored archives (DefaultMaxArchiveSize when 0).
	MaxArchiveSize int64
	// HTTPClient downloads recover locations (http.DefaultClient when nil).
	HTTPClient *http.Client
	// Now is the clock for snapshot names (time.Now when nil).
	Now func() time.Time
	// Logger defaults to a discarding logger.
	Logger *slog.Logger
}

// Manager creates, lists, deletes, downloads, verifies and recovers
// collection, shard and full-storage snapshots. It implements Producer for
// the Scheduler.
type Manager struct {
	opts ManagerOptions
	log  *slog.Logger

	// mu guards lastNow, which keeps archive names unique.
	mu      sync.Mutex
	lastNow time.Time
}

var _ Producer = (*Manager)(nil)

// NewManager returns a Manager and removes scratch files a killed process
// left in the source's temporary directory.
func NewManager(opts ManagerOptions) (*Manager, error) {
	if opts.Source == nil || opts.Store == nil {
		return nil, errors.New("cannot create snapshot manager: source and store are required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = http.DefaultClient
	}
	if ds, ok := opts.Store.(*DirStore); ok && opts.SnapshotsDir == "" {
		opts.SnapshotsDir = ds.Root()
	}
	tmp := opts.Source.TempDir()
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create snapshot scratch directory: %w", err)
	}
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return nil, fmt.Errorf("cannot list snapshot scratch directory: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") && strings.Contains(e.Name(), tmpMarker) {
			if err := os.RemoveAll(filepath.Join(tmp, e.Name())); err != nil {
				return nil, fmt.Errorf("cannot remove stray snapshot scratch %s: %w", e.Name(), err)
			}
		}
	}
	return &Manager{opts: opts, log: opts.Logger}, nil
}

// Store returns the manager's store.
func (m *Manager) Store() Store { return m.opts.Store }

func (m *Manager) scratch(prefix string) (string, error) {
	d, err := os.MkdirTemp(m.opts.Source.TempDir(), "."+prefix+tmpMarker+"*")
	if err != nil {
		return "", fmt.Errorf("cannot create snapshot scratch directory: %w", err)
	}
	return d, nil
}

// now returns a creation time strictly after the previous one at second
// resolution, so archive names never collide.
func (m *Manager) now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.opts.Now().UTC().Truncate(time.Second)
	if !t.After(m.lastNow) {
		t = m.lastNow.Add(time.Second)
	}
	m.lastNow = t
	return t
}

func checkAccess(ctx context.Context, collection string, need auth.Mode) error {
	a := auth.FromContext(ctx)
	if collection == "" {
		return a.CheckGlobal(need)
	}
	return a.CheckCollection(collection, need)
}

// CollectionNames implements Producer.
func (m *Manager) CollectionNames(ctx context.Context) ([]string, error) {
	return m.opts.Source.CollectionNames(ctx)
}

// CreateArchive implements Producer: it checkpoints the collection and
// writes its archive into a local temporary file.
func (m *Manager) CreateArchive(ctx context.Context, collection string) (*LocalArchive, error) {
	return m.createArchive(ctx, collection, -1)
}

func (m *Manager) createArchive(ctx context.Context, collection string, shardID int) (*LocalArchive, error) {
	ckpt, err := m.scratch("checkpoint")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(ckpt)
	var man *Manifest
	if shardID < 0 {
		man, err = m.opts.Source.CheckpointCollection(ctx, collection, ckpt)
	} else {
		man, err = m.opts.Source.CheckpointShard(ctx, collection, shardID, ckpt)
	}
	if err != nil {
		return nil, err
	}
	created := m.now()
	man.FormatVersion, man.ShoalVersion, man.PeerID, man.CreatedAt = FormatVersion, m.opts.ShoalVersion, m.opts.PeerID, created
	name := CollectionSnapshotName(collection, m.opts.PeerID, created)
	dir := CollectionDir(collection)
	if shardID >= 0 {
		name = ShardSnapshotName(collection, shardID, m.opts.PeerID, created)
		dir = ShardStoreDir(collection, shardID)
	}
	return m.writeLocal(ctx, man, ckpt, dir, name)
}

// writeLocal writes the archive of root into a temporary file (see
// tempArchive).
func (m *Manager) writeLocal(ctx context.Context, man *Manifest, root, dir, name string) (*LocalArchive, error) {
	f, err := m.tempArchive(dir, name)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		f.Close()
		if !ok {
			os.Remove(f.Name())
		}
	}()
	hw := NewHashingWriter(durable.NewWritebackWriter(f, newRateLimitedWriter(ctx, f, m.opts.WriteBytesPerSecond), 0))
	meter := m.opts.Background.Start(ctx)
	defer meter.Stop()
	if _, err := WriteArchive(ctx, hw, man, root, meter.Yield); err != nil {
		return nil, fmt.Errorf("cannot write snapshot %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("cannot fsync snapshot %s: %w", name, err)
	}
	ok = true
	return &LocalArchive{Path: f.Name(), Dir: dir, Manifest: man, Description: Description{
		Name: name, Size: hw.Size(), Checksum: hw.Sum(), CreationTime: man.CreatedAt.Format(qdrantTimeLayout)}}, nil
}

// tempArchive creates the temporary file of archive dir/name: in the
// store's own directory when it is a DirStore (so storing it is a rename),
// else in the scratch directory.
func (m *Manager) tempArchive(dir, name string) (*os.File, error) {
	if ds, ok := m.opts.Store.(*DirStore); ok {
		return ds.TempFile(Key(dir, name))
	}
	return os.CreateTemp(m.opts.Source.TempDir(), "."+name+tmpMarker+"*")
}

// VerifyArchive implements Producer.
func (m *Manager) VerifyArchive(ctx context.Context, a *LocalArchive) (*VerifyReport, error) {
	f, err := os.Open(a.Path)
	if err != nil {
		return nil, fmt.Errorf("cannot open snapshot %s: %w", a.Description.Name, err)
	}
	defer f.Close()
	meter := m.opts.Background.Start(ctx)
	defer meter.Stop()
	return Verify(ctx, f, a.Description.Name, a.Description.Checksum, m.opts.Source.TempDir(), m.opts.Inspector, m.opts.Now, meter.Yield)
}

func (m *Manager) resolve(ctx context.Context, collection string, need auth.Mode) (string, error) {
	if err := checkAccess(ctx, collection, need); err != nil {
		real, rerr := m.opts.Source.ResolveCollection(ctx, collection)
		if rerr != nil || checkAccess(ctx, real, need) != nil {
			return "", err
		}
	}
	return m.opts.Source.ResolveCollection(ctx, collection)
}

// CreateCollectionSnapshot snapshots a collection into the store.
func (m *Manager) CreateCollectionSnapshot(ctx context.Context, collection string) (Description, error) {
	return m.createAndStore(ctx, collection, -1)
}

// CreateShardSnapshot snapshots one shard of a collection into the store.
func (m *Manager) CreateShardSnapshot(ctx context.Context, collection string, shardID int) (Description, error) {
	return m.createAndStore(ctx, collection, shardID)
}

func (m *Manager) createAndStore(ctx context.Context, collection string, shardID int) (Description, error) {
	real, err := m.resolve(ctx, collection, auth.Manage)
	if err != nil {
		return Description{}, err
	}
	start := time.Now()
	a, err := m.createArchive(ctx, real, shardID)
	if err != nil {
		return Description{}, err
	}
	defer os.Remove(a.Path)
	if err := PutArchive(ctx, m.opts.Store, a.Dir, a.Description.Name, a.Path, a.Description.Checksum, true); err != nil {
		return Description{}, err
	}
	m.log.Info("snapshot created", "collection", real, "shard", shardID, "snapshot", a.Description.Name,
		"size", a.Description.Size, "points", a.Manifest.Points(), "duration", time.Since(start))
	return a.Description, nil
}

// ListCollectionSnapshots lists a collection's snapshots.
func (m *Manager) ListCollectionSnapshots(ctx context.Context, collection string) ([]Description, error) {
	real, err := m.resolve(ctx, collection, auth.Read)
	if err != nil {
		return nil, err
	}
	return ListSnapshots(ctx, m.opts.Store, CollectionDir(real))
}

// ListShardSnapshots lists one shard's snapshots.
func (m *Manager) ListShardSnapshots(ctx context.Context, collection string, shardID int) ([]Description, error) {
	real, err := m.resolve(ctx, collection, auth.Read)
	if err != nil {
		return nil, err
	}
	return ListSnapshots(ctx, m.opts.Store, ShardStoreDir(real, shardID))
}

// snapshotNotFound is Qdrant's answer for a missing snapshot.
func snapshotNotFound(name string) error {
	return api.ErrNotFound("Snapshot %s not found", name)
}

// DeleteCollectionSnapshot deletes a collection snapshot.
func (m *Manager) DeleteCollectionSnapshot(ctx context.Context, collection, name string) error {
	real, err := m.resolve(ctx, collection, auth.Manage)
	if err != nil {
		return err
	}
	return m.delete(ctx, CollectionDir(real), name)
}

// DeleteShardSnapshot deletes a shard snapshot.
func (m *Manager) DeleteShardSnapshot(ctx context.Context, collection string, shardID int, name string) error {
	real, err := m.resolve(ctx, collection, auth.Manage)
	if err != nil {
		return err
	}
	return m.delete(ctx, ShardStoreDir(real, shardID), name)
}

func (m *Manager) delete(ctx context.Context, dir, name string) error {
	if err := CheckName(name); err != nil {
		return api.ErrBadInput("%v", err)
	}
	ok, err := DeleteSnapshot(ctx, m.opts.Store, dir, name)
	if err != nil {
		return err
	}
	if !ok {
		return snapshotNotFound(name)
	}
	return nil
}

// OpenCollectionSnapshot opens a collection snapshot for download.
func (m *Manager) OpenCollectionSnapshot(ctx context.Context, collection, name string) (io.ReadCloser, Description, error) {
	real, err := m.resolve(ctx, collection, auth.Read)
	if err != nil {
		return nil, Description{}, err
	}
	return m.open(ctx, CollectionDir(real), name)
}

// OpenShardSnapshot opens a shard snapshot for download.
func (m *Manager) OpenShardSnapshot(ctx context.Context, collection string, shardID int, name string) (io.ReadCloser, Description, error) {
	real, err := m.resolve(ctx, collection, auth.Read)
	if err != nil {
		return nil, Description{}, err
	}
	return m.open(ctx, ShardStoreDir(real, shardID), name)
}

func (m *Manager) open(ctx context.Context, dir, name string) (io.ReadCloser, Description, error) {
	if CheckName(name) != nil {
		// No snapshot can have the name (a path, "..", ...): Qdrant answers
		// such a download 404 like any unknown name.
		return nil, Description{}, snapshotNotFound(name)
	}
	d, err := DescribeSnapshot(ctx, m.opts.Store, dir, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, Description{}, snapshotNotFound(name)
	}
	if err != nil {
		return nil, Description{}, err
	}
	rc, err := m.opts.Store.Get(ctx, Key(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, Description{}, snapshotNotFound(name)
	}
	return rc, d, err
}

// RecoverOptions qualify a recovery.
type RecoverOptions struct {
	// Checksum, when set, is the SHA-256 the archive must have.
	Checksum string
	// Priority is Qdrant's replica | snapshot | no_sync; on a single node
	// they all mean "the snapshot's data wins"; in cluster mode see
	// ClusterSource.RecoverCollectionSnapshot.
	Priority string
}

// ValidPriority reports whether p is one of Qdrant's snapshot priorities.
func ValidPriority(p string) bool {
	switch p {
	case "", "replica", "snapshot", "no_sync":
		return true
	}
	return false
}

// OpenLocation opens a recover location: an http(s) URL (sent with the
// api-key header when apiKey is set, as Qdrant does between peers), a
// file:// URL or a plain path of a file in this node's snapshots directory
// (see ManagerOptions.SnapshotsDir and OpenSnapshotsFile), or the name of a
// snapshot in the store's directory dir.
func (m *Manager) OpenLocation(ctx context.Context, location, dir, apiKey string) (io.ReadCloser, error) {
	u, err := url.Parse(location)
	if err != nil {
		return nil, api.ErrBadInput("invalid snapshot location %q: %v", location, err)
	}
	switch u.Scheme {
	case "http", "https":
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, location, nil)
		if err != nil {
			return nil, api.ErrBadInput("invalid snapshot location %q: %v", location, err)
		}
		if apiKey != "" {
			req.Header.Set("api-key", apiKey)
		}
		resp, err := m.opts.HTTPClient.Do(req)
		if err != nil {
			return nil, api.ErrBadRequest("cannot download snapshot from %s: %v", location, err)
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return nil, api.ErrBadRequest("cannot download snapshot from %s: HTTP status %s", location, resp.Status)
		}
		return resp.Body, nil
	case "file":
		// Qdrant: the host must be empty or localhost, and the path absolute.
		if (u.Host != "" && u.Host != "localhost") || !filepath.IsAbs(u.Path) {
			return nil, api.ErrBadRequest("Invalid snapshot URI, file path must be absolute or on localhost")
		}
		return m.OpenSnapshotsFile(u.Path)
	case "":
		if CheckName(location) == nil {
			rc, err := m.opts.Store.Get(ctx, Key(dir, location))
			if err == nil {
				return rc, nil
			}
		}
		return m.OpenSnapshotsFile(location)
	}
	return nil, api.ErrBadInput("unsupported snapshot location scheme %q: use http, https or file", u.Scheme)
}

// OpenSnapshotsFile opens the archive at the absolute path p, which must
// lie in the node's snapshots directory once symbolic links and ".." are
// resolved (Qdrant's rule for file:// locations): a missing file is 400
// "Snapshot file ... does not exist", one that resolves elsewhere 403
// "Forbidden: Snapshot file path must be inside the snapshots directory
// ...". The file opened is the resolved one, checked to be the same
// regular file after the open, so a link swapped in meanwhile is refused.
func (m *Manager) OpenSnapshotsFile(p string) (io.ReadCloser, error) {
	if !filepath.IsAbs(p) {
		return nil, api.ErrBadInput("snapshot file path %q must be absolute", p)
	}
	if _, err := os.Stat(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, api.ErrBadRequest("Snapshot file %q does not exist", p)
		}
		return nil, api.ErrBadRequest("cannot open snapshot file %s: %v", p, err)
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return nil, api.ErrBadRequest("Failed to resolve snapshot path %q: %v", p, err)
	}
	root, err := m.snapshotsRoot()
	if err != nil {
		return nil, err
	}
	if root == "" || !strings.HasPrefix(real, root+string(filepath.Separator)) {
		return nil, api.ErrForbidden("Forbidden: Snapshot file path must be inside the snapshots directory %q", root)
	}
	st, err := os.Lstat(real)
	if err != nil || !st.Mode().IsRegular() {
		return nil, api.ErrBadInput("snapshot location %s is not a regular file", p)
	}
	f, err := os.Open(real)
	if err != nil {
		return nil, api.ErrBadRequest("cannot open snapshot file %s: %v", p, err)
	}
	if fst, err := f.Stat(); err != nil || !os.SameFile(st, fst) {
		f.Close()
		return nil, api.ErrForbidden("Forbidden: Snapshot file path must be inside the snapshots directory %q", root)
	}
	return f, nil
}

// snapshotsRoot returns the snapshots directory with every symbolic link
// resolved ("" when the Manager has none).
func (m *Manager) snapshotsRoot() (string, error) {
	if m.opts.SnapshotsDir == "" {
		return "", nil
	}
	abs, err := filepath.Abs(m.opts.SnapshotsDir)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return "", api.ErrInternal(err, "Failed to resolve snapshots directory %q", m.opts.SnapshotsDir)
	}
	return abs, nil
}

// CheckRecover checks, before any archive is read, that the caller may
// recover collection (shardID < 0) or one of its shards, and that opts are
// valid: the checks RecoverCollection and RecoverShard make first, for
// callers that answer before the recovery runs (wait=false).
func (m *Manager) CheckRecover(ctx context.Context, collection string, shardID int, opts RecoverOptions) error {
	if shardID < 0 {
		if err := checkAccess(ctx, "", auth.Manage); err != nil {
			return err
		}
		if err := CheckName(collection); err != nil {
			return api.ErrBadInput("%v", err)
		}
	} else if _, err := m.resolve(ctx, collection, auth.Manage); err != nil {
		return err
	}
	if !ValidPriority(opts.Priority) {
		return errPriority(opts.Priority)
	}
	return nil
}

func errPriority(p string) error {
	return api.ErrBadInput("unknown snapshot priority %q: expected replica, snapshot or no_sync", p)
}

// RecoverFromLocation recovers collection (shardID < 0) or one of its
// shards from the archive at location (see OpenLocation; a bare snapshot
// name refers to the collection's or shard's own snapshots).
func (m *Manager) RecoverFromLocation(ctx context.Context, collection string, shardID int, location, apiKey string, opts RecoverOptions) (*Manifest, error) {
	if err := m.CheckRecover(ctx, collection, shardID, opts); err != nil {
		return nil, err
	}
	dir := CollectionDir(collection)
	if shardID >= 0 {
		dir = ShardStoreDir(collection, shardID)
	}
	rc, err := m.OpenLocation(ctx, location, dir, apiKey)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if shardID >= 0 {
		return m.RecoverShard(ctx, collection, shardID, rc, opts)
	}
	return m.RecoverCollection(ctx, collection, rc, opts)
}

// StreamShardSnapshot creates a fresh snapshot of one shard without
// storing it: the archive is written to a temporary file, which the
// returned reader removes when closed.
func (m *Manager) StreamShardSnapshot(ctx context.Context, collection string, shardID int) (io.ReadCloser, Description, error) {
	real, err := m.resolve(ctx, collection, auth.Manage)
	if err != nil {
		return nil, Description{}, err
	}
	a, err := m.createArchive(ctx, real, shardID)
	if err != nil {
		return nil, Description{}, err
	}
	f, err := os.Open(a.Path)
	if err != nil {
		os.Remove(a.Path)
		return nil, Description{}, fmt.Errorf("cannot open shard snapshot %s: %w", a.Description.Name, err)
	}
	return &removeOnClose{File: f}, a.Description, nil
}

// removeOnClose is a temporary file removed when closed.
type removeOnClose struct{ *os.File }

func (r *removeOnClose) Close() error {
	err := r.File.Close()
	if rerr := os.Remove(r.Name()); err == nil {
		err = rerr
	}
	return err
}

// RecoverCollection restores collection from the archive read from r,
// replacing it if it exists. The archive is verified completely before
// anything of the collection changes.
func (m *Manager) RecoverCollection(ctx context.Context, collection string, r io.Reader, opts RecoverOptions) (*Manifest, error) {
	if err := checkAccess(ctx, "", auth.Manage); err != nil {
		return nil, err
	}
	if err := CheckName(collection); err != nil {
		return nil, api.ErrBadInput("%v", err)
	}
	if !ValidPriority(opts.Priority) {
		return nil, errPriority(opts.Priority)
	}
	dir, man, err := m.extract(ctx, r, opts.Checksum, func(man *Manifest) error {
		if man.Kind != KindCollection {
			return api.ErrBadInput("snapshot is a %s snapshot, not a collection snapshot", man.Kind)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if cs, ok := m.opts.Source.(ClusterSource); ok && cs.ClusterMode() {
		restored, err := cs.RecoverCollectionSnapshot(ctx, collection, man, dir, opts.Priority)
		if err != nil {
			return nil, err
		}
		m.log.Info("collection snapshot recovered in cluster mode", "collection", collection, "from", man.Collection,
			"priority", opts.Priority, "restored", restored, "points", man.Points(), "created_at", man.CreatedAt)
		return man, nil
	}
	if err := m.opts.Source.RestoreCollection(ctx, collection, dir, man); err != nil {
		return nil, err
	}
	m.log.Info("collection recovered from snapshot", "collection", collection, "from", man.Collection,
		"points", man.Points(), "created_at", man.CreatedAt)
	return man, nil
}

// RecoverShard restores one shard of an existing collection from the
// archive read from r. The snapshot must come from a collection with the
// same vectors and shard count.
func (m *Manager) RecoverShard(ctx context.Context, collection string, shardID int, r io.Reader, opts RecoverOptions) (*Manifest, error) {
	real, err := m.resolve(ctx, collection, auth.Manage)
	if err != nil {
		return nil, err
	}
	if !ValidPriority(opts.Priority) {
		return nil, errPriority(opts.Priority)
	}
	dir, man, err := m.extract(ctx, r, opts.Checksum, func(man *Manifest) error {
		if man.Kind != KindShard && man.Kind != KindCollection {
			return api.ErrBadInput("snapshot is a %s snapshot, not a shard snapshot", man.Kind)
		}
		for _, s := range man.Shards {
			if s.ID == shardID {
				return nil
			}
		}
		return api.ErrBadInput("snapshot holds no shard %d", shardID)
	})
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if cs, ok := m.opts.Source.(ClusterSource); ok && cs.ClusterMode() {
		var sm ShardManifest
		for _, s := range man.Shards {
			if s.ID == shardID {
				sm = s
			}
		}
		data := ShardData{Dir: filepath.Join(dir, filepath.FromSlash(sm.Dir)), Manifest: man, Config: man.Config, LastSeq: sm.LastSeq, Points: sm.Points}
		res, err := cs.RestoreClusterShard(ctx, real, shardID, data, opts.Priority, false)
		if err != nil {
			return nil, err
		}
		m.log.Info("shard snapshot recovered in cluster mode", "collection", real, "shard", shardID, "priority", opts.Priority,
			"restored", res.Restored, "peers", res.Peers, "epoch", res.Epoch)
		return man, nil
	}
	if err := m.opts.Source.RestoreShard(ctx, real, shardID, dir, man); err != nil {
		return nil, err
	}
	m.log.Info("shard recovered from snapshot", "collection", real, "shard", shardID)
	return man, nil
}

// extract verifies and extracts an archive into a new scratch directory.
func (m *Manager) extract(ctx context.Context, r io.Reader, checksum string, check func(*Manifest) error) (string, *Manifest, error) {
	scratch, err := m.scratch("restore")
	if err != nil {
		return "", nil, err
	}
	dir := filepath.Join(scratch, "x")
	withSpace := func(man *Manifest) error {
		if free, ok := freeBytes(scratch); ok && uint64(man.TotalSize()) > free {
			return &api.Error{Kind: api.KindInsufficientStorage, Message: fmt.Sprintf(
				"Not enough space: the snapshot holds %d bytes, %d are free in %s", man.TotalSize(), free, m.opts.Source.TempDir())}
		}
		return check(man)
	}
	man, err := Extract(ctx, r, dir, ReadOptions{ExpectedChecksum: checksum, MaxTotalSize: m.opts.MaxArchiveSize, Check: withSpace})
	if err != nil {
		os.RemoveAll(scratch)
		var ae *api.Error
		if errors.As(err, &ae) {
			return "", nil, err
		}
		if errors.Is(err, ErrInvalidArchive) {
			return "", nil, api.ErrBadRequest("%v", err)
		}
		return "", nil, err
	}
	// Hand the caller the scratch directory itself so its removal takes
	// everything; the extraction is moved up one level.
	final := scratch + ".x" + tmpMarker
	if err := os.Rename(dir, final); err != nil {
		os.RemoveAll(scratch)
		return "", nil, fmt.Errorf("cannot stage restored snapshot: %w", err)
	}
	os.Remove(scratch)
	return final, man, nil
}

// CreateFullSnapshot snapshots every collection and the aliases into one
// full-storage archive in the store.
func (m *Manager) CreateFullSnapshot(ctx context.Context) (Description, error) {
	if err := checkAccess(ctx, "", auth.Manage); err != nil {
		return Description{}, err
	}
	a, err := m.CreateFullArchive(ctx)
	if err != nil {
		return Description{}, err
	}
	defer os.Remove(a.Path)
	if err := PutArchive(ctx, m.opts.Store, FullDir, a.Description.Name, a.Path, a.Description.Checksum, true); err != nil {
		return Description{}, err
	}
	m.log.Info("full snapshot created", "snapshot", a.Description.Name, "collections", len(a.Manifest.Collections), "size", a.Description.Size)
	return a.Description, nil
}

// CreateFullArchive implements Producer: it writes a full-storage archive
// (every collection's archive and the aliases) into a local temporary file.
// A collection deleted meanwhile is left out.
func (m *Manager) CreateFullArchive(ctx context.Context) (*LocalArchive, error) {
	names, err := m.opts.Source.CollectionNames(ctx)
	if err != nil {
		return nil, err
	}
	aliases, err := m.opts.Source.Aliases(ctx)
	if err != nil {
		return nil, err
	}
	root, err := m.scratch("full")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(root)
	if err := os.Mkdir(filepath.Join(root, "collections"), 0o755); err != nil {
		return nil, fmt.Errorf("cannot create full snapshot: %w", err)
	}
	meter := m.opts.Background.Start(ctx)
	defer meter.Stop()
	var included []string
	for _, name := range names {
		ckpt, err := m.scratch("checkpoint")
		if err != nil {
			return nil, err
		}
		man, err := m.opts.Source.CheckpointCollection(ctx, name, ckpt)
		if api.KindOf(err) == api.KindNotFound {
			os.RemoveAll(ckpt)
			continue
		}
		if err != nil {
			os.RemoveAll(ckpt)
			return nil, err
		}
		man.FormatVersion, man.ShoalVersion, man.PeerID, man.CreatedAt = FormatVersion, m.opts.ShoalVersion, m.opts.PeerID, m.opts.Now()
		err = writeFileArchive(ctx, filepath.Join(root, filepath.FromSlash(CollectionEntry(name))), man, ckpt, meter.Yield)
		os.RemoveAll(ckpt)
		if err != nil {
			return nil, err
		}
		included = append(included, name)
	}
	for alias, target := range aliases {
		if !slices.Contains(included, target) {
			delete(aliases, alias)
		}
	}
	created := m.now()
	man := &Manifest{FormatVersion: FormatVersion, Kind: KindFull, ShoalVersion: m.opts.ShoalVersion, PeerID: m.opts.PeerID,
		CreatedAt: created, Aliases: aliases, Collections: included}
	return m.writeLocal(ctx, man, root, FullDir, FullSnapshotName(created))
}

func writeFileArchive(ctx context.Context, p string, man *Manifest, root string, yield func() error) error {
	f, err := os.Create(p)
	if err != nil {
		return fmt.Errorf("cannot create %s: %w", p, err)
	}
	defer f.Close()
	if _, err := WriteArchive(ctx, f, man, root, yield); err != nil {
		return err
	}
	return f.Close()
}

// ListFullSnapshots lists the full-storage snapshots.
func (m *Manager) ListFullSnapshots(ctx context.Context) ([]Description, error) {
	if err := checkAccess(ctx, "", auth.Read); err != nil {
		return nil, err
	}
	ds, err := ListSnapshots(ctx, m.opts.Store, FullDir)
	if err != nil {
		return nil, err
	}
	out := ds[:0]
	for _, d := range ds {
		if strings.HasPrefix(d.Name, "full-snapshot-") {
			out = append(out, d)
		}
	}
	return out, nil
}

// DeleteFullSnapshot deletes a full-storage snapshot.
func (m *Manager) DeleteFullSnapshot(ctx context.Context, name string) error {
	if err := checkAccess(ctx, "", auth.Manage); err != nil {
		return err
	}
	return m.delete(ctx, FullDir, name)
}

// OpenFullSnapshot opens a full-storage snapshot for download.
func (m *Manager) OpenFullSnapshot(ctx context.Context, name string) (io.ReadCloser, Description, error) {
	if err := checkAccess(ctx, "", auth.Read); err != nil {
		return nil, Description{}, err
	}
	return m.open(ctx, FullDir, name)
}

// RecoverFull restores every collection of a full-storage archive read
// from r (replacing collections of the same names) and returns its
// manifest; the caller re-creates the aliases (m.Aliases).
func (m *Manager) RecoverFull(ctx context.Context, r io.Reader, checksum string) (*Manifest, error) {
	if err := checkAccess(ctx, "", auth.Manage); err != nil {
		return nil, err
	}
	dir, man, err := m.extract(ctx, r, checksum, func(man *Manifest) error {
		if man.Kind != KindFull {
			return api.ErrBadInput("snapshot is a %s snapshot, not a full-storage snapshot", man.Kind)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	for _, name := range man.Collections {
		f, err := os.Open(filepath.Join(dir, filepath.FromSlash(CollectionEntry(name))))
		if err != nil {
			return nil, fmt.Errorf("cannot open snapshot of collection %s: %w", name, err)
		}
		_, err = m.RecoverCollection(ctx, name, f, RecoverOptions{})
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("cannot recover collection %s: %w", name, err)
		}
	}
	return man, nil
}

// VerifyStored verifies a snapshot in the store (dir/name), records the
// report as its .verify.json sidecar, and returns it.
func (m *Manager) VerifyStored(ctx context.Context, dir, name string) (*VerifyReport, error) {
	rc, d, err := m.open(ctx, dir, name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	meter := m.opts.Background.Start(ctx)
	rep, err := Verify(ctx, rc, name, d.Checksum, m.opts.Source.TempDir(), m.opts.Inspector, m.opts.Now, meter.Yield)
	meter.Stop()
	if err != nil {
		return nil, err
	}
	if b, err := jsonIndent(rep); err == nil {
		if err := m.opts.Store.Put(ctx, Key(dir, name+VerifyExt), strings.NewReader(string(b)), int64(len(b))); err != nil {
			m.log.Warn("cannot store verification report", "snapshot", name, "err", err)
		}
	}
	return rep, nil
}
