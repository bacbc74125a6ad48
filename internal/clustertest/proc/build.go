// Package proc runs the real shoal binary as child processes for tests:
// Build compiles ./cmd/shoal once per test binary, Start launches a node on
// 127.0.0.1 ports with its own directory, and a Node can be killed
// (SIGKILL), stopped (SIGTERM), paused (SIGSTOP), resumed and restarted on
// the same directory and ports. Output goes to files in the node's
// directory and is dumped into the test log when the test fails.
//
// The package is test support: only tests import it.
package proc

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// build caches the result of the first Build of the test binary. It is the
// package's only mutable state, allowed here because the package is test
// support: every test of one process shares one compiled shoal.
var build struct {
	once sync.Once
	path string
	err  error
}

// Build compiles ./cmd/shoal of the module the test runs in (CGO_ENABLED=0,
// -trimpath, as the container image) and returns the binary's path. The
// first call of a test process builds, later calls return the same path
// (or the same failure). The binary lives in a directory of the system's
// temporary directory keyed by the module's location, replaced atomically by
// each build, so concurrent test processes of one tree share it and nothing
// accumulates.
//
// Under the race detector Build skips the test: the processes it starts
// are not race-instrumented, so the race pass would only repeat the
// normal pass (which runs every real-process test) more slowly.
func Build(t testing.TB) string {
	t.Helper()
	if raceEnabled {
		t.Skip("real-process test: runs in the pass without -race (the processes are not instrumented)")
	}
	build.once.Do(func() { build.path, build.err = compile() })
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.path
}

func compile() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("cannot find the module to build shoal from: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("cannot build shoal: the test does not run inside a module")
	}
	root := filepath.Dir(gomod)
	sum := sha256.Sum256([]byte(root))
	dir := filepath.Join(os.TempDir(), "shoal-proc-"+hex.EncodeToString(sum[:6]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("cannot build shoal: %w", err)
	}
	removeStale(dir)
	tmp, err := os.CreateTemp(dir, "shoal-*.tmp")
	if err != nil {
		return "", fmt.Errorf("cannot build shoal: %w", err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	cmd := exec.Command("go", "build", "-trimpath", "-o", tmp.Name(), "./cmd/shoal")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("cannot build shoal: go build: %w\n%s", err, out)
	}
	bin := filepath.Join(dir, "shoal")
	if err := os.Rename(tmp.Name(), bin); err != nil {
		return "", fmt.Errorf("cannot build shoal: %w", err)
	}
	return bin, nil
}

// removeStale removes the partial builds of test processes that died while
// building (an hour old or more; a build in progress is younger).
func removeStale(dir string) {
	tmps, _ := filepath.Glob(filepath.Join(dir, "shoal-*.tmp"))
	for _, p := range tmps {
		if st, err := os.Stat(p); err == nil && time.Since(st.ModTime()) > time.Hour {
			os.Remove(p)
		}
	}
}
