package service

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/collection"
	"github.com/shoal-db/shoal/internal/meta"
	"github.com/shoal-db/shoal/internal/replica"
	"github.com/shoal-db/shoal/internal/shard"
	"github.com/shoal-db/shoal/internal/snapshot"
)

// Collection snapshot recovery in cluster mode (PUT
// /collections/{name}/snapshots/recover and the upload form): the archive
// is verified on the node that received the request, then, when Qdrant's
// priority lets the snapshot's data win, every shard is staged on each of
// its replicas (a checkpoint transfer over the p2p port, replica.Stage)
// under staging leases and one restore_collection commits the new
// generation through Raft, replacing an existing collection whole. Every
// replica of a shard starts from the same checkpoint, so their digests are
// equal and no replica needs a re-sync afterwards.
//
// Priorities (Qdrant restores only the receiving node's replicas, then
// re-syncs: "snapshot" makes the others copy them, "replica" makes them
// copy the others, "no_sync" leaves them diverged; Shoal restores every
// replica of every shard, so the outcomes are the same without a window in
// which replicas differ):
//   - snapshot, no_sync: the snapshot's data replaces the collection's on
//     every replica.
//   - replica (the default): the existing data wins. A collection whose
//     every shard has an Active replica on a live peer keeps its data (nothing changes);
//     one that does not exist, or none of whose shards has an Active
//     replica, is restored from the snapshot; one with some shards lost
//     and others Active is refused (priority snapshot replaces it whole).

// RecoverCollectionSnapshot implements snapshot.ClusterSource.
func (h *SnapshotHooks) RecoverCollectionSnapshot(ctx context.Context, name string, man *snapshot.Manifest, dir, priority string) (bool, error) {
	s := h.s
	if s.cluster == nil {
		return false, errNotClustered
	}
	if err := ValidateCollectionName(name); err != nil {
		return false, err
	}
	if err := checkSnapshotConfig(man); err != nil {
		return false, err
	}
	cfg := man.Config
	if len(man.Shards) != cfg.Params.ShardNumber {
		return false, api.ErrBadInput("snapshot holds %d shards, its config says %d", len(man.Shards), cfg.Params.ShardNumber)
	}
	for i, sm := range man.Shards {
		if sm.ID != i {
			return false, api.ErrBadInput("snapshot holds shard %d in place %d", sm.ID, i)
		}
	}
	if err := s.cluster.ReadIndex(ctx); err != nil {
		return false, err
	}
	st := s.state()
	if _, ok := st.Aliases[name]; ok {
		return false, api.ErrBadInput("Can't create collection with name %s. Alias with the same name already exists", name)
	}
	old, exists := st.Collections[name]
	if !exists {
		if n := s.limits.MaxCollections; n > 0 && len(st.Collections) >= n {
			return false, api.ErrBadInput("the number of collections is limited to %d", n)
		}
	}
	var replaces uint64
	if exists {
		// Qdrant's compatibility checks and texts.
		if !reflect.DeepEqual(old.Config.Params.Vectors, cfg.Params.Vectors) || !reflect.DeepEqual(old.Config.Params.SparseVectors, cfg.Params.SparseVectors) {
			return false, api.ErrBadInput("Snapshot is not compatible with existing collection: Collection vectors: %+v Snapshot Vectors: %+v",
				old.Config.Params.Vectors, cfg.Params.Vectors)
		}
		if old.Config.Params.ShardNumber != cfg.Params.ShardNumber {
			return false, api.ErrBadInput("Snapshot is not compatible with existing collection: Collection shard number: %d Snapshot shard number: %d",
				old.Config.Params.ShardNumber, cfg.Params.ShardNumber)
		}
		if priority == "" || priority == "replica" {
			active := 0
			for _, sp := range old.Shards {
				if slices.ContainsFunc(activeReplicas(sp, 0), func(p uint64) bool { return !s.peerDown(p) }) {
					active++
				}
			}
			switch {
			case active == len(old.Shards):
				s.log.Info("collection snapshot not restored: priority replica and every shard has an Active replica", "collection", name)
				return false, nil
			case active > 0:
				return false, api.ErrBadRequest("Cannot recover collection `%s` with priority replica: %d of its %d shards have an Active replica on a live peer, whose data wins, and the others have none; recover with priority snapshot to replace the collection whole, or restore the lost shards alone (POST /cluster/snapshots/recover-lost-shard, or a shard snapshot)",
					name, active, len(old.Shards))
			}
		}
		replaces = old.Generation
	}
	// A collection that exists keeps its configuration (the snapshot's
	// data must fit it: same vectors and shard number, checked above) and
	// its replicas' peers while they are all members; a new one takes the
	// snapshot's configuration and a placement over the current peers.
	var plan [][]uint64
	if exists {
		cfg = &old.Config
		plan = make([][]uint64, len(old.Shards))
		for i, sp := range old.Shards {
			plan[i] = sp.Peers()
			for _, peer := range plan[i] {
				if _, ok := st.Peers[peer]; !ok {
					plan = nil
					break
				}
			}
			if plan == nil || len(plan[i]) == 0 {
				plan = nil
				break
			}
		}
	}
	if plan == nil {
		var err error
		if plan, err = s.placeShards(st, *cfg); err != nil {
			return false, err
		}
	}
	epochs := make([]uint64, len(plan))
	for i := range plan {
		e, err := shard.LastEpochIn(filepath.Join(dir, filepath.FromSlash(man.Shards[i].Dir)))
		if err != nil {
			return false, api.ErrBadInput("snapshot shard %d: %v", i, err)
		}
		epochs[i] = max(1, e)
	}
	p := restorePlan{name: name, config: cfg, payloadIndexes: man.PayloadIndexes, placement: plan, epochs: epochs, replaces: replaces}
	trees := stagedTrees{}
	err := h.stageAndRestore(ctx, p, func(ctx context.Context, peer uint64, t replica.Target) error {
		return h.stageFromDir(ctx, peer, t, man, dir, trees)
	})
	if err != nil {
		return false, err
	}
	return true, nil
}

// stageFromDir stages shard t.Shard of the collection archive extracted
// into dir on peer: a shard archive of its checkpoint directory, written
// while it is sent.
func (h *SnapshotHooks) stageFromDir(ctx context.Context, peer uint64, t replica.Target, man *snapshot.Manifest, dir string, trees stagedTrees) error {
	sm := man.Shards[t.Shard]
	root, err := shardArchiveRoot(dir, t.Shard, sm.Dir)
	if err != nil {
		return err
	}
	m := &snapshot.Manifest{CreatedAt: man.CreatedAt, Config: man.Config, PayloadIndexes: man.PayloadIndexes,
		Shards: []snapshot.ShardManifest{{ID: t.Shard, Dir: snapshot.ShardDir(t.Shard), LastSeq: sm.LastSeq, Points: sm.Points}}}
	return h.stageRoot(ctx, peer, t, m, root, trees)
}

// stageArchive stages the shard archive of the tree at root, described by
// man (files listed), on peer (or here), writing it while it is sent.
func (h *SnapshotHooks) stageArchive(ctx context.Context, peer uint64, t replica.Target, man *snapshot.Manifest, root string) error {
	pr, pw := io.Pipe()
	go func() {
		_, err := snapshot.WriteArchive(ctx, pw, man, root, nil)
		pw.CloseWithError(err)
	}()
	defer pr.Close()
	if peer == h.s.cluster.ID() {
		return h.s.StageReplica(ctx, t, pr)
	}
	cc, err := h.s.opts.PeerDial(peer)
	if err != nil {
		return err
	}
	return replica.Stage(ctx, cc, t, pr)
}

// shardArchiveRoot gives shard i of a collection archive extracted into
// dir a directory of its own, <dir>/stage-<i>/shards/<i> (moved there once),
// so that it can be archived alone.
func shardArchiveRoot(dir string, i int, rel string) (string, error) {
	root := filepath.Join(dir, "stage-"+strconv.Itoa(i))
	target := filepath.Join(root, "shards", strconv.Itoa(i))
	if _, err := os.Stat(target); err == nil {
		return root, nil
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return "", fmt.Errorf("cannot prepare shard %d for staging: %w", i, err)
	}
	if err := os.Rename(filepath.Join(dir, filepath.FromSlash(rel)), target); err != nil {
		return "", fmt.Errorf("cannot prepare shard %d for staging: %w", i, err)
	}
	return root, nil
}

// clusterCheckpoint checkpoints shards ids (nil: all) of collection name
// into dir/shards/<i> in cluster mode: this node's replicas directly, the
// others fetched from an Active replica on another peer (FetchShard, as a
// cluster snapshot does) and extracted, so that a collection or shard
// snapshot taken on any node holds every shard asked for.
func (h *SnapshotHooks) clusterCheckpoint(ctx context.Context, c *collection.Collection, m *meta.Collection, name, dir string, ids []int) ([]collection.ShardCheckpoint, error) {
	if ids == nil {
		for i := range c.Shards() {
			ids = append(ids, i)
		}
	}
	var local, remote []int
	for _, i := range ids {
		if c.LocalShard(i) != nil {
			local = append(local, i)
		} else {
			remote = append(remote, i)
		}
	}
	var out []collection.ShardCheckpoint
	if len(local) > 0 {
		cps, err := c.Checkpoint(ctx, dir, local)
		if err != nil {
			return nil, err
		}
		out = append(out, cps...)
	}
	for _, i := range remote {
		cp, err := h.fetchInto(ctx, name, m.Generation, i, dir)
		if err != nil {
			return nil, err
		}
		out = append(out, cp)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].ID < out[b].ID })
	return out, nil
}

// fetchInto fetches a checkpoint of shard i from an Active replica into
// dir/shards/<i> (through a file beside dir).
func (h *SnapshotHooks) fetchInto(ctx context.Context, name string, gen uint64, i int, dir string) (collection.ShardCheckpoint, error) {
	f, err := os.CreateTemp(filepath.Dir(dir), "fetch-*.snapshot")
	if err != nil {
		return collection.ShardCheckpoint{}, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	sh, err := h.FetchShard(ctx, name, gen, i, &fileEntry{f: f})
	if err != nil {
		return collection.ShardCheckpoint{}, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return collection.ShardCheckpoint{}, err
	}
	tmpParent, err := os.MkdirTemp(filepath.Dir(dir), "fetched-*")
	if err != nil {
		return collection.ShardCheckpoint{}, err
	}
	defer os.RemoveAll(tmpParent)
	tmp := filepath.Join(tmpParent, "x")
	man, err := snapshot.Extract(ctx, f, tmp, snapshot.ReadOptions{Check: func(man *snapshot.Manifest) error {
		if man.Kind != snapshot.KindShard || len(man.Shards) != 1 || man.Shards[0].ID != i || man.Shards[0].LastSeq != sh.LastSeq {
			return fmt.Errorf("peer %d sent an archive that is not shard %d of %s at %d", sh.SourcePeer, i, name, sh.LastSeq)
		}
		return nil
	}})
	if err != nil {
		return collection.ShardCheckpoint{}, err
	}
	target := filepath.Join(dir, filepath.FromSlash(snapshot.ShardDir(i)))
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return collection.ShardCheckpoint{}, err
	}
	if err := os.Rename(filepath.Join(tmp, filepath.FromSlash(man.Shards[0].Dir)), target); err != nil {
		return collection.ShardCheckpoint{}, err
	}
	return collection.ShardCheckpoint{ID: i, LastSeq: sh.LastSeq, Points: man.Shards[0].Points}, nil
}

// fileEntry is a snapshot.EntryWriter over a temporary file.
type fileEntry struct{ f *os.File }

func (e *fileEntry) Write(p []byte) (int, error) { return e.f.Write(p) }

func (e *fileEntry) Reset() error {
	if _, err := e.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	return e.f.Truncate(0)
}

func (e *fileEntry) Written() io.Reader {
	n, err := e.f.Seek(0, io.SeekCurrent)
	if err != nil {
		return io.MultiReader()
	}
	return io.NewSectionReader(e.f, 0, n)
}
