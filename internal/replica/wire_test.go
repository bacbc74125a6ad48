package replica

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
)

func testRequest(t testing.TB) *ReplicateRequest {
	var ops []api.UpdateOperation
	for _, js := range []string{
		`{"upsert":{"points":[{"id":1,"vector":[1,2,3],"payload":{"a":"x"}},{"id":"b0e2a7c4-5a1e-4bde-9c1f-1b2c3d4e5f60","vector":{"n":[0.5,0.25]}}]}}`,
		`{"delete":{"points":[1,2]}}`,
		`{"set_payload":{"payload":{"k":[1,2]},"points":[7]}}`,
	} {
		var op api.UpdateOperation
		if err := json.Unmarshal([]byte(js), &op); err != nil {
			t.Fatal(err)
		}
		ops = append(ops, op)
	}
	req := &ReplicateRequest{Target: Target{Collection: "c", Generation: 9, Shard: 2}, Epoch: 4}
	for i := range ops {
		req.Ops = append(req.Ops, Op{Seq: uint64(10 + i), Epoch: 3 + uint64(i)/2, Op: &ops[i]})
	}
	return req
}

// TestWireRoundTrip checks that the binary forms decode to what was sent.
func TestWireRoundTrip(t *testing.T) {
	req := testRequest(t)
	b, err := req.AppendWire(nil)
	if err != nil {
		t.Fatal(err)
	}
	var back ReplicateRequest
	if err := back.UnmarshalWireBorrowed(b); err != nil {
		t.Fatal(err)
	}
	// The decoded request keeps no slice of the bytes it was lent.
	scribble(b)
	b, _ = req.AppendWire(nil)
	want, _ := json.Marshal(req)
	got, _ := json.Marshal(&back)
	if string(want) != string(got) {
		t.Fatalf("round trip:\n got %s\nwant %s", got, want)
	}
	chunk := &InstallChunk{Target: &Target{Collection: "c", Generation: 1, Shard: 0}, Epoch: 2, Seq: 77, Data: []byte("archive bytes")}
	cw, err := chunk.MarshalWire()
	if err != nil {
		t.Fatal(err)
	}
	var cb InstallChunk
	if err := cb.UnmarshalWire(cw); err != nil || !reflect.DeepEqual(chunk, &cb) {
		t.Fatalf("chunk round trip: %+v %v", cb, err)
	}
	for cut := range b {
		var x ReplicateRequest
		_ = x.UnmarshalWireBorrowed(b[:cut]) // must not panic
	}
}

// FuzzReplicateRequest feeds arbitrary bytes to the decoder: it fails or
// decodes, never panics, and what it decodes encodes again.
func FuzzReplicateRequest(f *testing.F) {
	b, err := testRequest(f).AppendWire(nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		var m ReplicateRequest
		if m.UnmarshalWireBorrowed(data) != nil {
			return
		}
		if _, err := m.AppendWire(nil); err != nil {
			t.Fatalf("decoded request does not encode: %v", err)
		}
	})
}

// scribble overwrites b, as gRPC reuses a buffer it lent.
func scribble(b []byte) {
	for i := range b {
		b[i] = 0xa5
	}
}
