package snapshot_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/snapshot"
)

// TestQdrantSuiteSnapshotErrors covers what Qdrant's test_snapshot.py
// checks of downloads and file locations: a name that no snapshot can have
// is 404 like an unknown one; a file:// location needs an absolute path on
// localhost (400 "Invalid snapshot URI ..."), and a missing file is 400
// with Qdrant's quoted path.
func TestQdrantSuiteSnapshotErrors(t *testing.T) {
	n := newNode(t)
	want := func(what string, err error, kind api.Kind, msg string) {
		t.Helper()
		var ae *api.Error
		if !errors.As(err, &ae) || ae.Kind != kind || ae.Message != msg {
			t.Errorf("%s: got %v, want kind %v %q", what, err, kind, msg)
		}
	}
	for _, name := range []string{"../../../etc/passwd", "/etc/passwd", ".."} {
		_, _, err := n.mgr.OpenFullSnapshot(bg, name)
		want("full "+name, err, api.KindNotFound, "Not found: Snapshot "+name+" not found")
	}
	for _, loc := range []string{"file://whatever.snapshot", "file://./etc/passwd", "file://host/x.snapshot"} {
		_, err := n.mgr.OpenLocation(bg, loc, "", "")
		want(loc, err, api.KindBadRequest, "Bad request: Invalid snapshot URI, file path must be absolute or on localhost")
	}
	for _, loc := range []string{"file:///whatever.snapshot", "file://localhost/whatever.snapshot"} {
		_, err := n.mgr.OpenLocation(bg, loc, "", "")
		want(loc, err, api.KindBadRequest, `Bad request: Snapshot file "/whatever.snapshot" does not exist`)
	}
}

// TestRecoverLocationInsideSnapshotsDir checks Qdrant's rule for recover
// locations on the node (test_collection_snapshot_security): a file:// URL
// or a plain path is read only if it resolves, symbolic links and ".."
// followed, to a file inside the snapshots directory; anything else is 403
// with Qdrant's text, before a byte of it is read.
func TestRecoverLocationInsideSnapshotsDir(t *testing.T) {
	n := newNode(t)
	root := n.store.Root()
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		t.Fatal(err)
	}
	forbidden := fmt.Sprintf("Forbidden: Snapshot file path must be inside the snapshots directory %q", realRoot)
	want := func(what string, err error, kind api.Kind, msg string) {
		t.Helper()
		var ae *api.Error
		if !errors.As(err, &ae) || ae.Kind != kind || ae.Message != msg {
			t.Errorf("%s: got %v, want kind %v %q", what, err, kind, msg)
		}
	}
	outside := filepath.Join(n.dir, "outside.snapshot")
	inside := filepath.Join(root, "c", "inside.snapshot")
	for p, body := range map[string]string{outside: "secret", inside: "archive"} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(root, "c", "escape.snapshot")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(inside, filepath.Join(root, "link.snapshot")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(n.dir, filepath.Join(root, "up")); err != nil {
		t.Fatal(err)
	}
	for _, loc := range []string{
		"file:///etc/passwd", "/etc/passwd", "file://localhost/etc/passwd",
		"file://" + outside, outside,
		"file://" + root + "/../outside.snapshot", root + "/c/../../outside.snapshot",
		"file://" + filepath.Join(root, "c", "escape.snapshot"),
		"file://" + root + "/up/outside.snapshot",
		"file://" + root, // the directory itself is not inside it
	} {
		rc, err := n.mgr.OpenLocation(bg, loc, "", "")
		if err == nil {
			rc.Close()
		}
		want(loc, err, api.KindForbidden, forbidden)
	}
	// Inside, also through a link or "..": the file is read.
	for _, loc := range []string{
		"file://" + inside, inside, "file://" + filepath.Join(root, "link.snapshot"),
		"file://" + root + "/up/snapshots/c/inside.snapshot", root + "/c/../c/inside.snapshot",
	} {
		rc, err := n.mgr.OpenLocation(bg, loc, "", "")
		if err != nil {
			t.Errorf("%s: %v", loc, err)
			continue
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if string(b) != "archive" {
			t.Errorf("%s read %q", loc, b)
		}
	}
	if err := os.Mkdir(filepath.Join(root, "c", "dir.snapshot"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = n.mgr.OpenLocation(bg, "file://"+filepath.Join(root, "c", "dir.snapshot"), "", "")
	want("a directory", err, api.KindBadInput, "Wrong input: snapshot location "+filepath.Join(root, "c", "dir.snapshot")+" is not a regular file")

	// A snapshots directory reached through a link, and one named
	// explicitly for a store that is not a directory (S3).
	linked := filepath.Join(n.dir, "linked-snapshots")
	if err := os.Symlink(root, linked); err != nil {
		t.Fatal(err)
	}
	for _, opts := range []snapshot.ManagerOptions{
		{Source: n.hooks, Store: mustDirStore(t, linked)},
		{Source: n.hooks, Store: otherStore{n.store}, SnapshotsDir: linked},
	} {
		m, err := snapshot.NewManager(opts)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := m.OpenLocation(bg, "file://"+filepath.Join(linked, "c", "inside.snapshot"), "", "")
		if err != nil {
			t.Fatalf("inside a linked snapshots directory: %v", err)
		}
		rc.Close()
		_, err = m.OpenLocation(bg, "file://"+outside, "", "")
		want("outside a linked snapshots directory", err, api.KindForbidden, forbidden)
	}
	// No snapshots directory at all: every file location is refused.
	m, err := snapshot.NewManager(snapshot.ManagerOptions{Source: n.hooks, Store: otherStore{n.store}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.OpenLocation(bg, "file://"+inside, "", "")
	want("no snapshots directory", err, api.KindForbidden, `Forbidden: Snapshot file path must be inside the snapshots directory ""`)
}

// otherStore hides that a store is a *snapshot.DirStore.
type otherStore struct{ snapshot.Store }

func mustDirStore(t *testing.T, root string) *snapshot.DirStore {
	t.Helper()
	st, err := snapshot.OpenDirStore(root, "local")
	if err != nil {
		t.Fatal(err)
	}
	return st
}
