//go:build !linux

package proc

import "syscall"

// sysProcAttr: only Linux can tie a child's life to its parent's.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// waitStopped cannot observe thread states outside Linux.
func waitStopped(pid int) error { return nil }
