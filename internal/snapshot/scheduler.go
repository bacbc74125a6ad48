package snapshot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Clock is the scheduler's time source; tests inject a controllable one
// (or run under testing/synctest with RealClock).
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// RealClock is the wall clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// After returns time.After(d).
func (RealClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// LocalArchive is a snapshot archive written to a local temporary file,
// ready to be shipped to destinations.
type LocalArchive struct {
	// Path is the local file; its owner removes it when done.
	Path string
	// Dir is the store directory the archive belongs in (CollectionDir, ...).
	Dir string
	// Description is the archive's name, time, size and checksum.
	Description Description
	// Manifest is the archive's manifest.
	Manifest *Manifest
}

// Producer makes the snapshots a Scheduler ships. Manager implements it.
type Producer interface {
	// CollectionNames lists the existing collections.
	CollectionNames(ctx context.Context) ([]string, error)
	// CreateArchive writes a snapshot of one collection into a new local
	// temporary file; the caller removes LocalArchive.Path when done.
	CreateArchive(ctx context.Context, collection string) (*LocalArchive, error)
	// CreateFullArchive writes a full-storage snapshot likewise.
	CreateFullArchive(ctx context.Context) (*LocalArchive, error)
	// VerifyArchive restores the archive into a scratch directory and checks it.
	VerifyArchive(ctx context.Context, a *LocalArchive) (*VerifyReport, error)
}

// SchedulerOptions configure a Scheduler.
type SchedulerOptions struct {
	// Policies to run.
	Policies []*Policy
	// Producer creates the archives.
	Producer Producer
	// Clock defaults to RealClock.
	Clock Clock
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registerer receives the snapshot_* metrics (none when nil).
	Registerer prometheus.Registerer
	// LeaderPoll is how often a cluster policy checks, between its runs,
	// whether this node leads and a run is due (DefaultLeaderPoll when 0).
	LeaderPoll time.Duration
}

// Scheduler runs snapshot policies: at each policy's time it snapshots the
// matching collections, optionally verifies each archive, ships it to every
// destination, and prunes every destination by the policy's retention. A
// failing destination is counted and logged and does not stop the others.
type Scheduler struct {
	opts SchedulerOptions
	m    *schedulerMetrics

	mu      sync.Mutex // guards running and lastOK
	running map[string]bool
	// lastOK is when each policy last ran without an error (its start:
	// the scheduler's creation), read by snapshot_age_seconds.
	lastOK map[string]time.Time
}

type schedulerMetrics struct {
	lastSuccess    *prometheus.GaugeVec
	duration       *prometheus.HistogramVec
	size           *prometheus.GaugeVec
	failures       *prometheus.CounterVec
	pruned         *prometheus.CounterVec
	verifyTotal    *prometheus.CounterVec
	verifyDuration *prometheus.HistogramVec
	verifyLastOK   *prometheus.GaugeVec
	verifyLast     *prometheus.GaugeVec
	interval       *prometheus.GaugeVec
	lastRunOK      *prometheus.GaugeVec
	lastRun        *prometheus.GaugeVec
}

// creationDestination is the destination label of failures that happen
// before any destination is involved (creating or verifying the archive).
const creationDestination = "none"

func newSchedulerMetrics(reg prometheus.Registerer) *schedulerMetrics {
	m := &schedulerMetrics{
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "snapshot_last_success_timestamp_seconds",
			Help: "Unix time of the last snapshot stored successfully, by policy and destination.",
		}, []string{"policy", "destination"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "snapshot_duration_seconds",
			Help:    "Time to create and ship one collection snapshot to every destination.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 16),
		}, []string{"policy"}),
		size: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "snapshot_size_bytes",
			Help: "Size of the last snapshot archive, by policy and collection (\"full\" for full-storage snapshots).",
		}, []string{"policy", "collection"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "snapshot_failures_total",
			Help: "Snapshot failures by policy and destination (destination \"none\": creating or verifying the archive failed).",
		}, []string{"policy", "destination"}),
		pruned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "snapshot_pruned_total",
			Help: "Snapshots deleted by retention, by policy and destination.",
		}, []string{"policy", "destination"}),
		verifyTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "snapshot_verify_total",
			Help: "Snapshot verifications by policy and result (ok, failed).",
		}, []string{"policy", "result"}),
		verifyDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "snapshot_verify_duration_seconds",
			Help:    "Time to verify one snapshot by restoring it into a scratch directory.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 16),
		}, []string{"policy"}),
		verifyLastOK: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "snapshot_verify_last_success_timestamp_seconds",
			Help: "Unix time of the last snapshot that passed verification, by policy.",
		}, []string{"policy"}),
		verifyLast: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "snapshot_verify_last_result",
			Help: "1 when the policy's last verified snapshot passed verification, 0 when it failed.",
		}, []string{"policy"}),
		interval: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "snapshot_interval_seconds",
			Help: "Seconds between two runs of the policy (a cron policy: between its next two runs when the scheduler started).",
		}, []string{"policy"}),
		lastRunOK: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "snapshot_last_run_success",
			Help: "1 when the policy's last run stored and verified every snapshot on every destination, 0 when anything failed.",
		}, []string{"policy"}),
		lastRun: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "snapshot_last_run_timestamp_seconds",
			Help: "Unix time the policy's last run ended.",
		}, []string{"policy"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.lastSuccess, m.duration, m.size, m.failures, m.pruned, m.verifyTotal, m.verifyDuration, m.verifyLastOK,
			m.verifyLast, m.interval, m.lastRunOK, m.lastRun} {
			reg.MustRegister(c)
		}
	}
	return m
}

// NewScheduler returns a scheduler for opts; Run starts it.
func NewScheduler(opts SchedulerOptions) (*Scheduler, error) {
	if opts.Producer == nil {
		return nil, errors.New("cannot create snapshot scheduler: no producer")
	}
	if opts.Clock == nil {
		opts.Clock = RealClock{}
	}
	if opts.LeaderPoll <= 0 {
		opts.LeaderPoll = DefaultLeaderPoll
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	names := map[string]bool{}
	for _, p := range opts.Policies {
		if names[p.Name] {
			return nil, fmt.Errorf("cannot create snapshot scheduler: two policies named %q", p.Name)
		}
		names[p.Name] = true
		if p.Interval <= 0 && p.Cron == nil {
			return nil, fmt.Errorf("cannot create snapshot scheduler: policy %q has neither interval nor cron", p.Name)
		}
		if cp, ok := opts.Producer.(ClusterProducer); p.Cluster && (!ok || !cp.ClusterMode()) {
			return nil, fmt.Errorf("cannot create snapshot scheduler: policy %q takes cluster snapshots, which need a node in cluster mode (cluster.enabled: true)", p.Name)
		}
	}
	s := &Scheduler{opts: opts, m: newSchedulerMetrics(opts.Registerer), running: map[string]bool{}, lastOK: map[string]time.Time{}}
	now := opts.Clock.Now()
	for _, p := range opts.Policies {
		s.lastOK[p.Name] = now
		if next := p.next(now); !next.IsZero() {
			if after := p.next(next); !after.IsZero() {
				s.m.interval.WithLabelValues(p.Name).Set(after.Sub(next).Seconds())
			}
		}
		if opts.Registerer != nil {
			name := p.Name
			age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name:        "snapshot_age_seconds",
				Help:        "Seconds since the policy last ran without an error (before that: since the scheduler started).",
				ConstLabels: prometheus.Labels{"policy": name},
			}, func() float64 { return s.Age(name).Seconds() })
			if err := opts.Registerer.Register(age); err != nil {
				return nil, fmt.Errorf("cannot register snapshot metrics: %w", err)
			}
		}
	}
	return s, nil
}

// Age returns how long ago the policy last ran without an error (before
// that: since the scheduler was created).
func (s *Scheduler) Age(policy string) time.Duration {
	s.mu.Lock()
	t := s.lastOK[policy]
	s.mu.Unlock()
	return s.opts.Clock.Now().Sub(t)
}

// recordRun sets the last-run metrics from a run's results.
func (s *Scheduler) recordRun(p *Policy, res []RunResult) {
	ok := true
	for _, r := range res {
		if len(r.Errors) > 0 {
			ok = false
		}
	}
	now := s.opts.Clock.Now()
	s.m.lastRun.WithLabelValues(p.Name).Set(float64(now.Unix()))
	if ok {
		s.m.lastRunOK.WithLabelValues(p.Name).Set(1)
		s.mu.Lock()
		s.lastOK[p.Name] = now
		s.mu.Unlock()
	} else {
		s.m.lastRunOK.WithLabelValues(p.Name).Set(0)
	}
}

// incompleteAborter is implemented by stores that can clean uploads a
// killed writer left unfinished (S3Store).
type incompleteAborter interface {
	AbortIncompleteUploads(ctx context.Context) error
}

// Run runs every policy on its schedule until ctx ends. It first asks every
// destination that supports it to abort uploads a killed process left
// unfinished.
func (s *Scheduler) Run(ctx context.Context) {
	var wg sync.WaitGroup
	seen := map[Store]bool{}
	for _, p := range s.opts.Policies {
		for _, st := range p.Destinations {
			a, ok := st.(incompleteAborter)
			if !ok || seen[st] {
				continue
			}
			seen[st] = true
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := a.AbortIncompleteUploads(ctx); err != nil && ctx.Err() == nil {
					s.opts.Logger.Warn("cannot abort incomplete snapshot uploads", "destination", st.String(), "err", err)
				}
			}()
		}
	}
	for _, p := range s.opts.Policies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if p.Cluster {
				s.clusterLoop(ctx, p)
				return
			}
			s.loop(ctx, p)
		}()
	}
	wg.Wait()
}

func (s *Scheduler) loop(ctx context.Context, p *Policy) {
	clock := s.opts.Clock
	planned := p.next(clock.Now())
	for {
		if planned.IsZero() {
			s.opts.Logger.Warn("snapshot policy never fires again", "policy", p.Name)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-clock.After(planned.Sub(clock.Now())):
		}
		s.RunPolicy(ctx, p)
		// Skip runs missed while this one ran; never run twice at once.
		now := clock.Now()
		for !planned.After(now) {
			planned = p.next(planned)
			if planned.IsZero() {
				break
			}
		}
	}
}

// RunResult is what one run of a policy did for one collection.
type RunResult struct {
	Collection string
	Snapshot   Description
	Verify     *VerifyReport
	// Stored lists the destinations that received the snapshot.
	Stored []string
	// Pruned maps destination to deleted snapshot names.
	Pruned map[string][]string
	// Errors describe failures (creation, verification, destinations).
	Errors []error
}

// RunPolicy runs p once now and returns what it did per collection. It
// returns nil if the policy is already running.
func (s *Scheduler) RunPolicy(ctx context.Context, p *Policy) []RunResult {
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
	log := s.opts.Logger.With("policy", p.Name)
	var out []RunResult
	defer func() { s.recordRun(p, out) }()
	if p.Full {
		out = []RunResult{s.runOne(ctx, p, "", log.With("full", true))}
		return out
	}
	names, err := s.opts.Producer.CollectionNames(ctx)
	if err != nil {
		s.m.failures.WithLabelValues(p.Name, creationDestination).Inc()
		log.Error("cannot list collections for snapshot policy", "err", err)
		out = []RunResult{{Errors: []error{err}}}
		return out
	}
	for _, name := range names {
		if !p.matches(name) || ctx.Err() != nil {
			continue
		}
		out = append(out, s.runOne(ctx, p, name, log.With("collection", name)))
	}
	return out
}

// runOne snapshots one collection (or, with an empty name, the full
// storage), verifies, ships and prunes.
func (s *Scheduler) runOne(ctx context.Context, p *Policy, name string, log *slog.Logger) RunResult {
	label, prefix := name, name+"-"
	if name == "" {
		label, prefix = "full", "full-snapshot-"
	}
	return s.runArchive(ctx, p, name, label, prefix, func() (*LocalArchive, error) {
		if name == "" {
			return s.opts.Producer.CreateFullArchive(ctx)
		}
		return s.opts.Producer.CreateArchive(ctx, name)
	}, log)
}

// runArchive creates an archive with create, verifies, ships it and
// prunes every destination's archives whose names start with prefix;
// label names the archive in the size metric.
func (s *Scheduler) runArchive(ctx context.Context, p *Policy, name, label, prefix string, create func() (*LocalArchive, error), log *slog.Logger) RunResult {
	clock := s.opts.Clock
	res := RunResult{Collection: name, Pruned: map[string][]string{}}
	start := clock.Now()
	a, err := create()
	if err != nil {
		s.m.failures.WithLabelValues(p.Name, creationDestination).Inc()
		log.Error("cannot create scheduled snapshot", "err", err)
		res.Errors = append(res.Errors, err)
		return res
	}
	defer os.Remove(a.Path)
	res.Snapshot = a.Description
	s.m.size.WithLabelValues(p.Name, label).Set(float64(a.Description.Size))
	var verifyJSON []byte
	if p.Verify {
		vstart := clock.Now()
		rep, err := s.opts.Producer.VerifyArchive(ctx, a)
		s.m.verifyDuration.WithLabelValues(p.Name).Observe(clock.Now().Sub(vstart).Seconds())
		if err != nil {
			rep = &VerifyReport{Name: a.Description.Name, Checksum: a.Description.Checksum, StartedAt: vstart.UTC(), Error: err.Error()}
		}
		res.Verify = rep
		s.m.verifyLast.WithLabelValues(p.Name).Set(boolGauge(rep.OK))
		if rep.OK {
			s.m.verifyTotal.WithLabelValues(p.Name, "ok").Inc()
			s.m.verifyLastOK.WithLabelValues(p.Name).Set(float64(clock.Now().Unix()))
		} else {
			s.m.verifyTotal.WithLabelValues(p.Name, "failed").Inc()
			s.m.failures.WithLabelValues(p.Name, creationDestination).Inc()
			log.Error("scheduled snapshot failed verification", "snapshot", a.Description.Name, "err", rep.Error)
			res.Errors = append(res.Errors, fmt.Errorf("snapshot %s failed verification: %s", a.Description.Name, rep.Error))
			// A snapshot that does not verify is not shipped: it would
			// displace good ones under retention.
			return res
		}
		verifyJSON, _ = json.MarshalIndent(rep, "", "  ")
	}
	for i, st := range p.Destinations {
		dest := st.String()
		// The last destination may take the file over (a rename locally).
		move := i == len(p.Destinations)-1
		if err := PutArchive(ctx, st, a.Dir, a.Description.Name, a.Path, a.Description.Checksum, move); err != nil {
			s.m.failures.WithLabelValues(p.Name, dest).Inc()
			log.Error("cannot store scheduled snapshot", "destination", dest, "err", err)
			res.Errors = append(res.Errors, err)
			continue
		}
		if verifyJSON != nil {
			key := Key(a.Dir, a.Description.Name+VerifyExt)
			if err := st.Put(ctx, key, bytes.NewReader(verifyJSON), int64(len(verifyJSON))); err != nil {
				log.Warn("cannot store verification report", "destination", dest, "err", err)
			}
		}
		res.Stored = append(res.Stored, dest)
		s.m.lastSuccess.WithLabelValues(p.Name, dest).Set(float64(clock.Now().Unix()))
		deleted, err := Prune(ctx, st, a.Dir, p.Retention, func(n string) bool {
			return strings.HasPrefix(n, prefix)
		})
		if len(deleted) > 0 {
			s.m.pruned.WithLabelValues(p.Name, dest).Add(float64(len(deleted)))
			res.Pruned[dest] = deleted
		}
		if err != nil {
			s.m.failures.WithLabelValues(p.Name, dest).Inc()
			log.Error("cannot prune snapshots", "destination", dest, "err", err)
			res.Errors = append(res.Errors, err)
		}
	}
	s.m.duration.WithLabelValues(p.Name).Observe(clock.Now().Sub(start).Seconds())
	if len(res.Stored) > 0 {
		log.Info("scheduled snapshot stored", "snapshot", a.Description.Name, "size", a.Description.Size, "destinations", res.Stored)
	}
	return res
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
