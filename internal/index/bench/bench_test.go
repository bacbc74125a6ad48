package bench

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
)

func writeFvecs(t *testing.T, path string, vecs [][]float32) {
	var b bytes.Buffer
	for _, v := range vecs {
		binary.Write(&b, binary.LittleEndian, int32(len(v)))
		for _, x := range v {
			binary.Write(&b, binary.LittleEndian, math.Float32bits(x))
		}
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRunSmall runs the whole benchmark on a small generated data set and
// checks the JSON lines it prints.
func TestRunSmall(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(1, 1))
	gen := func(n int) [][]float32 {
		out := make([][]float32, n)
		for i := range out {
			out[i] = make([]float32, 12)
			for j := range out[i] {
				out[i][j] = float32(r.NormFloat64())
			}
		}
		return out
	}
	writeFvecs(t, filepath.Join(dir, "base.fvecs"), gen(1500))
	writeFvecs(t, filepath.Join(dir, "query.fvecs"), gen(50))
	var out bytes.Buffer
	err := Run(Options{DataDir: dir, Distance: api.DistanceEuclid, M: 8, EfConstruct: 64, Threads: 2,
		Efs: []int{10, 100}, K: 10, Selectivities: []float64{0.2}, Seed: 1}, &out)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&out)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) != 1+2+2 {
		t.Fatalf("got %d lines:\n%s", len(lines), out.String())
	}
	var b BuildResult
	if err := json.Unmarshal([]byte(lines[0]), &b); err != nil || b.N != 1500 || b.Dim != 12 || b.BuildSeconds <= 0 || b.BytesPerPoint < 48 {
		t.Fatalf("build line %s (%v)", lines[0], err)
	}
	for _, l := range lines[1:] {
		var s SearchResult
		if err := json.Unmarshal([]byte(l), &s); err != nil || s.QPS <= 0 || s.Queries != 50 {
			t.Fatalf("search line %s (%v)", l, err)
		}
		if s.Ef == 100 && s.Recall < 0.95 {
			t.Fatalf("recall at ef=100 is %.3f: %s", s.Recall, l)
		}
	}
	// With a graph file: the first run builds and saves, the second loads
	// and finds the same recall.
	gf := filepath.Join(dir, "graph.hnsw")
	var runs [2]bytes.Buffer
	for i := range runs {
		if err := Run(Options{DataDir: dir, M: 8, EfConstruct: 64, Threads: 2, Efs: []int{50}, K: 10, Seed: 1, GraphFile: gf}, &runs[i]); err != nil {
			t.Fatal(err)
		}
	}
	l0 := strings.Split(runs[0].String(), "\n")
	l1 := strings.Split(runs[1].String(), "\n")
	var b0, b1 BuildResult
	var s0, s1 SearchResult
	json.Unmarshal([]byte(l0[0]), &b0)
	json.Unmarshal([]byte(l1[0]), &b1)
	json.Unmarshal([]byte(l0[1]), &s0)
	json.Unmarshal([]byte(l1[1]), &s1)
	if b0.Loaded || !b1.Loaded || s0.Recall != s1.Recall || s0.Recall < 0.9 {
		t.Fatalf("graph file runs:\n%s\n%s", runs[0].String(), runs[1].String())
	}
}
