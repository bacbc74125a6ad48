package faultnet

import (
	"errors"
	"fmt"
	"slices"
)

// Net is a full mesh of proxies between N nodes: Link(i, j) carries every
// connection node i opens to node j, so node i must be configured with
// Addr(i, j) as node j's address. Nodes are numbered from 0.
type Net struct {
	links [][]*Proxy // [from][to]; nil on the diagonal
}

// NewNet starts one proxy per ordered pair of distinct nodes; targets[j] is
// node j's real address. opts.Name is replaced by "i->j" for each link and
// each link's jitter is seeded from opts.Seed and its position.
func NewNet(targets []string, opts Options) (*Net, error) {
	n := &Net{links: make([][]*Proxy, len(targets))}
	for i := range targets {
		n.links[i] = make([]*Proxy, len(targets))
		for j, target := range targets {
			if i == j {
				continue
			}
			o := opts
			o.Name = fmt.Sprintf("%d->%d", i, j)
			o.Seed = opts.Seed + uint64(i*len(targets)+j)
			p, err := NewProxy(target, o)
			if err != nil {
				n.Close()
				return nil, err
			}
			n.links[i][j] = p
		}
	}
	return n, nil
}

// Size returns the number of nodes.
func (n *Net) Size() int { return len(n.links) }

// Link returns the proxy that carries the connections node from opens to
// node to.
func (n *Net) Link(from, to int) *Proxy {
	n.check(from)
	n.check(to)
	if from == to {
		panic(fmt.Sprintf("faultnet: no link from node %d to itself", from))
	}
	return n.links[from][to]
}

// Addr returns the address node from must dial to reach node to.
func (n *Net) Addr(from, to int) string { return n.Link(from, to).Addr() }

// SetTarget points every link into node at addr (the node restarted on
// another port).
func (n *Net) SetTarget(node int, addr string) {
	n.check(node)
	for from := range n.links {
		if from != node {
			n.links[from][node].SetTarget(addr)
		}
	}
}

// Partition splits the nodes into groups that cannot reach each other: every
// link between two groups, in both directions, drops its bytes (see
// Proxy.Drop), and every link inside a group stops dropping. Nodes named in
// no group form one more group together. A later Partition replaces this
// one; Heal ends it. It panics if a node is named twice or does not exist.
func (n *Net) Partition(groups ...[]int) {
	group := make([]int, n.Size())
	for i := range group {
		group[i] = -1
	}
	for g, nodes := range groups {
		for _, i := range nodes {
			n.check(i)
			if group[i] != -1 {
				panic(fmt.Sprintf("faultnet: node %d is in two groups", i))
			}
			group[i] = g
		}
	}
	for i := range group {
		if group[i] == -1 {
			group[i] = len(groups)
		}
	}
	for i := range n.links {
		for j, p := range n.links[i] {
			if p != nil {
				p.Drop(group[i] != group[j])
			}
		}
	}
}

// Isolate cuts node i off from every other node, which stay connected to
// each other.
func (n *Net) Isolate(i int) { n.Partition([]int{i}) }

// Cut drops the bytes of the connections node from opens to node to, while
// the connections node to opens to node from keep working: a one-way
// partition at the level of connections.
func (n *Net) Cut(from, to int) { n.Link(from, to).Drop(true) }

// Heal clears every fault on every link (see Proxy.Heal).
func (n *Net) Heal() {
	for _, row := range n.links {
		for _, p := range row {
			if p != nil {
				p.Heal()
			}
		}
	}
}

// Links calls f for every link.
func (n *Net) Links(f func(from, to int, p *Proxy)) {
	for i, row := range n.links {
		for j, p := range row {
			if p != nil {
				f(i, j, p)
			}
		}
	}
}

// Close closes every proxy and waits for their goroutines.
func (n *Net) Close() error {
	var errs []error
	for _, row := range n.links {
		for _, p := range row {
			if p != nil {
				errs = append(errs, p.Close())
			}
		}
	}
	return errors.Join(errs...)
}

// linksOf returns the links into and out of node i.
func (n *Net) linksOf(i int) []*Proxy {
	var ps []*Proxy
	for j := range n.links {
		if j != i {
			ps = append(ps, n.links[i][j], n.links[j][i])
		}
	}
	return ps
}

func (n *Net) check(i int) {
	if i < 0 || i >= n.Size() {
		panic(fmt.Sprintf("faultnet: no node %d in a net of %d", i, n.Size()))
	}
}

// others returns the nodes of a net of size n that are not in nodes, in
// order.
func others(size int, nodes []int) []int {
	var rest []int
	for i := range size {
		if !slices.Contains(nodes, i) {
			rest = append(rest, i)
		}
	}
	return rest
}
