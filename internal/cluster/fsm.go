package cluster

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/raft"

	"github.com/shoal-db/shoal/internal/api"
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
	// snapshot: at start from this node's own latest snapshot (caughtUp
	// false: the log entries after it are applied next, and the node's
	// data may already reflect some of them), or from the leader's when
	// this node was too far behind (caughtUp true: the snapshot holds
	// everything this node applied before).
	Restored(st *meta.State, caughtUp bool)
}

// fsm is the Raft state machine: meta.State driven by the log.
type fsm struct {
	mu       sync.Mutex
	cond     *sync.Cond
	state    *meta.State
	applied  uint64 // index of the last entry applied
	listener Listener
	closed   bool
	// started is set once Raft has started: a Restore after it installs
	// the leader's snapshot, one before it this node's own at start.
	started bool
	// recent holds the outcome of the last maxRecent proposals by request
	// id, oldest first in order: a proposal retried after a lost answer
	// (the leader died after applying it) is answered from here instead
	// of being applied a second time, later, over newer changes. It is
	// part of the FSM's snapshot, so every node decides alike.
	recent map[string]outcome
	order  []string
}

// maxRecent bounds the proposals remembered for deduplication.
const maxRecent = 4096

// outcome is a remembered proposal's result: no error, or its kind and
// text.
type outcome struct {
	ID   string   `json:"id"`
	Kind api.Kind `json:"kind,omitempty"`
	Msg  string   `json:"msg,omitempty"`
}

func (o outcome) err() error {
	if o.Msg == "" {
		return nil
	}
	return &api.Error{Kind: o.Kind, Message: o.Msg}
}

func (f *fsm) remember(id string, err error) {
	if id == "" {
		return
	}
	o := outcome{ID: id}
	if err != nil {
		o.Kind, o.Msg = api.KindOf(err), api.Message(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recent[id] = o
	f.order = append(f.order, id)
	if len(f.order) > maxRecent {
		delete(f.recent, f.order[0])
		f.order = f.order[1:]
	}
}

func newFSM() *fsm {
	f := &fsm{state: meta.NewState(), recent: map[string]outcome{}}
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
	seen, dup := f.recent[cmd.RequestID]
	f.mu.Unlock()
	if dup && cmd.RequestID != "" {
		f.advance(l.Index)
		return applyResult{err: seen.err()}
	}
	next := prev.Clone()
	if err := next.Apply(cmd); err != nil {
		f.remember(cmd.RequestID, err)
		f.advance(l.Index)
		return applyResult{err: err}
	}
	f.remember(cmd.RequestID, nil)
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
	f.mu.Lock()
	defer f.mu.Unlock()
	recent := make([]outcome, len(f.order))
	for i, id := range f.order {
		recent[i] = f.recent[id]
	}
	return &fsmSnapshot{state: f.state, recent: recent}, nil
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
	f.recent, f.order = map[string]outcome{}, nil
	for _, o := range body.Recent {
		f.recent[o.ID] = o
		f.order = append(f.order, o.ID)
	}
	f.mu.Unlock()
	f.mu.Lock()
	lst, caughtUp := f.listener, f.started
	f.mu.Unlock()
	if lst != nil {
		lst.Restored(st, caughtUp)
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
	// Recent are the remembered proposals, oldest first.
	Recent []outcome `json:"recent,omitempty"`
}

type fsmSnapshot struct {
	state  *meta.State
	recent []outcome
}

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	b, err := json.Marshal(snapshotBody{Format: snapshotFormat, State: s.state, Recent: s.recent})
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
