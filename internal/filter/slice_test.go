package filter

import (
	"encoding/json"
	"testing"

	"github.com/google/uuid"

	"github.com/shoal-db/shoal/internal/api"
)

// TestSipHash24Vectors checks the hash against the reference vectors of
// the SipHash paper (key 00 01 ... 0f, messages 00 01 ... of each length).
func TestSipHash24Vectors(t *testing.T) {
	const k0, k1 = 0x0706050403020100, 0x0f0e0d0c0b0a0908
	msg := make([]byte, 15)
	for i := range msg {
		msg[i] = byte(i)
	}
	for _, tc := range []struct {
		n    int
		want uint64
	}{{0, 0x726fdb47dd0e0e31}, {1, 0x74f839c593dc67fd}, {8, 0x93f5f5799a932462}, {15, 0xa129ca6149be45e5}} {
		if got := sipHash24(k0, k1, msg[:tc.n]); got != tc.want {
			t.Errorf("len %d: %#x, want %#x", tc.n, got, tc.want)
		}
	}
}

// TestSliceCondition checks that the slices of one total split any ids
// into disjoint parts that cover them all, that must_not inverts a slice,
// that a slice of a smaller total (same hash) contains the slice of a
// multiple, and the decoding and validation of the condition.
func TestSliceCondition(t *testing.T) {
	var ids []api.PointID
	for i := range 200 {
		ids = append(ids, api.NumID(uint64(i)))
		ids = append(ids, api.UUIDID(uuid.New()))
	}
	match := func(f string, id api.PointID) bool {
		var flt api.Filter
		if err := json.Unmarshal([]byte(f), &flt); err != nil {
			t.Fatal(err)
		}
		if err := Validate(&flt); err != nil {
			t.Fatal(err)
		}
		m, err := Compile(&flt)
		if err != nil {
			t.Fatal(err)
		}
		return m.Match(id, nil, nil)
	}
	for _, id := range ids {
		n := 0
		for i := range 4 {
			in := match(`{"must": [{"slice": {"total": 4, "index": `+string(rune('0'+i))+`}}]}`, id)
			out := match(`{"must_not": [{"slice": {"total": 4, "index": `+string(rune('0'+i))+`}}]}`, id)
			if in == out {
				t.Fatalf("%v: must and must_not agree for slice %d", id, i)
			}
			if in {
				n++
				if SliceOf(id, 2) != uint32(i)%2 {
					t.Fatalf("%v: slice %d of 4 is not inside slice %d of 2", id, i, i%2)
				}
			}
		}
		if n != 1 {
			t.Fatalf("%v is in %d slices of 4", id, n)
		}
	}
	seen := map[uint32]int{}
	for _, id := range ids {
		seen[SliceOf(id, 4)]++
	}
	for i := range uint32(4) {
		if seen[i] < 50 {
			t.Errorf("slice %d of 4 holds %d of %d ids", i, seen[i], len(ids))
		}
	}
	var flt api.Filter
	if err := json.Unmarshal([]byte(`{"must": [{"slice": {"total": 4, "index": 4}}]}`), &flt); err != nil {
		t.Fatal(err)
	}
	if err := Validate(&flt); err == nil || err.(*api.Error).Kind != api.KindValidation {
		t.Errorf("index 4 of 4: %v, want a validation error", err)
	}
	if err := json.Unmarshal([]byte(`{"must": [{"slice": {"total": 0, "index": 0}}]}`), &flt); err == nil {
		t.Error("total 0 decoded")
	}
}
