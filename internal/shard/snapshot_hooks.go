package shard

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// CheckpointCounted is Checkpoint that also returns the number of live
// points the checkpoint holds, counted under the same write lock as the
// store checkpoint, so the count matches the returned sequence exactly.
// Snapshot manifests record it (internal/snapshot).
//
// Its checkpoints are read once into an archive or a transfer and then
// removed: the store's hard links cost nothing, and the index files are
// written without fsync, so they usually never reach the disk. (Such a
// checkpoint does not survive a crash of the machine; a crash leaves only
// scratch, removed at start.)
func (s *Shard) CheckpointCounted(ctx context.Context, dir string) (seq, points uint64, err error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	if _, err := os.Stat(dir); err == nil {
		return 0, 0, fmt.Errorf("cannot checkpoint shard into %s: %w", dir, os.ErrExist)
	} else if !errors.Is(err, os.ErrNotExist) {
		return 0, 0, fmt.Errorf("cannot checkpoint shard into %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, 0, fmt.Errorf("cannot create checkpoint directory: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(dir)
		}
	}()
	s.flushStore()
	s.writeMu.Lock()
	if s.closed {
		s.writeMu.Unlock()
		return 0, 0, ErrClosed
	}
	if err := s.recoverStore(); err != nil {
		s.writeMu.Unlock()
		return 0, 0, err
	}
	seq = s.lastSeq
	s.mu.RLock()
	points = uint64(s.nLive)
	s.mu.RUnlock()
	gen := s.compactions.Load()
	err = s.db.Checkpoint(filepath.Join(dir, "store"))
	s.writeMu.Unlock()
	if err != nil {
		return 0, 0, fmt.Errorf("cannot checkpoint shard store: %w", err)
	}
	s.persistMu.Lock()
	if s.compactions.Load() == gen {
		// (After a compaction the memory no longer describes the copy:
		// no index files then; its Open rebuilds them.)
		err = s.writeIndexFiles(ctx, dir, seq, false, false)
	}
	s.persistMu.Unlock()
	if err != nil {
		return 0, 0, err
	}
	ok = true
	return seq, points, nil
}

// flushStore flushes the store's memtable while writes go on, so that a
// checkpoint taken next under the write lock copies and fsyncs a short
// write-ahead log instead of up to a memtable's worth (32 MiB) of it,
// which writers would wait for (BenchmarkCheckpointWriterStall). Best
// effort: a failure only leaves the log long.
func (s *Shard) flushStore() {
	// Holders of closeMu shared keep s.db open and in place.
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	s.mu.RLock()
	closed, db := s.closed, s.db
	s.mu.RUnlock()
	if closed || db == nil {
		return
	}
	if err := db.Flush(); err != nil {
		s.log.Warn("cannot flush the store before a checkpoint", "err", err)
	}
}
