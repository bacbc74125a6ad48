//go:build !linux

package snapshot

// exchange is not available here; SwapDir falls back to two renames.
func exchange(a, b string) (bool, error) { return false, nil }
