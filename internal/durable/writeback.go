package durable

import (
	"io"
	"os"
)

// WritebackChunk is how many bytes a WritebackWriter lets the page cache
// hold dirty before it starts their writeback.
const WritebackChunk = 8 << 20

// WritebackWriter writes sequentially to a file and keeps the kernel's
// writeback of it going as it grows (Linux: sync_file_range; elsewhere it
// only writes): after each WritebackChunk bytes it starts the writeback of
// those bytes and waits for that of the chunk before, so that at most two
// chunks are dirty and the file's final fsync finds little left to write.
// Without it, a snapshot archive of a gigabyte sat dirty in the page cache
// until its fsync, which then held every other fsync on the device (the
// shards' WAL commits, on which each acknowledged write waits) for up to
// 700 ms; with it the longest such wait was 60 ms (docs/benchmarks.md).
// Pebble does the same for its own files (Options.BytesPerSync).
type WritebackWriter struct {
	f *os.File
	w io.Writer // f, or a wrapper of it (a pacer)
	// off is where the next byte goes; started is where the writeback not
	// yet started begins; waited is where the writeback not yet waited for
	// begins.
	off, started, waited int64
}

// NewWritebackWriter returns a writer that writes through w (f, or a writer
// that passes its bytes on to f unchanged, such as a pacer) to f, whose
// next byte is at offset off.
func NewWritebackWriter(f *os.File, w io.Writer, off int64) *WritebackWriter {
	return &WritebackWriter{f: f, w: w, off: off, started: off, waited: off}
}

// Write writes p and starts or waits for writeback as the file grows.
// Writeback errors are left to the file's fsync, which reports them.
func (w *WritebackWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	w.off += int64(n)
	if w.off-w.started >= WritebackChunk {
		startWriteback(w.f, w.started, w.off-w.started)
		if w.started-w.waited > 0 {
			waitWriteback(w.f, w.waited, w.started-w.waited)
			w.waited = w.started
		}
		w.started = w.off
	}
	return n, err
}

// Truncated moves the writer's idea of the file's end after the file itself was
// truncated or repositioned to off (the writer does not move the file).
func (w *WritebackWriter) Truncated(off int64) {
	w.off = off
	w.started = min(w.started, off)
	w.waited = min(w.waited, off)
}
