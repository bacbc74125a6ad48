package durable

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback starts writing back the dirty pages of f in [off, off+n)
// without waiting for them.
func startWriteback(f *os.File, off, n int64) {
	unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}

// waitWriteback writes back the dirty pages of f in [off, off+n) and waits
// until they are written.
func waitWriteback(f *os.File, off, n int64) {
	unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER)
}
