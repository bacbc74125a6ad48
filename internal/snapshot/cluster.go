package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/auth"
)

// ClusterDir is the store directory of cluster snapshots.
const ClusterDir = "cluster"

// clusterPrefix starts the name of every cluster snapshot.
const clusterPrefix = "cluster-"

// ClusterSnapshotName returns the name of a cluster snapshot created
// through the API on peer: cluster-<peer>-<YYYY-MM-DD-HH-MM-SS>.snapshot.
func ClusterSnapshotName(peer uint64, t time.Time) string {
	return fmt.Sprintf("%s%d-%s%s", clusterPrefix, peer, t.UTC().Format(timeLayout), Ext)
}

// ScheduledClusterSnapshotName returns the name of the cluster snapshot a
// policy takes for its run planned at due:
// cluster-<policy>-<YYYY-MM-DD-HH-MM-SS>.snapshot. Every node derives the
// same name for the same run, so a run repeated after a change of leader
// replaces the first one's archive instead of adding a second.
func ScheduledClusterSnapshotName(policy string, due time.Time) string {
	return fmt.Sprintf("%s%s-%s%s", clusterPrefix, policy, due.UTC().Format(timeLayout), Ext)
}

// ClusterLayout is what a cluster snapshot captures besides the shards'
// data: every collection's metadata and the aliases, read linearizably.
type ClusterLayout struct {
	// ClusterID names the cluster.
	ClusterID string
	// Collections are the collections (canaries left out), in name order;
	// Shards are left empty (the snapshot fills them).
	Collections []ClusterCollection
	// Generations holds each collection's data generation, by name.
	Generations map[string]uint64
	// Aliases maps alias to collection.
	Aliases map[string]string
}

// ClusterSource is what cluster snapshots need from a cluster member. The
// service's SnapshotHooks implement it; a Source that does not (or whose
// node is standalone) cannot take or restore cluster snapshots.
type ClusterSource interface {
	// ClusterLayout reads the cluster's metadata after a linearizable read;
	// it fails with a bad-request error on a standalone node.
	ClusterLayout(ctx context.Context) (*ClusterLayout, error)
	// FetchShard writes a shard archive (kind shard) of one shard of a
	// collection generation to w, taken from one Active replica (this
	// node's when it holds one) at a consistent point while writes
	// continue, and returns its LastSeq, Epoch and SourcePeer (the caller
	// reads the rest from the archive). Before trying another replica after
	// a failure it resets w. Not-found errors mean the collection is gone.
	FetchShard(ctx context.Context, collection string, generation uint64, shard int, w EntryWriter) (ClusterShard, error)
	// RestoreClusterCollection creates collection name in this cluster from
	// cc and the verified shard archives shardFile(i) names: placement for
	// this cluster's peers, every shard's archive staged on each of its new
	// replicas, then the collection proposed through Raft. A collection or
	// alias of that name already existing is refused.
	RestoreClusterCollection(ctx context.Context, name string, cc *ClusterCollection, shardFile func(shard int) string) error
	// RecoverCollectionSnapshot recovers collection name in this cluster
	// from a verified collection archive (kind collection, manifest man)
	// extracted into dir, per Qdrant's snapshot priority: "snapshot" and
	// "no_sync" restore every shard on every replica; "replica" (the
	// default, "") keeps the existing data of a collection whose every
	// shard has an Active replica and restores only when none has. A
	// restore places the shards, stages each on every replica and proposes
	// one restore_collection, which replaces an existing collection whole.
	// It reports whether the snapshot's data was restored.
	RecoverCollectionSnapshot(ctx context.Context, name string, man *Manifest, dir, priority string) (bool, error)
	// RestoreClusterShard replaces shard id of collection name with data,
	// per Qdrant's snapshot priority ("snapshot", "no_sync": always;
	// "replica" or "": only when the shard has no Active replica): the
	// data is staged on each of the shard's replicas (its current peers
	// when all are live members, else a placement over the live peers) and
	// one restore_shard commits it through Raft in a new epoch. With lost
	// set it refuses a shard that still has an Active replica on a live
	// peer.
	RestoreClusterShard(ctx context.Context, name string, id int, data ShardData, priority string, lost bool) (ShardRestore, error)
	// CreateAliases creates the aliases whose names are free; it returns
	// the ones it created.
	CreateAliases(ctx context.Context, aliases map[string]string) ([]string, error)
	// IsLeader reports whether this node leads the cluster (the scheduler
	// runs cluster policies on the leader only).
	IsLeader() bool
	// ClusterMode reports whether this node is a cluster member.
	ClusterMode() bool
}

// ClusterSnapshot describes a stored cluster snapshot for listings.
type ClusterSnapshot struct {
	Description
	// Labels are the labels given at creation.
	Labels map[string]string `json:"labels"`
	// Collections names the collections it holds.
	Collections []string `json:"collections"`
	// Points is the total point count.
	Points uint64 `json:"points"`
	// ClusterID names the cluster it was taken of.
	ClusterID string `json:"cluster_id,omitempty"`
}

// ClusterRecoverOptions qualify the restore of a cluster snapshot.
type ClusterRecoverOptions struct {
	// Checksum, when set, is the SHA-256 the archive must have.
	Checksum string
	// Collection, when set, restores only that collection (aliases are
	// then left alone); otherwise every collection and the aliases.
	Collection string
	// As, with Collection, restores it under another name.
	As string
}

// maxLabels and maxLabelLength bound the labels of a cluster snapshot.
const (
	maxLabels      = 64
	maxLabelLength = 256
)

// CheckLabels validates the labels of a cluster snapshot.
func CheckLabels(labels map[string]string) error {
	if len(labels) > maxLabels {
		return api.ErrBadInput("a cluster snapshot takes at most %d labels, got %d", maxLabels, len(labels))
	}
	for k, v := range labels {
		if k == "" {
			return api.ErrBadInput("label names must not be empty")
		}
		if len(k) > maxLabelLength || len(v) > maxLabelLength {
			return api.ErrBadInput("label %q: names and values are limited to %d bytes", k, maxLabelLength)
		}
	}
	return nil
}

func (m *Manager) cluster() (ClusterSource, error) {
	cs, ok := m.opts.Source.(ClusterSource)
	if !ok {
		return nil, api.ErrBadRequest("Cluster snapshots need a node in cluster mode")
	}
	return cs, nil
}

// ClusterMode reports whether this node is a cluster member (cluster
// snapshots need one).
func (m *Manager) ClusterMode() bool {
	cs, err := m.cluster()
	return err == nil && cs.ClusterMode()
}

// IsClusterLeader reports whether this node leads its cluster (false on a
// standalone node).
func (m *Manager) IsClusterLeader() bool {
	cs, err := m.cluster()
	return err == nil && cs.IsLeader()
}

// CreateClusterSnapshot snapshots the whole cluster into the store
// (ClusterDir) with the given labels.
func (m *Manager) CreateClusterSnapshot(ctx context.Context, labels map[string]string) (ClusterSnapshot, error) {
	if err := checkAccess(ctx, "", auth.Manage); err != nil {
		return ClusterSnapshot{}, err
	}
	if err := CheckLabels(labels); err != nil {
		return ClusterSnapshot{}, err
	}
	start := time.Now()
	a, err := m.CreateClusterArchive(ctx, labels, func(created time.Time) string { return ClusterSnapshotName(m.opts.PeerID, created) })
	if err != nil {
		return ClusterSnapshot{}, err
	}
	defer os.Remove(a.Path)
	if err := PutArchive(ctx, m.opts.Store, ClusterDir, a.Description.Name, a.Path, a.Description.Checksum, true); err != nil {
		return ClusterSnapshot{}, err
	}
	m.log.Info("cluster snapshot created", "snapshot", a.Description.Name, "collections", len(a.Manifest.ClusterCollections),
		"points", a.Manifest.ClusterPoints(), "size", a.Description.Size, "duration", time.Since(start))
	return describeCluster(a.Description, a.Manifest), nil
}

func describeCluster(d Description, man *Manifest) ClusterSnapshot {
	cs := ClusterSnapshot{Description: d, Labels: man.Labels, Collections: []string{}, Points: man.ClusterPoints(), ClusterID: man.ClusterID}
	if cs.Labels == nil {
		cs.Labels = map[string]string{}
	}
	for _, c := range man.ClusterCollections {
		cs.Collections = append(cs.Collections, c.Name)
	}
	return cs
}

// CreateClusterArchive writes a cluster archive into a local temporary
// file: the layout (every collection's metadata and the aliases), then
// each shard once, fetched from one Active replica, one shard at a time.
// name gives the archive's name from its creation time. A collection
// deleted meanwhile is left out.
//
// Each shard archive streams straight into the archive file, hashed once
// as it arrives (streamWriter): the manifest, which holds every shard's
// size and hash, has its place reserved at the start and is written last.
func (m *Manager) CreateClusterArchive(ctx context.Context, labels map[string]string, name func(created time.Time) string) (*LocalArchive, error) {
	cs, err := m.cluster()
	if err != nil {
		return nil, err
	}
	created := m.now()
	layout, err := cs.ClusterLayout(ctx)
	if err != nil {
		return nil, err
	}
	man := &Manifest{FormatVersion: ClusterFormatVersion, Kind: KindCluster, ShoalVersion: m.opts.ShoalVersion, PeerID: m.opts.PeerID,
		CreatedAt: created.UTC().Truncate(time.Second), ClusterID: layout.ClusterID, Labels: maps.Clone(labels), Aliases: map[string]string{}}
	reserve, err := clusterManifestReserve(man, layout)
	if err != nil {
		return nil, err
	}
	archiveName := name(created)
	f, err := m.tempArchive(ClusterDir, archiveName)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		f.Close()
		if !ok {
			os.Remove(f.Name())
		}
	}()
	// The shards arrive, are hashed and written on this goroutine (a
	// shard of this node's is also read and hashed on it).
	meter := m.opts.Background.Start(ctx)
	defer meter.Stop()
	sw, err := newStreamWriter(f, newRateLimitedWriter(ctx, f, m.opts.WriteBytesPerSecond), man.CreatedAt, reserve, meter.Yield)
	if err != nil {
		return nil, err
	}
	for _, c := range layout.Collections {
		mark := sw.mark()
		dirs := []string{"collections/" + c.Name, "collections/" + c.Name + "/shards"}
		if len(man.ClusterCollections) == 0 {
			dirs = append([]string{"collections"}, dirs...)
		}
		cc, err := m.fetchCollection(ctx, cs, sw, dirs, c, layout.Generations[c.Name])
		if api.KindOf(err) == api.KindNotFound {
			m.log.Info("collection deleted during the cluster snapshot: left out", "collection", c.Name)
			if err := sw.truncate(mark); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		man.Dirs = append(man.Dirs, dirs...)
		man.ClusterCollections = append(man.ClusterCollections, *cc)
		for _, s := range cc.Shards {
			man.Files = append(man.Files, FileEntry{Path: s.Entry, Size: s.Size, SHA256: s.SHA256})
		}
	}
	for alias, target := range layout.Aliases {
		if slices.ContainsFunc(man.ClusterCollections, func(c ClusterCollection) bool { return c.Name == target }) {
			man.Aliases[alias] = target
		}
	}
	sort.Strings(man.Dirs)
	sort.Slice(man.Files, func(i, j int) bool { return man.Files[i].Path < man.Files[j].Path })
	if err := man.Validate(); err != nil {
		return nil, fmt.Errorf("cannot write snapshot %s: %w", archiveName, err)
	}
	size, sum, err := sw.finish(ctx, man)
	if err != nil {
		return nil, fmt.Errorf("cannot write snapshot %s: %w", archiveName, err)
	}
	ok = true
	return &LocalArchive{Path: f.Name(), Dir: ClusterDir, Manifest: man, Description: Description{
		Name: archiveName, Size: size, Checksum: sum, CreationTime: man.CreatedAt.Format(qdrantTimeLayout)}}, nil
}

// clusterManifestReserve returns the bytes to reserve for the manifest of
// a cluster archive of layout: man completed with every collection and
// shard at the widest values their fields can take, encoded, plus a margin.
func clusterManifestReserve(man *Manifest, layout *ClusterLayout) (int64, error) {
	widest := *man
	widest.Aliases = maps.Clone(layout.Aliases)
	const maxU = ^uint64(0)
	hash := strings.Repeat("f", 64)
	for _, c := range layout.Collections {
		cc := c
		cc.Shards = nil
		widest.Dirs = append(widest.Dirs, "collections", "collections/"+c.Name, "collections/"+c.Name+"/shards")
		for i := range c.Config.Params.ShardNumber {
			e := ClusterShardEntry(c.Name, i)
			cc.Shards = append(cc.Shards, ClusterShard{ID: i, Entry: e, LastSeq: maxU, Epoch: maxU, Points: maxU, SourcePeer: maxU, Size: math.MaxInt64, SHA256: hash})
			widest.Files = append(widest.Files, FileEntry{Path: e, Size: math.MaxInt64, SHA256: hash})
		}
		widest.ClusterCollections = append(widest.ClusterCollections, cc)
	}
	b, err := encodeManifest(&widest)
	if err != nil {
		return 0, err
	}
	return int64(len(b)) + 4096, nil
}

// fetchCollection writes the directories dirs, then every shard of one
// collection into the archive.
func (m *Manager) fetchCollection(ctx context.Context, cs ClusterSource, sw *streamWriter, dirs []string, c ClusterCollection, gen uint64) (*ClusterCollection, error) {
	for _, d := range dirs {
		if err := sw.dir(d); err != nil {
			return nil, err
		}
	}
	out := c
	out.Shards = nil
	for i := range c.Config.Params.ShardNumber {
		entry := ClusterShardEntry(c.Name, i)
		var sh ClusterShard
		fe, err := sw.file(entry, func(w EntryWriter) error {
			var err error
			if sh, err = cs.FetchShard(ctx, c.Name, gen, i, w); err != nil {
				return err
			}
			return checkFetchedShard(w.Written(), c.Name, &sh, i)
		})
		if err != nil {
			return nil, err
		}
		sh.ID, sh.Entry, sh.Size, sh.SHA256 = i, entry, fe.Size, fe.SHA256
		out.Shards = append(out.Shards, sh)
	}
	return &out, nil
}

// checkFetchedShard checks that the archive read from r is a checkpoint of
// shard id of collection at sh.LastSeq, and takes its point count.
func checkFetchedShard(r io.Reader, collection string, sh *ClusterShard, id int) error {
	man, err := ReadManifest(r)
	if err != nil {
		return fmt.Errorf("shard %d of %s from peer %d: %w", id, collection, sh.SourcePeer, err)
	}
	if man.Kind != KindShard || man.Collection != collection || len(man.Shards) != 1 ||
		man.Shards[0].ID != id || man.Shards[0].LastSeq != sh.LastSeq {
		return fmt.Errorf("peer %d sent an archive that is not shard %d of %s at %d", sh.SourcePeer, id, collection, sh.LastSeq)
	}
	sh.Points = man.Shards[0].Points
	return nil
}

// ListClusterSnapshots lists the cluster snapshots in the store with their
// labels (read from each archive's manifest).
func (m *Manager) ListClusterSnapshots(ctx context.Context) ([]ClusterSnapshot, error) {
	if err := checkAccess(ctx, "", auth.Read); err != nil {
		return nil, err
	}
	ds, err := ListSnapshots(ctx, m.opts.Store, ClusterDir)
	if err != nil {
		return nil, err
	}
	out := []ClusterSnapshot{}
	for _, d := range ds {
		if !strings.HasPrefix(d.Name, clusterPrefix) {
			continue
		}
		man, err := m.readStoredManifest(ctx, ClusterDir, d.Name)
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, describeCluster(d, man))
	}
	return out, nil
}

// readStoredManifest reads the manifest of a stored archive.
func (m *Manager) readStoredManifest(ctx context.Context, dir, name string) (*Manifest, error) {
	rc, err := m.opts.Store.Get(ctx, Key(dir, name))
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	man, err := ReadManifest(rc)
	if err != nil {
		return nil, fmt.Errorf("cannot read the manifest of %s: %w", name, err)
	}
	return man, nil
}

// DescribeClusterSnapshot describes one stored cluster snapshot.
func (m *Manager) DescribeClusterSnapshot(ctx context.Context, name string) (ClusterSnapshot, *Manifest, error) {
	if err := checkAccess(ctx, "", auth.Read); err != nil {
		return ClusterSnapshot{}, nil, err
	}
	if err := CheckName(name); err != nil {
		return ClusterSnapshot{}, nil, api.ErrBadInput("%v", err)
	}
	d, err := DescribeSnapshot(ctx, m.opts.Store, ClusterDir, name)
	if errors.Is(err, os.ErrNotExist) {
		return ClusterSnapshot{}, nil, snapshotNotFound(name)
	}
	if err != nil {
		return ClusterSnapshot{}, nil, err
	}
	man, err := m.readStoredManifest(ctx, ClusterDir, name)
	if errors.Is(err, os.ErrNotExist) {
		return ClusterSnapshot{}, nil, snapshotNotFound(name)
	}
	if err != nil {
		return ClusterSnapshot{}, nil, err
	}
	return describeCluster(d, man), man, nil
}

// DeleteClusterSnapshot deletes a cluster snapshot.
func (m *Manager) DeleteClusterSnapshot(ctx context.Context, name string) error {
	if err := checkAccess(ctx, "", auth.Manage); err != nil {
		return err
	}
	return m.delete(ctx, ClusterDir, name)
}

// OpenClusterSnapshot opens a cluster snapshot for download.
func (m *Manager) OpenClusterSnapshot(ctx context.Context, name string) (io.ReadCloser, Description, error) {
	if err := checkAccess(ctx, "", auth.Read); err != nil {
		return nil, Description{}, err
	}
	return m.open(ctx, ClusterDir, name)
}

// CheckRecoverCluster checks, before any archive is read, that the caller
// may restore a cluster snapshot with opts.
func (m *Manager) CheckRecoverCluster(ctx context.Context, opts ClusterRecoverOptions) error {
	if err := checkAccess(ctx, "", auth.Manage); err != nil {
		return err
	}
	if _, err := m.cluster(); err != nil {
		return err
	}
	if opts.As != "" && opts.Collection == "" {
		return api.ErrBadInput("`as` renames one collection: name it in `collection`")
	}
	for _, n := range []string{opts.Collection, opts.As} {
		if n != "" {
			if err := CheckName(n); err != nil {
				return api.ErrBadInput("%v", err)
			}
		}
	}
	return nil
}

// RecoverClusterFromLocation restores a cluster snapshot from location
// (see OpenLocation; a bare name refers to the cluster snapshots in the
// store).
func (m *Manager) RecoverClusterFromLocation(ctx context.Context, location, apiKey string, opts ClusterRecoverOptions) (*Manifest, error) {
	if err := m.CheckRecoverCluster(ctx, opts); err != nil {
		return nil, err
	}
	rc, err := m.OpenLocation(ctx, location, ClusterDir, apiKey)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return m.RecoverCluster(ctx, rc, opts)
}

// RecoverCluster restores the cluster archive read from r into this
// cluster: it is verified completely first (manifest, every hash), then
// each collection (or only opts.Collection) is created with a placement
// over this cluster's peers and its shards installed on their replicas;
// with every collection restored, the aliases follow.
func (m *Manager) RecoverCluster(ctx context.Context, r io.Reader, opts ClusterRecoverOptions) (*Manifest, error) {
	if err := m.CheckRecoverCluster(ctx, opts); err != nil {
		return nil, err
	}
	cs, _ := m.cluster()
	start := time.Now()
	dir, man, err := m.extract(ctx, r, opts.Checksum, func(man *Manifest) error {
		if man.Kind != KindCluster {
			return api.ErrBadInput("snapshot is a %s snapshot, not a cluster snapshot", man.Kind)
		}
		if opts.Collection != "" && !slices.ContainsFunc(man.ClusterCollections, func(c ClusterCollection) bool { return c.Name == opts.Collection }) {
			return api.ErrNotFound("Collection `%s` is not in the cluster snapshot", opts.Collection)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	for i := range man.ClusterCollections {
		cc := &man.ClusterCollections[i]
		if opts.Collection != "" && cc.Name != opts.Collection {
			continue
		}
		target := cc.Name
		if opts.As != "" {
			target = opts.As
		}
		err := cs.RestoreClusterCollection(ctx, target, cc, func(shard int) string {
			return filepath.Join(dir, filepath.FromSlash(ClusterShardEntry(cc.Name, shard)))
		})
		if err != nil {
			return nil, fmt.Errorf("cannot restore collection %s: %w", cc.Name, err)
		}
		m.log.Info("collection restored from a cluster snapshot", "collection", target, "from", cc.Name, "shards", len(cc.Shards))
	}
	if opts.Collection == "" && len(man.Aliases) > 0 {
		created, err := cs.CreateAliases(ctx, man.Aliases)
		if err != nil {
			return nil, fmt.Errorf("cannot restore the aliases: %w", err)
		}
		if len(created) < len(man.Aliases) {
			m.log.Warn("cluster snapshot aliases left out: their names are taken", "restored", len(created), "in_snapshot", len(man.Aliases))
		}
	}
	m.log.Info("cluster snapshot restored", "collections", len(man.ClusterCollections), "points", man.ClusterPoints(), "duration", time.Since(start))
	return man, nil
}
