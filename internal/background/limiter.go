// Package background bounds the CPU that a node's background work (the
// writing, hashing and sending of snapshot archives) takes while the
// node's foreground work (writes) comes in.
//
// Pacing by bytes (a rate limit) cannot do this: what a megabyte costs
// depends on the path (read from the page cache, hashed, sent, written,
// read back), and a rate low enough to leave the cores to the writes
// slows the work when nothing else runs too. A Limiter instead measures
// the CPU time of the thread that does the work and, while the node is
// busy, sleeps as long as it takes to keep that time within a share of
// one core; when the node is quiet, the work runs at full speed.
package background

import (
	"context"
	"runtime"
	"time"
)

// Limiter bounds background work to a share of one core while busy
// reports true. A nil *Limiter does not limit.
type Limiter struct {
	share float64
	busy  func() bool
}

// New returns a limiter that lets background work use at most share of
// one core (0 < share < 1) while busy reports true. With share outside
// that range, or busy nil, it returns nil: no limit.
func New(share float64, busy func() bool) *Limiter {
	if !(share > 0 && share < 1) || busy == nil {
		return nil
	}
	return &Limiter{share: share, busy: busy}
}

// Share returns the limiter's share of one core (0 for a nil limiter).
func (l *Limiter) Share() float64 {
	if l == nil {
		return 0
	}
	return l.share
}

const (
	// minSleep is the shortest pause worth taking: below it the debt is
	// carried to the next Yield.
	minSleep = time.Millisecond
	// maxSleep bounds one pause, after which busy is asked again, so that
	// work held back by writes resumes soon after they stop.
	maxSleep = 100 * time.Millisecond
	// window bounds the credit that a stretch of light work (or of
	// waiting on the network or the disk) earns: past it, a Yield that
	// owes nothing starts the accounting afresh.
	window = time.Second
)

// Meter accounts the work of one goroutine. Start it on the goroutine
// that does the work, call Yield between pieces of work (each at most a
// few milliseconds of CPU), and Stop it when done, on the same goroutine.
// A nil *Meter does nothing.
type Meter struct {
	l   *Limiter
	ctx context.Context
	// wall and cpu mark the start of the accounting: a time and the
	// thread's CPU clock then.
	wall time.Time
	cpu  time.Duration
	// slept is the time Yield paused, in all (for tests).
	slept time.Duration
}

// Start returns a meter for work done on the calling goroutine, which it
// locks to its OS thread until Stop, so that the thread's CPU clock
// measures the work (on systems without a per-thread clock, the time
// between Yields counts as CPU, which errs on the side of the writes).
// It returns nil for a nil limiter.
func (l *Limiter) Start(ctx context.Context) *Meter {
	if l == nil {
		return nil
	}
	runtime.LockOSThread()
	m := &Meter{l: l, ctx: ctx}
	m.wall, m.cpu = time.Now(), threadCPU()
	return m
}

// Stop ends the meter and unlocks the goroutine from its thread.
func (m *Meter) Stop() {
	if m == nil || m.l == nil {
		return
	}
	m.l = nil
	runtime.UnlockOSThread()
}

// Yield pauses while the work since the last reset has used more than
// the limiter's share of the time since then and the node is busy. It
// returns early with the context's error.
func (m *Meter) Yield() error {
	if m == nil || m.l == nil {
		return nil
	}
	if err := m.ctx.Err(); err != nil {
		return err
	}
	for {
		now, cpu := time.Now(), threadCPU()
		if !m.l.busy() {
			m.wall, m.cpu = now, cpu
			return nil
		}
		elapsed := now.Sub(m.wall)
		owed := time.Duration(float64(cpu-m.cpu)/m.l.share) - elapsed
		if owed < minSleep {
			if owed <= 0 && elapsed > window {
				m.wall, m.cpu = now, cpu
			}
			return nil
		}
		t := time.NewTimer(min(owed, maxSleep))
		select {
		case <-m.ctx.Done():
			t.Stop()
			return m.ctx.Err()
		case <-t.C:
		}
		m.slept += time.Since(now)
	}
}
