// Package e2e tests Shoal as users run it: a real binary in a real process,
// the README's commands in a fresh clone, and the container image.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// repoRoot returns the module root (two levels up from this package).
// inCI reports whether the tests run in CI (CI=true, as .ci/run and most
// CI systems set it), where a missing tool fails a test instead of
// skipping it: a skip there would hide that the test never ran.
func inCI(getenv func(string) string) bool {
	switch strings.ToLower(strings.TrimSpace(getenv("CI"))) {
	case "true", "1", "yes":
		return true
	}
	return false
}

// missingTool skips t because a tool it needs is missing, or fails it in
// CI (see inCI).
func missingTool(t *testing.T, format string, args ...any) {
	t.Helper()
	if inCI(os.Getenv) {
		t.Fatalf("CI=true, and "+format, args...)
	}
	t.Skipf(format, args...)
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("no go.mod at %s: %v", dir, err)
	}
	return dir
}

// buildBinary builds cmd/shoal into dir the way the container image is
// built (static, CGO_ENABLED=0, -trimpath), so the process and container
// tests share one build, and returns its path.
func buildBinary(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "shoal")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./cmd/shoal")
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// freePort returns a TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// lockedBuffer collects a process's output safely.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitReady polls GET base/readyz until it answers 200 or the deadline
// passes; alive reports whether the server process still runs.
func waitReady(t *testing.T, base string, timeout time.Duration, alive func() bool, logs fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	c := &http.Client{Timeout: 2 * time.Second}
	for time.Now().Before(deadline) {
		if alive != nil && !alive() {
			t.Fatalf("server exited before it was ready:\n%s", logs)
		}
		resp, err := c.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s not ready after %v:\n%s", base, timeout, logs)
}

// api sends a JSON request and returns the decoded envelope, failing the
// test unless the answer is 200 {"status":"ok"}.
func api(t *testing.T, method, url string, body any) map[string]any {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil || resp.StatusCode != 200 || out["status"] != "ok" {
		t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, raw)
	}
	return out
}

// roundTrip creates a collection, upserts three points and checks a
// filtered and an unfiltered search.
func roundTrip(t *testing.T, base, name string) {
	t.Helper()
	api(t, "PUT", base+"/collections/"+name, map[string]any{"vectors": map[string]any{"size": 4, "distance": "Cosine"}})
	api(t, "PUT", base+"/collections/"+name+"/points?wait=true", map[string]any{"points": []any{
		map[string]any{"id": 1, "vector": []float32{0.05, 0.61, 0.76, 0.74}, "payload": map[string]any{"city": "Berlin"}},
		map[string]any{"id": 2, "vector": []float32{0.19, 0.81, 0.75, 0.11}, "payload": map[string]any{"city": "London"}},
		map[string]any{"id": 3, "vector": []float32{0.36, 0.55, 0.47, 0.94}, "payload": map[string]any{"city": "Moscow"}},
	}})
	checkSearch(t, base, name)
}

// checkSearch checks the answers roundTrip's data must give.
func checkSearch(t *testing.T, base, name string) {
	t.Helper()
	out := api(t, "POST", base+"/collections/"+name+"/points/search", map[string]any{"vector": []float32{0.2, 0.1, 0.9, 0.7}, "limit": 3})
	if ids := hitIDs(out["result"]); ids != "[1 3 2]" {
		t.Fatalf("search order %s: %v", ids, out)
	}
	out = api(t, "POST", base+"/collections/"+name+"/points/query", map[string]any{
		"query": []float32{0.2, 0.1, 0.9, 0.7}, "limit": 3,
		"filter": map[string]any{"must": []any{map[string]any{"key": "city", "match": map[string]any{"value": "London"}}}},
	})
	if ids := hitIDs(out["result"].(map[string]any)["points"]); ids != "[2]" {
		t.Fatalf("filtered query %s: %v", ids, out)
	}
}

func hitIDs(v any) string {
	var ids []string
	for _, p := range v.([]any) {
		ids = append(ids, strconv.FormatFloat(p.(map[string]any)["id"].(float64), 'f', -1, 64))
	}
	return "[" + strings.Join(ids, " ") + "]"
}

// cleanEnv returns the environment without variables that would change how
// the child configures itself.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "QDRANT__") || strings.HasPrefix(kv, "SHOAL__") || strings.HasPrefix(kv, "RUN_MODE=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

func TestInCI(t *testing.T) {
	for v, want := range map[string]bool{"true": true, "TRUE": true, "1": true, "yes": true, "": false, "false": false, "0": false} {
		if got := inCI(func(k string) string {
			if k == "CI" {
				return v
			}
			return ""
		}); got != want {
			t.Errorf("CI=%q: inCI = %v, want %v", v, got, want)
		}
	}
}

// TestMissingToolFailsInCI runs a test that lacks a tool in a child
// process: with CI=true it fails, without it it skips.
func TestMissingToolFailsInCI(t *testing.T) {
	if os.Getenv("SHOAL_E2E_MISSING_TOOL_CHILD") == "1" {
		missingTool(t, "no frobnicator on PATH")
		return
	}
	for _, c := range []struct {
		ci       string
		wantFail bool
		wantText string
	}{
		{"true", true, "CI=true, and no frobnicator on PATH"},
		{"", false, "--- SKIP: TestMissingToolFailsInCI"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMissingToolFailsInCI$", "-test.v")
		cmd.Env = append(os.Environ(), "SHOAL_E2E_MISSING_TOOL_CHILD=1", "CI="+c.ci)
		out, err := cmd.CombinedOutput()
		if failed := err != nil; failed != c.wantFail || !strings.Contains(string(out), c.wantText) {
			t.Errorf("CI=%q: failed=%v (%v), want %v with %q:\n%s", c.ci, failed, err, c.wantFail, c.wantText, out)
		}
	}
}
