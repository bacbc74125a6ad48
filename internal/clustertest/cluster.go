// Package clustertest runs Shoal clusters inside one test process: N real
// servers (internal/server) on loopback ports, each with its own storage
// directory, joined through the same seed list as production nodes. It is
// imported by tests only.
package clustertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/config"
	"github.com/shoal-db/shoal/internal/faultnet"
	"github.com/shoal-db/shoal/internal/server"
	"github.com/shoal-db/shoal/internal/shard"
)

// Secret is the cluster secret test clusters use.
const Secret = "clustertest-secret-0123456789abcdef0123456789"

// Options configure a test cluster.
type Options struct {
	// Nodes is the number of nodes (default 3).
	Nodes int
	// Tick is the Raft tick (default 20 ms, so elections take ~200 ms).
	Tick time.Duration
	// Configure, when set, adjusts node i's config before it starts.
	Configure func(i int, cfg *config.Config)
	// Faults routes every link between two nodes through its own fault
	// proxy (Cluster.Net), so tests can delay, cut and partition them.
	Faults bool
	// ShardOptions, when set, adjusts every shard's options on every node.
	ShardOptions func(*shard.Options)
	// Failpoint, when set, is node i's service failpoint hook
	// (service.Options.Failpoint) in every run of the node.
	Failpoint func(i int, point string) error
	// SharedWrites makes the nodes share one write signal
	// (server.Options.WriteActivity), as they share the machine's cores:
	// each node's indexers then yield to the writes of every node, as a
	// standalone node's yield to its own.
	SharedWrites bool
}

// Cluster is a set of in-process nodes.
type Cluster struct {
	t     testing.TB
	Nodes []*Node
	// Net is the mesh of fault proxies between the nodes (Options.Faults).
	Net *faultnet.Net
	// join lists the nodes' peer addresses, by index.
	join []string
	opts Options
	// writes is the nodes' write signal with Options.SharedWrites.
	writes *shard.WriteActivity
}

// Node is one server of a test cluster.
type Node struct {
	Index int
	Dir   string
	Cfg   config.Config
	Srv   *server.Server
	// ln is the node's bound peer listener until the node first starts.
	ln net.Listener
	// reserved holds the peer port while the node is stopped
	// (reservePort), until the next start binds it.
	reserved io.Closer
}

// freePorts returns n distinct free TCP ports on 127.0.0.1 for other
// processes (real-process tests). The ports are released before they are
// used; the kernel hands out ephemeral ports in turn, so another process
// taking one in between is unlikely.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	lns := listeners(t, n)
	var ports []int
	for _, ln := range lns {
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
		ln.Close()
	}
	return ports
}

func listeners(t testing.TB, n int) []net.Listener {
	t.Helper()
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
	}
	return lns
}

// New prepares a cluster's configs (nothing runs until Start); every node
// gets the same join list and bootstrap_expect, as in production.
func New(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Nodes <= 0 {
		opts.Nodes = 3
	}
	if opts.Tick <= 0 {
		opts.Tick = 20 * time.Millisecond
	}
	// The peer ports stay bound from here on (the first start serves the
	// listener), so nothing else can take one.
	lns := listeners(t, opts.Nodes)
	ports := make([]int, len(lns))
	var join []string
	for i, ln := range lns {
		ports[i] = ln.Addr().(*net.TCPAddr).Port
		join = append(join, "127.0.0.1:"+strconv.Itoa(ports[i]))
	}
	c := &Cluster{t: t, join: join, opts: opts, writes: new(shard.WriteActivity)}
	if opts.Faults {
		n, err := faultnet.NewNet(join, faultnet.Options{})
		if err != nil {
			t.Fatal(err)
		}
		c.Net = n
		t.Cleanup(func() { n.Close() })
	}
	for i := range opts.Nodes {
		dir := t.TempDir()
		cfg := config.Default()
		cfg.Service.Host = "127.0.0.1"
		cfg.Service.HTTPPort = 0
		zero := 0
		cfg.Service.GRPCPort = &zero
		cfg.Storage.StoragePath = filepath.Join(dir, "storage")
		cfg.Storage.SnapshotsPath = filepath.Join(dir, "snapshots")
		cfg.Cluster.Enabled = true
		cfg.Cluster.P2P.Port = ports[i]
		cfg.Cluster.P2P.Host = "127.0.0.1"
		cfg.Cluster.AdvertiseURI = "http://" + join[i]
		cfg.Cluster.Join = append([]string(nil), join...)
		cfg.Cluster.BootstrapExpect = opts.Nodes
		cfg.Cluster.Secret = Secret
		cfg.Cluster.Consensus.TickPeriodMS = int(opts.Tick / time.Millisecond)
		// The canary's collections would change the placements and
		// collection counts tests assert; the canary tests turn it on.
		cfg.Canary.Enabled = false
		// Rebalancing would move replicas while tests assert placements;
		// the healing tests turn it on.
		cfg.Cluster.Rebalance = false
		if opts.Configure != nil {
			opts.Configure(i, &cfg)
		}
		c.Nodes = append(c.Nodes, &Node{Index: i, Dir: dir, Cfg: cfg, ln: lns[i]})
	}
	t.Cleanup(c.Close)
	return c
}

// Start starts node i (again, after Stop, on the same storage).
func (c *Cluster) Start(i int) {
	c.t.Helper()
	n := c.Nodes[i]
	if n.Srv != nil {
		c.t.Fatalf("node %d already running", i)
	}
	so := server.Options{Version: "test", P2PListener: n.ln, ShardOptions: c.opts.ShardOptions}
	if c.opts.SharedWrites {
		so.WriteActivity = c.writes
	}
	if fp := c.opts.Failpoint; fp != nil {
		so.Failpoint = func(point string) error { return fp(i, point) }
	}
	if os.Getenv("SHOAL_TEST_LOGS") != "" {
		so.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("node", i)
	}
	n.ln = nil
	if !n.Cfg.Cluster.Enabled && so.P2PListener != nil {
		so.P2PListener.Close() // a standalone node has no peer port
		so.P2PListener = nil
	} else if so.P2PListener == nil && n.Cfg.Cluster.Enabled {
		// A restart: bind the node's port again (its previous server
		// closed it a moment ago).
		ln, err := net.Listen("tcp", net.JoinHostPort(n.Cfg.Cluster.P2P.Host, strconv.Itoa(n.Cfg.Cluster.P2P.Port)))
		if n.reserved != nil {
			n.reserved.Close()
			n.reserved = nil
		}
		if err != nil {
			c.t.Fatalf("node %d: %v", i, err)
		}
		so.P2PListener = ln
	}
	if c.Net != nil {
		so.PeerRoute = func(addr string) string {
			for j, a := range c.join {
				if a == addr && j != i {
					return c.Net.Addr(i, j)
				}
			}
			return addr
		}
	}
	srv, err := server.New(n.Cfg, so)
	if err != nil {
		c.t.Fatalf("node %d: %v", i, err)
	}
	if err := srv.Start(context.Background()); err != nil {
		srv.Close(context.Background())
		c.t.Fatalf("node %d: %v", i, err)
	}
	n.Srv = srv
}

// Stop closes node i gracefully. Its peer port stays reserved for its
// restart (reservePort).
func (c *Cluster) Stop(i int) {
	if n := c.Nodes[i]; n.Srv != nil {
		n.Srv.Close(context.Background())
		n.Srv = nil
		if n.Cfg.Cluster.Enabled && n.Cfg.Cluster.P2P.Port != 0 {
			r, err := reservePort(n.Cfg.Cluster.P2P.Host, n.Cfg.Cluster.P2P.Port)
			if err != nil {
				c.t.Logf("node %d: cannot reserve its peer port while stopped: %v", i, err)
			}
			n.reserved = r
		}
	}
}

// Close stops every node and releases the ports of nodes never started.
func (c *Cluster) Close() {
	for i, n := range c.Nodes {
		c.Stop(i)
		if n.ln != nil {
			n.ln.Close()
		}
		if n.reserved != nil {
			n.reserved.Close()
			n.reserved = nil
		}
	}
}

// Running returns the indexes of the running nodes.
func (c *Cluster) Running() []int {
	var out []int
	for i, n := range c.Nodes {
		if n.Srv != nil {
			out = append(out, i)
		}
	}
	return out
}

// WaitFormed waits until every running node is ready, all agree on one
// leader and know every running node as a peer.
func (c *Cluster) WaitFormed(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		ok, why := c.formed()
		if ok {
			return nil
		}
		last = why
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("cluster not formed after %v: %s", timeout, last)
}

func (c *Cluster) formed() (bool, string) {
	running := c.Running()
	var leader *uint64
	for _, i := range running {
		srv := c.Nodes[i].Srv
		if !srv.Ready() {
			return false, fmt.Sprintf("node %d not ready", i)
		}
		st := srv.Cluster().Status()
		if st.RaftInfo.Leader == nil {
			return false, fmt.Sprintf("node %d sees no leader", i)
		}
		if leader != nil && *leader != *st.RaftInfo.Leader {
			return false, fmt.Sprintf("node %d sees leader %d, another sees %d", i, *st.RaftInfo.Leader, *leader)
		}
		leader = st.RaftInfo.Leader
		for _, j := range running {
			id := strconv.FormatUint(c.Nodes[j].Srv.Cluster().ID(), 10)
			if _, ok := st.Peers[id]; !ok {
				return false, fmt.Sprintf("node %d does not know node %d", i, j)
			}
		}
	}
	return true, ""
}

// Leader returns the index of the running node that leads (-1 if none).
func (c *Cluster) Leader() int {
	for _, i := range c.Running() {
		if c.Nodes[i].Srv.Cluster().Status().RaftInfo.Role == "Leader" {
			return i
		}
	}
	return -1
}

// Do sends a JSON request to node i's REST API and decodes the "result"
// of Qdrant's envelope into out (when not nil). It returns the HTTP status
// and the raw body.
func (c *Cluster) Do(i int, method, path string, body, out any) (int, []byte) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+c.Nodes[i].Srv.HTTPAddr()+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		c.t.Fatalf("%s %s on node %d: %v", method, path, i, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	if out != nil && resp.StatusCode/100 == 2 {
		var env struct {
			Result json.RawMessage `json:"result"`
		}
		if err := json.Unmarshal(raw, &env); err != nil {
			c.t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
		if err := json.Unmarshal(env.Result, out); err != nil {
			c.t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
	return resp.StatusCode, raw
}

// MustDo is Do that fails the test on a status other than 200.
func (c *Cluster) MustDo(i int, method, path string, body, out any) []byte {
	c.t.Helper()
	code, raw := c.Do(i, method, path, body, out)
	if code != http.StatusOK {
		c.t.Fatalf("%s %s on node %d: %d %s", method, path, i, code, raw)
	}
	return raw
}
