package loadtool

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// Dataset is a TEXMEX data set: base vectors, queries and the ids of each
// query's exact nearest neighbours (nearest first).
type Dataset struct {
	Name        string
	Base        [][]float32
	Queries     [][]float32
	GroundTruth [][]int32
}

// LoadDataset reads base.fvecs, query.fvecs and groundtruth.ivecs (each
// optionally gzip-compressed with a .gz suffix) from dir.
func LoadDataset(dir string) (*Dataset, error) {
	ds := &Dataset{Name: filepath.Base(dir)}
	var err error
	if ds.Base, err = ReadFvecs(findFile(dir, "base.fvecs")); err != nil {
		return nil, err
	}
	if ds.Queries, err = ReadFvecs(findFile(dir, "query.fvecs")); err != nil {
		return nil, err
	}
	if ds.GroundTruth, err = ReadIvecs(findFile(dir, "groundtruth.ivecs")); err != nil {
		return nil, err
	}
	if len(ds.GroundTruth) != len(ds.Queries) {
		return nil, fmt.Errorf("cannot use %s: %d queries but %d ground-truth rows", dir, len(ds.Queries), len(ds.GroundTruth))
	}
	return ds, nil
}

func findFile(dir, name string) string {
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return p + ".gz"
}

func openMaybeGzip(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open %s: %w", path, err)
	}
	if !strings.HasSuffix(path, ".gz") {
		return f, nil
	}
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot read gzip %s: %w", path, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{zr, f}, nil
}

// ReadFvecs reads a TEXMEX .fvecs file: per vector a little-endian int32
// dimension followed by that many float32 values.
func ReadFvecs(path string) ([][]float32, error) {
	rc, err := openMaybeGzip(path)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	r := bufio.NewReaderSize(rc, 1<<20)
	var out [][]float32
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err == io.EOF {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("cannot read %s: %w", path, err)
		}
		d := int(int32(binary.LittleEndian.Uint32(hdr[:])))
		if d <= 0 || d > 1<<16 {
			return nil, fmt.Errorf("cannot read %s: bad dimension %d", path, d)
		}
		buf := make([]byte, 4*d)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, fmt.Errorf("cannot read %s: truncated vector: %w", path, err)
		}
		v := make([]float32, d)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
		}
		out = append(out, v)
	}
}

// ReadIvecs reads a TEXMEX .ivecs file (int32 rows).
func ReadIvecs(path string) ([][]int32, error) {
	rc, err := openMaybeGzip(path)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	r := bufio.NewReaderSize(rc, 1<<20)
	var out [][]int32
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err == io.EOF {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("cannot read %s: %w", path, err)
		}
		d := int(int32(binary.LittleEndian.Uint32(hdr[:])))
		if d <= 0 || d > 1<<16 {
			return nil, fmt.Errorf("cannot read %s: bad row length %d", path, d)
		}
		buf := make([]byte, 4*d)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, fmt.Errorf("cannot read %s: truncated row: %w", path, err)
		}
		row := make([]int32, d)
		for i := range row {
			row[i] = int32(binary.LittleEndian.Uint32(buf[4*i:]))
		}
		out = append(out, row)
	}
}

// WriteFvecs writes vectors in .fvecs format (used by tests to make data).
func WriteFvecs(w io.Writer, vecs [][]float32) error {
	bw := bufio.NewWriter(w)
	var b [4]byte
	for _, v := range vecs {
		binary.LittleEndian.PutUint32(b[:], uint32(len(v)))
		bw.Write(b[:])
		for _, x := range v {
			binary.LittleEndian.PutUint32(b[:], math.Float32bits(x))
			bw.Write(b[:])
		}
	}
	return bw.Flush()
}

// WriteIvecs writes rows in .ivecs format.
func WriteIvecs(w io.Writer, rows [][]int32) error {
	bw := bufio.NewWriter(w)
	var b [4]byte
	for _, row := range rows {
		binary.LittleEndian.PutUint32(b[:], uint32(len(row)))
		bw.Write(b[:])
		for _, x := range row {
			binary.LittleEndian.PutUint32(b[:], uint32(x))
			bw.Write(b[:])
		}
	}
	return bw.Flush()
}

// RecallAt returns |got ∩ truth[:k]| / k.
func RecallAt(got []uint64, truth []int32, k int) float64 {
	if k > len(truth) {
		k = len(truth)
	}
	want := make(map[uint64]struct{}, k)
	for _, t := range truth[:k] {
		want[uint64(t)] = struct{}{}
	}
	hit := 0
	for i, g := range got {
		if i >= k {
			break
		}
		if _, ok := want[g]; ok {
			hit++
		}
	}
	return float64(hit) / float64(k)
}
