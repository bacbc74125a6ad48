package faultnet

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// dir is a direction of a proxied connection.
type dir int

const (
	up   dir = iota // from the dialer to the target
	down            // from the target back to the dialer
)

// chunk is a piece of a stream on its way through the proxy.
type chunk struct {
	data []byte
	due  time.Time // not forwarded before
	eof  bool      // the source half-closed after the data before it
}

// conn is one proxied connection: four goroutines (a reader and a writer
// per direction) joined by two bounded queues.
type conn struct {
	p      *Proxy
	client *net.TCPConn
	queues [2]chan chunk
	done   chan struct{} // closed by close
	once   sync.Once

	mu     sync.Mutex // guards the fields below
	server *net.TCPConn
	closed bool
	eofs   int

	// lost is set, under p.mu, once a drop discarded bytes of the
	// connection; from then on it forwards nothing and is reset when the
	// drop ends.
	lost bool
}

// read moves data from the source of direction d into its queue, stamping
// each chunk with the time it may be forwarded.
func (c *conn) read(d dir) {
	defer c.p.wg.Done()
	src := c.client
	if d == down {
		src = c.serverConn()
	}
	buf := make([]byte, chunkSize)
	var last time.Time
	for {
		if !c.waitNoBlackhole() {
			return
		}
		n, err := src.Read(buf)
		if n > 0 {
			ch, keep := c.stamp(buf[:n], &last)
			if keep {
				select {
				case c.queues[d] <- ch:
				case <-c.done:
					return
				}
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				select {
				case c.queues[d] <- chunk{eof: true, due: last}:
				case <-c.done:
				}
				return
			}
			c.close(isReset(err))
			return
		}
	}
}

// stamp copies data into a chunk due after the current delay, or discards
// it (keep false) while a drop is on.
func (c *conn) stamp(data []byte, last *time.Time) (ch chunk, keep bool) {
	p := c.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drop {
		c.lost = true
	}
	if c.lost {
		return chunk{}, false
	}
	due := time.Now()
	if p.delay > 0 || p.jitter > 0 {
		due = due.Add(p.delay)
		if p.jitter > 0 {
			due = due.Add(time.Duration(p.rng.Int64N(int64(p.jitter))))
		}
	}
	if due.Before(*last) {
		due = *last // never overtake the chunk before
	}
	*last = due
	return chunk{data: append([]byte(nil), data...), due: due}, true
}

// waitNoBlackhole waits while the link is blackholed; false means the
// connection closed meanwhile.
func (c *conn) waitNoBlackhole() bool {
	for {
		c.p.mu.Lock()
		on, changed := c.p.blackhole, c.p.changed
		c.p.mu.Unlock()
		if !on {
			return true
		}
		select {
		case <-changed:
		case <-c.done:
			return false
		}
	}
}

// writeUp dials the target once neither a blackhole nor a drop is on, starts
// the other direction, and then forwards the dialer's data.
func (c *conn) writeUp() {
	defer c.p.wg.Done()
	for {
		blocked, changed := c.p.blocked()
		if !blocked {
			break
		}
		select {
		case <-changed:
		case <-c.done:
			return
		}
	}
	c.p.mu.Lock()
	lost, target := c.lost, c.p.target
	c.p.mu.Unlock()
	if lost {
		c.close(true) // a drop ended between the check and here
		return
	}
	// The dial gives up after 10 s, or at once if the connection closes.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	dialing := make(chan struct{})
	c.p.wg.Add(1)
	go func() {
		defer c.p.wg.Done()
		select {
		case <-c.done:
			cancel()
		case <-dialing:
		}
	}()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", target)
	close(dialing)
	cancel()
	if err != nil {
		c.p.log.Info("faultnet: cannot dial target, resetting the connection", "target", target, "err", err)
		c.close(true)
		return
	}
	server := nc.(*net.TCPConn)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		server.Close()
		return
	}
	c.server = server
	c.mu.Unlock()
	c.p.wg.Add(2)
	go c.read(down)
	go func() {
		defer c.p.wg.Done()
		c.write(down)
	}()
	c.write(up)
}

// serverConn returns the connection to the target (set before the down
// direction starts).
func (c *conn) serverConn() *net.TCPConn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.server
}

// write forwards the chunks of direction d once they are due, holding them
// during a blackhole, discarding them during a drop, and pacing them to the
// bandwidth cap.
func (c *conn) write(d dir) {
	dst := c.serverConn()
	if d == down {
		dst = c.client
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		var ch chunk
		select {
		case ch = <-c.queues[d]:
		case <-c.done:
			return
		}
		if wait := time.Until(ch.due); wait > 0 {
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			select {
			case <-timer.C:
			case <-c.done:
				return
			}
		}
		forward, ok := c.waitForward()
		if !ok {
			return
		}
		if !forward {
			continue
		}
		if ch.eof {
			if err := dst.CloseWrite(); err != nil {
				c.close(isReset(err))
				return
			}
			c.mu.Lock()
			c.eofs++
			both := c.eofs == 2
			c.mu.Unlock()
			if both {
				c.close(false)
			}
			return
		}
		for off := 0; off < len(ch.data); {
			n, ok := c.p.bw[d].wait(len(ch.data)-off, c.done)
			if !ok {
				return
			}
			if _, err := dst.Write(ch.data[off : off+n]); err != nil {
				c.close(isReset(err))
				return
			}
			off += n
		}
	}
}

// waitForward waits while the link is blackholed; forward is false if the
// chunk must be discarded (a drop is on or was), ok false if the connection
// closed.
func (c *conn) waitForward() (forward, ok bool) {
	p := c.p
	for {
		p.mu.Lock()
		if p.drop {
			c.lost = true
		}
		lost, hole, changed := c.lost, p.blackhole, p.changed
		p.mu.Unlock()
		if lost {
			return false, true
		}
		if !hole {
			return true, true
		}
		select {
		case <-changed:
		case <-c.done:
			return false, false
		}
	}
}

// close closes both sides once; rst makes the closes abortive (RST instead
// of FIN).
func (c *conn) close(rst bool) {
	c.once.Do(func() {
		c.mu.Lock()
		c.closed = true
		server := c.server
		c.mu.Unlock()
		close(c.done)
		if rst {
			c.client.SetLinger(0)
			if server != nil {
				server.SetLinger(0)
			}
		}
		c.client.Close()
		if server != nil {
			server.Close()
		}
		c.p.mu.Lock()
		delete(c.p.conns, c)
		c.p.mu.Unlock()
	})
}

// isReset reports whether err means the peer went away abruptly, so the
// other side must see a reset too rather than an orderly end.
func isReset(err error) bool {
	return !errors.Is(err, net.ErrClosed)
}

// throttle paces one direction of a link to a byte rate.
type throttle struct {
	mu   sync.Mutex // guards the fields below
	rate int        // bytes per second; 0 is unlimited
	next time.Time  // when the link is free again
}

func (t *throttle) setRate(r int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rate = r
	t.next = time.Time{}
}

// wait reserves the link for up to n bytes (a piece of 1/50 s at the
// current rate, at most 16 KiB) and waits until they have been "sent";
// it returns the piece's size, or false if done closed first.
func (t *throttle) wait(n int, done <-chan struct{}) (int, bool) {
	t.mu.Lock()
	if t.rate == 0 {
		t.mu.Unlock()
		return n, true
	}
	piece := min(n, max(t.rate/50, 1), 16<<10)
	// A writer that comes back late (timer slack, scheduling) may use up
	// to burst of idle link time, so the lateness does not add up to a
	// lower rate; a link idle for longer starts afresh.
	const burst = 25 * time.Millisecond
	start := t.next
	if earliest := time.Now().Add(-burst); start.Before(earliest) {
		start = earliest
	}
	end := start.Add(time.Duration(piece) * time.Second / time.Duration(t.rate))
	t.next = end
	t.mu.Unlock()
	timer := time.NewTimer(time.Until(end))
	defer timer.Stop()
	select {
	case <-timer.C:
		return piece, true
	case <-done:
		return 0, false
	}
}
