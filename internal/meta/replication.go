package meta

import (
	"slices"

	"github.com/shoal-db/shoal/internal/api"
)

// ReplicationCommandVersion is the envelope version of the replication
// commands below.
const ReplicationCommandVersion = 4

// Replication command types (version 4). Each names a replica by
// Collection, Generation, ShardID and PeerID, and may carry preconditions
// (FromState, Epoch) that make a proposal of a stale view fail in Apply:
// a deposed primary cannot mark its backups Dead, and two nodes deciding
// on one replica cannot both win.
//
//   - set_replica_state: the replica's State becomes cmd.State. A replica
//     becomes Active only from Partial, Recovery, Initializing or Listener
//     (after a transfer has caught it up); the primary cannot leave Active
//     (hand it over with set_primary first).
//   - set_primary: PeerID, an Active replica, becomes the primary; the
//     epoch grows by one and the deposed primary becomes Dead (it may hold
//     operations its backups never acknowledged).
//   - add_replica: a new replica on PeerID in cmd.State (Partial when
//     unset), which its primary then fills; with MoveFrom (a move_shard),
//     the replica on that peer is dropped when the new one becomes Active
//     (in the same command, so the shard never has fewer Active replicas).
//   - drop_replica: the replica is removed. The last Active replica is
//     never dropped; dropping the primary hands it to another Active
//     replica.
const (
	TypeSetReplicaState = "set_replica_state"
	TypeSetPrimary      = "set_primary"
	TypeAddReplica      = "add_replica"
	TypeDropReplica     = "drop_replica"
)

// Primary returns the shard's primary peer (0 when it has no replica).
func (p ShardPlacement) Primary() uint64 {
	if len(p.Replicas) == 0 {
		return 0
	}
	return p.Replicas[0].Peer
}

// Replica returns the replica on peer.
func (p ShardPlacement) Replica(peer uint64) (Replica, bool) {
	for _, r := range p.Replicas {
		if r.Peer == peer {
			return r, true
		}
	}
	return Replica{}, false
}

// ActiveCount counts the shard's Active replicas.
func (p ShardPlacement) ActiveCount() int {
	n := 0
	for _, r := range p.Replicas {
		if r.State == api.ReplicaActive {
			n++
		}
	}
	return n
}

// promote makes the first Active replica the primary after the primary
// left the list, in a new epoch. Without an Active replica the list is
// left as it is: the shard has no readable replica.
func promote(sp ShardPlacement) ShardPlacement {
	i := slices.IndexFunc(sp.Replicas, func(r Replica) bool { return r.State == api.ReplicaActive })
	if i < 0 {
		return sp
	}
	rs := slices.Clone(sp.Replicas)
	r := rs[i]
	rs = slices.Delete(rs, i, i+1)
	sp.Replicas = slices.Insert(rs, 0, r)
	sp.Epoch++
	return sp
}

// applyReplication applies one replication command.
func (s *State) applyReplication(cmd *Command) error {
	c, ok := s.Collections[cmd.Collection]
	if !ok {
		return api.ErrCollectionNotFound(cmd.Collection)
	}
	if cmd.Generation != c.Generation {
		return api.ErrBadInput("collection %s was recreated (generation %d, the command names %d)", cmd.Collection, c.Generation, cmd.Generation)
	}
	if cmd.ShardID < 0 || cmd.ShardID >= len(c.Shards) {
		return api.ErrBadInput("Shard %d does not exist in collection %s", cmd.ShardID, cmd.Collection)
	}
	sp := c.Shards[cmd.ShardID]
	sp.Replicas = slices.Clone(sp.Replicas)
	if cmd.Epoch != 0 && cmd.Epoch != sp.Epoch {
		return api.ErrBadInput("shard %d of collection %s is in epoch %d, the command was made in epoch %d", cmd.ShardID, cmd.Collection, sp.Epoch, cmd.Epoch)
	}
	idx := slices.IndexFunc(sp.Replicas, func(r Replica) bool { return r.Peer == cmd.PeerID })
	if cmd.Type != TypeAddReplica {
		if idx < 0 {
			return api.ErrBadInput("Shard %d of collection %s has no replica on peer %d", cmd.ShardID, cmd.Collection, cmd.PeerID)
		}
		if cmd.FromState != "" && sp.Replicas[idx].State != cmd.FromState {
			return api.ErrBadInput("replica of shard %d on peer %d is %s, not %s", cmd.ShardID, cmd.PeerID, sp.Replicas[idx].State, cmd.FromState)
		}
	}
	switch cmd.Type {
	case TypeSetReplicaState:
		if !cmd.State.Valid() {
			return api.ErrBadInput("unknown replica state %q", cmd.State)
		}
		from := sp.Replicas[idx].State
		if idx == 0 && cmd.State != api.ReplicaActive {
			return api.ErrBadInput("the replica of shard %d on peer %d is the primary: hand it over before changing its state", cmd.ShardID, cmd.PeerID)
		}
		if cmd.State == api.ReplicaActive && from == api.ReplicaDead {
			return api.ErrBadInput("a Dead replica becomes Active only after a transfer has caught it up")
		}
		sp.Replicas[idx].State = cmd.State
		if cmd.State == api.ReplicaActive && sp.Replicas[idx].MoveFrom != 0 {
			// A move's new replica is complete: the source goes.
			src := sp.Replicas[idx].MoveFrom
			sp.Replicas[idx].MoveFrom, sp.Replicas[idx].Method = 0, ""
			if j := slices.IndexFunc(sp.Replicas, func(r Replica) bool { return r.Peer == src }); j >= 0 {
				sp.Replicas = slices.Delete(sp.Replicas, j, j+1)
				if j == 0 {
					sp = promote(sp)
				}
			}
		} else if cmd.State == api.ReplicaActive {
			sp.Replicas[idx].Method = ""
		}
	case TypeSetPrimary:
		if sp.Replicas[idx].State != api.ReplicaActive {
			return api.ErrBadInput("the replica of shard %d on peer %d is %s: only an Active replica can become the primary", cmd.ShardID, cmd.PeerID, sp.Replicas[idx].State)
		}
		if idx != 0 {
			old := sp.Replicas[0]
			old.State = api.ReplicaDead
			r := sp.Replicas[idx]
			rs := slices.Delete(sp.Replicas, idx, idx+1)
			rs[0] = old
			sp.Replicas = slices.Insert(rs, 0, r)
			sp.Epoch++
		}
	case TypeAddReplica:
		if idx >= 0 {
			return api.ErrBadInput("Shard %d of collection %s already has a replica on peer %d", cmd.ShardID, cmd.Collection, cmd.PeerID)
		}
		if _, ok := s.Peers[cmd.PeerID]; !ok {
			return api.ErrBadInput("Peer %d does not exist", cmd.PeerID)
		}
		st := cmd.State
		if st == "" {
			st = api.ReplicaPartial
		}
		if st == api.ReplicaActive || !st.Valid() {
			return api.ErrBadInput("a new replica cannot start as %q", st)
		}
		if cmd.MoveFrom != 0 {
			if _, ok := sp.Replica(cmd.MoveFrom); !ok {
				return api.ErrBadInput("Shard %d of collection %s has no replica on peer %d", cmd.ShardID, cmd.Collection, cmd.MoveFrom)
			}
		}
		sp.Replicas = append(sp.Replicas, Replica{Peer: cmd.PeerID, State: st, MoveFrom: cmd.MoveFrom, Method: cmd.Method})
	case TypeDropReplica:
		if sp.Replicas[idx].State == api.ReplicaActive && sp.ActiveCount() == 1 {
			return api.ErrBadInput("Cannot drop the last active replica of shard %d of collection %s", cmd.ShardID, cmd.Collection)
		}
		if left := sp.ActiveCount(); cmd.MinActive > 0 {
			if sp.Replicas[idx].State == api.ReplicaActive {
				left--
			}
			if left < cmd.MinActive {
				return api.ErrBadInput("dropping the replica of shard %d of collection %s on peer %d would leave %d Active replicas, fewer than %d",
					cmd.ShardID, cmd.Collection, cmd.PeerID, left, cmd.MinActive)
			}
		}
		sp.Replicas = slices.Delete(sp.Replicas, idx, idx+1)
		if idx == 0 {
			sp = promote(sp)
		}
	}
	nc := *c
	nc.Shards = slices.Clone(c.Shards)
	nc.Shards[cmd.ShardID] = sp
	s.Collections[cmd.Collection] = &nc
	return nil
}
