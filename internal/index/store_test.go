package index

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
	"sync"
	"testing"
)

func TestStoreSetGet(t *testing.T) {
	s := NewStore(3)
	if s.Len() != 0 || s.Cap() != 0 {
		t.Fatalf("empty store: len %d cap %d", s.Len(), s.Cap())
	}
	for i := uint32(0); i < 5000; i += 7 {
		s.Set(i, []float32{float32(i), 1, -float32(i)})
	}
	if s.Len() != 4999 {
		t.Fatalf("Len = %d", s.Len())
	}
	for i := uint32(0); i < 5000; i++ {
		v := s.Get(i)
		want := []float32{0, 0, 0}
		if i%7 == 0 {
			want = []float32{float32(i), 1, -float32(i)}
		}
		if len(v) != 3 || v[0] != want[0] || v[1] != want[1] || v[2] != want[2] {
			t.Fatalf("Get(%d) = %v, want %v", i, v, want)
		}
	}
	// Set copies: changing the source afterwards does not change the store.
	src := []float32{9, 9, 9}
	s.Set(1, src)
	src[0] = 0
	if s.Get(1)[0] != 9 {
		t.Fatal("Set did not copy")
	}
	// Views returned by Get stay valid across growth (no reallocation).
	v := s.Get(1)
	s.Set(100000, []float32{1, 2, 3})
	s.Set(1, []float32{5, 5, 5})
	if v[0] != 5 {
		t.Fatal("Get view does not alias the stored vector after growth")
	}
	if s.View().Get(100000)[2] != 3 {
		t.Fatal("View.Get")
	}
}

func TestStoreBadDim(t *testing.T) {
	s := NewStore(2)
	defer func() {
		if recover() == nil {
			t.Fatal("wrong dimension accepted")
		}
	}()
	s.Set(0, []float32{1, 2, 3})
}

// TestStoreConcurrent runs readers of published offsets against a writer
// appending new ones (meaningful under -race).
func TestStoreConcurrent(t *testing.T) {
	s := NewStore(8)
	var mu sync.Mutex
	published := 0
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		vec := make([]float32, 8)
		for i := 0; i < 5000; i++ {
			for j := range vec {
				vec[j] = float32(i)
			}
			s.Set(uint32(i), vec)
			mu.Lock()
			published = i + 1
			mu.Unlock()
		}
	}()
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				n := published
				mu.Unlock()
				for i := max(0, n-50); i < n; i++ {
					if v := s.Get(uint32(i)); v[7] != float32(i) {
						t.Errorf("Get(%d) = %v", i, v)
						return
					}
				}
				if n == 5000 {
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestStoreReleaseChunk checks that a released chunk reads as zeros, no
// longer counts in Bytes, cannot be written, and that a View taken before
// the release still reads the old vectors.
func TestStoreReleaseChunk(t *testing.T) {
	s := NewStore(4)
	for off := range uint32(3 * ChunkLen) {
		s.Set(off, []float32{float32(off), 1, 2, 3})
	}
	full := s.Bytes()
	if want := int64(3 * ChunkLen * 4 * 4); full != want {
		t.Fatalf("Bytes = %d, want %d", full, want)
	}
	before := s.View()
	if !s.ReleaseChunk(1) {
		t.Fatal("ReleaseChunk(1) = false")
	}
	if s.ReleaseChunk(1) || s.ReleaseChunk(3) || s.ReleaseChunk(-1) {
		t.Fatal("releasing a released or unbacked chunk reported true")
	}
	if !s.ReleaseChunk(0) {
		t.Fatal("ReleaseChunk(0) = false")
	}
	// Two released chunks share one zero chunk: one chunk's memory left of
	// the two, plus chunk 2.
	if got, want := s.Bytes(), int64(2*ChunkLen*4*4); got != want {
		t.Fatalf("Bytes after releasing 2 of 3 chunks = %d, want %d", got, want)
	}
	if s.Released() != 2 || !s.ChunkReleased(0) || !s.ChunkReleased(1) || s.ChunkReleased(2) {
		t.Fatalf("Released = %d, ChunkReleased(0,1,2) = %v %v %v", s.Released(), s.ChunkReleased(0), s.ChunkReleased(1), s.ChunkReleased(2))
	}
	for _, off := range []uint32{0, ChunkLen + 5, 2*ChunkLen - 1} {
		if v := s.Get(off); v[0] != 0 || v[1] != 0 || v[3] != 0 {
			t.Fatalf("Get(%d) of a released chunk = %v, want zeros", off, v)
		}
	}
	if v := s.Get(2*ChunkLen + 7); v[0] != float32(2*ChunkLen+7) || v[1] != 1 {
		t.Fatalf("Get of a kept chunk = %v", v)
	}
	if v := before.Get(ChunkLen + 5); v[0] != float32(ChunkLen+5) || v[3] != 3 {
		t.Fatalf("a View taken before the release reads %v, want the old vector", v)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("Set into a released chunk did not panic")
			}
		}()
		s.Set(ChunkLen+1, []float32{9, 9, 9, 9})
	}()
	if v := s.Get(5); v[0] != 0 {
		t.Fatalf("the shared zero chunk was written: Get(5) = %v", v)
	}
	s.Set(3*ChunkLen, []float32{1, 1, 1, 1}) // growth keeps the released chunks
	if !s.ChunkReleased(1) || s.Get(3 * ChunkLen)[0] != 1 {
		t.Fatal("growth after a release lost the release or the new vector")
	}
}

// TestTypedStore: float16 and uint8 stores, on the heap and in a file, keep
// what they are given (values already rounded to the type), take 2 and 1
// bytes per element, and write float32s to index files; Get is float32
// only.
func TestTypedStore(t *testing.T) {
	for _, dim := range []int{5, 8} {
		testTypedStore(t, dim)
	}
}

func testTypedStore(t *testing.T, dim int) {
	vals := map[Datatype][]float32{
		Float16: {0.099975586, -2.5, 65504, 0, 5.9604645e-8, 1, 2, 3},
		Uint8:   {0, 1, 127, 254, 255, 1, 2, 3},
	}
	for _, dt := range []Datatype{Float16, Uint8} {
		for _, onDisk := range []bool{false, true} {
			var s *Store
			if onDisk {
				var err error
				if s, err = NewTypedFileStore(dim, dt, t.TempDir()); err != nil {
					t.Fatal(err)
				}
				defer s.Close()
			} else {
				s = NewTypedStore(dim, dt)
			}
			v := vals[dt][:dim]
			s.Set(3, v)
			s.Set(1500, v)
			if got := s.Vector(3); !slices.Equal(got, v) {
				t.Errorf("%s on_disk=%v: Vector %v, want %v", dt, onDisk, got, v)
			}
			buf := make([]float32, dim)
			if got := s.ReadInto(1500, buf); !slices.Equal(got, v) {
				t.Errorf("%s on_disk=%v: ReadInto %v, want %v", dt, onDisk, got, v)
			}
			if got := s.Decode(2, buf); !slices.Equal(got, make([]float32, dim)) {
				t.Errorf("%s on_disk=%v: unset offset %v", dt, onDisk, got)
			}
			if len(s.Raw(3)) != dim*dt.Size() {
				t.Errorf("%s: raw of %d bytes", dt, len(s.Raw(3)))
			}
			if !onDisk && s.Bytes() != int64(2*ChunkLen*dim*dt.Size()) {
				t.Errorf("%s: %d bytes for two chunks", dt, s.Bytes())
			}
			var out bytes.Buffer
			if err := s.WriteVectors(&out, 4); err != nil {
				t.Fatal(err)
			}
			if out.Len() != 4*dim*4 {
				t.Fatalf("%s on_disk=%v: WriteVectors wrote %d bytes", dt, onDisk, out.Len())
			}
			for i, x := range v {
				if got := math.Float32frombits(binary.LittleEndian.Uint32(out.Bytes()[3*dim*4+4*i:])); got != x {
					t.Errorf("%s on_disk=%v: written element %d %v, want %v", dt, onDisk, i, got, x)
				}
			}
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("%s: Get did not panic", dt)
					}
				}()
				s.Get(3)
			}()
		}
	}
}
