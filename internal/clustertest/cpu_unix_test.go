//go:build unix

package clustertest

import (
	"syscall"
	"testing"
	"time"
)

// processCPU returns the CPU time (user and system) this test process has
// used so far: every in-process node's work, indexing included, which
// varies less with the machine's other load than wall-clock throughput.
func processCPU(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
