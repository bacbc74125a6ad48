package snapshot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/shoal-db/shoal/internal/durable"
)

// Suffixes of the directories a restore leaves beside its target while it
// runs; CleanStaleRestores removes or rolls them back after a crash.
const (
	restoreTmpInfix = ".restore-tmp-"
	restoreOldInfix = ".restore-old-"
)

func randSuffix() string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error()) // invariant: the OS RNG does not fail
	}
	return hex.EncodeToString(b[:])
}

// StagingDir returns a fresh, not yet existing directory name beside target
// for a restore to extract into.
func StagingDir(target string) string {
	return target + restoreTmpInfix + randSuffix()
}

// Restore extracts the archive read from r into a staging directory beside
// target, verifies it completely (see Extract), and only then swaps it into
// place atomically. If anything fails, target is left exactly as it was.
func Restore(ctx context.Context, r io.Reader, target string, opts ReadOptions) (*Manifest, error) {
	tmp := StagingDir(target)
	m, err := Extract(ctx, r, tmp, opts)
	if err != nil {
		return nil, err
	}
	if err := SwapDir(tmp, target); err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	return m, nil
}

// SwapDir atomically replaces the directory target (which may be missing)
// with src, which must be on the same file system, and removes the old
// contents. A crash leaves either the old or the new target in place (plus
// leftovers CleanStaleRestores handles).
func SwapDir(src, target string) error {
	parent := filepath.Dir(target)
	if _, err := os.Lstat(target); os.IsNotExist(err) {
		if err := os.Rename(src, target); err != nil {
			return fmt.Errorf("cannot move restored snapshot into place: %w", err)
		}
		return durable.SyncDir(parent)
	}
	if exchanged, err := exchange(src, target); err != nil {
		return fmt.Errorf("cannot swap restored snapshot into place: %w", err)
	} else if exchanged {
		// src now holds the old contents.
		if err := durable.SyncDir(parent); err != nil {
			return err
		}
		if err := os.RemoveAll(src); err != nil {
			return fmt.Errorf("cannot remove replaced directory %s: %w", src, err)
		}
		return durable.SyncDir(parent)
	}
	old := target + restoreOldInfix + randSuffix()
	if err := os.Rename(target, old); err != nil {
		return fmt.Errorf("cannot move %s aside: %w", target, err)
	}
	if err := os.Rename(src, target); err != nil {
		os.Rename(old, target)
		return fmt.Errorf("cannot move restored snapshot into place: %w", err)
	}
	if err := durable.SyncDir(parent); err != nil {
		return err
	}
	if err := os.RemoveAll(old); err != nil {
		return fmt.Errorf("cannot remove replaced directory %s: %w", old, err)
	}
	return nil
}

// CleanStaleRestores repairs what an interrupted SwapDir or Restore left in
// parent: staging directories are removed; a target moved aside is put back
// if the new one never arrived, and removed otherwise. It treats every name
// containing the restore infixes as a leftover, so parent must be a
// directory whose entries the caller names (the service runs it on a
// collection generation's directory, whose shards are numbers, at start-up).
func CleanStaleRestores(parent string) error {
	entries, err := os.ReadDir(parent)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot list %s: %w", parent, err)
	}
	changed := false
	for _, e := range entries {
		name := e.Name()
		p := filepath.Join(parent, name)
		if strings.Contains(name, restoreTmpInfix) {
			if err := os.RemoveAll(p); err != nil {
				return fmt.Errorf("cannot remove stale restore %s: %w", p, err)
			}
			changed = true
			continue
		}
		if i := strings.LastIndex(name, restoreOldInfix); i > 0 {
			target := filepath.Join(parent, name[:i])
			if _, err := os.Lstat(target); os.IsNotExist(err) {
				if err := os.Rename(p, target); err != nil {
					return fmt.Errorf("cannot roll back interrupted restore of %s: %w", target, err)
				}
			} else if err := os.RemoveAll(p); err != nil {
				return fmt.Errorf("cannot remove replaced directory %s: %w", p, err)
			}
			changed = true
		}
	}
	if changed {
		return durable.SyncDir(parent)
	}
	return nil
}
