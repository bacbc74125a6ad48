package snapshot

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzExtract feeds arbitrary bytes to the archive reader. It must never
// panic, never write outside its target, and either refuse the input
// (leaving no target) or produce exactly the files its manifest lists.
// The seed corpus (a valid archive and every hostile case) runs as part of
// the normal tests.
func FuzzExtract(f *testing.F) {
	good, _ := buildArchive(f, testManifest("c"), makeTree(f, 9, 0, 3, 700))
	f.Add(good)
	for _, tc := range hostile(f) {
		if len(tc.data) < 1<<16 {
			f.Add(tc.data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		parent := t.TempDir()
		target := filepath.Join(parent, "out")
		m, err := Extract(context.Background(), bytes.NewReader(data), target, ReadOptions{MaxTotalSize: 1 << 24})
		entries, _ := os.ReadDir(parent)
		if err != nil {
			if len(entries) != 0 {
				t.Fatalf("refused archive left %v behind", entries)
			}
			return
		}
		if len(entries) != 1 {
			t.Fatalf("accepted archive produced %v", entries)
		}
		want := map[string]int64{}
		for _, fe := range m.Files {
			want[fe.Path] = fe.Size
		}
		for _, d := range m.Dirs {
			want[d] = -1
		}
		err = filepath.WalkDir(target, func(p string, d fs.DirEntry, err error) error {
			if err != nil || p == target {
				return err
			}
			rel, _ := filepath.Rel(target, p)
			rel = filepath.ToSlash(rel)
			if strings.HasPrefix(rel, "..") {
				t.Fatalf("entry outside target: %s", p)
			}
			size, ok := want[rel]
			if !ok {
				t.Fatalf("unlisted entry %s", rel)
			}
			delete(want, rel)
			if d.IsDir() != (size < 0) || !(d.IsDir() || d.Type().IsRegular()) {
				t.Fatalf("entry %s has the wrong type", rel)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(want) != 0 {
			t.Fatalf("listed entries missing: %v", want)
		}
	})
}
