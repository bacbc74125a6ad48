package snapshot

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"time"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/auth"
)

// ShardData is one shard's verified data for a shard restore in cluster
// mode: a shard archive file (Archive, an entry of a cluster archive) or
// the checkpoint directory of an extracted collection or shard archive
// (Dir, with that archive's Manifest).
type ShardData struct {
	// Archive is the path of a shard archive (kind shard).
	Archive string
	// Dir is the path of a shard checkpoint directory; Manifest the
	// manifest of the archive it was extracted from.
	Dir      string
	Manifest *Manifest
	// Config is the configuration of the collection the data comes from.
	Config *api.CollectionConfig
	// Epoch is the epoch of the data's last operation when the archive
	// records it (cluster archives); 0 means read it from the data.
	Epoch uint64
	// LastSeq and Points describe the data.
	LastSeq, Points uint64
}

// ShardRestore is the outcome of a shard restore in cluster mode.
type ShardRestore struct {
	// Restored is false when the priority kept the existing replicas.
	Restored bool `json:"restored"`
	// Peers hold the shard's replicas afterwards, the primary first.
	Peers []uint64 `json:"peers,omitempty"`
	// Epoch is the shard's new epoch.
	Epoch uint64 `json:"epoch,omitempty"`
}

// LostShardReport answers the restore of a shard that lost every replica
// (POST /cluster/shards/recover-lost): which snapshot it came from and the
// data loss window, the writes after the snapshot's checkpoint being lost.
type LostShardReport struct {
	Collection string `json:"collection"`
	ShardID    int    `json:"shard_id"`
	// Snapshot names the archive the shard was restored from, Kind its
	// kind (cluster or collection).
	Snapshot string `json:"snapshot"`
	Kind     Kind   `json:"snapshot_kind"`
	// SnapshotTime is when the snapshot was taken (its manifest's time).
	SnapshotTime time.Time `json:"snapshot_time"`
	// RestoredAt is when the restore committed.
	RestoredAt time.Time `json:"restored_at"`
	// DataLossWindowSeconds is RestoredAt - SnapshotTime: writes to the
	// shard in that window (acknowledged after the snapshot's checkpoint
	// was taken) are lost.
	DataLossWindowSeconds float64 `json:"data_loss_window_seconds"`
	// LastSeq and Points describe the restored data.
	LastSeq uint64 `json:"last_seq"`
	Points  uint64 `json:"points"`
	ShardRestore
}

// candidate is a stored snapshot that may hold a lost shard.
type candidate struct {
	dir, name string
	kind      Kind
	created   time.Time
}

// RecoverLostShard restores shard shardID of collection, every replica of
// which is lost, from the newest snapshot in this node's store holding it
// (cluster snapshots and the collection's own snapshots) that fits the
// collection (same vectors and shard number), onto live peers. It refuses,
// naming what it looked at, when no snapshot holds the shard.
func (m *Manager) RecoverLostShard(ctx context.Context, collection string, shardID int) (*LostShardReport, error) {
	if err := checkAccess(ctx, "", auth.Manage); err != nil {
		return nil, err
	}
	cs, err := m.cluster()
	if err != nil {
		return nil, err
	}
	if !cs.ClusterMode() {
		return nil, api.ErrBadRequest("Restoring a lost shard needs a node in cluster mode")
	}
	layout, err := cs.ClusterLayout(ctx)
	if err != nil {
		return nil, err
	}
	var cur *ClusterCollection
	for i := range layout.Collections {
		if layout.Collections[i].Name == collection {
			cur = &layout.Collections[i]
		}
	}
	if cur == nil {
		return nil, api.ErrCollectionNotFound(collection)
	}
	if shardID < 0 || shardID >= cur.Config.Params.ShardNumber {
		return nil, api.ErrNotFound("Shard %d of collection `%s` doesn't exist", shardID, collection)
	}
	fits := func(cfg *api.CollectionConfig) bool {
		return cfg != nil && cfg.Params.ShardNumber == cur.Config.Params.ShardNumber &&
			reflect.DeepEqual(cfg.Params.Vectors, cur.Config.Params.Vectors) &&
			reflect.DeepEqual(cfg.Params.SparseVectors, cur.Config.Params.SparseVectors)
	}
	var cands []candidate
	for _, dir := range []string{ClusterDir, CollectionDir(collection)} {
		ds, err := ListSnapshots(ctx, m.opts.Store, dir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		for _, d := range ds {
			cands = append(cands, candidate{dir: dir, name: d.Name})
		}
	}
	// The manifests say what each holds and when it was taken.
	var usable []candidate
	for _, c := range cands {
		man, err := m.readStoredManifest(ctx, c.dir, c.name)
		if err != nil {
			m.log.Warn("cannot read a snapshot's manifest while looking for a lost shard", "snapshot", c.name, "err", err)
			continue
		}
		c.kind, c.created = man.Kind, man.CreatedAt
		switch man.Kind {
		case KindCluster:
			for _, cc := range man.ClusterCollections {
				if cc.Name == collection && fits(cc.Config) && shardID < len(cc.Shards) {
					usable = append(usable, c)
				}
			}
		case KindCollection:
			if fits(man.Config) && shardID < len(man.Shards) && man.Shards[shardID].ID == shardID {
				usable = append(usable, c)
			}
		}
	}
	if len(usable) == 0 {
		return nil, api.ErrNotFound("No snapshot holds shard %d of collection `%s`: looked at %d cluster and collection snapshots in this node's store; restore the collection from a snapshot taken elsewhere (PUT /collections/%s/snapshots/recover) or delete and recreate it",
			shardID, collection, len(cands), collection)
	}
	sort.SliceStable(usable, func(i, j int) bool { return usable[i].created.After(usable[j].created) })
	c := usable[0]
	rc, err := m.opts.Store.Get(ctx, Key(c.dir, c.name))
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	dir, man, err := m.extract(ctx, rc, "", func(*Manifest) error { return nil })
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	data := ShardData{Manifest: man}
	if man.Kind == KindCluster {
		for _, cc := range man.ClusterCollections {
			if cc.Name == collection {
				sh := cc.Shards[shardID]
				data.Archive = filepath.Join(dir, filepath.FromSlash(sh.Entry))
				data.Config, data.Epoch, data.LastSeq, data.Points = cc.Config, sh.Epoch, sh.LastSeq, sh.Points
			}
		}
	} else {
		sm := man.Shards[shardID]
		data.Dir = filepath.Join(dir, filepath.FromSlash(sm.Dir))
		data.Config, data.LastSeq, data.Points = man.Config, sm.LastSeq, sm.Points
	}
	res, err := cs.RestoreClusterShard(ctx, collection, shardID, data, "", true)
	if err != nil {
		return nil, err
	}
	now := m.now().UTC()
	rep := &LostShardReport{Collection: collection, ShardID: shardID, Snapshot: c.name, Kind: c.kind, SnapshotTime: man.CreatedAt.UTC(),
		RestoredAt: now, DataLossWindowSeconds: now.Sub(man.CreatedAt).Seconds(), LastSeq: data.LastSeq, Points: data.Points, ShardRestore: res}
	m.log.Warn("lost shard restored from a snapshot: writes after the snapshot are lost", "collection", collection, "shard", shardID,
		"snapshot", c.name, "snapshot_time", rep.SnapshotTime, "data_loss_window_s", rep.DataLossWindowSeconds, "peers", res.Peers)
	return rep, nil
}
