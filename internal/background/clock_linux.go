package background

import (
	"time"

	"golang.org/x/sys/unix"
)

// threadCPU returns the calling thread's CPU clock (user and system time).
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return wallCPU()
	}
	return time.Duration(ts.Nano())
}
