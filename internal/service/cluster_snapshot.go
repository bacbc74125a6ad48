package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/meta"
	"github.com/shoal-db/shoal/internal/placement"
	"github.com/shoal-db/shoal/internal/replica"
	"github.com/shoal-db/shoal/internal/shard"
	"github.com/shoal-db/shoal/internal/snapshot"
)

// Cluster snapshots (snapshot.ClusterSource): the layout is read from the
// metadata after a linearizable read; each shard is fetched once, from one
// Active replica (this node's first, then the primary, then the others),
// as a checkpoint archive (replica.WriteCheckpoint locally, replica.Fetch
// over the p2p port, paced by cluster.transfer_rate_limit_mb). A restore
// places the collection over this cluster's peers, stages each shard's
// archive on every new replica (replica.Stage), then proposes one
// restore_collection command, which every node applies by opening the
// staged replicas.

var _ snapshot.ClusterSource = (*SnapshotHooks)(nil)

// errNotClustered refuses a cluster snapshot on a standalone node.
var errNotClustered = api.ErrBadRequest("Cluster snapshots need a node in cluster mode")

// ClusterMode implements snapshot.ClusterSource.
func (h *SnapshotHooks) ClusterMode() bool { return h.s.cluster != nil }

// IsLeader implements snapshot.ClusterSource.
func (h *SnapshotHooks) IsLeader() bool {
	c := h.s.cluster
	return c != nil && c.Status().RaftInfo.Role == "Leader"
}

// ClusterLayout implements snapshot.ClusterSource.
func (h *SnapshotHooks) ClusterLayout(ctx context.Context) (*snapshot.ClusterLayout, error) {
	s := h.s
	if s.cluster == nil {
		return nil, errNotClustered
	}
	if err := s.cluster.ReadIndex(ctx); err != nil {
		return nil, err
	}
	st := s.state()
	out := &snapshot.ClusterLayout{ClusterID: st.ClusterID, Generations: map[string]uint64{}, Aliases: maps.Clone(st.Aliases)}
	names := st.CollectionNames()
	sort.Strings(names)
	for _, name := range names {
		if IsCanary(name) {
			continue
		}
		c := st.Collections[name]
		cfg := c.Config
		cc := snapshot.ClusterCollection{Name: name, Config: &cfg, PayloadIndexes: maps.Clone(c.PayloadIndexes)}
		for _, sp := range c.Shards {
			cc.Placement = append(cc.Placement, sp.Peers())
		}
		out.Collections = append(out.Collections, cc)
		out.Generations[name] = c.Generation
	}
	return out, nil
}

// activeReplicas returns the peers holding an Active replica of a shard:
// this node first, then the primary, then the others in placement order.
func activeReplicas(sp meta.ShardPlacement, self uint64) []uint64 {
	var out []uint64
	for _, r := range sp.Replicas {
		if r.State == api.ReplicaActive {
			out = append(out, r.Peer)
		}
	}
	if i := slices.Index(out, self); i > 0 {
		out = append([]uint64{self}, slices.Delete(out, i, i+1)...)
	}
	return out
}

// FetchShard implements snapshot.ClusterSource.
func (h *SnapshotHooks) FetchShard(ctx context.Context, name string, gen uint64, id int, w snapshot.EntryWriter) (snapshot.ClusterShard, error) {
	s := h.s
	if s.cluster == nil {
		return snapshot.ClusterShard{}, errNotClustered
	}
	c, ok := s.state().Collections[name]
	if !ok || c.Generation != gen {
		return snapshot.ClusterShard{}, api.ErrCollectionNotFound(name)
	}
	if id >= len(c.Shards) {
		return snapshot.ClusterShard{}, api.ErrNotFound("Shard %d of collection `%s` doesn't exist", id, name)
	}
	self := s.cluster.ID()
	t := replica.Target{Collection: name, Generation: gen, Shard: id}
	var errs []error
	for k, peer := range activeReplicas(c.Shards[id], self) {
		if k > 0 {
			if err := w.Reset(); err != nil {
				return snapshot.ClusterShard{}, err
			}
		}
		info, err := h.fetchFrom(ctx, peer, self, t, w)
		if err == nil {
			return snapshot.ClusterShard{ID: id, LastSeq: info.Seq, Epoch: info.Epoch, SourcePeer: peer}, nil
		}
		if ctx.Err() != nil {
			return snapshot.ClusterShard{}, ctx.Err()
		}
		s.log.Warn("cannot fetch a shard for a cluster snapshot; trying another replica", "collection", name, "shard", id, "peer", peer, "err", err)
		errs = append(errs, fmt.Errorf("peer %d: %w", peer, err))
	}
	if cur, ok := s.state().Collections[name]; !ok || cur.Generation != gen {
		return snapshot.ClusterShard{}, api.ErrCollectionNotFound(name)
	}
	if len(errs) == 0 {
		return snapshot.ClusterShard{}, api.ErrUnavailable("shard %d of collection %s has no Active replica", id, name)
	}
	return snapshot.ClusterShard{}, api.ErrUnavailable("cannot fetch shard %d of collection %s from any Active replica: %v", id, name, errors.Join(errs...))
}

// fetchFrom writes a checkpoint of peer's replica of t to w: this node's
// own (replica.WriteCheckpoint) or another's over the p2p port.
func (h *SnapshotHooks) fetchFrom(ctx context.Context, peer, self uint64, t replica.Target, w io.Writer) (replica.CheckpointInfo, error) {
	if peer == self {
		sh, cfg, release, err := h.s.CheckpointSource(ctx, t)
		if err != nil {
			return replica.CheckpointInfo{}, err
		}
		defer release()
		return replica.WriteCheckpoint(ctx, sh, t, cfg, self, h.s.opts.TransferRate, h.s.background, w)
	}
	cc, err := h.s.opts.PeerDial(peer)
	if err != nil {
		return replica.CheckpointInfo{}, err
	}
	return replica.Fetch(ctx, cc, t, h.s.opts.TransferRate, w)
}

// CheckpointSource finds this node's Active replica of a shard for a
// cluster snapshot (replica.CheckpointSource): the shard and its
// collection's configuration.
func (s *Service) CheckpointSource(ctx context.Context, t replica.Target) (*shard.Shard, api.CollectionConfig, func(), error) {
	c, ok := s.state().Collections[t.Collection]
	if !ok || c.Generation != t.Generation || t.Shard < 0 || t.Shard >= len(c.Shards) {
		return nil, api.CollectionConfig{}, nil, api.ErrCollectionNotFound(t.Collection)
	}
	if r, ok := c.Shards[t.Shard].Replica(s.cluster.ID()); !ok || r.State != api.ReplicaActive {
		return nil, api.CollectionConfig{}, nil, api.ErrUnavailable("the replica of shard %d of %s on peer %d is not Active", t.Shard, t.Collection, s.cluster.ID())
	}
	sh, _, release, err := s.LocateShard(ctx, t.Collection, t.Generation, t.Shard)
	if err != nil {
		return nil, api.CollectionConfig{}, nil, err
	}
	return sh, c.Config, release, nil
}

// stagedDir is where a staged replica of t lives: its place in the
// collection generation's directory, where opening the collection finds it.
func (s *Service) stagedDir(t replica.Target) string {
	return filepath.Join(s.generationDir(t.Collection, t.Generation), strconv.Itoa(t.Shard))
}

// checkStageTarget refuses to stage into a generation the metadata holds.
func (s *Service) checkStageTarget(t replica.Target) error {
	if s.cluster == nil {
		return errNotClustered
	}
	if err := ValidateCollectionName(t.Collection); err != nil {
		return err
	}
	if t.Generation == 0 || t.Shard < 0 || t.Shard >= MaxShardNumber {
		return api.ErrBadRequest("invalid staging target %+v", t)
	}
	if c, ok := s.state().Collections[t.Collection]; ok && c.Generation == t.Generation {
		return api.ErrBadRequest("generation %d of collection %s is live: it cannot be staged", t.Generation, t.Collection)
	}
	return nil
}

// StageReplica writes the shard archive read from r as this node's
// replica of t, a generation of the collection that the metadata does not
// hold yet (replica.Stager): it is extracted and verified beside its
// place, then renamed into it, so a replica is staged whole or not at all.
func (s *Service) StageReplica(ctx context.Context, t replica.Target, r io.Reader) error {
	if err := s.checkStageTarget(t); err != nil {
		return err
	}
	if err := s.checkLeased(t); err != nil {
		return err
	}
	target := s.stagedDir(t)
	if _, err := os.Lstat(target); err == nil {
		return api.ErrBadRequest("shard %d of generation %d of %s is already staged", t.Shard, t.Generation, t.Collection)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return fmt.Errorf("cannot stage a replica: %w", err)
	}
	tmp := snapshot.StagingDir(target)
	defer os.RemoveAll(tmp)
	_, err := snapshot.Extract(ctx, r, tmp, snapshot.ReadOptions{Check: func(man *snapshot.Manifest) error {
		if man.Kind != snapshot.KindShard || len(man.Shards) != 1 || man.Shards[0].ID != t.Shard {
			return api.ErrBadRequest("the staged archive is not a checkpoint of shard %d", t.Shard)
		}
		return nil
	}})
	if err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(tmp, "shards", strconv.Itoa(t.Shard)), target); err != nil {
		return fmt.Errorf("cannot stage a replica: %w", err)
	}
	s.log.Info("replica staged for a restore", "collection", t.Collection, "generation", t.Generation, "shard", t.Shard)
	return nil
}

// UnstageReplicas removes every replica staged for the generation of t
// (replica.Unstager), unless the metadata holds that generation.
func (s *Service) UnstageReplicas(ctx context.Context, t replica.Target) error {
	t.Shard = 0
	if err := s.checkStageTarget(t); err != nil {
		return err
	}
	s.stageMu.Lock()
	defer s.stageMu.Unlock()
	if err := os.RemoveAll(s.generationDir(t.Collection, t.Generation)); err != nil {
		return fmt.Errorf("cannot remove staged replicas: %w", err)
	}
	if err := os.Remove(s.leasePath(t)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cannot remove staging lease: %w", err)
	}
	return nil
}

// placeShards plans where the shards of a new collection go over the
// cluster's current peers.
func (s *Service) placeShards(st *meta.State, cfg api.CollectionConfig) ([][]uint64, error) {
	peers := make([]placement.Peer, 0, len(st.Peers))
	for _, id := range st.PeerIDs() {
		p := st.Peers[id]
		peers = append(peers, placement.Peer{ID: id, Zone: p.Zone, Region: p.Region, Replicas: st.ReplicaCount(id)})
	}
	plan, err := placement.Place(peers, cfg.Params.ShardNumber, cfg.Params.ReplicationFactor)
	if err != nil {
		return nil, api.ErrUnavailable("%v", err)
	}
	return plan, nil
}

// RestoreClusterCollection implements snapshot.ClusterSource.
func (h *SnapshotHooks) RestoreClusterCollection(ctx context.Context, name string, cc *snapshot.ClusterCollection, shardFile func(int) string) error {
	s := h.s
	if s.cluster == nil {
		return errNotClustered
	}
	if err := ValidateCollectionName(name); err != nil {
		return err
	}
	if err := checkSnapshotConfig(&snapshot.Manifest{Config: cc.Config}); err != nil {
		return err
	}
	if len(cc.Shards) != cc.Config.Params.ShardNumber {
		return api.ErrBadInput("snapshot holds %d shards of %s, its config says %d", len(cc.Shards), cc.Name, cc.Config.Params.ShardNumber)
	}
	if err := s.cluster.ReadIndex(ctx); err != nil {
		return err
	}
	st := s.state()
	if _, ok := st.Collections[name]; ok {
		return api.ErrBadInput("Collection `%s` already exists!", name)
	}
	if _, ok := st.Aliases[name]; ok {
		return api.ErrBadInput("Can't create collection with name %s. Alias with the same name already exists", name)
	}
	if n := s.limits.MaxCollections; n > 0 && len(st.Collections) >= n {
		return api.ErrBadInput("the number of collections is limited to %d", n)
	}
	plan, err := s.placeShards(st, *cc.Config)
	if err != nil {
		return err
	}
	epochs := make([]uint64, len(plan))
	for i := range plan {
		epochs[i] = max(1, cc.Shards[i].Epoch)
	}
	return h.stageAndRestore(ctx, restorePlan{name: name, config: cc.Config, payloadIndexes: cc.PayloadIndexes, placement: plan, epochs: epochs},
		func(ctx context.Context, peer uint64, t replica.Target) error {
			return h.stage(ctx, peer, t, shardFile(t.Shard))
		})
}

// restorePlan is a collection to restore through Raft from staged
// replicas: its metadata, each shard's peers (primary first) and starting
// epoch, and the generation of the collection it replaces (0: none). With
// shard set (restore_shard), placement holds that one shard's peers, and
// epochs its new epoch.
type restorePlan struct {
	name           string
	config         *api.CollectionConfig
	payloadIndexes map[string]api.PayloadFieldSchema
	placement      [][]uint64
	epochs         []uint64
	replaces       uint64
	shard          *int
	generation     uint64
}

// command returns the metadata command that commits p, whose replicas are
// staged in generation staged.
func (p *restorePlan) command(now time.Time, staged uint64) *meta.Command {
	if p.shard != nil {
		return &meta.Command{V: meta.RestoreReplaceCommandVersion, Type: meta.TypeRestoreShard, Collection: p.name, Generation: p.generation,
			ShardID: *p.shard, Placement: p.placement, Epoch: p.epochs[0], Staged: staged}
	}
	cmd := &meta.Command{V: meta.RestoreCommandVersion, Type: meta.TypeRestoreCollection, Collection: p.name, Config: p.config,
		PayloadIndexes: p.payloadIndexes, CreatedAt: now.UTC(), Generation: staged, Placement: p.placement, Epochs: p.epochs}
	if p.replaces != 0 {
		cmd.V, cmd.Replaces = meta.RestoreReplaceCommandVersion, p.replaces
	}
	return cmd
}

// stageAndRestore stages every shard of p on each of its peers under
// staging leases (stage writes one replica of a new generation), then
// proposes one restore_collection; staged replicas are removed again when
// the restore fails for certain.
func (h *SnapshotHooks) stageAndRestore(ctx context.Context, p restorePlan, stage func(ctx context.Context, peer uint64, t replica.Target) error) error {
	s := h.s
	name := p.name
	gen := newGeneration()
	staged := map[uint64]bool{}
	leases := s.newStageLeases(replica.Target{Collection: name, Generation: gen})
	defer leases.close()
	unstage := func() {
		for peer := range staged {
			t := replica.Target{Collection: name, Generation: gen}
			var err error
			if peer == s.cluster.ID() {
				err = s.UnstageReplicas(context.WithoutCancel(ctx), t)
			} else if cc, derr := s.opts.PeerDial(peer); derr != nil {
				err = derr
			} else {
				err = replica.Unstage(context.WithoutCancel(ctx), cc, t)
			}
			if err != nil {
				s.log.Warn("cannot remove the replicas staged by a failed restore", "collection", name, "generation", gen, "peer", peer, "err", err)
			}
		}
	}
	for i, peers := range p.placement {
		if p.shard != nil {
			i = *p.shard
		}
		for _, peer := range peers {
			staged[peer] = true
			err := leases.take(ctx, peer)
			if err == nil {
				err = stage(ctx, peer, replica.Target{Collection: name, Generation: gen, Shard: i})
			}
			if err != nil {
				unstage()
				return fmt.Errorf("cannot stage shard %d on peer %d: %w", i, peer, err)
			}
		}
	}
	if err := h.failpoint(FailpointClusterRestoreStaged); err != nil {
		unstage()
		return err
	}
	// Renewed just before the proposal, so that no node removes its staged
	// replicas while the command commits; a lease already lost means a
	// node removed them, and the restore cannot go on.
	if err := leases.renew(ctx); err != nil {
		unstage()
		return api.ErrUnavailable("cannot restore collection %s: a staging lease was lost: %v", name, err)
	}
	if err := h.failpoint(FailpointClusterRestoreRenewed); err != nil {
		unstage()
		return err
	}
	cmd := p.command(s.opts.Now(), gen)
	if err := s.cluster.Apply(ctx, cmd); err != nil {
		// Only a refusal by the state machine is final: after a timeout or
		// a lost leader the command may still commit, and its replicas must
		// then find their data, so the staged replicas stay.
		if k := api.KindOf(err); k == api.KindBadInput || k == api.KindNotFound {
			unstage()
		} else {
			s.log.Warn("restore not confirmed: its staged replicas are kept", "command", cmd.Type, "collection", name, "generation", gen, "err", err)
		}
		return err
	}
	if p.shard != nil {
		return nil
	}
	s.mu.RLock()
	_, opened := s.colls[name]
	opened = opened && s.gens[name] == gen
	s.mu.RUnlock()
	if !opened {
		return api.ErrInternal(nil, "cannot restore collection %s: its local shards did not open (see the log)", name)
	}
	return nil
}

// stage sends one shard archive file to peer (or stages it here).
func (h *SnapshotHooks) stage(ctx context.Context, peer uint64, t replica.Target, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cannot open shard archive: %w", err)
	}
	defer f.Close()
	if peer == h.s.cluster.ID() {
		return h.s.StageReplica(ctx, t, f)
	}
	cc, err := h.s.opts.PeerDial(peer)
	if err != nil {
		return err
	}
	return replica.Stage(ctx, cc, t, f)
}

// CreateAliases implements snapshot.ClusterSource: it creates, in one
// metadata change, every alias whose name is neither an alias nor a
// collection and whose target exists.
func (h *SnapshotHooks) CreateAliases(ctx context.Context, aliases map[string]string) ([]string, error) {
	s := h.s
	if s.cluster == nil {
		return nil, errNotClustered
	}
	if err := s.cluster.ReadIndex(ctx); err != nil {
		return nil, err
	}
	st := s.state()
	var created []string
	var actions []api.AliasOperation
	names := slices.Sorted(maps.Keys(aliases))
	for _, alias := range names {
		target := aliases[alias]
		_, taken := st.Aliases[alias]
		_, isColl := st.Collections[alias]
		_, exists := st.Collections[target]
		if taken || isColl || !exists {
			continue
		}
		actions = append(actions, api.AliasOperation{CreateAlias: &api.AliasDescription{CollectionName: target, AliasName: alias}})
		created = append(created, alias)
	}
	if len(actions) == 0 {
		return nil, nil
	}
	if err := s.cluster.Apply(ctx, &meta.Command{V: meta.CommandVersion, Type: meta.TypeChangeAliases, Aliases: actions}); err != nil {
		return nil, err
	}
	return created, nil
}
