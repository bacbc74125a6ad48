package canary

import (
	"context"
	"syscall"
	"testing"
	"time"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRunOnce measures one canary run (every step) against a real
// standalone service on disk: wall time per run, and the process CPU time
// per run (cpu-ns/op, user + system, background indexing included), from
// which the overhead at an interval is cpu-ns/op ÷ interval (reported as
// pct-core@30s for the default interval).
func BenchmarkRunOnce(b *testing.B) {
	c, _, _ := newCanary(b, time.Hour)
	ctx := context.Background()
	if rep := c.RunOnce(ctx); !rep.OK() {
		b.Fatal(rep.Errors)
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	n := 0
	for b.Loop() {
		if rep := c.RunOnce(ctx); !rep.OK() {
			b.Fatal(rep.Errors)
		}
		n++
	}
	perRun := float64(cpuTime()-cpu0) / float64(n)
	b.ReportMetric(perRun, "cpu-ns/op")
	b.ReportMetric(100*perRun/float64(30*time.Second), "pct-core@30s")
}
