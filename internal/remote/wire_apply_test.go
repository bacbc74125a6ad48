package remote

import (
	"encoding/json"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
)

func testApply(t testing.TB) *ApplyRequest {
	var op api.UpdateOperation
	if err := json.Unmarshal([]byte(`{"upsert":{"points":[{"id":1,"vector":{"a":[1,2,3]},"payload":{"k":"v"}},{"id":2,"vector":{"a":[0.5,0.25,0]}}]}}`), &op); err != nil {
		t.Fatal(err)
	}
	return &ApplyRequest{Target: Target{Collection: "c", Generation: 7, Shard: 1}, Op: &op}
}

// TestApplyWireRoundTrip checks that a forwarded write decodes to what was
// sent, and that every truncation fails without a panic.
func TestApplyWireRoundTrip(t *testing.T) {
	req := testApply(t)
	b, err := req.AppendWire(nil)
	if err != nil {
		t.Fatal(err)
	}
	var back ApplyRequest
	if err := back.UnmarshalWireBorrowed(b); err != nil {
		t.Fatal(err)
	}
	// The decoded request keeps no slice of the bytes it was lent.
	for i := range b {
		b[i] = 0xa5
	}
	b, _ = req.AppendWire(nil)
	want, _ := json.Marshal(req)
	got, _ := json.Marshal(&back)
	if string(want) != string(got) {
		t.Fatalf("round trip:\n got %s\nwant %s", got, want)
	}
	// Cut inside the version, the length or the target, it must fail.
	for cut := range 1 + 1 + len(`{"collection":"c","generation":7,"shard":1}`) {
		var x ApplyRequest
		if x.UnmarshalWireBorrowed(b[:cut]) == nil {
			t.Fatalf("a request cut at byte %d decoded", cut)
		}
	}
}

// FuzzApplyRequest feeds arbitrary bytes to the decoder: it fails or
// decodes, never panics.
func FuzzApplyRequest(f *testing.F) {
	b, err := testApply(f).AppendWire(nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		var m ApplyRequest
		if m.UnmarshalWireBorrowed(data) != nil {
			return
		}
		if _, err := m.AppendWire(nil); err != nil {
			t.Fatalf("decoded request does not encode: %v", err)
		}
	})
}
