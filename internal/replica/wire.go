package replica

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/shoal-db/shoal/internal/shard"
)

// Binary wire forms of the bulk messages (p2p.WireMarshaler): JSON would
// spell every vector component in decimal and every checkpoint byte in
// base64. Layout (little-endian), after a version byte:
//
//	ReplicateRequest: u32 len + target JSON, u64 epoch, u32 n, then n ×
//	(u64 seq, u64 epoch, u32 len + shard.AppendOperation bytes)
//	InstallChunk:     u32 len + target JSON (0: none), u64 epoch, u64 seq,
//	                  then the data to the end
const wireVersion = 1

var errWire = errors.New("replica: malformed wire message")

type wireReader struct {
	b   []byte
	err error
}

func (r *wireReader) take(n int) []byte {
	if r.err != nil || n < 0 || len(r.b) < n {
		r.err = errWire
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *wireReader) u32() uint32 {
	b := r.take(4)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(b)
}

func (r *wireReader) u64() uint64 {
	b := r.take(8)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(b)
}

func (r *wireReader) bytes() []byte { return r.take(int(r.u32())) }

func (r *wireReader) version() {
	if v := r.take(1); v != nil && v[0] != wireVersion {
		r.err = fmt.Errorf("replica: wire version %d, this build reads %d", v[0], wireVersion)
	}
}

func appendBytes(b, data []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	return append(b, data...)
}

// WireSize implements p2p.WireAppender.
func (m *ReplicateRequest) WireSize() int {
	n := 64 + len(m.Target.Collection)
	for _, op := range m.Ops {
		n += 20 + shard.OperationSize(op.Op)
	}
	return n
}

// AppendWire implements p2p.WireAppender.
func (m *ReplicateRequest) AppendWire(b []byte) ([]byte, error) {
	t, err := json.Marshal(m.Target)
	if err != nil {
		return nil, err
	}
	b = append(b, wireVersion)
	b = appendBytes(b, t)
	b = binary.LittleEndian.AppendUint64(b, m.Epoch)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(m.Ops)))
	for _, op := range m.Ops {
		b = binary.LittleEndian.AppendUint64(b, op.Seq)
		b = binary.LittleEndian.AppendUint64(b, op.Epoch)
		at := len(b)
		b = binary.LittleEndian.AppendUint32(b, 0) // the length, set below
		b, err = shard.AppendOperation(b, op.Op)
		if err != nil {
			return nil, fmt.Errorf("cannot encode operation %d: %w", op.Seq, err)
		}
		binary.LittleEndian.PutUint32(b[at:], uint32(len(b)-at-4))
	}
	return b, nil
}

// UnmarshalWireBorrowed implements p2p.WireBorrower: the request keeps no
// slice of data.
func (m *ReplicateRequest) UnmarshalWireBorrowed(data []byte) error {
	r := &wireReader{b: data}
	r.version()
	t := r.bytes()
	m.Epoch = r.u64()
	n := r.u32()
	if r.err != nil {
		return r.err
	}
	if err := json.Unmarshal(t, &m.Target); err != nil {
		return fmt.Errorf("%w: %v", errWire, err)
	}
	if int(n) > len(r.b)/20 {
		return errWire
	}
	m.Ops = make([]Op, 0, n)
	for range n {
		op := Op{Seq: r.u64(), Epoch: r.u64()}
		enc := r.bytes()
		if r.err != nil {
			return r.err
		}
		dec, err := shard.DecodeOperation(enc)
		if err != nil {
			return fmt.Errorf("%w: operation %d: %v", errWire, op.Seq, err)
		}
		op.Op = dec
		m.Ops = append(m.Ops, op)
	}
	if len(r.b) != 0 {
		return errWire
	}
	return nil
}

// MarshalWire implements p2p.WireMarshaler.
func (m *InstallChunk) MarshalWire() ([]byte, error) {
	var t []byte
	if m.Target != nil {
		var err error
		if t, err = json.Marshal(m.Target); err != nil {
			return nil, err
		}
	}
	b := make([]byte, 0, 1+4+len(t)+16+len(m.Data))
	b = append(b, wireVersion)
	b = appendBytes(b, t)
	b = binary.LittleEndian.AppendUint64(b, m.Epoch)
	b = binary.LittleEndian.AppendUint64(b, m.Seq)
	return append(b, m.Data...), nil
}

// UnmarshalWire implements p2p.WireUnmarshaler.
func (m *InstallChunk) UnmarshalWire(data []byte) error {
	r := &wireReader{b: data}
	r.version()
	t := r.bytes()
	m.Epoch, m.Seq = r.u64(), r.u64()
	if r.err != nil {
		return r.err
	}
	m.Target = nil
	if len(t) > 0 {
		m.Target = new(Target)
		if err := json.Unmarshal(t, m.Target); err != nil {
			return fmt.Errorf("%w: %v", errWire, err)
		}
	}
	m.Data = r.b
	return nil
}
