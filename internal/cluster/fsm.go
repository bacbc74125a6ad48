package cluster

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/raft"

	"github.com/shoal-db/shoal/internal/meta"
)

// Listener receives the metadata as Raft applies it, in log order, on the
// FSM's goroutine: it carries out the side effects of each change on this
// node (opening and dropping local shard replicas) before the next entry
// is applied, so a proposer that waits for its entry's index also waits
// for its side effects here.
type Listener interface {
	// Applied is called after cmd changed the state from prev to next.
	Applied(cmd *meta.Command, prev, next *meta.State)
	// Restored is called after the whole state was replaced from a Raft
	// snapshot (at start or when this node was too far behind).
	Restored(st *meta.State)
}

// fsm is the Raft state machine: meta.State driven by the log.
type fsm struct {
	mu       sync.Mutex
	cond     *sync.Cond
	state    *meta.State
	applied  uint64 // index of the last entry applied
	listener Listener
	closed   bool
}

func newFSM() *fsm {
	f := &fsm{state: meta.NewState()}
	f.cond = sync.NewCond(&f.mu)
	return f
}

// applyResult is what Apply returns to the proposer: nil or the command's
// error.
type applyResult struct{ err error }

// Apply implements raft.FSM.
func (f *fsm) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		f.advance(l.Index)
		return nil
	}
	cmd, err := meta.DecodeCommand(l.Data)
	if err != nil {
		f.advance(l.Index)
		return applyResult{err: err}
	}
	f.mu.Lock()
	prev := f.state
	f.mu.Unlock()
	next := prev.Clone()
	if err := next.Apply(cmd); err != nil {
		f.advance(l.Index)
		return applyResult{err: err}
	}
	// The side effects run before the new state is published, so nobody
	// sees a collection in the metadata before this node has opened it.
	f.mu.Lock()
	lst := f.listener
	f.mu.Unlock()
	if lst != nil {
		lst.Applied(cmd, prev, next)
	}
	f.mu.Lock()
	f.state = next
	f.mu.Unlock()
	f.advance(l.Index)
	return applyResult{}
}

func (f *fsm) advance(index uint64) {
	f.mu.Lock()
	if index > f.applied {
		f.applied = index
	}
	f.cond.Broadcast()
	f.mu.Unlock()
}

// State returns the current state; callers must not modify it.
func (f *fsm) State() *meta.State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state
}

// Applied returns the index of the last applied entry.
func (f *fsm) Applied() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applied
}

// waitApplied blocks until the entry at index is applied, done is closed,
// or the fsm is closed; it reports whether the index was reached.
func (f *fsm) waitApplied(index uint64, done <-chan struct{}) bool {
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-done:
		case <-stop:
			return
		}
		f.mu.Lock()
		f.cond.Broadcast()
		f.mu.Unlock()
	}()
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.applied < index && !f.closed {
		select {
		case <-done:
			return false
		default:
		}
		f.cond.Wait()
	}
	return f.applied >= index
}

func (f *fsm) close() {
	f.mu.Lock()
	f.closed = true
	f.cond.Broadcast()
	f.mu.Unlock()
}

// Snapshot implements raft.FSM: the state is immutable once published, so
// the snapshot just keeps the pointer.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	return &fsmSnapshot{state: f.State()}, nil
}

// Restore implements raft.FSM.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var body snapshotBody
	dec := json.NewDecoder(rc)
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		return fmt.Errorf("cannot restore metadata snapshot: %w", err)
	}
	if body.Format != snapshotFormat {
		return fmt.Errorf("cannot restore metadata snapshot format %d: this build reads %d", body.Format, snapshotFormat)
	}
	st, err := meta.NormalizeState(body.State)
	if err != nil {
		return fmt.Errorf("cannot restore metadata snapshot: %w", err)
	}
	f.mu.Lock()
	lst := f.listener
	f.mu.Unlock()
	if lst != nil {
		lst.Restored(st)
	}
	f.mu.Lock()
	f.state = st
	f.mu.Unlock()
	return nil
}

// snapshotFormat is the version of the Raft snapshot's JSON body
// (docs/format/meta.md, "Raft snapshot").
const snapshotFormat = 3

type snapshotBody struct {
	Format int         `json:"format"`
	State  *meta.State `json:"state"`
}

type fsmSnapshot struct{ state *meta.State }

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	b, err := json.Marshal(snapshotBody{Format: snapshotFormat, State: s.state})
	if err == nil {
		_, err = sink.Write(b)
	}
	if err != nil {
		sink.Cancel()
		return fmt.Errorf("cannot write metadata snapshot: %w", err)
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}
