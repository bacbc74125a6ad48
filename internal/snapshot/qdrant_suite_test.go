package snapshot_test

import (
	"errors"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
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
