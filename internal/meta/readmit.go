package meta

import "github.com/shoal-db/shoal/internal/api"

// ReadmitCommandVersion is the envelope version of readmit_peer and of a
// remove_peer with Replaced. Builds that apply only versions up to 5
// refuse them by their version.
const ReadmitCommandVersion = 6

// TypeReadmitPeer takes back a peer that was removed (Peer): a node that
// returns after the cluster replaced it and removed it (remove_peer with
// Replaced; a peer an operator removed is refused). It comes back
// holding no replica: the placement lost its replicas when it was removed,
// so the replicas its disk still holds are surplus, and it drops them as
// it catches up with the metadata. The allocator then gives it replicas
// like any new peer.
const TypeReadmitPeer = "readmit_peer"

func (s *State) readmitPeer(cmd *Command) error {
	if cmd.V < ReadmitCommandVersion {
		return api.ErrBadInput("%s needs command version %d", cmd.Type, ReadmitCommandVersion)
	}
	if err := checkPeer(cmd.Peer); err != nil {
		return err
	}
	id := cmd.Peer.ID
	if _, ok := s.Peers[id]; ok {
		return api.ErrBadInput("peer %d is a member of this cluster", id)
	}
	if !s.Removed[id] {
		return api.ErrBadInput("peer %d was never removed from this cluster", id)
	}
	if !s.Replaced[id] {
		return api.ErrBadInput("peer %d was removed from this cluster by an operator; give the node an empty storage directory to join again as a new peer", id)
	}
	if n := s.ReplicaCount(id); n > 0 {
		// Unreachable while remove_peer drops a peer's replicas; checked
		// so that a readmitted peer can never find stale replicas placed
		// on it.
		return api.ErrBadInput("peer %d still has %d replicas placed on it", id, n)
	}
	for pid, p := range s.Peers {
		if p.Addr == cmd.Peer.Addr {
			return api.ErrBadInput("address %s is already used by peer %d", p.Addr, pid)
		}
	}
	delete(s.Removed, id)
	delete(s.Replaced, id)
	p := *cmd.Peer
	s.Peers[id] = &p
	return nil
}
