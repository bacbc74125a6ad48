package cluster

import (
	"testing"
)

// TestPlanVoters drives PlanVoters step by step to its fixed point over
// several layouts and checks the result: min(5, members) voters, no
// down member promoted, and no failure domain holding two more votes than
// another domain that still has a non-voter.
func TestPlanVoters(t *testing.T) {
	for _, tc := range []struct {
		name    string
		domains map[uint64]string // member → domain
		voters  []uint64
		down    map[uint64]bool
		want    map[string]int // votes per domain at the end (nil: not checked)
	}{
		{"first three in one zone", map[uint64]string{1: "a", 2: "a", 3: "a", 4: "b", 5: "b", 6: "c", 7: "c"},
			[]uint64{1, 2, 3, 4, 5}, nil, map[string]int{"a": 2, "b": 2, "c": 1}},
		{"six bootstrapped voters", map[uint64]string{1: "a", 2: "a", 3: "b", 4: "b", 5: "c", 6: "c"},
			[]uint64{1, 2, 3, 4, 5, 6}, nil, nil},
		{"a down voter hands its vote over", map[uint64]string{1: "a", 2: "a", 3: "b", 4: "b", 5: "c", 6: "c"},
			[]uint64{1, 2, 3, 4, 5}, map[uint64]bool{3: true}, map[string]int{"a": 2, "b": 1, "c": 2}},
		{"too few voters", map[uint64]string{1: "a", 2: "b", 3: "c", 4: "a"}, []uint64{1}, nil, map[string]int{"a": 2, "b": 1, "c": 1}},
		{"down non-voters stay out", map[uint64]string{1: "a", 2: "b", 3: "c", 4: "a", 5: "b", 6: "c"},
			[]uint64{1, 2, 3}, map[uint64]bool{4: true, 5: true, 6: true}, map[string]int{"a": 1, "b": 1, "c": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			servers := map[uint64]bool{}
			for id := range tc.domains {
				servers[id] = false
			}
			for _, v := range tc.voters {
				servers[v] = true
			}
			domain := func(id uint64) string { return tc.domains[id] }
			for step := 0; ; step++ {
				if step > 20 {
					t.Fatalf("no fixed point: %v", servers)
				}
				ch, ok := PlanVoters(servers, domain, tc.down, 1)
				if !ok {
					break
				}
				if ch.Promote != 0 {
					if tc.down[ch.Promote] || servers[ch.Promote] {
						t.Fatalf("promotes %d (down %v, voter %v)", ch.Promote, tc.down[ch.Promote], servers[ch.Promote])
					}
					servers[ch.Promote] = true
				}
				if ch.Demote != 0 {
					if ch.Demote == 1 || !servers[ch.Demote] {
						t.Fatalf("demotes %d", ch.Demote)
					}
					servers[ch.Demote] = false
				}
			}
			votes := map[string]int{}
			n := 0
			for id, v := range servers {
				if v {
					votes[tc.domains[id]]++
					n++
				}
			}
			up := 0
			for id := range servers {
				if !tc.down[id] || servers[id] {
					up++
				}
			}
			if want := min(maxVoters, up); n != want && tc.down == nil {
				t.Fatalf("%d voters, want %d: %v", n, want, votes)
			}
			if tc.want != nil {
				for d, w := range tc.want {
					if votes[d] != w {
						t.Fatalf("votes per domain %v, want %v", votes, tc.want)
					}
				}
			}
		})
	}
}
