package shard

import (
	"cmp"
	"strings"
	"sync"
	"time"

	"github.com/shoal-db/shoal/internal/index"
)

// maintenanceInterval is how often the maintenance loop checks the op log,
// the graphs' deleted nodes and the persistence schedule.
const maintenanceInterval = time.Second

// startBackground starts the indexer workers and the maintenance loop.
func (s *Shard) startBackground() {
	if !s.opts.noIndexer {
		s.startWorkers()
	}
	s.bgWG.Add(1)
	go func() {
		defer s.bgWG.Done()
		s.maintain()
	}()
}

// startWorkers starts each space's indexer workers.
func (s *Shard) startWorkers() {
	for _, sp := range s.spaces {
		sp.degraded = func() { s.rebuildGraph(sp) }
		sp.writes = s.writes
		sp.yieldAge = cmp.Or(s.opts.yieldAge, sp.yieldAge)
		sp.gate = s.opts.BeforeIndexBatch
		for range sp.threads {
			s.bgWG.Add(1)
			go func() {
				defer s.bgWG.Done()
				sp.worker(s.bgCtx)
			}()
		}
	}
}

// maintain compacts offsets (compact.go), truncates the op log, repairs graphs with many deleted nodes and
// persists index files periodically, until the shard closes.
func (s *Shard) maintain() {
	every := maintenanceInterval
	if p := s.opts.PersistInterval; p > 0 && p < every {
		every = p
	}
	t := time.NewTicker(every)
	defer t.Stop()
	lastPersist := time.Now()
	for {
		select {
		case <-s.bgCtx.Done():
			return
		case <-t.C:
		}
		s.maybeCompact(s.bgCtx)
		if err := s.truncateLog(); err != nil {
			s.log.Error("op log truncation failed", "err", err)
			s.bgErr.Store(&bgError{"op log truncation failed: " + err.Error()})
		} else if e := s.bgErr.Load(); e != nil && strings.HasPrefix(e.msg, "op log") {
			s.bgErr.CompareAndSwap(e, nil)
		}
		s.mu.RLock()
		spaces := s.sortedSpaces()
		s.mu.RUnlock()
		for _, sp := range spaces {
			switch n := sp.maybeRepair(); {
			case n > 0:
				s.log.Debug("graph repaired", "vector", sp.name, "unlinked", n)
			case n < 0:
				s.rebuildGraph(sp)
			}
			if sp.idleNow() && !s.reachStop() {
				start := time.Now()
				if n := sp.checkReach(s.reachStop, false); n > 0 {
					s.log.Info("graph nodes reconnected", "vector", sp.name, "linked", n, "seconds", time.Since(start).Seconds())
				}
				if n := s.releaseDeadChunks(sp, false); n > 0 {
					s.log.Debug("vector memory of dead offsets released", "vector", sp.name, "chunks", n, "bytes", n*index.ChunkLen*sp.dim*4)
				}
			}
		}
		if s.opts.PersistInterval > 0 && time.Since(lastPersist) >= s.opts.PersistInterval {
			lastPersist = time.Now()
			if err := s.persist(s.bgCtx, s.opts.Dir, false); err != nil && s.bgCtx.Err() == nil {
				s.log.Error("index persistence failed", "err", err)
				s.bgErr.Store(&bgError{"index persistence failed: " + err.Error()})
			} else if e := s.bgErr.Load(); err == nil && e != nil && strings.HasPrefix(e.msg, "index persistence") {
				s.bgErr.CompareAndSwap(e, nil)
			}
		}
	}
}

// PauseReachChecks stops the maintenance loop's reachability passes
// (hnsw.Graph.Reconnect: on a large graph with many stranded nodes one
// takes minutes of CPU) until the returned resume is called; a pass
// running gives up at its next node. It also counts as a write on the
// node (Options.Writes) until resumed, so that the indexers and the
// reachability passes of the node's other shards yield too. A shard
// transfer holds it while it checkpoints and streams the shard, so that
// they do not compete with it for the cores. A pass cut short runs again
// later; WaitIndexed still runs its own.
func (s *Shard) PauseReachChecks() (resume func()) {
	s.reachPaused.Add(1)
	s.writes.Begin()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.writes.End()
			s.reachPaused.Add(-1)
		})
	}
}

// reachYieldAge bounds how long background reachability passes yield to
// writes on the node: past it, a pass runs even while writes go on, so
// that a steady stream of writes cannot keep stranded nodes unfindable.
const reachYieldAge = time.Minute

// reachStop tells a background reachability pass to give up, or not to
// start: the shard is closing, a transfer paused the passes, or writes are
// coming in on the node (the passes are maintenance, like indexing, and
// yield to them for up to reachYieldAge).
func (s *Shard) reachStop() bool {
	if s.bgCtx.Err() != nil || s.reachPaused.Load() > 0 {
		return true
	}
	if !s.writes.active() {
		s.reachDeferred.Store(0)
		return false
	}
	now := time.Now().UnixNano()
	if s.reachDeferred.CompareAndSwap(0, now) {
		return true
	}
	return now-s.reachDeferred.Load() < int64(reachYieldAge)
}

// releaseDeadChunks frees the memory of every chunk of sp's vector store
// whose offsets are all dead (their points deleted or given new vectors)
// and unused by the graph (never inserted, or unlinked by Repair), and
// returns how many it freed. Offsets are never reused, so an update-heavy
// workload would otherwise keep every vector it ever stored in memory.
// Only chunks wholly below the offset counter qualify (new offsets are
// never assigned in them), and only while the indexer is idle (no Insert
// of one of their offsets can be in progress); the shard's state lock,
// held shared, keeps writes out meanwhile, and repairMu keeps Repair,
// Reconnect and rebuilds out (without wait, it skips the round when one
// runs). The vectors stay in the store on disk while the op log refers to
// them.
func (s *Shard) releaseDeadChunks(sp *space, wait bool) int {
	if wait {
		sp.repairMu.Lock()
	} else if !sp.repairMu.TryLock() {
		return 0
	}
	defer sp.repairMu.Unlock()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed || !sp.idleNow() {
		return 0
	}
	g := sp.graph.Load()
	freed := 0
	for c := range min(int(s.nextOff)/index.ChunkLen, sp.store.Cap()/index.ChunkLen) {
		lo, hi := uint32(c*index.ChunkLen), uint32((c+1)*index.ChunkLen)
		if sp.store.ChunkReleased(c) || anyBoth(s.live, sp.has, lo, hi) || (g != nil && g.UsesVectors(lo, hi)) {
			continue
		}
		if sp.store.ReleaseChunk(c) {
			if codes := sp.quant.codes; codes != nil {
				codes.ReleaseChunk(c)
			}
			freed++
		}
	}
	return freed
}

// rebuildGraph replaces sp's graph with an empty one and queues every live
// vector for it. Searches stay correct meanwhile: the whole space is in the
// unindexed tail, which they scan exactly.
func (s *Shard) rebuildGraph(sp *space) {
	if !sp.repairMu.TryLock() {
		return
	}
	defer sp.repairMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !sp.indexing || s.closed {
		return
	}
	old := sp.graph.Load()
	if old != nil && sp.graphUsable(old) {
		return // repaired meanwhile
	}
	var offs []uint32
	s.live.each(func(off uint32) bool {
		if sp.has.has(off) {
			offs = append(offs, off)
		}
		return true
	})
	sp.dirty.Store(true)
	sp.qMu.Lock()
	sp.gen++
	sp.graph.Store(sp.newGraph())
	sp.tomb.Store(0)
	sp.unchecked.Store(true)
	sp.retired = nil
	sp.pending = make(map[uint32]bool, len(offs))
	// What the old graph still had to do is dropped: count the run anew.
	sp.run.Total = sp.run.Done
	sp.runAdd(len(offs), true)
	for _, off := range offs {
		sp.pending[off] = false
	}
	sp.queue = offs
	sp.queued = nil
	sp.markQueued(len(offs), time.Now().UnixNano())
	sp.syncIdleLocked()
	sp.qMu.Unlock()
	sp.kick()
	s.log.Info("rebuilding HNSW graph with too many deleted nodes", "vector", sp.name, "vectors", len(offs))
}
