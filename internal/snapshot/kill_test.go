package snapshot

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// slowReader yields n bytes slowly, announcing on ready after the first chunk.
type slowReader struct {
	n     int
	sent  int
	ready func()
}

func (r *slowReader) Read(p []byte) (int, error) {
	if r.sent >= r.n {
		return 0, io.EOF
	}
	if r.sent > 0 {
		if r.ready != nil {
			r.ready()
			r.ready = nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	k := min(len(p), 4096, r.n-r.sent)
	for i := range p[:k] {
		p[i] = 'x'
	}
	r.sent += k
	return k, nil
}

// TestHelperSnapshotWriter is the child process of TestKillDuringSnapshot:
// it writes a snapshot into the store slowly and is killed midway.
func TestHelperSnapshotWriter(t *testing.T) {
	root := os.Getenv("SHOAL_SNAPSHOT_KILL_ROOT")
	if root == "" {
		t.Skip("helper process only")
	}
	st, err := OpenDirStore(root, "local")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// One archive written through a temp file (as the Manager does) and one
	// streamed by Put (as an upload is).
	src := makeTree(t, 31, 1<<20)
	f, err := st.TempFile("books/" + CollectionSnapshotName("books", 1, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := WriteArchive(ctx, f, testManifest("books"), src, nil); err != nil {
		t.Fatal(err)
	}
	// Leave that temp file behind, unfinished, and stream another.
	r := &slowReader{n: 64 << 20, ready: func() { os.Stdout.WriteString("writing\n") }}
	st.Put(ctx, "books/"+CollectionSnapshotName("books", 1, time.Now().Add(time.Second)), r, int64(r.n))
	t.Fatal("the writer was not killed")
}

func TestKillDuringSnapshotLeavesNothingListed(t *testing.T) {
	root := filepath.Join(t.TempDir(), "snapshots")
	st, err := OpenDirStore(root, "local")
	if err != nil {
		t.Fatal(err)
	}
	// A finished snapshot from before must survive.
	ctx := context.Background()
	if err := PutArchive(ctx, st, "books", CollectionSnapshotName("books", 1, time.Unix(0, 0)), writeTemp(t, "old"), "sum", false); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperSnapshotWriter$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SHOAL_SNAPSHOT_KILL_ROOT="+root)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "writing" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child said %q, %v", line, err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	// Before the restart cleanup the partial files exist but are not listed.
	if got := names(t, st, "books"); len(got) != 1 {
		t.Fatalf("listed after kill: %v", got)
	}
	var tmp int
	for _, e := range treeDigest(t, root) {
		if strings.Contains(e, tmpMarker) {
			tmp++
		}
	}
	if tmp != 2 {
		t.Fatalf("expected the killed writer's two temporary files, found %d: %v", tmp, treeDigest(t, root))
	}
	// "Restart": reopening the store cleans them.
	st, err = OpenDirStore(root, "local")
	if err != nil {
		t.Fatal(err)
	}
	if got := names(t, st, "books"); len(got) != 1 {
		t.Fatalf("listed after restart: %v", got)
	}
	for _, e := range treeDigest(t, root) {
		if strings.Contains(e, tmpMarker) {
			t.Fatalf("stray file after restart: %s", e)
		}
	}
}
