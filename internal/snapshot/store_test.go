package snapshot

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// storeContract runs the behaviour every Store must have.
func storeContract(t *testing.T, st Store) {
	ctx := context.Background()
	if objs, err := st.List(ctx, "books"); err != nil || len(objs) != 0 {
		t.Fatalf("empty store lists %v, %v", objs, err)
	}
	if _, err := st.Stat(ctx, "books/x.snapshot"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Stat of missing object: %v", err)
	}
	if _, err := st.Get(ctx, "books/x.snapshot"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Get of missing object: %v", err)
	}
	body := bytes.Repeat([]byte("shoal"), 1000)
	if err := st.Put(ctx, "books/a.snapshot", bytes.NewReader(body), int64(len(body))); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, "books/b.snapshot", strings.NewReader("bb"), -1); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, "books/shards/0/c.snapshot", strings.NewReader("c"), 1); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, "full.snapshot", strings.NewReader("f"), 1); err != nil {
		t.Fatal(err)
	}
	objs, err := st.List(ctx, "books")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range objs {
		names = append(names, o.Name)
	}
	if !reflect.DeepEqual(names, []string{"a.snapshot", "b.snapshot"}) || objs[0].Size != int64(len(body)) {
		t.Fatalf("List(books) = %+v", objs)
	}
	if objs, _ := st.List(ctx, ""); len(objs) != 1 || objs[0].Name != "full.snapshot" {
		t.Fatalf("List(root) = %+v", objs)
	}
	if objs, _ := st.List(ctx, "books/shards/0"); len(objs) != 1 || objs[0].Name != "c.snapshot" {
		t.Fatalf("List(shard) = %+v", objs)
	}
	info, err := st.Stat(ctx, "books/a.snapshot")
	if err != nil || info.Size != int64(len(body)) || info.Name != "a.snapshot" || time.Since(info.ModTime) > time.Hour {
		t.Fatalf("Stat = %+v, %v", info, err)
	}
	rc, err := st.Get(ctx, "books/a.snapshot")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("Get returned %d bytes, %v", len(got), err)
	}
	// Replace.
	if err := st.Put(ctx, "books/b.snapshot", strings.NewReader("BBB"), 3); err != nil {
		t.Fatal(err)
	}
	if info, _ := st.Stat(ctx, "books/b.snapshot"); info.Size != 3 {
		t.Fatalf("replaced size %d", info.Size)
	}
	if err := st.Delete(ctx, "books/b.snapshot"); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, "books/b.snapshot"); err != nil {
		t.Fatalf("deleting a missing object: %v", err)
	}
	if _, err := st.Stat(ctx, "books/b.snapshot"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("deleted object still there: %v", err)
	}
	for _, bad := range []string{"../x", "books/../../x", "/abs", "a//b", ".hidden"} {
		if err := st.Put(ctx, bad, strings.NewReader("x"), 1); err == nil {
			t.Errorf("Put(%q) accepted", bad)
		}
	}
	// Catalog helpers on top of the store.
	src := filepath.Join(t.TempDir(), "archive")
	os.WriteFile(src, []byte("archive-bytes"), 0o644)
	name := CollectionSnapshotName("books", 1, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	if err := PutArchive(ctx, st, "books", name, src, "abc123", false); err != nil {
		t.Fatal(err)
	}
	ds, err := ListSnapshots(ctx, st, "books")
	if err != nil {
		t.Fatal(err)
	}
	var found *Description
	for i := range ds {
		if ds[i].Name == name {
			found = &ds[i]
		}
	}
	if found == nil || found.Checksum != "abc123" || found.Size != 13 || found.CreationTime != "2026-01-02T03:04:05" {
		t.Fatalf("ListSnapshots = %+v", ds)
	}
	if d, err := DescribeSnapshot(ctx, st, "books", name); err != nil || d != *found {
		t.Fatalf("DescribeSnapshot = %+v, %v", d, err)
	}
	if ok, err := DeleteSnapshot(ctx, st, "books", name); !ok || err != nil {
		t.Fatalf("DeleteSnapshot = %v, %v", ok, err)
	}
	if ok, err := DeleteSnapshot(ctx, st, "books", name); ok || err != nil {
		t.Fatalf("second DeleteSnapshot = %v, %v", ok, err)
	}
	if _, err := st.Stat(ctx, "books/"+name+ChecksumExt); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("checksum sidecar survived the delete")
	}
}

func TestDirStoreContract(t *testing.T) {
	st, err := OpenDirStore(t.TempDir(), "local")
	if err != nil {
		t.Fatal(err)
	}
	storeContract(t, st)
}

func TestDirStoreCleansStrayTempFiles(t *testing.T) {
	root := t.TempDir()
	st, err := OpenDirStore(root, "local")
	if err != nil {
		t.Fatal(err)
	}
	f, err := st.TempFile("books/x.snapshot")
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("partial")
	f.Close()
	os.MkdirAll(filepath.Join(root, ".verify.tmp-123", "x"), 0o755)
	if err := st.Put(context.Background(), "books/y.snapshot", strings.NewReader("y"), 1); err != nil {
		t.Fatal(err)
	}
	if objs, _ := st.List(context.Background(), "books"); len(objs) != 1 {
		t.Fatalf("temporary file listed: %+v", objs)
	}
	if _, err := OpenDirStore(root, "local"); err != nil {
		t.Fatal(err)
	}
	if d := treeDigest(t, root); len(d) != 3 || !strings.HasPrefix(d[2], "f books/y.snapshot") {
		t.Fatalf("after reopen: %v", d)
	}
}

func TestPutWithWrongSizeFails(t *testing.T) {
	st, _ := OpenDirStore(t.TempDir(), "local")
	if err := st.Put(context.Background(), "a", strings.NewReader("abc"), 5); err == nil {
		t.Fatal("short body accepted")
	}
	if objs, _ := st.List(context.Background(), ""); len(objs) != 0 {
		t.Fatalf("failed put left %v", objs)
	}
}
