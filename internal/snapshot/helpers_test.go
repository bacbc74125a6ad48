package snapshot

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/api"
)

// makeTree writes a small shard-like tree (two shards with a few files of
// random bytes, one empty subdirectory) and returns its root.
func makeTree(t testing.TB, seed uint64, sizes ...int) string {
	t.Helper()
	root := t.TempDir()
	r := rand.New(rand.NewPCG(seed, 1))
	if len(sizes) == 0 {
		sizes = []int{0, 1, 4097, 70000}
	}
	for shard := 0; shard < 2; shard++ {
		dir := filepath.Join(root, "shards", fmt.Sprint(shard))
		if err := os.MkdirAll(filepath.Join(dir, "empty"), 0o755); err != nil {
			t.Fatal(err)
		}
		for i, n := range sizes {
			b := make([]byte, n)
			for j := range b {
				b[j] = byte(r.Uint32())
			}
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%06d.sst", i)), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return root
}

func testManifest(collection string) *Manifest {
	return &Manifest{
		Kind:         KindCollection,
		ShoalVersion: "test",
		PeerID:       7,
		CreatedAt:    time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC),
		Collection:   collection,
		Config: &api.CollectionConfig{Params: api.CollectionParams{
			Vectors:     api.VectorsConfig{"": {Size: 4, Distance: "Cosine"}},
			ShardNumber: 2,
		}},
		Shards: []ShardManifest{{ID: 0, Dir: ShardDir(0), LastSeq: 10, Points: 5}, {ID: 1, Dir: ShardDir(1), LastSeq: 3, Points: 2}},
	}
}

// buildArchive writes an archive of root and returns its bytes and checksum.
func buildArchive(t testing.TB, m *Manifest, root string) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	hw := NewHashingWriter(&buf)
	n, err := WriteArchive(context.Background(), hw, m, root, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) || hw.Size() != n {
		t.Fatalf("WriteArchive reported %d bytes, wrote %d", n, buf.Len())
	}
	return buf.Bytes(), hw.Sum()
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// treeDigest describes every entry of a tree: path, type and content hash.
func treeDigest(t testing.TB, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case d.IsDir():
			out = append(out, "d "+rel)
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out = append(out, "f "+rel+" "+sum(b))
		default:
			out = append(out, "? "+rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// rawEntry is one entry of a hand-built (possibly hostile) tar.
type rawEntry struct {
	hdr  tar.Header
	body []byte
}

func file(name string, body []byte) rawEntry {
	return rawEntry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(body)), Mode: 0o644}, body: body}
}

func dirEntry(name string) rawEntry {
	return rawEntry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755}}
}

func manifestEntry(t testing.TB, m *Manifest) rawEntry {
	t.Helper()
	b, err := encodeManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	return file(ManifestName, b)
}

func rawTar(t testing.TB, entries ...rawEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if len(e.body) > 0 {
			if _, err := tw.Write(e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
