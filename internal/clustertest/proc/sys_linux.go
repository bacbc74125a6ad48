package proc

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// sysProcAttr makes the kernel kill a node (SIGKILL) when the test process
// that started it dies, for example on a test timeout, so that no orphaned
// node keeps running. (The signal follows the death of the OS thread that
// started the node; Go keeps its threads alive unless a goroutine exits
// while locked to one, which tests using this package do not do.)
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// waitStopped waits until every thread of pid is stopped: kill(SIGSTOP)
// returns before the threads running on other CPUs have stopped, and one
// of them could still answer a request.
func waitStopped(pid int) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		stopped, err := allStopped(pid)
		if err != nil || stopped {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d did not stop within 10 s of SIGSTOP", pid)
		}
		time.Sleep(time.Millisecond)
	}
}

func allStopped(pid int) (bool, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil || len(tasks) == 0 {
		return false, fmt.Errorf("cannot read the threads of process %d: %v", pid, err)
	}
	for _, path := range tasks {
		stat, err := os.ReadFile(path)
		if err != nil {
			continue // the thread exited
		}
		// The state follows the parenthesised command name.
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || i+2 >= len(s) {
			return false, fmt.Errorf("cannot parse %s", path)
		}
		if s[i+2] != 'T' && s[i+2] != 't' {
			return false, nil
		}
	}
	return true, nil
}
