package p2p

import (
	"encoding/json"
	"fmt"

	"google.golang.org/grpc/mem"
)

// CodecName is the name of the codec every p2p call and server uses; it is
// sent as the gRPC content-subtype ("application/grpc+shoal-json"). It
// encodes messages as JSON, except those implementing WireMarshaler.
const CodecName = "shoal-json"

// WireMarshaler is implemented by messages that encode themselves, such as
// bulk data for which JSON is too slow: the codec sends the bytes
// MarshalWire returns instead of JSON. The type the receiver decodes into
// must implement WireUnmarshaler for the same format.
type WireMarshaler interface {
	MarshalWire() ([]byte, error)
}

// WireUnmarshaler is implemented by messages that decode themselves from the
// bytes their WireMarshaler produced. data is the receiver's own copy: the
// message may keep slices of it.
type WireUnmarshaler interface {
	UnmarshalWire(data []byte) error
}

// WireAppender is implemented by bulk messages that encode themselves by
// appending to a buffer, such as a forwarded write or a replication batch:
// the codec takes the buffer from a pool (WireSize long) and gRPC gives
// it back once the message is sent, instead of a new buffer of the
// message's size being allocated, zeroed and collected on every call.
// WireSize estimates the encoded length.
type WireAppender interface {
	WireSize() int
	AppendWire(b []byte) ([]byte, error)
}

// WireBorrower is implemented by messages that decode themselves from
// bytes they keep no slice of. The codec lends them the received bytes
// (gRPC's own buffer, or a pooled copy when the message arrived in
// several frames) instead of a copy of their own.
type WireBorrower interface {
	UnmarshalWireBorrowed(data []byte) error
}

// jsonCodec encodes messages with encoding/json, or with their own
// wire methods (WireAppender, WireMarshaler; WireBorrower,
// WireUnmarshaler) when they have them. It is stateless, so one value is
// shared by every call.
type jsonCodec struct{}

// Marshal encodes v.
func (jsonCodec) Marshal(v any) (mem.BufferSlice, error) {
	var b []byte
	var err error
	switch m := v.(type) {
	case WireAppender:
		return appendWire(m)
	case WireMarshaler:
		b, err = m.MarshalWire()
	default:
		b, err = json.Marshal(v)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot encode %T: %w", v, err)
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, nil
}

// appendWire encodes m into a pooled buffer (bulkPool), which gRPC gives
// back once it has sent the message. A small message, or one whose
// estimate fell short (append then moves it), has a buffer of its own,
// which the collector frees.
func appendWire(m WireAppender) (mem.BufferSlice, error) {
	size := m.WireSize()
	if size < bulkPoolMin {
		b, err := m.AppendWire(make([]byte, 0, max(size, 0)))
		if err != nil {
			return nil, fmt.Errorf("cannot encode %T: %w", m, err)
		}
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	buf := bulk.Get(size)
	b, err := m.AppendWire((*buf)[:0])
	if err != nil {
		bulk.Put(buf)
		return nil, fmt.Errorf("cannot encode %T: %w", m, err)
	}
	if cap(b) != cap(*buf) { // append outgrew the pooled buffer
		bulk.Put(buf)
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	*buf = b
	return mem.BufferSlice{mem.NewBuffer(buf, bulk)}, nil
}

// Unmarshal decodes data into v.
func (jsonCodec) Unmarshal(data mem.BufferSlice, v any) error {
	var err error
	switch u := v.(type) {
	case WireBorrower:
		buf := data.MaterializeToBuffer(bulk)
		err = u.UnmarshalWireBorrowed(buf.ReadOnlyData())
		buf.Free()
	case WireUnmarshaler:
		err = u.UnmarshalWire(data.Materialize())
	default:
		err = json.Unmarshal(data.Materialize(), v)
	}
	if err != nil {
		return fmt.Errorf("cannot decode %T: %w", v, err)
	}
	return nil
}

// Name returns CodecName.
func (jsonCodec) Name() string { return CodecName }

// codec is the codec value passed to grpc.ForceCodecV2 and
// grpc.ForceServerCodecV2. It holds no state.
var codec jsonCodec
