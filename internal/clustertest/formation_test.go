package clustertest

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// TestFormationOrders starts 3 nodes with the same join list in every
// order, with random gaps, and checks that they form exactly one cluster:
// one leader, every node knows every other, and all name the same
// cluster.
func TestFormationOrders(t *testing.T) {
	orders := [][]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	for _, order := range orders {
		t.Run(fmt.Sprint(order), func(t *testing.T) {
			c := New(t, Options{})
			for _, i := range order {
				c.Start(i)
				time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
			}
			if err := c.WaitFormed(20 * time.Second); err != nil {
				t.Fatal(err)
			}
			ids := map[string]bool{}
			for _, n := range c.Nodes {
				ids[n.Srv.Cluster().State().ClusterID] = true
			}
			if len(ids) != 1 || ids[""] {
				t.Fatalf("cluster ids %v, want one", ids)
			}
			st := c.Nodes[0].Srv.Cluster().Status()
			if len(st.Peers) != 3 {
				t.Fatalf("%d peers: %+v", len(st.Peers), st.Peers)
			}
		})
	}
}

// TestRestartRejoinsAsItself restarts every node in turn; each comes back
// with its peer id, and the cluster keeps one leader.
func TestRestartRejoinsAsItself(t *testing.T) {
	c := New(t, Options{})
	for i := range c.Nodes {
		c.Start(i)
	}
	if err := c.WaitFormed(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	ids := make([]uint64, len(c.Nodes))
	for i, n := range c.Nodes {
		ids[i] = n.Srv.Cluster().ID()
	}
	for i := range c.Nodes {
		c.Stop(i)
		c.Start(i)
		if err := c.WaitFormed(20 * time.Second); err != nil {
			t.Fatalf("after restarting node %d: %v", i, err)
		}
		if got := c.Nodes[i].Srv.Cluster().ID(); got != ids[i] {
			t.Fatalf("node %d came back as %d, was %d", i, got, ids[i])
		}
		if n := len(c.Nodes[0].Srv.Cluster().State().Peers); n != 3 {
			t.Fatalf("%d peers after restarting node %d", n, i)
		}
	}
}
