package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoal-db/shoal/internal/p2p"
)

// formation brings a node into a cluster and keeps its peer record
// current. A node without Raft state, in a loop with backoff:
//
//  1. joins through any seed that is in a cluster (the leader adds it to
//     Raft and records it as a peer);
//  2. otherwise notifies every seed that it waits to bootstrap, and
//     learns from their answers (and from the notifications it receives)
//     which nodes wait with it;
//  3. once bootstrap_expect distinct nodes wait and none is in a cluster,
//     bootstraps Raft with exactly that set, sorted by id. Every node of
//     the set computes the same configuration, so it does not matter how
//     many of them bootstrap.
//
// Qdrant's way is kept: a node with neither a join list nor --bootstrap
// bootstraps a cluster of its own at once, and --bootstrap only joins.
//
// A node in a cluster re-registers (Join through the leader) whenever its
// peer record differs from what it is now (a new address after a restart
// in a new container), so it rejoins as itself.
type formation struct {
	n *Node

	mu       sync.Mutex
	waiting  map[uint64]string // nodes known to wait for a bootstrap: id -> addr
	lastLog  time.Time
	attempts int
	// foreign, when set, says that this node holds another cluster's data
	// than its seeds belong to; lastSeedCheck is when that was last asked.
	foreign       string
	lastSeedCheck time.Time
}

func newFormation(n *Node) *formation {
	return &formation{n: n, waiting: map[uint64]string{}}
}

func (f *formation) notified(id uint64, addr string) {
	f.mu.Lock()
	f.waiting[id] = addr
	f.mu.Unlock()
}

func (f *formation) run() {
	defer f.n.wg.Done()
	backoff := 100 * time.Millisecond
	for {
		done := f.step()
		wait := backoff
		if done {
			wait = time.Second
			backoff = 100 * time.Millisecond
		} else {
			backoff = min(backoff*2, 2*time.Second)
		}
		// Jitter keeps nodes started together from stepping in lock-step.
		wait += time.Duration(rand.Int64N(int64(wait)/4 + 1))
		select {
		case <-f.n.closeCh:
			return
		case <-time.After(wait):
		}
	}
}

// step makes one formation attempt; it reports whether the node is in a
// cluster with a current peer record.
func (f *formation) step() bool {
	n := f.n
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if !n.isFormed() && n.hasConfiguration() {
		n.setFormed()
	}
	if n.isFormed() {
		n.rememberClusterID()
		f.checkSeeds(ctx)
		if st := n.State(); st.Removed[n.id] && !st.Replaced[n.id] {
			// An operator removed this node: it stays out; with an empty
			// storage directory it joins as a new peer.
			f.waitLog("this peer was removed from the cluster; give it an empty storage directory to join again as a new peer", "peer", n.id)
			return false
		}
		if n.selfRegistered() && !n.leaderless() {
			return true
		}
		// Not registered as it is now, or no word from a leader for a
		// while: a node that the cluster replaced and removed while it was
		// down or cut off may still find itself in its own (stale)
		// metadata, and only a join through a seed or a peer gets it taken
		// back (readmit_peer).
		return f.register(ctx)
	}
	if len(n.opts.Join) == 0 && n.opts.Bootstrap == "" {
		return f.bootstrap([]bootstrapPeer{{id: n.id, addr: n.opts.Advertise}})
	}
	seeds := n.opts.Join
	if n.opts.Bootstrap != "" {
		seeds = []string{n.opts.Bootstrap}
	}
	targets := f.resolve(ctx, seeds)
	for _, t := range targets {
		if t == n.opts.Advertise {
			continue
		}
		if err := f.join(ctx, t); err == nil {
			n.log.Info("joined the cluster", "through", t)
			return false // formed once Raft hears from the leader
		}
	}
	if n.opts.Bootstrap != "" {
		f.waitLog("waiting to join the cluster through --bootstrap", "bootstrap", n.opts.Bootstrap, "resolved", targets)
		return false
	}
	f.notified(n.id, n.opts.Advertise)
	inCluster := false
	for _, t := range targets {
		if t == n.opts.Advertise {
			continue
		}
		cc, err := n.opts.Pool.Conn(t)
		if err != nil {
			continue
		}
		resp, err := p2p.Call[NotifyRequest, NotifyResponse](ctx, cc, methodNotify, &NotifyRequest{ID: n.id, Addr: n.opts.Advertise})
		if err != nil {
			continue
		}
		if resp.HasState {
			inCluster = true
			continue
		}
		f.notified(resp.ID, t)
	}
	f.mu.Lock()
	var set []bootstrapPeer
	for id, addr := range f.waiting {
		set = append(set, bootstrapPeer{id: id, addr: addr})
	}
	f.mu.Unlock()
	if inCluster || len(set) < n.opts.BootstrapExpect {
		f.waitLog("waiting for peers to form a cluster", "join", n.opts.Join, "resolved", targets,
			"waiting_peers", len(set), "bootstrap_expect", n.opts.BootstrapExpect, "cluster_exists", inCluster)
		return false
	}
	return f.bootstrap(set)
}

type bootstrapPeer struct {
	id   uint64
	addr string
}

func (f *formation) bootstrap(set []bootstrapPeer) bool {
	n := f.n
	sort.Slice(set, func(i, j int) bool { return set[i].id < set[j].id })
	var cfg raft.Configuration
	for _, p := range set {
		cfg.Servers = append(cfg.Servers, raft.Server{Suffrage: raft.Voter,
			ID: raft.ServerID(strconv.FormatUint(p.id, 10)), Address: raft.ServerAddress(p.addr)})
	}
	err := n.getRaft().BootstrapCluster(cfg).Error()
	if err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		n.log.Warn("cannot bootstrap the cluster", "err", err)
		return false
	}
	n.log.Info("bootstrapped the cluster", "voters", len(set))
	n.setFormed()
	return false
}

// join asks target (any member) to add this node.
func (f *formation) join(ctx context.Context, target string) error {
	n := f.n
	cc, err := n.opts.Pool.Conn(target)
	if err != nil {
		return err
	}
	_, err = p2p.Call[JoinRequest, JoinResponse](ctx, cc, methodJoin, n.joinRequest())
	return err
}

func (n *Node) joinRequest() *JoinRequest {
	n.mu.Lock()
	cid := n.identity.ClusterID
	n.mu.Unlock()
	return &JoinRequest{ID: n.id, Addr: n.opts.Advertise, URI: n.opts.URI, Zone: n.opts.Zone, Region: n.opts.Region, Labels: n.opts.Labels, ClusterID: cid}
}

// register brings this node's peer record up to date through the leader.
func (f *formation) register(ctx context.Context) bool {
	n := f.n
	r := n.getRaft()
	if r.State() == raft.Leader {
		_, err := n.handleJoin(ctx, n.joinRequest())
		return err == nil
	}
	addr, _ := r.LeaderWithID()
	if addr == "" {
		// A node back on a new address hears from no leader: the others
		// still dial its old one. Ask any seed or known peer to pass the
		// new address to the leader.
		for _, t := range f.registerTargets(ctx) {
			if err := f.join(ctx, t); err == nil {
				n.log.Info("re-registered through a peer", "through", t)
				return n.selfRegistered()
			}
		}
		f.waitLog("in a cluster, waiting for a leader")
		return false
	}
	if err := f.join(ctx, string(addr)); err != nil {
		f.waitLog("cannot register with the leader", "leader", addr, "err", err)
		return false
	}
	return n.selfRegistered()
}

// checkSeeds, on a node in a cluster that hears from no leader, asks its
// seeds (every 5 s) which cluster they belong to: a node started with the
// storage of another cluster than its seeds' waits for that cluster's
// peers forever, so it says so (in the log, every 10 s, and in GET
// /cluster) instead of waiting silently.
func (f *formation) checkSeeds(ctx context.Context) {
	n := f.n
	if addr, _ := n.getRaft().LeaderWithID(); addr != "" {
		f.setForeign("")
		return
	}
	// From node.json: a node without a quorum may not have applied its
	// log yet.
	n.mu.Lock()
	mine := n.identity.ClusterID
	n.mu.Unlock()
	f.mu.Lock()
	due := time.Since(f.lastSeedCheck) >= 5*time.Second
	if due {
		f.lastSeedCheck = time.Now()
	}
	f.mu.Unlock()
	if !due || mine == "" {
		return
	}
	seeds := append([]string(nil), n.opts.Join...)
	if n.opts.Bootstrap != "" {
		seeds = append(seeds, n.opts.Bootstrap)
	}
	for _, t := range f.resolve(ctx, seeds) {
		if t == n.opts.Advertise {
			continue
		}
		cc, err := n.opts.Pool.Conn(t)
		if err != nil {
			continue
		}
		resp, err := p2p.Call[NotifyRequest, NotifyResponse](ctx, cc, methodNotify, &NotifyRequest{ID: n.id, Addr: n.opts.Advertise})
		if err != nil || resp.ClusterID == "" || resp.ClusterID == mine {
			continue
		}
		msg := fmt.Sprintf("this node holds the data of cluster %s, but its seed %s belongs to cluster %s: "+
			"it cannot join that cluster with this storage; start it with an empty storage directory to join as a new peer, "+
			"or give it the seeds of cluster %s", mine, t, resp.ClusterID, mine)
		if f.setForeign(msg) {
			n.log.Error(msg)
		}
		return
	}
}

// setForeign records the foreign-cluster message; it reports whether the
// message is new or due to be logged again (every 10 s).
func (f *formation) setForeign(msg string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.foreign = msg
	if msg == "" || time.Since(f.lastLog) < 10*time.Second {
		return false
	}
	f.lastLog = time.Now()
	return true
}

// foreignCluster returns the foreign-cluster message ("" when none).
func (f *formation) foreignCluster() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.foreign
}

// waitLog logs what the node waits for, at most every 10 s.
func (f *formation) waitLog(msg string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts++
	if time.Since(f.lastLog) < 10*time.Second {
		return
	}
	f.lastLog = time.Now()
	f.n.log.Info(msg, append(args, "attempts", f.attempts)...)
}

// resolve turns seeds into host:port targets, looking names up on every
// call (a DNS name may stand for several nodes, and their addresses
// change).
func (f *formation) resolve(ctx context.Context, seeds []string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, s := range seeds {
		hostport := SeedAddr(s)
		host, port, err := net.SplitHostPort(hostport)
		if err != nil {
			continue
		}
		if _, err := netip.ParseAddr(host); err == nil {
			add(hostport)
			continue
		}
		addrs, err := f.n.opts.Resolve(ctx, host)
		if err != nil {
			f.waitLog("cannot resolve seed", "seed", s, "err", err)
			continue
		}
		sort.Strings(addrs)
		for _, a := range addrs {
			add(net.JoinHostPort(a, port))
		}
	}
	return out
}

// SeedAddr turns a seed (host:port, or a Qdrant-style URI such as
// http://host:6335) into host:port.
func SeedAddr(s string) string {
	if strings.Contains(s, "://") {
		if u, err := url.Parse(s); err == nil {
			return u.Host
		}
	}
	return strings.TrimSuffix(s, "/")
}

func (n *Node) hasConfiguration() bool {
	r := n.getRaft()
	if r == nil {
		return false
	}
	cf := r.GetConfiguration()
	if cf.Error() != nil {
		return false
	}
	return len(cf.Configuration().Servers) > 0
}

// rememberClusterID records the cluster's id in node.json once known, so
// that the node can later be told apart from nodes of other clusters.
func (n *Node) rememberClusterID() {
	cid := n.State().ClusterID
	n.mu.Lock()
	if cid == "" || n.identity.ClusterID == cid {
		n.mu.Unlock()
		return
	}
	n.identity.ClusterID = cid
	id := n.identity
	n.mu.Unlock()
	if err := saveIdentity(n.opts.Dir, id); err != nil {
		n.log.Warn("cannot record the cluster id", "err", err)
	}
}

// registerTargets lists where a node in a cluster may re-register: its
// seeds, and the peers its metadata knows, except itself.
func (f *formation) registerTargets(ctx context.Context) []string {
	n := f.n
	seeds := n.opts.Join
	if n.opts.Bootstrap != "" {
		seeds = append([]string{n.opts.Bootstrap}, seeds...)
	}
	out := f.resolve(ctx, seeds)
	for id, p := range n.State().Peers {
		if id != n.id && !slices.Contains(out, p.Addr) {
			out = append(out, p.Addr)
		}
	}
	return slices.DeleteFunc(out, func(t string) bool { return t == n.opts.Advertise })
}
