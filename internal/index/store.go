// Package index holds what every vector index of Shoal shares: the
// in-memory vector Store addressed by dense uint32 offsets and the Result
// type. The exact index lives in index/flat, the HNSW graph in index/hnsw.
package index

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/shoal-db/shoal/internal/vecmath"
)

// Result is one hit of an index search: the offset of a vector and its
// internal distance to the query (lower is better; see vecmath.Dist).
type Result struct {
	Off  uint32
	Dist float32
}

// chunkShift sets the number of vectors per chunk (1 << chunkShift).
const chunkShift = 10

const chunkLen = 1 << chunkShift

// ChunkLen is the number of offsets per chunk of a Store, the unit in
// which ReleaseChunk frees memory.
const ChunkLen = chunkLen

// Datatype is the element type a Store keeps its vectors in (Qdrant's
// vector datatype): whatever the type, vectors go in and come out as
// float32, encoded on Set and decoded on the way out.
type Datatype uint8

const (
	// Float32 keeps 4-byte IEEE floats; Get returns them without copying.
	Float32 Datatype = iota
	// Float16 keeps 2-byte half-precision floats (rounded to nearest even
	// on Set; the caller rounds first when it needs to know the stored
	// value, see vecmath.RoundF16).
	Float16
	// Uint8 keeps one byte per element: the caller stores integers from 0
	// to 255 only (Set clamps and truncates anything else).
	Uint8
	// Turbo4 keeps 4 bits per element plus a float32 scale per vector
	// (TurboQuant: see turbo4.go and vecmath/turbo4.go). What it returns
	// is an approximation of what was Set, and scoring needs the query
	// prepared by Store.Query.
	Turbo4
)

// Size returns the bytes of one element, rounded up (1 for Turbo4, which
// takes half a byte): use VectorBytes for the size of a vector.
func (d Datatype) Size() int {
	switch d {
	case Float16:
		return 2
	case Uint8, Turbo4:
		return 1
	}
	return 4
}

// VectorBytes returns the bytes of one vector of dim elements.
func (d Datatype) VectorBytes(dim int) int {
	if d == Turbo4 {
		return vecmath.Turbo4Bytes(dim)
	}
	return dim * d.Size()
}

// String returns Qdrant's name of the datatype.
func (d Datatype) String() string {
	switch d {
	case Float16:
		return "float16"
	case Uint8:
		return "uint8"
	case Turbo4:
		return "turbo4"
	}
	return "float32"
}

// Store is in-memory vector storage of one fixed dimension and element type
// addressed by dense uint32 offsets. It grows in fixed-size chunks of 1024
// vectors, so growth never copies vectors; its memory is about
// Datatype.VectorBytes(dim) bytes per offset below Cap, plus one pointer per
// chunk.
//
// Concurrency: any number of goroutines may call Get, Raw, Vector, Dim, Len
// and Cap while one goroutine at a time calls Set (Set calls are serialised
// internally, so several writers are safe too). A read of offset o is safe
// concurrently with Sets of offsets other than o. A read of o must happen
// after the Set of o that wrote it (the caller publishes o through a lock, a
// channel or an atomic, as index/hnsw does through its neighbour lists); a
// Set of o while another goroutine reads o is a data race. A read of an
// offset that was never set returns a zero vector if o < Cap() and panics
// otherwise.
type Store struct {
	dim    int
	dt     Datatype
	vbytes int // bytes of one vector: dt.VectorBytes(dim)
	// chunks is the chunk directory; it is replaced (copy on write) under
	// growMu, never modified in place, so readers load it without locking.
	// Chunks are at least 8-byte aligned (heap allocations of this size, or
	// page-aligned mappings), so float32 and uint16 views of them are safe.
	chunks atomic.Pointer[[][]byte]
	n      atomic.Uint32 // 1 + the highest offset set so far

	growMu sync.Mutex // serialises Set, growth and releases
	// zero backs every released chunk: stored by the first release, never
	// written.
	zero     atomic.Pointer[[]byte]
	released atomic.Int64 // chunks released

	// file, when set, backs the chunks (NewFileStore): mapped read-only,
	// written with WriteAt.
	file *MapFile
	buf  []byte // Set's encoding scratch for a file store, guarded by growMu
}

// NewStore returns an empty store of float32 vectors with dim elements.
func NewStore(dim int) *Store { return NewTypedStore(dim, Float32) }

// NewTypedStore returns an empty store of vectors with dim elements of type
// dt.
func NewTypedStore(dim int, dt Datatype) *Store {
	if dim <= 0 {
		panic(fmt.Sprintf("index: invalid vector dimension %d", dim))
	}
	if dt > Turbo4 {
		panic(fmt.Sprintf("index: invalid datatype %d", dt))
	}
	s := &Store{dim: dim, dt: dt, vbytes: dt.VectorBytes(dim)}
	empty := [][]byte{}
	s.chunks.Store(&empty)
	return s
}

// Dim returns the dimension of the stored vectors.
func (s *Store) Dim() int { return s.dim }

// Type returns the element type of the stored vectors.
func (s *Store) Type() Datatype { return s.dt }

// Len returns one more than the highest offset set so far (0 when empty).
func (s *Store) Len() int { return int(s.n.Load()) }

// Cap returns the number of offsets currently backed by memory.
func (s *Store) Cap() int { return len(*s.chunks.Load()) * chunkLen }

// Bytes returns the memory the store holds for vectors: its backed chunks
// less the released ones, plus the one zero chunk they share.
func (s *Store) Bytes() int64 {
	if s.file != nil {
		return 0 // mapped from the file: page cache, not heap
	}
	chunks := int64(len(*s.chunks.Load())) - s.released.Load()
	if s.released.Load() > 0 {
		chunks++
	}
	return chunks * chunkLen * int64(s.vbytes)
}

// Released returns the number of chunks ReleaseChunk has freed.
func (s *Store) Released() int { return int(s.released.Load()) }

// ReleaseChunk frees the memory of chunk c, the offsets c·ChunkLen to
// (c+1)·ChunkLen-1, and reports whether it did (false when the chunk is not
// backed or was released before). Reads of those offsets return zero
// vectors from then on; readers that loaded the chunk directory before
// (a View, a Get in progress) still see the old vectors. The caller
// guarantees that nothing needs those vectors any more and that no offset
// of the chunk is Set again: Set panics on a released chunk.
func (s *Store) ReleaseChunk(c int) bool {
	s.growMu.Lock()
	defer s.growMu.Unlock()
	old := *s.chunks.Load()
	if c < 0 || c >= len(old) || s.isZero(old[c]) {
		return false
	}
	if s.zero.Load() == nil {
		z := make([]byte, chunkLen*s.vbytes)
		s.zero.Store(&z)
	}
	next := make([][]byte, len(old), cap(old))
	copy(next, old)
	next[c] = *s.zero.Load()
	s.chunks.Store(&next)
	s.released.Add(1)
	if s.file != nil {
		s.file.Release(c)
	}
	return true
}

// ChunkReleased reports whether chunk c was released.
func (s *Store) ChunkReleased(c int) bool {
	chunks := *s.chunks.Load()
	return c >= 0 && c < len(chunks) && s.isZero(chunks[c])
}

// isZero reports whether chunk is the shared zero chunk.
func (s *Store) isZero(chunk []byte) bool {
	z := s.zero.Load()
	return z != nil && len(chunk) > 0 && &chunk[0] == &(*z)[0]
}

// encode writes vec in the store's element type into dst (vbytes bytes).
func (s *Store) encode(dst []byte, vec []float32) {
	switch s.dt {
	case Float32:
		copy(f32s(dst), vec)
	case Float16:
		h := vecmath.Uint16s(dst)
		for i, x := range vec {
			h[i] = vecmath.F32ToF16(x)
		}
	case Uint8:
		for i, x := range vec {
			switch {
			case !(x > 0): // also NaN
				dst[i] = 0
			case x >= 255:
				dst[i] = 255
			default:
				dst[i] = byte(x)
			}
		}
	case Turbo4:
		turbo4Encode(dst, vec)
	}
}

// decode writes the vector with the encoding raw into dst (Dim elements).
func (s *Store) decode(dst []float32, raw []byte) []float32 {
	dst = dst[:s.dim]
	switch s.dt {
	case Float32:
		copy(dst, f32s(raw))
	case Float16:
		for i, h := range vecmath.Uint16s(raw)[:s.dim] {
			dst[i] = vecmath.F16ToF32(h)
		}
	case Uint8:
		for i, b := range raw[:s.dim] {
			dst[i] = float32(b)
		}
	case Turbo4:
		turbo4Decode(dst, raw)
	}
	return dst
}

// f32s views b (4-byte aligned, a multiple of 4 long) as float32s.
func f32s(b []byte) []float32 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4)
}

// Set stores vec at offset off (encoded in the store's element type),
// growing the store as needed. It panics if len(vec) differs from the
// store's dimension.
func (s *Store) Set(off uint32, vec []float32) {
	if len(vec) != s.dim {
		panic(fmt.Sprintf("index: vector of dimension %d in a store of dimension %d", len(vec), s.dim))
	}
	s.growMu.Lock()
	defer s.growMu.Unlock()
	s.growLocked(int(off) + 1)
	chunks := *s.chunks.Load()
	i := int(off&(chunkLen-1)) * s.vbytes
	if s.isZero(chunks[off>>chunkShift]) {
		panic(fmt.Sprintf("index: Set of offset %d in a released chunk", off))
	}
	if s.file != nil {
		if cap(s.buf) < s.vbytes {
			s.buf = make([]byte, s.vbytes)
		}
		s.buf = s.buf[:s.vbytes]
		s.encode(s.buf, vec)
		s.fileWrite(off, s.buf)
	} else {
		s.encode(chunks[off>>chunkShift][i:i+s.vbytes], vec)
	}
	if off+1 > s.n.Load() {
		s.n.Store(off + 1)
	}
}

// Extend makes the store n offsets long (Len at least n), backed by
// memory; offsets not Set since read as zero vectors. A graph loaded
// before its vectors (an index file without them, filled from the point
// records next) needs the length its nodes refer to.
func (s *Store) Extend(n int) {
	s.growMu.Lock()
	defer s.growMu.Unlock()
	s.growLocked(n)
	if uint32(n) > s.n.Load() {
		s.n.Store(uint32(n))
	}
}

// Grow makes sure offsets below n are backed by memory, so that later Sets
// below n do not allocate.
func (s *Store) Grow(n int) {
	s.growMu.Lock()
	defer s.growMu.Unlock()
	s.growLocked(n)
}

func (s *Store) growLocked(n int) {
	old := *s.chunks.Load()
	need := (n + chunkLen - 1) >> chunkShift
	if need <= len(old) {
		return
	}
	grown := make([][]byte, need, max(need, 2*len(old)))
	copy(grown, old)
	for i := len(old); i < need; i++ {
		if s.file != nil {
			grown[i] = s.mapChunk(i)
		} else {
			grown[i] = make([]byte, chunkLen*s.vbytes)
		}
	}
	s.chunks.Store(&grown)
}

// Get returns the float32 vector at off without copying; the caller must
// not modify it. It panics unless the store's datatype is Float32 (use
// Vector or Raw otherwise). See Store for the concurrency rule.
func (s *Store) Get(off uint32) []float32 {
	if s.dt != Float32 {
		panic(fmt.Sprintf("index: Get from a %s store", s.dt))
	}
	return f32s(s.Raw(off))
}

// Raw returns the encoded bytes of the vector at off without copying
// (Datatype.VectorBytes(dim) bytes); the caller must not modify them.
func (s *Store) Raw(off uint32) []byte {
	chunks := *s.chunks.Load()
	i := int(off&(chunkLen-1)) * s.vbytes
	return chunks[off>>chunkShift][i : i+s.vbytes : i+s.vbytes]
}

// Vector returns the vector at off as float32s: Get's slice for a Float32
// store, a new decoded copy otherwise.
func (s *Store) Vector(off uint32) []float32 {
	if s.dt == Float32 {
		return s.Get(off)
	}
	return s.decode(make([]float32, s.dim), s.Raw(off))
}

// Decode returns the vector at off as float32s: Get's slice for a Float32
// store, else decoded into dst (len ≥ Dim), which it returns.
func (s *Store) Decode(off uint32, dst []float32) []float32 {
	if s.dt == Float32 {
		return s.Get(off)
	}
	return s.decode(dst, s.Raw(off))
}

// Query returns the query vector q prepared for the typed kernel of the
// store's datatype (vecmath.KernelT4 for Turbo4, which takes the query
// rotated as the stored vectors are): q itself for the other datatypes.
// A search prepares its query once and scores every stored vector with
// it.
func (s *Store) Query(q []float32) []float32 {
	if s.dt == Turbo4 {
		return turbo4Query(q)
	}
	return q
}

// QueryVector returns the vector at off prepared as a query (Query of
// Vector(off)), for scoring stored vectors against each other: for Turbo4
// the rotated dequantized coordinates (a new slice, without the cost of
// rotating), otherwise Vector(off).
func (s *Store) QueryVector(off uint32) []float32 {
	if s.dt != Turbo4 {
		return s.Vector(off)
	}
	raw := s.Raw(off)
	sc := vecmath.Turbo4Scale(raw)
	out := make([]float32, s.dim)
	for i := range out {
		out[i] = sc * vecmath.Turbo4Levels[raw[4+i/2]>>(4*(i&1))&15]
	}
	return out
}

// View is a read-only snapshot of the store's chunk directory for hot loops:
// its Get and Raw skip one atomic load per call. It sees every offset below
// the Cap of the store at the time View was called.
type View struct {
	chunks [][]byte
	vbytes int
}

// View returns a View of the store.
func (s *Store) View() View { return View{chunks: *s.chunks.Load(), vbytes: s.vbytes} }

// Get returns the float32 vector at off without copying, under the same
// rules as Store.Get (a Float32 store only: the view does not check). It
// panics if off was not backed when the View was taken.
func (v View) Get(off uint32) []float32 { return f32s(v.Raw(off)) }

// Raw returns the encoded bytes of the vector at off, as Store.Raw.
func (v View) Raw(off uint32) []byte {
	i := int(off&(chunkLen-1)) * v.vbytes
	return v.chunks[off>>chunkShift][i : i+v.vbytes : i+v.vbytes]
}

// Len returns the number of offsets the view covers.
func (v View) Len() int { return len(v.chunks) * chunkLen }

// writeVectors writes the vectors of offsets below n to w as little-endian
// float32s, taking each one's encoding from raw (given a scratch buffer of
// one encoded vector).
func (s *Store) writeVectors(w io.Writer, n uint32, raw func(off uint32, scratch []byte) []byte) error {
	buf := make([]byte, 0, 4*s.dim*64)
	scratch := make([]byte, s.vbytes)
	vec := make([]float32, s.dim)
	for off := range n {
		for _, x := range decodeLE(s.dt, vec, raw(off, scratch)) {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(x))
		}
		if len(buf)+4*s.dim > cap(buf) || off == n-1 {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	return nil
}

// decodeLE decodes the little-endian encoding raw of a vector of type dt
// into dst (its length is the dimension) without alignment requirements.
func decodeLE(dt Datatype, dst []float32, raw []byte) []float32 {
	switch dt {
	case Float32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	case Float16:
		for i := range dst {
			dst[i] = vecmath.F16ToF32(binary.LittleEndian.Uint16(raw[2*i:]))
		}
	case Uint8:
		for i := range dst {
			dst[i] = float32(raw[i])
		}
	case Turbo4:
		turbo4Decode(dst, raw) // reads bytes only: no alignment needed
	}
	return dst
}
