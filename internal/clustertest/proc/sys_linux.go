package proc

import "syscall"

// sysProcAttr makes the kernel kill a node (SIGKILL) when the test process
// that started it dies, for example on a test timeout, so that no orphaned
// node keeps running. (The signal follows the death of the OS thread that
// started the node; Go keeps its threads alive unless a goroutine exits
// while locked to one, which tests using this package do not do.)
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
