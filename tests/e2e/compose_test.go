package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
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

	// RF 2: node3 is docker-killed during an import, restarted and catches
	// up; then it is killed for good and replaced by an empty node3 (a new
	// volume), which takes its place; every time the replicas end equal.
	api(t, "PUT", bases[0]+"/collections/rf", map[string]any{"vectors": map[string]any{"size": 4, "distance": "Dot"},
		"shard_number": 3, "replication_factor": 2})
	importing := make(chan int)
	stop := make(chan struct{})
	go func() {
		acked := 0
		for id := 1; ; id++ {
			select {
			case <-stop:
				importing <- acked
				return
			default:
			}
			body, _ := json.Marshal(map[string]any{"points": []any{map[string]any{"id": id, "vector": []float32{1, float32(id), 0, 1}}}})
			req, _ := http.NewRequest(http.MethodPut, bases[0]+"/collections/rf/points?wait=true", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					acked = id
					continue
				}
			}
			// Not acknowledged: the next id goes on; the count check
			// below allows for it.
			time.Sleep(50 * time.Millisecond)
		}
	}()
	time.Sleep(2 * time.Second)
	if out, err := run("kill", "node3"); err != nil {
		t.Fatalf("docker kill node3: %v\n%s", err, out)
	}
	time.Sleep(3 * time.Second)
	if out, err := run("start", "node3"); err != nil {
		t.Fatalf("start node3: %v\n%s", err, out)
	}
	waitReady(t, bases[2], 120*time.Second, running, logs)
	time.Sleep(time.Second)
	close(stop)
	acked := <-importing
	if acked < 20 {
		t.Fatalf("only %d points acknowledged during the import", acked)
	}
	composeConverged(t, bases, "rf", 3, 2, 60*time.Second)
	for i, b := range bases {
		cnt := api(t, "POST", b+"/collections/rf/points/count?consistency=all", map[string]any{"exact": true})["result"].(map[string]any)["count"].(float64)
		if int(cnt) < acked {
			t.Fatalf("node%d counts %v points, %d were acknowledged", i+1, cnt, acked)
		}
	}

	oldID := fmt.Sprint(api(t, "GET", bases[2]+"/cluster", nil)["result"].(map[string]any)["peer_id"])
	if out, err := run("kill", "node3"); err != nil {
		t.Fatalf("docker kill node3: %v\n%s", err, out)
	}
	if out, err := run("rm", "-f", "node3"); err != nil {
		t.Fatalf("rm node3: %v\n%s", err, out)
	}
	if out, err := exec.Command("docker", "volume", "rm", project+"_node3-storage").CombinedOutput(); err != nil {
		t.Fatalf("docker volume rm: %v\n%s", err, out)
	}
	if out, err := run("up", "-d", "node3"); err != nil {
		t.Fatalf("up node3 (empty): %v\n%s", err, out)
	}
	waitReady(t, bases[2], 120*time.Second, running, logs)
	deadline := time.Now().Add(120 * time.Second)
	for {
		peers := api(t, "GET", bases[0]+"/cluster", nil)["result"].(map[string]any)["peers"].(map[string]any)
		if _, stale := peers[oldID]; !stale && len(peers) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the empty node3 did not replace peer %s: %v", oldID, peers)
		}
		time.Sleep(500 * time.Millisecond)
	}
	composeConverged(t, bases, "rf", 3, 2, 120*time.Second)
}

// composeConverged waits until every shard of a collection has want
// replicas over the nodes, all Active at one sequence number with one
// digest.
func composeConverged(t *testing.T, bases []string, name string, shards, want int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		why := ""
		byShard := map[float64][]map[string]any{}
		for i, b := range bases {
			resp, err := http.Get(b + "/collections/" + name + "/cluster/digests")
			if err != nil {
				why = fmt.Sprintf("node%d: %v", i+1, err)
				break
			}
			var out struct {
				Result []map[string]any `json:"result"`
			}
			err = json.NewDecoder(resp.Body).Decode(&out)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				why = fmt.Sprintf("node%d: %d %v", i+1, resp.StatusCode, err)
				break
			}
			for _, d := range out.Result {
				byShard[d["shard"].(float64)] = append(byShard[d["shard"].(float64)], d)
			}
		}
		if why == "" && len(byShard) != shards {
			why = fmt.Sprintf("%d shards have replicas", len(byShard))
		}
		for s, ds := range byShard {
			if why != "" {
				break
			}
			if len(ds) != want {
				why = fmt.Sprintf("shard %v has %d replicas", s, len(ds))
				break
			}
			for _, d := range ds {
				if d["state"] != "Active" || d["seq"] != ds[0]["seq"] || d["digest"] != ds[0]["digest"] {
					why = fmt.Sprintf("shard %v: %v", s, ds)
					break
				}
			}
		}
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("replicas of %s did not converge: %s", name, why)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
