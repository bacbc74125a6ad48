package shard

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/filter"
)

// Where payloads live.
//
// In memory (Options.OnDiskPayload unset), Shard.payloads holds each
// offset's payload, published with the rest of the in-memory state.
//
// On disk (OnDiskPayload set, Qdrant's on_disk_payload), payloads stay
// only in the point records of the store, and Shard.payloads is nil. A
// reader reads the record through Shard.view, a store snapshot taken when
// the last operation was published: a commit reaches the store before it
// is published (Pending.Commit), so the store itself may already hold an
// operation that the in-memory state a reader sees does not, and reading
// it could pair an old offset with a newer payload or miss a point that
// readers still see. Publishing the next operation swaps the snapshot
// under the exclusive state lock, which no reader of the old one holds.
// The payload indexes stay in memory in both modes; they are fed from
// the records at Open and from the operations' old and new payloads.

// payloadReader reads payloads for one request: from memory, or from the
// shard's store snapshot, keeping the first error (a store read that
// failed, or a record that does not match the in-memory state) for the
// request to return. Caller holds mu, shared or exclusive, or writeMu
// (writers: the snapshot changes only under both).
type payloadReader struct {
	s   *Shard
	err error
	// The last payload read from disk, at off (a filter's test and the
	// result's payload read the same point one after the other).
	cached bool
	off    uint32
	last   api.Payload
}

func (s *Shard) payloadReader() *payloadReader { return &payloadReader{s: s} }

// at returns the payload of the live point at off (nil: none, or an
// error, which r keeps).
func (r *payloadReader) at(off uint32) api.Payload {
	s := r.s
	if !s.opts.OnDiskPayload {
		return s.payloads[off]
	}
	if r.err != nil {
		return nil
	}
	if r.cached && r.off == off {
		return r.last
	}
	pl, err := s.diskPayload(s.ids.at(off), off)
	if err != nil {
		r.err = err
		return nil
	}
	r.use(off, pl)
	return pl
}

// use tells r the payload at off, read by the caller from the same view.
func (r *payloadReader) use(off uint32, pl api.Payload) {
	r.cached, r.off, r.last = true, off, pl
}

// match reports whether the live point at off matches m (nil: every
// point), reading its payload only when m looks at payloads.
func (r *payloadReader) match(m *filter.Matcher, off uint32) bool {
	if m == nil {
		return true
	}
	var pl api.Payload
	if m.ReadsPayload() {
		pl = r.at(off)
		if r.err != nil {
			return false
		}
	}
	return m.Match(r.s.ids.at(off), pl, r.s.hasVectorFunc(off))
}

// selected returns the part of the payload at off that sel selects,
// reading it only when sel selects anything.
func (r *payloadReader) selected(off uint32, sel *api.PayloadSelector) api.Payload {
	if sel == nil || !sel.Enable {
		return nil
	}
	return filter.Select(r.at(off), sel)
}

// diskPayload reads the payload of point id, at off, from the store
// snapshot.
func (s *Shard) diskPayload(id api.PointID, off uint32) (api.Payload, error) {
	if s.view == nil {
		// The store is closed after a failed commit (recoverStore).
		return nil, errStoreClosed
	}
	v, closer, err := s.view.Get(pointKey(id))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, fmt.Errorf("cannot read payload of point %s: its record is missing: %w", id, errCorrupt)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read payload of point %s: %w", id, err)
	}
	defer closer.Close()
	h, err := decodePointHeader(v, true)
	if err != nil {
		return nil, fmt.Errorf("cannot read point %s: %w", id, err)
	}
	if h.Offset != off {
		return nil, fmt.Errorf("cannot read payload of point %s: its record is at offset %d, the shard has it at %d: %w", id, h.Offset, off, errCorrupt)
	}
	return h.Payload, nil
}

// renewView replaces the payload snapshot with one of the store as it is
// now. Caller holds mu exclusively (or is the only user) and writeMu, or
// is Open. It does nothing with payloads in memory.
func (s *Shard) renewView() {
	if !s.opts.OnDiskPayload {
		return
	}
	if s.view != nil {
		s.view.Close()
		s.view = nil
	}
	if s.db != nil {
		s.view = s.db.NewSnapshot()
	}
}

// closeView releases the payload snapshot (before the store closes).
// Caller holds mu exclusively or is the only user.
func (s *Shard) closeView() {
	if s.view != nil {
		s.view.Close()
		s.view = nil
	}
}

// eachLivePayload calls fn with the payload of every live point in
// offset order (payload index builds, which append postings). Caller
// holds mu or writeMu (either keeps the live set and payloads as they
// are).
func (s *Shard) eachLivePayload(fn func(off uint32, p api.Payload)) error {
	r := s.payloadReader()
	s.live.each(func(off uint32) bool {
		pl := r.at(off)
		if r.err != nil {
			return false
		}
		fn(off, pl)
		return true
	})
	return r.err
}

// PayloadOnDisk reports whether the shard keeps its payloads on disk
// (Options.OnDiskPayload) rather than in memory.
func (s *Shard) PayloadOnDisk() bool { return s.opts.OnDiskPayload }
