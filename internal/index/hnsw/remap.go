package hnsw

import "github.com/shoal-db/shoal/internal/index"

// Remap returns a copy of g over store in which the node of offset off sits
// at offset to(off), for a caller that renumbers its vectors (the shard's
// compaction): the nodes whose Insert has finished, that are not deleted
// and that to maps (ok true) keep their levels and neighbour lists, the
// latter without links to nodes left out. The entry point stays the same
// node when it is kept, else it is a kept node of the highest level. store
// must hold, at every new offset, the vector g's store holds at the old
// one. g is held still meanwhile (as by WriteTo); it is not changed.
//
// Leaving nodes out removes links, so some kept nodes may become
// unreachable from the entry point: Reconnect links them again.
func (g *Graph) Remap(store *index.Store, to func(off uint32) (uint32, bool)) *Graph {
	g.persistMu.Lock()
	defer g.persistMu.Unlock()
	ng := New(g.opts, store)
	keep := func(off uint32) (uint32, bool) {
		n := g.nodeOrNil(off)
		if n == nil || n.state.Load()&(stInserted|stLinked|stDeleted|stRemoved) != stInserted|stLinked {
			return 0, false
		}
		return to(off)
	}
	top, topOff := -1, uint32(0)
	var src []uint32
	for ci, c := range *g.chunks.Load() {
		for i := range c.nodes {
			off := uint32(ci<<chunkShift | i)
			no, ok := keep(off)
			if !ok {
				continue
			}
			level := int(c.nodes[i].level)
			ng.grow(no)
			nn := ng.node(no)
			nn.level = int32(level)
			nn.allocUpper(ng.m)
			for l := 0; l <= level; l++ {
				src, dst := g.neighbours(off, l, src), ng.list(no, l)
				k := 0
				for _, x := range src {
					if nx, ok := keep(x); ok {
						k++
						dst[k] = nx
					}
				}
				dst[0] = uint32(k)
			}
			nn.state.Store(stInserted | stLinked)
			ng.live.Add(1)
			if level > top {
				top, topOff = level, no
			}
		}
	}
	if e := g.entry.Load(); e != noEntry {
		if l, off := unpackEntry(e); l >= 0 {
			if no, ok := keep(off); ok {
				top, topOff = l, no
			}
		}
	}
	if top >= 0 {
		ng.entry.Store(packEntry(top, topOff))
	}
	ng.DropResident() // the copy faulted in every list of a mapped graph
	return ng
}
