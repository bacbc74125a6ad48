package snapshot

import (
	"context"
	"errors"
	"io/fs"
	"time"
)

// DefaultLeaderPoll is how often a cluster policy checks between runs
// whether this node leads and a run is due.
const DefaultLeaderPoll = time.Second

// ClusterProducer makes cluster snapshots for cluster policies. Manager
// implements it.
type ClusterProducer interface {
	// CreateClusterArchive writes a cluster snapshot into a local
	// temporary file, named by name from its creation time.
	CreateClusterArchive(ctx context.Context, labels map[string]string, name func(created time.Time) string) (*LocalArchive, error)
	// IsClusterLeader reports whether this node leads the cluster.
	IsClusterLeader() bool
	// ClusterMode reports whether this node is a cluster member; a
	// scheduler refuses cluster policies on a node that is not.
	ClusterMode() bool
}

// clusterNext returns a cluster policy's first due time after t. Every node
// computes the same times: a cron's are absolute, and an interval is
// counted from the zero time rather than from the scheduler's start.
func (p *Policy) clusterNext(t time.Time) time.Time {
	if p.Cron != nil {
		return p.Cron.Next(t)
	}
	return t.UTC().Truncate(p.Interval).Add(p.Interval)
}

// clusterLoop runs a cluster policy once per cluster. Every node follows
// the same due times; only the Raft leader acts. Runs are named by their
// due time (ScheduledClusterSnapshotName), which makes them idempotent:
//
//   - A leader change neither skips a run: a node that leads after a due
//     time and finds no archive of that name in the destinations takes it
//     (whether the previous leader died before or during the run),
//   - nor doubles one: a node that finds the archive leaves it, and two
//     leaders racing on one due time (the old one not yet aware that it was
//     deposed) write the same name, so one archive remains.
//
// A follower checks the destinations for the due run's archive too, so its
// snapshot_age_seconds follows the cluster's runs rather than its own.
func (s *Scheduler) clusterLoop(ctx context.Context, p *Policy) {
	cp := s.opts.Producer.(ClusterProducer)
	clock := s.opts.Clock
	log := s.opts.Logger.With("policy", p.Name, "cluster", true)
	planned := p.clusterNext(clock.Now())
	// due is the last due time that has passed; done the last one known
	// to be stored (or, after a failed run, given up until the next).
	var due, done time.Time
	for {
		if planned.IsZero() && due.Equal(done) {
			log.Warn("snapshot policy never fires again")
			return
		}
		wait := s.opts.LeaderPoll
		if !planned.IsZero() {
			wait = min(wait, planned.Sub(clock.Now()))
		}
		select {
		case <-ctx.Done():
			return
		case <-clock.After(wait):
		}
		now := clock.Now()
		for !planned.IsZero() && !planned.After(now) {
			due, planned = planned, p.clusterNext(planned)
		}
		if due.IsZero() || !due.After(done) {
			continue
		}
		name := ScheduledClusterSnapshotName(p.Name, due)
		if s.storedAnywhere(ctx, p, name) {
			done = due
			s.markOK(p, now)
			continue
		}
		if !cp.IsClusterLeader() {
			continue
		}
		log.Info("cluster snapshot due", "due", due, "snapshot", name)
		s.RunClusterPolicy(ctx, p, due)
		done = due
	}
}

// storedAnywhere reports whether a destination holds the archive name of
// a cluster policy.
func (s *Scheduler) storedAnywhere(ctx context.Context, p *Policy, name string) bool {
	for _, st := range p.Destinations {
		_, err := st.Stat(ctx, Key(ClusterDir, name))
		if err == nil {
			return true
		}
		if !errors.Is(err, fs.ErrNotExist) && ctx.Err() == nil {
			s.opts.Logger.Warn("cannot check a destination for a cluster snapshot", "policy", p.Name, "destination", st.String(), "err", err)
		}
	}
	return false
}

// markOK records that the policy's latest run is stored (observed by a
// node that did not run it).
func (s *Scheduler) markOK(p *Policy, now time.Time) {
	s.mu.Lock()
	if now.After(s.lastOK[p.Name]) {
		s.lastOK[p.Name] = now
	}
	s.mu.Unlock()
}

// RunClusterPolicy takes the cluster snapshot of p's run due at due now,
// verifies, ships and prunes it; it returns nil if the policy is already
// running here.
func (s *Scheduler) RunClusterPolicy(ctx context.Context, p *Policy, due time.Time) *RunResult {
	s.mu.Lock()
	if s.running[p.Name] {
		s.mu.Unlock()
		return nil
	}
	s.running[p.Name] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.running, p.Name)
		s.mu.Unlock()
	}()
	cp := s.opts.Producer.(ClusterProducer)
	log := s.opts.Logger.With("policy", p.Name, "cluster", true)
	name := ScheduledClusterSnapshotName(p.Name, due)
	res := s.runArchive(ctx, p, "", "cluster", clusterPrefix+p.Name+"-", func() (*LocalArchive, error) {
		return cp.CreateClusterArchive(ctx, map[string]string{"policy": p.Name, "due": due.UTC().Format(time.RFC3339)},
			func(time.Time) string { return name })
	}, log)
	s.recordRun(p, []RunResult{res})
	return &res
}
