// Package cluster makes a Shoal node a member of a cluster: one Raft group
// (hashicorp/raft with raft-boltdb, over the p2p port through raftgrpc)
// drives the metadata state machine of internal/meta on every node.
//
// A Node forms or joins the cluster by itself (Formation in formation.go:
// a join list and bootstrap_expect, or Qdrant's --uri/--bootstrap),
// records itself as a peer, forwards metadata commands to the leader and
// waits until they are applied locally (Apply), and serves linearizable
// reads of the metadata (ReadIndex). The metadata's side effects on this
// node are carried out by a Listener, in log order.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/cluster/raftgrpc"
	"github.com/shoal-db/shoal/internal/durable"
	"github.com/shoal-db/shoal/internal/meta"
	"github.com/shoal-db/shoal/internal/p2p"
)

// Options configure a Node.
type Options struct {
	// Dir holds the Raft log (raft.db), Raft snapshots and node.json.
	Dir string
	// PeerID fixes this node's id; 0 takes the one in node.json or
	// generates one there.
	PeerID uint64
	// Advertise is the host:port other peers dial to reach this node's
	// p2p listener.
	Advertise string
	// URI is the advertised URI shown in /cluster (default
	// http://<Advertise>/).
	URI string
	// Join lists seeds (host:port, DNS names re-resolved on every try).
	Join []string
	// BootstrapExpect is the number of nodes that form a new cluster
	// together (0: len(Join), or 1 without a join list).
	BootstrapExpect int
	// Bootstrap is Qdrant's --bootstrap: a peer to join through. A node
	// with neither Join nor Bootstrap starts a cluster of its own (Qdrant's
	// first peer, --uri alone).
	Bootstrap string
	// Zone and Region are this node's failure domains; Labels its
	// free-form labels (shown in GET /cluster).
	Zone, Region string
	Labels       map[string]string
	// Tick is the Raft tick (cluster.consensus.tick_period_ms): the
	// heartbeat and election timeouts are 10 ticks, the leader lease 5.
	Tick time.Duration
	// SnapshotThreshold is the number of log entries between Raft
	// snapshots (cluster.consensus.compact_wal_entries).
	SnapshotThreshold uint64
	// Pool dials other peers.
	Pool *p2p.Pool
	// Resolve looks host names up (nil: net.DefaultResolver).
	Resolve func(ctx context.Context, host string) ([]string, error)
	// Logger receives events; nil discards them.
	Logger *slog.Logger
	// Registerer receives the cluster metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// ProposeTimeout bounds a metadata change (default 10 s).
	ProposeTimeout time.Duration
}

// ErrNoLeader is returned when a metadata change or a linearizable read
// cannot reach a leader in time (no quorum).
var ErrNoLeader = &api.Error{Kind: api.KindUnavailable, Message: "Service unavailable: no leader: the cluster has no quorum for metadata changes"}

// Node is this node's membership in the cluster.
type Node struct {
	opts  Options
	log   *slog.Logger
	id    uint64
	fsm   *fsm
	trans *raftgrpc.Transport
	form  *formation

	mu      sync.Mutex
	raft    *raft.Raft
	store   *raftboltdb.BoltStore
	started bool
	formed  bool // this node is in a cluster (has Raft state)
	// raftStart is when Raft started (lastLeaderContact).
	raftStart time.Time
	closeCh   chan struct{}
	wg        sync.WaitGroup
	metrics   *nodeMetrics
	identity  identity
}

// identity is node.json: what survives restarts and address changes.
type identity struct {
	Format    int    `json:"format"`
	PeerID    uint64 `json:"peer_id"`
	ClusterID string `json:"cluster_id,omitempty"`
}

const identityFile = "node.json"

// New loads or creates the node's identity and prepares the Raft transport;
// Raft itself starts in Start, after the caller has set the Listener and
// registered the node's services on the p2p server.
func New(opts Options) (*Node, error) {
	if opts.Dir == "" || opts.Advertise == "" || opts.Pool == nil {
		return nil, errors.New("cannot start cluster node: Dir, Advertise and Pool are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Tick <= 0 {
		opts.Tick = 100 * time.Millisecond
	}
	if opts.SnapshotThreshold == 0 {
		opts.SnapshotThreshold = 8192
	}
	if opts.ProposeTimeout <= 0 {
		opts.ProposeTimeout = 10 * time.Second
	}
	if opts.URI == "" {
		opts.URI = "http://" + opts.Advertise + "/"
	}
	if opts.BootstrapExpect <= 0 {
		opts.BootstrapExpect = max(1, len(opts.Join))
	}
	if opts.Resolve == nil {
		opts.Resolve = net.DefaultResolver.LookupHost
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create cluster directory: %w", err)
	}
	id, err := loadIdentity(opts.Dir, opts.PeerID)
	if err != nil {
		return nil, err
	}
	n := &Node{opts: opts, log: opts.Logger.With("peer_id", id.PeerID), id: id.PeerID, fsm: newFSM(),
		closeCh: make(chan struct{}), identity: id}
	n.trans = raftgrpc.New(opts.Pool, raft.ServerAddress(opts.Advertise), raftgrpc.Options{Logger: opts.Logger})
	n.form = newFormation(n)
	n.metrics = newNodeMetrics(n, opts.Registerer)
	return n, nil
}

func loadIdentity(dir string, want uint64) (identity, error) {
	path := filepath.Join(dir, identityFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		var id identity
		if err := json.Unmarshal(b, &id); err != nil {
			return id, fmt.Errorf("cannot read %s: %w", path, err)
		}
		if want != 0 && want != id.PeerID {
			return id, fmt.Errorf("cannot start cluster node: cluster.peer_id is %d but %s holds peer %d; this storage belongs to another node", want, path, id.PeerID)
		}
		return id, nil
	case !errors.Is(err, fs.ErrNotExist):
		return identity{}, fmt.Errorf("cannot read %s: %w", path, err)
	}
	id := identity{Format: 1, PeerID: want}
	if id.PeerID == 0 {
		var b [8]byte
		for id.PeerID == 0 {
			if _, err := rand.Read(b[:]); err != nil {
				return id, fmt.Errorf("cannot generate peer id: %w", err)
			}
			id.PeerID = binary.LittleEndian.Uint64(b[:]) & (1<<53 - 1)
		}
	}
	return id, saveIdentity(dir, id)
}

func saveIdentity(dir string, id identity) error {
	b, _ := json.MarshalIndent(id, "", "  ")
	if err := durable.WriteFile(filepath.Join(dir, identityFile), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("cannot save node identity: %w", err)
	}
	return nil
}

// ID returns this node's peer id.
func (n *Node) ID() uint64 { return n.id }

// SetListener sets the receiver of applied metadata; call it before Start.
func (n *Node) SetListener(l Listener) {
	n.fsm.mu.Lock()
	n.fsm.listener = l
	n.fsm.mu.Unlock()
}

// Register adds the node's services (Raft transport and the Meta service)
// to the p2p server.
func (n *Node) Register(s *grpc.Server) {
	n.trans.Register(s)
	s.RegisterService(n.metaService(), struct{}{})
}

func (n *Node) raftConfig() *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = raft.ServerID(strconv.FormatUint(n.id, 10))
	c.HeartbeatTimeout = 10 * n.opts.Tick
	c.ElectionTimeout = 10 * n.opts.Tick
	c.LeaderLeaseTimeout = 5 * n.opts.Tick
	c.CommitTimeout = max(n.opts.Tick/2, 5*time.Millisecond)
	c.SnapshotThreshold = n.opts.SnapshotThreshold
	c.TrailingLogs = max(n.opts.SnapshotThreshold, 1024)
	c.Logger = newHCLogger(n.opts.Logger)
	// A node removed from the configuration keeps running: it may be
	// re-added at once (a member back on a new address is removed and
	// added again), and DELETE /cluster/peer decides its fate otherwise.
	c.ShutdownOnRemove = false
	return c
}

// Start opens the Raft stores, starts Raft (which replays the metadata
// into the Listener) and the formation loop, which joins or bootstraps the
// cluster in the background and keeps this node's peer record current.
func (n *Node) Start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.started {
		return errors.New("cluster node already started")
	}
	store, err := raftboltdb.NewBoltStore(filepath.Join(n.opts.Dir, "raft.db"))
	if err != nil {
		return fmt.Errorf("cannot open raft log: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(n.opts.Dir, 2, newHCLogger(n.opts.Logger))
	if err != nil {
		store.Close()
		return fmt.Errorf("cannot open raft snapshots: %w", err)
	}
	cfg := n.raftConfig()
	has, err := raft.HasExistingState(store, store, snaps)
	if err != nil {
		store.Close()
		return fmt.Errorf("cannot read raft state: %w", err)
	}
	logs, err := raft.NewLogCache(512, store)
	if err != nil {
		store.Close()
		return fmt.Errorf("cannot open raft log cache: %w", err)
	}
	r, err := raft.NewRaft(cfg, n.fsm, logs, store, snaps, n.trans)
	if err != nil {
		store.Close()
		return fmt.Errorf("cannot start raft: %w", err)
	}
	n.raft, n.store, n.started, n.formed = r, store, true, has
	// NewRaft restored this node's own snapshot before it returned; a
	// Restore from here on is the leader's (InstallSnapshot).
	n.fsm.mu.Lock()
	n.fsm.started = true
	n.fsm.mu.Unlock()
	n.raftStart = time.Now()
	n.wg.Add(2)
	go n.form.run()
	go n.leaderLoop()
	n.log.Info("cluster node started", "advertise", n.opts.Advertise, "existing_state", has,
		"join", n.opts.Join, "bootstrap_expect", n.opts.BootstrapExpect, "bootstrap", n.opts.Bootstrap)
	return nil
}

// Compact takes a Raft snapshot of the metadata now and truncates the log
// to its last trailing entries (at least 1), so that a peer further behind
// catches up from the snapshot rather than the log (tests force it so);
// the configured number of trailing entries applies again afterwards.
func (n *Node) Compact(trailing uint64) error {
	n.mu.Lock()
	r := n.raft
	n.mu.Unlock()
	if r == nil {
		return errors.New("cannot compact the raft log: the cluster node is not started")
	}
	cfg := r.ReloadableConfig()
	short := cfg
	short.TrailingLogs = max(trailing, 1)
	if err := r.ReloadConfig(short); err != nil {
		return fmt.Errorf("cannot compact the raft log: %w", err)
	}
	err := r.Snapshot().Error()
	if rerr := r.ReloadConfig(cfg); rerr != nil {
		err = errors.Join(err, rerr)
	}
	if err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return fmt.Errorf("cannot compact the raft log: %w", err)
	}
	return nil
}

// Close stops Raft and the background loops.
func (n *Node) Close() error {
	n.mu.Lock()
	if !n.started {
		n.mu.Unlock()
		return n.trans.Close()
	}
	select {
	case <-n.closeCh:
		n.mu.Unlock()
		return nil
	default:
	}
	close(n.closeCh)
	r, store := n.raft, n.store
	n.mu.Unlock()
	n.fsm.close()
	err := r.Shutdown().Error()
	n.wg.Wait()
	err = errors.Join(err, n.trans.Close(), store.Close())
	return err
}

// State returns this node's applied metadata; the caller must not modify it.
func (n *Node) State() *meta.State { return n.fsm.State() }

// IsLeader reports whether this node is the Raft leader.
func (n *Node) IsLeader() bool {
	r := n.getRaft()
	return r != nil && r.State() == raft.Leader
}

// Ready reports whether this node is in a cluster with a known leader and
// has applied what it knows to be committed.
func (n *Node) Ready() bool {
	r := n.getRaft()
	if r == nil || !n.isFormed() {
		return false
	}
	addr, _ := r.LeaderWithID()
	return addr != "" && r.AppliedIndex() >= r.CommitIndex() && n.selfRegistered()
}

func (n *Node) selfRegistered() bool {
	p, ok := n.State().Peers[n.id]
	if !ok {
		return false
	}
	r := n.joinRequest()
	return p.Equal(&meta.Peer{ID: r.ID, Addr: r.Addr, URI: r.URI, Zone: r.Zone, Region: r.Region, Labels: r.Labels})
}

// leaderless reports whether this node has heard from no leader for 20
// ticks (twice the election timeout): longer than an election takes.
func (n *Node) leaderless() bool {
	r := n.getRaft()
	if r == nil {
		return true
	}
	if addr, _ := r.LeaderWithID(); addr != "" {
		return false
	}
	return time.Since(r.LastContact()) > 20*n.opts.Tick
}

func (n *Node) getRaft() *raft.Raft {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.raft
}

func (n *Node) isFormed() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.formed
}

func (n *Node) setFormed() {
	n.mu.Lock()
	n.formed = true
	n.mu.Unlock()
}

// Apply proposes cmd (forwarded to the leader when this node is not it)
// and waits until it is applied on this node, side effects included. It
// returns the command's own error (a refused command) or ErrNoLeader when
// no leader took it within ctx or the propose timeout.
func (n *Node) Apply(ctx context.Context, cmd *meta.Command) error {
	if cmd.RequestID == "" {
		c := *cmd
		c.RequestID = uuid.NewString()
		cmd = &c
	}
	b, err := cmd.Encode()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, n.opts.ProposeTimeout)
	defer cancel()
	index, err := n.propose(ctx, b)
	if err != nil {
		return err
	}
	return n.waitApplied(ctx, index)
}

// failFastAfter is how long a node without a leader waits before metadata
// changes fail at once: three election timeouts, at least 2 s, so that an
// ordinary election never fails a proposal.
func (n *Node) failFastAfter() time.Duration {
	return max(30*n.opts.Tick, 2*time.Second)
}

// lastLeaderContact is when this node last heard from a leader (or
// started Raft, if later).
func (n *Node) lastLeaderContact(r *raft.Raft) time.Time {
	n.mu.Lock()
	t := n.raftStart
	n.mu.Unlock()
	if c := r.LastContact(); c.After(t) {
		return c
	}
	return t
}

// inCluster reports whether this node has joined or formed a cluster (a
// forming node's proposals wait instead of failing fast).
func (n *Node) inCluster() bool {
	return n.State().ClusterID != ""
}

// voters counts the voters of the Raft configuration.
func (n *Node) voters() int {
	r := n.getRaft()
	if r == nil {
		return 0
	}
	f := r.GetConfiguration()
	if f.Error() != nil {
		return 0
	}
	v := 0
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			v++
		}
	}
	return v
}

func (n *Node) waitApplied(ctx context.Context, index uint64) error {
	if !n.fsm.waitApplied(index, ctx.Done()) {
		if ctx.Err() != nil {
			return ErrNoLeader
		}
		return errors.New("cluster node closed")
	}
	return nil
}

// propose applies b through Raft on the leader (locally or over p2p) and
// returns the entry's index, or the command's error.
func (n *Node) propose(ctx context.Context, b []byte) (uint64, error) {
	backoff := 20 * time.Millisecond
	for {
		r := n.getRaft()
		if r == nil {
			return 0, ErrNoLeader
		}
		var index uint64
		var err error
		if r.State() == raft.Leader {
			index, err = n.applyLocal(ctx, b)
		} else if addr, _ := r.LeaderWithID(); addr != "" {
			index, err = n.forwardPropose(ctx, string(addr), b)
		} else if d := time.Since(n.lastLeaderContact(r)); n.inCluster() && d > n.failFastAfter() {
			// No leader for several election timeouts: the voters have
			// no quorum. Fail now rather than after the propose timeout;
			// everything resumes once a majority is back.
			return 0, &api.Error{Kind: api.KindUnavailable, Message: fmt.Sprintf(
				"Service unavailable: no leader: the cluster has no quorum for metadata changes (no leader heard for %s; a majority of the %d voters must be reachable)",
				d.Round(100*time.Millisecond), n.voters())}
		} else {
			err = errRetry
		}
		if err == nil || !retryable(err) {
			return index, err
		}
		select {
		case <-ctx.Done():
			return 0, ErrNoLeader
		case <-n.closeCh:
			return 0, ErrNoLeader
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 500*time.Millisecond)
	}
}

var errRetry = errors.New("no leader yet")

func retryable(err error) bool {
	var ae *api.Error
	if errors.As(err, &ae) {
		return ae.Kind == api.KindUnavailable
	}
	return true
}

func (n *Node) applyLocal(ctx context.Context, b []byte) (uint64, error) {
	timeout := n.opts.ProposeTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	f := n.getRaft().Apply(b, timeout)
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, raft.ErrEnqueueTimeout) {
			return 0, errRetry
		}
		return 0, ErrNoLeader
	}
	if res, ok := f.Response().(applyResult); ok && res.err != nil {
		return f.Index(), res.err
	}
	return f.Index(), nil
}

// ReadIndex waits until this node has applied everything the leader had
// committed when ReadIndex was called, so a read of State afterwards is
// linearizable.
func (n *Node) ReadIndex(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, n.opts.ProposeTimeout)
	defer cancel()
	backoff := 20 * time.Millisecond
	for {
		index, err := n.leaderIndex(ctx)
		if err == nil {
			return n.waitApplied(ctx, index)
		}
		if !retryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return ErrNoLeader
		case <-n.closeCh:
			return ErrNoLeader
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 500*time.Millisecond)
	}
}

// leaderIndex returns an index that covers every command committed before
// the call: on the leader, what it has applied after a barrier; elsewhere,
// the leader's answer.
func (n *Node) leaderIndex(ctx context.Context) (uint64, error) {
	r := n.getRaft()
	if r == nil {
		return 0, errRetry
	}
	if r.State() == raft.Leader {
		return n.barrierIndex(ctx)
	}
	addr, _ := r.LeaderWithID()
	if addr == "" {
		return 0, errRetry
	}
	return n.forwardReadIndex(ctx, string(addr))
}

// barrierIndex commits a barrier through the leader's log and returns the
// index of the last command the leader's state machine applied before it:
// every command committed before the call. (Raft's own indexes also count
// no-op and configuration entries, which never reach the state machine,
// so waiting for them could wait for the next command.)
func (n *Node) barrierIndex(ctx context.Context) (uint64, error) {
	timeout := n.opts.ProposeTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if err := n.getRaft().Barrier(timeout).Error(); err != nil {
		return 0, errRetry
	}
	return n.fsm.Applied(), nil
}
