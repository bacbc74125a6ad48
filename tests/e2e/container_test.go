package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// dockerAvailable reports whether a Docker daemon answers. Where it does
// not, the container test skips, except in CI (CI=true) or with
// SHOAL_REQUIRE_DOCKER=1, where it fails.
func dockerAvailable(t *testing.T) {
	t.Helper()
	why := ""
	if _, err := exec.LookPath("docker"); err != nil {
		why = "no docker command on PATH"
	} else if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		why = fmt.Sprintf("docker daemon not reachable: %v: %s", err, strings.TrimSpace(string(out)))
	}
	if why == "" {
		return
	}
	if os.Getenv("SHOAL_REQUIRE_DOCKER") == "1" {
		t.Fatalf("SHOAL_REQUIRE_DOCKER=1 but %s", why)
	}
	missingTool(t, "the container smoke test cannot run: %s", why)
}

func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// hostPort returns the loopback address docker published for the
// container's port.
func hostPort(t *testing.T, container, port string) string {
	t.Helper()
	out := docker(t, "port", container, port)
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "127.0.0.1:") {
			return line
		}
	}
	t.Fatalf("no 127.0.0.1 mapping for %s in %q", port, out)
	return ""
}

// TestContainer builds the scratch image with docker/build-scratch.sh, runs
// it with a named volume and Qdrant-style env configuration, does a REST
// round trip, stops it (graceful exit 0), starts it again and finds the
// data. Everything it creates is removed.
func TestContainer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an image")
	}
	dockerAvailable(t)
	var rnd [4]byte
	rand.Read(rnd[:])
	id := hex.EncodeToString(rnd[:])
	tag, volume, name := "shoal-e2e:"+id, "shoal-e2e-"+id, "shoal-e2e-"+id

	dist := t.TempDir()
	build := exec.Command(filepath.Join(repoRoot(t), "docker", "build-scratch.sh"), tag)
	build.Dir = repoRoot(t)
	build.Env = append(os.Environ(), "SHOAL_DIST="+dist)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("docker/build-scratch.sh: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag).Run() })
	docker(t, "volume", "create", volume)
	t.Cleanup(func() { exec.Command("docker", "volume", "rm", "-f", volume).Run() })

	// The image's metadata: unprivileged user, Qdrant's ports and volumes.
	meta := docker(t, "image", "inspect", "-f", "{{.Config.User}} {{.Config.WorkingDir}} {{json .Config.ExposedPorts}} {{json .Config.Volumes}}", tag)
	for _, want := range []string{"1000:1000 /qdrant", `"6333/tcp"`, `"6334/tcp"`, `"/qdrant/storage"`, `"/qdrant/snapshots"`} {
		if !strings.Contains(meta, want) {
			t.Fatalf("image metadata %q lacks %q", meta, want)
		}
	}

	// Configure through the environment as with Qdrant's image: a
	// non-default REST port proves QDRANT__ variables reach the server.
	docker(t, "run", "-d", "--name", name,
		"-e", "QDRANT__SERVICE__HTTP_PORT=7333",
		"-p", "127.0.0.1::7333", "-p", "127.0.0.1::6334",
		"-v", volume+":/qdrant/storage", tag)
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := exec.Command("docker", "logs", name).CombinedOutput()
			t.Logf("container logs:\n%s", out)
		}
		exec.Command("docker", "rm", "-f", "-v", name).Run()
	})
	logs := stringerFunc(func() string {
		out, _ := exec.Command("docker", "logs", name).CombinedOutput()
		return string(out)
	})
	running := func() bool { return docker(t, "inspect", "-f", "{{.State.Running}}", name) == "true" }

	base := "http://" + hostPort(t, name, "7333/tcp")
	waitReady(t, base, 90*time.Second, running, logs)
	roundTrip(t, base, "container")

	docker(t, "stop", "-t", "30", name)
	if code := docker(t, "inspect", "-f", "{{.State.ExitCode}}", name); code != "0" {
		t.Fatalf("exit code %s after docker stop:\n%s", code, logs)
	}
	if !strings.Contains(logs.String(), "shutdown complete") {
		t.Fatalf("no graceful shutdown in the logs:\n%s", logs)
	}

	docker(t, "start", name)
	base = "http://" + hostPort(t, name, "7333/tcp") // the host port may change
	waitReady(t, base, 90*time.Second, running, logs)
	checkSearch(t, base, "container")

	// The data lives in the named volume, not in the container's layer: a
	// new container on the same volume serves it.
	docker(t, "rm", "-f", "-v", name)
	name2 := name + "-b"
	docker(t, "run", "-d", "--name", name2, "-p", "127.0.0.1::6333", "-v", volume+":/qdrant/storage", tag)
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", "-v", name2).Run() })
	base = "http://" + hostPort(t, name2, "6333/tcp")
	waitReady(t, base, 90*time.Second, func() bool { return docker(t, "inspect", "-f", "{{.State.Running}}", name2) == "true" }, logs)
	checkSearch(t, base, "container")
}

type stringerFunc func() string

func (f stringerFunc) String() string { return f() }
