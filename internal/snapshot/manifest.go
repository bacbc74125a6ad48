package snapshot

import (
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/shoal-db/shoal/internal/api"
)

// FormatVersion is the archive format version this package writes. Readers
// refuse manifests with a version they do not know.
const FormatVersion = 1

// ManifestName is the name of the first tar entry of every archive.
const ManifestName = "manifest.json"

// maxManifestSize bounds the manifest entry a reader accepts.
const maxManifestSize = 64 << 20

// Kind says what an archive holds.
type Kind string

// Archive kinds.
const (
	// KindCollection is one collection: its config, payload index
	// definitions and every shard's checkpoint under shards/<id>/.
	KindCollection Kind = "collection"
	// KindShard is one shard of one collection under shards/<id>/.
	KindShard Kind = "shard"
	// KindFull is a full-storage snapshot: metadata plus one collection
	// archive per collection under collections/<name>.snapshot.
	KindFull Kind = "full"
)

// Manifest describes an archive. It is the first entry of the tar, so a
// reader knows every file's size and hash before it extracts anything.
type Manifest struct {
	// FormatVersion is the archive format version (FormatVersion).
	FormatVersion int `json:"format_version"`
	// Kind is collection, shard or full.
	Kind Kind `json:"kind"`
	// ShoalVersion is the version of the server that wrote the archive.
	ShoalVersion string `json:"shoal_version"`
	// PeerID is the id of the node that wrote the archive.
	PeerID uint64 `json:"peer_id"`
	// CreatedAt is the creation time (UTC).
	CreatedAt time.Time `json:"created_at"`
	// Collection names the collection (collection and shard kinds).
	Collection string `json:"collection,omitempty"`
	// Config is the collection's configuration.
	Config *api.CollectionConfig `json:"config,omitempty"`
	// PayloadIndexes are the payload index definitions by key.
	PayloadIndexes map[string]api.PayloadFieldSchema `json:"payload_indexes,omitempty"`
	// Shards describe the shard checkpoints held, in id order.
	Shards []ShardManifest `json:"shards,omitempty"`
	// Aliases maps alias to collection (full kind).
	Aliases map[string]string `json:"aliases,omitempty"`
	// Collections lists the collections of a full snapshot; each is the
	// file collections/<name>.snapshot.
	Collections []string `json:"collections,omitempty"`
	// Dirs lists every directory entry, slash-separated and relative.
	Dirs []string `json:"dirs,omitempty"`
	// Files lists every file entry after the manifest, in archive order.
	Files []FileEntry `json:"files"`
}

// ShardManifest describes one shard checkpoint in an archive.
type ShardManifest struct {
	// ID is the shard number.
	ID int `json:"id"`
	// Dir is the checkpoint directory inside the archive (shards/<id>).
	Dir string `json:"dir"`
	// LastSeq is the sequence number of the last operation the checkpoint holds.
	LastSeq uint64 `json:"last_seq"`
	// Points is the number of points in the checkpoint.
	Points uint64 `json:"points"`
}

// FileEntry is one regular file of an archive.
type FileEntry struct {
	// Path is slash-separated and relative to the archive root.
	Path string `json:"path"`
	// Size is the file's length in bytes.
	Size int64 `json:"size"`
	// SHA256 is the lower-case hex SHA-256 of the file's contents.
	SHA256 string `json:"sha256"`
}

// ShardDir returns the archive directory of shard id.
func ShardDir(id int) string { return fmt.Sprintf("shards/%d", id) }

// CollectionEntry returns the path of a collection's archive inside a full
// snapshot.
func CollectionEntry(name string) string { return "collections/" + name + ".snapshot" }

// TotalSize returns the sum of the file sizes.
func (m *Manifest) TotalSize() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

// Points returns the total point count over the shards.
func (m *Manifest) Points() uint64 {
	var n uint64
	for _, s := range m.Shards {
		n += s.Points
	}
	return n
}

// Validate checks the manifest's own consistency: a known version and kind,
// safe and unique paths, well-formed hashes, and shards that point at
// directories the archive holds.
func (m *Manifest) Validate() error {
	if m.FormatVersion != FormatVersion {
		return fmt.Errorf("unknown snapshot format version %d (this server reads version %d)", m.FormatVersion, FormatVersion)
	}
	switch m.Kind {
	case KindCollection, KindShard:
		if m.Collection == "" {
			return fmt.Errorf("manifest of a %s snapshot names no collection", m.Kind)
		}
		if m.Config == nil {
			return fmt.Errorf("manifest of a %s snapshot has no collection config", m.Kind)
		}
		if m.Kind == KindShard && len(m.Shards) != 1 {
			return fmt.Errorf("manifest of a shard snapshot must describe exactly one shard, got %d", len(m.Shards))
		}
	case KindFull:
	default:
		return fmt.Errorf("unknown snapshot kind %q", m.Kind)
	}
	seen := make(map[string]bool, len(m.Files)+len(m.Dirs))
	dirs := make(map[string]bool, len(m.Dirs))
	for _, d := range m.Dirs {
		if err := checkPath(d); err != nil {
			return err
		}
		if seen[d] {
			return fmt.Errorf("manifest lists %q twice", d)
		}
		seen[d], dirs[d] = true, true
	}
	for _, f := range m.Files {
		if err := checkPath(f.Path); err != nil {
			return err
		}
		if f.Path == ManifestName {
			return fmt.Errorf("manifest lists a file named %s", ManifestName)
		}
		if seen[f.Path] {
			return fmt.Errorf("manifest lists %q twice", f.Path)
		}
		seen[f.Path] = true
		if f.Size < 0 {
			return fmt.Errorf("manifest gives %q a negative size", f.Path)
		}
		if len(f.SHA256) != 64 || strings.Trim(f.SHA256, "0123456789abcdef") != "" {
			return fmt.Errorf("manifest gives %q a malformed sha256 %q", f.Path, f.SHA256)
		}
	}
	// Every entry's parent is a listed directory (so it exists, and no
	// entry sits below a file).
	for p := range seen {
		if d := path.Dir(p); d != "." && !dirs[d] {
			return fmt.Errorf("manifest lists %q but not its directory %q", p, d)
		}
	}
	ids := make(map[int]bool, len(m.Shards))
	for _, s := range m.Shards {
		if ids[s.ID] {
			return fmt.Errorf("manifest lists shard %d twice", s.ID)
		}
		ids[s.ID] = true
		if s.Dir != ShardDir(s.ID) {
			return fmt.Errorf("manifest puts shard %d in %q, want %q", s.ID, s.Dir, ShardDir(s.ID))
		}
		if !dirs[s.Dir] {
			return fmt.Errorf("manifest lists shard %d but not its directory %q", s.ID, s.Dir)
		}
	}
	if m.Kind == KindFull {
		for _, c := range m.Collections {
			if !seen[CollectionEntry(c)] || dirs[CollectionEntry(c)] {
				return fmt.Errorf("manifest lists collection %q but not its archive %q", c, CollectionEntry(c))
			}
		}
	}
	return nil
}

// checkPath refuses paths that are not clean, relative and inside the root.
func checkPath(p string) error {
	switch {
	case p == "" || p == ".":
		return fmt.Errorf("empty path in snapshot")
	case strings.HasPrefix(p, "/") || strings.Contains(p, "\\") || (len(p) > 1 && p[1] == ':'):
		return fmt.Errorf("absolute path %q in snapshot", p)
	case path.Clean(p) != p:
		return fmt.Errorf("unclean path %q in snapshot", p)
	case p == ".." || strings.HasPrefix(p, "../"):
		return fmt.Errorf("path %q escapes the snapshot root", p)
	case strings.ContainsRune(p, 0):
		return fmt.Errorf("path with a NUL byte in snapshot")
	}
	return nil
}

func encodeManifest(m *Manifest) ([]byte, error) {
	sort.Slice(m.Shards, func(i, j int) bool { return m.Shards[i].ID < m.Shards[j].ID })
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("cannot encode snapshot manifest: %w", err)
	}
	return append(b, '\n'), nil
}

func decodeManifest(b []byte) (*Manifest, error) {
	var probe struct {
		FormatVersion int `json:"format_version"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, fmt.Errorf("cannot decode snapshot manifest: %w", err)
	}
	if probe.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("unknown snapshot format version %d (this server reads version %d)", probe.FormatVersion, FormatVersion)
	}
	m := new(Manifest)
	if err := json.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("cannot decode snapshot manifest: %w", err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}
