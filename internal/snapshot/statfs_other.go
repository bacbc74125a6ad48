//go:build !unix

package snapshot

// freeBytes is unknown here; extraction fails on a full disk instead.
func freeBytes(dir string) (uint64, bool) { return 0, false }
