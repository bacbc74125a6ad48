package clustertest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/config"
	"github.com/shoal-db/shoal/internal/testfs"
)

// TestClusterDiskFullRefusesWholeWrites fills the disk of the node holding
// one shard of a 3-shard collection: an upsert spanning every shard,
// written through another node, is refused whole with Qdrant's "No space
// left on device" (the coordinator's check of the remote part, which goes
// without the points, still asks the full node whether it takes writes),
// no shard applies any of it, and once space is freed the same upsert is
// accepted.
func TestClusterDiskFullRefusesWholeWrites(t *testing.T) {
	const reserveMB = 16
	mnt := testfs.MountTmpfs(t, 128<<20)
	c := New(t, Options{Configure: func(i int, cfg *config.Config) {
		cfg.Storage.MinFreeDiskMB = reserveMB
		if i == 2 {
			cfg.Storage.StoragePath = filepath.Join(mnt, "storage")
		}
	}})
	for i := range c.Nodes {
		c.Start(i)
	}
	if err := c.WaitFormed(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.MustDo(0, "PUT", "/collections/full", map[string]any{"vectors": map[string]any{"size": 8, "distance": "Dot"},
		"shard_number": 3, "replication_factor": 1}, nil)
	// Every node holds one shard (so node 2's is remote to node 0).
	for i := range c.Nodes {
		var info struct {
			LocalShards []struct{} `json:"local_shards"`
		}
		c.MustDo(i, "GET", "/collections/full/cluster", nil, &info)
		if len(info.LocalShards) != 1 {
			t.Fatalf("node %d holds %d shards, want 1", i, len(info.LocalShards))
		}
	}
	batch := testPoints(300, 8, 3)
	count := func() int {
		var cnt struct{ Count int }
		c.MustDo(1, "POST", "/collections/full/points/count", map[string]any{"exact": true}, &cnt)
		return cnt.Count
	}

	filler := testfs.Fill(t, mnt, reserveMB<<20/2)
	code, raw := c.Do(0, "PUT", "/collections/full/points?wait=true", map[string]any{"points": batch}, nil)
	if code != 500 || !strings.Contains(string(raw), "No space left on device") {
		t.Fatalf("upsert with a full disk on node 2: %d %s", code, raw)
	}
	if n := count(); n != 0 {
		t.Fatalf("a refused upsert left %d points", n)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	c.MustDo(0, "PUT", "/collections/full/points?wait=true", map[string]any{"points": batch}, nil)
	if n := count(); n != len(batch) {
		t.Fatalf("%d points after the retry, want %d", n, len(batch))
	}
}
