package cli

import (
	"context"
	"errors"
	"log/slog"

	"github.com/shoal-db/shoal/internal/config"
)

// recoverAtStartup restores the snapshots named by --snapshot and
// --storage-snapshot into cfg's storage before the server opens it. It is
// the hook the snapshot work fills in (internal/snapshot); until then the
// flags are accepted and refused with a clear error, so no one believes a
// recovery happened.
func recoverAtStartup(_ context.Context, _ config.Config, req SnapshotRecovery, log *slog.Logger) error {
	log.Error("snapshot recovery at start is not available in this build", "snapshots", len(req.Collections), "storage_snapshot", req.StorageSnapshot)
	return usageError(errors.New("--snapshot, --storage-snapshot and --force-snapshot are not supported by this build yet: " +
		"start without them and recover through the REST API (PUT /collections/{name}/snapshots/recover) once available"))
}
