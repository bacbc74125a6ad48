package snapshot

import (
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"
)

// Suffixes of snapshot objects.
const (
	// Ext is the extension of snapshot archives.
	Ext = ".snapshot"
	// ChecksumExt is appended to an archive's name for its checksum sidecar,
	// which holds the archive's lower-case hex SHA-256.
	ChecksumExt = ".checksum"
	// VerifyExt is appended to an archive's name for its verification
	// report sidecar (JSON, see VerifyReport).
	VerifyExt = ".verify.json"
)

// timeLayout is the timestamp layout of snapshot names (UTC).
const timeLayout = "2006-01-02-15-04-05"

var nameTime = regexp.MustCompile(`-(\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2})\.snapshot$`)

// CollectionSnapshotName returns Qdrant's name for a collection snapshot:
// <collection>-<peer_id>-<YYYY-MM-DD-HH-MM-SS>.snapshot.
func CollectionSnapshotName(collection string, peerID uint64, t time.Time) string {
	return fmt.Sprintf("%s-%d-%s%s", collection, peerID, t.UTC().Format(timeLayout), Ext)
}

// ShardSnapshotName returns the name of a shard snapshot:
// <collection>-shard-<id>-<peer_id>-<YYYY-MM-DD-HH-MM-SS>.snapshot.
func ShardSnapshotName(collection string, shard int, peerID uint64, t time.Time) string {
	return fmt.Sprintf("%s-shard-%d-%d-%s%s", collection, shard, peerID, t.UTC().Format(timeLayout), Ext)
}

// FullSnapshotName returns the name of a full-storage snapshot:
// full-snapshot-<YYYY-MM-DD-HH-MM-SS>.snapshot.
func FullSnapshotName(t time.Time) string {
	return "full-snapshot-" + t.UTC().Format(timeLayout) + Ext
}

// NameTime returns the creation time encoded in a snapshot name.
func NameTime(name string) (time.Time, bool) {
	m := nameTime.FindStringSubmatch(name)
	if m == nil {
		return time.Time{}, false
	}
	t, err := time.ParseInLocation(timeLayout, m[1], time.UTC)
	return t, err == nil
}

// Keys of snapshot objects in a store. Collection snapshots live under
// <collection>/, shard snapshots under <collection>/shards/<id>/, full
// snapshots at the root, as in Qdrant's snapshots directory.

// CollectionDir returns the store directory of a collection's snapshots.
func CollectionDir(collection string) string { return collection }

// ShardStoreDir returns the store directory of a shard's snapshots.
func ShardStoreDir(collection string, shard int) string {
	return fmt.Sprintf("%s/shards/%d", collection, shard)
}

// FullDir is the store directory of full-storage snapshots.
const FullDir = ""

// Key joins a store directory and an object name.
func Key(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// CheckName refuses a snapshot or collection name that could escape its
// directory or is not a plain file name.
func CheckName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") || path.Clean(name) != name {
		return fmt.Errorf("invalid name %q", name)
	}
	if strings.HasPrefix(name, ".") {
		return fmt.Errorf("invalid name %q: must not start with a dot", name)
	}
	return nil
}
