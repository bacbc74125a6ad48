package placement

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/meta"
)

// Liveness is what the Raft leader knows of a peer's reachability.
type Liveness int

// Liveness values. A Down peer's replicas are kept (it may come back and
// catch up); a Dead one's are re-created elsewhere and then dropped.
const (
	Alive Liveness = iota
	Down
	Dead
)

// String returns the liveness as GET /cluster shows it.
func (l Liveness) String() string {
	switch l {
	case Alive:
		return "alive"
	case Down:
		return "down"
	case Dead:
		return "dead"
	}
	return fmt.Sprintf("Liveness(%d)", int(l))
}

// AllocOptions tune Allocate.
type AllocOptions struct {
	// MaxTransfersPerNode bounds the transfers a peer takes part in at
	// once, as the source (the shard's primary) or the target (minimum 1).
	MaxTransfersPerNode int
	// MaxIncoming and MaxOutgoing, when set, also bound the transfers a
	// peer receives (as the target) and sends (as the source) at once:
	// Qdrant's storage.performance.incoming_shard_transfers_limit and
	// outgoing_shard_transfers_limit. Zero allows none (no automatic
	// transfers in that direction); nil leaves only MaxTransfersPerNode.
	MaxIncoming, MaxOutgoing *int
	// Rebalance moves replicas to even out the peers (mean ± 1) when
	// nothing needs healing.
	Rebalance bool
}

// Action is one step the allocator asks for: a metadata command with
// preconditions (so that a stale plan fails when applied), or the removal
// of a peer that holds no replica any more (RemovePeer, through Raft's
// configuration as well as the metadata).
type Action struct {
	Cmd        *meta.Command
	RemovePeer uint64
	// Why says in words what the action is for (logs).
	Why string
}

// inTransfer reports whether a replica is being filled (a transfer).
func inTransfer(st api.ReplicaState) bool {
	return st == api.ReplicaPartial || st == api.ReplicaRecovery || st == api.ReplicaInitializing
}

// Allocate returns the next actions that bring every shard back to its
// replication factor on peers that are alive and not draining, drop the
// replicas of dead and draining peers once enough others are Active,
// spread each shard's replicas over regions and zones (moving a redundant
// one; replicas beyond the factor, from replicate_shard, stay), remove peers that are dead or drained and hold nothing, and,
// with opts.Rebalance and nothing else to do, even out the replica counts.
// It is a pure function of the metadata, the peers' liveness (a peer
// missing from live is Alive) and the options, so that it can be
// property-tested; the leader runs it on a timer and proposes what it
// returns.
//
// Safety, whatever the input: a drop never leaves a shard with fewer
// Active replicas than min(replication_factor, its Active replicas on
// kept peers) and never drops the primary (drop commands carry MinActive,
// so a stale plan fails in Apply); a shard has at most one transfer at a
// time; a peer takes part in at most MaxTransfersPerNode transfers; new
// replicas go only to Alive peers that are not draining.
func Allocate(st *meta.State, live map[uint64]Liveness, opts AllocOptions) []Action {
	maxT := max(opts.MaxTransfersPerNode, 1)
	isLeaving := func(p uint64) bool { return live[p] == Dead || st.Draining[p] }
	var eligible []Peer
	for _, id := range st.PeerIDs() {
		if live[id] == Alive && !st.Draining[id] {
			p := st.Peers[id]
			eligible = append(eligible, Peer{ID: id, Zone: p.Zone, Region: p.Region, Replicas: st.ReplicaCount(id)})
		}
	}
	peerOf := func(id uint64) (Peer, bool) {
		p, ok := st.Peers[id]
		if !ok {
			return Peer{}, false
		}
		return Peer{ID: id, Zone: p.Zone, Region: p.Region, Replicas: st.ReplicaCount(id)}, true
	}
	// Transfers in progress, per peer (source: the primary; target).
	busy := &transferLoad{all: map[uint64]int{}, in: map[uint64]int{}, out: map[uint64]int{},
		max: maxT, maxIn: opts.MaxIncoming, maxOut: opts.MaxOutgoing}
	for _, c := range st.Collections {
		for _, sp := range c.Shards {
			for _, r := range sp.Replicas {
				if inTransfer(r.State) && live[r.Peer] != Dead {
					busy.add(sp.Primary(), r.Peer)
				}
			}
		}
	}
	canTransfer := busy.can

	var out []Action
	names := st.CollectionNames()
	for _, name := range names {
		c := st.Collections[name]
		rf := max(c.Config.Params.ReplicationFactor, 1)
		for i, sp := range c.Shards {
			base := meta.Command{V: meta.HealCommandVersion, Collection: name, Generation: c.Generation, ShardID: i}
			var kept, leaving []meta.Replica
			keptActive, transfers := 0, 0
			for _, r := range sp.Replicas {
				if isLeaving(r.Peer) {
					leaving = append(leaving, r)
					continue
				}
				kept = append(kept, r)
				if r.State == api.ReplicaActive {
					keptActive++
				}
				if inTransfer(r.State) {
					transfers++
				}
			}
			primary := sp.Primary()
			primaryUp := primary != 0 && live[primary] == Alive && len(sp.Replicas) > 0 && sp.Replicas[0].State == api.ReplicaActive
			var candidates []Peer
			for _, p := range eligible {
				if _, ok := sp.Replica(p.ID); !ok {
					candidates = append(candidates, p)
				}
			}
			// 1. Below the replication factor on kept peers: add one.
			if len(kept) < rf && len(candidates) > 0 {
				if transfers > 0 || !primaryUp {
					continue // one transfer at a time; a source first
				}
				to := Extend(eligibleFor(candidates, kept, peerOf), peersOf(kept), 1)
				if len(to) == 0 || !canTransfer(primary, to[0]) {
					continue
				}
				cmd := base
				cmd.Type, cmd.PeerID, cmd.State, cmd.Epoch = meta.TypeAddReplica, to[0], api.ReplicaPartial, sp.Epoch
				busy.add(primary, to[0])
				out = append(out, Action{Cmd: &cmd, Why: fmt.Sprintf("shard %d of %s has %d of %d replicas on live peers", i, name, len(kept), rf)})
				continue
			}
			// 2. Replicas of dead or draining peers go once enough kept
			// ones are Active (the primary is handed over first).
			need := min(rf, len(kept))
			if len(leaving) > 0 && transfers == 0 {
				r := leaving[0]
				if r.Peer == primary {
					if live[primary] == Dead {
						continue // the failover hands it over
					}
					to := slices.IndexFunc(kept, func(k meta.Replica) bool { return k.State == api.ReplicaActive && live[k.Peer] == Alive })
					if to < 0 || keptActive < need {
						continue
					}
					cmd := base
					cmd.Type, cmd.PeerID, cmd.Epoch = meta.TypeSetPrimary, kept[to].Peer, sp.Epoch
					out = append(out, Action{Cmd: &cmd, Why: fmt.Sprintf("shard %d of %s: the primary's peer %d is draining", i, name, primary)})
					continue
				}
				if keptActive < need || keptActive == 0 || (live[r.Peer] != Dead && r.State == api.ReplicaActive && keptActive < rf) {
					// A draining peer's Active replica goes only once the
					// factor is held without it.
					continue
				}
				cmd := base
				cmd.Type, cmd.PeerID, cmd.FromState, cmd.Epoch, cmd.MinActive = meta.TypeDropReplica, r.Peer, r.State, sp.Epoch, need
				out = append(out, Action{Cmd: &cmd, Why: fmt.Sprintf("shard %d of %s: peer %d is %s", i, name, r.Peer, leavingWhy(st, live, r.Peer))})
				continue
			}
			if transfers > 0 || len(leaving) > 0 {
				continue
			}
			// 3. Zone repair: a shard whose replicas share a failure domain
			// while a live peer would add a new one moves the redundant
			// replica there (the move drops it once the new one is
			// Active). Replicas beyond the factor (a replicate_shard) are
			// the operator's and stay.
			if len(kept) >= rf && keptActive == len(kept) && primaryUp && len(candidates) > 0 {
				from, to, ok := zoneRepair(kept, candidates, primary, peerOf)
				if ok && canTransfer(primary, to) {
					cmd := base
					cmd.Type, cmd.PeerID, cmd.State, cmd.MoveFrom, cmd.Epoch = meta.TypeAddReplica, to, api.ReplicaPartial, from, sp.Epoch
					busy.add(primary, to)
					out = append(out, Action{Cmd: &cmd, Why: fmt.Sprintf("shard %d of %s: its replicas share a zone; moving the one on peer %d to peer %d", i, name, from, to)})
				}
			}
		}
	}
	// Dead or drained peers that hold nothing leave the cluster.
	for _, id := range st.PeerIDs() {
		if isLeaving(id) && st.ReplicaCount(id) == 0 {
			out = append(out, Action{RemovePeer: id, Why: fmt.Sprintf("peer %d is %s and holds no replica", id, leavingWhy(st, live, id))})
		}
	}
	if len(out) > 0 || !opts.Rebalance {
		return out
	}
	if a, ok := rebalance(st, live, eligible, busy); ok {
		out = append(out, a)
	}
	return out
}

func leavingWhy(st *meta.State, live map[uint64]Liveness, id uint64) string {
	if live[id] == Dead {
		return "dead"
	}
	if st.Draining[id] {
		return "draining"
	}
	return live[id].String()
}

// eligibleFor returns the candidates as Extend wants them (all peers it
// may choose, plus the kept ones it scores diversity against).
func eligibleFor(candidates []Peer, kept []meta.Replica, peerOf func(uint64) (Peer, bool)) []Peer {
	ps := slices.Clone(candidates)
	for _, r := range kept {
		if p, ok := peerOf(r.Peer); ok {
			ps = append(ps, p)
		}
	}
	return ps
}

func peersOf(rs []meta.Replica) []uint64 {
	out := make([]uint64, len(rs))
	for i, r := range rs {
		out[i] = r.Peer
	}
	return out
}

// spreadScore counts the distinct regions and zones of ps (regions weigh
// more): higher is more diverse.
func spreadScore(ps []Peer) int {
	regions, zones := map[string]bool{}, map[[2]string]bool{}
	for _, p := range ps {
		regions[p.Region] = true
		zones[[2]string{p.Region, p.Zone}] = true
	}
	return len(regions)*1000 + len(zones)
}

// zoneRepair finds a move that widens a shard's spread over regions and
// zones: from a kept replica (a backup before the primary, then the one on
// the fullest peer) to the candidate Extend would choose without it. ok is
// false when no move widens the spread.
func zoneRepair(kept []meta.Replica, candidates []Peer, primary uint64, peerOf func(uint64) (Peer, bool)) (from, to uint64, ok bool) {
	var chosen []Peer
	for _, r := range kept {
		if p, ok := peerOf(r.Peer); ok {
			chosen = append(chosen, p)
		}
	}
	now := spreadScore(chosen)
	type option struct {
		from, to uint64
		spread   int
		primary  bool
		load     int
	}
	var best *option
	for i, r := range kept {
		rest := slices.Delete(slices.Clone(chosen), i, i+1)
		restIDs := make([]uint64, len(rest))
		for j, p := range rest {
			restIDs[j] = p.ID
		}
		t := Extend(append(slices.Clone(candidates), rest...), restIDs, 1)
		if len(t) == 0 {
			continue
		}
		tp, _ := peerOf(t[0])
		spread := spreadScore(append(rest, tp))
		if spread <= now {
			continue
		}
		o := option{from: r.Peer, to: t[0], spread: spread, primary: r.Peer == primary, load: chosen[i].Replicas}
		if best == nil || o.spread > best.spread || (o.spread == best.spread && (cmpBool(o.primary, best.primary) < 0 ||
			(o.primary == best.primary && (o.load > best.load || (o.load == best.load && o.from > best.from))))) {
			best = &o
		}
	}
	if best == nil {
		return 0, 0, false
	}
	return best.from, best.to, true
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// rebalance moves one replica from the eligible peer holding the most to
// the one holding the fewest when they differ by more than one, choosing
// a shard the target does not hold whose spread over failure domains does
// not shrink, a backup before a primary.
func rebalance(st *meta.State, live map[uint64]Liveness, eligible []Peer, busy *transferLoad) (Action, bool) {
	if len(eligible) < 2 {
		return Action{}, false
	}
	for _, n := range busy.all {
		if n > 0 {
			return Action{}, false // one rebalancing move at a time
		}
	}
	ps := slices.Clone(eligible)
	slices.SortFunc(ps, func(a, b Peer) int {
		if a.Replicas != b.Replicas {
			return cmp.Compare(b.Replicas, a.Replicas)
		}
		return cmp.Compare(a.ID, b.ID)
	})
	hi, lo := ps[0], ps[len(ps)-1]
	if hi.Replicas-lo.Replicas <= 1 {
		return Action{}, false
	}
	peerOf := func(id uint64) Peer {
		p := st.Peers[id]
		if p == nil {
			return Peer{ID: id}
		}
		return Peer{ID: id, Zone: p.Zone, Region: p.Region}
	}
	type option struct {
		name    string
		shard   int
		primary bool
		epoch   uint64
		gen     uint64
	}
	var best *option
	for _, name := range st.CollectionNames() {
		c := st.Collections[name]
		for i, sp := range c.Shards {
			if _, ok := sp.Replica(lo.ID); ok {
				continue
			}
			r, ok := sp.Replica(hi.ID)
			if !ok || r.State != api.ReplicaActive {
				continue
			}
			if slices.ContainsFunc(sp.Replicas, func(r meta.Replica) bool { return r.State != api.ReplicaActive }) {
				continue
			}
			src := sp.Primary()
			if live[src] != Alive || !busy.can(src, lo.ID) {
				continue
			}
			var before, after []Peer
			for _, o := range sp.Replicas {
				before = append(before, peerOf(o.Peer))
				if o.Peer != hi.ID {
					after = append(after, peerOf(o.Peer))
				}
			}
			after = append(after, peerOf(lo.ID))
			if spreadScore(after) < spreadScore(before) {
				continue
			}
			o := option{name: name, shard: i, primary: src == hi.ID, epoch: sp.Epoch, gen: c.Generation}
			if best == nil || (best.primary && !o.primary) {
				best = &o
			}
		}
	}
	if best == nil {
		return Action{}, false
	}
	cmd := &meta.Command{V: meta.HealCommandVersion, Type: meta.TypeAddReplica, Collection: best.name, Generation: best.gen,
		ShardID: best.shard, PeerID: lo.ID, State: api.ReplicaPartial, MoveFrom: hi.ID, Epoch: best.epoch}
	return Action{Cmd: cmd, Why: fmt.Sprintf("rebalance: peer %d holds %d replicas, peer %d holds %d", hi.ID, hi.Replicas, lo.ID, lo.Replicas)}, true
}

// transferLoad counts the transfers each peer takes part in, in all and
// per direction, against the allocator's bounds.
type transferLoad struct {
	all, in, out  map[uint64]int
	max           int
	maxIn, maxOut *int
}

// can reports whether one more transfer from from to to stays within the
// bounds.
func (l *transferLoad) can(from, to uint64) bool {
	return l.all[from] < l.max && l.all[to] < l.max &&
		(l.maxOut == nil || l.out[from] < *l.maxOut) && (l.maxIn == nil || l.in[to] < *l.maxIn)
}

// add counts a transfer from from to to.
func (l *transferLoad) add(from, to uint64) {
	l.all[from]++
	l.all[to]++
	l.out[from]++
	l.in[to]++
}
