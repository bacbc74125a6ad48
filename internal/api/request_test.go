package api

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestRequestParameters(t *testing.T) {
	if _, err := TimeoutSeconds(0); KindOf(err) != KindBadRequest || Message(err) != "Validation error: [timeout: value 0 invalid, must be 1 or larger]" {
		t.Errorf("timeout 0: %v", err)
	}
	if n, err := TimeoutSeconds(5); err != nil || n != 5 {
		t.Errorf("timeout 5: %d %v", n, err)
	}
	if n, err := TimeoutSeconds(1 << 63); err != nil || n != MaxTimeoutSeconds {
		t.Errorf("huge timeout: %d %v", n, err)
	}
	if _, err := ReadConsistencyFactor(0); Message(err) != "Validation error: [consistency: value 0 invalid, must be 1 or larger]" {
		t.Errorf("factor 0: %v", err)
	}
	if c, err := ReadConsistencyFactor(3); err != nil || c != "3" {
		t.Errorf("factor 3: %q %v", c, err)
	}
	ctx, cancel := WithTimeout(context.Background(), 0)
	if _, ok := ctx.Deadline(); ok {
		t.Error("timeout 0 set a deadline")
	}
	cancel()
	ctx, cancel = WithTimeout(context.Background(), 2)
	defer cancel()
	if d, ok := ctx.Deadline(); !ok || time.Until(d) > 2*time.Second || time.Until(d) < time.Second {
		t.Errorf("deadline %v %v", d, ok)
	}
}

func TestContextError(t *testing.T) {
	mine := ErrNotFound("x")
	cases := []struct {
		in   error
		kind Kind
		msg  string
	}{
		{fmt.Errorf("search: %w", context.DeadlineExceeded), KindTimeout, "Timeout: Operation timed out"},
		{fmt.Errorf("search: %w", context.Canceled), KindCanceled, "Operation cancelled: the request was cancelled before it completed"},
		{fmt.Errorf("wrapped: %w", mine), KindNotFound, "Not found: x"},
		{errors.New("disk"), KindInternal, "Service internal error: disk"},
	}
	for _, c := range cases {
		out := ContextError(c.in)
		if KindOf(out) != c.kind || Message(out) != c.msg || !errors.Is(out, errors.Unwrap(c.in)) && !errors.Is(out, c.in) {
			t.Errorf("%v: got %v (kind %d)", c.in, out, KindOf(out))
		}
	}
	if ContextError(nil) != nil {
		t.Error("nil")
	}
}
