package index

import (
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
