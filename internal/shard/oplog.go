package shard

import (
	"errors"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"
)

// logFirstOffset is the offset counter before the first operation still in
// the op log: operations in the log refer only to vectors at offsets at or
// above it. With an empty log it is the current counter. Caller holds
// writeMu.
func (s *Shard) logFirstOffset() uint32 {
	if s.logFirst == 0 {
		return s.nextOff
	}
	return s.logFirstOff
}

// truncateLog drops the oldest operations until the log holds at most
// opts.OpLogRetain operations of at most opts.OpLogRetainBytes in all
// (always keeping the last one), and with them the stored vectors of dead offsets that only those
// operations referred to. Both go in one batch, which is not synced: after
// a crash the batch may be lost as a whole, which is harmless because the
// log then still starts at the old first operation and its vectors are
// still there.
func (s *Shard) truncateLog() error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.closed || s.storeErr != nil {
		return nil // a failed store takes no writes until reopened
	}
	if s.compacting {
		return nil // a compaction replays the operations after its snapshot
	}
	last, first := s.lastSeq, s.logFirst
	if first == 0 {
		return nil
	}
	cut := first
	if retain := uint64(s.opts.OpLogRetain); last-first+1 > retain {
		cut = last - retain + 1
	}
	bytes := s.logBytes
	for _, n := range s.logSizes[:cut-first] {
		bytes -= n
	}
	for bytes > uint64(s.opts.OpLogRetainBytes) && cut < last {
		bytes -= s.logSizes[cut-first]
		cut++
	}
	if cut <= first {
		return nil
	}
	v, closer, err := s.db.Get(opKey(cut))
	if err != nil {
		return fmt.Errorf("cannot truncate op log: read operation %d: %w", cut, err)
	}
	cutOff, err := opOffBefore(v)
	closer.Close()
	if err != nil {
		return fmt.Errorf("cannot truncate op log: operation %d: %w", cut, err)
	}
	b := s.db.NewBatch()
	defer b.Close()
	if err := b.DeleteRange(opKey(first), opKey(cut), nil); err != nil {
		return fmt.Errorf("cannot truncate op log: %w", err)
	}
	dead, err := s.deleteDeadVectors(b, s.logFirstOff, cutOff)
	if err != nil {
		return err
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		// The store's state is unknown now (its log may be broken): no
		// more writes until it is reopened.
		s.storeErr = err
		s.storeBroken.Store(true)
		return fmt.Errorf("cannot truncate op log: %w", err)
	}
	s.logFirst, s.logFirstOff = cut, cutOff
	s.logSizes, s.logBytes = s.logSizes[cut-first:], bytes
	if cap(s.logSizes) > 2*len(s.logSizes)+1024 {
		s.logSizes = slices.Clone(s.logSizes)
	}
	s.log.Debug("op log truncated", "first", cut, "last", last, "dead_offsets_freed", dead)
	return nil
}

// deleteDeadVectors adds to b the deletion of the stored vectors of every
// offset in [from, to) that is not live, one range deletion per run of
// dead offsets, and returns how many offsets that covered. Caller holds
// writeMu (which keeps the live set still).
func (s *Shard) deleteDeadVectors(b *pebble.Batch, from, to uint32) (int, error) {
	n := 0
	var errs []error
	flush := func(a, z uint32) {
		if a < z {
			n += int(z - a)
			if err := b.DeleteRange(vectorOffsetKey(uint64(a)), vectorOffsetKey(uint64(z)), nil); err != nil {
				errs = append(errs, err)
			}
		}
	}
	start := from
	for off := from; off < to; off++ {
		if s.live.has(off) {
			flush(start, off)
			start = off + 1
		}
	}
	flush(start, to)
	if err := errors.Join(errs...); err != nil {
		return 0, fmt.Errorf("cannot delete dead vectors: %w", err)
	}
	return n, nil
}
