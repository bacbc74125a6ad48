package proc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/shoal-db/shoal/internal/clustertest/history"
	"github.com/shoal-db/shoal/internal/faultnet"
)

// register is the REST client of one history client: keys are point ids,
// a key's value is the point's payload field "v".
type register struct {
	base string
	http *http.Client
}

func newRegister(base string) *register {
	return &register{base: base, http: &http.Client{Timeout: time.Second, Transport: &http.Transport{}}}
}

// outcome classifies an answer: 200 took effect, 4xx certainly did not,
// anything else (5xx, timeouts, resets) is unknown.
func outcome(code int, err error) history.Outcome {
	switch {
	case err != nil:
		return history.Info
	case code == http.StatusOK:
		return history.OK
	case code >= 400 && code < 500:
		return history.Fail
	}
	return history.Info
}

func (r *register) put(key, value string) (int, error) {
	body, _ := json.Marshal(map[string]any{"points": []any{
		map[string]any{"id": json.Number(key), "vector": []float32{1, 0}, "payload": map[string]any{"v": value}},
	}})
	req, err := http.NewRequest("PUT", r.base+"/collections/reg/points?wait=true", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// get returns the value of key, "" for a missing point.
func (r *register) get(key string) (string, int, error) {
	resp, err := r.http.Get(r.base + "/collections/reg/points/" + key)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	var out struct {
		Result struct {
			Payload map[string]any `json:"payload"`
		} `json:"result"`
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", 0, err
	}
	switch resp.StatusCode {
	case http.StatusNotFound:
		return "", http.StatusOK, nil // absent
	case http.StatusOK:
		if err := json.Unmarshal(raw, &out); err != nil {
			return "", 0, fmt.Errorf("cannot decode %s: %w", raw, err)
		}
		v, _ := out.Result.Payload["v"].(string)
		return v, http.StatusOK, nil
	}
	return "", resp.StatusCode, fmt.Errorf("GET point %s: %d %s", key, resp.StatusCode, raw)
}

// TestSingleNodeUnderNetworkFaults runs the three test-support packages
// together: four clients read and write five registers (points) of a real
// shoal process through a fault proxy that delays, holds, drops, resets
// and refuses their connections; the recorded history must be
// linearizable and no acknowledged write may be missing at the end.
func TestSingleNodeUnderNetworkFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	n := Start(t, Build(t), NodeOptions{})
	ready(t, n)
	direct := newRegister(n.HTTP())
	req, _ := http.NewRequest("PUT", n.HTTP()+"/collections/reg", bytes.NewReader([]byte(`{"vectors":{"size":2,"distance":"Dot"}}`)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := direct.http.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("create collection: %v %v", resp, err)
	}
	resp.Body.Close()

	proxy, err := faultnet.NewProxy(n.HTTP()[len("http://"):], faultnet.Options{Name: "clients->node", Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()

	rec := history.NewRecorder()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for c := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reg := newRegister("http://" + proxy.Addr())
			for i := 0; ctx.Err() == nil; i++ {
				key := strconv.Itoa((i*7 + c) % 5)
				if i%2 == 0 {
					value := fmt.Sprintf("c%d-%d", c, i)
					call := rec.Invoke(c, history.KindPut, key, value)
					code, err := reg.put(key, value)
					switch outcome(code, err) {
					case history.OK:
						call.OK("")
					case history.Fail:
						call.Fail(fmt.Errorf("status %d", code))
					default:
						call.Info(fmt.Errorf("status %d: %v", code, err))
					}
				} else {
					call := rec.Invoke(c, history.KindGet, key, "")
					v, code, err := reg.get(key)
					if outcome(code, err) == history.OK {
						call.OK(v)
					} else {
						call.Info(fmt.Errorf("status %d: %v", code, err))
					}
				}
			}
		}()
	}
	faults := []struct {
		name string
		on   func()
	}{
		{"delay", func() { proxy.Delay(20*time.Millisecond, 30*time.Millisecond) }},
		{"blackhole", func() { proxy.Blackhole(true) }},
		{"reset", proxy.Reset},
		{"drop", func() { proxy.Drop(true) }},
		{"refuse", func() { proxy.Refuse(true) }},
		{"bandwidth", func() { proxy.Bandwidth(4 << 10) }},
	}
	for i := 0; ctx.Err() == nil; i++ {
		f := faults[i%len(faults)]
		f.on()
		time.Sleep(250 * time.Millisecond)
		proxy.Heal()
		time.Sleep(150 * time.Millisecond)
	}
	wg.Wait()
	// Held requests were delivered at the last heal; closing the proxy
	// ends its connections. The node may still apply what it received,
	// so read the final state until two reads 300 ms apart agree.
	proxy.Close()
	var final map[string]string
	for {
		time.Sleep(300 * time.Millisecond)
		state := map[string]string{}
		for k := range 5 {
			key := strconv.Itoa(k)
			v, _, err := direct.get(key)
			if err != nil {
				t.Fatal(err)
			}
			if v != "" {
				state[key] = v
			}
		}
		if fmt.Sprint(state) == fmt.Sprint(final) {
			break
		}
		final = state
	}

	h := rec.History()
	counts := map[history.Outcome]int{}
	for _, op := range h {
		counts[op.Outcome]++
	}
	t.Logf("%d operations: %d ok, %d fail, %d info; final %v", len(h), counts[history.OK], counts[history.Fail], counts[history.Info], final)
	if counts[history.OK] < 20 || counts[history.Info] == 0 {
		t.Fatalf("the run did not exercise both healthy and faulty periods: %v", counts)
	}
	dump := func() {
		path := filepath.Join(n.Dir(), "history.json")
		if err := rec.WriteFile(path); err != nil {
			t.Error(err)
		}
		data, _ := os.ReadFile(path)
		t.Logf("history (%s):\n%.20000s", path, data)
	}
	if err := history.CheckNoLostWrites(h, final); err != nil {
		dump()
		t.Fatal(err)
	}
	ok, info, err := history.CheckLinearizable(h, history.KV(), history.CheckOptions{Timeout: time.Minute})
	if err != nil || !ok {
		dump()
		t.Fatalf("not linearizable: %v\n%s", err, info)
	}
	var lw *history.LostWritesError
	if errors.As(history.CheckNoLostWrites(h, map[string]string{}), &lw) {
		t.Logf("sanity: an empty final state would have lost %d keys", len(lw.Lost))
	} else if counts[history.OK] > 0 {
		t.Fatal("the checker accepts losing every write")
	}
}
