package snapshot

import (
	"context"
	"io"
	"time"
)

// rateLimitedWriter paces writes to at most rate bytes per second (with a
// burst of one second's worth), so that writing a snapshot leaves disk
// bandwidth to the write path. It stops early when ctx ends.
type rateLimitedWriter struct {
	ctx    context.Context
	w      io.Writer
	rate   float64 // bytes per second
	tokens float64
	last   time.Time
}

func newRateLimitedWriter(ctx context.Context, w io.Writer, bytesPerSecond int64) io.Writer {
	if bytesPerSecond <= 0 {
		return w
	}
	return &rateLimitedWriter{ctx: ctx, w: w, rate: float64(bytesPerSecond), tokens: float64(bytesPerSecond), last: time.Now()}
}

func (r *rateLimitedWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		now := time.Now()
		r.tokens = min(r.rate, r.tokens+now.Sub(r.last).Seconds()*r.rate)
		r.last = now
		if r.tokens < 1 {
			wait := time.Duration((1 - r.tokens) / r.rate * float64(time.Second))
			t := time.NewTimer(max(wait, time.Millisecond))
			select {
			case <-r.ctx.Done():
				t.Stop()
				return written, r.ctx.Err()
			case <-t.C:
			}
			continue
		}
		n := min(len(p), int(r.tokens))
		m, err := r.w.Write(p[:n])
		written += m
		r.tokens -= float64(m)
		if err != nil {
			return written, err
		}
		p = p[m:]
	}
	return written, nil
}
