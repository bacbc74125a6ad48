package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/clustertest"
	"github.com/shoal-db/shoal/internal/server"
)

// TestClusterSnapshotCommand drives `shoal snapshot cluster` against a
// 3-node cluster: create with labels, list, download and verify offline,
// restore one collection under a new name, delete; a standalone node
// refuses cluster snapshots.
func TestClusterSnapshotCommand(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{})
	for i := range c.Nodes {
		c.Start(i)
	}
	if err := c.WaitFormed(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.MustDo(0, "PUT", "/collections/books", map[string]any{"vectors": map[string]any{"size": 3, "distance": "Euclid"},
		"shard_number": 3, "replication_factor": 2}, nil)
	var pts []any
	for i := 1; i <= 60; i++ {
		pts = append(pts, map[string]any{"id": i, "vector": []float32{float32(i), 1, 2}, "payload": map[string]any{"n": i}})
	}
	c.MustDo(1, "PUT", "/collections/books/points?wait=true", map[string]any{"points": pts}, nil)
	base := "http://" + c.Nodes[2].Srv.HTTPAddr()
	run := func(args ...string) (int, string, string) {
		t.Helper()
		env, out, errb := testEnv(t)
		code := Run(context.Background(), append([]string{"snapshot", "cluster", "--url", base, "-q"}, args...), env)
		return code, out.String(), errb.String()
	}
	code, out, errs := run("create", "--label", "batch=42", "-l", "job=nightly")
	if code != ExitOK || !strings.Contains(out, "created cluster-") || !strings.Contains(out, "60 points") {
		t.Fatalf("create: %d %q %q", code, out, errs)
	}
	name := strings.Fields(out)[1]
	code, out, _ = run("list")
	if code != ExitOK || !strings.Contains(out, name) || !strings.Contains(out, "batch=42,job=nightly") || !strings.Contains(out, "books") {
		t.Fatalf("list: %d %q", code, out)
	}
	file := filepath.Join(t.TempDir(), name)
	if code, out, errs = run("download", name, "-o", file); code != ExitOK {
		t.Fatalf("download: %d %q %q", code, out, errs)
	}
	env, vout, verr := testEnv(t)
	if code := Run(context.Background(), []string{"snapshot", "verify", file}, env); code != ExitOK ||
		!strings.Contains(vout.String(), `"kind": "cluster"`) || !strings.Contains(vout.String(), `"ok": true`) {
		t.Fatalf("verify: %d %q %q", code, vout, verr)
	}
	// The server reads only files in its snapshots directory; the CLI
	// uploads one on this machine.
	if code, raw := c.Do(2, "POST", "/cluster/snapshots/recover", map[string]any{"location": "file://" + file, "collection": "books", "as": "books2"}, nil); code != 403 {
		t.Fatalf("the server read a file outside its snapshots directory: %d %s", code, raw)
	}
	code, out, errs = run("restore", "--location", "file://"+file, "--only", "books", "--as", "books2")
	if code != ExitOK || !strings.Contains(out, "restored books2 (60 points)") || !strings.Contains(out, "(uploaded)") {
		t.Fatalf("restore: %d %q %q", code, out, errs)
	}
	var cnt struct{ Count int }
	c.MustDo(0, "POST", "/collections/books2/points/count", map[string]any{"exact": true}, &cnt)
	if cnt.Count != 60 {
		t.Fatalf("the restored collection counts %d points", cnt.Count)
	}
	// A cluster snapshot name is the server's to read.
	code, out, errs = run("restore", "--location", name, "--only", "books", "--as", "books3")
	if code != ExitOK || !strings.Contains(out, "restored books3 (60 points)") || strings.Contains(out, "uploaded") {
		t.Fatalf("restore by name: %d %q %q", code, out, errs)
	}
	if code, _, errs = run("restore", "--location", "file://"+file, "--as", "x"); code != ExitUsage {
		t.Fatalf("--as without --only: %d %q", code, errs)
	}
	// restore-lost-shard needs --shard, and refuses a shard with live
	// replicas (TestLostShardRestore in clustertest restores a lost one).
	if code, _, errs = run("restore-lost-shard", "books"); code != ExitUsage {
		t.Fatalf("restore-lost-shard without --shard: %d %q", code, errs)
	}
	if code, _, errs = run("restore-lost-shard", "books", "--shard", "1"); code == ExitOK || !strings.Contains(errs, "is not lost") {
		t.Fatalf("restore-lost-shard of a live shard: %d %q", code, errs)
	}
	if code, out, _ = run("delete", name); code != ExitOK || !strings.Contains(out, "deleted") {
		t.Fatalf("delete: %d %q", code, out)
	}
	if _, err := os.Stat(filepath.Join(c.Nodes[2].Cfg.Storage.SnapshotsPath, "cluster", name)); !os.IsNotExist(err) {
		t.Fatalf("the deleted snapshot is still stored: %v", err)
	}

	srv, err := server.New(testServerConfig(t), server.Options{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	base = "http://" + srv.HTTPAddr()
	if code, _, errs = run("create"); code == ExitOK || !strings.Contains(errs, "400 Bad Request: Bad request: Cluster snapshots need a node in cluster mode") {
		t.Fatalf("create on a standalone node: %d %q", code, errs)
	}
	if code, _, errs = run("restore", "--location", file); code == ExitOK || !strings.Contains(errs, "400 Bad Request: Bad request: Cluster snapshots need a node in cluster mode") {
		t.Fatalf("restore (upload) on a standalone node: %d %q", code, errs)
	}
	if code, _, errs = run("restore-lost-shard", "books", "--shard", "0"); code == ExitOK || !strings.Contains(errs, "needs a node in cluster mode") {
		t.Fatalf("restore-lost-shard on a standalone node: %d %q", code, errs)
	}
}
