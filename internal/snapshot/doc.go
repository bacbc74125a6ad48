// Package snapshot makes Shoal's snapshots safe to bet the data on: a
// versioned, self-describing archive format (a tar whose first entry is a
// manifest with the SHA-256 of every file), a streaming writer that never
// leaves a partial archive visible, a verifying reader that refuses hostile
// or damaged archives before touching the target, stores for the places
// snapshots live (a local directory, a mounted file-system path, S3-compatible
// object storage), grandfather-father-son retention, cron and interval
// schedules, and verification by restoring into a scratch directory.
//
// The format is documented in docs/format/snapshot.md. The package knows
// nothing of how a collection is checkpointed or opened: the Manager reaches
// the engine through the Source and Inspector interfaces, which the service
// layer implements.
package snapshot
