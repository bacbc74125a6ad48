package proc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// call sends a JSON request with a timeout and returns the status and the
// decoded body.
func call(method, url string, body any, timeout time.Duration) (int, map[string]any, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: timeout}).Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, raw)
	}
	return resp.StatusCode, out, nil
}

// mustCall fails the test unless the request answers 200 {"status":"ok"}.
func mustCall(t *testing.T, method, url string, body any) map[string]any {
	t.Helper()
	code, out, err := call(method, url, body, 30*time.Second)
	if err != nil || code != 200 || out["status"] != "ok" {
		t.Fatalf("%s %s: %d %v %v", method, url, code, out, err)
	}
	return out
}

func ready(t *testing.T, n *Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := n.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestBuildOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	a := Build(t)
	b := Build(t)
	if a != b {
		t.Fatalf("two builds in one process: %s and %s", a, b)
	}
	out, err := exec.Command(a, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s version: %v\n%s", a, err, out)
	}
}

// TestKillRestart writes through REST, kills the node with SIGKILL,
// restarts it on the same directory and ports, and finds the data.
func TestKillRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := Build(t)
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	n := Start(t, bin, NodeOptions{Name: "n1", HTTPPort: port})
	if want := fmt.Sprintf("http://127.0.0.1:%d", port); n.HTTP() != want {
		t.Fatalf("HTTP() = %s, want %s", n.HTTP(), want)
	}
	o := n.Options()
	if o.GRPCPort == 0 || o.P2PPort == 0 || o.GRPCPort == o.HTTPPort || o.P2PPort == o.GRPCPort || o.Dir == "" {
		t.Fatalf("ports or directory not chosen: %+v", o)
	}
	ready(t, n)
	base := n.HTTP()
	mustCall(t, "PUT", base+"/collections/books", map[string]any{"vectors": map[string]any{"size": 4, "distance": "Dot"}})
	mustCall(t, "PUT", base+"/collections/books/points?wait=true", map[string]any{"points": []any{
		map[string]any{"id": 1, "vector": []float32{1, 0, 0, 0}, "payload": map[string]any{"title": "one"}},
		map[string]any{"id": 2, "vector": []float32{0, 1, 0, 0}, "payload": map[string]any{"title": "two"}},
		map[string]any{"id": 3, "vector": []float32{0, 0, 1, 0}, "payload": map[string]any{"title": "three"}},
	}})
	pid := n.PID()

	n.Kill()
	if n.Running() {
		t.Fatal("running after Kill")
	}
	var ee *exec.ExitError
	if err := n.ExitErr(); !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("exit after Kill: %v, want killed by SIGKILL", err)
	}
	if _, _, err := call("GET", base+"/readyz", nil, time.Second); err == nil {
		t.Fatal("a killed node still answers")
	}
	n.Kill() // a no-op now

	n.Restart(t)
	if n.PID() == pid {
		t.Fatal("Restart kept the old process")
	}
	ready(t, n)
	if n.HTTP() != base {
		t.Fatalf("restarted on %s, want %s", n.HTTP(), base)
	}
	info := mustCall(t, "GET", base+"/collections/books", nil)
	if got := info["result"].(map[string]any)["points_count"]; got != float64(3) {
		t.Fatalf("points_count after kill and restart: %v", got)
	}
	pt := mustCall(t, "GET", base+"/collections/books/points/2", nil)
	if title := pt["result"].(map[string]any)["payload"].(map[string]any)["title"]; title != "two" {
		t.Fatalf("point 2 after restart: %v", pt)
	}

	if err := n.Stop(); err != nil {
		t.Fatalf("Stop: %v\n%s", err, n.Logs())
	}
	logs := n.Logs()
	if !strings.Contains(logs, "shutdown complete") {
		t.Fatalf("no clean shutdown in the logs:\n%s", logs)
	}
	if c := strings.Count(logs, "=== proc: start "); c != 4 { // two starts, two files
		t.Fatalf("%d start markers in the logs, want 4", c)
	}
	if err := n.Stop(); err != nil {
		t.Fatalf("Stop of a stopped node: %v", err)
	}
}

// TestPauseResume: a paused node accepts connections but answers nothing;
// resumed, it answers again; a paused node still stops cleanly.
func TestPauseResume(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	n := Start(t, Build(t), NodeOptions{})
	ready(t, n)
	base := n.HTTP()
	mustCall(t, "PUT", base+"/collections/c", map[string]any{"vectors": map[string]any{"size": 2, "distance": "Dot"}})

	if err := n.Pause(); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/readyz", "/collections/c"} {
		_, _, err := call("GET", base+path, nil, 500*time.Millisecond)
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("GET %s on a paused node: %v, want a timeout", path, err)
		}
	}
	if !n.Running() {
		t.Fatal("a paused node must still run")
	}
	if err := n.Resume(); err != nil {
		t.Fatal(err)
	}
	code, out, err := call("GET", base+"/collections/c", nil, 10*time.Second)
	if err != nil || code != 200 {
		t.Fatalf("GET after Resume: %d %v %v", code, out, err)
	}

	if err := n.Pause(); err != nil {
		t.Fatal(err)
	}
	if err := n.Stop(); err != nil {
		t.Fatalf("Stop of a paused node: %v", err)
	}
	if err := n.Pause(); err == nil {
		t.Fatal("Pause of an exited node must fail")
	}
}

// TestStartFailure: a node that exits at start-up is reported by
// WaitReady with its output, not waited for until the deadline.
func TestStartFailure(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	n := Start(t, Build(t), NodeOptions{Env: []string{"QDRANT__CLUSTER__P2P__PORT=-1"}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	err := n.WaitReady(ctx)
	if err == nil || !strings.Contains(err.Error(), "exited before it was ready") || !strings.Contains(err.Error(), "cluster.p2p.port") {
		t.Fatalf("WaitReady on a node with a bad config: %v", err)
	}
	if time.Since(start) > 30*time.Second {
		t.Fatalf("the exit took %v to notice", time.Since(start))
	}
	var ee *exec.ExitError
	if !errors.As(n.ExitErr(), &ee) || ee.ExitCode() != 2 {
		t.Fatalf("exit: %v, want status 2", n.ExitErr())
	}
	if _, err := os.Stat(n.Dir() + "/stderr.log"); err != nil {
		t.Fatal(err)
	}
}

// TestHelperOrphanParent is the child process of TestNoOrphans: it starts
// a node, prints its pid, and waits to be killed.
func TestHelperOrphanParent(t *testing.T) {
	bin := os.Getenv("PROC_TEST_ORPHAN_BIN")
	if bin == "" {
		t.Skip("helper process only")
	}
	n := Start(t, bin, NodeOptions{})
	ready(t, n)
	fmt.Printf("node pid %d\n", n.PID())
	select {}
}

// TestNoOrphans kills (SIGKILL) a test process that started a node and
// checks the node dies with it instead of running on as an orphan.
func TestNoOrphans(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := Build(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperOrphanParent$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "PROC_TEST_ORPHAN_BIN="+bin)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	pid := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if _, err := fmt.Sscanf(sc.Text(), "node pid %d", &pid); err == nil {
			break
		}
	}
	if pid == 0 {
		t.Fatal("the helper never reported its node")
	}
	go io.Copy(io.Discard, out)
	if !alive(pid) {
		t.Fatalf("node %d is not running", pid)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("node %d outlived the test process that started it", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether pid is a process that has not exited (a zombie
// waiting to be reaped counts as exited).
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}
