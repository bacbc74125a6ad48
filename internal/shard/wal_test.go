package shard

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
)

// lastWAL returns the newest Pebble WAL file of a shard directory.
func lastWAL(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	var logs []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".log") {
			logs = append(logs, e.Name())
		}
	}
	if len(logs) == 0 {
		t.Fatal("no WAL file")
	}
	sort.Strings(logs)
	return filepath.Join(dir, "store", logs[len(logs)-1])
}

// TestTornWALTail appends a torn, never-synced record to the WAL (what a
// power cut in the middle of a write leaves) and checks that the shard
// reopens with every acknowledged operation.
func TestTornWALTail(t *testing.T) {
	for _, tail := range []string{"garbage", "zeros"} {
		t.Run(tail, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(testOptions(dir))
			if err != nil {
				t.Fatal(err)
			}
			for i := range 20 {
				apply(t, s, upsert(pt(uint64(i), []float32{float32(i), 1, 2, 3}, api.Payload{"i": float64(i)})))
			}
			crash(t, s)
			wal := lastWAL(t, dir)
			f, err := os.OpenFile(wal, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			junk := make([]byte, 1000)
			for i := range junk {
				if tail == "garbage" {
					junk[i] = byte(i*7 + 3)
				}
			}
			if _, err := f.Write(junk); err != nil {
				t.Fatal(err)
			}
			f.Close()
			s2 := openShard(t, testOptions(dir))
			if s2.LastSeq() != 20 {
				t.Fatalf("last seq %d after a torn tail, want 20", s2.LastSeq())
			}
			if n, _ := s2.Count(bg, nil, true); n != 20 {
				t.Fatalf("%d points after a torn tail", n)
			}
			if r := getOne(t, s2, 19); r == nil || r.Vector[""][0] != 19 {
				t.Fatalf("last point after a torn tail: %v", r)
			}
			// The shard keeps working.
			if seq := apply(t, s2, upsert(pt(20, []float32{1, 1, 1, 1}, nil))); seq != 21 {
				t.Fatalf("next seq %d", seq)
			}
		})
	}
}
