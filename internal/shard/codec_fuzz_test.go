package shard

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
)

// fuzzSeedOps are operations of every kind, encoded as seeds for the op-log
// and record decoders.
func fuzzSeedOps() []*api.UpdateOperation {
	var f api.Filter
	json.Unmarshal([]byte(`{"must":[{"key":"city","match":{"value":"Oslo"}}]}`), &f)
	key := "meta"
	return []*api.UpdateOperation{
		{Upsert: &api.UpsertPoints{Points: []api.PointStruct{
			{ID: api.NumID(1), Vector: api.Vectors{"": {1, 2, 3}}, Payload: api.Payload{"n": json.Number("7")}},
			{ID: api.NumID(2), Vector: api.Vectors{"a": {0.5}, "b": {-1, 2}}},
		}}},
		{Upsert: &api.UpsertPoints{Points: []api.PointStruct{{ID: api.NumID(6), Vector: api.Vectors{"a": {1}}, Sparse: api.SparseVectors{"s": {Indices: []uint32{1, 7}, Values: []float32{0.5, -2}}}}}}},
		{UpdateVectors: &api.UpdateVectors{Points: []api.PointVectors{{ID: api.NumID(6), Vector: api.Vectors{}, Sparse: api.SparseVectors{"s": {Indices: []uint32{}, Values: []float32{}}}}}}},
		{Upsert: &api.UpsertPoints{Points: []api.PointStruct{{ID: api.NumID(8), Vector: api.Vectors{}, Multi: api.MultiVectors{"m": {{1, 2}, {3, 4}, {5, 6}}}}}}},
		{UpdateVectors: &api.UpdateVectors{Points: []api.PointVectors{{ID: api.NumID(8), Vector: api.Vectors{}, Multi: api.MultiVectors{"m": {{0, 1}}}}}}},
		{Upsert: &api.UpsertPoints{UpdateMode: api.UpdateModeInsertOnly, Points: []api.PointStruct{{ID: api.NumID(4), Vector: api.Vectors{}}}}},
		{Upsert: &api.UpsertPoints{UpdateMode: api.UpdateModeUpdateOnly, UpdateFilter: &f, Points: []api.PointStruct{{ID: api.NumID(5), Vector: api.Vectors{"a": {1}}}}}},
		{Delete: &api.PointsSelector{Points: []api.PointID{api.NumID(3)}}},
		{Delete: &api.PointsSelector{Filter: &f}},
		{SetPayload: &api.SetPayload{Payload: api.Payload{"x": "y"}, Points: []api.PointID{api.NumID(1)}, Key: &key}},
		{OverwritePayload: &api.SetPayload{Payload: api.Payload{"x": true}, Filter: &f}},
		{DeletePayload: &api.DeletePayload{Keys: []string{"a.b"}, Points: []api.PointID{api.NumID(1)}}},
		{ClearPayload: &api.PointsSelector{Points: []api.PointID{api.NumID(1)}}},
		{UpdateVectors: &api.UpdateVectors{Points: []api.PointVectors{{ID: api.NumID(9), Vector: api.Vectors{"": {4, 5, 6}}}}}},
		{DeleteVectors: &api.DeleteVectors{Points: []api.PointID{api.NumID(9)}, Vector: []string{"a"}}},
	}
}

// TestOpCodecRoundTrip checks that every operation kind survives the op log.
func TestOpCodecRoundTrip(t *testing.T) {
	for i, op := range fuzzSeedOps() {
		b, err := encodeOp(op, 7, nil)
		if err != nil {
			t.Fatalf("op %d: encode: %v", i, err)
		}
		if off, err := opOffBefore(b); err != nil || off != 7 {
			t.Fatalf("op %d: offset before = %d, %v; want 7", i, off, err)
		}
		got, err := decodeOp(b, nil)
		if err != nil {
			t.Fatalf("op %d: decode: %v", i, err)
		}
		want, _ := json.Marshal(op)
		have, _ := json.Marshal(got)
		if !reflect.DeepEqual(want, have) {
			t.Fatalf("op %d: round trip\nwant %s\ngot  %s", i, want, have)
		}
	}
}

// FuzzOpLogRecord feeds arbitrary bytes to the decoders of the op log and of
// the point and meta records: they must return an error or a value, never
// panic or allocate without bound, and whatever decodes must encode again.
func FuzzOpLogRecord(f *testing.F) {
	for _, op := range fuzzSeedOps() {
		b, err := encodeOp(op, 3, nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte{})
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		load := func(off uint32, name string) ([]float32, error) {
			if off%2 == 1 {
				return nil, errCorrupt
			}
			return []float32{float32(off), float32(len(name))}, nil
		}
		if op, err := decodeOp(b, load); err == nil {
			if _, err := encodeOp(op, 0, nil); err != nil {
				t.Fatalf("decoded op does not encode again: %v", err)
			}
		}
		decodeMeta(b)
		decodePointHeader(b, true)
		decodeFloats(b)
	})
}

// FuzzSparseRecord feeds arbitrary bytes to the decoder of a sparse 0x03
// record: an error or a vector with strictly increasing indices, which
// encodes back to the same bytes.
func FuzzSparseRecord(f *testing.F) {
	f.Add(encodeSparse(api.SparseVector{Indices: []uint32{1, 5, 9}, Values: []float32{0.5, -1, 2}}))
	f.Add(encodeSparse(api.SparseVector{}))
	f.Add([]byte{2, 0, 0, 0, 1, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := decodeSparse(b)
		if err != nil {
			return
		}
		for i := 1; i < len(v.Indices); i++ {
			if v.Indices[i] <= v.Indices[i-1] {
				t.Fatalf("indices not increasing: %v", v.Indices)
			}
		}
		if got := encodeSparse(v); string(got) != string(b) {
			t.Fatalf("re-encoded %x, read %x", got, b)
		}
	})
}
