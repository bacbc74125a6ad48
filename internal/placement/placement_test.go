package placement

import (
	"fmt"
	"testing"

	"pgregory.net/rapid"
)

func TestEvenSpread(t *testing.T) {
	peers := []Peer{{ID: 30}, {ID: 10}, {ID: 20}}
	plan, err := Place(peers, 6, 1)
	if err != nil {
		t.Fatal(err)
	}
	count := map[uint64]int{}
	for _, p := range plan {
		count[p[0]]++
	}
	for _, id := range []uint64{10, 20, 30} {
		if count[id] != 2 {
			t.Fatalf("6 shards on 3 peers: %v", count)
		}
	}
	if _, err := Place(nil, 1, 1); err != ErrNoPeers {
		t.Fatalf("no peers: %v", err)
	}
}

func TestZonesFirst(t *testing.T) {
	// Two peers per zone: every shard of RF 3 must span the 3 zones.
	var peers []Peer
	for i := range 6 {
		peers = append(peers, Peer{ID: uint64(i + 1), Zone: fmt.Sprintf("z%d", i/2), Region: "r"})
	}
	plan, _ := Place(peers, 4, 3)
	zone := map[uint64]string{}
	for _, p := range peers {
		zone[p.ID] = p.Zone
	}
	for s, ids := range plan {
		seen := map[string]bool{}
		for _, id := range ids {
			if seen[zone[id]] {
				t.Fatalf("shard %d has two replicas in %s: %v", s, zone[id], ids)
			}
			seen[zone[id]] = true
		}
	}
}

// TestPlaceProperties checks over random topologies: distinct peers per
// shard, min(rf, peers) replicas, as many distinct zones as possible, and
// replica counts within one of each other.
func TestPlaceProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 9).Draw(t, "peers")
		zones := rapid.IntRange(1, 4).Draw(t, "zones")
		var peers []Peer
		for i := range n {
			peers = append(peers, Peer{ID: uint64(rapid.IntRange(1, 1<<20).Draw(t, "id"))*16 + uint64(i), Zone: fmt.Sprint(rapid.IntRange(0, zones-1).Draw(t, "zone"))})
		}
		shards := rapid.IntRange(1, 24).Draw(t, "shards")
		rf := rapid.IntRange(1, 4).Draw(t, "rf")
		plan, err := Place(peers, shards, rf)
		if err != nil {
			t.Fatal(err)
		}
		zoneOf := map[uint64]string{}
		distinctZones := map[string]bool{}
		for _, p := range peers {
			zoneOf[p.ID] = p.Zone
			distinctZones[p.Zone] = true
		}
		want := min(rf, n)
		count := map[uint64]int{}
		for s, ids := range plan {
			if len(ids) != want {
				t.Fatalf("shard %d: %d replicas, want %d", s, len(ids), want)
			}
			seen, zs := map[uint64]bool{}, map[string]bool{}
			for _, id := range ids {
				if seen[id] {
					t.Fatalf("shard %d: peer %d twice", s, id)
				}
				seen[id] = true
				zs[zoneOf[id]] = true
				count[id]++
			}
			if len(zs) < min(want, len(distinctZones)) {
				t.Fatalf("shard %d spans %d zones, %d possible: %v", s, len(zs), min(want, len(distinctZones)), ids)
			}
		}
		if len(distinctZones) == 1 {
			lo, hi := shards*want, 0
			for _, p := range peers {
				lo, hi = min(lo, count[p.ID]), max(hi, count[p.ID])
			}
			if hi-lo > 1 {
				t.Fatalf("unbalanced: %v", count)
			}
		}
	})
}

// TestExtend checks that an extra replica goes to a new zone first, then
// to the peer with the fewest replicas, and never to a peer that already
// holds the shard.
func TestExtend(t *testing.T) {
	peers := []Peer{{ID: 1, Zone: "a"}, {ID: 2, Zone: "a", Replicas: 1}, {ID: 3, Zone: "b", Replicas: 5}, {ID: 4, Zone: "b", Replicas: 2}}
	if got := Extend(peers, []uint64{1}, 1); len(got) != 1 || got[0] != 4 {
		t.Fatalf("Extend one from zone a: %v, want [4] (zone b, fewer replicas)", got)
	}
	if got := Extend(peers, []uint64{1, 4}, 2); len(got) != 2 || got[0] != 2 || got[1] != 3 {
		t.Fatalf("Extend two: %v, want [2 3]", got)
	}
	if got := Extend(peers, []uint64{1, 2, 3, 4}, 1); len(got) != 0 {
		t.Fatalf("Extend with no peer left: %v", got)
	}
}
