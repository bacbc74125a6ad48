package raftgrpc

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// kvCmd is the command of the test state machine: set K to V.
type kvCmd struct{ K, V string }

// kvFSM is a key-value state machine that records every Restore.
type kvFSM struct {
	mu       sync.Mutex // guards the fields below
	data     map[string]string
	restores []map[string]string
}

func newKV() *kvFSM { return &kvFSM{data: map[string]string{}} }

func (f *kvFSM) Apply(l *raft.Log) any {
	var c kvCmd
	if err := json.Unmarshal(l.Data, &c); err != nil {
		panic(fmt.Sprintf("corrupt command at index %d: %v", l.Index, err))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.data[c.K] = c.V
	return len(f.data)
}

func (f *kvFSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return kvSnapshot(maps.Clone(f.data)), nil
}

func (f *kvFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	m := map[string]string{}
	if err := json.NewDecoder(rc).Decode(&m); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.data = m
	f.restores = append(f.restores, maps.Clone(m))
	return nil
}

func (f *kvFSM) snapshot() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.data)
}

type kvSnapshot map[string]string

func (s kvSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := json.NewEncoder(sink).Encode(map[string]string(s)); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s kvSnapshot) Release() {}

// clusterOptions tunes the test cluster's raft configuration.
type clusterOptions struct {
	snapshotThreshold uint64
	trailingLogs      uint64
	snapshotInterval  time.Duration
	maxPipeline       int
	// netTransport runs raft's own TCP NetworkTransport instead of this
	// package's, as the benchmarks' reference.
	netTransport bool
}

// testNode is one raft server with its own directory, p2p server and pool.
type testNode struct {
	id    uint64
	dir   string
	addr  raft.ServerAddress
	opts  clusterOptions
	fsm   *kvFSM
	r     *raft.Raft
	ep    *endpoint
	net   *raft.NetworkTransport // instead of ep, with opts.netTransport
	store *raftboltdb.BoltStore
	snaps *raft.FileSnapshotStore
}

// listen binds addr again after a restart (the raft configuration names
// it), retrying while the old socket lets go of it.
func listen(t testing.TB, addr string) net.Listener {
	deadline := time.Now().Add(10 * time.Second)
	for {
		lis, err := net.Listen("tcp", addr)
		if err == nil {
			return lis
		}
		if time.Now().After(deadline) {
			t.Fatalf("cannot listen on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (n *testNode) start(t testing.TB) {
	t.Helper()
	addr := string(n.addr)
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var trans raft.Transport
	if n.opts.netTransport {
		nt, err := raft.NewTCPTransport(addr, nil, 3, DefaultTimeout, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		n.net, trans = nt, nt
		n.addr = nt.LocalAddr()
	} else {
		lis := listen(t, addr)
		n.addr = raft.ServerAddress(lis.Addr().String())
		n.ep = serveEndpoint(t, lis, n.id, testSecret, Options{MaxPipeline: n.opts.maxPipeline})
		trans = n.ep.t
	}
	var err error
	if n.store, err = raftboltdb.NewBoltStore(filepath.Join(n.dir, "raft.db")); err != nil {
		t.Fatal(err)
	}
	if n.snaps, err = raft.NewFileSnapshotStore(n.dir, 2, io.Discard); err != nil {
		t.Fatal(err)
	}
	cfg := raft.DefaultConfig()
	cfg.LocalID = raft.ServerID(strconv.FormatUint(n.id, 10))
	// Short enough for quick failovers, long enough not to churn on two
	// loaded cores under the race detector.
	cfg.HeartbeatTimeout = time.Second
	cfg.ElectionTimeout = time.Second
	cfg.LeaderLeaseTimeout = 500 * time.Millisecond
	cfg.CommitTimeout = 5 * time.Millisecond
	// Let concurrent Applies share one log write (and fsync).
	cfg.BatchApplyCh = true
	cfg.LogOutput = io.Discard
	if os.Getenv("SHOAL_RAFT_LOG") != "" {
		cfg.LogOutput = os.Stderr
		cfg.LogLevel = os.Getenv("SHOAL_RAFT_LOG")
	}
	if n.opts.snapshotThreshold > 0 {
		cfg.SnapshotThreshold = n.opts.snapshotThreshold
		cfg.TrailingLogs = n.opts.trailingLogs
		cfg.SnapshotInterval = n.opts.snapshotInterval
	}
	// A fresh state machine, as after a process restart: it is rebuilt
	// from the snapshot store and the log.
	n.fsm = newKV()
	if n.r, err = raft.NewRaft(cfg, n.fsm, n.store, n.store, n.snaps, trans); err != nil {
		t.Fatal(err)
	}
}

// stop shuts raft down and closes the node's server, pool and stores, as a
// process exit would.
func (n *testNode) stop(t testing.TB) {
	t.Helper()
	if n.r == nil {
		return
	}
	if err := n.r.Shutdown().Error(); err != nil {
		t.Errorf("shutdown of node %d: %v", n.id, err)
	}
	if n.ep != nil {
		n.ep.stop()
	} else {
		_ = n.net.Close()
	}
	if err := n.store.Close(); err != nil {
		t.Errorf("closing the store of node %d: %v", n.id, err)
	}
	n.r = nil
}

type testCluster struct {
	nodes []*testNode
}

// newCluster starts size nodes and bootstraps them all with the same
// configuration, as formation does.
func newCluster(t testing.TB, size int, opts clusterOptions) *testCluster {
	t.Helper()
	c := &testCluster{}
	for i := 0; i < size; i++ {
		n := &testNode{id: uint64(i + 1), dir: t.TempDir(), opts: opts}
		n.start(t)
		c.nodes = append(c.nodes, n)
	}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			n.stop(t)
		}
	})
	var servers []raft.Server
	for _, n := range c.nodes {
		servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(strconv.FormatUint(n.id, 10)), Address: n.addr})
	}
	for _, n := range c.nodes {
		if err := n.r.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func (c *testCluster) running() []*testNode {
	var out []*testNode
	for _, n := range c.nodes {
		if n.r != nil {
			out = append(out, n)
		}
	}
	return out
}

// waitLeader returns the running node that leads, once every running node
// agrees on it.
func (c *testCluster) waitLeader(t testing.TB) *testNode {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var leader *testNode
		agreed := true
		for _, n := range c.running() {
			if n.r.State() == raft.Leader {
				leader = n
			}
		}
		if leader != nil {
			for _, n := range c.running() {
				if addr, _ := n.r.LeaderWithID(); addr != leader.addr {
					agreed = false
				}
			}
			if agreed {
				return leader
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no leader within 30 s")
	return nil
}

// apply commits every command, retrying the ones a leadership change
// failed (setting a key is idempotent).
func (c *testCluster) apply(t testing.TB, cmds []kvCmd) {
	t.Helper()
	pending := cmds
	for round := 0; len(pending) > 0; round++ {
		if round == 10 {
			t.Fatalf("%d commands still failing after 10 leader changes", len(pending))
		}
		leader := c.waitLeader(t)
		futures := make([]raft.ApplyFuture, len(pending))
		for i, cmd := range pending {
			b, _ := json.Marshal(cmd)
			futures[i] = leader.r.Apply(b, 10*time.Second)
		}
		var retry []kvCmd
		var last error
		for i, f := range futures {
			if err := f.Error(); err != nil {
				retry = append(retry, pending[i])
				last = err
			}
		}
		if len(retry) > 0 {
			t.Logf("retrying %d of %d commands after: %v", len(retry), len(pending), last)
		}
		pending = retry
	}
}

// waitConverged waits until every given node's state machine equals want.
func waitConverged(t testing.TB, nodes []*testNode, want map[string]string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		diverged := -1
		for i, n := range nodes {
			if !maps.Equal(n.fsm.snapshot(), want) {
				diverged = i
				break
			}
		}
		if diverged < 0 {
			return
		}
		if time.Now().After(deadline) {
			n := nodes[diverged]
			t.Fatalf("node %d holds %d keys, want %d", n.id, len(n.fsm.snapshot()), len(want))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// commands returns set commands for keys [from, to) with values of size
// bytes (at least the key).
func commands(from, to, size int, want map[string]string) []kvCmd {
	var out []kvCmd
	for i := from; i < to; i++ {
		k := fmt.Sprintf("k%05d", i)
		v := "v" + k
		if size > len(v) {
			v += strings.Repeat(string(rune('a'+i%26)), size-len(v))
		}
		out = append(out, kvCmd{K: k, V: v})
		want[k] = v
	}
	return out
}

func TestRaftClusterOverGRPC(t *testing.T) {
	c := newCluster(t, 3, clusterOptions{})
	want := map[string]string{}
	c.apply(t, commands(0, 1000, 16, want))
	waitConverged(t, c.nodes, want)

	// Kill the leader: the other two elect a new one and go on.
	old := c.waitLeader(t)
	old.stop(t)
	leader := c.waitLeader(t)
	if leader == old {
		t.Fatal("a stopped node still leads")
	}
	c.apply(t, commands(1000, 1200, 16, want))
	waitConverged(t, c.running(), want)

	// The old leader restarts from its directory and catches up.
	old.start(t)
	c.apply(t, commands(1200, 1250, 16, want))
	waitConverged(t, c.nodes, want)

	// Replication used the pipeline: the streams from the old leader ended
	// when it stopped, and the followers' servers counted them.
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := 0
		for _, f := range c.nodes {
			if f != old {
				n += f.ep.served(t, "AppendEntriesPipeline")
			}
		}
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no AppendEntriesPipeline stream was served")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRaftInstallSnapshotOverGRPC(t *testing.T) {
	c := newCluster(t, 3, clusterOptions{snapshotThreshold: 64, trailingLogs: 16, snapshotInterval: 100 * time.Millisecond})
	want := map[string]string{}
	c.apply(t, commands(0, 20, 16, want))
	waitConverged(t, c.nodes, want)

	leader := c.waitLeader(t)
	var lagging *testNode
	for _, n := range c.nodes {
		if n != leader {
			lagging = n
			break
		}
	}
	lastSeen := lagging.r.LastIndex()
	lagging.stop(t)

	// 400 values of 8 KiB: the snapshot spans several 1 MiB chunks.
	c.apply(t, commands(20, 420, 8<<10, want))
	waitConverged(t, c.running(), want)
	// Both running nodes snapshot and compact their logs, so whichever
	// leads must send a snapshot: the entries the lagging node misses are
	// gone everywhere.
	snapshots := map[string]map[string]string{} // newest content by node/snapshot id
	for _, n := range c.running() {
		if err := n.r.Snapshot().Error(); err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
			t.Fatal(err)
		}
		first, err := n.store.FirstIndex()
		if err != nil {
			t.Fatal(err)
		}
		if first <= lastSeen+1 {
			t.Fatalf("node %d's log starts at %d, the lagging node has up to %d: no snapshot needed", n.id, first, lastSeen)
		}
		metas, err := n.snaps.List()
		if err != nil || len(metas) == 0 {
			t.Fatalf("node %d has no snapshot: %v", n.id, err)
		}
		// The newest snapshot is the one a leader sends.
		meta, rc, err := n.snaps.Open(metas[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		content := map[string]string{}
		err = json.NewDecoder(rc).Decode(&content)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if meta.Size <= 2*SnapshotChunkSize {
			t.Fatalf("snapshot %s of %d bytes does not span several chunks", meta.ID, meta.Size)
		}
		if !maps.Equal(content, want) {
			t.Fatalf("node %d's newest snapshot holds %d keys, want %d", n.id, len(content), len(want))
		}
		snapshots[fmt.Sprintf("%d/%s", n.id, meta.ID)] = content
	}

	// The lagging node restarts and must be sent a snapshot.
	lagging.start(t)
	waitConverged(t, c.nodes, want)
	lagging.fsm.mu.Lock()
	restores := lagging.fsm.restores
	lagging.fsm.mu.Unlock()
	found := ""
	for _, r := range restores {
		if _, missed := r["k00020"]; !missed {
			continue // its own older snapshot
		}
		for id, content := range snapshots {
			if maps.Equal(r, content) {
				found = id
			}
		}
	}
	if found == "" {
		t.Fatalf("the lagging node's FSM was never restored from a snapshot of the others (%d restores, %d snapshots)", len(restores), len(snapshots))
	}
	// The server counts a call once its handler has returned, which may be
	// just after the state machine shows the restored data.
	for deadline := time.Now().Add(10 * time.Second); lagging.ep.served(t, "InstallSnapshot") == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the lagging node served no InstallSnapshot call")
		}
	}

	// Replication continues normally afterwards.
	c.apply(t, commands(420, 500, 16, want))
	waitConverged(t, c.nodes, want)
}

// BenchmarkApply measures committed Applies per second on a 3-node
// cluster (raft-boltdb stores, fsync on every append) over this transport,
// with window Applies in flight (1: one at a time, latency-bound), with
// and without pipelined replication, and over raft's own TCP transport
// (NetworkTransport, unauthenticated) for reference. Sub-benchmarks run
// later in one process come out slower, so compare variants run alone
// (-bench 'BenchmarkApply/window=256/raft-tcp', then the other).
func BenchmarkApply(b *testing.B) {
	for _, bc := range []struct {
		name        string
		window      int
		maxPipeline int
		net         bool
	}{
		{"window=1/grpc-pipeline", 1, 0, false},
		{"window=256/grpc-pipeline", 256, 0, false},
		{"window=1/grpc-no-pipeline", 1, -1, false},
		{"window=256/grpc-no-pipeline", 256, -1, false},
		{"window=1/raft-tcp", 1, 0, true},
		{"window=256/raft-tcp", 256, 0, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := newCluster(b, 3, clusterOptions{maxPipeline: bc.maxPipeline, netTransport: bc.net})
			leader := c.waitLeader(b)
			cmd, _ := json.Marshal(kvCmd{K: "k", V: strings.Repeat("v", 100)})
			futures := make([]raft.ApplyFuture, 0, bc.window)
			flush := func() {
				for _, f := range futures {
					if err := f.Error(); err != nil {
						b.Fatal(err)
					}
				}
				futures = futures[:0]
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(cmd)))
			for b.Loop() {
				futures = append(futures, leader.r.Apply(cmd, 10*time.Second))
				if len(futures) == bc.window {
					flush()
				}
			}
			flush()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "applies/s")
		})
	}
}
