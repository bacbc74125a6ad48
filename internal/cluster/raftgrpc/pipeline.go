package raftgrpc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/shoal-db/shoal/internal/p2p"
	"google.golang.org/grpc"
)

// pipeline implements raft.AppendPipeline over one bidirectional stream:
// requests are sent as raft produces them, and a receiver goroutine matches
// the follower's in-order answers with the oldest request in flight.
type pipeline struct {
	t      *Transport
	target raft.ServerAddress
	cancel context.CancelFunc // ends the stream
	send   func(*wireAppendEntries) error
	recv   func() (*pipelineResponse, error)

	sendMu   sync.Mutex         // serialises AppendEntries: one send, one slot, in order
	inflight chan *appendFuture // requests sent, oldest first; its capacity bounds them
	doneCh   chan raft.AppendFuture

	closeOnce sync.Once
	closed    chan struct{}
	wg        sync.WaitGroup // the receiver goroutine
}

func newPipeline(t *Transport, cc *grpc.ClientConn, target raft.ServerAddress) (*pipeline, error) {
	ctx, cancel := context.WithCancel(t.ctx)
	send, recv, _, err := p2p.OpenBidiStream[wireAppendEntries, pipelineResponse](ctx, cc, methodAppendEntriesPipeline)
	if err != nil {
		cancel()
		return nil, t.callErr("AppendEntriesPipeline", target, err)
	}
	p := &pipeline{
		t:        t,
		target:   target,
		cancel:   cancel,
		send:     send,
		recv:     recv,
		inflight: make(chan *appendFuture, t.maxPipe),
		doneCh:   make(chan raft.AppendFuture, t.maxPipe),
		closed:   make(chan struct{}),
	}
	p.wg.Add(1)
	go p.receive()
	return p, nil
}

// AppendEntries sends args down the pipeline and returns a future for its
// response. It blocks while MaxPipeline requests are in flight
// (back-pressure).
func (p *pipeline) AppendEntries(args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) (raft.AppendFuture, error) {
	f := &appendFuture{start: time.Now(), args: args, resp: resp, done: make(chan struct{})}
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	select {
	case <-p.closed:
		return nil, raft.ErrPipelineShutdown
	default:
	}
	// Take a slot first, so that no more than MaxPipeline requests are
	// ever sent without an answer, and the receiver sees them in order.
	select {
	case p.inflight <- f:
	case <-p.closed:
		return nil, raft.ErrPipelineShutdown
	}
	if err := p.send((*wireAppendEntries)(args)); err != nil {
		// The stream has ended or broken, so the receiver fails f (and
		// everything after it) with the stream's status, which says why
		// better than the send error does.
		timer := time.NewTimer(p.t.timeout)
		defer timer.Stop()
		select {
		case <-f.done:
			err = f.err
		case <-timer.C:
			p.cancel()
			err = fmt.Errorf("cannot pipeline AppendEntries to %s: %w", p.target, err)
		}
		if p.t.isShutdown() {
			return nil, raft.ErrTransportShutdown
		}
		return nil, err
	}
	return f, nil
}

// receive completes the futures in flight, in order, as answers arrive.
// An answer overdue by the transport's timeout, or any stream error, breaks
// the stream, which fails every later future too.
func (p *pipeline) receive() {
	defer p.wg.Done()
	for {
		var f *appendFuture
		select {
		case f = <-p.inflight:
		case <-p.closed:
			return
		}
		timer := time.AfterFunc(p.t.timeout, p.cancel)
		r, err := p.recv()
		timer.Stop()
		switch {
		case err != nil:
			p.cancel()
			if p.t.isShutdown() {
				err = raft.ErrTransportShutdown
			} else {
				err = fmt.Errorf("cannot receive pipelined AppendEntries response from %s: %w", p.target, err)
				select {
				case <-p.closed: // raft closed the pipeline: expected
				default:
					p.t.log.Debug("raft pipeline broken", "peer", string(p.target), "error", err)
				}
			}
		case r.Error != "":
			err = errors.New(r.Error)
		case r.Resp == nil:
			err = fmt.Errorf("pipelined AppendEntries response from %s is empty", p.target)
		default:
			*f.resp = *r.Resp
		}
		f.err = err
		close(f.done)
		select {
		case p.doneCh <- f:
		case <-p.closed:
			return
		}
	}
}

// Consumer returns the channel of completed futures, in request order.
func (p *pipeline) Consumer() <-chan raft.AppendFuture { return p.doneCh }

// Close ends the stream and fails the requests still in flight with
// raft.ErrPipelineShutdown; it waits for the receiver goroutine to exit.
func (p *pipeline) Close() error {
	p.closeOnce.Do(func() {
		close(p.closed)
		p.cancel()
	})
	p.wg.Wait()
	// The cancelled stream has unblocked any send; AppendEntries sees
	// closed once it holds sendMu, so nothing enters inflight after this.
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	for {
		select {
		case f := <-p.inflight:
			f.err = raft.ErrPipelineShutdown
			close(f.done)
		default:
			return nil
		}
	}
}

// appendFuture is the future of one pipelined AppendEntries request.
type appendFuture struct {
	start time.Time
	args  *raft.AppendEntriesRequest
	resp  *raft.AppendEntriesResponse
	done  chan struct{}
	err   error // set before done is closed
}

// Error waits for the response and returns the request's error.
func (f *appendFuture) Error() error {
	<-f.done
	return f.err
}

// Start returns when the request was sent.
func (f *appendFuture) Start() time.Time { return f.start }

// Request returns the request.
func (f *appendFuture) Request() *raft.AppendEntriesRequest { return f.args }

// Response returns the response; valid once Error has returned nil.
func (f *appendFuture) Response() *raft.AppendEntriesResponse { return f.resp }
