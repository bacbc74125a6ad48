package snapshot

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestRateLimitedWriterPaces(t *testing.T) {
	var buf bytes.Buffer
	w := newRateLimitedWriter(context.Background(), &buf, 100_000)
	start := time.Now()
	data := make([]byte, 250_000) // one second of burst, then 1.5 s paced
	if n, err := w.Write(data); n != len(data) || err != nil {
		t.Fatalf("wrote %d, %v", n, err)
	}
	if el := time.Since(start); el < 1400*time.Millisecond {
		t.Fatalf("250 kB at 100 kB/s with a 100 kB burst took only %v", el)
	}
	if buf.Len() != len(data) {
		t.Fatalf("buffer holds %d bytes", buf.Len())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w = newRateLimitedWriter(ctx, &buf, 10)
	if _, err := w.Write(make([]byte, 100)); err == nil {
		t.Fatal("cancelled write went on")
	}
}

// threeBufferTree returns the tree of testManifest's two shards, the
// first holding one file of three copy buffers (3 MiB).
func threeBufferTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{ShardDir(0), ShardDir(1)} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, ShardDir(0), "data"), bytes.Repeat([]byte{7}, 3*copyBufSize), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

// TestWriteArchiveYields checks that WriteArchive calls its yield after
// each buffer it hashes and copies (a 3 MiB file: 3 buffers each way), and
// that an error from yield ends the archive with that error.
func TestWriteArchiveYields(t *testing.T) {
	root := threeBufferTree(t)
	calls := 0
	if _, err := WriteArchive(context.Background(), io.Discard, testManifest("c"), root, func() error { calls++; return nil }); err != nil {
		t.Fatal(err)
	}
	if calls < 6 {
		t.Fatalf("yield called %d times for 3 buffers hashed and 3 copied", calls)
	}
	stop := errors.New("stop")
	for _, after := range []int{1, 4} { // while hashing, while copying
		calls := 0
		var out bytes.Buffer
		_, err := WriteArchive(context.Background(), &out, testManifest("c"), root, func() error {
			if calls++; calls > after {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) {
			t.Fatalf("yield failing after %d calls: WriteArchive = %v", after, err)
		}
		if out.Len() > 3*copyBufSize {
			t.Fatalf("yield failing after %d calls: the archive went on to %d bytes", after, out.Len())
		}
	}
}

// TestExtractYields checks that Extract calls ReadOptions.Yield after each
// buffer it extracts, and stops at its error.
func TestExtractYields(t *testing.T) {
	root := threeBufferTree(t)
	var archive bytes.Buffer
	if _, err := WriteArchive(context.Background(), &archive, testManifest("c"), root, nil); err != nil {
		t.Fatal(err)
	}
	calls := 0
	if _, err := Extract(context.Background(), bytes.NewReader(archive.Bytes()), filepath.Join(t.TempDir(), "x"), ReadOptions{Yield: func() error { calls++; return nil }}); err != nil {
		t.Fatal(err)
	}
	if calls < 3 {
		t.Fatalf("Yield called %d times for 3 buffers extracted", calls)
	}
	stop := errors.New("stop")
	_, err := Extract(context.Background(), bytes.NewReader(archive.Bytes()), filepath.Join(t.TempDir(), "x"), ReadOptions{Yield: func() error { return stop }})
	if !errors.Is(err, stop) {
		t.Fatalf("Extract with a failing Yield = %v", err)
	}
}
