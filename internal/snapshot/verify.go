package snapshot

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Inspector opens a restored snapshot and checks that the engine can use it:
// point counts per shard, a sample of points readable, a few searches
// answered. The service layer implements it over package shard.
type Inspector interface {
	// InspectSnapshot checks the verified extraction of an archive in dir
	// (described by m) and reports per shard. An error means the snapshot
	// could not be opened at all.
	InspectSnapshot(ctx context.Context, dir string, m *Manifest) ([]ShardCheck, error)
}

// ShardCheck is the engine-level check of one shard of a snapshot.
type ShardCheck struct {
	// ID is the shard number.
	ID int `json:"id"`
	// ExpectedPoints is the point count the manifest records.
	ExpectedPoints uint64 `json:"expected_points"`
	// Points is the count found after opening the shard.
	Points uint64 `json:"points"`
	// LastSeq is the shard's last sequence after opening.
	LastSeq uint64 `json:"last_seq"`
	// SampledPoints is the number of points read back in full.
	SampledPoints int `json:"sampled_points"`
	// Searches is the number of searches that answered.
	Searches int `json:"searches"`
	// Error describes what failed, empty when the shard is fine.
	Error string `json:"error,omitempty"`
}

// VerifyReport is the result of Verify, stored as the <name>.verify.json
// sidecar and reported in metrics.
type VerifyReport struct {
	// Name is the verified archive's name.
	Name string `json:"name"`
	// Checksum is the archive's SHA-256 that was checked.
	Checksum string `json:"checksum,omitempty"`
	// OK is true when every check passed.
	OK bool `json:"ok"`
	// Error is the first failure, empty when OK.
	Error string `json:"error,omitempty"`
	// StartedAt is when verification began.
	StartedAt time.Time `json:"started_at"`
	// DurationSeconds is how long it took.
	DurationSeconds float64 `json:"duration_seconds"`
	// Kind, Collection and Points come from the manifest.
	Kind       Kind   `json:"kind,omitempty"`
	Collection string `json:"collection,omitempty"`
	Points     uint64 `json:"points"`
	// Files and Bytes count the extracted files.
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"`
	// Shards are the engine-level checks (empty without an Inspector).
	Shards []ShardCheck `json:"shards,omitempty"`
	// Collections are the nested reports of a full snapshot.
	Collections []VerifyReport `json:"collections,omitempty"`
}

// Verify restores the archive read from r into a scratch directory under
// scratchParent (removed afterwards) with every archive check (checksum when
// given, manifest, sizes, hashes), then asks inspector (when set) to open
// it and check point counts, sample reads and searches. The report says what
// passed; the error is non-nil only when verification itself could not run
// (scratch directory, context). yield, when not nil, is called after each
// buffer extracted (ReadOptions.Yield); the inspector's checks do not call
// it.
func Verify(ctx context.Context, r io.Reader, name, checksum, scratchParent string, inspector Inspector, now func() time.Time, yield func() error) (*VerifyReport, error) {
	if now == nil {
		now = time.Now
	}
	start := now()
	rep := &VerifyReport{Name: name, Checksum: checksum, StartedAt: start.UTC()}
	if err := os.MkdirAll(scratchParent, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create verification scratch directory: %w", err)
	}
	scratch, err := os.MkdirTemp(scratchParent, ".verify"+tmpMarker+"*")
	if err != nil {
		return nil, fmt.Errorf("cannot create verification scratch directory: %w", err)
	}
	defer os.RemoveAll(scratch)
	err = verifyInto(ctx, r, checksum, filepath.Join(scratch, "x"), inspector, rep, now, yield)
	rep.DurationSeconds = now().Sub(start).Seconds()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		rep.OK, rep.Error = false, err.Error()
	}
	return rep, nil
}

func verifyInto(ctx context.Context, r io.Reader, checksum, dir string, inspector Inspector, rep *VerifyReport, now func() time.Time, yield func() error) error {
	m, err := Extract(ctx, r, dir, ReadOptions{ExpectedChecksum: checksum, Yield: yield})
	if err != nil {
		return err
	}
	rep.Kind, rep.Collection, rep.Points = m.Kind, m.Collection, m.Points()
	rep.Files, rep.Bytes = len(m.Files), m.TotalSize()
	rep.OK = true
	if m.Kind == KindCluster {
		rep.Points = m.ClusterPoints()
		return verifyCluster(ctx, dir, m, inspector, rep, now, yield)
	}
	if m.Kind == KindFull {
		for _, c := range m.Collections {
			f, err := os.Open(filepath.Join(dir, filepath.FromSlash(CollectionEntry(c))))
			if err != nil {
				return fmt.Errorf("cannot open nested snapshot of %s: %w", c, err)
			}
			sub := &VerifyReport{Name: CollectionEntry(c), StartedAt: now().UTC()}
			err = verifyInto(ctx, f, "", filepath.Join(dir, ".nested-"+c), inspector, sub, now, yield)
			f.Close()
			if err != nil {
				sub.OK, sub.Error = false, err.Error()
			}
			rep.Collections = append(rep.Collections, *sub)
			if !sub.OK {
				rep.OK = false
				return fmt.Errorf("collection %s: %s", c, sub.Error)
			}
		}
		return nil
	}
	if inspector == nil {
		return nil
	}
	checks, err := inspector.InspectSnapshot(ctx, dir, m)
	rep.Shards = checks
	if err != nil {
		rep.OK = false
		return err
	}
	for _, c := range checks {
		if c.Error != "" {
			rep.OK = false
			return fmt.Errorf("shard %d: %s", c.ID, c.Error)
		}
	}
	if len(checks) != len(m.Shards) {
		rep.OK = false
		return fmt.Errorf("inspected %d shards, the manifest lists %d", len(checks), len(m.Shards))
	}
	return nil
}

func jsonIndent(v any) ([]byte, error) { return json.MarshalIndent(v, "", "  ") }

// verifyCluster verifies every shard archive of a cluster archive
// extracted in dir: each is restored into scratch and, with an inspector,
// opened, and its sequence and point count must be the ones the cluster
// manifest records.
func verifyCluster(ctx context.Context, dir string, m *Manifest, inspector Inspector, rep *VerifyReport, now func() time.Time, yield func() error) error {
	for _, c := range m.ClusterCollections {
		for _, s := range c.Shards {
			f, err := os.Open(filepath.Join(dir, filepath.FromSlash(s.Entry)))
			if err != nil {
				return fmt.Errorf("cannot open nested snapshot %s: %w", s.Entry, err)
			}
			sub := &VerifyReport{Name: s.Entry, StartedAt: now().UTC()}
			err = verifyInto(ctx, f, s.SHA256, filepath.Join(dir, fmt.Sprintf(".nested-%s-%d", c.Name, s.ID)), inspector, sub, now, yield)
			f.Close()
			if err == nil {
				err = checkClusterShard(sub, c.Name, s, inspector != nil)
			}
			if err != nil {
				sub.OK, sub.Error = false, err.Error()
			}
			rep.Collections = append(rep.Collections, *sub)
			if !sub.OK {
				rep.OK = false
				return fmt.Errorf("collection %s shard %d: %s", c.Name, s.ID, sub.Error)
			}
		}
	}
	return nil
}

// checkClusterShard compares a nested shard archive's report with the
// cluster manifest's entry.
func checkClusterShard(sub *VerifyReport, coll string, s ClusterShard, inspected bool) error {
	if sub.Kind != KindShard || sub.Collection != coll {
		return fmt.Errorf("the archive is a %s snapshot of %q, want shard %d of %q", sub.Kind, sub.Collection, s.ID, coll)
	}
	if sub.Points != s.Points {
		return fmt.Errorf("the archive holds %d points, the cluster manifest says %d", sub.Points, s.Points)
	}
	if !inspected {
		return nil
	}
	if len(sub.Shards) != 1 || sub.Shards[0].ID != s.ID {
		return fmt.Errorf("the archive does not hold shard %d", s.ID)
	}
	if got := sub.Shards[0]; got.LastSeq != s.LastSeq || got.Points != s.Points {
		return fmt.Errorf("the shard opened at sequence %d with %d points, the cluster manifest says %d and %d", got.LastSeq, got.Points, s.LastSeq, s.Points)
	}
	return nil
}
