//go:build !unix

package snapshot

func isCrossDevice(err error) bool { return false }
