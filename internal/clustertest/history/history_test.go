package history

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// op builds a completed operation of a hand-made history.
func op(client int, kind, key, value string, call, ret int64, o Outcome, result string) Op {
	return Op{Client: client, Kind: kind, Key: key, Value: value, Call: call, Return: ret, Outcome: o, Result: result}
}

func put(client int, key, value string, call, ret int64, o Outcome) Op {
	return op(client, KindPut, key, value, call, ret, o, "")
}

func get(client int, key string, call, ret int64, result string) Op {
	return op(client, KindGet, key, "", call, ret, OK, result)
}

func cas(client int, key, expect, value string, call, ret int64, o Outcome, result string) Op {
	c := op(client, KindCAS, key, value, call, ret, o, result)
	c.Expect = expect
	return c
}

// numbered sets the IDs of a hand-made history.
func numbered(h ...Op) []Op {
	for i := range h {
		h[i].ID = i
	}
	return h
}

func TestRecorderConcurrent(t *testing.T) {
	r := NewRecorder()
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				call := r.Invoke(c, KindPut, "k", fmt.Sprintf("%d-%d", c, i))
				switch i % 3 {
				case 0:
					call.OK("")
				case 1:
					call.Fail(errors.New("refused"))
				case 2:
					call.Info(errors.New("timeout"))
				}
			}
		}()
	}
	wg.Wait()
	pending := r.InvokeCAS(0, "k", "a", "b")
	h := r.History()
	if len(h) != 801 {
		t.Fatalf("%d operations, want 801", len(h))
	}
	for i, op := range h {
		if op.ID != i {
			t.Fatalf("operation %d has ID %d", i, op.ID)
		}
		if i < 800 && (op.Return < op.Call || op.Call <= 0) {
			t.Fatalf("bad times: %v", op)
		}
	}
	if last := h[800]; last.Outcome != Info || last.Return != 0 || last.Kind != KindCAS || last.Expect != "a" {
		t.Fatalf("a pending operation must read as Info without a return: %v", last)
	}
	pending.OK("true")
	if got := r.History()[800]; got.Outcome != OK || got.Result != "true" {
		t.Fatalf("completed cas: %v", got)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("completing an operation twice must panic")
			}
		}()
		pending.Fail(nil)
	}()

	// JSON round trip, through a file.
	path := filepath.Join(t.TempDir(), "history.json")
	if err := r.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	back, err := ReadJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r.History()) {
		t.Fatal("history changed through JSON")
	}
	if err := CheckNoLostWrites(back, map[string]string{"k": "b"}); err != nil {
		t.Fatalf("the cas acknowledged last must be the final value: %v", err)
	}
}

func TestNoLostWrites(t *testing.T) {
	// a: three sequential acknowledged writes.
	// b: a write concurrent with the last acknowledged one.
	// c: an indeterminate write called long before the last ack.
	// d: only failed and indeterminate writes.
	// e: an acknowledged delete last.
	// f: cas.
	h := numbered(
		put(0, "a", "a1", 10, 20, OK),
		put(1, "a", "a2", 30, 40, OK),
		put(0, "a", "a3", 50, 60, OK),

		put(0, "b", "b1", 10, 20, OK),
		put(1, "b", "b2", 30, 60, OK),
		put(2, "b", "b3", 40, 50, OK), // inside b2's interval

		put(0, "c", "c1", 10, 20, Info),
		put(1, "c", "c2", 30, 40, OK),
		put(2, "c", "c3", 50, 60, Fail),

		put(0, "d", "d1", 10, 20, Fail),
		put(1, "d", "d2", 30, 40, Info),

		put(0, "e", "e1", 10, 20, OK),
		op(1, KindDelete, "e", "", 30, 40, OK, ""),

		put(0, "f", "f1", 10, 20, OK),
		cas(1, "f", "f1", "f2", 30, 40, OK, "true"),
		cas(2, "f", "zz", "f3", 50, 60, OK, "false"),
		cas(3, "f", "f2", "f4", 70, 80, Fail, ""),
	)
	good := []map[string]string{
		{"a": "a3", "b": "b2", "c": "c2", "f": "f2"},
		{"a": "a3", "b": "b3", "c": "c1", "d": "d2", "f": "f2"},
	}
	for _, final := range good {
		if err := CheckNoLostWrites(h, final); err != nil {
			t.Errorf("final %v must pass: %v", final, err)
		}
	}
	bad := []struct {
		final   map[string]string
		key     string
		allowed []string
	}{
		{map[string]string{"a": "a2", "b": "b2", "c": "c2", "f": "f2"}, "a", []string{"a3"}},       // lost the last ack
		{map[string]string{"a": "a3", "b": "b1", "c": "c2", "f": "f2"}, "b", []string{"b2", "b3"}}, // older than both
		{map[string]string{"a": "a3", "b": "b2", "c": "c3", "f": "f2"}, "c", []string{"c1", "c2"}}, // a failed write
		{map[string]string{"a": "a3", "b": "b2", "c": "c2", "d": "d1", "f": "f2"}, "d", []string{"", "d2"}},
		{map[string]string{"a": "a3", "b": "b2", "c": "c2", "e": "e1", "f": "f2"}, "e", []string{""}}, // delete lost
		{map[string]string{"a": "a3", "b": "b2", "c": "c2", "f": "f3"}, "f", []string{"f2"}},          // a cas that did not swap
		{map[string]string{"a": "a3", "b": "b2", "c": "c2", "f": "f4"}, "f", []string{"f2"}},          // a failed cas
		{map[string]string{"b": "b2", "c": "c2", "f": "f2"}, "a", []string{"a3"}},                     // key missing
		{map[string]string{"a": "a3", "b": "b2", "c": "c2", "f": "f2", "x": "x1"}, "x", []string{""}}, // never written
	}
	for _, tc := range bad {
		err := CheckNoLostWrites(h, tc.final)
		var lw *LostWritesError
		if !errors.As(err, &lw) {
			t.Errorf("final %v: got %v, want a LostWritesError", tc.final, err)
			continue
		}
		if len(lw.Lost) != 1 || lw.Lost[0].Key != tc.key || lw.Lost[0].Got != tc.final[tc.key] || !reflect.DeepEqual(lw.Lost[0].Allowed, tc.allowed) {
			t.Errorf("final %v: got %+v, want key %s with allowed %q", tc.final, lw.Lost, tc.key, tc.allowed)
		}
		if !strings.Contains(err.Error(), "key "+tc.key) {
			t.Errorf("error does not name the key: %v", err)
		}
	}
	// The last acknowledged write is reported.
	err := CheckNoLostWrites(h, map[string]string{"a": "a1", "b": "b2", "c": "c2", "f": "f2"})
	var lw *LostWritesError
	if !errors.As(err, &lw) || lw.Lost[0].LastAck == nil || lw.Lost[0].LastAck.Value != "a3" {
		t.Fatalf("want the last acknowledged write a3 named: %v", err)
	}
	if !strings.Contains(err.Error(), `put(a, "a3")`) {
		t.Fatalf("error does not show the last acknowledged write: %v", err)
	}
}

func TestMalformedHistories(t *testing.T) {
	cases := map[string][]Op{
		"duplicate value": numbered(put(0, "a", "v", 1, 2, OK), put(1, "a", "v", 3, 4, OK)),
		"empty value":     numbered(put(0, "a", "", 1, 2, OK)),
		"unknown kind":    numbered(op(0, "incr", "a", "1", 1, 2, OK, "")),
		"pending":         numbered(put(0, "a", "v", 1, 0, Pending)),
		"return < call":   numbered(put(0, "a", "v", 5, 2, OK)),
		"cas result":      numbered(cas(0, "a", "x", "y", 1, 2, OK, "yes")),
	}
	for name, h := range cases {
		err := CheckNoLostWrites(h, nil)
		var lw *LostWritesError
		if err == nil || errors.As(err, &lw) {
			t.Errorf("%s: CheckNoLostWrites = %v, want a malformed-history error", name, err)
		}
		shapeOnly := name == "duplicate value" || name == "empty value" || name == "unknown kind"
		if _, _, err := CheckLinearizable(h, KV(), CheckOptions{}); (err == nil) != shapeOnly {
			t.Errorf("%s: CheckLinearizable error %v", name, err)
		}
	}
}

func TestLinearizable(t *testing.T) {
	cases := map[string][]Op{
		"sequential": numbered(
			put(0, "a", "1", 0, 10, OK),
			get(1, "a", 20, 30, "1"),
			put(1, "a", "2", 40, 50, OK),
			get(0, "a", 60, 70, "2"),
			op(0, KindDelete, "a", "", 80, 90, OK, ""),
			get(1, "a", 100, 110, ""),
		),
		"concurrent read sees the old value": numbered(
			put(0, "a", "1", 0, 10, OK),
			put(0, "a", "2", 20, 50, OK),
			get(1, "a", 30, 40, "1"),
		),
		"concurrent read sees the new value": numbered(
			put(0, "a", "1", 0, 10, OK),
			put(0, "a", "2", 20, 50, OK),
			get(1, "a", 30, 40, "2"),
		),
		"indeterminate write applied late": numbered(
			put(0, "a", "1", 0, 10, OK),
			put(1, "a", "2", 20, 30, Info),
			get(0, "a", 100, 110, "1"),
			get(0, "a", 200, 210, "2"),
		),
		"indeterminate write never applied": numbered(
			put(0, "a", "1", 0, 10, OK),
			put(1, "a", "2", 20, 30, Info),
			get(0, "a", 100, 110, "1"),
		),
		"failed write and unknown read ignored": numbered(
			put(0, "a", "1", 0, 10, OK),
			put(1, "a", "2", 20, 30, Fail),
			op(2, KindGet, "a", "", 40, 50, Info, ""),
			get(0, "a", 100, 110, "1"),
		),
		"cas": numbered(
			put(0, "a", "1", 0, 10, OK),
			cas(1, "a", "1", "2", 20, 30, OK, "true"),
			cas(0, "a", "1", "3", 40, 50, OK, "false"),
			cas(2, "a", "2", "4", 60, 70, Info, ""),
			get(1, "a", 80, 90, "4"),
		),
		"keys are independent": numbered(
			put(0, "a", "1", 0, 10, OK),
			put(1, "b", "1", 0, 10, OK),
			get(0, "b", 20, 30, "1"),
			get(1, "a", 20, 30, "1"),
		),
	}
	for name, h := range cases {
		ok, info, err := CheckLinearizable(h, KV(), CheckOptions{})
		if !ok || err != nil {
			t.Errorf("%s: must be linearizable: %v %s", name, err, info)
		}
	}
}

func TestNotLinearizable(t *testing.T) {
	cases := map[string][]Op{
		"stale read": numbered(
			put(0, "a", "1", 0, 10, OK),
			put(0, "a", "2", 20, 30, OK),
			get(1, "a", 40, 50, "1"),
		),
		"read of a failed write": numbered(
			put(0, "a", "1", 0, 10, OK),
			put(1, "a", "2", 20, 30, Fail),
			get(0, "a", 100, 110, "2"),
		),
		"indeterminate write un-applied": numbered(
			put(0, "a", "1", 0, 10, OK),
			put(1, "a", "2", 20, 30, Info),
			get(0, "a", 100, 110, "2"),
			get(0, "a", 200, 210, "1"),
		),
		"value from nowhere": numbered(
			put(0, "a", "1", 0, 10, OK),
			get(1, "a", 20, 30, "7"),
		),
		"cas against the wrong value": numbered(
			put(0, "a", "1", 0, 10, OK),
			cas(1, "a", "0", "2", 20, 30, OK, "true"),
		),
		"cas that should have swapped": numbered(
			put(0, "a", "1", 0, 10, OK),
			cas(1, "a", "1", "2", 20, 30, OK, "false"),
		),
		"deleted value read back": numbered(
			put(0, "a", "1", 0, 10, OK),
			op(1, KindDelete, "a", "", 20, 30, OK, ""),
			get(0, "a", 40, 50, "1"),
		),
	}
	for name, h := range cases {
		// A correct key next to the broken one must not be blamed.
		h = append(h, put(3, "z", "z1", 0, 10, OK), get(3, "z", 20, 30, "z1"))
		h = numbered(h...)
		viz := filepath.Join(t.TempDir(), "viz.html")
		ok, info, err := CheckLinearizable(h, KV(), CheckOptions{VisualizePath: viz})
		if ok || err != nil {
			t.Errorf("%s: ok=%v err=%v, want not linearizable", name, ok, err)
			continue
		}
		if !strings.Contains(info, "key a:") || strings.Contains(info, "key z") {
			t.Errorf("%s: info must blame key a only:\n%s", name, info)
		}
		if !strings.Contains(info, viz) {
			t.Errorf("%s: info does not name the visualization: %s", name, info)
		}
		html, err := os.ReadFile(viz)
		if err != nil || !bytes.Contains(html, []byte("<html")) {
			t.Errorf("%s: visualization not written: %v", name, err)
		}
		t.Logf("%s: %s", name, info)
	}
}

// TestRecordedLinearizable records a real concurrent history against a
// mutex-protected map (a linearizable store) and one against a store that
// serves reads from a stale copy, and checks the verdicts.
func TestRecordedLinearizable(t *testing.T) {
	run := func(stale bool) []Op {
		var mu sync.Mutex
		state, snapshot := map[string]string{}, map[string]string{}
		r := NewRecorder()
		var wg sync.WaitGroup
		for c := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 50 {
					key := fmt.Sprintf("k%d", i%3)
					if i%2 == 0 {
						v := fmt.Sprintf("c%d-%d", c, i)
						call := r.Invoke(c, KindPut, key, v)
						mu.Lock()
						state[key] = v
						if i%10 == 0 {
							snapshot[key] = v
						}
						mu.Unlock()
						call.OK("")
					} else {
						call := r.Invoke(c, KindGet, key, "")
						mu.Lock()
						v := state[key]
						if stale {
							v = snapshot[key]
						}
						mu.Unlock()
						call.OK(v)
					}
				}
			}()
		}
		wg.Wait()
		return r.History()
	}
	if ok, info, err := CheckLinearizable(run(false), KV(), CheckOptions{}); !ok || err != nil {
		t.Fatalf("a mutex-protected map must be linearizable: %v %s", err, info)
	}
	if ok, _, err := CheckLinearizable(run(true), KV(), CheckOptions{}); ok || err != nil {
		t.Fatalf("stale reads must not be linearizable: ok=%v err=%v", ok, err)
	}
}

// TestCustomModel checks a history of another state machine, a counter
// with "incr" and "read", through CheckLinearizable.
func TestCustomModel(t *testing.T) {
	counter := Model{
		Init: func() any { return 0 },
		Step: func(state, _, output any) (bool, any) {
			n, op := state.(int), output.(Op)
			switch op.Kind {
			case "incr":
				return true, n + 1
			case "read":
				return op.Result == fmt.Sprint(n), n
			}
			return false, n
		},
	}
	isRead := func(op Op) bool { return op.Kind == "read" }
	good := numbered(
		op(0, "incr", "c", "", 0, 10, OK, ""),
		op(1, "incr", "c", "", 5, 30, Info, ""),
		op(0, "read", "c", "", 40, 50, OK, "1"),
		op(2, "read", "c", "", 45, 55, Info, ""),
		op(0, "read", "c", "", 60, 70, OK, "2"),
	)
	if ok, info, err := CheckLinearizable(good, counter, CheckOptions{IsRead: isRead}); !ok || err != nil {
		t.Fatalf("counter history must be linearizable: %v %s", err, info)
	}
	bad := numbered(
		op(0, "incr", "c", "", 0, 10, OK, ""),
		op(0, "incr", "c", "", 20, 30, OK, ""),
		op(1, "read", "c", "", 40, 50, OK, "1"),
	)
	ok, info, err := CheckLinearizable(bad, counter, CheckOptions{IsRead: isRead})
	if ok || err != nil || !strings.Contains(info, "key c:") {
		t.Fatalf("a lost increment must not be linearizable: ok=%v err=%v\n%s", ok, err, info)
	}
	if err := CheckNoLostWrites(good, nil); err == nil {
		t.Fatal("CheckNoLostWrites must refuse kinds it does not know")
	}
}
