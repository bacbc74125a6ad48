package shard

import (
	"time"
)

// maintenanceInterval is how often the maintenance loop checks the op log,
// the graphs' deleted nodes and the persistence schedule.
const maintenanceInterval = time.Second

// startBackground starts the indexer workers and the maintenance loop.
func (s *Shard) startBackground() {
	for _, sp := range s.spaces {
		for range sp.threads {
			s.bgWG.Add(1)
			go func() {
				defer s.bgWG.Done()
				sp.worker(s.bgCtx)
			}()
		}
	}
	s.bgWG.Add(1)
	go func() {
		defer s.bgWG.Done()
		s.maintain()
	}()
}

// maintain truncates the op log, repairs graphs with many deleted nodes and
// persists index files periodically, until the shard closes.
func (s *Shard) maintain() {
	t := time.NewTicker(maintenanceInterval)
	defer t.Stop()
	lastPersist := time.Now()
	for {
		select {
		case <-s.bgCtx.Done():
			return
		case <-t.C:
		}
		if err := s.truncateLog(); err != nil {
			s.log.Error("op log truncation failed", "err", err)
		}
		s.mu.RLock()
		spaces := s.sortedSpaces()
		s.mu.RUnlock()
		for _, sp := range spaces {
			if n := sp.maybeRepair(s.opts.Optimizers); n > 0 {
				s.log.Debug("graph repaired", "vector", sp.name, "unlinked", n)
			}
		}
		if s.opts.PersistInterval > 0 && time.Since(lastPersist) >= s.opts.PersistInterval {
			lastPersist = time.Now()
			if err := s.persist(s.bgCtx, s.opts.Dir, false); err != nil && s.bgCtx.Err() == nil {
				s.log.Error("index persistence failed", "err", err)
			}
		}
	}
}
