package service

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/durable"
	"github.com/shoal-db/shoal/internal/meta"
	"github.com/shoal-db/shoal/internal/placement"
	"github.com/shoal-db/shoal/internal/replica"
	"github.com/shoal-db/shoal/internal/shard"
	"github.com/shoal-db/shoal/internal/snapshot"
)

// Shard restores in cluster mode (a shard snapshot recovered with
// PUT /collections/{name}/shards/{id}/snapshots/recover or its upload
// form, and a shard that lost every replica restored from the newest
// snapshot holding it): the data is staged on each of the shard's new
// replicas in a staging generation of its own (replica.Stage, under
// staging leases, exactly as a cluster restore stages a collection), then
// one restore_shard command makes those replicas the shard's, all Active,
// in a new epoch; the collection's other shards keep serving throughout.
// Applying it, a node holding one of the new replicas swaps the staged
// directory into the shard's place while requests for the collection
// wait, and a node that held a replica no longer listed removes it.

// peerDown reports whether this node's liveness pings find peer down.
func (s *Service) peerDown(peer uint64) bool {
	if peer == s.cluster.ID() {
		return false
	}
	s.live.mu.Lock()
	defer s.live.mu.Unlock()
	_, down := s.live.downSince[peer]
	return down
}

// RestoreClusterShard implements snapshot.ClusterSource.
func (h *SnapshotHooks) RestoreClusterShard(ctx context.Context, name string, id int, data snapshot.ShardData, priority string, lost bool) (snapshot.ShardRestore, error) {
	s := h.s
	if s.cluster == nil {
		return snapshot.ShardRestore{}, errNotClustered
	}
	if err := s.cluster.ReadIndex(ctx); err != nil {
		return snapshot.ShardRestore{}, err
	}
	st := s.state()
	c, ok := st.Collections[name]
	if !ok {
		return snapshot.ShardRestore{}, api.ErrCollectionNotFound(name)
	}
	if id < 0 || id >= len(c.Shards) {
		return snapshot.ShardRestore{}, api.ErrNotFound("Shard %d of collection `%s` doesn't exist", id, name)
	}
	if data.Config != nil && !reflect.DeepEqual(data.Config.Params.Vectors, c.Config.Params.Vectors) {
		return snapshot.ShardRestore{}, api.ErrBadInput("Snapshot is not compatible with existing collection: Collection vectors: %+v Snapshot Vectors: %+v",
			c.Config.Params.Vectors, data.Config.Params.Vectors)
	}
	if data.Config != nil && data.Config.Params.ShardNumber != c.Config.Params.ShardNumber {
		return snapshot.ShardRestore{}, api.ErrBadInput("Snapshot is not compatible with existing collection: Collection shard number: %d Snapshot shard number: %d",
			c.Config.Params.ShardNumber, data.Config.Params.ShardNumber)
	}
	sp := c.Shards[id]
	var liveActive []uint64
	for _, r := range sp.Replicas {
		if _, member := st.Peers[r.Peer]; member && r.State == api.ReplicaActive && !s.peerDown(r.Peer) {
			liveActive = append(liveActive, r.Peer)
		}
	}
	if lost && len(liveActive) > 0 {
		return snapshot.ShardRestore{}, api.ErrBadRequest("Shard %d of collection `%s` is not lost: peers %v hold an Active replica of it", id, name, liveActive)
	}
	if !lost && (priority == "" || priority == "replica") && len(liveActive) > 0 {
		s.log.Info("shard snapshot not restored: priority replica and the shard has an Active replica on a live peer", "collection", name, "shard", id)
		return snapshot.ShardRestore{Peers: sp.Peers(), Epoch: sp.Epoch}, nil
	}
	// The shard's current peers while they are all live members; else a
	// placement of its replication factor over the live, non-draining peers.
	peers := sp.Peers()
	keep := len(peers) > 0
	for _, p := range peers {
		if _, member := st.Peers[p]; !member || s.peerDown(p) {
			keep = false
		}
	}
	if !keep {
		var cands []placement.Peer
		for _, pid := range st.PeerIDs() {
			if s.peerDown(pid) || st.Draining[pid] {
				continue
			}
			p := st.Peers[pid]
			cands = append(cands, placement.Peer{ID: pid, Zone: p.Zone, Region: p.Region, Replicas: st.ReplicaCount(pid)})
		}
		plan, err := placement.Place(cands, 1, c.Config.Params.ReplicationFactor)
		if err != nil {
			return snapshot.ShardRestore{}, api.ErrUnavailable("cannot place shard %d of %s on the live peers: %v", id, name, err)
		}
		peers = plan[0]
	}
	epoch := data.Epoch
	if data.Archive == "" {
		e, err := shard.LastEpochIn(data.Dir)
		if err != nil {
			return snapshot.ShardRestore{}, api.ErrBadInput("snapshot shard %d: %v", id, err)
		}
		epoch = e
	}
	epoch = max(epoch, sp.Epoch+1)
	p := restorePlan{name: name, placement: [][]uint64{peers}, epochs: []uint64{epoch}, shard: &id, generation: c.Generation}
	trees := stagedTrees{}
	err := h.stageAndRestore(ctx, p, func(ctx context.Context, peer uint64, t replica.Target) error {
		if data.Archive != "" {
			return h.stage(ctx, peer, t, data.Archive)
		}
		return h.stageShardDir(ctx, peer, t, data, trees)
	})
	if err != nil {
		return snapshot.ShardRestore{}, err
	}
	return snapshot.ShardRestore{Restored: true, Peers: peers, Epoch: epoch}, nil
}

// stageShardDir stages a shard checkpoint directory (of an extracted
// collection or shard archive) on peer.
func (h *SnapshotHooks) stageShardDir(ctx context.Context, peer uint64, t replica.Target, data snapshot.ShardData, trees stagedTrees) error {
	man := *data.Manifest
	man.Shards = []snapshot.ShardManifest{{ID: t.Shard, Dir: snapshot.ShardDir(t.Shard), LastSeq: data.LastSeq, Points: data.Points}}
	root := filepath.Join(filepath.Dir(data.Dir), "stage-root-"+strconv.Itoa(t.Shard))
	target := filepath.Join(root, filepath.FromSlash(snapshot.ShardDir(t.Shard)))
	if _, err := os.Stat(target); err != nil {
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return fmt.Errorf("cannot prepare shard %d for staging: %w", t.Shard, err)
		}
		if err := os.Rename(data.Dir, target); err != nil {
			return fmt.Errorf("cannot prepare shard %d for staging: %w", t.Shard, err)
		}
	}
	return h.stageRoot(ctx, peer, t, &man, root, trees)
}

// restoredMarker names the file beside a replica restored by restore_shard
// that records the staging generation it came from, so that the command
// applied again (the Raft log replayed at start) keeps the replica as it is.
func restoredMarker(target string) string { return target + ".restored" }

// restoredShard applies a restore_shard on this node (Applied; caller
// holds reconMu): a new replica here takes the staged data's place, a
// replica no longer listed is removed, and a listed one whose staged data
// is gone (neither swapped in before, as the marker would say) is
// quarantined so that it is filled again from another replica.
func (s *Service) restoredShard(cmd *meta.Command, prev, next *meta.Collection) {
	if prev == nil || next == nil || prev.Generation != next.Generation || cmd.ShardID < 0 || cmd.ShardID >= len(next.Shards) {
		return
	}
	name, i, self := cmd.Collection, cmd.ShardID, s.cluster.ID()
	_, had := prev.Shards[i].Replica(self)
	_, has := next.Shards[i].Replica(self)
	target := filepath.Join(s.generationDir(name, next.Generation), strconv.Itoa(i))
	marker := restoredMarker(target)
	stagedGen := s.generationDir(name, cmd.Staged)
	staged := filepath.Join(stagedGen, strconv.Itoa(i))
	stagedStr := strconv.FormatUint(cmd.Staged, 10)
	var reopen []int
	var between func() error
	demote := false
	_, stagedErr := os.Stat(staged)
	mark, _ := os.ReadFile(marker)
	switch {
	case has && stagedErr == nil:
		reopen = []int{i}
		between = func() error {
			if err := snapshot.SwapDir(staged, target); err != nil {
				return fmt.Errorf("cannot install the restored replica of shard %d: %w", i, err)
			}
			os.Remove(stagedGen) // once empty
			return durable.WriteFile(marker, []byte(stagedStr), 0o644)
		}
	case has && strings.TrimSpace(string(mark)) == stagedStr:
		// Applied before (the log replayed): the replica holds the data.
	case has:
		s.log.Error("the staged replica of a restored shard is missing: quarantined, to be filled from another replica", "collection", name, "shard", i, "staged", staged)
		reopen, demote = []int{i}, true
		between = func() error {
			if _, err := os.Stat(target); err == nil {
				return os.Rename(target, fmt.Sprintf("%s.quarantine-%d", target, s.opts.Now().UnixNano()))
			}
			return nil
		}
	case had:
		between = func() error {
			os.Remove(marker)
			return os.RemoveAll(target)
		}
	}
	var lost []int
	if demote {
		lost = reopen // opened empty: never read nor a primary until filled
	}
	if err := s.reconfigureLost(name, next, reopen, lost, between); err != nil {
		s.log.Error("cannot apply a shard restore", "collection", name, "shard", i, "err", err)
	}
	if demote {
		go s.demote(name, next.Generation, i)
	}
	if has || had {
		s.log.Info("shard restored", "collection", name, "shard", i, "epoch", next.Shards[i].Epoch, "replica_here", has)
	}
}

// stagedTrees keeps the shard archives' manifests of one restore, each
// tree at its root scanned (every file hashed) once however many replicas
// it is staged on.
type stagedTrees map[string]*snapshot.Manifest

// stageRoot stages the shard archive of the tree at root (described by
// man, whose file list it fills once per trees) on peer, writing it while
// it is sent.
func (h *SnapshotHooks) stageRoot(ctx context.Context, peer uint64, t replica.Target, man *snapshot.Manifest, root string, trees stagedTrees) error {
	if done, ok := trees[root]; ok {
		man = done
	} else {
		man.Kind, man.Collection, man.PeerID = snapshot.KindShard, t.Collection, h.s.cluster.ID()
		if err := snapshot.ScanDir(ctx, root, man, nil); err != nil {
			return err
		}
		trees[root] = man
	}
	return h.stageArchive(ctx, peer, t, man, root)
}
