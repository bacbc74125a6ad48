// Package testfs gives tests small file systems of their own: a tmpfs of
// a chosen size, to fill a disk without touching the machine's, and the
// free space on one. It is imported by tests only.
package testfs

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// MountTmpfs mounts a tmpfs of size bytes on a new directory and unmounts
// it when the test ends. It skips the test when mounting is impossible
// (not root, no mount permission), except in CI (CI=true), where that is a
// failure.
func MountTmpfs(t testing.TB, size int64) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		msg := fmt.Sprintf("cannot mount a tmpfs: %v: %s", err, strings.TrimSpace(string(out)))
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("cannot unmount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// Free returns the bytes of the file system holding dir that an
// unprivileged writer may still use.
func Free(t testing.TB, dir string) uint64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return st.Bavail * uint64(st.Bsize)
}

// Fill writes a file into dir until at most left bytes are free (or the
// file system is full when left is 0), and returns its path.
func Fill(t testing.TB, dir string, left uint64) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for i := range buf {
		buf[i] = byte(i) | 1
	}
	for free := Free(t, dir); free > left; free = Free(t, dir) {
		n := min(uint64(len(buf)), free-left)
		if _, err := f.Write(buf[:n]); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				break
			}
			t.Fatal(err)
		}
	}
	return path
}
