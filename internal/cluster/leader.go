package cluster

import (
	"context"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/raft"

	"github.com/shoal-db/shoal/internal/meta"
)

// voterSwapAfter is how long a voter must have failed heartbeats before
// the leader hands its vote to a healthy non-voter.
const voterSwapAfter = 10 * time.Second

// leaderLoop runs the leader's duties while this node leads: naming the
// cluster once (init_cluster) and spreading the Raft voters over failure
// domains (balanceVoters).
func (n *Node) leaderLoop() {
	defer n.wg.Done()
	r := n.getRaft()
	var mu sync.Mutex
	failing := map[uint64]time.Time{}
	if err := n.Observe(Observer{
		Leader: func(uint64) {
			mu.Lock()
			clear(failing) // the previous leader's knowledge
			mu.Unlock()
		},
		Heartbeat: func(peer uint64, ok bool) {
			mu.Lock()
			defer mu.Unlock()
			if ok {
				delete(failing, peer)
			} else if _, seen := failing[peer]; !seen {
				failing[peer] = time.Now()
			}
		},
	}); err != nil {
		n.log.Warn("cannot observe heartbeats: voters are not rebalanced", "err", err)
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-n.closeCh:
			return
		case <-r.LeaderCh():
		case <-tick.C:
		}
		if !n.isLeader() {
			continue
		}
		if n.State().ClusterID == "" {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := n.Apply(ctx, &meta.Command{V: meta.ClusterCommandVersion, Type: meta.TypeInitCluster, ClusterID: uuid.NewString()})
			cancel()
			if err != nil {
				n.log.Warn("cannot name the cluster", "err", err)
			}
			continue
		}
		mu.Lock()
		down := map[uint64]bool{}
		for p, since := range failing {
			down[p] = time.Since(since) >= voterSwapAfter
		}
		mu.Unlock()
		n.balanceVoters(r, down)
	}
}

// VoterChange is one step of balanceVoters: promote a non-voter, and
// demote a voter (0: none).
type VoterChange struct {
	Promote, Demote uint64
}

// PlanVoters decides one step towards min(maxVoters, members) voters
// spread over failure domains (region, then zone): a healthy non-voter is
// promoted while there are too few voters; a voter whose heartbeats have
// failed for voterSwapAfter gives its vote to a healthy non-voter; and a
// voter of the domain holding the most votes gives it to a non-voter of a
// domain holding at least two fewer. servers maps each member to whether
// it votes; domain names a member's failure domain; down names members
// whose heartbeats fail. self (the leader) is never demoted.
func PlanVoters(servers map[uint64]bool, domain func(uint64) string, down map[uint64]bool, self uint64) (VoterChange, bool) {
	ids := make([]uint64, 0, len(servers))
	for id := range servers {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	votes := map[string]int{}
	var voters, candidates []uint64
	for _, id := range ids {
		if servers[id] {
			voters = append(voters, id)
			votes[domain(id)]++
		} else if !down[id] {
			candidates = append(candidates, id)
		}
	}
	target := min(maxVoters, len(ids))
	// The voter of the domain with the most votes (never the leader).
	var worst uint64
	for _, v := range voters {
		if v == self {
			continue
		}
		if worst == 0 || votes[domain(v)] > votes[domain(worst)] {
			worst = v
		}
	}
	if len(voters) > target && worst != 0 {
		return VoterChange{Demote: worst}, true
	}
	if len(candidates) == 0 {
		return VoterChange{}, false
	}
	// The candidate of the domain with the fewest votes.
	best := candidates[0]
	for _, c := range candidates[1:] {
		if votes[domain(c)] < votes[domain(best)] {
			best = c
		}
	}
	if len(voters) < target {
		return VoterChange{Promote: best}, true
	}
	for _, v := range voters {
		if v != self && down[v] {
			return VoterChange{Promote: best, Demote: v}, true
		}
	}
	if worst != 0 && votes[domain(worst)]-votes[domain(best)] >= 2 {
		return VoterChange{Promote: best, Demote: worst}, true
	}
	return VoterChange{}, false
}

// balanceVoters applies one PlanVoters step to the Raft configuration.
func (n *Node) balanceVoters(r *raft.Raft, down map[uint64]bool) {
	cf := r.GetConfiguration()
	if cf.Error() != nil {
		return
	}
	st := n.State()
	servers := map[uint64]bool{}
	addr := map[uint64]raft.ServerAddress{}
	for _, s := range cf.Configuration().Servers {
		id, err := strconv.ParseUint(string(s.ID), 10, 64)
		if err != nil {
			return
		}
		servers[id] = s.Suffrage == raft.Voter
		addr[id] = s.Address
	}
	domain := func(id uint64) string {
		if p, ok := st.Peers[id]; ok {
			return p.Region + "/" + p.Zone
		}
		return "?"
	}
	ch, ok := PlanVoters(servers, domain, down, n.id)
	if !ok {
		return
	}
	sid := func(id uint64) raft.ServerID { return raft.ServerID(strconv.FormatUint(id, 10)) }
	if ch.Promote != 0 {
		if err := r.AddVoter(sid(ch.Promote), addr[ch.Promote], 0, 10*time.Second).Error(); err != nil {
			n.log.Warn("cannot promote a peer to voter", "peer", ch.Promote, "err", err)
			return
		}
		n.log.Info("peer promoted to voter", "peer", ch.Promote, "domain", domain(ch.Promote))
	}
	if ch.Demote != 0 {
		if err := r.DemoteVoter(sid(ch.Demote), 0, 10*time.Second).Error(); err != nil {
			n.log.Warn("cannot demote a voter", "peer", ch.Demote, "err", err)
			return
		}
		n.log.Info("voter demoted", "peer", ch.Demote, "domain", domain(ch.Demote), "down", down[ch.Demote])
	}
}

// Voters returns the ids of the Raft configuration's voters.
func (n *Node) Voters() []uint64 {
	r := n.getRaft()
	if r == nil {
		return nil
	}
	cf := r.GetConfiguration()
	if cf.Error() != nil {
		return nil
	}
	var out []uint64
	for _, s := range cf.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			if id, err := strconv.ParseUint(string(s.ID), 10, 64); err == nil {
				out = append(out, id)
			}
		}
	}
	return out
}
