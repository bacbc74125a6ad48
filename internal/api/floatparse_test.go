package api

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// sameFloats reports whether a and b hold the same float32 bit patterns.
func sameFloats(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// checkAgainstJSON parses s with parseFloatArray and with encoding/json
// into []float32 and fails if they disagree: when the fast parser accepts,
// encoding/json must accept with the same bits; when encoding/json accepts
// an array of plain numbers, the fast parser must accept it too (it may
// refuse only the forms it leaves to the slow path: null elements and the
// top-level null).
func checkAgainstJSON(t *testing.T, s string) {
	t.Helper()
	b := []byte(s)
	got, end, ok := parseFloatArray(b, 0, nil)
	ok = ok && skipSpace(b, end) == len(b)
	var want []float32
	jerr := json.Unmarshal(b, &want)
	switch {
	case ok && jerr != nil:
		t.Fatalf("%q: fast parser accepted %v, encoding/json refused: %v", s, got, jerr)
	case ok && !sameFloats(got, want):
		t.Fatalf("%q: fast parser %v, encoding/json %v", s, got, want)
	case !ok && jerr == nil && !strings.Contains(s, "null"):
		t.Fatalf("%q: fast parser refused, encoding/json accepted %v", s, want)
	}
}

func TestParseFloatArrayCases(t *testing.T) {
	for _, s := range []string{
		`[]`, ` [ ] `, `[0]`, `[-0]`, `[1,2,3]`, " [\t1 ,\n2\r, 3 ] ", `[255,0,17]`,
		`[1.5,-2.25e3,3E-2,4e+1]`, `[0.1,0.2,0.30000001192092896]`, `[9999999,10000000,16777217,123456789012345678901234567890]`,
		`[3.4028235e38]`, `[3.4028236e38]`, `[3.5e38]`, `[1e39]`, `[-1e39]`, `[1e-46]`, `[1.4e-45]`, `[7e-46]`,
		`[1.00000005960464477539062499]`, `[1.000000059604644775390625]`, `[1.00000005960464477539062501]`,
		`[01]`, `[1.]`, `[.5]`, `[+1]`, `[1e]`, `[1e+]`, `[-]`, `[--1]`, `[1,]`, `[,1]`, `[1 2]`, `[NaN]`, `[Infinity]`,
		`[-Infinity]`, `[inf]`, `[0x10]`, `[1_0]`, `["1"]`, `[true]`, `[null]`, `null`, `[1,null]`, `[[1]]`, `[1]]`, `[1`,
		`[`, ``, `{}`, `[1]x`, `[1e400]`, `[-0.0]`, `[0e0]`, `[1E5]`, `[0.000001]`,
	} {
		checkAgainstJSON(t, s)
	}
}

func TestParseFloatArrayRandomRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 2000 {
		n := r.IntN(20)
		var sb strings.Builder
		sb.WriteByte('[')
		for i := range n {
			if i > 0 {
				sb.WriteByte(',')
			}
			switch r.IntN(4) {
			case 0:
				sb.WriteString(strconv.Itoa(r.IntN(1<<30) - 1<<29))
			case 1:
				sb.WriteString(strconv.FormatFloat(r.NormFloat64(), 'g', -1, 64))
			case 2:
				sb.WriteString(strconv.FormatFloat(math.Float64frombits(r.Uint64()&^(1<<62)), 'e', r.IntN(20), 64))
			default:
				sb.WriteString(strconv.FormatFloat(float64(math.Float32frombits(r.Uint32())), 'g', -1, 32))
			}
		}
		sb.WriteByte(']')
		checkAgainstJSON(t, sb.String())
	}
}

func FuzzParseFloatArray(f *testing.F) {
	for _, s := range []string{`[1,2.5,-3e-7]`, `[0]`, `[1e39]`, `[ 1 , 2 ]`, `[1.00000005960464477539062501]`, `[-0]`, `[01]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkAgainstJSON(t, s)
		// Arrays of arrays agree with decoding into [][]float32.
		b := []byte("[" + s + "," + s + "]")
		got, end, ok := parseFloatArrays(b, 0)
		var want [][]float32
		if ok && end == len(b) {
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatalf("%q: fast parser accepted, encoding/json refused: %v", b, err)
			}
			if len(got) != len(want) {
				t.Fatalf("%q: fast %v, encoding/json %v", b, got, want)
			}
			for i := range got {
				if !sameFloats(got[i], want[i]) {
					t.Fatalf("%q: fast %v, encoding/json %v", b, got, want)
				}
			}
		}
	})
}

func TestDecodeDenseErrors(t *testing.T) {
	for s, want := range map[string]string{
		`[[1,2],[3,4]]`:                "multi-vectors are not supported",
		`[1,"a"]`:                      "vector must be an array of numbers",
		`[1e39]`:                       "vector must be an array of numbers",
		`[NaN]`:                        "vector must be an array of numbers",
		`{"indices":[1],"values":[2]}`: "sparse vectors",
	} {
		_, err := decodeDense([]byte(s))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", s, err, want)
		}
	}
	// encoding/json's tolerated forms still decode as before.
	v, err := decodeDense([]byte(`[1,null,3]`))
	if err != nil || !sameFloats(v, []float32{1, 0, 3}) {
		t.Errorf("[1,null,3]: %v %v", v, err)
	}
	v, err = decodeDense([]byte(` [0.1, 2] `))
	if err != nil || !sameFloats(v, []float32{0.1, 2}) {
		t.Errorf("padded: %v %v", v, err)
	}
}

func TestBatchVectorsFastPathAgrees(t *testing.T) {
	body := []byte(`{"batch":{"ids":[1,2,3],"vectors":[[1,2],[0.5,-1e-3],[3,4]]}}`)
	var u UpsertPoints
	if err := json.Unmarshal(body, &u); err != nil {
		t.Fatal(err)
	}
	want := [][]float32{{1, 2}, {0.5, -1e-3}, {3, 4}}
	for i, p := range u.Points {
		if !sameFloats(p.Vector[DefaultVectorName], want[i]) {
			t.Errorf("point %d: %v", i, p.Vector)
		}
	}
	// Appending to one vector must not overwrite the next (full slice
	// expressions cap each at its length).
	v0 := append(u.Points[0].Vector[DefaultVectorName], 99)
	if u.Points[1].Vector[DefaultVectorName][0] != 0.5 || len(v0) != 3 {
		t.Error("vectors share capacity")
	}
	for _, bad := range []string{
		`{"batch":{"ids":[1,2],"vectors":[[1,2]]}}`,
		`{"batch":{"ids":[1],"vectors":[[1,2],[3,4]]}}`,
		`{"batch":{"ids":[1],"vectors":[[1,"x"]]}}`,
	} {
		var u UpsertPoints
		err := json.Unmarshal([]byte(bad), &u)
		var ae *Error
		if err == nil || !asErr(err, &ae) || ae.Kind != KindBadInput {
			t.Errorf("%s: got %v, want a bad-input error", bad, err)
		}
	}
}

func BenchmarkDecodeDense784(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, kind := range []string{"ints", "floats"} {
		v := make([]float32, 784)
		for i := range v {
			if kind == "ints" {
				v[i] = float32(r.IntN(256))
			} else {
				v[i] = float32(r.NormFloat64())
			}
		}
		body := marshalFloats(v)
		b.Run(kind, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				out, err := decodeDense(body)
				if err != nil || len(out) != 784 {
					b.Fatal(err)
				}
			}
		})
		b.Run(kind+"-encoding-json", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				var out []float32
				if err := json.Unmarshal(body, &out); err != nil || len(out) != 784 {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeBatchUpsert decodes a column-form upsert of 256
// Fashion-MNIST-like vectors (integers 0..255, dim 784; about 800 KB).
func BenchmarkDecodeBatchUpsert(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	var buf bytes.Buffer
	buf.WriteString(`{"batch":{"ids":[`)
	for i := range 256 {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(strconv.Itoa(i))
	}
	buf.WriteString(`],"vectors":[`)
	for i := range 256 {
		if i > 0 {
			buf.WriteByte(',')
		}
		v := make([]float32, 784)
		for j := range v {
			v[j] = float32(r.IntN(256))
		}
		buf.Write(marshalFloats(v))
	}
	buf.WriteString(`]}}`)
	body := buf.Bytes()
	b.Run("DecodeFast", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			var u UpsertPoints
			if !DecodeFast(body, &u) || len(u.Points) != 256 {
				b.Fatal("fast path refused")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			var u UpsertPoints
			if err := json.Unmarshal(body, &u); err != nil || len(u.Points) != 256 {
				b.Fatal(err)
			}
		}
	})
}
