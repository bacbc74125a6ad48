package history

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
)

// LostWrite is one key whose final value no correct execution of the
// history can leave.
type LostWrite struct {
	Key string
	// Got is the final value ("" when absent).
	Got string
	// Allowed are the values a correct system may end with, sorted.
	Allowed []string
	// LastAck is the acknowledged write that returned last, if any: the
	// write the final value must not predate.
	LastAck *Op
	// Wrote is the write of the final value, whatever its outcome (nil
	// when no write of the history wrote it).
	Wrote *Op
}

// String describes the violation.
func (l LostWrite) String() string {
	s := fmt.Sprintf("key %s: final value %q, want one of %q", l.Key, l.Got, l.Allowed)
	if l.LastAck != nil {
		s += fmt.Sprintf(" (last acknowledged write: %v)", *l.LastAck)
	}
	if l.Wrote != nil {
		s += fmt.Sprintf(" (the final value's write: %v)", *l.Wrote)
	}
	return s
}

// LostWritesError lists every key whose final value is not allowed.
type LostWritesError struct {
	Lost []LostWrite
}

// Error lists the violations, one per line.
func (e *LostWritesError) Error() string {
	lines := make([]string, len(e.Lost))
	for i, l := range e.Lost {
		lines[i] = l.String()
	}
	return fmt.Sprintf("%d keys lost acknowledged writes or hold values never written:\n%s", len(e.Lost), strings.Join(lines, "\n"))
}

// CheckNoLostWrites checks the final state of every key against the
// history's writes (puts, deletes, cas). final is the state read after the
// faults healed (at consistency=all): every key present, a missing key
// counts as absent ("").
//
// A write is a candidate for a key's final value unless an acknowledged
// (OK) write of the key was called after it returned: then that write
// overwrote it. An indeterminate (Info) write never returned, so it stays a
// candidate; a failed (Fail) one never took effect, so it never is; the
// key's initial absence is a candidate only if no write was acknowledged.
// The final value must be the value of a candidate: the last acknowledged
// write's, one concurrent with or after it, or an indeterminate one.
//
// The error is a *LostWritesError naming each bad key with the value it
// holds and the values it may hold, or an error about a malformed history.
func CheckNoLostWrites(h []Op, final map[string]string) error {
	if err := validateRegisters(h); err != nil {
		return fmt.Errorf("cannot check lost writes: %w", err)
	}
	writes := map[string][]Op{}
	for _, op := range h {
		if op.Outcome != Fail && op.isWrite() {
			writes[op.Key] = append(writes[op.Key], op)
		}
	}
	keys := map[string]bool{}
	for k := range writes {
		keys[k] = true
	}
	for k := range final {
		keys[k] = true
	}
	var lost []LostWrite
	for _, key := range slices.Sorted(func(yield func(string) bool) {
		for k := range keys {
			if !yield(k) {
				return
			}
		}
	}) {
		got := final[key]
		allowed, lastAck := candidates(writes[key])
		if !slices.Contains(allowed, got) {
			l := LostWrite{Key: key, Got: got, Allowed: allowed, LastAck: lastAck}
			for i := range h {
				if h[i].Key == key && h[i].isWrite() && h[i].written() == got {
					op := h[i]
					l.Wrote = &op
				}
			}
			lost = append(lost, l)
		}
	}
	if len(lost) > 0 {
		return &LostWritesError{Lost: lost}
	}
	return nil
}

// candidates returns the sorted values a key written by ws (none failed)
// may end with, and the acknowledged write that returned last.
func candidates(ws []Op) (allowed []string, lastAck *Op) {
	ret := func(op Op) int64 {
		if op.Outcome == Info {
			return math.MaxInt64
		}
		return op.Return
	}
	// An OK write overwrites every write that returned before its call;
	// the latest such call decides.
	latestAckCall := int64(math.MinInt64)
	for i, op := range ws {
		if op.Outcome != OK {
			continue
		}
		latestAckCall = max(latestAckCall, op.Call)
		if lastAck == nil || op.Return > lastAck.Return {
			lastAck = &ws[i]
		}
	}
	set := map[string]bool{}
	if lastAck == nil {
		set[""] = true // the initial absence
	}
	for _, op := range ws {
		if ret(op) >= latestAckCall {
			set[op.written()] = true
		}
	}
	for v := range set {
		allowed = append(allowed, v)
	}
	sort.Strings(allowed)
	if lastAck != nil {
		c := *lastAck
		lastAck = &c
	}
	return allowed, lastAck
}
