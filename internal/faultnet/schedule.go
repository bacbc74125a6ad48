package faultnet

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// FaultKind names one kind of fault a Schedule may choose.
type FaultKind int

// The faults a Schedule chooses from.
const (
	// FaultPartition splits the nodes into a random minority and the
	// majority (Net.Partition: bytes dropped, cut connections reset at
	// the heal).
	FaultPartition FaultKind = iota
	// FaultIsolate cuts one random node off from all others.
	FaultIsolate
	// FaultCut drops one random directed link (Net.Cut).
	FaultCut
	// FaultBlackhole holds the bytes of every link of one random node and
	// delivers them at the heal (Proxy.Blackhole).
	FaultBlackhole
	// FaultDelay delays every link by a random latency and jitter.
	FaultDelay
	// FaultBandwidth caps every link of one random node.
	FaultBandwidth
	// FaultReset resets every open connection of one random node's links.
	FaultReset
	// FaultRefuse makes one random node refuse new connections from all
	// others.
	FaultRefuse
	numFaults
)

var faultNames = [numFaults]string{"partition", "isolate", "cut", "blackhole", "delay", "bandwidth", "reset", "refuse"}

// String returns the fault's name.
func (k FaultKind) String() string {
	if k < 0 || k >= numFaults {
		return fmt.Sprintf("FaultKind(%d)", int(k))
	}
	return faultNames[k]
}

// Schedule describes a random sequence of faults. The sequence (Plan) is a
// pure function of Seed, Steps, Faults, the hold and gap ranges and the
// number of nodes, so a failing run is repeated by setting Seed to the value
// Run printed; the timing against the system under test is real time and
// varies.
type Schedule struct {
	// Seed seeds the plan. Run replaces 0 with a seed drawn at random and
	// prints the seed it uses either way.
	Seed uint64
	// Steps is the number of faults.
	Steps int
	// Faults lists the kinds to choose from; empty means all.
	Faults []FaultKind
	// MinHold and MaxHold bound how long each fault lasts (defaults 200 ms
	// and 1 s).
	MinHold, MaxHold time.Duration
	// MinGap and MaxGap bound the healthy pause after each heal (defaults
	// 100 ms and 500 ms).
	MinGap, MaxGap time.Duration
}

// Step is one planned fault: Apply switches it on, Hold later Heal ends it,
// and Gap passes before the next step.
type Step struct {
	Kind FaultKind
	// Node is the node of FaultIsolate, FaultBlackhole, FaultBandwidth,
	// FaultReset and FaultRefuse.
	Node int
	// Minority is the smaller side of FaultPartition.
	Minority []int
	// From and To are the link of FaultCut.
	From, To int
	// Delay and Jitter are FaultDelay's latency.
	Delay, Jitter time.Duration
	// Bandwidth is FaultBandwidth's cap in bytes per second.
	Bandwidth int
	Hold, Gap time.Duration
}

// String describes the step in one line.
func (s Step) String() string {
	var what string
	switch s.Kind {
	case FaultPartition:
		what = fmt.Sprintf("partition %v from the rest", s.Minority)
	case FaultCut:
		what = fmt.Sprintf("cut link %d->%d", s.From, s.To)
	case FaultDelay:
		what = fmt.Sprintf("delay all links %v + [0,%v)", s.Delay, s.Jitter)
	case FaultBandwidth:
		what = fmt.Sprintf("bandwidth %d B/s on the links of node %d", s.Bandwidth, s.Node)
	default:
		what = fmt.Sprintf("%v node %d", s.Kind, s.Node)
	}
	return fmt.Sprintf("%s for %v, then heal and wait %v", what, s.Hold, s.Gap)
}

// Plan returns the steps of the schedule for a net of nodes nodes (at least
// two). It panics on an invalid schedule.
func (s Schedule) Plan(nodes int) []Step {
	if nodes < 2 {
		panic("faultnet: a schedule needs at least two nodes")
	}
	s = s.withDefaults()
	rng := rand.New(rand.NewPCG(s.Seed, s.Seed^0x6a09e667f3bcc909))
	between := func(lo, hi time.Duration) time.Duration {
		if hi <= lo {
			return lo
		}
		return lo + time.Duration(rng.Int64N(int64(hi-lo)))
	}
	steps := make([]Step, s.Steps)
	for i := range steps {
		st := Step{Kind: s.Faults[rng.IntN(len(s.Faults))], Node: rng.IntN(nodes)}
		switch st.Kind {
		case FaultPartition:
			perm := rng.Perm(nodes)
			st.Minority = perm[:1+rng.IntN(max(1, (nodes-1)/2))]
		case FaultCut:
			st.From = rng.IntN(nodes)
			st.To = (st.From + 1 + rng.IntN(nodes-1)) % nodes
		case FaultDelay:
			st.Delay = time.Duration(1+rng.IntN(100)) * time.Millisecond
			st.Jitter = time.Duration(rng.IntN(50)) * time.Millisecond
		case FaultBandwidth:
			st.Bandwidth = (16 + rng.IntN(1009)) << 10 // 16 KiB/s .. 1 MiB/s
		}
		st.Hold = between(s.MinHold, s.MaxHold)
		st.Gap = between(s.MinGap, s.MaxGap)
		steps[i] = st
	}
	return steps
}

func (s Schedule) withDefaults() Schedule {
	if len(s.Faults) == 0 {
		for k := range numFaults {
			s.Faults = append(s.Faults, k)
		}
	}
	for _, k := range s.Faults {
		if k < 0 || k >= numFaults {
			panic(fmt.Sprintf("faultnet: unknown fault kind %d", int(k)))
		}
	}
	if s.MinHold == 0 && s.MaxHold == 0 {
		s.MinHold, s.MaxHold = 200*time.Millisecond, time.Second
	}
	if s.MinGap == 0 && s.MaxGap == 0 {
		s.MinGap, s.MaxGap = 100*time.Millisecond, 500*time.Millisecond
	}
	if s.Steps < 0 || s.MinHold < 0 || s.MaxHold < s.MinHold || s.MinGap < 0 || s.MaxGap < s.MinGap {
		panic(fmt.Sprintf("faultnet: invalid schedule %+v", s))
	}
	return s
}

// Apply switches the step's fault on.
func (n *Net) Apply(s Step) {
	switch s.Kind {
	case FaultPartition:
		n.Partition(s.Minority)
	case FaultIsolate:
		n.Isolate(s.Node)
	case FaultCut:
		n.Cut(s.From, s.To)
	case FaultBlackhole:
		for _, p := range n.linksOf(s.Node) {
			p.Blackhole(true)
		}
	case FaultDelay:
		n.Links(func(_, _ int, p *Proxy) { p.Delay(s.Delay, s.Jitter) })
	case FaultBandwidth:
		for _, p := range n.linksOf(s.Node) {
			p.Bandwidth(s.Bandwidth)
		}
	case FaultReset:
		for _, p := range n.linksOf(s.Node) {
			p.Reset()
		}
	case FaultRefuse:
		for _, from := range others(n.Size(), []int{s.Node}) {
			n.Link(from, s.Node).Refuse(true)
		}
	default:
		panic(fmt.Sprintf("faultnet: unknown fault kind %d", int(s.Kind)))
	}
}

// Run plays the schedule on the net: for each step it applies the fault,
// waits Hold, heals every link and waits Gap. It first logs the seed through
// logf (t.Logf in a test), then every step as it starts. It returns the seed
// it used, and ctx's error if ctx ended first (the net is healed then too).
func (n *Net) Run(ctx context.Context, s Schedule, logf func(format string, args ...any)) (seed uint64, err error) {
	if s.Seed == 0 {
		s.Seed = rand.Uint64() | 1
	}
	logf("faultnet: schedule seed %d (set Schedule.Seed to %d to replay the same faults)", s.Seed, s.Seed)
	defer n.Heal()
	for i, st := range s.Plan(n.Size()) {
		logf("faultnet: step %d/%d: %v", i+1, s.Steps, st)
		n.Apply(st)
		if err := sleep(ctx, st.Hold); err != nil {
			return s.Seed, err
		}
		n.Heal()
		if err := sleep(ctx, st.Gap); err != nil {
			return s.Seed, err
		}
	}
	return s.Seed, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
