package shard

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/shoal-db/shoal/internal/api"
)

// Encodings of an op-log record body (byte 1 of the value).
const (
	opEncJSON          = 0 // api.UpdateOperation as JSON
	opEncUpsert        = 1 // binary upsert (vectors as raw floats)
	opEncUpdateVectors = 2 // binary update_vectors
	opEncUpsertMode    = 3 // binary upsert with an update mode byte (insert_only, update_only)
)

// Update modes in an opEncUpsertMode body.
var opModes = []api.UpdateMode{api.UpdateModeUpsert, api.UpdateModeInsertOnly, api.UpdateModeUpdateOnly}

const noPayload = math.MaxUint32

// vecRef reports the offset whose stored vector name equals vec, when the
// operation being logged stored it there; the op-log record then refers to
// it instead of holding a second copy.
type vecRef func(id api.PointID, name string, vec []float32) (uint32, bool)

// vecLoader reads the vector name stored at offset off.
type vecLoader func(off uint32, name string) ([]float32, error)

// Kinds of a vector entry in a binary op-log body.
const (
	vecInline = 0 // u32 dim + dim × float32
	vecStored = 1 // u32 offset of the 0x03 record holding it
	vecSparse = 2 // a sparse vector, inline: u32 n + n × u32 index + n × float32
	vecMulti  = 3 // a multi-vector, inline: u32 count + u32 dim + count × dim × float32
)

// opHeaderLen is the length of the op-log envelope: version, encoding and
// the offset counter before the operation.
const opHeaderLen = 6

// encodeOp encodes op for the op log. offBefore is the shard's offset
// counter before the operation. Operations carrying vectors use a binary
// body; a vector the operation stored at an offset is written as a
// reference to it when ref says so, any other inline.
func encodeOp(op *api.UpdateOperation, offBefore uint32, ref vecRef) ([]byte, error) {
	return appendOp(make([]byte, 0, opSize(op)), op, offBefore, ref)
}

// opSize bounds the size of op's binary encoding with every vector
// inline (its payloads and filter excepted, which are encoded as JSON).
func opSize(op *api.UpdateOperation) int {
	size := opHeaderLen + 9
	switch {
	case op.Upsert != nil:
		for i := range op.Upsert.Points {
			size += 32 + vectorsSize(op.Upsert.Points[i].Vector, op.Upsert.Points[i].Sparse, op.Upsert.Points[i].Multi)
		}
	case op.UpdateVectors != nil:
		for i := range op.UpdateVectors.Points {
			size += 32 + vectorsSize(op.UpdateVectors.Points[i].Vector, op.UpdateVectors.Points[i].Sparse, op.UpdateVectors.Points[i].Multi)
		}
	}
	return size
}

// appendOp appends encodeOp's encoding of op to b.
func appendOp(b []byte, op *api.UpdateOperation, offBefore uint32, ref vecRef) ([]byte, error) {
	head := func(enc byte) []byte {
		b = append(b, opEnvVersion, enc)
		return binary.LittleEndian.AppendUint32(b, offBefore)
	}
	switch {
	case op.Upsert != nil:
		if mode := op.Upsert.UpdateMode; mode != "" && mode != api.UpdateModeUpsert {
			i := slices.Index(opModes, mode)
			if i < 0 {
				return nil, fmt.Errorf("cannot encode update mode %q", mode)
			}
			b = append(head(opEncUpsertMode), byte(i))
		} else {
			b = head(opEncUpsert)
		}
		b, err := appendFilter(b, op.Upsert.UpdateFilter)
		if err != nil {
			return nil, err
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(len(op.Upsert.Points)))
		for i := range op.Upsert.Points {
			p := &op.Upsert.Points[i]
			b = appendID(b, p.ID)
			b = appendVectors(b, p.ID, p.Vector, p.Sparse, p.Multi, ref)
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
		b, err := appendFilter(head(opEncUpdateVectors), op.UpdateVectors.UpdateFilter)
		if err != nil {
			return nil, err
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(len(op.UpdateVectors.Points)))
		for i := range op.UpdateVectors.Points {
			p := &op.UpdateVectors.Points[i]
			b = appendID(b, p.ID)
			b = appendVectors(b, p.ID, p.Vector, p.Sparse, p.Multi, ref)
		}
		return b, nil
	}
	js, err := json.Marshal(op)
	if err != nil {
		return nil, fmt.Errorf("cannot encode operation: %w", err)
	}
	return append(head(opEncJSON), js...), nil
}

// vectorsSize bounds the encoded size of v written inline.
func vectorsSize(v api.Vectors, sv api.SparseVectors, mv api.MultiVectors) int {
	n := 1
	for name, vec := range v {
		n += 2 + len(name) + 1 + 4 + 4*len(vec)
	}
	for name, vec := range sv {
		n += 2 + len(name) + 1 + 4 + 8*len(vec.Indices)
	}
	for name, vs := range mv {
		n += 2 + len(name) + 1 + 8
		for _, vec := range vs {
			n += 4 * len(vec)
		}
	}
	return n
}

// opOffBefore returns the offset counter before the operation of an op-log
// record.
func opOffBefore(b []byte) (uint32, error) {
	if len(b) < opHeaderLen || b[0] != opEnvVersion {
		return 0, fmt.Errorf("cannot decode operation envelope: %w", errCorrupt)
	}
	return binary.LittleEndian.Uint32(b[2:]), nil
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

func appendVectors(b []byte, id api.PointID, v api.Vectors, sv api.SparseVectors, mv api.MultiVectors, ref vecRef) []byte {
	names := make([]string, 0, len(v)+len(sv)+len(mv))
	for n := range mv {
		names = append(names, n)
	}
	for n := range v {
		names = append(names, n)
	}
	for n := range sv {
		names = append(names, n)
	}
	sort.Strings(names)
	b = append(b, byte(len(names)))
	for _, n := range names {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(n)))
		b = append(b, n...)
		if vs, ok := mv[n]; ok {
			// Multi-vectors are logged inline too.
			dim := 0
			if len(vs) > 0 {
				dim = len(vs[0])
			}
			b = append(b, vecMulti)
			b = binary.LittleEndian.AppendUint32(b, uint32(len(vs)))
			b = binary.LittleEndian.AppendUint32(b, uint32(dim))
			b = append(b, encodeMulti(vs, dim)...)
			continue
		}
		if s, ok := sv[n]; ok {
			// Sparse vectors are small: always logged inline.
			b = append(b, vecSparse)
			b = append(b, encodeSparseEntry(s)...)
			continue
		}
		vec := v[n]
		if ref != nil {
			if off, ok := ref(id, n, vec); ok {
				b = append(b, vecStored)
				b = binary.LittleEndian.AppendUint32(b, off)
				continue
			}
		}
		b = append(b, vecInline)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(vec)))
		b = slices.Grow(b, 4*len(vec))
		putFloats(b[len(b):len(b)+4*len(vec)], vec)
		b = b[:len(b)+4*len(vec)]
	}
	return b
}

// decodeOp decodes an op-log value made by encodeOp, reading the vectors
// it refers to with load (nil: such a record is an error).
func decodeOp(b []byte, load vecLoader) (*api.UpdateOperation, error) {
	if _, err := opOffBefore(b); err != nil {
		return nil, err
	}
	enc := b[1]
	r := &reader{b: b[opHeaderLen:], load: load}
	switch enc {
	case opEncJSON:
		op := new(api.UpdateOperation)
		if err := json.Unmarshal(r.b, op); err != nil {
			return nil, fmt.Errorf("cannot decode operation: %w", err)
		}
		return op, nil
	case opEncUpsert, opEncUpsertMode, opEncUpdateVectors:
		var mode api.UpdateMode
		if enc == opEncUpsertMode {
			i := int(r.u8())
			if r.err != nil || i == 0 || i >= len(opModes) {
				return nil, fmt.Errorf("cannot decode update mode: %w", errCorrupt)
			}
			mode = opModes[i]
		}
		f := r.filter()
		n := int(r.u32())
		if r.err != nil || n > len(r.b) {
			return nil, fmt.Errorf("cannot decode operation: %w", errCorrupt)
		}
		if enc != opEncUpdateVectors {
			up := &api.UpsertPoints{UpdateFilter: f, UpdateMode: mode, Points: make([]api.PointStruct, 0, n)}
			for range n {
				p := api.PointStruct{ID: r.id()}
				p.Vector, p.Sparse, p.Multi = r.vectors()
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
				return nil, fmt.Errorf("cannot decode upsert: %w", r.failure())
			}
			return &api.UpdateOperation{Upsert: up}, nil
		}
		uv := &api.UpdateVectors{UpdateFilter: f, Points: make([]api.PointVectors, 0, n)}
		for range n {
			p := api.PointVectors{ID: r.id()}
			p.Vector, p.Sparse, p.Multi = r.vectors()
			uv.Points = append(uv.Points, p)
		}
		if r.err != nil || len(r.b) != 0 {
			return nil, fmt.Errorf("cannot decode update_vectors: %w", r.failure())
		}
		return &api.UpdateOperation{UpdateVectors: uv}, nil
	}
	return nil, fmt.Errorf("cannot decode operation encoding %d: %w", enc, errCorrupt)
}

// reader consumes a byte slice, remembering the first error.
type reader struct {
	b    []byte
	err  error
	load vecLoader // reads vectors the record refers to
}

// failure is the error to report for a record that did not decode.
func (r *reader) failure() error {
	if r.err != nil {
		return r.err
	}
	return errCorrupt
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

func (r *reader) vectors() (api.Vectors, api.SparseVectors, api.MultiVectors) {
	n := int(r.u8())
	v := make(api.Vectors, n)
	var sv api.SparseVectors
	var mv api.MultiVectors
	for range n {
		name := string(r.bytes(int(r.u16())))
		switch kind := r.u8(); {
		case r.err != nil:
			return v, sv, mv
		case kind == vecMulti:
			cnt, dim := int(r.u32()), int(r.u32())
			if r.err != nil || dim == 0 || cnt > len(r.b)/4/dim {
				r.err = errCorrupt
				return v, sv, mv
			}
			raw := r.bytes(4 * cnt * dim)
			if r.err != nil {
				return v, sv, mv
			}
			vs, err := decodeMulti(raw, dim)
			if err != nil {
				r.err = err
				return v, sv, mv
			}
			if mv == nil {
				mv = api.MultiVectors{}
			}
			mv[name] = vs
		case kind == vecSparse:
			cnt := int(r.u32())
			if r.err != nil || cnt > len(r.b)/8 {
				r.err = errCorrupt
				return v, sv, mv
			}
			raw := r.bytes(8 * cnt)
			if r.err != nil {
				return v, sv, mv
			}
			s := api.SparseVector{Indices: make([]uint32, cnt), Values: make([]float32, cnt)}
			for i := range cnt {
				s.Indices[i] = binary.LittleEndian.Uint32(raw[4*i:])
				s.Values[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*cnt+4*i:]))
			}
			if sv == nil {
				sv = api.SparseVectors{}
			}
			sv[name] = s
		case kind == vecStored:
			off := r.u32()
			if r.err != nil {
				return v, sv, mv
			}
			if r.load == nil {
				r.err = fmt.Errorf("operation refers to the stored vector %q at offset %d: %w", name, off, errCorrupt)
				return v, sv, mv
			}
			vec, err := r.load(off, name)
			if err != nil {
				r.err = err
				return v, sv, mv
			}
			v[name] = vec
		case kind == vecInline:
			dim := int(r.u32())
			raw := r.bytes(4 * dim)
			if r.err != nil {
				return v, sv, mv
			}
			vec, _ := decodeFloats(raw)
			v[name] = vec
		default:
			r.err = fmt.Errorf("unknown vector entry kind %d: %w", kind, errCorrupt)
			return v, sv, mv
		}
	}
	return v, sv, mv
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

// encodeSparseEntry is a sparse vector in an op-log entry: u32 count n,
// n × u32 index, n × float32 value (the 0x03 record's encoding).
func encodeSparseEntry(v api.SparseVector) []byte { return encodeSparse(v) }
