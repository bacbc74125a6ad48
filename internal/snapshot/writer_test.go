package snapshot

import (
	"bytes"
	"context"
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
