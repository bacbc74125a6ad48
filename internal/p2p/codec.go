package p2p

import (
	"encoding/json"
	"fmt"

	"google.golang.org/grpc/mem"
)

// CodecName is the name of the JSON codec every p2p call and server uses; it
// is sent as the gRPC content-subtype ("application/grpc+shoal-json").
const CodecName = "shoal-json"

// jsonCodec encodes messages with encoding/json. It is stateless, so one
// value is shared by every call.
type jsonCodec struct{}

// Marshal encodes v as JSON.
func (jsonCodec) Marshal(v any) (mem.BufferSlice, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("cannot encode %T: %w", v, err)
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, nil
}

// Unmarshal decodes JSON data into v.
func (jsonCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if err := json.Unmarshal(data.Materialize(), v); err != nil {
		return fmt.Errorf("cannot decode %T: %w", v, err)
	}
	return nil
}

// Name returns CodecName.
func (jsonCodec) Name() string { return CodecName }

// codec is the codec value passed to grpc.ForceCodecV2 and
// grpc.ForceServerCodecV2. It holds no state.
var codec jsonCodec
