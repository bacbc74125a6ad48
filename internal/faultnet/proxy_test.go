package faultnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// echoServer is a real TCP echo server on 127.0.0.1.
type echoServer struct {
	ln       net.Listener
	accepted atomic.Int64
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
}

func newEcho(t testing.TB) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &echoServer{ln: ln}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.accepted.Add(1)
			e.mu.Lock()
			e.conns = append(e.conns, c)
			e.mu.Unlock()
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(e.close)
	return e
}

func (e *echoServer) addr() string { return e.ln.Addr().String() }

func (e *echoServer) close() {
	e.ln.Close()
	e.mu.Lock()
	for _, c := range e.conns {
		c.Close()
	}
	e.mu.Unlock()
	e.wg.Wait()
}

func newProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	p, err := NewProxy(target, Options{Name: t.Name(), Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func dial(t testing.TB, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// roundTrip writes msg and reads its echo within timeout.
func roundTrip(c net.Conn, msg string, timeout time.Duration) error {
	c.SetDeadline(time.Now().Add(timeout))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != msg {
		return fmt.Errorf("echo %q, want %q", buf, msg)
	}
	return nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestForwardsAndHalfCloses(t *testing.T) {
	e := newEcho(t)
	p := newProxy(t, e.addr())
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", p.Addr())
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			// A megabyte each way, written and read concurrently.
			want := bytes.Repeat([]byte{byte(i)}, 1<<20)
			go func() {
				c.Write(want)
				c.(*net.TCPConn).CloseWrite()
			}()
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			got, err := io.ReadAll(c) // ends at the server's FIN after our half-close
			if err != nil {
				errs <- err
				return
			}
			if !bytes.Equal(got, want) {
				errs <- fmt.Errorf("conn %d: echoed %d bytes, want %d", i, len(got), len(want))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := e.accepted.Load(); n != 8 {
		t.Errorf("target accepted %d connections, want 8", n)
	}
	waitFor(t, func() bool { return p.Conns() == 0 }, "connections to close after both half-closes")
}

func TestDelay(t *testing.T) {
	e := newEcho(t)
	p := newProxy(t, e.addr())
	c := dial(t, p.Addr())
	if err := roundTrip(c, "warm", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Delay(50*time.Millisecond, 0)
	for range 3 {
		start := time.Now()
		if err := roundTrip(c, "ping", 5*time.Second); err != nil {
			t.Fatal(err)
		}
		// 50 ms each way.
		if rtt := time.Since(start); rtt < 100*time.Millisecond || rtt > 400*time.Millisecond {
			t.Fatalf("round trip %v with 50 ms delay each way, want 100..400 ms", rtt)
		}
	}
	p.Delay(20*time.Millisecond, 30*time.Millisecond)
	for range 5 {
		start := time.Now()
		if err := roundTrip(c, "jitter", 5*time.Second); err != nil {
			t.Fatal(err)
		}
		if rtt := time.Since(start); rtt < 40*time.Millisecond || rtt > 400*time.Millisecond {
			t.Fatalf("round trip %v with 20+[0,30) ms each way, want 40..400 ms", rtt)
		}
	}
	p.Delay(0, 0)
	start := time.Now()
	if err := roundTrip(c, "fast", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if rtt := time.Since(start); rtt > 40*time.Millisecond {
		t.Logf("round trip without delay took %v (loaded machine?)", rtt)
	}
}

// TestJitterKeepsOrder streams numbered records through a jittery link and
// checks they arrive in order, each chunk delayed independently.
func TestJitterKeepsOrder(t *testing.T) {
	e := newEcho(t)
	p := newProxy(t, e.addr())
	p.Delay(time.Millisecond, 20*time.Millisecond)
	c := dial(t, p.Addr())
	var want bytes.Buffer
	go func() {
		for i := range 200 {
			line := fmt.Sprintf("record %04d\n", i)
			c.Write([]byte(line))
			time.Sleep(time.Millisecond) // separate chunks
		}
		c.CloseWrite()
	}()
	for i := range 200 {
		fmt.Fprintf(&want, "record %04d\n", i)
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("records reordered or lost:\n%s", got)
	}
}

// TestBlackholeHoldsThenDelivers: during a blackhole reads time out, the
// connection stays open, new connections do not reach the target; healing
// delivers the held bytes in order and dials the waiting connection.
func TestBlackholeHoldsThenDelivers(t *testing.T) {
	e := newEcho(t)
	p := newProxy(t, e.addr())
	c := dial(t, p.Addr())
	if err := roundTrip(c, "before", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Blackhole(true)
	if _, err := io.WriteString(c, "held-1 "); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 64)
	if n, err := c.Read(buf); !isTimeout(err) {
		t.Fatalf("read during blackhole: %d bytes %q, %v; want a timeout", n, buf[:n], err)
	}
	if _, err := io.WriteString(c, "held-2"); err != nil {
		t.Fatalf("write during blackhole failed; the connection must stay open: %v", err)
	}
	// A new connection is accepted but never reaches the target.
	c2 := dial(t, p.Addr())
	io.WriteString(c2, "late")
	time.Sleep(200 * time.Millisecond)
	if n := e.accepted.Load(); n != 1 {
		t.Fatalf("target accepted %d connections during the blackhole, want 1", n)
	}
	if n := p.Conns(); n != 2 {
		t.Fatalf("%d proxied connections during the blackhole, want 2", n)
	}

	p.Heal()
	want := "held-1 held-2"
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != want {
		t.Fatalf("after heal got %q, %v; want %q", got, err, want)
	}
	c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	got = make([]byte, 4)
	if _, err := io.ReadFull(c2, got); err != nil || string(got) != "late" {
		t.Fatalf("connection opened during the blackhole got %q, %v after heal", got, err)
	}
	if err := roundTrip(c, "after", 5*time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestBlackholeBackpressure: a sender that keeps writing into a blackhole
// blocks once the buffers are full instead of growing the proxy's memory.
func TestBlackholeBackpressure(t *testing.T) {
	e := newEcho(t)
	p := newProxy(t, e.addr())
	c := dial(t, p.Addr())
	p.Blackhole(true)
	c.SetWriteDeadline(time.Now().Add(2 * time.Second))
	block := make([]byte, 64<<10)
	total := 0
	for {
		n, err := c.Write(block)
		total += n
		if err != nil {
			if !isTimeout(err) {
				t.Fatalf("write into a blackhole: %v", err)
			}
			break
		}
		if total > 256<<20 {
			t.Fatalf("wrote %d MiB into a blackhole without blocking", total>>20)
		}
	}
	t.Logf("a blackhole absorbed %d KiB before the sender blocked", total>>10)
}

// TestDropResetsAfterHeal: bytes sent during a drop are lost, and since a
// stream cannot continue past a hole, the connection is reset at the heal;
// a connection that sent nothing during the drop lives on.
func TestDropResetsAfterHeal(t *testing.T) {
	e := newEcho(t)
	p := newProxy(t, e.addr())
	talker := dial(t, p.Addr())
	quiet := dial(t, p.Addr())
	for _, c := range []net.Conn{talker, quiet} {
		if err := roundTrip(c, "hello", 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	p.Drop(true)
	if _, err := io.WriteString(talker, "lost"); err != nil {
		t.Fatalf("write during a drop must succeed: %v", err)
	}
	if err := roundTrip(talker, "x", 300*time.Millisecond); !isTimeout(err) {
		t.Fatalf("round trip during a drop: %v, want a timeout", err)
	}
	waitFor(t, func() bool { return lostConns(p) == 1 }, "the proxy to drop the talker's bytes")
	p.Drop(false)
	talker.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := talker.Read(make([]byte, 16)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("after the drop the connection that lost bytes read %d, %v; want ECONNRESET", n, err)
	}
	if err := roundTrip(quiet, "still here", 5*time.Second); err != nil {
		t.Fatalf("a connection that lost nothing must survive the drop: %v", err)
	}
	if err := roundTrip(dial(t, p.Addr()), "new", 5*time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestReset(t *testing.T) {
	e := newEcho(t)
	p := newProxy(t, e.addr())
	c := dial(t, p.Addr())
	if err := roundTrip(c, "hi", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Reset()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after Reset: %v, want ECONNRESET", err)
	}
	if err := roundTrip(dial(t, p.Addr()), "again", 5*time.Second); err != nil {
		t.Fatalf("new connection after Reset: %v", err)
	}
}

func TestRefuse(t *testing.T) {
	e := newEcho(t)
	p := newProxy(t, e.addr())
	open := dial(t, p.Addr())
	if err := roundTrip(open, "hi", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Refuse(true)
	if err := dialAndRead(p.Addr()); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("a refused connection: %v, want ECONNRESET", err)
	}
	if err := roundTrip(open, "still", 5*time.Second); err != nil {
		t.Fatalf("Refuse must not touch open connections: %v", err)
	}
	p.Refuse(false)
	if err := roundTrip(dial(t, p.Addr()), "again", 5*time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestTargetDown: when the target does not answer, the dialer's connection
// is reset.
func TestTargetDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	p := newProxy(t, dead)
	if err := dialAndRead(p.Addr()); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("a connection through a proxy to a dead target: %v, want ECONNRESET", err)
	}
}

// dialAndRead dials addr and reads one byte, returning the first error: the
// reset of a connection the proxy closes at once may already fail the dial.
func dialAndRead(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Read(make([]byte, 1))
	return err
}

func TestSetTarget(t *testing.T) {
	e1, e2 := newEcho(t), newEcho(t)
	p := newProxy(t, e1.addr())
	old := dial(t, p.Addr())
	if err := roundTrip(old, "one", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	p.SetTarget(e2.addr())
	if p.Target() != e2.addr() {
		t.Fatalf("Target() = %s", p.Target())
	}
	if err := roundTrip(dial(t, p.Addr()), "two", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(old, "one again", 5*time.Second); err != nil {
		t.Fatalf("an open connection must keep its target: %v", err)
	}
	if a, b := e1.accepted.Load(), e2.accepted.Load(); a != 1 || b != 1 {
		t.Fatalf("accepted %d by the old and %d by the new target, want 1 and 1", a, b)
	}
}

// TestBandwidth streams through a capped link and checks the throughput
// within ±30 %.
func TestBandwidth(t *testing.T) {
	e := newEcho(t)
	p := newProxy(t, e.addr())
	const rate = 256 << 10
	p.Bandwidth(rate)
	c := dial(t, p.Addr())
	payload := bytes.Repeat([]byte("x"), rate) // one second's worth each way
	start := time.Now()
	go func() {
		c.Write(payload)
		c.CloseWrite()
	}()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || len(got) != len(payload) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	elapsed := time.Since(start)
	measured := float64(len(payload)) / elapsed.Seconds()
	t.Logf("capped at %d B/s, measured %.0f B/s (%v)", rate, measured, elapsed)
	if measured < 0.7*rate || measured > 1.3*rate {
		t.Fatalf("measured %.0f B/s, want %d ±30%%", measured, rate)
	}
	p.Bandwidth(0)
	start = time.Now()
	if err := roundTrip(dial(t, p.Addr()), string(payload), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 700*time.Millisecond {
		t.Fatalf("uncapped round trip of %d bytes took %v", len(payload), d)
	}
}

// TestCloseLeaksNoGoroutines closes a proxy with connections in every state
// (flowing, delayed with data queued, blackholed before dialing, dropping)
// and checks every goroutine has ended.
func TestCloseLeaksNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	e := newEcho(t)
	p, err := NewProxy(e.addr(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var clients []net.Conn
	open := func() net.Conn {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
		return c
	}
	if err := roundTrip(open(), "flowing", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Delay(10*time.Second, 0)
	io.WriteString(open(), "queued behind a long delay")
	p.Delay(0, 0)
	p.Bandwidth(10)
	io.WriteString(open(), "throttled to ten bytes per second, for a while")
	p.Blackhole(true)
	io.WriteString(open(), "never dialed")
	p.Blackhole(false)
	p.Drop(true)
	io.WriteString(open(), "dropped")
	time.Sleep(100 * time.Millisecond)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for _, c := range clients {
		c.Close()
	}
	e.close()
	waitFor(t, func() bool { return runtime.NumGoroutine() <= before }, "goroutines to end after Close")
	if _, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		t.Fatal("a closed proxy still accepts connections")
	}
}

func waitFor(t testing.TB, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("timed out waiting for %s; goroutines:\n%s", what, buf[:n])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// reach reports whether node from can reach node to through the net: a
// fresh connection's round trip within 300 ms.
func reach(t testing.TB, n *Net, from, to int) bool {
	c, err := net.DialTimeout("tcp", n.Addr(from, to), time.Second)
	if err != nil {
		t.Error(err)
		return false
	}
	defer c.Close()
	return roundTrip(c, "ping", 500*time.Millisecond) == nil
}

func newNet(t testing.TB, size int) (*Net, []*echoServer) {
	t.Helper()
	var echoes []*echoServer
	var targets []string
	for range size {
		e := newEcho(t)
		echoes = append(echoes, e)
		targets = append(targets, e.addr())
	}
	n, err := NewNet(targets, Options{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n, echoes
}

// reachability returns the matrix of reach, one row per dialing node, as
// "-10 1-1 01-". The pairs are probed in parallel.
func reachability(t testing.TB, n *Net) string {
	rows := make([][]byte, n.Size())
	var wg sync.WaitGroup
	for i := range n.Size() {
		rows[i] = bytes.Repeat([]byte{'-'}, n.Size())
		for j := range n.Size() {
			if i == j {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if reach(t, n, i, j) {
					rows[i][j] = '1'
				} else {
					rows[i][j] = '0'
				}
			}()
		}
	}
	wg.Wait()
	return string(bytes.Join(rows, []byte(" ")))
}

func TestNetPartitionIsSymmetric(t *testing.T) {
	n, _ := newNet(t, 4)
	if got := reachability(t, n); got != "-111 1-11 11-1 111-" {
		t.Fatalf("healthy net: %s", got)
	}
	n.Partition([]int{0, 3}) // 1 and 2 form the other group
	if got, want := reachability(t, n), "-001 0-10 01-0 100-"; got != want {
		t.Fatalf("partition {0,3} {1,2}: reachability %s, want %s", got, want)
	}
	n.Isolate(2) // replaces the partition
	if got, want := reachability(t, n), "-101 1-01 00-0 110-"; got != want {
		t.Fatalf("isolate 2: reachability %s, want %s", got, want)
	}
	n.Heal()
	if got := reachability(t, n); got != "-111 1-11 11-1 111-" {
		t.Fatalf("healed net: %s", got)
	}
}

func TestNetCutIsOneWay(t *testing.T) {
	n, _ := newNet(t, 3)
	n.Cut(0, 1)
	if got, want := reachability(t, n), "-01 1-1 11-"; got != want {
		t.Fatalf("cut 0->1: reachability %s, want %s", got, want)
	}
	n.Heal()
	if got := reachability(t, n); got != "-11 1-1 11-" {
		t.Fatalf("healed net: %s", got)
	}
}

func TestNetSetTarget(t *testing.T) {
	n, _ := newNet(t, 3)
	moved := newEcho(t)
	n.SetTarget(2, moved.addr())
	if !reach(t, n, 0, 2) || !reach(t, n, 1, 2) {
		t.Fatal("node 2 unreachable at its new address")
	}
	if got := moved.accepted.Load(); got != 2 {
		t.Fatalf("the moved node accepted %d connections, want 2", got)
	}
}

func TestSchedulePlanIsReproducible(t *testing.T) {
	s := Schedule{Seed: 42, Steps: 50}
	a, b := s.Plan(5), s.Plan(5)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatal("the same seed planned different schedules")
	}
	c := Schedule{Seed: 43, Steps: 50}.Plan(5)
	if fmt.Sprint(a) == fmt.Sprint(c) {
		t.Fatal("different seeds planned the same schedule")
	}
	seen := map[FaultKind]bool{}
	for _, st := range a {
		seen[st.Kind] = true
		if st.Hold < 200*time.Millisecond || st.Hold >= time.Second || st.Gap < 100*time.Millisecond || st.Gap >= 500*time.Millisecond {
			t.Fatalf("step outside the default ranges: %v", st)
		}
		switch st.Kind {
		case FaultPartition:
			if len(st.Minority) < 1 || len(st.Minority) > 2 {
				t.Fatalf("minority of %d nodes out of 5: %v", len(st.Minority), st)
			}
		case FaultCut:
			if st.From == st.To {
				t.Fatalf("cut of a node to itself: %v", st)
			}
		}
	}
	if len(seen) < int(numFaults)-1 {
		t.Fatalf("50 steps used only %d fault kinds: %v", len(seen), seen)
	}
	only := Schedule{Seed: 1, Steps: 20, Faults: []FaultKind{FaultIsolate}}.Plan(3)
	for _, st := range only {
		if st.Kind != FaultIsolate {
			t.Fatalf("step of kind %v in a schedule of isolations", st.Kind)
		}
	}
}

// TestScheduleRun plays a short schedule of every fault kind over a 3-node
// net while a client keeps talking through it, and checks the seed is
// printed and the net is healthy afterwards.
func TestScheduleRun(t *testing.T) {
	n, _ := newNet(t, 3)
	var logs []string
	var mu sync.Mutex
	logf := func(format string, args ...any) {
		mu.Lock()
		logs = append(logs, fmt.Sprintf(format, args...))
		mu.Unlock()
		t.Logf(format, args...)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	var ok, failed atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			c, err := net.DialTimeout("tcp", n.Addr(0, 1), time.Second)
			if err != nil {
				failed.Add(1)
				continue
			}
			for range 20 {
				if roundTrip(c, "msg", 200*time.Millisecond) != nil {
					failed.Add(1)
					break
				}
				ok.Add(1)
			}
			c.Close()
		}
	}()
	s := Schedule{Steps: 16, MinHold: 30 * time.Millisecond, MaxHold: 80 * time.Millisecond, MinGap: 20 * time.Millisecond, MaxGap: 40 * time.Millisecond}
	seed, err := n.Run(ctx, s, logf)
	cancel()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if seed == 0 || !strings.Contains(logs[0], fmt.Sprint(seed)) {
		t.Fatalf("seed %d not printed first: %q", seed, logs[0])
	}
	if len(logs) != 17 {
		t.Fatalf("%d log lines, want the seed and 16 steps", len(logs))
	}
	t.Logf("%d round trips succeeded, %d failed during the schedule", ok.Load(), failed.Load())
	if ok.Load() == 0 {
		t.Fatal("no round trip succeeded during the schedule")
	}
	if got := reachability(t, n); got != "-11 1-1 11-" {
		t.Fatalf("net after the schedule: %s", got)
	}
	// Replaying the printed seed plans the same steps.
	s.Seed = seed
	var replay []string
	for i, st := range s.Plan(3) {
		replay = append(replay, fmt.Sprintf("faultnet: step %d/%d: %v", i+1, s.Steps, st))
	}
	if !slices.Equal(replay, logs[1:]) {
		t.Fatalf("replayed plan differs:\n%q\n%q", replay, logs[1:])
	}
	// A cancelled run heals the net and returns the context's error.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if _, err := n.Run(ctx2, Schedule{Seed: 3, Steps: 5, Faults: []FaultKind{FaultIsolate}, MinHold: time.Hour, MaxHold: time.Hour}, t.Logf); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled run: %v", err)
	}
	if got := reachability(t, n); got != "-11 1-1 11-" {
		t.Fatalf("net after a cancelled schedule: %s", got)
	}
}

// TestDropBeforeDial: connections opened during a drop do not reach the
// target; at the heal, the one that sent bytes is reset and the silent one
// is dialed through and works.
func TestDropBeforeDial(t *testing.T) {
	e := newEcho(t)
	p := newProxy(t, e.addr())
	p.Drop(true)
	talker := dial(t, p.Addr())
	silent := dial(t, p.Addr())
	if _, err := io.WriteString(talker, "into the void"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return p.Conns() == 2 }, "both connections to be accepted")
	waitFor(t, func() bool { return lostConns(p) == 1 }, "the proxy to drop the talker's bytes")
	if n := e.accepted.Load(); n != 0 {
		t.Fatalf("target accepted %d connections during the drop", n)
	}
	p.Heal()
	talker.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := talker.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("connection that lost bytes before it was dialed: %v, want ECONNRESET", err)
	}
	if err := roundTrip(silent, "hello", 5*time.Second); err != nil {
		t.Fatalf("silent connection after the heal: %v", err)
	}
	if n := e.accepted.Load(); n != 1 {
		t.Fatalf("target accepted %d connections after the heal, want 1", n)
	}
}

// lostConns returns the number of connections that lost bytes to a drop.
func lostConns(p *Proxy) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.lostLocked())
}
