package api

import (
	"encoding/json"
	"testing"
)

func TestMatchTextAnyJSON(t *testing.T) {
	var m Match
	if err := json.Unmarshal([]byte(`{"text_any": "good cheap"}`), &m); err != nil || m.Kind != MatchTextAny || m.Text != "good cheap" {
		t.Fatalf("decode text_any: %+v %v", m, err)
	}
	b, err := json.Marshal(m)
	if err != nil || string(b) != `{"text_any":"good cheap"}` {
		t.Fatalf("encode text_any: %s %v", b, err)
	}
	if err := json.Unmarshal([]byte(`{"text_any": 3}`), &m); KindOf(err) != KindBadInput {
		t.Errorf("text_any must be a string: %v", err)
	}
}

func TestPayloadIndexInfoJSON(t *testing.T) {
	info := PayloadIndexInfo{DataType: SchemaText, Params: map[string]any{"tokenizer": "word", "stopwords": "english"}, Points: 3}
	b, err := json.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	// Qdrant's PayloadSchemaParams carry the type.
	const want = `{"data_type":"text","params":{"stopwords":"english","tokenizer":"word","type":"text"},"points":3}`
	if string(b) != want {
		t.Fatalf("encoded %s, want %s", b, want)
	}
	if _, ok := info.Params["type"]; ok {
		t.Fatal("encoding changed the params")
	}
	var back PayloadIndexInfo
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.DataType != SchemaText || back.Points != 3 || len(back.Params) != 2 || back.Params["stopwords"] != "english" {
		t.Fatalf("decoded %+v", back)
	}
	b, _ = json.Marshal(PayloadIndexInfo{DataType: SchemaKeyword, Points: 1})
	if string(b) != `{"data_type":"keyword","points":1}` {
		t.Fatalf("no params: %s", b)
	}
	if err := json.Unmarshal(b, &back); err != nil || back.Params != nil {
		t.Fatalf("decoded without params: %+v %v", back, err)
	}
}
