package remote

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"

	"github.com/google/uuid"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/shard"
)

// Search is the hot call of the Shards service: a coordinator that holds
// none of a collection's shards sends every search over it. Its request and
// response skip JSON for what every search carries (the query vector, the
// hits' ids, versions and scores) and use the binary layouts below through
// p2p.WireMarshaler; the rest of the request (filter, parameters, custom
// scores, ...) and the rest of each hit (payload, vectors, ...) stay JSON
// inside them. Every other message of the service is JSON.
//
// Encoding primitives (encoding/binary): uvarint; f32 is 4 little-endian
// bytes of the IEEE-754 bits; "string" and "json" are uvarint(len) then the
// bytes.
//
// SearchRequest, version 1:
//
//	byte     version (1)
//	string   Target.Collection
//	uvarint  Target.Generation, Target.Shard
//	string   Req.Using
//	uvarint  Req.Limit
//	uvarint  len(Req.Vector)+1 (0: nil), then that many f32
//	json     Req with Using, Vector and Limit cleared (empty: the
//	         cleared request is the zero value)
//
// SearchResponse, version 1:
//
//	byte     version (1)
//	uvarint  number of points + 1 (0: nil)
//	points:  byte id kind (0: integer, then uvarint; 1: UUID, then 16 bytes)
//	         uvarint Version; f32 Score
//	         json extras (empty: none), a pointExtras object

// searchWireVersion is the version byte of both Search layouts.
const searchWireVersion = 1

// errWireTruncated reports a message that ends inside a field.
var errWireTruncated = errors.New("truncated search message")

// MarshalWire encodes the request (p2p.WireMarshaler).
func (m *SearchRequest) MarshalWire() ([]byte, error) {
	cold := m.Req
	cold.Using, cold.Vector, cold.Limit = "", nil, 0
	cold.Scorer = nil // travels as Custom
	var coldJSON []byte
	if !coldIsZero(&cold) {
		var err error
		if coldJSON, err = json.Marshal(&cold); err != nil {
			return nil, err
		}
	}
	b := make([]byte, 0, 32+len(m.Collection)+len(m.Req.Using)+4*len(m.Req.Vector)+len(coldJSON))
	b = append(b, searchWireVersion)
	b = appendString(b, m.Collection)
	b = binary.AppendUvarint(b, m.Generation)
	if m.Shard < 0 || m.Req.Limit < 0 {
		return nil, fmt.Errorf("cannot encode search: negative shard %d or limit %d", m.Shard, m.Req.Limit)
	}
	b = binary.AppendUvarint(b, uint64(m.Shard))
	b = appendString(b, m.Req.Using)
	b = binary.AppendUvarint(b, uint64(m.Req.Limit))
	if m.Req.Vector == nil {
		b = append(b, 0)
	} else {
		b = binary.AppendUvarint(b, uint64(len(m.Req.Vector))+1)
		for _, f := range m.Req.Vector {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
		}
	}
	b = appendString(b, string(coldJSON))
	return b, nil
}

// coldIsZero reports whether the JSON-carried part of a request is empty,
// the common case of a plain nearest search without parameters. It asks
// reflect rather than naming fields, so a field added to
// shard.SearchRequest later is never left out.
func coldIsZero(r *shard.SearchRequest) bool { return reflect.ValueOf(r).Elem().IsZero() }

// UnmarshalWire decodes a request encoded by MarshalWire
// (p2p.WireUnmarshaler).
func (m *SearchRequest) UnmarshalWire(data []byte) error {
	d := wireDecoder{b: data}
	if v := d.byte(); d.err == nil && v != searchWireVersion {
		return fmt.Errorf("search request: wire version %d, this build reads %d", v, searchWireVersion)
	}
	coll := d.string()
	gen := d.uvarint()
	sh := d.int()
	using := d.string()
	limit := d.int()
	var vec []float32
	if n := d.count(4); n > 0 {
		vec = make([]float32, n-1)
		for i := range vec {
			vec[i] = d.f32()
		}
	}
	coldJSON := d.bytes()
	if d.err != nil {
		return d.err
	}
	if len(d.b) != 0 {
		return fmt.Errorf("search request: %d trailing bytes", len(d.b))
	}
	var req shard.SearchRequest
	if len(coldJSON) > 0 {
		if err := json.Unmarshal(coldJSON, &req); err != nil {
			return fmt.Errorf("search request: %w", err)
		}
	}
	req.Using, req.Vector, req.Limit = using, vec, limit
	*m = SearchRequest{Target: Target{Collection: coll, Generation: gen, Shard: sh}, Req: req}
	return nil
}

// pointExtras is what a hit carries beyond id, version and score. The
// vector maps are pointers so that "not requested" (nil) and "the point has
// none" (empty) stay apart.
type pointExtras struct {
	Payload    api.Payload        `json:"payload,omitempty"`
	Vector     *api.Vectors       `json:"vector,omitempty"`
	Sparse     *api.SparseVectors `json:"sparse,omitempty"`
	Multi      *api.MultiVectors  `json:"multi,omitempty"`
	ShardKey   any                `json:"shard_key,omitempty"`
	OrderValue any                `json:"order_value,omitempty"`
}

// MarshalWire encodes the response (p2p.WireMarshaler).
func (m *SearchResponse) MarshalWire() ([]byte, error) {
	b := make([]byte, 0, 8+len(m.Points)*24)
	b = append(b, searchWireVersion)
	if m.Points == nil {
		b = append(b, 0)
	} else {
		b = binary.AppendUvarint(b, uint64(len(m.Points))+1)
	}
	for i := range m.Points {
		p := &m.Points[i]
		if p.ID.IsUUID {
			b = append(b, 1)
			b = append(b, p.ID.UUID[:]...)
		} else {
			b = append(b, 0)
			b = binary.AppendUvarint(b, p.ID.Num)
		}
		b = binary.AppendUvarint(b, p.Version)
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(p.Score))
		if p.Payload == nil && p.Vector == nil && p.Sparse == nil && p.Multi == nil && p.ShardKey == nil && p.OrderValue == nil {
			b = append(b, 0)
			continue
		}
		x := pointExtras{Payload: p.Payload, ShardKey: p.ShardKey, OrderValue: p.OrderValue}
		if p.Vector != nil {
			x.Vector = &p.Vector
		}
		if p.Sparse != nil {
			x.Sparse = &p.Sparse
		}
		if p.Multi != nil {
			x.Multi = &p.Multi
		}
		xb, err := json.Marshal(&x)
		if err != nil {
			return nil, err
		}
		b = appendString(b, string(xb))
	}
	return b, nil
}

// UnmarshalWire decodes a response encoded by MarshalWire
// (p2p.WireUnmarshaler).
func (m *SearchResponse) UnmarshalWire(data []byte) error {
	d := wireDecoder{b: data}
	if v := d.byte(); d.err == nil && v != searchWireVersion {
		return fmt.Errorf("search response: wire version %d, this build reads %d", v, searchWireVersion)
	}
	var pts []api.ScoredPoint
	// A point takes at least 7 bytes: kind, id, version, score, extras.
	if n := d.count(7); n > 0 {
		pts = make([]api.ScoredPoint, n-1)
	}
	for i := range pts {
		p := &pts[i]
		switch d.byte() {
		case 0:
			p.ID = api.NumID(d.uvarint())
		case 1:
			var u uuid.UUID
			copy(u[:], d.take(16))
			p.ID = api.UUIDID(u)
		default:
			if d.err == nil {
				d.err = errors.New("search response: bad point id kind")
			}
		}
		p.Version = d.uvarint()
		p.Score = d.f32()
		if xb := d.bytes(); len(xb) > 0 && d.err == nil {
			var x pointExtras
			if err := json.Unmarshal(xb, &x); err != nil {
				return fmt.Errorf("search response: %w", err)
			}
			p.Payload, p.ShardKey, p.OrderValue = x.Payload, x.ShardKey, x.OrderValue
			if x.Vector != nil {
				p.Vector = *x.Vector
				if p.Vector == nil {
					p.Vector = api.Vectors{}
				}
			}
			if x.Sparse != nil {
				p.Sparse = *x.Sparse
				if p.Sparse == nil {
					p.Sparse = api.SparseVectors{}
				}
			}
			if x.Multi != nil {
				p.Multi = *x.Multi
				if p.Multi == nil {
					p.Multi = api.MultiVectors{}
				}
			}
		}
		if d.err != nil {
			return d.err
		}
	}
	if d.err != nil {
		return d.err
	}
	if len(d.b) != 0 {
		return fmt.Errorf("search response: %d trailing bytes", len(d.b))
	}
	m.Points = pts
	return nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// wireDecoder reads the primitives of the layouts above; the first error
// sticks and every later read returns zero values.
type wireDecoder struct {
	b   []byte
	err error
}

func (d *wireDecoder) fail() {
	if d.err == nil {
		d.err = errWireTruncated
	}
	d.b = nil
}

func (d *wireDecoder) take(n int) []byte {
	if d.err != nil || n < 0 || n > len(d.b) {
		d.fail()
		return nil
	}
	out := d.b[:n:n]
	d.b = d.b[n:]
	return out
}

func (d *wireDecoder) byte() byte {
	if b := d.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (d *wireDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// int reads a uvarint that must fit a non-negative int.
func (d *wireDecoder) int() int {
	v := d.uvarint()
	if v > math.MaxInt32 {
		if d.err == nil {
			d.err = fmt.Errorf("search message: value %d out of range", v)
		}
		return 0
	}
	return int(v)
}

// count reads a uvarint count+1 (0: nil) of elements taking at least
// minSize bytes each, refusing counts the rest of the message cannot hold.
func (d *wireDecoder) count(minSize int) uint64 {
	v := d.uvarint()
	if v > 0 && (v-1) > uint64(len(d.b)/minSize) {
		d.fail()
		return 0
	}
	return v
}

func (d *wireDecoder) f32() float32 {
	if b := d.take(4); b != nil {
		return math.Float32frombits(binary.LittleEndian.Uint32(b))
	}
	return 0
}

func (d *wireDecoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	return d.take(int(n))
}

func (d *wireDecoder) string() string { return string(d.bytes()) }
