package proc

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// StopTimeout is how long Stop waits after SIGTERM before it sends SIGKILL.
const StopTimeout = 60 * time.Second

// NodeOptions configure a node process.
type NodeOptions struct {
	// Name labels the node in the test log; default "node".
	Name string
	// Dir is the node's working directory; its storage and snapshots go
	// to Dir/storage and Dir/snapshots, its output to Dir/stdout.log and
	// Dir/stderr.log. Default: a new t.TempDir().
	Dir string
	// Env is added to the node's environment after the settings Start
	// makes (so it can override them). The parent's QDRANT__*, SHOAL__*
	// and RUN_MODE variables are not inherited.
	Env []string
	// Args are the command-line arguments of the shoal binary.
	Args []string
	// HTTPPort, GRPCPort and P2PPort are the ports on Host; 0 picks a
	// free one. They are kept across restarts.
	HTTPPort, GRPCPort, P2PPort int
	// Host is the address the node serves on (service.host, and so the
	// peer port's host); default 127.0.0.1. A test that runs the node in
	// a network namespace it made gives the address there.
	Host string
	// Prefix runs the binary through a command, for example
	// ip netns exec NAME (which execs it: signals reach the node).
	Prefix []string
}

// Node is a shoal process started by Start. Its methods may be called from
// any goroutine, but a node runs one process at a time.
type Node struct {
	name string
	bin  string
	opts NodeOptions

	mu     sync.Mutex // guards the fields below
	cmd    *exec.Cmd
	done   chan struct{} // closed when the current process has exited
	exit   error         // the current process's Wait result, once done
	paused bool
	starts int
}

// Start launches bin as a standalone node configured through Qdrant's
// environment variables: service.host 127.0.0.1, the three ports, storage
// and snapshot paths under opts.Dir, log level DEBUG. The process is killed
// when the test ends, and its output is written to the test log if the test
// failed. Start does not wait for readiness; see WaitReady.
func Start(t testing.TB, bin string, opts NodeOptions) *Node {
	t.Helper()
	if opts.Name == "" {
		opts.Name = "node"
	}
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	for _, p := range []*int{&opts.HTTPPort, &opts.GRPCPort, &opts.P2PPort} {
		if *p == 0 {
			port, err := freePort()
			if err != nil {
				t.Fatal(err)
			}
			*p = port
		}
	}
	n := &Node{name: opts.Name, bin: bin, opts: opts}
	t.Cleanup(func() {
		n.Kill()
		if t.Failed() {
			n.dumpLogs(t)
		}
	})
	if err := n.start(); err != nil {
		t.Fatal(err)
	}
	return n
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("cannot find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Env returns the environment the node's process gets.
func (n *Node) Env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "QDRANT__") || strings.HasPrefix(kv, "SHOAL__") || strings.HasPrefix(kv, "RUN_MODE=") {
			continue
		}
		env = append(env, kv)
	}
	o := n.opts
	env = append(env,
		"QDRANT__SERVICE__HOST="+o.Host,
		"QDRANT__SERVICE__HTTP_PORT="+strconv.Itoa(o.HTTPPort),
		"QDRANT__SERVICE__GRPC_PORT="+strconv.Itoa(o.GRPCPort),
		"QDRANT__CLUSTER__P2P__PORT="+strconv.Itoa(o.P2PPort),
		"QDRANT__STORAGE__STORAGE_PATH="+filepath.Join(o.Dir, "storage"),
		"QDRANT__STORAGE__SNAPSHOTS_PATH="+filepath.Join(o.Dir, "snapshots"),
		"QDRANT__LOG_LEVEL=DEBUG",
	)
	return append(env, o.Env...)
}

// start launches a new process; the previous one must have exited.
func (n *Node) start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil && !isDone(n.done) {
		return fmt.Errorf("cannot start %s: its process %d still runs", n.name, n.cmd.Process.Pid)
	}
	n.starts++
	stdout, err := n.openLog("stdout.log")
	if err != nil {
		return err
	}
	defer stdout.Close()
	stderr, err := n.openLog("stderr.log")
	if err != nil {
		return err
	}
	defer stderr.Close()
	argv := append(append(slices.Clone(n.opts.Prefix), n.bin), n.opts.Args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = n.opts.Dir
	cmd.Env = n.Env()
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("cannot start %s: %w", n.name, err)
	}
	done := make(chan struct{})
	n.cmd, n.done, n.exit, n.paused = cmd, done, nil, false
	go func() {
		err := cmd.Wait()
		n.mu.Lock()
		if n.cmd == cmd {
			n.exit = err
		}
		n.mu.Unlock()
		close(done)
	}()
	return nil
}

// openLog opens one of the node's output files for appending and marks the
// start of a new process in it.
func (n *Node) openLog(name string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(n.opts.Dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cannot open the output file of %s: %w", n.name, err)
	}
	fmt.Fprintf(f, "=== proc: start %d of %s at %s\n", n.starts, n.name, time.Now().Format(time.RFC3339Nano))
	return f, nil
}

func isDone(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// current returns the current process and its done channel.
func (n *Node) current() (*exec.Cmd, chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd, n.done
}

// HTTP returns the base URL of the REST API, http://127.0.0.1:port.
func (n *Node) HTTP() string {
	return "http://" + net.JoinHostPort(n.opts.Host, strconv.Itoa(n.opts.HTTPPort))
}

// GRPCAddr returns the gRPC API's address, 127.0.0.1:port.
func (n *Node) GRPCAddr() string { return net.JoinHostPort(n.opts.Host, strconv.Itoa(n.opts.GRPCPort)) }

// P2PAddr returns the internal (peer-to-peer) address, 127.0.0.1:port.
func (n *Node) P2PAddr() string { return net.JoinHostPort(n.opts.Host, strconv.Itoa(n.opts.P2PPort)) }

// Options returns the node's options with the chosen ports and directory.
func (n *Node) Options() NodeOptions { return n.opts }

// Dir returns the node's directory.
func (n *Node) Dir() string { return n.opts.Dir }

// PID returns the process id of the current process.
func (n *Node) PID() int {
	cmd, _ := n.current()
	return cmd.Process.Pid
}

// Running reports whether the current process has not exited (a paused
// process runs).
func (n *Node) Running() bool {
	_, done := n.current()
	return !isDone(done)
}

// Exited returns the channel closed when the current process exits.
func (n *Node) Exited() <-chan struct{} {
	_, done := n.current()
	return done
}

// ExitErr returns the current process's exit result once it has exited:
// nil for exit status 0, an *exec.ExitError otherwise.
func (n *Node) ExitErr() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.exit
}

// WaitReady polls GET /readyz until it answers 200. It fails if the process
// exits first (with the tail of its output) or ctx ends first.
func (n *Node) WaitReady(ctx context.Context) error {
	_, done := n.current()
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	last := "no answer yet"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.HTTP()+"/readyz", nil)
		if err != nil {
			return fmt.Errorf("cannot poll %s: %w", n.name, err)
		}
		resp, err := client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-done:
			return fmt.Errorf("%s exited before it was ready (%v):\n%s", n.name, n.ExitErr(), n.tail("stderr.log", 4<<10))
		case <-ctx.Done():
			return fmt.Errorf("%s not ready (last poll: %s): %w", n.name, last, ctx.Err())
		case <-tick.C:
		}
	}
}

// Kill sends SIGKILL to the current process and waits until it has exited.
// It does nothing if the process has already exited.
func (n *Node) Kill() {
	cmd, done := n.current()
	if cmd == nil || isDone(done) {
		return
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// Stop sends SIGTERM and waits for the process to exit; after StopTimeout
// it sends SIGKILL. It returns nil for a clean exit (status 0), and
// otherwise an error naming the exit status or the kill. A paused process
// is resumed so that it can handle the signal.
func (n *Node) Stop() error {
	cmd, done := n.current()
	if isDone(done) {
		return n.ExitErr()
	}
	cmd.Process.Signal(syscall.SIGTERM)
	n.mu.Lock()
	if n.paused {
		cmd.Process.Signal(syscall.SIGCONT)
		n.paused = false
	}
	n.mu.Unlock()
	t := time.NewTimer(StopTimeout)
	defer t.Stop()
	select {
	case <-done:
		if err := n.ExitErr(); err != nil {
			return fmt.Errorf("%s exited after SIGTERM with %w", n.name, err)
		}
		return nil
	case <-t.C:
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
		return fmt.Errorf("%s did not exit within %v of SIGTERM and was killed", n.name, StopTimeout)
	}
}

// Pause stops the process with SIGSTOP and waits until all its threads
// have stopped: its sockets stay open (the kernel still completes TCP
// handshakes on its listeners), but it answers nothing until Resume.
func (n *Node) Pause() error {
	if err := n.signalPause(syscall.SIGSTOP, true); err != nil {
		return err
	}
	if err := waitStopped(n.PID()); err != nil {
		return fmt.Errorf("cannot pause %s: %w", n.name, err)
	}
	return nil
}

// Resume continues a paused process with SIGCONT.
func (n *Node) Resume() error { return n.signalPause(syscall.SIGCONT, false) }

func (n *Node) signalPause(sig syscall.Signal, paused bool) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if isDone(n.done) {
		return fmt.Errorf("cannot send %v to %s: the process has exited", sig, n.name)
	}
	if err := n.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("cannot send %v to %s: %w", sig, n.name, err)
	}
	n.paused = paused
	return nil
}

// Restart starts a new process on the same directory, ports, environment
// and arguments. A process still running is stopped first (Stop; a
// failure to stop cleanly fails the test). It does not wait for readiness.
func (n *Node) Restart(t testing.TB) {
	t.Helper()
	if n.Running() {
		if err := n.Stop(); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.start(); err != nil {
		t.Fatal(err)
	}
}

// Logs returns the node's output so far, stdout then stderr, over every
// start.
func (n *Node) Logs() string {
	var b strings.Builder
	for _, name := range []string{"stdout.log", "stderr.log"} {
		data, err := os.ReadFile(filepath.Join(n.opts.Dir, name))
		if err != nil {
			fmt.Fprintf(&b, "(%s: %v)\n", name, err)
			continue
		}
		fmt.Fprintf(&b, "--- %s\n%s", name, data)
	}
	return b.String()
}

// tail returns the last max bytes of one output file.
func (n *Node) tail(name string, max int64) string {
	f, err := os.Open(filepath.Join(n.opts.Dir, name))
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > max {
		f.Seek(st.Size()-max, io.SeekStart)
	}
	data, _ := io.ReadAll(f)
	return string(data)
}

// dumpLogs writes the tail of the node's output to the test log.
func (n *Node) dumpLogs(t testing.TB) {
	const max = 64 << 10
	for _, name := range []string{"stdout.log", "stderr.log"} {
		out := n.tail(name, max)
		if out != "" {
			t.Logf("%s %s (the last %d KiB of %s):\n%s", n.name, name, max>>10, filepath.Join(n.opts.Dir, name), out)
		}
	}
}
