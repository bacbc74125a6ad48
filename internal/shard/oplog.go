package shard

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// truncateLog drops the operations older than the last opts.OpLogRetain.
// The deletion is not synced: after a crash the ops may reappear, which is
// harmless because the log only ever loses a prefix.
func (s *Shard) truncateLog() error {
	s.truncMu.Lock()
	defer s.truncMu.Unlock()
	s.writeMu.Lock()
	last, first := s.lastSeq, s.logFirst
	s.writeMu.Unlock()
	retain := uint64(s.opts.OpLogRetain)
	if first == 0 || last < retain {
		return nil
	}
	cut := last - retain + 1
	if cut <= first {
		return nil
	}
	if err := s.db.DeleteRange(opKey(first), opKey(cut), pebble.NoSync); err != nil {
		return fmt.Errorf("cannot truncate op log: %w", err)
	}
	s.writeMu.Lock()
	s.logFirst = cut
	s.writeMu.Unlock()
	s.log.Debug("op log truncated", "first", cut, "last", last)
	return nil
}
