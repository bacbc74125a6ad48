package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/config"
	"github.com/shoal-db/shoal/internal/service"
	"github.com/shoal-db/shoal/internal/snapshot"
)

// recoverAtStartup restores the snapshots named by --snapshot and
// --storage-snapshot into cfg's storage before the server opens it, as
// Qdrant does: each archive is verified completely (its .checksum sidecar
// too, when present) before a collection changes, and a collection that
// already exists is replaced only with --force-snapshot.
func recoverAtStartup(ctx context.Context, cfg config.Config, req SnapshotRecovery, log *slog.Logger) error {
	// Check the arguments before touching the storage.
	paths := make([]string, 0, len(req.Collections)+1)
	for _, c := range req.Collections {
		if err := service.ValidateCollectionName(c.Collection); err != nil {
			return usageError(fmt.Errorf("--snapshot %s:%s: %s", c.Path, c.Collection, api.Message(err)))
		}
		paths = append(paths, c.Path)
	}
	if req.StorageSnapshot != "" {
		paths = append(paths, req.StorageSnapshot)
	}
	for _, p := range paths {
		if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
			return usageError(fmt.Errorf("snapshot %s does not exist or is not a file", p))
		}
	}
	for _, dir := range []string{cfg.Storage.StoragePath, cfg.Storage.SnapshotsPath, cfg.TempDir()} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("cannot create data directory: %w", err)
		}
	}
	svc, err := service.New(service.Options{StorageDir: cfg.Storage.StoragePath, Logger: log.With("component", "service")})
	if err != nil {
		return fmt.Errorf("cannot open storage %s: %w", cfg.Storage.StoragePath, err)
	}
	defer svc.Close()
	store, err := snapshot.OpenDirStore(cfg.Storage.SnapshotsPath, "local")
	if err != nil {
		return err
	}
	hooks := svc.SnapshotHooks(cfg.TempDir())
	mgr, err := snapshot.NewManager(snapshot.ManagerOptions{Source: hooks, Inspector: hooks, Store: store, Logger: log.With("component", "snapshots")})
	if err != nil {
		return err
	}
	exists := func(name string) bool {
		ok, _ := svc.CollectionExists(ctx, name)
		return ok
	}
	recoverFile := func(p string, fn func(f *os.File, checksum string) error) error {
		sum, err := os.ReadFile(p + snapshot.ChecksumExt)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("cannot read checksum of %s: %w", p, err)
		}
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("cannot open snapshot %s: %w", p, err)
		}
		defer f.Close()
		return fn(f, strings.TrimSpace(string(sum)))
	}

	if req.StorageSnapshot != "" {
		p := req.StorageSnapshot
		err := recoverFile(p, func(f *os.File, sum string) error {
			man, err := snapshot.ReadManifest(f)
			if err != nil {
				return err
			}
			if !req.Force {
				for _, c := range man.Collections {
					if exists(c) {
						return usageError(fmt.Errorf("collection %s of storage snapshot %s already exists: use --force-snapshot to replace it", c, p))
					}
				}
			}
			if _, err := f.Seek(0, 0); err != nil {
				return err
			}
			man, err = mgr.RecoverFull(ctx, f, sum)
			if err != nil {
				return err
			}
			var ops []api.AliasOperation
			for alias, coll := range man.Aliases {
				ops = append(ops, api.AliasOperation{CreateAlias: &api.AliasDescription{AliasName: alias, CollectionName: coll}})
			}
			if len(ops) > 0 {
				if err := svc.UpdateAliases(ctx, ops); err != nil {
					return fmt.Errorf("cannot restore aliases: %w", err)
				}
			}
			log.Info("storage snapshot recovered", "snapshot", p, "collections", man.Collections, "aliases", len(man.Aliases))
			return nil
		})
		if err != nil {
			return fmt.Errorf("cannot recover storage snapshot %s: %w", p, err)
		}
	}
	for _, c := range req.Collections {
		if exists(c.Collection) && !req.Force {
			return usageError(fmt.Errorf("collection %s already exists: use --force-snapshot to replace it with %s", c.Collection, c.Path))
		}
		err := recoverFile(c.Path, func(f *os.File, sum string) error {
			man, err := mgr.RecoverCollection(ctx, c.Collection, f, snapshot.RecoverOptions{Checksum: sum, Priority: "snapshot"})
			if err == nil {
				log.Info("collection recovered from snapshot", "collection", c.Collection, "snapshot", c.Path, "points", man.Points())
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("cannot recover collection %s from %s: %s", c.Collection, c.Path, api.Message(err))
		}
	}
	return nil
}
