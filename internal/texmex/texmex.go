// Package texmex reads and writes ANN benchmark data in TEXMEX format
// (.fvecs float32 rows and .ivecs int32 rows, each a little-endian int32
// length followed by that many 4-byte values), optionally gzip-compressed.
// The engine benchmark, the load tool and the benchmark tests share it.
package texmex

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
)

// openMaybeGzip opens path, decompressing it if its name ends in ".gz".
func openMaybeGzip(path string) (io.Reader, func() error, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot open data file: %w", err)
	}
	if !strings.HasSuffix(path, ".gz") {
		return bufio.NewReaderSize(f, 1<<20), f.Close, nil
	}
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("cannot read gzip file %s: %w", path, err)
	}
	return bufio.NewReaderSize(zr, 1<<20), func() error { zr.Close(); return f.Close() }, nil
}

// ReadVecs reads an fvecs (float32) or ivecs (int32, converted through
// fn's element type) file record by record: each record is a little-endian
// int32 dimension followed by that many 4-byte elements. fn receives the
// record number and the raw elements; the slice is reused between calls.
// It stops after limit records when limit > 0.
func ReadVecs(path string, limit int, fn func(i int, raw []uint32) error) (dim int, n int, err error) {
	r, closeFn, err := openMaybeGzip(path)
	if err != nil {
		return 0, 0, err
	}
	defer closeFn()
	var hdr [4]byte
	var buf []byte
	var raw []uint32
	for limit <= 0 || n < limit {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return dim, n, fmt.Errorf("cannot read %s record %d: %w", path, n, err)
		}
		d := int(int32(binary.LittleEndian.Uint32(hdr[:])))
		if d <= 0 || d > 1<<20 || (dim != 0 && d != dim) {
			return dim, n, fmt.Errorf("cannot read %s: record %d has dimension %d", path, n, d)
		}
		dim = d
		if len(buf) != 4*d {
			buf = make([]byte, 4*d)
			raw = make([]uint32, d)
		}
		if _, err := io.ReadFull(r, buf); err != nil {
			return dim, n, fmt.Errorf("cannot read %s record %d: %w", path, n, err)
		}
		for j := range raw {
			raw[j] = binary.LittleEndian.Uint32(buf[4*j:])
		}
		if err := fn(n, raw); err != nil {
			return dim, n, err
		}
		n++
	}
	return dim, n, nil
}

// ReadFvecs reads a whole fvecs file into memory.
func ReadFvecs(path string, limit int) ([][]float32, error) {
	var out [][]float32
	_, _, err := ReadVecs(path, limit, func(_ int, raw []uint32) error {
		v := make([]float32, len(raw))
		for j, x := range raw {
			v[j] = math.Float32frombits(x)
		}
		out = append(out, v)
		return nil
	})
	return out, err
}

// ReadIvecs reads a whole ivecs file into memory.
func ReadIvecs(path string, limit int) ([][]int32, error) {
	var out [][]int32
	_, _, err := ReadVecs(path, limit, func(_ int, raw []uint32) error {
		v := make([]int32, len(raw))
		for j, x := range raw {
			v[j] = int32(x)
		}
		out = append(out, v)
		return nil
	})
	return out, err
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
