package shard

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"sort"

	"github.com/shoal-db/shoal/internal/api"
)

// Encodings of an op-log record body (byte 1 of the value).
const (
	opEncJSON          = 0 // api.UpdateOperation as JSON
	opEncUpsert        = 1 // binary upsert (vectors as raw floats)
	opEncUpdateVectors = 2 // binary update_vectors
)

const noPayload = math.MaxUint32

// encodeOp encodes op for the op log. Operations carrying vectors use a
// binary body so that logging a large upsert costs a copy, not a JSON
// rendering of every float.
func encodeOp(op *api.UpdateOperation) ([]byte, error) {
	switch {
	case op.Upsert != nil:
		b := []byte{opEnvVersion, opEncUpsert}
		b, err := appendFilter(b, op.Upsert.UpdateFilter)
		if err != nil {
			return nil, err
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(len(op.Upsert.Points)))
		for i := range op.Upsert.Points {
			p := &op.Upsert.Points[i]
			b = appendID(b, p.ID)
			b = appendVectors(b, p.Vector)
			if p.Payload == nil {
				b = binary.LittleEndian.AppendUint32(b, noPayload)
				continue
			}
			js, err := json.Marshal(p.Payload)
			if err != nil {
				return nil, fmt.Errorf("cannot encode payload: %w", err)
			}
			b = binary.LittleEndian.AppendUint32(b, uint32(len(js)))
			b = append(b, js...)
		}
		return b, nil
	case op.UpdateVectors != nil:
		b := []byte{opEnvVersion, opEncUpdateVectors}
		b, err := appendFilter(b, op.UpdateVectors.UpdateFilter)
		if err != nil {
			return nil, err
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(len(op.UpdateVectors.Points)))
		for i := range op.UpdateVectors.Points {
			p := &op.UpdateVectors.Points[i]
			b = appendID(b, p.ID)
			b = appendVectors(b, p.Vector)
		}
		return b, nil
	}
	js, err := json.Marshal(op)
	if err != nil {
		return nil, fmt.Errorf("cannot encode operation: %w", err)
	}
	return append([]byte{opEnvVersion, opEncJSON}, js...), nil
}

func appendFilter(b []byte, f *api.Filter) ([]byte, error) {
	if f == nil {
		return binary.LittleEndian.AppendUint32(b, 0), nil
	}
	js, err := json.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("cannot encode filter: %w", err)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(js)))
	return append(b, js...), nil
}

func appendID(b []byte, id api.PointID) []byte {
	k := id.Key()
	b = append(b, byte(len(k)))
	return append(b, k...)
}

func appendVectors(b []byte, v api.Vectors) []byte {
	names := make([]string, 0, len(v))
	for n := range v {
		names = append(names, n)
	}
	sort.Strings(names)
	b = append(b, byte(len(names)))
	for _, n := range names {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(n)))
		b = append(b, n...)
		vec := v[n]
		b = binary.LittleEndian.AppendUint32(b, uint32(len(vec)))
		for _, x := range vec {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
		}
	}
	return b
}

// decodeOp decodes an op-log value made by encodeOp.
func decodeOp(b []byte) (*api.UpdateOperation, error) {
	if len(b) < 2 || b[0] != opEnvVersion {
		return nil, fmt.Errorf("cannot decode operation envelope: %w", errCorrupt)
	}
	enc := b[1]
	r := &reader{b: b[2:]}
	switch enc {
	case opEncJSON:
		op := new(api.UpdateOperation)
		if err := json.Unmarshal(r.b, op); err != nil {
			return nil, fmt.Errorf("cannot decode operation: %w", err)
		}
		return op, nil
	case opEncUpsert, opEncUpdateVectors:
		f := r.filter()
		n := int(r.u32())
		if r.err != nil || n > len(r.b) {
			return nil, fmt.Errorf("cannot decode operation: %w", errCorrupt)
		}
		if enc == opEncUpsert {
			up := &api.UpsertPoints{UpdateFilter: f, Points: make([]api.PointStruct, 0, n)}
			for range n {
				p := api.PointStruct{ID: r.id(), Vector: r.vectors()}
				if l := r.u32(); l != noPayload {
					js := r.bytes(int(l))
					if r.err == nil {
						pl, err := api.DecodePayload(js)
						if err != nil {
							return nil, fmt.Errorf("cannot decode operation payload: %w", err)
						}
						p.Payload = pl
					}
				}
				up.Points = append(up.Points, p)
			}
			if r.err != nil || len(r.b) != 0 {
				return nil, fmt.Errorf("cannot decode upsert: %w", errCorrupt)
			}
			return &api.UpdateOperation{Upsert: up}, nil
		}
		uv := &api.UpdateVectors{UpdateFilter: f, Points: make([]api.PointVectors, 0, n)}
		for range n {
			uv.Points = append(uv.Points, api.PointVectors{ID: r.id(), Vector: r.vectors()})
		}
		if r.err != nil || len(r.b) != 0 {
			return nil, fmt.Errorf("cannot decode update_vectors: %w", errCorrupt)
		}
		return &api.UpdateOperation{UpdateVectors: uv}, nil
	}
	return nil, fmt.Errorf("cannot decode operation encoding %d: %w", enc, errCorrupt)
}

// reader consumes a byte slice, remembering the first error.
type reader struct {
	b   []byte
	err error
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.err = errCorrupt
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8() byte {
	b := r.bytes(1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (r *reader) u16() uint16 {
	b := r.bytes(2)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint16(b)
}

func (r *reader) u32() uint32 {
	b := r.bytes(4)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(b)
}

func (r *reader) u64() uint64 {
	b := r.bytes(8)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(b)
}

func (r *reader) id() api.PointID {
	k := r.bytes(int(r.u8()))
	if r.err != nil {
		return api.PointID{}
	}
	id, ok := api.PointIDFromKey(k)
	if !ok {
		r.err = errCorrupt
	}
	return id
}

func (r *reader) vectors() api.Vectors {
	n := int(r.u8())
	v := make(api.Vectors, n)
	for range n {
		name := string(r.bytes(int(r.u16())))
		dim := int(r.u32())
		raw := r.bytes(4 * dim)
		if r.err != nil {
			return v
		}
		vec := make([]float32, dim)
		for i := range vec {
			vec[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		v[name] = vec
	}
	return v
}

func (r *reader) filter() *api.Filter {
	l := r.u32()
	if l == 0 || r.err != nil {
		return nil
	}
	js := r.bytes(int(l))
	if r.err != nil {
		return nil
	}
	f := new(api.Filter)
	if err := json.Unmarshal(js, f); err != nil {
		r.err = err
		return nil
	}
	return f
}
