package background

import "time"

// epoch is the origin of wallCPU.
var epoch = time.Now()

// wallCPU is the fallback CPU clock: the time since the process started,
// so that every moment between two Yields counts as work.
func wallCPU() time.Duration { return time.Since(epoch) }
