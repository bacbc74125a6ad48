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

// maxPendingRuns bounds the due runs a node remembers while no node leads.
const maxPendingRuns = 8

// clusterPrev returns a cluster policy's last due time at or before t
// (zero when none within 400 days).
func (p *Policy) clusterPrev(t time.Time) time.Time {
	if p.Cron == nil {
		return t.UTC().Truncate(p.Interval)
	}
	for w := time.Minute; w <= 400*24*time.Hour; w *= 2 {
		first := p.Cron.Next(t.Add(-w))
		if first.IsZero() || first.After(t) {
			continue
		}
		for {
			next := p.Cron.Next(first)
			if next.IsZero() || next.After(t) {
				return first
			}
			first = next
		}
	}
	return time.Time{}
}

// clusterLoop runs a cluster policy once per cluster. Every node follows
// the same due times and remembers the runs that came due since it started
// and are not stored yet; only the Raft leader takes them, oldest first.
// Runs are named by their due time (ScheduledClusterSnapshotName), which
// makes them idempotent:
//
//   - A leader change never skips a run: a node that leads after a due time
//     and finds no archive of that name in the destinations takes it
//     (whether the previous leader died before or during the run, or the
//     election outlasted an interval: up to maxPendingRuns runs are kept;
//     a node starting takes over the last run due before it started, in
//     case it was the leader that went down),
//   - nor doubles one: a node that finds the archive leaves it, and two
//     leaders racing on one due time (the old one not yet aware that it was
//     deposed) write the same name, so one archive remains.
//
// A follower checks the destinations for the due runs' archives too, so its
// snapshot_age_seconds follows the cluster's runs rather than its own.
func (s *Scheduler) clusterLoop(ctx context.Context, p *Policy) {
	cp := s.opts.Producer.(ClusterProducer)
	clock := s.opts.Clock
	log := s.opts.Logger.With("policy", p.Name, "cluster", true)
	now := clock.Now()
	planned := p.clusterNext(now)
	// The last run due before this node started may never have been taken
	// (its leader restarted, and this may be that node): it is pending
	// until found in a destination.
	var pending []time.Time
	if prev := p.clusterPrev(now); !prev.IsZero() {
		pending = append(pending, prev)
	}
	for {
		if planned.IsZero() && len(pending) == 0 {
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
			pending, planned = append(pending, planned), p.clusterNext(planned)
		}
		if n := len(pending) - maxPendingRuns; n > 0 {
			log.Error("cluster snapshot runs missed: no node led the cluster while they were due", "runs", n, "first", pending[0], "last", pending[n-1])
			s.m.failures.WithLabelValues(p.Name, creationDestination).Add(float64(n))
			pending = pending[n:]
		}
		for len(pending) > 0 && ctx.Err() == nil {
			due := pending[0]
			name := ScheduledClusterSnapshotName(p.Name, due)
			if s.storedAnywhere(ctx, p, name) {
				pending = pending[1:]
				s.markOK(p, now)
				continue
			}
			if !cp.IsClusterLeader() {
				break
			}
			log.Info("cluster snapshot due", "due", due, "snapshot", name)
			s.RunClusterPolicy(ctx, p, due)
			pending = pending[1:]
		}
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
