package shard

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/durable"
)

// CreatePayloadIndex builds (or rebuilds) the payload index for key.
func (s *Shard) CreatePayloadIndex(ctx context.Context, key string, schema api.PayloadFieldSchema) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.closed {
		return ErrClosed
	}
	// The writer lock keeps payloads and live offsets as they are; the new
	// indexes are built under the state lock held shared, so searches go on
	// meanwhile, and only swapping them in takes it exclusively.
	s.mu.RLock()
	n, err := s.pidx.with(key, schema, s.eachLivePayload)
	s.mu.RUnlock()
	if err != nil {
		return err
	}
	if s.opts.afterIndexBuild != nil {
		s.opts.afterIndexBuild()
	}
	s.mu.Lock()
	*s.pidx = *n
	s.mu.Unlock()
	return nil
}

// DropPayloadIndex drops the payload index for key.
func (s *Shard) DropPayloadIndex(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pidx.drop(key)
	return nil
}

// Checkpoint writes a consistent copy of the shard into dir (which must not
// exist) holding exactly the operations up to the returned sequence, while
// writes continue. Open(dir) opens the copy.
func (s *Shard) Checkpoint(ctx context.Context, dir string) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if _, err := os.Stat(dir); err == nil {
		return 0, fmt.Errorf("cannot checkpoint shard into %s: %w", dir, os.ErrExist)
	} else if !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("cannot checkpoint shard into %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, fmt.Errorf("cannot create checkpoint directory: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(dir)
		}
	}()
	seq, err := s.checkpoint(ctx, dir)
	if err != nil {
		return 0, err
	}
	if err := durable.SyncDir(dir); err != nil {
		return 0, err
	}
	if err := durable.SyncDir(filepath.Dir(dir)); err != nil {
		return 0, err
	}
	ok = true
	return seq, nil
}

// checkpoint takes the Pebble checkpoint under the write lock (so it holds
// exactly the operations up to the returned sequence), then writes the
// index files into dir without blocking writers. The index files may
// reflect a slightly newer in-memory state; Open reconciles them with the
// checkpoint's point records like any other index file.
func (s *Shard) checkpoint(ctx context.Context, dir string) (uint64, error) {
	s.writeMu.Lock()
	if s.closed {
		s.writeMu.Unlock()
		return 0, ErrClosed
	}
	if err := s.recoverStore(); err != nil {
		s.writeMu.Unlock()
		return 0, err
	}
	seq := s.lastSeq
	gen := s.compactions.Load()
	err := s.db.Checkpoint(filepath.Join(dir, "store"))
	s.writeMu.Unlock()
	if err != nil {
		return 0, fmt.Errorf("cannot checkpoint shard store: %w", err)
	}
	s.persistMu.Lock()
	defer s.persistMu.Unlock()
	if s.compactions.Load() != gen {
		// The offsets changed since the store was copied: index files
		// of the memory now would not describe it (its Open rebuilds).
		return seq, nil
	}
	if err := s.writeIndexFiles(ctx, dir, seq, true, true); err != nil {
		return 0, err
	}
	return seq, nil
}
