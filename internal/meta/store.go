package meta

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/durable"
)

// FileName is the name of the metadata file in the storage directory.
const FileName = "meta.json"

// FileFormat is the oldest version of meta.json: collections without data
// generations. This build writes it whenever the state fits it, so that a
// build that reads only format 1 can still open such a storage.
const FileFormat = 1

// FileFormatGenerations is the version of meta.json whose collections may
// name a data generation other than 0 (docs/format/meta.md). This build
// writes it only when a collection has one, and reads both formats.
const FileFormatGenerations = 2

// fileFormatFor returns the oldest format that can hold st.
func fileFormatFor(st *State) int {
	for _, c := range st.Collections {
		if c.Generation != 0 {
			return FileFormatGenerations
		}
	}
	return FileFormat
}

// fileBody is the on-disk form of meta.json.
type fileBody struct {
	Format int    `json:"format"`
	State  *State `json:"state"`
}

// Store holds the State of one node and persists it to <dir>/meta.json
// after every applied command. It is safe for concurrent use.
type Store struct {
	path    string
	existed bool // meta.json existed when the store was opened

	// mu serialises Apply; the published state is replaced, never mutated.
	mu    sync.Mutex
	state *State
}

// OpenStore loads <dir>/meta.json, or starts from an empty State when the
// file does not exist. dir is created if missing.
func OpenStore(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create storage directory %s: %w", dir, err)
	}
	s := &Store{path: filepath.Join(dir, FileName)}
	b, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		s.state = NewState()
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("cannot read %s: %w", s.path, err)
	}
	st, err := decodeFile(b)
	if err != nil {
		return nil, fmt.Errorf("cannot load %s: %w", s.path, err)
	}
	s.state, s.existed = st, true
	return s, nil
}

// Existed reports whether meta.json existed when the store was opened (false
// for a new storage directory).
func (s *Store) Existed() bool { return s.existed }

func decodeFile(b []byte) (*State, error) {
	var body fileBody
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		return nil, fmt.Errorf("cannot decode metadata: %w", err)
	}
	if body.Format != FileFormat && body.Format != FileFormatGenerations {
		return nil, fmt.Errorf("cannot read metadata format %d: this build reads formats %d and %d", body.Format, FileFormat, FileFormatGenerations)
	}
	st, err := NormalizeState(body.State)
	if err != nil {
		return nil, err
	}
	for name, c := range st.Collections {
		if c.Generation != 0 && body.Format < FileFormatGenerations {
			return nil, fmt.Errorf("cannot decode metadata: collection %q has generation %d in format %d", name, c.Generation, body.Format)
		}
	}
	return st, nil
}

// NormalizeState checks a decoded State and fills its nil maps, so that it
// is ready for Apply; a nil st yields an empty State.
func NormalizeState(st *State) (*State, error) {
	if st == nil {
		st = NewState()
	}
	if st.Collections == nil {
		st.Collections = map[string]*Collection{}
	}
	if st.Aliases == nil {
		st.Aliases = map[string]string{}
	}
	if st.Peers == nil {
		st.Peers = map[uint64]*Peer{}
	}
	for name, c := range st.Collections {
		if c == nil {
			return nil, fmt.Errorf("cannot decode metadata: collection %q is null", name)
		}
		if c.PayloadIndexes == nil {
			c.PayloadIndexes = map[string]api.PayloadFieldSchema{}
		}
	}
	for id, p := range st.Peers {
		if p == nil {
			return nil, fmt.Errorf("cannot decode metadata: peer %d is null", id)
		}
	}
	return st, nil
}

// State returns the current state. The caller must not modify it: it is
// shared with other readers and replaced (not changed) by Apply.
func (s *Store) State() *State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// Save writes the current state to meta.json, creating the file if it does
// not exist yet. The service saves a new storage at once, so that data
// written before its first command (a restore's staged collection) is never
// found without a meta.json.
func (s *Store) Save() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.write(s.state)
}

func (s *Store) write(st *State) error {
	b, err := json.MarshalIndent(fileBody{Format: fileFormatFor(st), State: st}, "", "  ")
	if err != nil {
		return fmt.Errorf("cannot encode metadata: %w", err)
	}
	if err := durable.WriteFile(s.path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("cannot persist metadata: %w", err)
	}
	return nil
}

// Apply applies cmd to a copy of the current state, writes the copy to
// meta.json and then publishes it. On any error (a refused command or a
// failed write) the published state is unchanged.
func (s *Store) Apply(cmd *Command) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := s.state.Clone()
	if err := next.Apply(cmd); err != nil {
		return err
	}
	if err := s.write(next); err != nil {
		return err
	}
	s.state = next
	return nil
}
