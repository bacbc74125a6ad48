package service

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/auth"
	"github.com/shoal-db/shoal/internal/background"
	"github.com/shoal-db/shoal/internal/collection"
	"github.com/shoal-db/shoal/internal/durable"
	"github.com/shoal-db/shoal/internal/meta"
	"github.com/shoal-db/shoal/internal/shard"
	"github.com/shoal-db/shoal/internal/snapshot"
)

// Cluster is the cluster membership as the service sees it (implemented
// by cluster.Node).
type Cluster interface {
	// ID returns this node's peer id.
	ID() uint64
	// State returns the applied metadata; callers must not modify it.
	State() *meta.State
	// Apply proposes a metadata change and waits until this node has
	// applied it, side effects included.
	Apply(ctx context.Context, cmd *meta.Command) error
	// ReadIndex waits until this node has applied everything committed
	// before the call (a linearizable read of State follows).
	ReadIndex(ctx context.Context) error
	// Status reports the cluster for GET /cluster.
	Status() *api.ClusterStatus
	// RemovePeer removes a peer (refused while it holds replicas, unless
	// force).
	RemovePeer(ctx context.Context, id uint64, force bool) error
	// RemoveReplacedPeer removes a dead peer holding no replica any more
	// (its replicas were re-created elsewhere); it is taken back if it
	// returns.
	RemoveReplacedPeer(ctx context.Context, id uint64) error
}

// RemoteTarget names a shard replica on another peer.
type RemoteTarget struct {
	Collection string
	Generation uint64
	Shard      int
	Peer       uint64
}

// newClustered returns a service whose metadata is the cluster's. It opens
// nothing: collections are opened by Applied and Restored as Raft replays
// the metadata.
func newClustered(opts Options) (*Service, error) {
	if _, err := os.Stat(filepath.Join(opts.StorageDir, meta.FileName)); err == nil {
		return nil, fmt.Errorf("cannot start in cluster mode: %s holds the metadata of a standalone node; "+
			"start this storage with cluster.enabled: false, or give the cluster node an empty storage directory",
			filepath.Join(opts.StorageDir, meta.FileName))
	}
	if err := os.MkdirAll(filepath.Join(opts.StorageDir, "collections"), 0o755); err != nil {
		return nil, fmt.Errorf("cannot start service: %w", err)
	}
	if opts.RemoteShard == nil {
		return nil, errors.New("cannot start service: cluster mode needs RemoteShard")
	}
	s := &Service{opts: opts, log: opts.Logger, limits: opts.Limits.withDefaults(), cluster: opts.Cluster, writes: opts.writeActivity(),
		colls: map[string]*collection.Collection{}, busy: map[string]chan struct{}{}, gens: map[string]uint64{},
		sets: map[string][]*replicaSet{}, boot: newBootID()}
	s.background = background.New(opts.SnapshotCPUShare, s.writes.Active)
	s.initSlots()
	s.stopLoops = make(chan struct{})
	go s.livenessLoop(s.stopLoops)
	go s.stageSweeper(s.stopLoops)
	s.log.Info("service started in cluster mode", "peer_id", opts.Cluster.ID(), "storage", opts.StorageDir)
	return s, nil
}

// errClusterUnsupported refuses what a cluster member cannot do yet.
func errClusterUnsupported(what string) error {
	return api.ErrBadRequest("%s is not supported in cluster mode by this version of Shoal", what)
}

// linearize makes the metadata reads that follow linearizable in cluster
// mode (nothing on a standalone node, whose metadata is local).
func (s *Service) linearize(ctx context.Context) error {
	if s.cluster == nil {
		return nil
	}
	return s.cluster.ReadIndex(ctx)
}

// clusterCreate places the shards over the peers and proposes the
// collection; every node opens its replicas when it applies the command.
func (s *Service) clusterCreate(ctx context.Context, name string, cfg api.CollectionConfig) error {
	st := s.state()
	if _, ok := st.Collections[name]; ok {
		return api.ErrBadInput("Collection `%s` already exists!", name)
	}
	if n := s.limits.MaxCollections; n > 0 && len(st.Collections) >= n {
		return api.ErrBadInput("the number of collections is limited to %d", n)
	}
	plan, err := s.placeShards(st, cfg)
	if err != nil {
		return err
	}
	cmd := &meta.Command{V: meta.ClusterCommandVersion, Type: meta.TypeCreateCollection, Collection: name, Config: &cfg,
		CreatedAt: s.opts.Now().UTC(), Placement: plan, Generation: newGeneration()}
	if err := s.cluster.Apply(ctx, cmd); err != nil {
		return err
	}
	s.mu.RLock()
	_, opened := s.colls[name]
	s.mu.RUnlock()
	if !opened {
		return api.ErrInternal(nil, "cannot create collection %s: its local shards did not open (see the log)", name)
	}
	return nil
}

// newGeneration returns a random non-zero generation below 2^53: the name
// of one incarnation of a collection's data directory.
func newGeneration() uint64 {
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			panic(fmt.Sprintf("cannot read random bytes: %v", err))
		}
		if g := binary.LittleEndian.Uint64(b[:]) & (1<<53 - 1); g != 0 {
			return g
		}
	}
}

// Applied implements cluster.Listener: the side effects of one applied
// metadata command on this node, in log order.
func (s *Service) Applied(cmd *meta.Command, prev, next *meta.State) {
	if fp := s.opts.Failpoint; fp != nil && (cmd.Type == meta.TypeRestoreCollection || cmd.Type == meta.TypeRestoreShard) {
		if err := fp(FailpointClusterRestoreApply); err != nil {
			s.log.Warn("failpoint before a restore's apply ignored", "err", err)
		}
	}
	s.reconMu.Lock()
	defer s.reconMu.Unlock()
	switch cmd.Type {
	case meta.TypeRestoreCollection:
		if old := prev.Collections[cmd.Collection]; old != nil {
			s.replaceGeneration(cmd.Collection, old, next.Collections[cmd.Collection])
			break
		}
		s.openRestored(cmd.Collection, next.Collections[cmd.Collection])
	case meta.TypeCreateCollection, meta.TypeReplaceCollection:
		s.openPlaced(cmd.Collection, next.Collections[cmd.Collection])
	case meta.TypeRestoreShard:
		s.restoredShard(cmd, prev.Collections[cmd.Collection], next.Collections[cmd.Collection])
	case meta.TypeDeleteCollection:
		s.dropPlaced(cmd.Collection, prev.Collections[cmd.Collection])
		s.rates.drop(cmd.Collection)
	case meta.TypeUpdateCollection:
		if c := s.openColl(cmd.Collection); c != nil {
			if pc, nc := prev.Collections[cmd.Collection], next.Collections[cmd.Collection]; pc != nil && nc != nil && reopenNeeded(pc.Config, nc.Config) {
				// on_disk, on_disk_payload or the optimizers changed:
				// this node's replicas open again with the new stores
				// and settings (requests wait), as for a vector change.
				if err := s.reopenWith(cmd.Collection, func() (*meta.Collection, error) { return nc, nil }); err != nil {
					s.log.Error("cannot reopen collection after a storage or optimizer change", "collection", cmd.Collection, "err", err)
				}
				break
			}
			c.SetConfig(next.Collections[cmd.Collection].Config)
		}
	case meta.TypeCreatePayloadIndex:
		if c := s.openColl(cmd.Collection); c != nil && cmd.Schema != nil {
			if err := c.CreatePayloadIndex(context.Background(), cmd.Field, *cmd.Schema); err != nil {
				s.log.Error("cannot build payload index", "collection", cmd.Collection, "field", cmd.Field, "err", err)
			}
		}
	case meta.TypeDropPayloadIndex:
		if c := s.openColl(cmd.Collection); c != nil {
			if err := c.DropPayloadIndex(context.Background(), cmd.Field); err != nil {
				s.log.Error("cannot drop payload index", "collection", cmd.Collection, "field", cmd.Field, "err", err)
			}
		}
	case meta.TypeCreateVector, meta.TypeDeleteVector:
		s.appliedVector(cmd, prev, next)
	case meta.TypeRemovePeer:
		for name, c := range next.Collections {
			if pc := prev.Collections[name]; pc != nil && !samePlacement(pc.Shards, c.Shards) {
				s.replaced(name, pc, c)
			}
		}
	case meta.TypeSetReplicaState, meta.TypeSetPrimary, meta.TypeAddReplica, meta.TypeDropReplica:
		s.replaced(cmd.Collection, prev.Collections[cmd.Collection], next.Collections[cmd.Collection])
	}
}

// replaced applies a change of a collection's placement on this node:
// when this node gains or loses a replica the collection is opened again
// with its new local shards (a dropped replica's files are removed);
// otherwise the replica sets learn the new states, primaries and epochs.
func (s *Service) replaced(name string, prev, next *meta.Collection) {
	if prev == nil || next == nil || prev.Generation != next.Generation {
		return
	}
	self := s.cluster.ID()
	gained, lost := false, []int{}
	for i := range next.Shards {
		_, had := prev.Shards[i].Replica(self)
		_, has := next.Shards[i].Replica(self)
		gained = gained || (has && !had)
		if had && !has {
			lost = append(lost, i)
		}
	}
	if gained || len(lost) > 0 {
		s.reconfigure(name, next, nil, func() error {
			for _, i := range lost {
				dir := filepath.Join(s.generationDir(name, next.Generation), strconv.Itoa(i))
				if err := os.RemoveAll(dir); err != nil {
					s.log.Error("cannot remove a dropped replica's files", "collection", name, "shard", i, "err", err)
				}
			}
			return nil
		})
		return
	}
	s.mu.RLock()
	sets := s.sets[name]
	open := s.gens[name] == next.Generation
	s.mu.RUnlock()
	if !open {
		return
	}
	for i, r := range sets {
		if r != nil && i < len(next.Shards) {
			r.sync(next.Shards[i])
		}
	}
}

// replaceGeneration applies a restore_collection that replaced collection
// name at generation old.Generation by next (a collection snapshot
// recovered in cluster mode): requests wait while the old generation is
// closed and its directory removed and the new one, whose replicas were
// staged, is opened. Caller holds reconMu.
func (s *Service) replaceGeneration(name string, old, next *meta.Collection) {
	s.reopen(name, nil, func() {
		if err := os.RemoveAll(s.generationDir(name, old.Generation)); err != nil {
			s.log.Error("cannot remove a replaced collection's files", "collection", name, "generation", old.Generation, "err", err)
		}
		s.openRestored(name, next)
	})
	s.log.Info("collection replaced by a restore", "collection", name, "from_generation", old.Generation, "generation", next.Generation)
}

// reopen closes a collection, runs between (changes to its files), and
// opens it again as m places it (the metadata being applied: during
// Applied the published state is still the previous one), while requests
// for it wait instead of failing. Caller holds reconMu.
func (s *Service) reopen(name string, m *meta.Collection, between func()) {
	done := make(chan struct{})
	s.mu.Lock()
	s.busy[name] = done
	s.mu.Unlock()
	defer s.unbusy(name, done)
	s.closeColl(name)
	if between != nil {
		between()
	}
	if m != nil {
		s.openPlaced(name, m)
	}
}

// unbusy ends the wait that busy[name] = done started: requests for the
// collection go on.
func (s *Service) unbusy(name string, done chan struct{}) {
	s.mu.Lock()
	delete(s.busy, name)
	s.mu.Unlock()
	close(done)
}

// stopSets stops the primaries of closed replica sets.
func stopSets(sets []*replicaSet) {
	for _, r := range sets {
		if r != nil {
			r.close()
		}
	}
}

// Restored implements cluster.Listener: the whole metadata was replaced
// from a Raft snapshot. Collections it does not name at their open
// generation are closed; the others are opened as placed. At start
// (caughtUp false) the closed collections' directories stay: the log
// entries replayed next may name them again (a restore_collection whose
// staged generation this node already committed to disk). After a catch-up
// from the leader's snapshot (caughtUp true), the data of every generation
// the metadata no longer holds is removed (removeUnheld), as the log
// entries this node missed (restore_collection, delete_collection) would
// have removed it.
func (s *Service) Restored(st *meta.State, caughtUp bool) {
	s.reconMu.Lock()
	defer s.reconMu.Unlock()
	s.mu.RLock()
	var stale []string
	for name := range s.colls {
		if m, ok := st.Collections[name]; !ok || m.Generation != s.gens[name] {
			stale = append(stale, name)
		}
	}
	s.mu.RUnlock()
	for _, name := range stale {
		s.closeColl(name)
	}
	if caughtUp {
		s.removeUnheld(st)
	}
	self := s.cluster.ID()
	prev := s.state() // published after Restored returns
	for _, name := range st.CollectionNames() {
		m := st.Collections[name]
		c := s.openColl(name)
		if c == nil {
			var behind []int
			if caughtUp {
				behind = s.epochsBehind(name, m)
			}
			if s.openPlacedLost(name, m, behind) {
				for _, i := range behind {
					go s.demote(name, m.Generation, i)
				}
			}
			continue
		}
		var missed []int
		if caughtUp {
			missed = s.missedEpochs(name, prev.Collections[name], m)
		}
		same := true
		for i, sp := range m.Shards {
			_, has := sp.Replica(self)
			same = same && has == (c.LocalShard(i) != nil)
		}
		if !same {
			s.reconfigure(name, m, nil, nil)
		} else {
			s.mu.RLock()
			sets := s.sets[name]
			s.mu.RUnlock()
			for i, r := range sets {
				if r != nil && i < len(m.Shards) {
					r.sync(m.Shards[i])
				}
			}
		}
		for _, i := range missed {
			go s.demote(name, m.Generation, i)
		}
	}
}

// epochsBehind is missedEpochs for a collection not open here: this
// node's replicas, Active with another Active replica beside them, whose
// data is missing (a restore_collection's staged replica swept after its
// lease ran out, or a new empty collection's, refilled at little cost) or
// whose last operation is of an epoch before the shard's in m (read from
// their stores). Caller holds reconMu.
func (s *Service) epochsBehind(name string, m *meta.Collection) []int {
	self := s.cluster.ID()
	var behind []int
	for i, sp := range m.Shards {
		rep, has := sp.Replica(self)
		if !has || rep.State != api.ReplicaActive || otherActive(m, i, self) == 0 {
			continue
		}
		dir := filepath.Join(s.generationDir(name, m.Generation), strconv.Itoa(i))
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			s.log.Warn("caught up from a Raft snapshot that places an Active replica here without its data: it opens empty, quarantined, to be refilled",
				"collection", name, "shard", i, "epoch", sp.Epoch)
			behind = append(behind, i)
			continue
		}
		e, err := shard.LastEpochIn(dir)
		if err != nil || e >= sp.Epoch {
			continue // unreadable: opening it quarantines it
		}
		s.log.Warn("caught up from a Raft snapshot past a new epoch of a shard: its replica here is quarantined and refilled, in case it missed a restore",
			"collection", name, "shard", i, "epoch", sp.Epoch, "data_epoch", e)
		behind = append(behind, i)
	}
	return behind
}

// missedEpochs finds this node's replicas of an open collection whose
// shard entered a new epoch in the leader's Raft snapshot st (m) that this
// node caught up from (prev is what it had applied): the log entries it
// skipped may have been a restore_shard, whose staged data it never
// swapped in, so its replica may hold data the others no longer do. Each
// such replica that is Active with another Active replica beside it is
// quarantined (never read, never a primary; reconfigure keeps the flag)
// and, once m is published, given up (demote) to be refilled by the
// primary with a checkpoint. A missed failover costs a refill only.
// Caller holds reconMu.
func (s *Service) missedEpochs(name string, prev, m *meta.Collection) []int {
	if prev == nil || prev.Generation != m.Generation {
		return nil
	}
	self := s.cluster.ID()
	s.mu.RLock()
	sets := s.sets[name]
	s.mu.RUnlock()
	var missed []int
	for i, sp := range m.Shards {
		if i >= len(prev.Shards) || i >= len(sets) || sets[i] == nil || sets[i].local == nil {
			continue
		}
		rep, has := sp.Replica(self)
		if _, had := prev.Shards[i].Replica(self); !had || !has || rep.State != api.ReplicaActive ||
			sp.Epoch <= prev.Shards[i].Epoch || otherActive(m, i, self) == 0 {
			continue
		}
		s.log.Warn("caught up from a Raft snapshot past a new epoch of a shard: its replica here is quarantined and refilled, in case it missed a restore",
			"collection", name, "shard", i, "epoch", sp.Epoch, "epoch_here", prev.Shards[i].Epoch)
		sets[i].mu.Lock()
		sets[i].quarantined = true
		sets[i].mu.Unlock()
		missed = append(missed, i)
	}
	return missed
}

// removeUnheld removes the collection data that st does not hold: in
// collections/<name>/ every generation but the one st names (everything
// when st has no such collection), except generations staged for a
// restore not committed yet (they have a lease file, and the staging
// sweep decides their fate). It runs after a catch-up from the leader's
// Raft snapshot, which holds everything this node applied before, so no
// log entry to come names a removed generation. Caller holds reconMu, and
// the collections removed are closed.
func (s *Service) removeUnheld(st *meta.State) {
	s.stageMu.Lock()
	defer s.stageMu.Unlock()
	entries, err := os.ReadDir(s.collectionsDir())
	if err != nil {
		s.log.Error("cannot list collections", "err", err)
		return
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		name := e.Name()
		dir := s.collectionDir(name)
		m, held := st.Collections[name]
		list, err := os.ReadDir(dir)
		if err != nil {
			s.log.Error("cannot list a collection directory", "dir", dir, "err", err)
			continue
		}
		leased := map[uint64]bool{}
		for _, f := range list {
			if g, ok := leaseGeneration(f.Name()); ok {
				leased[g] = true
			}
		}
		removed := false
		for _, f := range list {
			n := f.Name()
			if _, ok := leaseGeneration(n); ok {
				continue
			}
			if g, isGen := meta.ParseGenerationEntry(n); isGen && leased[g] {
				continue
			}
			if held && meta.BelongsToGeneration(n, m.Generation) {
				continue
			}
			p := filepath.Join(dir, n)
			s.log.Info("removing data of a collection generation the metadata no longer holds", "collection", name, "path", p)
			if err := os.RemoveAll(p); err != nil {
				s.log.Error("cannot remove the data of a replaced or deleted collection", "collection", name, "path", p, "err", err)
				continue
			}
			removed = true
		}
		if !held {
			os.Remove(dir) // only when empty: no staged generation
		}
		if removed {
			if err := durable.SyncDir(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
				s.log.Error("cannot sync a collection directory", "dir", dir, "err", err)
			}
		}
	}
}

// leaseGeneration reports whether entry, a name inside
// collections/<name>/, is a staging lease file, and of which generation.
func leaseGeneration(entry string) (uint64, bool) {
	g, ok := strings.CutSuffix(entry, leaseExt)
	if !ok {
		return 0, false
	}
	return meta.ParseGenerationEntry(g)
}

func samePlacement(a, b []meta.ShardPlacement) bool {
	return slices.EqualFunc(a, b, func(x, y meta.ShardPlacement) bool { return x.Epoch == y.Epoch && slices.Equal(x.Replicas, y.Replicas) })
}

func (s *Service) openColl(name string) *collection.Collection {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.colls[name]
}

// closeColl closes and forgets an open collection, keeping its files.
func (s *Service) closeColl(name string) {
	s.mu.Lock()
	c := s.colls[name]
	sets := s.sets[name]
	delete(s.colls, name)
	delete(s.gens, name)
	delete(s.sets, name)
	s.mu.Unlock()
	stopSets(sets)
	if c != nil {
		if err := c.Close(); err != nil {
			s.log.Error("cannot close collection", "collection", name, "err", err)
		}
	}
}

// placedOpen is what opening a collection as placed needs: which shards
// this node holds, the route that makes each shard's replica set (into
// sets), and the quarantine hook for a replica that fails to open.
type placedOpen struct {
	holds      func(i int) bool
	route      func(i int, local *shard.Shard) collection.Shard
	quarantine func(i int, dir string, err error) bool
	sets       []*replicaSet
	// quarantined marks the replicas opened empty to be filled again
	// (read by route, after every shard opened).
	quarantined []bool
}

// placed returns the placedOpen of collection name as m places it.
func (s *Service) placed(name string, m *meta.Collection) *placedOpen {
	self := s.cluster.ID()
	gen := m.Generation
	p := &placedOpen{sets: make([]*replicaSet, len(m.Shards)), quarantined: make([]bool, len(m.Shards))}
	quarantined := p.quarantined
	p.holds = func(i int) bool {
		return i < len(m.Shards) && slices.Contains(m.Shards[i].Peers(), self)
	}
	p.route = func(i int, local *shard.Shard) collection.Shard {
		if i >= len(m.Shards) || len(m.Shards[i].Replicas) == 0 {
			return noReplica{err: api.ErrUnavailable("shard %d of collection %s has no replica (its peers were removed)", i, name)}
		}
		p.sets[i] = newReplicaSet(s, name, gen, i, local)
		p.sets[i].quarantined = quarantined[i]
		return p.sets[i]
	}
	p.quarantine = func(i int, dir string, err error) bool {
		if !s.quarantine(name, m, i, dir, err) {
			return false
		}
		quarantined[i] = true // read by route, after every shard opened
		return true
	}
	return p
}

// openRestored opens the replicas of a collection that a
// restore_collection placed here, staged before it committed. A replica
// whose staged data is missing (its staging lease ran out, and the sweep
// removed it, before this node applied the restore) must not serve as the
// restored data: it opens empty and quarantined when another replica of
// its shard is Active, and this node gives up its standing (demote) so
// that the primary fills it again with a checkpoint; without another
// Active replica the collection stays closed here, as for a replica that
// cannot be opened. Caller holds reconMu.
func (s *Service) openRestored(name string, m *meta.Collection) {
	if m == nil {
		return
	}
	self := s.cluster.ID()
	var missing []int
	for i, sp := range m.Shards {
		if _, ok := sp.Replica(self); !ok {
			continue
		}
		dir := filepath.Join(s.generationDir(name, m.Generation), strconv.Itoa(i))
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			missing = append(missing, i)
		}
	}
	if !s.openPlacedLost(name, m, missing) {
		return
	}
	for _, i := range missing {
		s.log.Error("the staged replica of a restored shard is missing (its staging lease ran out before this node applied the restore): it opens empty, quarantined, to be filled from another replica",
			"collection", name, "shard", i, "generation", m.Generation)
		go s.demote(name, m.Generation, i)
	}
}

// openPlaced opens this node's replicas of a collection (creating their
// directories) and routes the other shards to their peers.
func (s *Service) openPlaced(name string, m *meta.Collection) {
	s.openPlacedLost(name, m, nil)
}

// openPlacedLost is openPlaced where this node's replicas of the shards
// lost are known to have lost their data (see openRestored): they open
// empty and quarantined (never read, never a primary) until they are
// filled again; the caller demotes them. Without another Active replica
// of such a shard nothing opens. It reports whether the collection opened.
func (s *Service) openPlacedLost(name string, m *meta.Collection, lost []int) bool {
	if m == nil {
		return false
	}
	gen := m.Generation
	p := s.placed(name, m)
	for _, i := range lost {
		if otherActive(m, i, s.cluster.ID()) == 0 {
			s.log.Error("the data of a replica is missing and no other replica is Active: the collection stays closed on this node",
				"collection", name, "shard", i, "generation", gen)
			return false
		}
		p.quarantined[i] = true
	}
	if err := snapshot.CleanStaleRestores(s.generationDir(name, gen)); err != nil {
		s.log.Error("cannot clean up an interrupted transfer", "collection", name, "err", err)
	}
	c, err := collection.Open(collection.Options{
		Dir:              s.generationDir(name, gen),
		Name:             name,
		Config:           m.Config,
		PayloadIndexes:   m.PayloadIndexes,
		Logger:           s.log,
		IndexingThreads:  s.opts.IndexingThreads,
		Writes:           s.writes,
		MinFreeDiskBytes: s.opts.MinFreeDiskBytes,
		Resolver:         s.resolver,
		ShardOptions:     s.opts.ShardOptions,
		Local:            p.holds,
		Route:            p.route,
		Quarantine:       p.quarantine,
	})
	if err != nil {
		s.log.Error("cannot open collection", "collection", name, "generation", gen, "err", err)
		return false
	}
	s.mu.Lock()
	s.colls[name] = c
	s.gens[name] = gen
	s.sets[name] = p.sets
	s.mu.Unlock()
	for i, r := range p.sets {
		if r != nil {
			r.sync(m.Shards[i])
		}
	}
	s.log.Info("collection opened", "collection", name, "shards", len(m.Shards), "generation", gen)
	return true
}

// reconfigure changes the replicas this node holds of an open collection
// to those m places here, without closing the replicas it keeps
// (collection.Reconfigure): replicas given up are closed, reopen lists
// replicas whose files between replaces, new ones are opened, and every
// shard gets a new replica set (the old ones are stopped, their calls in
// flight end with errReopened and run again). Requests wait meanwhile, as
// for reopen. A collection not open here at m's generation is opened
// whole (reopen). Caller holds reconMu.
func (s *Service) reconfigure(name string, m *meta.Collection, reopen []int, between func() error) error {
	return s.reconfigureLost(name, m, reopen, nil, between)
}

// reconfigureLost is reconfigure where this node's replicas of the shards
// lost (reopened) have lost their data: they open empty and quarantined
// (never read, never a primary) until they are filled again; the caller
// demotes them.
func (s *Service) reconfigureLost(name string, m *meta.Collection, reopen, lost []int, between func() error) error {
	s.mu.Lock()
	c := s.colls[name]
	if c == nil || s.gens[name] != m.Generation {
		s.mu.Unlock()
		var err error
		s.reopen(name, nil, func() {
			if between != nil {
				err = between()
			}
			s.openPlacedLost(name, m, lost)
		})
		return err
	}
	old := s.sets[name]
	delete(s.sets, name) // peers' calls wait for the new sets (busy)
	done := make(chan struct{})
	s.busy[name] = done
	s.mu.Unlock()
	defer s.unbusy(name, done)
	p := s.placed(name, m)
	for _, i := range lost {
		p.quarantined[i] = true
	}
	interrupted := false
	err := c.Reconfigure(collection.Reconfig{
		Config:         m.Config,
		PayloadIndexes: m.PayloadIndexes,
		Local:          p.holds,
		Reopen:         reopen,
		Route:          p.route,
		Interrupt:      func() { interrupted = true; stopSets(old) },
		Between:        between,
		Quarantine:     p.quarantine,
	})
	if !interrupted {
		// The collection was closing (the service shuts down): nothing
		// changed, and its replica sets stay as they were.
		s.mu.Lock()
		if s.colls[name] == c {
			s.sets[name] = old
		}
		s.mu.Unlock()
		return err
	}
	for i, r := range p.sets {
		// A kept replica that was found corrupt and opened empty stays
		// quarantined until it is filled again.
		if r != nil && i < len(old) && old[i] != nil && r.local != nil && r.local == old[i].local {
			old[i].mu.Lock()
			r.quarantined = r.quarantined || old[i].quarantined
			old[i].mu.Unlock()
		}
	}
	s.mu.Lock()
	s.sets[name] = p.sets
	s.mu.Unlock()
	for i, r := range p.sets {
		if r != nil {
			r.sync(m.Shards[i])
		}
	}
	if err != nil {
		s.log.Error("cannot change the replicas of a collection", "collection", name, "err", err)
	}
	return err
}

// quarantine handles a local replica that fails to open: when another
// replica of the shard is Active, the replica's directory is moved aside
// (kept for inspection, logged) and the shard opens empty; this node then
// gives up the replica's standing (Dead, or the primary handed to another
// Active replica) so that the primary fills it again with a checkpoint.
// The empty replica never acts as a primary meanwhile.
func (s *Service) quarantine(name string, m *meta.Collection, i int, dir string, cause error) bool {
	self := s.cluster.ID()
	if i >= len(m.Shards) {
		return false
	}
	if otherActive(m, i, self) == 0 {
		s.log.Error("replica cannot be opened and no other replica is Active: the collection stays closed on this node", "collection", name, "shard", i, "err", cause)
		return false
	}
	aside := fmt.Sprintf("%s.quarantine-%d", dir, s.opts.Now().UnixNano())
	if err := os.Rename(dir, aside); err != nil {
		s.log.Error("cannot quarantine a replica", "collection", name, "shard", i, "err", err)
		return false
	}
	s.log.Error("replica cannot be opened: quarantined, to be rebuilt from another replica", "collection", name, "shard", i, "moved_to", aside, "err", cause)
	// The proposal cannot wait on the apply goroutine that may be running
	// this open.
	go s.demote(name, m.Generation, i)
	return true
}

// otherActive counts the Active replicas of shard i on peers other than
// self.
func otherActive(m *meta.Collection, i int, self uint64) int {
	n := 0
	for _, r := range m.Shards[i].Replicas {
		if r.Peer != self && r.State == api.ReplicaActive {
			n++
		}
	}
	return n
}

// demote makes this node's quarantined replica of shard i Dead (handing
// the primary to another Active replica first when it holds it).
func (s *Service) demote(name string, gen uint64, i int) {
	self := s.cluster.ID()
	for attempt := 0; attempt < 60; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, ok := s.state().Collections[name]
		if !ok || c.Generation != gen || i >= len(c.Shards) {
			// Opened while the log replays, the collection may not be
			// published yet.
			cancel()
			time.Sleep(time.Second)
			continue
		}
		sp := c.Shards[i]
		r, ok := sp.Replica(self)
		if !ok || r.State == api.ReplicaDead {
			cancel()
			return
		}
		cmd := &meta.Command{V: meta.ReplicationCommandVersion, Collection: name, Generation: gen, ShardID: i, Epoch: sp.Epoch}
		if sp.Primary() == self {
			for _, o := range sp.Replicas[1:] {
				if o.State == api.ReplicaActive {
					cmd.Type, cmd.PeerID = meta.TypeSetPrimary, o.Peer
					break
				}
			}
		} else {
			cmd.Type, cmd.PeerID, cmd.State, cmd.FromState = meta.TypeSetReplicaState, self, api.ReplicaDead, r.State
		}
		var err error
		if cmd.Type == "" {
			err = errors.New("no other Active replica")
		} else {
			err = s.cluster.Apply(ctx, cmd)
		}
		cancel()
		if err == nil {
			continue // look again: the state may need one more step
		}
		s.log.Warn("cannot give up a quarantined replica yet", "collection", name, "shard", i, "err", err)
		time.Sleep(time.Second)
	}
}

// dropPlaced closes a deleted collection and removes its generation's
// directory (only that one: a later collection of the same name has
// another generation).
func (s *Service) dropPlaced(name string, m *meta.Collection) {
	s.mu.Lock()
	c := s.colls[name]
	if c != nil && m != nil && s.gens[name] != m.Generation {
		c = nil // an open collection of another generation is not the one deleted
	}
	var sets []*replicaSet
	if c != nil {
		sets = s.sets[name]
		delete(s.colls, name)
		delete(s.gens, name)
		delete(s.sets, name)
	}
	s.mu.Unlock()
	stopSets(sets)
	if c != nil {
		if err := c.Drop(); err != nil {
			s.log.Error("cannot close deleted collection", "collection", name, "err", err)
		}
	}
	if m == nil {
		return
	}
	if err := os.RemoveAll(s.generationDir(name, m.Generation)); err != nil {
		s.log.Error("cannot remove deleted collection's files", "collection", name, "err", err)
	}
	os.Remove(s.collectionDir(name)) // only when empty
	s.log.Info("collection deleted", "collection", name)
}

// LocateShard finds this node's replica of a shard for a call from
// another peer (remote.Locator). A collection not known yet is looked up
// again after a read index: the caller may have seen a newer metadata
// state than this node has applied.
func (s *Service) LocateShard(ctx context.Context, name string, gen uint64, id int) (*shard.Shard, func(using string) (api.Distance, error), func(), error) {
	for attempt := 0; ; attempt++ {
		s.mu.RLock()
		c, ok := s.colls[name]
		g := s.gens[name]
		s.mu.RUnlock()
		if ok && g == gen {
			release, err := c.Acquire()
			if err != nil {
				return nil, nil, nil, err
			}
			sh := c.LocalShard(id)
			if sh == nil {
				release()
				return nil, nil, nil, api.ErrNotFound("Shard %d of collection %s is not held by peer %d", id, name, s.cluster.ID())
			}
			dist := func(using string) (api.Distance, error) {
				p, ok := c.Config().Params.Vectors[using]
				if !ok {
					return "", api.ErrBadInput("Not existing vector name error: %s", using)
				}
				return p.Distance, nil
			}
			return sh, dist, release, nil
		}
		if attempt > 0 {
			return nil, nil, nil, api.ErrCollectionNotFound(name)
		}
		if err := s.cluster.ReadIndex(ctx); err != nil {
			return nil, nil, nil, err
		}
		// Applied runs on the FSM goroutine: wait for it to finish the
		// command the read index covered.
		s.reconMu.Lock()
		s.reconMu.Unlock() //nolint:staticcheck // an empty critical section waits for the listener
	}
}

// ClusterStatus reports GET /cluster: the cluster's view on a member,
// {"status":"disabled"} on a standalone node.
func (s *Service) ClusterStatus(ctx context.Context) (any, error) {
	if err := auth.FromContext(ctx).CheckGlobal(auth.Read); err != nil {
		return nil, err
	}
	if s.cluster == nil {
		return map[string]string{"status": "disabled"}, nil
	}
	st := s.cluster.Status()
	meta := s.state()
	for id, p := range st.Peers {
		n, err := strconv.ParseUint(id, 10, 64)
		if err != nil {
			continue
		}
		l := s.PeerLiveness(n)
		p.Liveness, p.DownForSec = l.State, l.DownFor.Seconds()
		p.Draining = meta.Draining[n]
		st.Peers[id] = p
	}
	return st, nil
}

// clusterInfo reports where a collection's shards live in a cluster.
func (s *Service) clusterInfo(ctx context.Context, c *collection.Collection) (*api.CollectionClusterInfo, error) {
	m, ok := s.state().Collections[c.Name()]
	if !ok {
		return nil, api.ErrCollectionNotFound(c.Name())
	}
	self := s.cluster.ID()
	info := &api.CollectionClusterInfo{PeerID: self, ShardCount: len(m.Shards),
		LocalShards: []api.LocalShardInfo{}, RemoteShards: []api.RemoteShardInfo{}, ShardTransfers: []api.ShardTransferInfo{}}
	for i, sp := range m.Shards {
		for _, r := range sp.Replicas {
			if r.State == api.ReplicaPartial || r.State == api.ReplicaRecovery {
				t := api.ShardTransferInfo{ShardID: uint32(i), From: sp.Primary(), To: r.Peer, Sync: r.State == api.ReplicaRecovery}
				if r.Method != "" {
					m := api.ShardTransferMethod(r.Method)
					t.Method = &m
				}
				info.ShardTransfers = append(info.ShardTransfers, t)
			}
		}
		for _, r := range sp.Replicas {
			if r.Peer == self {
				var n uint64
				if sh := c.LocalShard(i); sh != nil {
					var err error
					if n, err = sh.Count(ctx, nil, true); err != nil {
						return nil, err
					}
				}
				info.LocalShards = append(info.LocalShards, api.LocalShardInfo{ShardID: uint32(i), PointsCount: n, State: r.State})
				continue
			}
			info.RemoteShards = append(info.RemoteShards, api.RemoteShardInfo{ShardID: uint32(i), PeerID: r.Peer, State: r.State})
		}
	}
	return info, nil
}

// resolveLinearized is resolve after a read index (cluster mode).
func (s *Service) resolveLinearized(ctx context.Context, name string) (string, error) {
	if err := s.linearize(ctx); err != nil {
		return "", err
	}
	return s.resolve(name)
}

// clusterFieldIndex proposes a payload index; every node builds it on its
// replicas when it applies the command.
func (s *Service) clusterFieldIndex(ctx context.Context, name string, req *api.CreateFieldIndex, wp api.WriteParams) (*api.UpdateResult, error) {
	ctx, c, release, err := s.hold(ctx, name, auth.Manage)
	if err != nil {
		return nil, err
	}
	release()
	if err := checkFieldIndex(req); err != nil {
		return nil, err
	}
	if err := s.checkStrict(c, wp.TimeoutSeconds, false, 0, s.indexCountCheck(req.FieldName)); err != nil {
		return nil, err
	}
	err = s.cluster.Apply(ctx, &meta.Command{V: meta.CommandVersion, Type: meta.TypeCreatePayloadIndex, Collection: c.Name(),
		Field: req.FieldName, Schema: req.FieldSchema})
	if err != nil {
		return nil, err
	}
	return s.indexResult(c.Shards(), wp), nil
}

func (s *Service) clusterDropFieldIndex(ctx context.Context, name, field string, wp api.WriteParams) (*api.UpdateResult, error) {
	_, c, release, err := s.hold(ctx, name, auth.Manage)
	if err != nil {
		return nil, err
	}
	release()
	if err := s.cluster.Apply(ctx, &meta.Command{V: meta.CommandVersion, Type: meta.TypeDropPayloadIndex, Collection: c.Name(), Field: field}); err != nil {
		return nil, err
	}
	return s.indexResult(c.Shards(), wp), nil
}

// RemovePeer is DELETE /cluster/peer/{id}: it needs manage access to the
// whole node.
func (s *Service) RemovePeer(ctx context.Context, id uint64, force bool) error {
	if err := auth.FromContext(ctx).CheckGlobal(auth.Manage); err != nil {
		return err
	}
	if s.cluster == nil {
		return api.ErrStandalone
	}
	if !force && s.state().ReplicaCount(id) > 0 {
		// Without force a peer holding replicas is drained first: the
		// allocator moves them away, then removes it (heal.go).
		return s.drain(ctx, id)
	}
	return s.cluster.RemovePeer(ctx, id, force)
}

// RecoverPeer is POST /cluster/recover: this node catches up with the
// leader's metadata (Raft sends it a snapshot when it is too far behind).
func (s *Service) RecoverPeer(ctx context.Context) error {
	if err := auth.FromContext(ctx).CheckGlobal(auth.Manage); err != nil {
		return err
	}
	if s.cluster == nil {
		return api.ErrStandalone
	}
	return s.cluster.ReadIndex(ctx)
}
