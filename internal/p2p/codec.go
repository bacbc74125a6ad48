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

// jsonCodec encodes messages with encoding/json, or with their own
// MarshalWire/UnmarshalWire methods when they have them. It is stateless,
// so one value is shared by every call.
type jsonCodec struct{}

// Marshal encodes v.
func (jsonCodec) Marshal(v any) (mem.BufferSlice, error) {
	var b []byte
	var err error
	if m, ok := v.(WireMarshaler); ok {
		b, err = m.MarshalWire()
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot encode %T: %w", v, err)
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, nil
}

// Unmarshal decodes data into v.
func (jsonCodec) Unmarshal(data mem.BufferSlice, v any) error {
	var err error
	if u, ok := v.(WireUnmarshaler); ok {
		err = u.UnmarshalWire(data.Materialize())
	} else {
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
