package snapshot_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/service"
	"github.com/shoal-db/shoal/internal/snapshot"
)

// openNodeAt opens a service and snapshot manager over an existing
// directory (as a restarted server does).
func openNodeAt(t testing.TB, dir string) *node {
	t.Helper()
	svc, err := service.New(service.Options{StorageDir: filepath.Join(dir, "storage")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	st, err := snapshot.OpenDirStore(filepath.Join(dir, "snapshots"), "local")
	if err != nil {
		t.Fatal(err)
	}
	hooks := svc.SnapshotHooks(filepath.Join(dir, "storage", "snapshots_temp"))
	mgr, err := snapshot.NewManager(snapshot.ManagerOptions{Source: hooks, Inspector: hooks, Store: st, PeerID: 42})
	if err != nil {
		t.Fatal(err)
	}
	return &node{svc: svc, mgr: mgr, store: st, hooks: hooks, dir: dir}
}

// TestHelperSnapshotNode is the child process of
// TestKillNodeDuringSnapshot: a node that writes and snapshots in a loop
// until it is killed.
func TestHelperSnapshotNode(t *testing.T) {
	dir := os.Getenv("SHOAL_SNAPSHOT_NODE_DIR")
	if dir == "" {
		t.Skip("helper process only")
	}
	n := openNodeAt(t, dir)
	if ok, _ := n.svc.CollectionExists(bg, "books"); !ok {
		createCollection(t, n.svc, "books", 2)
		// Ten thousand points, so that an archive takes a while to write.
		for b := 0; b < 20; b++ {
			var pts []api.PointStruct
			for i := 0; i < 500; i++ {
				p := point(uint64(b*500+i), i)
				v := make([]float32, dim)
				copy(v, p.Vector["text"])
				pts = append(pts, api.PointStruct{ID: p.ID, Vector: api.Vectors{"text": v, "img": p.Vector["img"]}, Payload: p.Payload})
			}
			if _, err := n.svc.Upsert(bg, "books", &api.UpsertPoints{Points: pts}, api.WriteParams{Wait: true}); err != nil {
				t.Fatal(err)
			}
		}
	}
	fmt.Println("ready")
	go func() {
		for k := 0; ; k++ {
			apply(t, n.svc, "books", nextOp(k+100000))
		}
	}()
	for {
		if _, err := n.mgr.CreateCollectionSnapshot(bg, "books"); err != nil {
			t.Fatal(err)
		}
		fmt.Println("snapshot")
	}
}

// TestKillNodeDuringSnapshot kills (SIGKILL) a real node process while it
// writes a snapshot and checks, after a restart, that no partial snapshot is
// listed, every listed snapshot verifies, and no stray files are left.
func TestKillNodeDuringSnapshot(t *testing.T) {
	dir := t.TempDir()
	for round := 0; round < 3; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperSnapshotNode$", "-test.count=1")
		cmd.Env = append(os.Environ(), "SHOAL_SNAPSHOT_NODE_DIR="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(out)
		if !lines.Scan() || lines.Text() != "ready" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child did not get ready: %q", lines.Text())
		}
		go func() {
			for lines.Scan() {
			}
		}()
		// Kill as soon as an archive is being written (a temporary file is
		// in the store), after a few complete ones in later rounds.
		time.Sleep(time.Duration(round) * 300 * time.Millisecond)
		deadline := time.Now().Add(30 * time.Second)
		for !hasTemp(t, filepath.Join(dir, "snapshots")) {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatal("never saw a snapshot being written")
			}
			time.Sleep(time.Millisecond)
		}
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}

	// Restart.
	n := openNodeAt(t, dir)
	ds, err := n.mgr.ListCollectionSnapshots(bg, "books")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		rep, err := n.mgr.VerifyStored(bg, "books", d.Name)
		if err != nil || !rep.OK {
			t.Fatalf("listed snapshot %s does not verify: %+v, %v", d.Name, rep, err)
		}
	}
	if hasTemp(t, filepath.Join(dir, "snapshots")) {
		t.Fatal("stray temporary files in the snapshots directory after restart")
	}
	if entries, _ := os.ReadDir(n.hooks.TempDir()); len(entries) != 0 {
		t.Fatalf("stray scratch after restart: %v", entries)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "storage", "collections"))
	if len(entries) != 1 || entries[0].Name() != "books" {
		t.Fatalf("collections directory after restart: %v", entries)
	}
	t.Logf("%d complete snapshots listed after 3 kills", len(ds))
}

func hasTemp(t testing.TB, root string) bool {
	found := false
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.Contains(filepath.Base(p), ".tmp-") {
			found = true
		}
		return nil
	})
	return found
}
