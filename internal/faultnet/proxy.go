// Package faultnet injects network faults between the nodes of a test
// cluster. A Proxy forwards one directed link ("node A dials node B"): A is
// given the proxy's 127.0.0.1 address instead of B's, and the proxy dials B
// for every connection A opens. Faults are switched on and off while
// connections are open: delay and jitter, a bandwidth cap, a blackhole that
// holds bytes (a short partition: TCP retransmits, the stream resumes), a
// drop that discards them (a long partition: the connections that lost bytes
// are reset when it heals), resets, and refused connections. A Net is a full
// mesh of proxies for N nodes with partitions, and a Schedule drives a Net
// through a seeded, reproducible sequence of faults.
//
// The package is test support: only tests import it. It listens only on
// 127.0.0.1.
package faultnet

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// chunkSize is the largest piece of a stream the proxy reads, delays and
// forwards at once.
const chunkSize = 32 << 10

// queueChunks bounds the chunks one direction of a connection holds between
// its reader and its writer (at most queueChunks*chunkSize bytes), so that a
// delayed or throttled link pushes back on the sender as a slow network does.
const queueChunks = 64

// Options configure a Proxy.
type Options struct {
	// Name labels the proxy in log records, for example "1->2".
	Name string
	// Logger receives one record per fault change and per connection
	// reset; nil discards them.
	Logger *slog.Logger
	// Seed seeds the jitter of Delay, so that a run can be repeated.
	Seed uint64
	// Listen is the address the proxy listens on (default 127.0.0.1:0;
	// a test that made a network namespace may give an address there).
	Listen string
}

// Proxy forwards TCP connections from its own listener to a target
// address and applies the faults currently switched on. Every method is safe
// for concurrent use.
//
// A connection accepted while the link is blackholed or dropping is not
// dialed through to the target until the fault ends: the target sees no
// connection, the dialer a silent one.
type Proxy struct {
	name string
	log  *slog.Logger
	ln   net.Listener
	wg   sync.WaitGroup // every goroutine of the proxy and its connections

	mu        sync.Mutex // guards the fields below
	target    string
	delay     time.Duration
	jitter    time.Duration
	blackhole bool
	drop      bool
	refuse    bool
	rng       *rand.Rand
	bw        [2]*throttle // per direction: up (dialer to target), down
	conns     map[*conn]struct{}
	changed   chan struct{} // closed and replaced at every fault change
	closed    bool
}

// NewProxy listens on opts.Listen (127.0.0.1:0 by default) and forwards
// every accepted connection to target.
func NewProxy(target string, opts Options) (*Proxy, error) {
	listen := opts.Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("cannot listen for proxy to %s: %w", target, err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Proxy{
		name:    opts.Name,
		log:     log.With("proxy", opts.Name, "addr", ln.Addr().String()),
		ln:      ln,
		target:  target,
		rng:     rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		bw:      [2]*throttle{{}, {}},
		conns:   map[*conn]struct{}{},
		changed: make(chan struct{}),
	}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Addr returns the proxy's listening address (127.0.0.1:port): the address
// the dialing node must use instead of the target's.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Target returns the address new connections are forwarded to.
func (p *Proxy) Target() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.target
}

// SetTarget changes the address new connections are forwarded to (the node
// restarted on another port). Open connections keep their old target.
func (p *Proxy) SetTarget(addr string) {
	p.update("target", addr, func() { p.target = addr })
}

// Delay holds every chunk of data, in both directions, for d plus a random
// extra in [0, jitter) before forwarding it. Chunks of one connection and
// direction are never reordered: a chunk waits at least until the one before
// it has gone. Delay(0, 0) removes the delay.
func (p *Proxy) Delay(d, jitter time.Duration) {
	if d < 0 || jitter < 0 {
		panic("faultnet: negative delay or jitter")
	}
	p.update("delay", fmt.Sprintf("%v+[0,%v)", d, jitter), func() { p.delay, p.jitter = d, jitter })
}

// Blackhole(true) stops forwarding in both directions while keeping every
// connection open: the proxy stops reading, so bytes wait in socket buffers
// (and at most one queue per direction in the proxy) and a sender that fills
// them blocks, as with a partition during which TCP keeps retransmitting.
// Reads on either side time out; keepalives fail. New connections are
// accepted but not dialed through. Blackhole(false) delivers every held byte
// in order, as TCP does when a short partition heals. To model a partition
// that outlasts TCP's patience, use Drop.
func (p *Proxy) Blackhole(on bool) {
	p.update("blackhole", on, func() { p.blackhole = on })
}

// Drop(true) discards every byte in both directions while keeping the
// connections open: writes succeed, nothing arrives, reads time out. New
// connections are accepted but not dialed through. A TCP stream cannot go on
// past a hole, so Drop(false) resets (RST, both sides) every connection that
// lost bytes; the others, and new connections, flow normally. This is a
// partition as the applications on both ends see it once TCP has given up.
func (p *Proxy) Drop(on bool) {
	var lost []*conn
	p.update("drop", on, func() {
		p.drop = on
		if !on {
			lost = p.lostLocked()
		}
	})
	for _, c := range lost {
		p.log.Info("faultnet: reset a connection that lost bytes to a drop")
		c.close(true)
	}
}

// Refuse(true) closes every new connection at once with a reset, so the
// dialer sees ECONNRESET as soon as it reads or writes (the listener cannot
// reject the handshake itself). Open connections are not touched.
func (p *Proxy) Refuse(on bool) {
	p.update("refuse", on, func() { p.refuse = on })
}

// Bandwidth caps the throughput of each direction of the link, shared by all
// its connections, at bytesPerSec. 0 removes the cap.
func (p *Proxy) Bandwidth(bytesPerSec int) {
	if bytesPerSec < 0 {
		panic("faultnet: negative bandwidth")
	}
	p.update("bandwidth", bytesPerSec, func() {
		for _, t := range p.bw {
			t.setRate(bytesPerSec)
		}
	})
}

// Reset closes every open connection of the link with a reset (RST) on both
// sides: reads and writes on them fail with ECONNRESET. The link stays up
// for new connections.
func (p *Proxy) Reset() {
	p.mu.Lock()
	cs := make([]*conn, 0, len(p.conns))
	for c := range p.conns {
		cs = append(cs, c)
	}
	p.mu.Unlock()
	p.log.Info("faultnet: reset", "conns", len(cs))
	for _, c := range cs {
		c.close(true)
	}
}

// Heal clears every fault: delay, bandwidth cap, blackhole (held bytes are
// delivered), drop (connections that lost bytes are reset) and refuse. The
// target is kept.
func (p *Proxy) Heal() {
	var lost []*conn
	p.update("heal", true, func() {
		p.delay, p.jitter = 0, 0
		p.blackhole, p.refuse = false, false
		if p.drop {
			p.drop = false
			lost = p.lostLocked()
		}
		for _, t := range p.bw {
			t.setRate(0)
		}
	})
	for _, c := range lost {
		c.close(true)
	}
}

// Conns returns the number of open proxied connections.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Close stops listening, closes every connection and waits until every
// goroutine of the proxy has returned.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	cs := make([]*conn, 0, len(p.conns))
	for c := range p.conns {
		cs = append(cs, c)
	}
	p.mu.Unlock()
	err := p.ln.Close()
	for _, c := range cs {
		c.close(false)
	}
	p.wg.Wait()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("cannot close proxy listener: %w", err)
	}
	return nil
}

// update applies a fault change under the lock and wakes every goroutine
// waiting for one.
func (p *Proxy) update(what string, value any, f func()) {
	p.mu.Lock()
	f()
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
	p.log.Info("faultnet: "+what, "value", value)
}

// lostLocked returns the connections that lost bytes to a drop.
func (p *Proxy) lostLocked() []*conn {
	var lost []*conn
	for c := range p.conns {
		if c.lost {
			lost = append(lost, c)
		}
	}
	return lost
}

// blocked reports whether a blackhole or a drop is on; changed is closed at
// the next fault change.
func (p *Proxy) blocked() (blocked bool, changed <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.blackhole || p.drop, p.changed
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		nc, err := p.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				p.log.Warn("faultnet: accept failed, proxy stops", "err", err)
			}
			return
		}
		client := nc.(*net.TCPConn)
		p.mu.Lock()
		if p.closed || p.refuse {
			p.mu.Unlock()
			client.SetLinger(0)
			client.Close()
			continue
		}
		c := &conn{p: p, client: client, done: make(chan struct{})}
		c.queues[up] = make(chan chunk, queueChunks)
		c.queues[down] = make(chan chunk, queueChunks)
		p.conns[c] = struct{}{}
		p.wg.Add(2)
		p.mu.Unlock()
		go c.read(up)
		go c.writeUp()
	}
}
