//go:build !linux

package background

import "time"

// threadCPU returns the wall clock: without a per-thread CPU clock, all of
// the time counts as the work's.
func threadCPU() time.Duration { return wallCPU() }
