package background

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// spin burns the calling thread's CPU for about d of CPU time.
func spin(d time.Duration) uint64 {
	start := threadCPU()
	x := uint64(1)
	for threadCPU()-start < d {
		for i := 0; i < 1000; i++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	return x
}

// work runs pieces of about 500 µs of CPU for wall time d on a meter of l,
// yielding after each, and returns the CPU it used and the meter's pauses.
func work(t *testing.T, l *Limiter, d time.Duration) (cpu, slept time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		m := l.Start(context.Background())
		defer m.Stop()
		start, c0 := time.Now(), threadCPU()
		for time.Since(start) < d {
			spin(500 * time.Microsecond)
			if err := m.Yield(); err != nil {
				t.Error(err)
				return
			}
		}
		cpu, slept = threadCPU()-c0, m.slept
	}()
	<-done
	return cpu, slept
}

func TestMeterHoldsItsShareWhileBusy(t *testing.T) {
	const share, wall = 0.2, 1500 * time.Millisecond
	cpu, slept := work(t, New(share, func() bool { return true }), wall)
	// Without the limiter the loop uses all the CPU it gets (at least
	// 0.5 of a core even on a loaded 2-core machine); with it, at most the
	// share plus one piece of work and the debt carried below minSleep.
	if limit := time.Duration(share*float64(wall)) + 25*time.Millisecond; cpu > limit {
		t.Fatalf("work used %v of CPU in %v at a share of %v: want at most %v", cpu, wall, share, limit)
	}
	t.Logf("cpu %v, paused %v in %v", cpu, slept, wall)
}

func TestMeterRunsFreelyWhileQuiet(t *testing.T) {
	_, slept := work(t, New(0.05, func() bool { return false }), 300*time.Millisecond)
	if slept != 0 {
		t.Fatalf("work paused %v while the node was quiet", slept)
	}
}

func TestMeterResumesWhenWritesStop(t *testing.T) {
	var busy atomic.Bool
	busy.Store(true)
	l := New(0.01, busy.Load)
	m := l.Start(context.Background())
	defer m.Stop()
	spin(20 * time.Millisecond) // owes about 2 s of pause at 1 %
	time.AfterFunc(200*time.Millisecond, func() { busy.Store(false) })
	start := time.Now()
	if err := m.Yield(); err != nil {
		t.Fatal(err)
	}
	// The pause ends within maxSleep of the writes' end, not after the
	// 2 s owed.
	if took := time.Since(start); took < 150*time.Millisecond || took > time.Second {
		t.Fatalf("Yield returned after %v: want about 200 ms + up to %v", took, maxSleep)
	}
}

func TestMeterStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	l := New(0.01, func() bool { return true })
	m := l.Start(ctx)
	defer m.Stop()
	spin(20 * time.Millisecond)
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	if err := m.Yield(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Yield = %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("Yield returned %v after the cancel", took)
	}
}

func TestNoLimit(t *testing.T) {
	busy := func() bool { return true }
	for _, l := range []*Limiter{New(0, busy), New(1, busy), New(-0.5, busy), New(0.5, nil)} {
		if l != nil {
			t.Fatalf("New gave a limiter %+v, want none", l)
		}
	}
	var l *Limiter
	m := l.Start(context.Background())
	if err := m.Yield(); err != nil || m != nil || l.Share() != 0 {
		t.Fatalf("a nil limiter limits: meter %v, Yield %v", m, err)
	}
	m.Stop()
}
