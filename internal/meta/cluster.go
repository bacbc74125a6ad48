package meta

import (
	"maps"
	"sort"

	"github.com/shoal-db/shoal/internal/api"
)

// ClusterCommandVersion is the envelope version of the cluster commands
// (init_cluster, add_peer, update_peer, remove_peer) and of a
// create_collection that carries a placement. Builds that apply only
// versions 1 and 2 refuse them by their version, so a mixed cluster can
// never diverge on them.
const ClusterCommandVersion = 3

// Cluster command types (version 3).
const (
	TypeInitCluster = "init_cluster"
	TypeAddPeer     = "add_peer"
	TypeUpdatePeer  = "update_peer"
	TypeRemovePeer  = "remove_peer"
)

// Peer is one member of the cluster as the metadata records it.
type Peer struct {
	// ID is the peer's id (below 2^53, so that JSON clients read it
	// exactly).
	ID uint64 `json:"id"`
	// Addr is the host:port of the peer's p2p (6335) listener.
	Addr string `json:"addr"`
	// URI is the peer's advertised URI as Qdrant shows it
	// (http://host:6335/).
	URI string `json:"uri,omitempty"`
	// Zone and Region are the peer's failure domains ("" when unset).
	Zone   string `json:"zone,omitempty"`
	Region string `json:"region,omitempty"`
	// Labels are the peer's free-form labels (cluster.labels).
	Labels map[string]string `json:"labels,omitempty"`
}

// Equal reports whether p and q describe the peer alike.
func (p *Peer) Equal(q *Peer) bool {
	return p.ID == q.ID && p.Addr == q.Addr && p.URI == q.URI && p.Zone == q.Zone && p.Region == q.Region && maps.Equal(p.Labels, q.Labels)
}

// Replica is one copy of a shard on a peer.
type Replica struct {
	Peer  uint64           `json:"peer"`
	State api.ReplicaState `json:"state"`
	// MoveFrom, on a replica being filled by a move_shard, is the peer
	// whose replica is dropped when this one becomes Active.
	MoveFrom uint64 `json:"move_from,omitempty"`
	// Method is the transfer method a move or replication asked for.
	Method string `json:"method,omitempty"`
}

// ShardPlacement lists the replicas of one shard. The first replica is the
// shard's primary, which is always Active; Epoch counts the shard's
// primaries (1 at creation, one more at every change of primary), and
// replicas refuse the operations of an older epoch's primary.
type ShardPlacement struct {
	Replicas []Replica `json:"replicas"`
	Epoch    uint64    `json:"epoch,omitempty"`
}

// Peers returns the ids of the peers holding a replica of the shard, in
// placement order.
func (p ShardPlacement) Peers() []uint64 {
	out := make([]uint64, len(p.Replicas))
	for i, r := range p.Replicas {
		out[i] = r.Peer
	}
	return out
}

// PeerIDs returns the ids of the cluster's peers in ascending order.
func (s *State) PeerIDs() []uint64 {
	out := make([]uint64, 0, len(s.Peers))
	for id := range s.Peers {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// ReplicaCount returns how many shard replicas the peer holds over all
// collections.
func (s *State) ReplicaCount(peer uint64) int {
	n := 0
	for _, c := range s.Collections {
		for _, sp := range c.Shards {
			for _, r := range sp.Replicas {
				if r.Peer == peer {
					n++
				}
			}
		}
	}
	return n
}

func (s *State) initCluster(cmd *Command) error {
	if cmd.ClusterID == "" {
		return api.ErrBadInput("init_cluster needs a cluster id")
	}
	if s.ClusterID != "" && s.ClusterID != cmd.ClusterID {
		return api.ErrBadInput("this cluster is %s, not %s", s.ClusterID, cmd.ClusterID)
	}
	s.ClusterID = cmd.ClusterID
	return nil
}

func checkPeer(p *Peer) error {
	switch {
	case p == nil:
		return api.ErrBadInput("peer command needs a peer")
	case p.ID == 0 || p.ID > 1<<53-1:
		return api.ErrBadInput("peer id must be from 1 to 2^53-1, got %d", p.ID)
	case p.Addr == "":
		return api.ErrBadInput("peer %d needs an address", p.ID)
	}
	return nil
}

// addPeer records a new peer, or updates an existing one's address and
// failure domains (a node that comes back on a new address).
func (s *State) addPeer(cmd *Command) error {
	if err := checkPeer(cmd.Peer); err != nil {
		return err
	}
	if s.Removed[cmd.Peer.ID] {
		return api.ErrBadInput("peer %d was removed from this cluster; it comes back through readmit_peer", cmd.Peer.ID)
	}
	for id, p := range s.Peers {
		if id != cmd.Peer.ID && p.Addr == cmd.Peer.Addr {
			return api.ErrBadInput("address %s is already used by peer %d", p.Addr, id)
		}
	}
	p := *cmd.Peer
	s.Peers[p.ID] = &p
	return nil
}

func (s *State) updatePeer(cmd *Command) error {
	if err := checkPeer(cmd.Peer); err != nil {
		return err
	}
	if _, ok := s.Peers[cmd.Peer.ID]; !ok {
		return api.ErrNotFound("Peer %d does not exist", cmd.Peer.ID)
	}
	return s.addPeer(cmd)
}

// removePeer removes a peer. A peer that holds shard replicas is refused
// unless Force is set; then its replicas are dropped from every placement.
func (s *State) removePeer(cmd *Command) error {
	id := cmd.PeerID
	if _, ok := s.Peers[id]; !ok {
		return api.ErrNotFound("Peer %d does not exist", id)
	}
	if cmd.Replaced && cmd.V < ReadmitCommandVersion {
		return api.ErrBadInput("remove_peer of a replaced peer needs command version %d", ReadmitCommandVersion)
	}
	if n := s.ReplicaCount(id); n > 0 {
		if !cmd.Force {
			return api.ErrBadInput("Cannot remove peer %d as there are shards on it", id)
		}
		for name, c := range s.Collections {
			shards := make([]ShardPlacement, len(c.Shards))
			for i, sp := range c.Shards {
				shards[i].Epoch = sp.Epoch
				for _, r := range sp.Replicas {
					if r.Peer != id {
						shards[i].Replicas = append(shards[i].Replicas, r)
					}
				}
				if len(sp.Replicas) > 0 && sp.Replicas[0].Peer == id {
					shards[i] = promote(shards[i])
				}
			}
			nc := *c
			nc.Shards = shards
			s.Collections[name] = &nc
		}
	}
	delete(s.Peers, id)
	delete(s.Draining, id)
	if s.Removed == nil {
		s.Removed = map[uint64]bool{}
	}
	s.Removed[id] = true
	if cmd.Replaced {
		if s.Replaced == nil {
			s.Replaced = map[uint64]bool{}
		}
		s.Replaced[id] = true
	}
	return nil
}

// checkPlacement validates a create_collection's placement against the
// configuration and the known peers.
func (s *State) checkPlacement(shardNumber int, placement [][]uint64) ([]ShardPlacement, error) {
	if len(placement) != shardNumber {
		return nil, api.ErrBadInput("placement names %d shards, the collection has %d", len(placement), shardNumber)
	}
	out := make([]ShardPlacement, shardNumber)
	for i, peers := range placement {
		if len(peers) == 0 {
			return nil, api.ErrBadInput("placement of shard %d names no peer", i)
		}
		seen := map[uint64]bool{}
		for _, id := range peers {
			if _, ok := s.Peers[id]; !ok {
				return nil, api.ErrBadInput("placement of shard %d names unknown peer %d", i, id)
			}
			if seen[id] {
				return nil, api.ErrBadInput("placement of shard %d names peer %d twice", i, id)
			}
			seen[id] = true
			out[i].Replicas = append(out[i].Replicas, Replica{Peer: id, State: api.ReplicaActive})
		}
		out[i].Epoch = 1
	}
	return out, nil
}
