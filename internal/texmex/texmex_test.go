package texmex

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestRoundTripAndLimit(t *testing.T) {
	dir := t.TempDir()
	vecs := [][]float32{{1, 2}, {3, 4}, {-5, 0.25}}
	rows := [][]int32{{7, 8, 9}, {1, 2, 3}}
	var fb, ib bytes.Buffer
	if err := WriteFvecs(&fb, vecs); err != nil {
		t.Fatal(err)
	}
	if err := WriteIvecs(&ib, rows); err != nil {
		t.Fatal(err)
	}
	fp, ip := filepath.Join(dir, "a.fvecs"), filepath.Join(dir, "a.ivecs")
	os.WriteFile(fp, fb.Bytes(), 0o644)
	os.WriteFile(ip, ib.Bytes(), 0o644)
	got, err := ReadFvecs(fp, 0)
	if err != nil || !reflect.DeepEqual(got, vecs) {
		t.Fatalf("fvecs: %v %v", got, err)
	}
	if got, err := ReadFvecs(fp, 2); err != nil || len(got) != 2 {
		t.Fatalf("limit 2 gave %d vectors, %v", len(got), err)
	}
	if gotRows, err := ReadIvecs(ip, 0); err != nil || !reflect.DeepEqual(gotRows, rows) {
		t.Fatalf("ivecs: %v %v", gotRows, err)
	}
	os.WriteFile(fp, fb.Bytes()[:fb.Len()-3], 0o644)
	if _, err := ReadFvecs(fp, 0); err == nil {
		t.Fatal("truncated file read without error")
	}
}
