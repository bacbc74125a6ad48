// Package placement decides where shard replicas live. Its functions are
// pure: they read a description of the peers and the current replica
// counts and return a plan, so that the node proposing a metadata change
// computes the placement once and every node applies the same result.
//
// Replicas of one shard go to distinct peers, spread over regions first,
// then zones; among equally diverse candidates the peer holding the fewest
// replicas (of this collection, then overall) wins, then the lowest id, so
// placement is deterministic and shard_number a multiple of the peer count
// gives every peer the same number of replicas.
package placement

import (
	"errors"
	"sort"
)

// Peer is a candidate for replicas.
type Peer struct {
	ID     uint64
	Zone   string
	Region string
	// Replicas is how many replicas the peer already holds (all
	// collections).
	Replicas int
}

// ErrNoPeers is returned when there is no peer to place a shard on.
var ErrNoPeers = errors.New("cannot place shards: the cluster has no peers")

// Place returns, for each of shardNumber shards, the peers of its
// replicas, the primary first. With fewer peers than rf every shard gets
// one replica per peer. Primaries are spread as evenly as the replicas.
func Place(peers []Peer, shardNumber, rf int) ([][]uint64, error) {
	if len(peers) == 0 {
		return nil, ErrNoPeers
	}
	if rf > len(peers) {
		rf = len(peers)
	}
	ps := append([]Peer(nil), peers...)
	sort.Slice(ps, func(i, j int) bool { return ps[i].ID < ps[j].ID })
	local := make(map[uint64]int, len(ps))   // replicas of this collection
	primary := make(map[uint64]int, len(ps)) // primaries of this collection
	out := make([][]uint64, shardNumber)
	for s := range shardNumber {
		var chosen []Peer
		for r := range rf {
			best := -1
			for i, p := range ps {
				if contains(chosen, p.ID) {
					continue
				}
				if best < 0 || better(p, ps[best], chosen, local, primary, r == 0) {
					best = i
				}
			}
			chosen = append(chosen, ps[best])
			local[ps[best].ID]++
			if r == 0 {
				primary[ps[best].ID]++
			}
		}
		ids := make([]uint64, len(chosen))
		for i, p := range chosen {
			ids[i] = p.ID
		}
		out[s] = ids
	}
	return out, nil
}

func contains(ps []Peer, id uint64) bool {
	for _, p := range ps {
		if p.ID == id {
			return true
		}
	}
	return false
}

// better reports whether a is a better next replica than b for a shard
// that already has replicas on chosen.
func better(a, b Peer, chosen []Peer, local, primary map[uint64]int, first bool) bool {
	if da, db := diversity(a, chosen), diversity(b, chosen); da != db {
		return da > db
	}
	if first && primary[a.ID] != primary[b.ID] {
		return primary[a.ID] < primary[b.ID]
	}
	if local[a.ID] != local[b.ID] {
		return local[a.ID] < local[b.ID]
	}
	if a.Replicas+local[a.ID] != b.Replicas+local[b.ID] {
		return a.Replicas+local[a.ID] < b.Replicas+local[b.ID]
	}
	return a.ID < b.ID
}

// diversity scores what p adds to a shard already on chosen: 2 for a new
// region, 1 for a new zone in a known region, 0 otherwise.
func diversity(p Peer, chosen []Peer) int {
	newRegion, newZone := true, true
	for _, c := range chosen {
		if c.Region == p.Region {
			newRegion = false
			if c.Zone == p.Zone {
				newZone = false
			}
		}
	}
	switch {
	case newRegion:
		return 2
	case newZone:
		return 1
	}
	return 0
}

// Extend returns up to n more peers for a shard whose replicas are on
// existing, chosen as Place chooses (diversity first, then the fewest
// replicas, then the lowest id); fewer when the other peers run out.
func Extend(peers []Peer, existing []uint64, n int) []uint64 {
	ps := append([]Peer(nil), peers...)
	sort.Slice(ps, func(i, j int) bool { return ps[i].ID < ps[j].ID })
	var chosen []Peer
	for _, id := range existing {
		for _, p := range ps {
			if p.ID == id {
				chosen = append(chosen, p)
			}
		}
	}
	local := map[uint64]int{}
	var out []uint64
	for range n {
		best := -1
		for i, p := range ps {
			if contains(chosen, p.ID) || containsID(existing, p.ID) {
				continue
			}
			if best < 0 || better(p, ps[best], chosen, local, nil, false) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		chosen = append(chosen, ps[best])
		out = append(out, ps[best].ID)
	}
	return out
}

func containsID(ids []uint64, id uint64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}
