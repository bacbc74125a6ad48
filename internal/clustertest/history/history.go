// Package history records what the clients of a cluster test did and
// checks it: every operation's invocation, its completion (OK, Fail or
// Info) and the times of both, then, after the test, whether acknowledged
// writes survived (CheckNoLostWrites) and whether the history is
// linearizable against a model (CheckLinearizable, with porcupine).
//
// Keys are registers of strings. The empty string means "absent": a get of
// a missing key reads "", a delete writes "". Written values must be
// non-empty and unique per key, so that a value read names the write that
// produced it.
//
// The package is test support: only tests import it.
package history

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Operation kinds understood by the checkers and the KV model.
const (
	// KindPut writes Value to Key.
	KindPut = "put"
	// KindGet reads Key; Result is the value read ("" when absent).
	KindGet = "get"
	// KindDelete removes Key (writes "").
	KindDelete = "delete"
	// KindCAS writes Value to Key if it holds Expect; Result is "true"
	// if it did, "false" if it did not.
	KindCAS = "cas"
)

// Outcome says how an operation ended.
type Outcome int

const (
	// Pending: the operation has not completed (yet). History reports
	// operations still pending as Info.
	Pending Outcome = iota
	// OK: the operation took effect and Result is its answer.
	OK
	// Fail: the operation certainly did not take effect (the server
	// refused it before applying anything).
	Fail
	// Info: the outcome is unknown (a timeout, a lost connection); the
	// operation may take effect at any time after its call, even after
	// its return was recorded.
	Info
)

var outcomeNames = map[Outcome]string{Pending: "pending", OK: "ok", Fail: "fail", Info: "info"}

// String returns the outcome's name.
func (o Outcome) String() string {
	if s, ok := outcomeNames[o]; ok {
		return s
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// MarshalText encodes the outcome by name.
func (o Outcome) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// UnmarshalText decodes an outcome name.
func (o *Outcome) UnmarshalText(b []byte) error {
	for k, v := range outcomeNames {
		if v == string(b) {
			*o = k
			return nil
		}
	}
	return fmt.Errorf("cannot decode outcome %q", b)
}

// Op is one operation of a history.
type Op struct {
	// ID is the operation's index in the history.
	ID int `json:"id"`
	// Client is the zero-based number of the client (session) that ran
	// it; porcupine's visualization draws one row per client.
	Client int    `json:"client"`
	Kind   string `json:"kind"`
	Key    string `json:"key"`
	// Value is the value a put or cas writes.
	Value string `json:"value,omitempty"`
	// Expect is the value a cas compares with.
	Expect string `json:"expect,omitempty"`
	// Call and Return are monotonic nanoseconds since the recorder
	// started; Return is 0 while the operation is pending.
	Call   int64 `json:"call"`
	Return int64 `json:"return"`
	// Outcome and Result are what the client saw: the value of a get,
	// "true" or "false" for a cas.
	Outcome Outcome `json:"outcome"`
	Result  string  `json:"result,omitempty"`
	// Err is the error of a Fail or Info outcome.
	Err string `json:"err,omitempty"`
}

// String describes the operation in one line.
func (op Op) String() string {
	s := fmt.Sprintf("#%d client %d %s [%v, %v] %v", op.ID, op.Client, op.call(), time.Duration(op.Call), time.Duration(op.Return), op.Outcome)
	if op.Outcome == OK && (op.Kind == KindGet || op.Kind == KindCAS) {
		s += fmt.Sprintf(" %q", op.Result)
	}
	if op.Err != "" {
		s += ": " + op.Err
	}
	return s
}

// call describes the invocation, for example put(k, "v").
func (op Op) call() string {
	switch op.Kind {
	case KindPut:
		return fmt.Sprintf("put(%s, %q)", op.Key, op.Value)
	case KindGet:
		return fmt.Sprintf("get(%s)", op.Key)
	case KindDelete:
		return fmt.Sprintf("delete(%s)", op.Key)
	case KindCAS:
		return fmt.Sprintf("cas(%s, %q -> %q)", op.Key, op.Expect, op.Value)
	}
	return fmt.Sprintf("%s(%s, %q)", op.Kind, op.Key, op.Value)
}

// isWrite reports whether the operation changes its key when it takes
// effect.
func (op Op) isWrite() bool {
	switch op.Kind {
	case KindPut, KindDelete:
		return true
	case KindCAS:
		return op.Outcome == Info || op.Result == "true"
	}
	return false
}

// written returns the value the operation leaves in its key.
func (op Op) written() string {
	if op.Kind == KindDelete {
		return ""
	}
	return op.Value
}

// Recorder collects a history from concurrent clients. Every method is
// safe for concurrent use.
type Recorder struct {
	start time.Time

	mu  sync.Mutex // guards ops
	ops []Op
}

// NewRecorder returns an empty recorder whose clock starts now.
func NewRecorder() *Recorder {
	return &Recorder{start: time.Now()}
}

// now returns the monotonic nanoseconds since the recorder started; at
// least 1, so that 0 can mean "not returned".
func (r *Recorder) now() int64 { return max(int64(time.Since(r.start)), 1) }

// Invoke records the call of an operation and returns the handle that
// records its completion. Call it just before sending the request.
func (r *Recorder) Invoke(client int, kind, key, value string) *Call {
	return r.invoke(Op{Client: client, Kind: kind, Key: key, Value: value})
}

// InvokeCAS records the call of a compare-and-set of key from expect to
// value.
func (r *Recorder) InvokeCAS(client int, key, expect, value string) *Call {
	return r.invoke(Op{Client: client, Kind: KindCAS, Key: key, Expect: expect, Value: value})
}

func (r *Recorder) invoke(op Op) *Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	op.ID = len(r.ops)
	op.Call = r.now()
	r.ops = append(r.ops, op)
	return &Call{r: r, id: op.ID}
}

// Call is the handle of one invoked operation. Exactly one of OK, Fail and
// Info must be called on it, just after the answer (or its absence) is
// known.
type Call struct {
	r  *Recorder
	id int
}

// OK records that the operation took effect with the given result (the
// value of a get, "true" or "false" for a cas, ignored otherwise).
func (c *Call) OK(result string) { c.complete(OK, result, nil) }

// Fail records that the operation certainly did not take effect.
func (c *Call) Fail(err error) { c.complete(Fail, "", err) }

// Info records that the outcome is unknown.
func (c *Call) Info(err error) { c.complete(Info, "", err) }

func (c *Call) complete(o Outcome, result string, err error) {
	r := c.r
	r.mu.Lock()
	defer r.mu.Unlock()
	op := &r.ops[c.id]
	if op.Outcome != Pending {
		panic(fmt.Sprintf("history: operation %v completed twice", *op))
	}
	op.Return = r.now()
	op.Outcome = o
	op.Result = result
	if err != nil {
		op.Err = err.Error()
	}
}

// History returns a copy of the operations so far, in call order. An
// operation still pending is reported as Info with Return 0: its client
// never learnt its outcome.
func (r *Recorder) History() []Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := make([]Op, len(r.ops))
	copy(h, r.ops)
	for i := range h {
		if h[i].Outcome == Pending {
			h[i].Outcome = Info
			h[i].Err = "pending when the history was taken"
		}
	}
	return h
}

// WriteJSON writes the history as a JSON array of operations.
func (r *Recorder) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	if err := enc.Encode(r.History()); err != nil {
		return fmt.Errorf("cannot write history: %w", err)
	}
	return nil
}

// WriteFile writes the history as JSON to path.
func (r *Recorder) WriteFile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("cannot write history: %w", err)
	}
	if err := r.WriteJSON(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("cannot write history: %w", err)
	}
	return nil
}

// ReadJSON reads a history written by WriteJSON.
func ReadJSON(rd io.Reader) ([]Op, error) {
	var h []Op
	if err := json.NewDecoder(rd).Decode(&h); err != nil {
		return nil, fmt.Errorf("cannot read history: %w", err)
	}
	return h, nil
}

// validateShape checks what every checker needs: completed operations
// whose returns do not precede their calls, and cas results "true" or
// "false".
func validateShape(h []Op) error {
	for _, op := range h {
		if op.Outcome == Pending {
			return fmt.Errorf("operation %v is pending; take the history with Recorder.History", op)
		}
		if op.Outcome != Info && op.Return < op.Call {
			return fmt.Errorf("operation %v returns before its call", op)
		}
		if op.Kind == KindCAS && op.Outcome == OK && op.Result != "true" && op.Result != "false" {
			return fmt.Errorf("operation %v: a cas result must be \"true\" or \"false\"", op)
		}
	}
	return nil
}

// validateRegisters checks what CheckNoLostWrites needs on top: only the
// register kinds, and written values non-empty and unique per key.
func validateRegisters(h []Op) error {
	if err := validateShape(h); err != nil {
		return err
	}
	type kv struct{ key, value string }
	writers := map[kv]int{}
	for _, op := range h {
		switch op.Kind {
		case KindPut, KindGet, KindDelete, KindCAS:
		default:
			return fmt.Errorf("operation %v: unknown kind %q", op, op.Kind)
		}
		if op.Kind == KindPut || op.Kind == KindCAS {
			if op.Value == "" {
				return fmt.Errorf("operation %v writes the empty value, which means absent", op)
			}
			k := kv{op.Key, op.Value}
			if prev, dup := writers[k]; dup {
				return fmt.Errorf("operations #%d and #%d write the same value %q to key %s; values must be unique", prev, op.ID, op.Value, op.Key)
			}
			writers[k] = op.ID
		}
	}
	return nil
}
