package cluster

import (
	"errors"
	"strconv"

	"github.com/hashicorp/raft"
)

// Observer receives Raft events as this node sees them (see Observe).
// Its functions run on one goroutine, in order, and must not block long.
type Observer struct {
	// Leader is called when this node learns of a new leader (0: no
	// leader known).
	Leader func(leader uint64)
	// Heartbeat is called on the leader when a follower stops answering
	// heartbeats (ok false) and when it answers again (ok true).
	Heartbeat func(peer uint64, ok bool)
}

// Observe delivers o's events from now until the node closes. Call it
// after Start. Events are dropped rather than blocking Raft when o falls
// behind by more than 64.
func (n *Node) Observe(o Observer) error {
	r := n.getRaft()
	if r == nil {
		return errors.New("cannot observe the cluster node: it is not started")
	}
	ch := make(chan raft.Observation, 64)
	obs := raft.NewObserver(ch, false, func(ob *raft.Observation) bool {
		switch ob.Data.(type) {
		case raft.LeaderObservation, raft.FailedHeartbeatObservation, raft.ResumedHeartbeatObservation:
			return true
		}
		return false
	})
	r.RegisterObserver(obs)
	parse := func(id raft.ServerID) uint64 {
		v, _ := strconv.ParseUint(string(id), 10, 64)
		return v
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer r.DeregisterObserver(obs)
		for {
			select {
			case <-n.closeCh:
				return
			case ob := <-ch:
				switch d := ob.Data.(type) {
				case raft.LeaderObservation:
					if o.Leader != nil {
						o.Leader(parse(d.LeaderID))
					}
				case raft.FailedHeartbeatObservation:
					if o.Heartbeat != nil {
						o.Heartbeat(parse(d.PeerID), false)
					}
				case raft.ResumedHeartbeatObservation:
					if o.Heartbeat != nil {
						o.Heartbeat(parse(d.PeerID), true)
					}
				}
			}
		}
	}()
	return nil
}
