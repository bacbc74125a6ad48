package e2e

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
)

// The README's two commands. The test below fails if the README stops
// saying them, so a change to either is a change to this test too.
const (
	readmeRunCommand  = "go run ./cmd/shoal"
	readmeTestCommand = "./scripts/test.sh"
)

// readmeCommands returns the lines of fenced shell blocks in README.md.
func readmeCommands(t *testing.T, root string) map[string]bool {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmds := map[string]bool{}
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "```") {
			in = !in && (line == "```sh" || line == "```bash" || line == "```shell")
			continue
		}
		if in {
			cmds[line] = true
		}
	}
	return cmds
}

// TestCIRunsTheREADMETestCommand: .ci/run must end in exactly the README's
// test command.
func TestCIRunsTheREADMETestCommand(t *testing.T) {
	root := repoRoot(t)
	cmds := readmeCommands(t, root)
	if !cmds[readmeRunCommand] || !cmds[readmeTestCommand] {
		t.Fatalf("README.md shell blocks lack %q or %q", readmeRunCommand, readmeTestCommand)
	}
	ci, err := os.ReadFile(filepath.Join(root, ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(ci)), "\n")
	if last := strings.TrimSpace(lines[len(lines)-1]); last != "exec "+readmeTestCommand && last != readmeTestCommand {
		t.Fatalf(".ci/run ends with %q, not the README's test command %q", last, readmeTestCommand)
	}
	st, err := os.Stat(filepath.Join(root, ".ci", "run"))
	if err != nil || st.Mode()&0o111 == 0 {
		t.Fatalf(".ci/run is not executable: %v", err)
	}
}

// TestFreshCloneRunCommand clones the repository's committed state into a
// temporary directory and runs the README's run command there, with the
// ports moved by Qdrant's environment variables: it must build and answer.
func TestFreshCloneRunCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("clones and builds the repository")
	}
	root := repoRoot(t)
	if _, err := exec.LookPath("git"); err != nil {
		missingTool(t, "the fresh-clone test needs git: %v", err)
	}
	if out, err := exec.Command("git", "-C", root, "rev-parse", "--verify", "HEAD").CombinedOutput(); err != nil {
		missingTool(t, "no git history to clone: %v: %s", err, out)
	}
	clone := filepath.Join(t.TempDir(), "shoal")
	if out, err := exec.Command("git", "clone", "--quiet", "--no-hardlinks", root, clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	cmds := readmeCommands(t, clone)
	if !cmds[readmeRunCommand] {
		t.Fatalf("the committed README.md does not say %q", readmeRunCommand)
	}

	httpPort, grpcPort := freePort(t), freePort(t)
	// Only the user's environment: no GOFLAGS from the developer's shell,
	// so a go.mod/go.sum that is not complete fails here as it would for a
	// user.
	var env []string
	for _, kv := range cleanEnv() {
		if !strings.HasPrefix(kv, "GOFLAGS=") {
			env = append(env, kv)
		}
	}
	env = append(env,
		fmt.Sprintf("QDRANT__SERVICE__HTTP_PORT=%d", httpPort),
		fmt.Sprintf("QDRANT__SERVICE__GRPC_PORT=%d", grpcPort),
		"QDRANT__SERVICE__HOST=127.0.0.1",
	)
	logs := &lockedBuffer{}
	cmd := exec.Command("sh", "-c", readmeRunCommand)
	cmd.Dir = clone
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // go run and its child in one group
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	alive := func() bool {
		select {
		case err := <-done:
			done <- err
			return false
		default:
			return true
		}
	}

	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	// go run compiles first; the shared build cache keeps this short, a cold
	// cache takes minutes on two cores.
	waitReady(t, base, 8*time.Minute, alive, logs)
	roundTrip(t, base, "readme")

	syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-done:
		stopped = true
	case <-time.After(60 * time.Second):
		t.Fatalf("the README's server did not stop on SIGTERM:\n%s", logs)
	}
	// The server itself (the child of go run) shut down cleanly.
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.String(), "shutdown complete") {
		if time.Now().After(deadline) {
			t.Fatalf("no clean shutdown logged:\n%s", logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(clone, "storage")); err != nil {
		t.Fatalf("the default storage path ./storage was not used: %v", err)
	}
}
