package loadtool

import (
	"compress/gzip"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"github.com/shoal-db/shoal/internal/texmex"
)

func randVecs(r *rand.Rand, n, d int) [][]float32 {
	out := make([][]float32, n)
	for i := range out {
		out[i] = make([]float32, d)
		for j := range out[i] {
			out[i][j] = r.Float32()
		}
	}
	return out
}

// writeDataset writes a small TEXMEX data set (gzip-compressed when gz).
func writeDataset(t *testing.T, dir string, base, queries [][]float32, gt [][]int32, gz bool) {
	t.Helper()
	write := func(name string, fn func(f *os.File) error) {
		if gz {
			name += ".gz"
		}
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if !gz {
			if err := fn(f); err != nil {
				t.Fatal(err)
			}
			return
		}
		tmp, _ := os.CreateTemp(dir, "raw")
		if err := fn(tmp); err != nil {
			t.Fatal(err)
		}
		raw, _ := os.ReadFile(tmp.Name())
		tmp.Close()
		os.Remove(tmp.Name())
		zw := gzip.NewWriter(f)
		zw.Write(raw)
		zw.Close()
	}
	write("base.fvecs", func(f *os.File) error { return texmex.WriteFvecs(f, base) })
	write("query.fvecs", func(f *os.File) error { return texmex.WriteFvecs(f, queries) })
	write("groundtruth.ivecs", func(f *os.File) error { return texmex.WriteIvecs(f, gt) })
}

func TestDatasetRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	base, queries := randVecs(r, 200, 7), randVecs(r, 5, 7)
	gt := BruteForceGroundTruth(base, queries, 10)
	for _, gz := range []bool{false, true} {
		dir := t.TempDir()
		writeDataset(t, dir, base, queries, gt, gz)
		ds, err := LoadDataset(dir)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(ds.Base, base) || !reflect.DeepEqual(ds.Queries, queries) || !reflect.DeepEqual(ds.GroundTruth, gt) {
			t.Fatalf("gz=%v: data set differs after round trip", gz)
		}
	}
}

func TestReadFvecsRejectsTruncated(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.fvecs")
	f, _ := os.Create(p)
	texmex.WriteFvecs(f, [][]float32{{1, 2, 3}})
	f.Close()
	b, _ := os.ReadFile(p)
	os.WriteFile(p, b[:len(b)-2], 0o644)
	if _, err := texmex.ReadFvecs(p, 0); err == nil {
		t.Fatal("truncated file read without error")
	}
}

func TestGroundTruthAndRecall(t *testing.T) {
	base := [][]float32{{0}, {1}, {2}, {3}, {10}}
	gt := BruteForceGroundTruth(base, [][]float32{{2.4}}, 3)
	if want := []int32{2, 3, 1}; !reflect.DeepEqual(gt[0], want) {
		t.Fatalf("ground truth %v, want %v", gt[0], want)
	}
	if r := RecallAt([]uint64{2, 1, 4}, gt[0], 3); r < 0.66 || r > 0.67 {
		t.Fatalf("recall %v, want 2/3", r)
	}
	if r := RecallAt(nil, gt[0], 3); r != 0 {
		t.Fatalf("recall of nothing %v", r)
	}
}

func TestParseInts(t *testing.T) {
	got, err := parseInts("16, 32,64")
	if err != nil || !reflect.DeepEqual(got, []int{16, 32, 64}) {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range []string{"", "a", "0", "-3", "1,,2"} {
		if _, err := parseInts(bad); err == nil {
			t.Fatalf("parseInts(%q) accepted", bad)
		}
	}
}

// TestAppendFloat32 checks the integer fast path against strconv for
// integers around its bounds and random values.
func TestAppendFloat32(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	vals := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 255, 999999, -999999, 1e6, -1e6, 1e7, 0.5, -2.5, 16777217, 1e-7, 123456.5}
	for range 100000 {
		vals = append(vals, float32(r.IntN(4_000_000)-2_000_000), math.Float32frombits(r.Uint32()), float32(r.NormFloat64()))
	}
	for _, x := range vals {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			continue
		}
		got := string(appendFloat32(nil, x))
		want := strconv.FormatFloat(float64(x), 'g', -1, 32)
		if got != want {
			t.Fatalf("%v: got %s, want %s", x, got, want)
		}
	}
}
