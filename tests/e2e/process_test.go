package e2e

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// proc is a running shoal process.
type proc struct {
	cmd  *exec.Cmd
	logs *lockedBuffer
	done chan error
}

func startProc(t *testing.T, bin, dir string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), logs: &lockedBuffer{}, done: make(chan error, 1)}
	p.cmd.Dir = dir
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) alive() bool {
	select {
	case err := <-p.done:
		p.done <- err
		return false
	default:
		return true
	}
}

// stop sends SIGTERM and returns the exit code.
func (p *proc) stop(t *testing.T) int {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(60 * time.Second):
		t.Fatalf("no exit 60 s after SIGTERM:\n%s", p.logs)
		return -1
	}
}

// TestBinaryLifecycle builds the real binary, configures it only through
// Qdrant's environment variables, does a REST round trip, stops it with
// SIGTERM (exit 0), and restarts it on the same storage.
func TestBinaryLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	httpPort, grpcPort := freePort(t), freePort(t)
	env := cleanEnv(
		fmt.Sprintf("QDRANT__SERVICE__HTTP_PORT=%d", httpPort),
		fmt.Sprintf("QDRANT__SERVICE__GRPC_PORT=%d", grpcPort),
		"QDRANT__SERVICE__HOST=127.0.0.1",
		"QDRANT__STORAGE__STORAGE_PATH="+filepath.Join(dir, "data", "storage"),
		"QDRANT__STORAGE__SNAPSHOTS_PATH="+filepath.Join(dir, "data", "snapshots"),
		"QDRANT__LOG_LEVEL=DEBUG",
	)
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)

	p := startProc(t, bin, dir, env)
	waitReady(t, base, 60*time.Second, p.alive, p.logs)
	roundTrip(t, base, "e2e")
	if code := p.stop(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM:\n%s", code, p.logs)
	}
	if !strings.Contains(p.logs.String(), "shutdown complete") {
		t.Fatalf("no clean shutdown in the logs:\n%s", p.logs)
	}

	p2 := startProc(t, bin, dir, env)
	waitReady(t, base, 60*time.Second, p2.alive, p2.logs)
	checkSearch(t, base, "e2e")
	info := api(t, "GET", base+"/collections/e2e", nil)
	if n := info["result"].(map[string]any)["points_count"]; n != float64(3) {
		t.Fatalf("points_count after restart: %v", n)
	}
	if code := p2.stop(t); code != 0 {
		t.Fatalf("second exit code %d:\n%s", code, p2.logs)
	}
}

// TestBinaryRefusesClusterMode: a config asking for cluster mode without any
// peer authentication is refused with a message naming the key.
func TestBinaryRefusesClusterMode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = cleanEnv("QDRANT__CLUSTER__ENABLED=true", "QDRANT__SERVICE__HTTP_PORT=0", "QDRANT__SERVICE__GRPC_PORT=0")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "cluster.enabled") {
		t.Fatalf("want exit 2 naming cluster.enabled, got %v:\n%s", err, out)
	}
}
