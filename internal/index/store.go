// Package index holds what every vector index of Shoal shares: the
// in-memory vector Store addressed by dense uint32 offsets and the Result
// type. The exact index lives in index/flat, the HNSW graph in index/hnsw.
package index

import (
	"fmt"
	"sync"
	"sync/atomic"
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

// Store is in-memory float32 vector storage of one fixed dimension addressed
// by dense uint32 offsets. It grows in fixed-size chunks of 1024 vectors, so
// growth never copies vectors; its memory is about 4·dim bytes per offset
// below Cap, plus one pointer per chunk.
//
// Concurrency: any number of goroutines may call Get, Dim, Len and Cap while
// one goroutine at a time calls Set (Set calls are serialised internally, so
// several writers are safe too). A Get of offset o is safe concurrently with
// Sets of offsets other than o. A Get of o must happen after the Set of o
// that wrote it (the caller publishes o through a lock, a channel or an
// atomic, as index/hnsw does through its neighbour lists); a Set of o while
// another goroutine reads o is a data race. Get of an offset that was never
// set returns a zero vector if o < Cap() and panics otherwise.
type Store struct {
	dim int
	// chunks is the chunk directory; it is replaced (copy on write) under
	// growMu, never modified in place, so readers load it without locking.
	chunks atomic.Pointer[[][]float32]
	n      atomic.Uint32 // 1 + the highest offset set so far

	growMu sync.Mutex // serialises Set, growth and releases
	// zero backs every released chunk: stored by the first release, never
	// written.
	zero     atomic.Pointer[[]float32]
	released atomic.Int64 // chunks released

	// file, when set, backs the chunks (NewFileStore): guarded by growMu.
	file *fileBacking
}

// NewStore returns an empty store of vectors with dim elements.
func NewStore(dim int) *Store {
	if dim <= 0 {
		panic(fmt.Sprintf("index: invalid vector dimension %d", dim))
	}
	s := &Store{dim: dim}
	empty := [][]float32{}
	s.chunks.Store(&empty)
	return s
}

// Dim returns the dimension of the stored vectors.
func (s *Store) Dim() int { return s.dim }

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
	return chunks * chunkLen * int64(s.dim) * 4
}

// Released returns the number of chunks ReleaseChunk has freed.
func (s *Store) Released() int { return int(s.released.Load()) }

// ReleaseChunk frees the memory of chunk c, the offsets c·ChunkLen to
// (c+1)·ChunkLen-1, and reports whether it did (false when the chunk is not
// backed or was released before). Gets of those offsets return zero
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
		z := make([]float32, chunkLen*s.dim)
		s.zero.Store(&z)
	}
	next := make([][]float32, len(old), cap(old))
	copy(next, old)
	next[c] = *s.zero.Load()
	s.chunks.Store(&next)
	s.released.Add(1)
	if s.file != nil {
		s.file.release(c)
	}
	return true
}

// ChunkReleased reports whether chunk c was released.
func (s *Store) ChunkReleased(c int) bool {
	chunks := *s.chunks.Load()
	return c >= 0 && c < len(chunks) && s.isZero(chunks[c])
}

// isZero reports whether chunk is the shared zero chunk.
func (s *Store) isZero(chunk []float32) bool {
	z := s.zero.Load()
	return z != nil && len(chunk) > 0 && &chunk[0] == &(*z)[0]
}

// Set copies vec into offset off, growing the store as needed. It panics if
// len(vec) differs from the store's dimension.
func (s *Store) Set(off uint32, vec []float32) {
	if len(vec) != s.dim {
		panic(fmt.Sprintf("index: vector of dimension %d in a store of dimension %d", len(vec), s.dim))
	}
	s.growMu.Lock()
	defer s.growMu.Unlock()
	s.growLocked(int(off) + 1)
	chunks := *s.chunks.Load()
	i := int(off&(chunkLen-1)) * s.dim
	if s.isZero(chunks[off>>chunkShift]) {
		panic(fmt.Sprintf("index: Set of offset %d in a released chunk", off))
	}
	if s.file != nil {
		s.file.write(int64(off)*int64(s.dim)*4, vec)
	} else {
		copy(chunks[off>>chunkShift][i:i+s.dim], vec)
	}
	if off+1 > s.n.Load() {
		s.n.Store(off + 1)
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
	grown := make([][]float32, need, max(need, 2*len(old)))
	copy(grown, old)
	for i := len(old); i < need; i++ {
		if s.file != nil {
			grown[i] = s.file.mapChunk(i)
		} else {
			grown[i] = make([]float32, chunkLen*s.dim)
		}
	}
	s.chunks.Store(&grown)
}

// Get returns the vector at off without copying; the caller must not modify
// it. See Store for the concurrency rule.
func (s *Store) Get(off uint32) []float32 {
	chunks := *s.chunks.Load()
	i := int(off&(chunkLen-1)) * s.dim
	return chunks[off>>chunkShift][i : i+s.dim : i+s.dim]
}

// View is a read-only snapshot of the store's chunk directory for hot loops:
// its Get skips one atomic load per call. It sees every offset below the
// Cap of the store at the time View was called.
type View struct {
	chunks [][]float32
	dim    int
}

// View returns a View of the store.
func (s *Store) View() View { return View{chunks: *s.chunks.Load(), dim: s.dim} }

// Get returns the vector at off without copying, under the same rules as
// Store.Get. It panics if off was not backed when the View was taken.
func (v View) Get(off uint32) []float32 {
	i := int(off&(chunkLen-1)) * v.dim
	return v.chunks[off>>chunkShift][i : i+v.dim : i+v.dim]
}

// Len returns the number of offsets the view covers.
func (v View) Len() int { return len(v.chunks) * chunkLen }
