package raftgrpc

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hashicorp/raft"
)

// Raft's AppendEntries requests carry the log itself, so they skip JSON
// (whose decoding cost several times the whole round trip of raft's own
// transport) and use the binary layout below through p2p.WireMarshaler.
// Every other message is small and stays JSON.
//
// AppendEntries request, version 1 (uvarint and varint as in
// encoding/binary; "bytes" is uvarint(len+1) then the bytes, with 0 for a
// nil slice, so nil and empty stay apart):
//
//	byte     version (1)
//	varint   ProtocolVersion
//	bytes    ID, Addr
//	uvarint  Term
//	bytes    Leader
//	uvarint  PrevLogEntry, PrevLogTerm, LeaderCommitIndex
//	uvarint  number of entries + 1 (0: nil)
//	entries: uvarint Index, Term; byte Type; bytes Data, Extensions;
//	         bytes AppendedAt (time.Time.MarshalBinary: seconds,
//	         nanoseconds and zone offset, so the instant round-trips exactly)
//
// Snapshot stream message: byte 0 then the JSON InstallSnapshotRequest
// (the header), or byte 1 then raw snapshot bytes.

// wireVersion is the version byte of the AppendEntries encoding.
const wireVersion = 1

// errTruncated reports a message that ends inside a field.
var errTruncated = errors.New("truncated raft message")

// wireAppendEntries is raft.AppendEntriesRequest with the binary encoding.
type wireAppendEntries raft.AppendEntriesRequest

// MarshalWire encodes the request.
func (m *wireAppendEntries) MarshalWire() ([]byte, error) {
	size := 64 + len(m.ID) + len(m.Addr) + len(m.Leader)
	for _, e := range m.Entries {
		size += 48 + len(e.Data) + len(e.Extensions)
	}
	b := make([]byte, 0, size)
	b = append(b, wireVersion)
	b = binary.AppendVarint(b, int64(m.ProtocolVersion))
	b = appendBytes(b, m.ID)
	b = appendBytes(b, m.Addr)
	b = binary.AppendUvarint(b, m.Term)
	b = appendBytes(b, m.Leader)
	b = binary.AppendUvarint(b, m.PrevLogEntry)
	b = binary.AppendUvarint(b, m.PrevLogTerm)
	b = binary.AppendUvarint(b, m.LeaderCommitIndex)
	if m.Entries == nil {
		b = binary.AppendUvarint(b, 0)
	} else {
		b = binary.AppendUvarint(b, uint64(len(m.Entries))+1)
	}
	for _, e := range m.Entries {
		b = binary.AppendUvarint(b, e.Index)
		b = binary.AppendUvarint(b, e.Term)
		b = append(b, byte(e.Type))
		b = appendBytes(b, e.Data)
		b = appendBytes(b, e.Extensions)
		t, err := e.AppendedAt.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("cannot encode the time of log %d: %w", e.Index, err)
		}
		b = appendBytes(b, t)
	}
	return b, nil
}

// UnmarshalWire decodes the request; its byte slices share data.
func (m *wireAppendEntries) UnmarshalWire(data []byte) error {
	if len(data) == 0 || data[0] != wireVersion {
		return fmt.Errorf("cannot decode AppendEntries: unknown encoding version")
	}
	r := reader{data: data[1:]}
	var out raft.AppendEntriesRequest
	out.ProtocolVersion = raft.ProtocolVersion(r.varint())
	out.ID = r.bytes()
	out.Addr = r.bytes()
	out.Term = r.uvarint()
	out.Leader = r.bytes()
	out.PrevLogEntry = r.uvarint()
	out.PrevLogTerm = r.uvarint()
	out.LeaderCommitIndex = r.uvarint()
	if n := r.uvarint(); n > 0 {
		n--
		// Each entry takes at least 6 bytes: a bound before allocating.
		if n > uint64(len(r.data))/6 {
			return fmt.Errorf("cannot decode AppendEntries: %d entries in %d bytes", n, len(r.data))
		}
		logs := make([]raft.Log, n)
		out.Entries = make([]*raft.Log, n)
		for i := range logs {
			e := &logs[i]
			e.Index = r.uvarint()
			e.Term = r.uvarint()
			e.Type = raft.LogType(r.byte())
			e.Data = r.bytes()
			e.Extensions = r.bytes()
			if t := r.bytes(); r.err == nil {
				if err := e.AppendedAt.UnmarshalBinary(t); err != nil {
					return fmt.Errorf("cannot decode the time of log %d: %w", e.Index, err)
				}
			}
			out.Entries[i] = e
		}
	}
	if r.err != nil {
		return fmt.Errorf("cannot decode AppendEntries: %w", r.err)
	}
	if len(r.data) != 0 {
		return fmt.Errorf("cannot decode AppendEntries: %d bytes left over", len(r.data))
	}
	*m = wireAppendEntries(out)
	return nil
}

// MarshalWire encodes a snapshot stream message.
func (c *snapshotChunk) MarshalWire() ([]byte, error) {
	if c.Header != nil {
		h, err := json.Marshal(c.Header)
		if err != nil {
			return nil, err
		}
		return append([]byte{0}, h...), nil
	}
	// One copy of the chunk; gRPC then frames it as it is.
	return append(append(make([]byte, 0, 1+len(c.Data)), 1), c.Data...), nil
}

// UnmarshalWire decodes a snapshot stream message; Data shares data.
func (c *snapshotChunk) UnmarshalWire(data []byte) error {
	if len(data) == 0 {
		return errTruncated
	}
	switch data[0] {
	case 0:
		c.Header = new(raft.InstallSnapshotRequest)
		return json.Unmarshal(data[1:], c.Header)
	case 1:
		c.Header, c.Data = nil, data[1:]
		return nil
	default:
		return fmt.Errorf("cannot decode snapshot message of kind %d", data[0])
	}
}

// appendBytes appends p as uvarint(len+1) and its bytes, or 0 for nil.
func appendBytes(b, p []byte) []byte {
	if p == nil {
		return binary.AppendUvarint(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(p))+1)
	return append(b, p...)
}

// reader decodes the fields of a binary message; the first failure sticks
// in err and later reads return zero values.
type reader struct {
	data []byte
	err  error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.data)
	if n <= 0 {
		r.err = errTruncated
		return 0
	}
	r.data = r.data[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.data)
	if n <= 0 {
		r.err = errTruncated
		return 0
	}
	r.data = r.data[n:]
	return v
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if len(r.data) == 0 {
		r.err = errTruncated
		return 0
	}
	v := r.data[0]
	r.data = r.data[1:]
	return v
}

// bytes returns the next byte slice (nil if it was nil), capped so that an
// append by its user cannot overwrite what follows.
func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil || n == 0 {
		return nil
	}
	n--
	if n > uint64(len(r.data)) {
		r.err = errTruncated
		return nil
	}
	out := r.data[:n:n]
	r.data = r.data[n:]
	return out
}
