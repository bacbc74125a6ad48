package clustertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/clustertest/history"
	"github.com/shoal-db/shoal/internal/clustertest/proc"
)

// procCluster is a cluster of real shoal processes on loopback.
type procCluster struct {
	t     *testing.T
	bin   string
	nodes []*proc.Node
	opts  []proc.NodeOptions
}

// newProcCluster prepares n nodes with the same join list (started by
// start). extra adds environment to every node.
func newProcCluster(t *testing.T, n int, extra ...string) *procCluster {
	t.Helper()
	bin := proc.Build(t)
	ports := freePorts(t, 3*n)
	var join []string
	for i := range n {
		join = append(join, "127.0.0.1:"+strconv.Itoa(ports[3*i+2]))
	}
	pc := &procCluster{t: t, bin: bin}
	for i := range n {
		env := append([]string{
			"QDRANT__CLUSTER__ENABLED=true",
			"SHOAL__CLUSTER__SECRET=" + Secret,
			"SHOAL__CLUSTER__JOIN=" + strings.Join(join, ","),
			"SHOAL__CLUSTER__BOOTSTRAP_EXPECT=" + strconv.Itoa(n),
			"SHOAL__CLUSTER__ADVERTISE_URI=http://" + join[i],
			"QDRANT__CLUSTER__CONSENSUS__TICK_PERIOD_MS=50",
			"QDRANT__LOG_LEVEL=INFO",
		}, extra...)
		pc.opts = append(pc.opts, proc.NodeOptions{Name: fmt.Sprintf("node%d", i), Dir: t.TempDir(), Env: env,
			HTTPPort: ports[3*i], GRPCPort: ports[3*i+1], P2PPort: ports[3*i+2]})
	}
	pc.nodes = make([]*proc.Node, n)
	return pc
}

func (pc *procCluster) start(i int) {
	if pc.nodes[i] == nil {
		pc.nodes[i] = proc.Start(pc.t, pc.bin, pc.opts[i])
		return
	}
	pc.nodes[i].Restart(pc.t)
}

func (pc *procCluster) waitReady(timeout time.Duration) {
	pc.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for i, n := range pc.nodes {
		if n == nil || !n.Running() {
			continue
		}
		if err := n.WaitReady(ctx); err != nil {
			pc.t.Fatalf("node %d: %v", i, err)
		}
	}
}

// status reads GET /cluster of node i.
func (pc *procCluster) status(i int) (clusterStatus, error) {
	var st clusterStatus
	code, raw, err := httpJSON(pc.nodes[i].HTTP(), "GET", "/cluster", nil, 2*time.Second)
	if err != nil {
		return st, err
	}
	if code != 200 {
		return st, fmt.Errorf("GET /cluster: %d %s", code, raw)
	}
	err = decodeResult(raw, &st)
	return st, err
}

type clusterStatus struct {
	Status   string                     `json:"status"`
	PeerID   uint64                     `json:"peer_id"`
	Peers    map[string]json.RawMessage `json:"peers"`
	RaftInfo struct {
		Leader *uint64 `json:"leader"`
		Role   string  `json:"role"`
		Term   uint64  `json:"term"`
	} `json:"raft_info"`
}

// formed checks that every running node sees the same leader and all n
// peers.
func (pc *procCluster) formed() error {
	var leader *uint64
	for i, n := range pc.nodes {
		if n == nil || !n.Running() {
			continue
		}
		st, err := pc.status(i)
		if err != nil {
			return err
		}
		if st.RaftInfo.Leader == nil {
			return fmt.Errorf("node %d sees no leader", i)
		}
		if leader != nil && *leader != *st.RaftInfo.Leader {
			return fmt.Errorf("node %d sees leader %d, another %d", i, *st.RaftInfo.Leader, *leader)
		}
		leader = st.RaftInfo.Leader
		if len(st.Peers) != len(pc.nodes) {
			return fmt.Errorf("node %d knows %d peers, want %d", i, len(st.Peers), len(pc.nodes))
		}
	}
	return nil
}

func (pc *procCluster) waitFormed(timeout time.Duration) {
	pc.t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = pc.formed(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	pc.t.Fatalf("cluster not formed after %v: %v", timeout, err)
}

// leaderIndex returns the index of the node that leads, by its peer id.
func (pc *procCluster) leaderIndex() int {
	ids := map[uint64]int{}
	var leader *uint64
	for i, n := range pc.nodes {
		if n == nil || !n.Running() {
			continue
		}
		st, err := pc.status(i)
		if err != nil {
			continue
		}
		ids[st.PeerID] = i
		if st.RaftInfo.Leader != nil {
			leader = st.RaftInfo.Leader
		}
	}
	if leader == nil {
		return -1
	}
	if i, ok := ids[*leader]; ok {
		return i
	}
	return -1
}

func httpJSON(base, method, path string, body any, timeout time.Duration) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, rd)
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
	return resp.StatusCode, raw, err
}

func decodeResult(raw []byte, out any) error {
	var env struct {
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("%v: %s", err, raw)
	}
	return json.Unmarshal(env.Result, out)
}

// TestProcessFormationOrders starts 3 shoal processes with the same
// command in every order, with random gaps of up to 1.5 s: they form one
// cluster each time.
func TestProcessFormationOrders(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	for _, order := range [][]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}} {
		t.Run(fmt.Sprint(order), func(t *testing.T) {
			pc := newProcCluster(t, 3)
			var last time.Time
			for k, i := range order {
				if k > 0 {
					time.Sleep(time.Duration(rng.IntN(1500)) * time.Millisecond)
				}
				last = time.Now()
				pc.start(i)
			}
			pc.waitReady(30 * time.Second)
			pc.waitFormed(30 * time.Second)
			t.Logf("formed %v after the last start", time.Since(last).Round(time.Millisecond))
		})
	}
}

// TestProcessQdrantBootstrap forms a cluster Qdrant's way: the first peer
// with --uri alone, the others with --bootstrap pointing at it.
func TestProcessQdrantBootstrap(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes")
	}
	bin := proc.Build(t)
	ports := freePorts(t, 9)
	var nodes []*proc.Node
	first := "http://127.0.0.1:" + strconv.Itoa(ports[2])
	for i := range 3 {
		uri := "http://127.0.0.1:" + strconv.Itoa(ports[3*i+2])
		args := []string{"--uri", uri}
		if i > 0 {
			args = append(args, "--bootstrap", first)
		}
		nodes = append(nodes, proc.Start(t, bin, proc.NodeOptions{Name: fmt.Sprintf("node%d", i), Args: args,
			Env:      []string{"QDRANT__CLUSTER__ENABLED=true", "SHOAL__CLUSTER__SECRET=" + Secret, "QDRANT__CLUSTER__CONSENSUS__TICK_PERIOD_MS=50"},
			HTTPPort: ports[3*i], GRPCPort: ports[3*i+1], P2PPort: ports[3*i+2]}))
		if i == 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if err := nodes[0].WaitReady(ctx); err != nil {
				t.Fatal(err)
			}
			cancel()
		}
	}
	pc := &procCluster{t: t, nodes: nodes}
	pc.waitReady(30 * time.Second)
	pc.waitFormed(30 * time.Second)
	// A collection created through the last node is seen through the first.
	if code, raw, err := httpJSON(nodes[2].HTTP(), "PUT", "/collections/q", map[string]any{"vectors": map[string]any{"size": 4, "distance": "Dot"}, "shard_number": 3}, 30*time.Second); err != nil || code != 200 {
		t.Fatalf("create: %d %s %v", code, raw, err)
	}
	if code, raw, err := httpJSON(nodes[0].HTTP(), "GET", "/collections/q", nil, 10*time.Second); err != nil || code != 200 {
		t.Fatalf("info through node 0: %d %s %v", code, raw, err)
	}
}

// TestProcessLeaderKillMetadata runs metadata changes and reads through
// every node while the leader is killed with SIGKILL and restarted, over
// and over. The history (collection metadata values as registers) must be
// linearizable, and the final values must include every acknowledged
// write.
func TestProcessLeaderKillMetadata(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes")
	}
	pc := newProcCluster(t, 3)
	for i := range 3 {
		pc.start(i)
	}
	pc.waitReady(30 * time.Second)
	pc.waitFormed(30 * time.Second)
	keys := []string{"k0", "k1"}
	for _, k := range keys {
		if code, raw, err := httpJSON(pc.nodes[0].HTTP(), "PUT", "/collections/"+k, map[string]any{"vectors": map[string]any{"size": 2, "distance": "Dot"}}, 30*time.Second); err != nil || code != 200 {
			t.Fatalf("create %s: %d %s %v", k, code, raw, err)
		}
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rec := history.NewRecorder()
	ctx, cancel := context.WithTimeout(context.Background(), 16*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex // guards the process handles against restarts
	for client := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(client)))
			for n := 0; ctx.Err() == nil; n++ {
				k := keys[rng.IntN(len(keys))]
				node := rng.IntN(3)
				mu.Lock()
				base := pc.nodes[node].HTTP()
				mu.Unlock()
				if rng.IntN(2) == 0 {
					v := fmt.Sprintf("c%d-%d", client, n)
					call := rec.Invoke(client, history.KindPut, k, v)
					code, raw, err := httpJSON(base, "PATCH", "/collections/"+k, map[string]any{"metadata": map[string]any{"v": v}}, 5*time.Second)
					switch {
					case err == nil && code == 200:
						call.OK("")
					case err == nil && code >= 400 && code < 500:
						call.Fail(fmt.Errorf("%d %s", code, raw))
					default:
						call.Info(fmt.Errorf("%d %s %v", code, raw, err))
					}
				} else {
					call := rec.Invoke(client, history.KindGet, k, "")
					code, raw, err := httpJSON(base, "GET", "/collections/"+k, nil, 5*time.Second)
					if err != nil || code != 200 {
						call.Fail(fmt.Errorf("%d %s %v", code, raw, err))
						continue
					}
					var info struct {
						Config struct {
							Metadata map[string]any `json:"metadata"`
						} `json:"config"`
					}
					if err := decodeResult(raw, &info); err != nil {
						call.Fail(err)
						continue
					}
					v, _ := info.Config.Metadata["v"].(string)
					call.OK(v)
				}
			}
		}()
	}
	kills := 0
	for ctx.Err() == nil {
		time.Sleep(3 * time.Second)
		l := pc.leaderIndex()
		if l < 0 || ctx.Err() != nil {
			continue
		}
		mu.Lock()
		pc.nodes[l].Kill()
		mu.Unlock()
		kills++
		time.Sleep(500 * time.Millisecond)
		mu.Lock()
		pc.nodes[l].Restart(t)
		mu.Unlock()
	}
	wg.Wait()
	pc.waitReady(30 * time.Second)
	h := rec.History()
	ok, info, err := history.CheckLinearizable(h, history.KV(), history.CheckOptions{VisualizePath: filepath.Join(t.TempDir(), "history.html")})
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Fatalf("metadata history not linearizable (seed %d):\n%s", seed, info)
	}
	final := map[string]string{}
	for _, k := range keys {
		code, raw, err := httpJSON(pc.nodes[0].HTTP(), "GET", "/collections/"+k, nil, 10*time.Second)
		if err != nil || code != 200 {
			t.Fatalf("final read %s: %d %s %v", k, code, raw, err)
		}
		var info struct {
			Config struct {
				Metadata map[string]any `json:"metadata"`
			} `json:"config"`
		}
		decodeResult(raw, &info)
		final[k], _ = info.Config.Metadata["v"].(string)
	}
	if err := history.CheckNoLostWrites(h, final); err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	oks := 0
	for _, op := range h {
		if op.Outcome == history.OK {
			oks++
		}
	}
	t.Logf("%d kills, %d operations, %d ok", kills, len(h), oks)
	if kills < 3 || oks < 50 {
		t.Fatalf("too little happened: %d kills, %d ok operations", kills, oks)
	}
}

// TestLeaderFailoverTimes measures, over 20 SIGKILLs of the leader of 3
// real processes (default Raft tick), how long after the kill a metadata
// change through a surviving node succeeds again. It is a benchmark, run
// on demand:
//
//	SHOAL_BENCH_FAILOVER=1 go test -run TestLeaderFailoverTimes -v -timeout 30m ./internal/clustertest
func TestLeaderFailoverTimes(t *testing.T) {
	if os.Getenv("SHOAL_BENCH_FAILOVER") == "" {
		t.Skip("benchmark: set SHOAL_BENCH_FAILOVER=1")
	}
	pc := newProcCluster(t, 3, "QDRANT__CLUSTER__CONSENSUS__TICK_PERIOD_MS=100")
	for i := range 3 {
		pc.start(i)
	}
	pc.waitReady(60 * time.Second)
	pc.waitFormed(60 * time.Second)
	if code, raw, err := httpJSON(pc.nodes[0].HTTP(), "PUT", "/collections/f", map[string]any{"vectors": map[string]any{"size": 2, "distance": "Dot"}}, 30*time.Second); err != nil || code != 200 {
		t.Fatalf("create: %d %s %v", code, raw, err)
	}
	var times []time.Duration
	for k := range 20 {
		l := pc.leaderIndex()
		if l < 0 {
			t.Fatal("no leader")
		}
		survivor := (l + 1) % 3
		pc.nodes[l].Kill()
		killed := time.Now()
		for n := 0; ; n++ {
			code, _, err := httpJSON(pc.nodes[survivor].HTTP(), "PATCH", "/collections/f?timeout=1",
				map[string]any{"metadata": map[string]any{"kill": k, "try": n}}, 2*time.Second)
			if err == nil && code == 200 {
				break
			}
			if time.Since(killed) > 60*time.Second {
				t.Fatalf("kill %d: no metadata change for 60 s", k)
			}
		}
		times = append(times, time.Since(killed))
		pc.nodes[l].Restart(t)
		pc.waitReady(60 * time.Second)
		pc.waitFormed(60 * time.Second)
	}
	sorted := slices.Clone(times)
	slices.Sort(sorted)
	t.Logf("metadata changes succeed again after a leader SIGKILL: p50 %v, p99 (max of 20) %v, all %v",
		sorted[len(sorted)/2].Round(time.Millisecond), sorted[len(sorted)-1].Round(time.Millisecond), times)
}
