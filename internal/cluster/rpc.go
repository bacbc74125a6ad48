package cluster

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/meta"
	"github.com/shoal-db/shoal/internal/p2p"
)

// The Meta service on the p2p port: formation (Join, Notify) and the
// forwarding of metadata commands and read indexes to the leader.
const metaServiceName = "shoal.cluster.Meta"

const (
	methodJoin      = "/" + metaServiceName + "/Join"
	methodNotify    = "/" + metaServiceName + "/Notify"
	methodPropose   = "/" + metaServiceName + "/Propose"
	methodReadIndex = "/" + metaServiceName + "/ReadIndex"
	methodRemove    = "/" + metaServiceName + "/Remove"
)

// RemoveRequest removes a peer from the metadata and from Raft.
type RemoveRequest struct {
	ID    uint64 `json:"id"`
	Force bool   `json:"force"`
	// Replaced says that the peer is dead and the allocator re-created its
	// replicas elsewhere: it may come back (readmit_peer).
	Replaced bool `json:"replaced,omitempty"`
}

// RemoveResponse answers a removal.
type RemoveResponse struct{}

// JoinRequest asks the cluster to add (or re-address) a peer.
type JoinRequest struct {
	ID        uint64            `json:"id"`
	Addr      string            `json:"addr"`
	URI       string            `json:"uri"`
	Zone      string            `json:"zone,omitempty"`
	Region    string            `json:"region,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
	ClusterID string            `json:"cluster_id,omitempty"`
}

// JoinResponse answers a join.
type JoinResponse struct {
	ClusterID string `json:"cluster_id"`
	Leader    string `json:"leader"`
}

// NotifyRequest tells a node that another one, without a cluster yet, is
// waiting to bootstrap one.
type NotifyRequest struct {
	ID   uint64 `json:"id"`
	Addr string `json:"addr"`
}

// NotifyResponse tells the notifier whether this node is in a cluster
// already (then the notifier joins instead of bootstrapping).
type NotifyResponse struct {
	ID       uint64 `json:"id"`
	HasState bool   `json:"has_state"`
	// ClusterID is the answering node's cluster ("" before one is known).
	ClusterID string `json:"cluster_id,omitempty"`
}

// ProposeRequest carries an encoded meta.Command to the leader.
type ProposeRequest struct {
	Command []byte `json:"command"`
}

// ProposeResponse returns the index of the applied entry.
type ProposeResponse struct {
	Index uint64 `json:"index"`
}

// ReadIndexRequest asks the leader for a read index.
type ReadIndexRequest struct{}

// ReadIndexResponse is an index covering every committed entry.
type ReadIndexResponse struct {
	Index uint64 `json:"index"`
}

func (n *Node) metaService() *grpc.ServiceDesc {
	return p2p.Service(metaServiceName, []grpc.MethodDesc{
		p2p.Unary("Join", n.handleJoin),
		p2p.Unary("Notify", n.handleNotify),
		p2p.Unary("Propose", n.handlePropose),
		p2p.Unary("ReadIndex", n.handleReadIndex),
		p2p.Unary("Remove", n.handleRemove),
	}, nil)
}

var errNotLeader = &api.Error{Kind: api.KindUnavailable, Message: "Service unavailable: not the leader"}

// handleJoin adds the peer to Raft and to the metadata on the leader, and
// forwards the request to the leader elsewhere.
func (n *Node) handleJoin(ctx context.Context, req *JoinRequest) (*JoinResponse, error) {
	r := n.getRaft()
	if r == nil || !n.isFormed() {
		return nil, errNotLeader
	}
	if r.State() != raft.Leader {
		addr, _ := r.LeaderWithID()
		if addr == "" {
			return nil, errNotLeader
		}
		cc, err := n.opts.Pool.Conn(string(addr))
		if err != nil {
			return nil, err
		}
		return p2p.Call[JoinRequest, JoinResponse](ctx, cc, methodJoin, req)
	}
	st := n.State()
	if req.ClusterID != "" && st.ClusterID != "" && req.ClusterID != st.ClusterID {
		return nil, api.ErrBadInput("peer %d holds data of cluster %s, this is cluster %s; give it an empty storage directory to join", req.ID, req.ClusterID, st.ClusterID)
	}
	if st.Removed[req.ID] && !st.Replaced[req.ID] {
		return nil, api.ErrBadInput("peer %d was removed from this cluster; give the node an empty storage directory to join again as a new peer", req.ID)
	}
	if err := n.takeOverAddress(ctx, st, req); err != nil {
		return nil, err
	}
	if err := n.addToRaft(req.ID, req.Addr); err != nil {
		return nil, err
	}
	p := &meta.Peer{ID: req.ID, Addr: req.Addr, URI: req.URI, Zone: req.Zone, Region: req.Region, Labels: req.Labels}
	if n.State().Removed[req.ID] {
		// A node back after the cluster replaced and removed it: it is
		// taken back holding nothing. Its replicas were re-created on
		// other peers, so the copies on its disk are surplus; it drops
		// them as it replays the metadata it missed, and then receives
		// replicas like any new peer.
		n.log.Warn("a removed peer is back: it is taken back, and drops the replicas it still holds", "peer", req.ID, "addr", req.Addr)
		if err := n.Apply(ctx, &meta.Command{V: meta.ReadmitCommandVersion, Type: meta.TypeReadmitPeer, Peer: p}); err != nil {
			return nil, err
		}
	} else if cur, ok := st.Peers[req.ID]; !ok || !cur.Equal(p) {
		if err := n.Apply(ctx, &meta.Command{V: meta.ClusterCommandVersion, Type: meta.TypeAddPeer, Peer: p}); err != nil {
			return nil, err
		}
	}
	return &JoinResponse{ClusterID: n.State().ClusterID, Leader: n.opts.Advertise}, nil
}

// takeOverAddress handles a joiner at an address recorded for another
// peer: a replacement node with an empty disk in the old one's place (the
// same host name in compose or a StatefulSet). The node answering at the
// address must be the joiner itself; then the old peer is certainly gone
// from there, and it is removed with its replicas (force: the others hold
// every acknowledged write, and the allocator re-creates the replicas, on
// the newcomer among others). Otherwise the join is refused.
func (n *Node) takeOverAddress(ctx context.Context, st *meta.State, req *JoinRequest) error {
	for _, id := range st.PeerIDs() {
		if id == req.ID || st.Peers[id].Addr != req.Addr {
			continue
		}
		who, err := n.whoIsAt(ctx, req.Addr)
		if err != nil {
			return api.ErrUnavailable("address %s is recorded for peer %d and does not answer: %v", req.Addr, id, err)
		}
		if who != req.ID {
			return api.ErrBadInput("address %s is peer %d's, and the node there answers as peer %d, not as the joining peer %d", req.Addr, id, who, req.ID)
		}
		n.log.Warn("a new node took over a peer's address: the old peer is gone and is removed with its replicas",
			"old_peer", id, "new_peer", req.ID, "addr", req.Addr)
		if _, err := n.handleRemove(ctx, &RemoveRequest{ID: id, Force: true}); err != nil {
			return err
		}
	}
	return nil
}

// whoIsAt asks the node at addr for its peer id.
func (n *Node) whoIsAt(ctx context.Context, addr string) (uint64, error) {
	cc, err := n.opts.Pool.Conn(addr)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := p2p.Call[NotifyRequest, NotifyResponse](ctx, cc, methodNotify, &NotifyRequest{})
	if err != nil {
		return 0, err
	}
	return resp.ID, nil
}

// maxVoters is the most Raft voters; later members are non-voters.
const maxVoters = 5

// addToRaft makes id a Raft member at addr (a voter while there are fewer
// than maxVoters), or updates its address.
func (n *Node) addToRaft(id uint64, addr string) error {
	r := n.getRaft()
	cf := r.GetConfiguration()
	if err := cf.Error(); err != nil {
		return errNotLeader
	}
	sid := raft.ServerID(strconv.FormatUint(id, 10))
	voters := 0
	moved := false
	for _, s := range cf.Configuration().Servers {
		if s.ID == sid {
			if s.Address == raft.ServerAddress(addr) {
				return nil
			}
			moved = true
		}
		if s.Suffrage == raft.Voter && s.ID != sid {
			voters++
		}
	}
	if moved {
		// A member back on a new address is removed and added again
		// rather than re-addressed in place: raft v1.7.2 updates a
		// follower's address while its pipeline goroutine may read it
		// unlocked (a data race the race detector reports).
		if err := r.RemoveServer(sid, 0, 10*time.Second).Error(); err != nil {
			if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
				return errNotLeader
			}
			return api.ErrInternal(err, "cannot re-address peer %d: %v", id, err)
		}
	}
	var f raft.IndexFuture
	if voters < maxVoters {
		f = r.AddVoter(sid, raft.ServerAddress(addr), 0, 10*time.Second)
	} else {
		f = r.AddNonvoter(sid, raft.ServerAddress(addr), 0, 10*time.Second)
	}
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return errNotLeader
		}
		return api.ErrInternal(err, "cannot add peer %d: %v", id, err)
	}
	n.log.Info("peer added to raft", "peer", id, "addr", addr, "voter", voters < maxVoters)
	return nil
}

func (n *Node) handleNotify(_ context.Context, req *NotifyRequest) (*NotifyResponse, error) {
	if !n.isFormed() && req.ID != 0 { // ID 0: a probe (whoIsAt)
		n.form.notified(req.ID, req.Addr)
	}
	return &NotifyResponse{ID: n.id, HasState: n.isFormed(), ClusterID: n.State().ClusterID}, nil
}

func (n *Node) handlePropose(ctx context.Context, req *ProposeRequest) (*ProposeResponse, error) {
	r := n.getRaft()
	if r == nil || r.State() != raft.Leader {
		return nil, errNotLeader
	}
	index, err := n.applyLocal(ctx, req.Command)
	if errors.Is(err, errRetry) {
		return nil, errNotLeader
	}
	if err != nil {
		return nil, err
	}
	return &ProposeResponse{Index: index}, nil
}

func (n *Node) handleReadIndex(ctx context.Context, _ *ReadIndexRequest) (*ReadIndexResponse, error) {
	r := n.getRaft()
	if r == nil || r.State() != raft.Leader {
		return nil, errNotLeader
	}
	index, err := n.barrierIndex(ctx)
	if err != nil {
		return nil, errNotLeader
	}
	return &ReadIndexResponse{Index: index}, nil
}

func (n *Node) forwardPropose(ctx context.Context, leader string, b []byte) (uint64, error) {
	cc, err := n.opts.Pool.Conn(leader)
	if err != nil {
		return 0, errRetry
	}
	resp, err := p2p.Call[ProposeRequest, ProposeResponse](ctx, cc, methodPropose, &ProposeRequest{Command: b})
	if err != nil {
		var ae *api.Error
		if errors.As(err, &ae) && ae.Kind != api.KindUnavailable {
			return 0, err
		}
		return 0, errRetry
	}
	return resp.Index, nil
}

func (n *Node) forwardReadIndex(ctx context.Context, leader string) (uint64, error) {
	cc, err := n.opts.Pool.Conn(leader)
	if err != nil {
		return 0, errRetry
	}
	resp, err := p2p.Call[ReadIndexRequest, ReadIndexResponse](ctx, cc, methodReadIndex, &ReadIndexRequest{})
	if err != nil {
		return 0, errRetry
	}
	return resp.Index, nil
}

// RemovePeer removes a peer from the cluster: from the metadata (refused
// while it holds shard replicas, unless force drops them) and from Raft.
// It runs on the leader (forwarded there).
func (n *Node) RemovePeer(ctx context.Context, id uint64, force bool) error {
	return n.removePeer(ctx, &RemoveRequest{ID: id, Force: force})
}

// RemoveReplacedPeer removes a dead peer whose replicas were re-created
// on other peers (the allocator's last step of healing): unlike a peer an
// operator removed, it is taken back if it returns.
func (n *Node) RemoveReplacedPeer(ctx context.Context, id uint64) error {
	return n.removePeer(ctx, &RemoveRequest{ID: id, Replaced: true})
}

func (n *Node) removePeer(ctx context.Context, req *RemoveRequest) error {
	ctx, cancel := context.WithTimeout(ctx, n.opts.ProposeTimeout)
	defer cancel()
	backoff := 20 * time.Millisecond
	for {
		var err error
		r := n.getRaft()
		switch {
		case r == nil:
			err = errRetry
		case r.State() == raft.Leader:
			_, err = n.handleRemove(ctx, req)
		default:
			addr, _ := r.LeaderWithID()
			if addr == "" {
				err = errRetry
				break
			}
			var cc *grpc.ClientConn
			if cc, err = n.opts.Pool.Conn(string(addr)); err == nil {
				_, err = p2p.Call[RemoveRequest, RemoveResponse](ctx, cc, methodRemove, req)
			}
		}
		if err == nil || !retryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return ErrNoLeader
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 500*time.Millisecond)
	}
}

func (n *Node) handleRemove(ctx context.Context, req *RemoveRequest) (*RemoveResponse, error) {
	r := n.getRaft()
	if r == nil || r.State() != raft.Leader {
		return nil, errNotLeader
	}
	if req.ID == n.id {
		// The leader cannot remove itself safely: it hands leadership
		// over, and the caller retries on the new leader.
		if err := r.LeadershipTransfer().Error(); err != nil {
			n.log.Warn("cannot hand leadership over before removing this peer", "err", err)
		}
		return nil, errNotLeader
	}
	if _, ok := n.State().Peers[req.ID]; ok {
		cmd := &meta.Command{V: meta.ClusterCommandVersion, Type: meta.TypeRemovePeer, PeerID: req.ID, Force: req.Force}
		if req.Replaced {
			cmd.V, cmd.Replaced = meta.ReadmitCommandVersion, true
		}
		if err := n.Apply(ctx, cmd); err != nil {
			return nil, err
		}
	} else if !n.inRaft(req.ID) {
		return nil, api.ErrNotFound("Peer %d does not exist", req.ID)
	}
	if err := r.RemoveServer(raft.ServerID(strconv.FormatUint(req.ID, 10)), 0, 10*time.Second).Error(); err != nil {
		return nil, errNotLeader
	}
	n.log.Info("peer removed", "peer", req.ID, "force", req.Force, "replaced", req.Replaced)
	return &RemoveResponse{}, nil
}

func (n *Node) inRaft(id uint64) bool {
	cf := n.getRaft().GetConfiguration()
	if cf.Error() != nil {
		return false
	}
	for _, s := range cf.Configuration().Servers {
		if s.ID == raft.ServerID(strconv.FormatUint(id, 10)) {
			return true
		}
	}
	return false
}
