package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// composeCommand returns the compose command of this machine: docker
// compose (v2) or docker-compose (v1).
func composeCommand(t *testing.T) []string {
	t.Helper()
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	if _, err := exec.LookPath("docker-compose"); err == nil {
		return []string{"docker-compose"}
	}
	missingTool(t, "neither docker compose nor docker-compose is installed")
	return nil
}

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestComposeCluster runs docker/compose.yaml's three nodes from the
// project's own image: they form one cluster, a collection created and
// written through node 1 is searched through node 3, and /cluster shows
// three peers and one leader. Everything is removed afterwards.
func TestComposeCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an image and runs a cluster")
	}
	dockerAvailable(t)
	compose := composeCommand(t)
	var rnd [4]byte
	rand.Read(rnd[:])
	id := hex.EncodeToString(rnd[:])
	tag, project := "shoal-e2e:"+id, "shoale2e"+id

	dist := t.TempDir()
	build := exec.Command(filepath.Join(repoRoot(t), "docker", "build-scratch.sh"), tag)
	build.Dir = repoRoot(t)
	build.Env = append(os.Environ(), "SHOAL_DIST="+dist)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("docker/build-scratch.sh: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag).Run() })

	ports := map[string]int{}
	env := append(os.Environ(), "SHOAL_IMAGE="+tag, "SHOAL_CLUSTER_SECRET=e2e-compose-secret-0123456789abcdef0123")
	for _, n := range []string{"NODE1_HTTP", "NODE1_GRPC", "NODE2_HTTP", "NODE2_GRPC", "NODE3_HTTP", "NODE3_GRPC"} {
		ports[n] = freeLoopbackPort(t)
		env = append(env, "SHOAL_"+n+"="+strconv.Itoa(ports[n]))
	}
	file := filepath.Join(repoRoot(t), "docker", "compose.yaml")
	run := func(args ...string) (string, error) {
		full := append(append([]string{}, compose[1:]...), append([]string{"-f", file, "-p", project}, args...)...)
		cmd := exec.Command(compose[0], full...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := run("logs", "--no-color", "node1", "node2", "node3")
			t.Logf("compose logs:\n%s", out)
		}
		run("down", "-v", "--remove-orphans")
	})
	// The nodes only; Prometheus' image is not built here.
	if out, err := run("up", "-d", "node1", "node2", "node3"); err != nil {
		t.Fatalf("compose up: %v\n%s", err, out)
	}
	bases := []string{}
	for _, n := range []string{"NODE1_HTTP", "NODE2_HTTP", "NODE3_HTTP"} {
		bases = append(bases, fmt.Sprintf("http://127.0.0.1:%d", ports[n]))
	}
	running := func() bool { return true }
	logs := stringerFunc(func() string { out, _ := run("logs", "--no-color"); return out })
	for _, b := range bases {
		waitReady(t, b, 120*time.Second, running, logs)
	}

	api(t, "PUT", bases[0]+"/collections/c", map[string]any{"vectors": map[string]any{"size": 4, "distance": "Dot"}, "shard_number": 3})
	api(t, "PUT", bases[0]+"/collections/c/points?wait=true", map[string]any{"points": []any{
		map[string]any{"id": 1, "vector": []float32{1, 0, 0, 0}},
		map[string]any{"id": 2, "vector": []float32{0, 1, 0, 0}},
		map[string]any{"id": 3, "vector": []float32{0, 0, 1, 0}},
		map[string]any{"id": 4, "vector": []float32{0.9, 0.1, 0, 0}},
	}})
	out := api(t, "POST", bases[2]+"/collections/c/points/query", map[string]any{"query": []float32{1, 0, 0, 0}, "limit": 2})
	if ids := hitIDs(out["result"].(map[string]any)["points"]); ids != "[1 4]" {
		t.Fatalf("search through node3: %s", ids)
	}
	leaders := map[string]bool{}
	for i, b := range bases {
		st := api(t, "GET", b+"/cluster", nil)["result"].(map[string]any)
		raft := st["raft_info"].(map[string]any)
		if len(st["peers"].(map[string]any)) != 3 || raft["leader"] == nil {
			t.Fatalf("GET /cluster on node%d: %v", i+1, st)
		}
		leaders[fmt.Sprint(raft["leader"])] = true
	}
	if len(leaders) != 1 {
		t.Fatalf("nodes disagree on the leader: %v", leaders)
	}
}
