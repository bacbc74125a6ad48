package shard

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"unsafe"

	"github.com/shoal-db/shoal/internal/api"
)

// Keyspaces of the shard's Pebble store; docs/format/shard.md describes
// every key and value byte by byte.
const (
	prefixMeta   byte = 0x01 // the single meta record
	prefixPoint  byte = 0x02 // point header by id key
	prefixVector byte = 0x03 // one vector by big-endian offset + name
	prefixOp     byte = 0x04 // op log by big-endian sequence
)

// storeFormatVersion is the version of the store layout this build
// writes. Version 3 adds sparse vectors and multi-vectors (0x03 records of
// their names, op-log entries of kinds 2 and 3); a version 2 store is a
// version 3 store without them,
// so Open reads both and the next write marks the store 3. Version 2 keys
// vectors by offset and lets op-log records refer to them instead of
// holding a second copy; version 1 (id-keyed vectors, every vector in the
// op log too) was never released and is refused.
const (
	storeFormatVersion    = 3
	minStoreFormatVersion = 2
)

// Record versions inside values.
const (
	metaVersion  = 1
	pointVersion = 1
	opEnvVersion = 2
)

var errCorrupt = errors.New("shard: corrupt record")

var metaKey = []byte{prefixMeta}

// meta is the meta record, rewritten by every Apply.
type meta struct {
	Format     uint32 // storeFormatVersion
	LastSeq    uint64 // sequence of the last applied operation
	NextOffset uint32 // next unused in-memory offset
}

func (m meta) encode() []byte {
	b := make([]byte, 17)
	b[0] = metaVersion
	binary.LittleEndian.PutUint32(b[1:], m.Format)
	binary.LittleEndian.PutUint64(b[5:], m.LastSeq)
	binary.LittleEndian.PutUint32(b[13:], m.NextOffset)
	return b
}

func decodeMeta(b []byte) (meta, error) {
	if len(b) != 17 || b[0] != metaVersion {
		return meta{}, fmt.Errorf("cannot decode meta record (len %d): %w", len(b), errCorrupt)
	}
	return meta{
		Format:     binary.LittleEndian.Uint32(b[1:]),
		LastSeq:    binary.LittleEndian.Uint64(b[5:]),
		NextOffset: binary.LittleEndian.Uint32(b[13:]),
	}, nil
}

func pointKey(id api.PointID) []byte {
	return append([]byte{prefixPoint}, id.Key()...)
}

// vectorKey is the key of the vector name stored at offset off.
func vectorKey(off uint32, name string) []byte {
	k := make([]byte, 5, 5+len(name))
	k[0] = prefixVector
	binary.BigEndian.PutUint32(k[1:], off)
	return append(k, name...)
}

// vectorOffsetKey is the first key of offset off's vectors; the keys of
// offsets [a, b) are exactly those in [vectorOffsetKey(a), vectorOffsetKey(b)).
// b may be 1<<32 (the end of the keyspace).
func vectorOffsetKey(off uint64) []byte {
	if off >= 1<<32 {
		return []byte{prefixVector + 1}
	}
	k := make([]byte, 5)
	k[0] = prefixVector
	binary.BigEndian.PutUint32(k[1:], uint32(off))
	return k
}

// vectorKeyOffset splits a vector key into offset and name.
func vectorKeyOffset(k []byte) (uint32, string, bool) {
	if len(k) < 5 || k[0] != prefixVector {
		return 0, "", false
	}
	return binary.BigEndian.Uint32(k[1:]), string(k[5:]), true
}

func opKey(seq uint64) []byte {
	k := make([]byte, 9)
	k[0] = prefixOp
	binary.BigEndian.PutUint64(k[1:], seq)
	return k
}

// pointHeader is the stored part of a point other than its vectors.
type pointHeader struct {
	Version uint64
	Offset  uint32
	Names   []string    // vector names the point has, sorted
	Payload api.Payload // nil when the point has no payload
	// PayloadLen is the length of the payload's JSON in the record (set
	// by encode and decodePointHeader, payload decoded or not).
	PayloadLen int
}

func (h *pointHeader) encode() ([]byte, error) {
	b := make([]byte, 0, 64)
	b = append(b, pointVersion)
	b = binary.LittleEndian.AppendUint64(b, h.Version)
	b = binary.LittleEndian.AppendUint32(b, h.Offset)
	if len(h.Names) > 255 {
		return nil, fmt.Errorf("cannot encode point with %d vector names", len(h.Names))
	}
	b = append(b, byte(len(h.Names)))
	for _, n := range h.Names {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(n)))
		b = append(b, n...)
	}
	if len(h.Payload) > 0 { // an empty payload is stored as none
		js, err := json.Marshal(h.Payload)
		if err != nil {
			return nil, fmt.Errorf("cannot encode payload: %w", err)
		}
		b = append(b, js...)
		h.PayloadLen = len(js)
	}
	return b, nil
}

func decodePointHeader(b []byte, withPayload bool) (pointHeader, error) {
	var h pointHeader
	if len(b) < 14 || b[0] != pointVersion {
		return h, fmt.Errorf("cannot decode point header: %w", errCorrupt)
	}
	h.Version = binary.LittleEndian.Uint64(b[1:])
	h.Offset = binary.LittleEndian.Uint32(b[9:])
	n := int(b[13])
	b = b[14:]
	h.Names = make([]string, 0, n)
	for range n {
		if len(b) < 2 {
			return h, fmt.Errorf("cannot decode point header names: %w", errCorrupt)
		}
		l := int(binary.LittleEndian.Uint16(b))
		if len(b) < 2+l {
			return h, fmt.Errorf("cannot decode point header names: %w", errCorrupt)
		}
		h.Names = append(h.Names, string(b[2:2+l]))
		b = b[2+l:]
	}
	h.PayloadLen = len(b)
	if withPayload && len(b) > 0 {
		p, err := api.DecodePayload(b)
		if err != nil {
			return h, fmt.Errorf("cannot decode payload: %w", err)
		}
		h.Payload = p
	}
	return h, nil
}

func encodeFloats(v []float32) []byte {
	b := make([]byte, 4*len(v))
	putFloats(b, v)
	return b
}

// littleEndian reports whether float32s are stored in memory as the
// little-endian bytes of the on-disk format, so that they can be copied.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// putFloats writes v into b (len 4*len(v)) as float32 LE.
func putFloats(b []byte, v []float32) {
	if littleEndian && len(v) > 0 {
		copy(b, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 4*len(v)))
		return
	}
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
}

func decodeFloats(b []byte) ([]float32, error) {
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("cannot decode vector of %d bytes: %w", len(b), errCorrupt)
	}
	v := make([]float32, len(b)/4)
	if littleEndian && len(v) > 0 {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), len(b)), b)
		return v, nil
	}
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, nil
}
