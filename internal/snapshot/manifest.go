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

// FormatVersion is the archive format version this package writes for
// collection, shard and full archives. Readers refuse manifests with a
// version they do not know.
const FormatVersion = 1

// ClusterFormatVersion is the format version of cluster archives (kind
// cluster, introduced by version 2). Readers accept versions 1 and 2; a
// version 1 manifest may not be of kind cluster.
const ClusterFormatVersion = 2

// maxFormatVersion is the newest archive format version this build reads.
const maxFormatVersion = ClusterFormatVersion

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
	// KindCluster is a snapshot of a whole cluster (format version 2): the
	// metadata of every collection and one shard archive per shard under
	// collections/<name>/shards/<id>.snapshot, each taken from one Active
	// replica (docs/format/snapshot.md, "Cluster archives").
	KindCluster Kind = "cluster"
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
	// Labels are the free-form labels given when a cluster snapshot was
	// created (cluster kind).
	Labels map[string]string `json:"labels,omitempty"`
	// ClusterID names the cluster a cluster snapshot was taken of.
	ClusterID string `json:"cluster_id,omitempty"`
	// ClusterCollections describe every collection of a cluster snapshot.
	ClusterCollections []ClusterCollection `json:"cluster_collections,omitempty"`
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

// ClusterCollection describes one collection of a cluster archive: its
// metadata as the cluster held it and where each shard's archive is.
type ClusterCollection struct {
	// Name is the collection's name.
	Name string `json:"name"`
	// Config is the collection's configuration.
	Config *api.CollectionConfig `json:"config"`
	// PayloadIndexes are the payload index definitions by key.
	PayloadIndexes map[string]api.PayloadFieldSchema `json:"payload_indexes,omitempty"`
	// Placement lists, per shard, the peers that held its replicas when
	// the snapshot was taken, the primary first (informational: a restore
	// places the shards over its own cluster's peers).
	Placement [][]uint64 `json:"placement"`
	// Shards describe each shard's archive, in id order.
	Shards []ClusterShard `json:"shards"`
}

// ClusterShard is one shard of a cluster archive.
type ClusterShard struct {
	// ID is the shard number.
	ID int `json:"id"`
	// Entry is the shard archive's path in the cluster archive
	// (ClusterShardEntry): a shard archive (kind shard) of its own.
	Entry string `json:"entry"`
	// LastSeq is the sequence of the last operation the shard holds: the
	// checkpoint holds every operation up to it and none after.
	LastSeq uint64 `json:"last_seq"`
	// Epoch is the epoch of that operation (the restored shard's metadata
	// epoch is at least this).
	Epoch uint64 `json:"epoch"`
	// Points is the shard's point count at LastSeq.
	Points uint64 `json:"points"`
	// SourcePeer is the peer whose Active replica the shard was taken from.
	SourcePeer uint64 `json:"source_peer"`
	// Size and SHA256 are the shard archive's length and lower-case hex
	// SHA-256 (also listed in Files).
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// ClusterShardEntry returns the path of a shard's archive inside a cluster
// archive.
func ClusterShardEntry(collection string, shard int) string {
	return fmt.Sprintf("collections/%s/shards/%d%s", collection, shard, Ext)
}

// ClusterPoints returns the total point count of a cluster archive.
func (m *Manifest) ClusterPoints() uint64 {
	var n uint64
	for _, c := range m.ClusterCollections {
		for _, s := range c.Shards {
			n += s.Points
		}
	}
	return n
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
	if m.FormatVersion < FormatVersion || m.FormatVersion > maxFormatVersion {
		return fmt.Errorf("unknown snapshot format version %d (this server reads versions %d to %d)", m.FormatVersion, FormatVersion, maxFormatVersion)
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
	case KindCluster:
		if m.FormatVersion < ClusterFormatVersion {
			return fmt.Errorf("a cluster snapshot needs format version %d, the manifest says %d", ClusterFormatVersion, m.FormatVersion)
		}
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
	if m.Kind == KindCluster {
		if err := m.validateCluster(dirs); err != nil {
			return err
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
	if probe.FormatVersion < FormatVersion || probe.FormatVersion > maxFormatVersion {
		return nil, fmt.Errorf("unknown snapshot format version %d (this server reads versions %d to %d)", probe.FormatVersion, FormatVersion, maxFormatVersion)
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

// validateCluster checks the collections of a cluster manifest: unique
// valid names, a config, every shard once in id order, and each shard's
// archive listed among the files with the same size and hash.
func (m *Manifest) validateCluster(dirs map[string]bool) error {
	files := make(map[string]FileEntry, len(m.Files))
	for _, f := range m.Files {
		files[f.Path] = f
	}
	names := map[string]bool{}
	for _, c := range m.ClusterCollections {
		if err := CheckName(c.Name); err != nil {
			return fmt.Errorf("cluster manifest: collection %w", err)
		}
		if names[c.Name] {
			return fmt.Errorf("cluster manifest lists collection %q twice", c.Name)
		}
		names[c.Name] = true
		if c.Config == nil {
			return fmt.Errorf("cluster manifest: collection %q has no config", c.Name)
		}
		if n := c.Config.Params.ShardNumber; n != len(c.Shards) {
			return fmt.Errorf("cluster manifest: collection %q has %d shards, its config says %d", c.Name, len(c.Shards), n)
		}
		for i, s := range c.Shards {
			if s.ID != i {
				return fmt.Errorf("cluster manifest: collection %q lists shard %d at position %d", c.Name, s.ID, i)
			}
			if s.Entry != ClusterShardEntry(c.Name, i) {
				return fmt.Errorf("cluster manifest puts shard %d of %q in %q, want %q", i, c.Name, s.Entry, ClusterShardEntry(c.Name, i))
			}
			f, ok := files[s.Entry]
			if !ok || dirs[s.Entry] {
				return fmt.Errorf("cluster manifest lists shard %d of %q but not its archive %q", i, c.Name, s.Entry)
			}
			if f.Size != s.Size || f.SHA256 != s.SHA256 {
				return fmt.Errorf("cluster manifest describes the archive %q twice differently", s.Entry)
			}
		}
	}
	for alias, target := range m.Aliases {
		if !names[target] {
			return fmt.Errorf("cluster manifest: alias %q names collection %q, which it does not hold", alias, target)
		}
	}
	return nil
}
