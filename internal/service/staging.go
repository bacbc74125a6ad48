package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/durable"
	"github.com/shoal-db/shoal/internal/meta"
	"github.com/shoal-db/shoal/internal/replica"
)

// Staging leases (cluster restores). A restore stages shard archives on
// other nodes before it proposes the collection; if the node running it
// dies in between, nothing would ever remove them. So every staged
// generation has a lease, collections/<name>/gen-<g>.lease beside its
// directory: the peer running the restore (its owner), that peer's
// process incarnation, and a deadline. The owner takes the lease before it
// stages anything on a node and renews it on every node it staged on while
// the restore runs (every quarter of Options.StageTimeout). Every node
// sweeps its leases at start and then periodically (stageSweeper): once
// the metadata holds the generation the restore is done and the lease file
// goes; a lease past its deadline, or one this node owned in an earlier
// incarnation (this node restarted mid-restore), goes with its staged
// replicas.

// DefaultStageTimeout is how long staged replicas wait for their restore
// when Options.StageTimeout is 0.
const DefaultStageTimeout = 10 * time.Minute

// leaseExt ends the name of a staging lease file.
const leaseExt = ".lease"

// stageLease is the content of a lease file (JSON).
type stageLease struct {
	Owner   uint64    `json:"owner"`
	Boot    string    `json:"boot"`
	Expires time.Time `json:"expires"`
}

// newBootID returns a random id of this process's incarnation.
func newBootID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("cannot read random bytes: %v", err))
	}
	return hex.EncodeToString(b[:])
}

func (s *Service) stageTimeout() time.Duration {
	if s.opts.StageTimeout > 0 {
		return s.opts.StageTimeout
	}
	return DefaultStageTimeout
}

// leasePath is the lease file of the replicas staged for t's generation.
func (s *Service) leasePath(t replica.Target) string {
	return s.generationDir(t.Collection, t.Generation) + leaseExt
}

func readLease(p string) (stageLease, error) {
	var l stageLease
	b, err := os.ReadFile(p)
	if err != nil {
		return l, err
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return l, fmt.Errorf("cannot read staging lease %s: %w", p, err)
	}
	return l, nil
}

// LeaseStaged takes or renews the lease on the replicas staged for r's
// generation on this node (replica.Leaser).
func (s *Service) LeaseStaged(ctx context.Context, r *replica.LeaseRequest) error {
	t := r.Target
	t.Shard = 0
	if err := s.checkStageTarget(t); err != nil {
		return err
	}
	if r.TTLMillis <= 0 {
		return api.ErrBadRequest("a staging lease needs a positive ttl_ms")
	}
	s.stageMu.Lock()
	defer s.stageMu.Unlock()
	p := s.leasePath(t)
	if r.Renew {
		if _, err := os.Stat(p); err != nil {
			return api.ErrNotFound("no replicas of generation %d of %s are staged here (the lease expired?)", t.Generation, t.Collection)
		}
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("cannot write staging lease: %w", err)
	}
	b, err := json.Marshal(stageLease{Owner: r.Owner, Boot: r.Boot, Expires: s.opts.Now().Add(time.Duration(r.TTLMillis) * time.Millisecond).UTC()})
	if err != nil {
		return err
	}
	return durable.WriteFile(p, b, 0o644)
}

// checkLeased refuses to stage into a generation without a live lease.
func (s *Service) checkLeased(t replica.Target) error {
	l, err := readLease(s.leasePath(t))
	if err != nil || s.opts.Now().After(l.Expires) {
		return api.ErrBadRequest("generation %d of %s has no staging lease: take one (Lease) before staging", t.Generation, t.Collection)
	}
	return nil
}

// SweepStaged removes the staged replicas whose restore ended without
// proposing them: a lease past its deadline, or one this node owned in an
// earlier incarnation. Leases of restores that committed (the metadata
// holds their generation) are removed, their replicas kept. It first
// catches up with the metadata, so that a committed restore is seen.
func (s *Service) SweepStaged(ctx context.Context) error {
	if s.cluster == nil {
		return nil
	}
	leases, err := filepath.Glob(filepath.Join(s.collectionsDir(), "*", "gen-*"+leaseExt))
	if err != nil || len(leases) == 0 {
		return err
	}
	if err := s.cluster.ReadIndex(ctx); err != nil {
		return err
	}
	if fp := s.opts.Failpoint; fp != nil {
		if err := fp(FailpointStageSweepRead); err != nil {
			return err
		}
	}
	// Under reconMu no restore_collection is being applied: a generation
	// the metadata does not hold here is not opened while it is removed.
	s.reconMu.Lock()
	defer s.reconMu.Unlock()
	s.stageMu.Lock()
	defer s.stageMu.Unlock()
	st := s.state()
	s.mu.RLock()
	open := maps.Clone(s.gens)
	s.mu.RUnlock()
	now := s.opts.Now()
	var errs []error
	for _, p := range leases {
		name := filepath.Base(filepath.Dir(p))
		gen, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "gen-"), leaseExt), 10, 64)
		if err != nil || meta.GenerationDir(s.collectionDir(name), gen)+leaseExt != p {
			continue // not a lease file
		}
		// A generation open here is committed too: the state that names
		// it is published just after its restore_collection was applied.
		if c, ok := st.Collections[name]; ok && c.Generation == gen || open[name] == gen {
			errs = append(errs, removeLogged(s, p, "restore committed: its staging lease is removed", name, gen))
			continue
		}
		l, err := readLease(p)
		expired := err != nil || now.After(l.Expires)
		restarted := err == nil && l.Owner == s.cluster.ID() && l.Boot != s.boot
		if !expired && !restarted {
			continue
		}
		if _, err := os.Stat(s.generationDir(name, gen)); errors.Is(err, os.ErrNotExist) {
			// Nothing staged is left: a restore_shard installed it (or
			// staging never began).
			errs = append(errs, removeLogged(s, p, "staging lease of replicas no longer staged removed", name, gen))
			continue
		}
		reason := "its restore did not finish in time"
		if restarted && !expired {
			reason = "this node restarted while it ran their restore"
		}
		s.log.Warn("removing replicas staged for a restore that never committed", "collection", name, "generation", gen, "reason", reason)
		if err := os.RemoveAll(s.generationDir(name, gen)); err != nil {
			errs = append(errs, fmt.Errorf("cannot remove staged replicas: %w", err))
			continue
		}
		errs = append(errs, removeLogged(s, p, "", name, gen))
		os.Remove(s.collectionDir(name)) // only when empty: no other generation
	}
	return errors.Join(errs...)
}

func removeLogged(s *Service, p, msg, name string, gen uint64) error {
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cannot remove staging lease: %w", err)
	}
	if msg != "" {
		s.log.Info(msg, "collection", name, "generation", gen)
	}
	return nil
}

// stageSweeper runs SweepStaged at start and then every quarter of the
// stage timeout (at most a minute) until stop closes.
func (s *Service) stageSweeper(stop <-chan struct{}) {
	every := min(max(s.stageTimeout()/4, 100*time.Millisecond), time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), every+10*time.Second)
		go func() {
			select {
			case <-stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		if err := s.SweepStaged(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("cannot sweep staged replicas", "err", err)
		}
		cancel()
		select {
		case <-stop:
			return
		case <-time.After(every):
		}
	}
}

// stageLeases holds the leases a restore took, renewing them until done.
type stageLeases struct {
	s   *Service
	t   replica.Target
	mu  sync.Mutex
	on  map[uint64]bool
	end chan struct{}
	wg  sync.WaitGroup
}

// newStageLeases starts renewing the leases of t's generation that take
// adds, every quarter of the stage timeout, until close (or the service
// closes).
func (s *Service) newStageLeases(t replica.Target) *stageLeases {
	l := &stageLeases{s: s, t: t, on: map[uint64]bool{}, end: make(chan struct{})}
	s.mu.RLock()
	stop := s.stopLoops
	s.mu.RUnlock()
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		tick := time.NewTicker(max(s.stageTimeout()/4, 10*time.Millisecond))
		defer tick.Stop()
		for {
			select {
			case <-l.end:
				return
			case <-stop:
				return
			case <-tick.C:
				if err := l.renew(context.Background()); err != nil {
					s.log.Warn("cannot renew a staging lease", "collection", t.Collection, "generation", t.Generation, "err", err)
				}
			}
		}
	}()
	return l
}

// take takes the lease on peer (before the first replica staged there).
func (l *stageLeases) take(ctx context.Context, peer uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.on[peer] {
		return nil
	}
	if err := l.call(ctx, peer, false); err != nil {
		return err
	}
	l.on[peer] = true
	return nil
}

// renew renews every lease taken; it fails when one was lost.
func (l *stageLeases) renew(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for peer := range l.on {
		if err := l.call(ctx, peer, true); err != nil {
			errs = append(errs, fmt.Errorf("peer %d: %w", peer, err))
		}
	}
	return errors.Join(errs...)
}

func (l *stageLeases) call(ctx context.Context, peer uint64, renew bool) error {
	s := l.s
	r := &replica.LeaseRequest{Target: l.t, Owner: s.cluster.ID(), Boot: s.boot, TTLMillis: s.stageTimeout().Milliseconds(), Renew: renew}
	if peer == s.cluster.ID() {
		return s.LeaseStaged(ctx, r)
	}
	cc, err := s.opts.PeerDial(peer)
	if err != nil {
		return err
	}
	return replica.Lease(ctx, cc, r)
}

// close stops the renewals.
func (l *stageLeases) close() {
	close(l.end)
	l.wg.Wait()
}
