package rest

import (
	"bytes"
	"encoding/json"
	"math"
	"sort"
	"strconv"

	"github.com/shoal-db/shoal/internal/api"
)

// Search and read answers are dominated by points, and encoding/json
// re-scans every byte a MarshalJSON method returns (the vectors), which
// doubles the cost of a vector-heavy answer. The encoder below writes
// points directly (vectors with api.AppendFloat32, the same text
// api.Vectors.MarshalJSON produces) and uses encoding/json only for
// payload values. Its output decodes to the same value as json.Marshal's
// (TestFastEncodingMatchesJSON).

// encoder appends JSON to a buffer; payload values go through a reusable
// json.Encoder writing to the same buffer.
type encoder struct {
	buf *bytes.Buffer
	enc *json.Encoder
	err error
	// vecBytes counts the bytes of vector text written; the compressor
	// picks its method by the share of them (see Handler.gzip).
	vecBytes int
}

func newEncoder(buf *bytes.Buffer) *encoder {
	e := json.NewEncoder(buf)
	e.SetEscapeHTML(false)
	return &encoder{buf: buf, enc: e}
}

// value encodes v with encoding/json.
func (e *encoder) value(v any) {
	if e.err != nil {
		return
	}
	if err := e.enc.Encode(v); err != nil {
		e.err = err
		return
	}
	e.buf.Truncate(e.buf.Len() - 1) // Encode's newline
}

// encodeResult writes result, taking the fast path for point-carrying
// results and encoding/json for everything else.
func (e *encoder) encodeResult(result any) error {
	switch r := result.(type) {
	case []api.ScoredPoint:
		e.scoredPoints(r)
	case [][]api.ScoredPoint:
		e.buf.WriteByte('[')
		for i, l := range r {
			if i > 0 {
				e.buf.WriteByte(',')
			}
			e.scoredPoints(l)
		}
		e.buf.WriteByte(']')
	case *api.QueryResponse:
		e.queryResponse(r)
	case []api.QueryResponse:
		e.buf.WriteByte('[')
		for i := range r {
			if i > 0 {
				e.buf.WriteByte(',')
			}
			e.queryResponse(&r[i])
		}
		e.buf.WriteByte(']')
	case []api.Record:
		e.records(r)
	case *api.Record:
		e.record(r)
	case *api.ScrollResult:
		e.buf.WriteString(`{"points":`)
		e.records(r.Points)
		e.buf.WriteString(`,"next_page_offset":`)
		if r.NextPageOffset == nil {
			e.buf.WriteString("null")
		} else {
			e.id(*r.NextPageOffset)
		}
		e.buf.WriteByte('}')
	default:
		e.value(result)
	}
	return e.err
}

func (e *encoder) queryResponse(r *api.QueryResponse) {
	e.buf.WriteString(`{"points":`)
	e.scoredPoints(r.Points)
	e.buf.WriteByte('}')
}

func (e *encoder) scoredPoints(ps []api.ScoredPoint) {
	if ps == nil {
		e.buf.WriteString("null")
		return
	}
	e.buf.WriteByte('[')
	for i := range ps {
		if i > 0 {
			e.buf.WriteByte(',')
		}
		e.scoredPoint(&ps[i])
	}
	e.buf.WriteByte(']')
}

func (e *encoder) scoredPoint(p *api.ScoredPoint) {
	b := e.buf
	b.WriteString(`{"id":`)
	e.id(p.ID)
	b.WriteString(`,"version":`)
	b.Write(strconv.AppendUint(b.AvailableBuffer(), p.Version, 10))
	b.WriteString(`,"score":`)
	b.Write(appendJSONFloat32(b.AvailableBuffer(), p.Score))
	e.pointTail(p.Payload, p.Vector, p.Sparse, p.Multi, p.ShardKey, p.OrderValue)
}

func (e *encoder) records(rs []api.Record) {
	if rs == nil {
		e.buf.WriteString("null")
		return
	}
	e.buf.WriteByte('[')
	for i := range rs {
		if i > 0 {
			e.buf.WriteByte(',')
		}
		e.record(&rs[i])
	}
	e.buf.WriteByte(']')
}

func (e *encoder) record(r *api.Record) {
	if r == nil {
		e.buf.WriteString("null")
		return
	}
	e.buf.WriteString(`{"id":`)
	e.id(r.ID)
	e.pointTail(r.Payload, r.Vector, r.Sparse, r.Multi, r.ShardKey, r.OrderValue)
}

// pointTail writes the optional fields shared by Record and ScoredPoint and
// closes the object: the payload when there is one (an empty payload of a
// point whose payload was asked for is written {}), the vectors when
// asked for, the shard key and order value when set.
func (e *encoder) pointTail(payload api.Payload, vec api.Vectors, sparse api.SparseVectors, multi api.MultiVectors, shardKey, orderValue any) {
	b := e.buf
	if payload != nil {
		b.WriteString(`,"payload":`)
		e.value(map[string]any(payload))
	}
	switch {
	case len(sparse) > 0 || len(multi) > 0:
		// Dense, sparse and multi-vectors together; rare enough for
		// encoding/json.
		b.WriteString(`,"vector":`)
		e.value(api.Record{Vector: vec, Sparse: sparse, Multi: multi}.VectorJSON())
	case vec != nil: // requested: a point without vectors has {}
		b.WriteString(`,"vector":`)
		e.vectors(vec)
	}
	if shardKey != nil {
		b.WriteString(`,"shard_key":`)
		e.value(shardKey)
	}
	if orderValue != nil {
		b.WriteString(`,"order_value":`)
		e.value(orderValue)
	}
	b.WriteByte('}')
}

func (e *encoder) id(id api.PointID) {
	if id.IsUUID {
		e.buf.WriteByte('"')
		e.buf.WriteString(id.UUID.String())
		e.buf.WriteByte('"')
		return
	}
	e.buf.Write(strconv.AppendUint(e.buf.AvailableBuffer(), id.Num, 10))
}

// vectors writes api.Vectors as its MarshalJSON does: a bare array for the
// only, unnamed vector, else an object of name to array (names sorted, as
// encoding/json sorts map keys).
func (e *encoder) vectors(v api.Vectors) {
	if vec, ok := v[api.DefaultVectorName]; ok && len(v) == 1 {
		e.floats(vec)
		return
	}
	names := make([]string, 0, len(v))
	for n := range v {
		names = append(names, n)
	}
	sort.Strings(names)
	e.buf.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			e.buf.WriteByte(',')
		}
		e.value(n)
		e.buf.WriteByte(':')
		e.floats(v[n])
	}
	e.buf.WriteByte('}')
}

func (e *encoder) floats(v []float32) {
	b := e.buf
	b.Grow(len(v)*12 + 2)
	out := b.AvailableBuffer()
	out = append(out, '[')
	for i, x := range v {
		if i > 0 {
			out = append(out, ',')
		}
		out = api.AppendFloat32(out, x)
	}
	out = append(out, ']')
	e.vecBytes += len(out)
	b.Write(out)
}

// appendJSONFloat32 formats f as encoding/json formats a float32.
func appendJSONFloat32(b []byte, f float32) []byte {
	x := float64(f)
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return append(b, '0') // never produced by scoring; keep the JSON valid
	}
	abs := math.Abs(x)
	format := byte('f')
	if abs != 0 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, x, format, -1, 32)
	if format == 'e' {
		// Clean up e-09 to e-9, as encoding/json does.
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
