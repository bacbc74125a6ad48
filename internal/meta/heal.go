package meta

import (
	"github.com/shoal-db/shoal/internal/api"
)

// HealCommandVersion is the envelope version of the healing commands:
// drain_peer, and the MinActive precondition of drop_replica.
const HealCommandVersion = 5

// TypeDrainPeer marks a peer as draining (Drain true) or no longer
// draining (Drain false): the allocator moves a draining peer's replicas
// to other peers and then removes it. A draining peer receives no new
// replicas.
const TypeDrainPeer = "drain_peer"

func (s *State) drainPeer(cmd *Command) error {
	if cmd.V < HealCommandVersion {
		return api.ErrBadInput("%s needs command version %d", cmd.Type, HealCommandVersion)
	}
	if _, ok := s.Peers[cmd.PeerID]; !ok {
		return api.ErrNotFound("Peer %d does not exist", cmd.PeerID)
	}
	if !cmd.Drain {
		delete(s.Draining, cmd.PeerID)
		return nil
	}
	if s.Draining == nil {
		s.Draining = map[uint64]bool{}
	}
	s.Draining[cmd.PeerID] = true
	return nil
}
