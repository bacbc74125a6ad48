//go:build linux

package shard

import (
	"errors"

	"golang.org/x/sys/unix"
)

// exchange atomically swaps two paths with renameat2(RENAME_EXCHANGE). It
// reports false when the file system does not support it.
func exchange(a, b string) (bool, error) {
	err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EOPNOTSUPP):
		return false, nil
	}
	return false, err
}
