package snapshot

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/api"
)

// fakeCluster is a ClusterSource over fixed shard archives. Collection
// "c" has two shards, and the first replica asked for shard 1 fails after
// sending part of it; collection "a-gone" is deleted after its shard 0
// was fetched. Only the methods a cluster snapshot calls are implemented.
type fakeCluster struct {
	Source
	tmp      string
	shards   map[string][][]byte
	attempts map[string]int
}

func (f *fakeCluster) TempDir() string   { return f.tmp }
func (f *fakeCluster) IsLeader() bool    { return true }
func (f *fakeCluster) ClusterMode() bool { return true }

func (f *fakeCluster) ClusterLayout(context.Context) (*ClusterLayout, error) {
	l := &ClusterLayout{ClusterID: "c1", Generations: map[string]uint64{}, Aliases: map[string]string{"al": "c", "al-gone": "a-gone"}}
	for _, name := range []string{"a-gone", "c"} {
		cfg := testManifest(name).Config
		l.Collections = append(l.Collections, ClusterCollection{Name: name, Config: cfg, Placement: [][]uint64{{1, 2}, {2, 3}}})
		l.Generations[name] = 9
	}
	return l, nil
}

func (f *fakeCluster) FetchShard(_ context.Context, name string, _ uint64, shard int, w EntryWriter) (ClusterShard, error) {
	key := name + "/" + string(rune('0'+shard))
	f.attempts[key]++
	b := f.shards[name][shard]
	if name == "a-gone" && shard == 1 {
		return ClusterShard{}, api.ErrCollectionNotFound(name)
	}
	if name == "c" && shard == 1 {
		// The first replica dies midway; the second sends it whole.
		if _, err := w.Write(b[:1000]); err != nil {
			return ClusterShard{}, err
		}
		if err := w.Reset(); err != nil {
			return ClusterShard{}, err
		}
	}
	if _, err := w.Write(b); err != nil {
		return ClusterShard{}, err
	}
	return ClusterShard{LastSeq: testManifest(name).Shards[shard].LastSeq, Epoch: 4, SourcePeer: uint64(2 + shard)}, nil
}

func (f *fakeCluster) RestoreClusterCollection(context.Context, string, *ClusterCollection, func(int) string) error {
	panic("not called")
}

func (f *fakeCluster) CreateAliases(context.Context, map[string]string) ([]string, error) {
	panic("not called")
}

func (f *fakeCluster) RestoreClusterShard(context.Context, string, int, ShardData, string, bool) (ShardRestore, error) {
	panic("not called")
}

func (f *fakeCluster) RecoverCollectionSnapshot(context.Context, string, *Manifest, string, string) (bool, error) {
	panic("not called")
}

// TestStreamedClusterArchive builds a cluster archive the way a cluster
// snapshot does, each shard streamed into the final file, with a shard
// whose first fetch started over and a collection deleted midway, and
// reads it back: the checksum is the file's, every shard archive is the
// one sent, the deleted collection and its alias are left out, and the
// archive verifies.
func TestStreamedClusterArchive(t *testing.T) {
	fc := &fakeCluster{tmp: t.TempDir(), shards: map[string][][]byte{}, attempts: map[string]int{}}
	for _, name := range []string{"a-gone", "c"} {
		base := testManifest(name)
		for id := range 2 {
			sm := testManifest(name)
			sm.Kind, sm.Shards = KindShard, []ShardManifest{base.Shards[id]}
			b, _ := buildArchive(t, sm, makeTree(t, uint64(id)+40, 10, 5000, 70000))
			fc.shards[name] = append(fc.shards[name], b)
		}
	}
	store, err := OpenDirStore(t.TempDir(), "local")
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewManager(ManagerOptions{Source: fc, Store: store, PeerID: 1, ShoalVersion: "test"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := m.CreateClusterArchive(context.Background(), map[string]string{"k": "v"}, func(c time.Time) string { return ClusterSnapshotName(1, c) })
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(a.Path)
	sumOnDisk, size, err := ChecksumFile(a.Path)
	if err != nil {
		t.Fatal(err)
	}
	if sumOnDisk != a.Description.Checksum || size != a.Description.Size {
		t.Fatalf("archive file: %s, %d bytes; described as %s, %d bytes", sumOnDisk, size, a.Description.Checksum, a.Description.Size)
	}
	if fc.attempts["a-gone/1"] != 1 || fc.attempts["c/1"] != 1 {
		t.Fatalf("fetches: %v", fc.attempts)
	}
	dir := filepath.Join(t.TempDir(), "x")
	f, err := os.Open(a.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	man, err := Extract(context.Background(), f, dir, ReadOptions{ExpectedChecksum: a.Description.Checksum})
	if err != nil {
		t.Fatal(err)
	}
	if len(man.ClusterCollections) != 1 || man.ClusterCollections[0].Name != "c" || len(man.Aliases) != 1 || man.Aliases["al"] != "c" || man.Labels["k"] != "v" {
		t.Fatalf("manifest: %+v", man)
	}
	for id, sh := range man.ClusterCollections[0].Shards {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(sh.Entry)))
		if err != nil {
			t.Fatal(err)
		}
		want := fc.shards["c"][id]
		if !bytes.Equal(got, want) || sh.Size != int64(len(want)) || sh.SHA256 != sum(want) {
			t.Fatalf("shard %d: %d bytes (%s), sent %d bytes", id, len(got), sh.SHA256, len(want))
		}
		if sh.SourcePeer != uint64(2+id) || sh.Epoch != 4 || sh.LastSeq != testManifest("c").Shards[id].LastSeq || sh.Points != testManifest("c").Shards[id].Points {
			t.Fatalf("shard %d described as %+v", id, sh)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "collections", "a-gone")); !os.IsNotExist(err) {
		t.Fatalf("the deleted collection's directory: %v", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(context.Background(), f, a.Description.Name, a.Description.Checksum, t.TempDir(), nil, time.Now, nil)
	if err != nil || !rep.OK || rep.Points != 7 {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
}

// TestStreamHeaderLength checks what rewriting a file header in place
// relies on: a GNU header has the same length for any size, also with a
// name too long for the basic header.
func TestStreamHeaderLength(t *testing.T) {
	s := &streamWriter{}
	for _, name := range []string{"collections/c/shards/0.snapshot", "collections/" + strings.Repeat("n", 240) + "/shards/12.snapshot"} {
		var lens []int
		for _, size := range []int64{0, 1, 8<<30 - 1, 8 << 30, 1 << 50} {
			b, err := s.header(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644, Format: tar.FormatGNU})
			if err != nil {
				t.Fatal(err)
			}
			lens = append(lens, len(b))
			hdr, err := tar.NewReader(io.MultiReader(bytes.NewReader(b), io.LimitReader(zeros{}, 1024))).Next()
			if err != nil || hdr.Name != name || hdr.Size != size {
				t.Fatalf("header read back: %+v, %v", hdr, err)
			}
		}
		for _, l := range lens {
			if l != lens[0] {
				t.Fatalf("%s: header lengths %v", name, lens)
			}
		}
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
