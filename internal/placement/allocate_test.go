package placement

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/meta"
)

// simCluster is a metadata state driven by the allocator the way the
// leader drives it: actions applied as commands, transfers completing.
type simCluster struct {
	t    *testing.T
	st   *meta.State
	live map[uint64]Liveness
	opts AllocOptions
	// removed are the peers the allocator removed.
	removed map[uint64]bool
}

func (c *simCluster) apply(cmd *meta.Command) error {
	next := c.st.Clone()
	if err := next.Apply(cmd); err != nil {
		return err
	}
	c.st = next
	return nil
}

// step runs the allocator once, checks every action against the safety
// rules, applies it, then lets transfers progress: a Partial replica on a
// live peer becomes Active, a Dead replica on an alive peer recovers.
func (c *simCluster) step(rng *rand.Rand) int {
	t := c.t
	acts := Allocate(c.st, c.live, c.opts)
	busy, in, out := c.transfers()
	for _, a := range acts {
		if a.RemovePeer != 0 {
			if c.live[a.RemovePeer] != Dead && !c.st.Draining[a.RemovePeer] {
				t.Fatalf("removing peer %d, which is %v and not draining", a.RemovePeer, c.live[a.RemovePeer])
			}
			if err := c.apply(&meta.Command{V: meta.ClusterCommandVersion, Type: meta.TypeRemovePeer, PeerID: a.RemovePeer}); err != nil {
				t.Fatalf("remove peer %d: %v", a.RemovePeer, err)
			}
			c.removed[a.RemovePeer] = true
			continue
		}
		cmd := a.Cmd
		col := c.st.Collections[cmd.Collection]
		before := col.Shards[cmd.ShardID]
		rf := col.Config.Params.ReplicationFactor
		switch cmd.Type {
		case meta.TypeAddReplica:
			if c.live[cmd.PeerID] != Alive || c.st.Draining[cmd.PeerID] {
				t.Fatalf("new replica on peer %d (%v, draining %v): %s", cmd.PeerID, c.live[cmd.PeerID], c.st.Draining[cmd.PeerID], a.Why)
			}
			limit := max(c.opts.MaxTransfersPerNode, 1)
			if busy[cmd.PeerID] >= limit || busy[before.Primary()] >= limit {
				t.Fatalf("transfer %d → %d starts while they take part in %d and %d (limit %d): %s",
					before.Primary(), cmd.PeerID, busy[before.Primary()], busy[cmd.PeerID], limit, a.Why)
			}
			if l := c.opts.MaxIncoming; l != nil && in[cmd.PeerID] >= *l {
				t.Fatalf("peer %d receives a transfer while it receives %d (incoming limit %d): %s", cmd.PeerID, in[cmd.PeerID], *l, a.Why)
			}
			if l := c.opts.MaxOutgoing; l != nil && out[before.Primary()] >= *l {
				t.Fatalf("peer %d sends a transfer while it sends %d (outgoing limit %d): %s", before.Primary(), out[before.Primary()], *l, a.Why)
			}
			busy[cmd.PeerID]++
			busy[before.Primary()]++
			in[cmd.PeerID]++
			out[before.Primary()]++
		case meta.TypeDropReplica:
			if cmd.PeerID == before.Primary() {
				t.Fatalf("allocator drops the primary: %s", a.Why)
			}
		}
		if err := c.apply(cmd); err != nil {
			t.Fatalf("action %q (%s) refused: %v", cmd.Type, a.Why, err)
		}
		after := c.st.Collections[cmd.Collection].Shards[cmd.ShardID]
		if b, a2 := c.usable(before), c.usable(after); cmd.Type == meta.TypeDropReplica && a2 < min(rf, b) {
			t.Fatalf("drop left %d usable Active replicas of shard %d (had %d, factor %d): %s", a2, cmd.ShardID, b, rf, a.Why)
		}
	}
	// Transfers progress (some, at random).
	for _, name := range c.st.CollectionNames() {
		col := c.st.Collections[name]
		for i, sp := range col.Shards {
			for _, r := range sp.Replicas {
				if c.live[r.Peer] != Alive || rng.IntN(3) == 0 {
					continue
				}
				var to api.ReplicaState
				switch {
				case inTransfer(r.State) && c.live[sp.Primary()] == Alive:
					to = api.ReplicaActive
				case r.State == api.ReplicaDead && c.live[sp.Primary()] == Alive && sp.Replicas[0].State == api.ReplicaActive:
					to = api.ReplicaRecovery
				default:
					continue
				}
				if err := c.apply(&meta.Command{V: meta.ReplicationCommandVersion, Type: meta.TypeSetReplicaState, Collection: name,
					Generation: col.Generation, ShardID: i, PeerID: r.Peer, FromState: r.State, State: to}); err != nil {
					t.Fatalf("transfer: %v", err)
				}
				col = c.st.Collections[name]
			}
		}
	}
	return len(acts)
}

// usable counts the Active replicas of sp on peers that are not dead.
func (c *simCluster) usable(sp meta.ShardPlacement) int {
	n := 0
	for _, r := range sp.Replicas {
		if r.State == api.ReplicaActive && c.live[r.Peer] != Dead {
			n++
		}
	}
	return n
}

// transfers counts the transfers each peer takes part in.
// transfers counts the transfers in progress per peer: in all, received
// and sent.
func (c *simCluster) transfers() (busy, in, out map[uint64]int) {
	busy, in, out = map[uint64]int{}, map[uint64]int{}, map[uint64]int{}
	for _, col := range c.st.Collections {
		for _, sp := range col.Shards {
			for _, r := range sp.Replicas {
				if inTransfer(r.State) && c.live[r.Peer] != Dead {
					busy[r.Peer]++
					busy[sp.Primary()]++
					in[r.Peer]++
					out[sp.Primary()]++
				}
			}
		}
	}
	return busy, in, out
}

// failover hands shards whose primary is dead to an Active replica, as
// the leader's failover loop does.
func (c *simCluster) failover() {
	for _, name := range c.st.CollectionNames() {
		col := c.st.Collections[name]
		for i, sp := range col.Shards {
			if c.live[sp.Primary()] != Dead {
				continue
			}
			for _, r := range sp.Replicas[1:] {
				if r.State == api.ReplicaActive && c.live[r.Peer] == Alive {
					if err := c.apply(&meta.Command{V: meta.ReplicationCommandVersion, Type: meta.TypeSetPrimary, Collection: name,
						Generation: col.Generation, ShardID: i, PeerID: r.Peer, Epoch: sp.Epoch}); err != nil {
						c.t.Fatal(err)
					}
					break
				}
			}
		}
	}
}

// settle runs rounds until the allocator has nothing left to do.
func (c *simCluster) settle(rng *rand.Rand) {
	idle := 0
	for round := 0; round < 2000; round++ {
		c.failover()
		if c.step(rng) == 0 && c.quiet() {
			idle++
			if idle > 3 {
				return
			}
		} else {
			idle = 0
		}
	}
	c.t.Fatalf("the allocator did not settle:\n%s", c.dump())
}

// quiet reports whether no replica on a live peer is in transfer or Dead.
func (c *simCluster) quiet() bool {
	for _, col := range c.st.Collections {
		for _, sp := range col.Shards {
			for _, r := range sp.Replicas {
				if c.live[r.Peer] == Alive && r.State != api.ReplicaActive {
					return false
				}
			}
		}
	}
	return true
}

func (c *simCluster) dump() string {
	s := ""
	for _, id := range c.st.PeerIDs() {
		p := c.st.Peers[id]
		s += fmt.Sprintf("peer %d %s/%s %v draining=%v replicas=%d\n", id, p.Region, p.Zone, c.live[id], c.st.Draining[id], c.st.ReplicaCount(id))
	}
	for _, name := range c.st.CollectionNames() {
		col := c.st.Collections[name]
		for i, sp := range col.Shards {
			s += fmt.Sprintf("%s/%d rf=%d epoch=%d %v\n", name, i, col.Config.Params.ReplicationFactor, sp.Epoch, sp.Replicas)
		}
	}
	return s
}

// checkSettled checks the end state: every shard that kept an Active copy
// has min(rf, eligible peers) replicas, all Active, on eligible peers,
// spread over as many regions and zones as it can be; no dead or drained
// peer that held nothing remains.
func (c *simCluster) checkSettled(lostData map[string]bool) {
	t := c.t
	var eligible []Peer
	for _, id := range c.st.PeerIDs() {
		if c.live[id] == Alive && !c.st.Draining[id] {
			p := c.st.Peers[id]
			eligible = append(eligible, Peer{ID: id, Zone: p.Zone, Region: p.Region})
		}
	}
	regions, zones := map[string]bool{}, map[[2]string]bool{}
	for _, p := range eligible {
		regions[p.Region] = true
		zones[[2]string{p.Region, p.Zone}] = true
	}
	for _, name := range c.st.CollectionNames() {
		col := c.st.Collections[name]
		rf := col.Config.Params.ReplicationFactor
		for i, sp := range col.Shards {
			key := fmt.Sprintf("%s/%d", name, i)
			if lostData[key] {
				continue
			}
			want := min(rf, len(eligible))
			if len(sp.Replicas) != want {
				t.Fatalf("%s has %d replicas, want %d:\n%s", key, len(sp.Replicas), want, c.dump())
			}
			var ps []Peer
			rs, zs := map[string]bool{}, map[[2]string]bool{}
			for _, r := range sp.Replicas {
				if r.State != api.ReplicaActive || c.live[r.Peer] != Alive || c.st.Draining[r.Peer] {
					t.Fatalf("%s: replica %+v is not Active on an eligible peer:\n%s", key, r, c.dump())
				}
				p := c.st.Peers[r.Peer]
				ps = append(ps, Peer{ID: r.Peer, Zone: p.Zone, Region: p.Region})
				rs[p.Region] = true
				zs[[2]string{p.Region, p.Zone}] = true
			}
			if len(rs) < min(want, len(regions)) {
				t.Fatalf("%s spans %d regions, %d possible:\n%s", key, len(rs), min(want, len(regions)), c.dump())
			}
			if spreadScore(ps) < bestSpread(ps, eligible) {
				t.Fatalf("%s spans %d zones and could span more:\n%s", key, len(zs), c.dump())
			}
		}
	}
	for _, id := range c.st.PeerIDs() {
		if (c.live[id] == Dead || c.st.Draining[id]) && c.st.ReplicaCount(id) == 0 {
			t.Fatalf("peer %d is %v/draining=%v, holds nothing and was not removed", id, c.live[id], c.st.Draining[id])
		}
	}
	if c.opts.Rebalance && len(zones) == 1 {
		lo, hi := -1, -1
		for _, p := range eligible {
			n := c.st.ReplicaCount(p.ID)
			if lo < 0 || n < lo {
				lo = n
			}
			hi = max(hi, n)
		}
		if hi-lo > 1 {
			t.Fatalf("rebalanced peers hold %d to %d replicas:\n%s", lo, hi, c.dump())
		}
	}
}

// newSim builds a random cluster: 3 to 7 peers in up to 2 regions and 3
// zones, 1 to 3 collections of 1 to 6 shards with factor 1 to 3, placed
// by Place, all Active.
func newSim(t *testing.T, rng *rand.Rand) *simCluster {
	st := meta.NewState()
	n := 3 + rng.IntN(5)
	nRegions, nZones := 1+rng.IntN(2), 1+rng.IntN(3)
	var peers []Peer
	for i := range n {
		id := uint64(100 + i)
		p := &meta.Peer{ID: id, Addr: fmt.Sprintf("127.0.0.1:%d", 7000+i), Region: fmt.Sprintf("r%d", rng.IntN(nRegions)), Zone: fmt.Sprintf("z%d", rng.IntN(nZones))}
		if err := st.Apply(&meta.Command{V: meta.ClusterCommandVersion, Type: meta.TypeAddPeer, Peer: p}); err != nil {
			t.Fatal(err)
		}
		peers = append(peers, Peer{ID: id, Zone: p.Zone, Region: p.Region})
	}
	for ci := range 1 + rng.IntN(3) {
		shards, rf := 1+rng.IntN(6), 1+rng.IntN(3)
		pl, err := Place(peers, shards, rf)
		if err != nil {
			t.Fatal(err)
		}
		cfg := &api.CollectionConfig{}
		cfg.Params.ReplicationFactor = rf
		cfg.Params.ShardNumber = shards
		if err := st.Apply(&meta.Command{V: meta.ReplicationCommandVersion, Type: meta.TypeCreateCollection, Collection: fmt.Sprintf("c%d", ci),
			Config: cfg, Generation: uint64(ci + 1), Placement: pl, CreatedAt: time.Unix(0, 0)}); err != nil {
			t.Fatal(err)
		}
	}
	return &simCluster{t: t, st: st, live: map[uint64]Liveness{}, opts: AllocOptions{MaxTransfersPerNode: 1 + rng.IntN(3), Rebalance: rng.IntN(2) == 0,
		MaxIncoming: randomLimit(rng), MaxOutgoing: randomLimit(rng)}, removed: map[uint64]bool{}}
}

// TestAllocateProperties drives random topologies through random failure
// sequences (peers dead for good, down and back, drained, new empty peers
// joining) and checks the allocator's safety at every step and its end
// state after each event. SHOAL_ALLOC_SEED replays one seed;
// SHOAL_ALLOC_RUNS sets how many run.
func TestAllocateProperties(t *testing.T) {
	runs := 300
	if n, err := strconv.Atoi(os.Getenv("SHOAL_ALLOC_RUNS")); err == nil {
		runs = n
	}
	seeds := make([]uint64, runs)
	for i := range seeds {
		seeds[i] = uint64(i) + 1
	}
	if s, err := strconv.ParseUint(os.Getenv("SHOAL_ALLOC_SEED"), 10, 64); err == nil {
		seeds = []uint64{s}
	}
	for _, seed := range seeds {
		t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			c := newSim(t, rng)
			next := uint64(200)
			for ev := range 6 {
				// Shards whose every replica is on dead peers lost their
				// data: nothing can restore their factor.
				lost := map[string]bool{}
				alive := func() []uint64 {
					var ids []uint64
					for _, id := range c.st.PeerIDs() {
						if c.live[id] == Alive && !c.st.Draining[id] {
							ids = append(ids, id)
						}
					}
					return ids
				}
				switch k := rng.IntN(4); {
				case k == 0 && len(alive()) > 2:
					ids := alive()
					victim := ids[rng.IntN(len(ids))]
					t.Logf("event %d: peer %d dies for good", ev, victim)
					c.live[victim] = Dead
				case k == 1 && len(alive()) > c.maxRF():
					ids := alive()
					victim := ids[rng.IntN(len(ids))]
					t.Logf("event %d: peer %d drains", ev, victim)
					if err := c.apply(&meta.Command{V: meta.HealCommandVersion, Type: meta.TypeDrainPeer, PeerID: victim, Drain: true}); err != nil {
						t.Fatal(err)
					}
				case k == 2:
					ids := alive()
					victim := ids[rng.IntN(len(ids))]
					t.Logf("event %d: peer %d is down for a while", ev, victim)
					c.live[victim] = Down
					for range 3 {
						c.step(rng)
					}
					c.live[victim] = Alive
					// Its replicas missed writes: their primaries marked them Dead.
					for _, name := range c.st.CollectionNames() {
						col := c.st.Collections[name]
						for i, sp := range col.Shards {
							if r, ok := sp.Replica(victim); ok && r.State == api.ReplicaActive && sp.Primary() != victim {
								_ = c.apply(&meta.Command{V: meta.ReplicationCommandVersion, Type: meta.TypeSetReplicaState, Collection: name,
									Generation: col.Generation, ShardID: i, PeerID: victim, FromState: r.State, State: api.ReplicaDead})
							}
						}
					}
					// While those catch up, another peer may start draining.
					if ids := alive(); rng.IntN(2) == 0 && len(ids) > c.maxRF() {
						other := ids[rng.IntN(len(ids))]
						if other != victim {
							t.Logf("event %d: peer %d drains meanwhile", ev, other)
							if err := c.apply(&meta.Command{V: meta.HealCommandVersion, Type: meta.TypeDrainPeer, PeerID: other, Drain: true}); err != nil {
								t.Fatal(err)
							}
						}
					}
				default:
					id := next
					next++
					z := fmt.Sprintf("z%d", rng.IntN(3))
					t.Logf("event %d: new empty peer %d in zone %s", ev, id, z)
					if err := c.apply(&meta.Command{V: meta.ClusterCommandVersion, Type: meta.TypeAddPeer,
						Peer: &meta.Peer{ID: id, Addr: fmt.Sprintf("127.0.0.1:%d", 8000+id), Region: "r0", Zone: z}}); err != nil {
						t.Fatal(err)
					}
				}
				for _, name := range c.st.CollectionNames() {
					for i, sp := range c.st.Collections[name].Shards {
						if !hasActiveOnLive(sp, c.live) {
							lost[fmt.Sprintf("%s/%d", name, i)] = true
						}
					}
				}
				c.settle(rng)
				c.checkSettled(lost)
			}
		})
	}
}

// maxRF is the largest replication factor of the collections (a drain
// that would leave fewer eligible peers is refused by the service).
func (c *simCluster) maxRF() int {
	n := 1
	for _, col := range c.st.Collections {
		n = max(n, col.Config.Params.ReplicationFactor)
	}
	return n
}

func hasActiveOnLive(sp meta.ShardPlacement, live map[uint64]Liveness) bool {
	for _, r := range sp.Replicas {
		if r.State == api.ReplicaActive && live[r.Peer] != Dead {
			return true
		}
	}
	return false
}

// bestSpread is the best spreadScore of chosen with one replica replaced
// by a candidate.
func bestSpread(chosen, candidates []Peer) int {
	best := spreadScore(chosen)
	for i := range chosen {
		for _, c := range candidates {
			alt := slices.Clone(chosen)
			alt[i] = c
			best = max(best, spreadScore(alt))
		}
	}
	return best
}

// randomLimit returns no limit or a limit of 1 or 2 transfers.
func randomLimit(rng *rand.Rand) *int {
	if rng.IntN(3) == 0 {
		return nil
	}
	n := 1 + rng.IntN(2)
	return &n
}

// TestAllocateNoIncomingTransfers checks Qdrant's limit of zero: a peer
// allowed no incoming transfers gets no new replica, while another peer
// that may receive one does.
func TestAllocateNoIncomingTransfers(t *testing.T) {
	st := meta.NewState()
	for id := uint64(1); id <= 3; id++ {
		if err := st.Apply(&meta.Command{V: meta.ClusterCommandVersion, Type: meta.TypeAddPeer, Peer: &meta.Peer{ID: id, Addr: fmt.Sprintf("10.0.0.%d:6335", id)}}); err != nil {
			t.Fatal(err)
		}
	}
	cfg := api.CollectionConfig{Params: api.CollectionParams{Vectors: api.VectorsConfig{"": {Size: 2, Distance: api.DistanceDot}}, ShardNumber: 1, ReplicationFactor: 2}}
	if err := st.Apply(&meta.Command{V: meta.ClusterCommandVersion, Type: meta.TypeCreateCollection, Collection: "c", Config: &cfg,
		Placement: [][]uint64{{1}}, Generation: 1}); err != nil {
		t.Fatal(err)
	}
	zero := 0
	if acts := Allocate(st, nil, AllocOptions{MaxTransfersPerNode: 4, MaxIncoming: &zero}); len(acts) != 0 {
		t.Fatalf("incoming limit 0: %d actions, want none: %+v", len(acts), acts[0])
	}
	if acts := Allocate(st, nil, AllocOptions{MaxTransfersPerNode: 4, MaxOutgoing: &zero}); len(acts) != 0 {
		t.Fatalf("outgoing limit 0: %d actions, want none: %+v", len(acts), acts[0])
	}
	one := 1
	acts := Allocate(st, nil, AllocOptions{MaxTransfersPerNode: 4, MaxIncoming: &one, MaxOutgoing: &one})
	if len(acts) != 1 || acts[0].Cmd == nil || acts[0].Cmd.Type != meta.TypeAddReplica {
		t.Fatalf("limits of 1: %+v, want one replica added", acts)
	}
}
