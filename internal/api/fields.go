package api

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// Unknown fields. encoding/json ignores object members that match no
// field, so a misspelt or unsupported option ("hnsw_ef" at the wrong level,
// a field of a newer Qdrant) would be dropped without a word. CheckFields
// walks a request body that decoded successfully along the Go type it
// decoded into and refuses the first member no field takes, with serde's
// words: "Format error in JSON body: unknown field `x`, expected one of
// `a`, `b` at line L column C". The gRPC adapter refuses the protobuf
// equivalent (fields unknown to the served protos) in the same spirit.
//
// A member whose value is null is not refused: it asks for nothing. The
// walk follows json tags (and embedded structs) and recurses into
// struct fields, map values, slice and array elements and pointers. Types
// whose JSON forms differ from their Go fields describe their object form
// with a checkFields method (fieldChecker) below; values of type any,
// json.RawMessage and free-form payloads are not looked into.

// fieldChecker is implemented by types whose JSON object form the generic
// walk cannot follow: checkFields checks the value at b[i] and returns the
// index past it.
type fieldChecker interface {
	checkFields(w *fieldWalker, b []byte, i int) (int, error)
}

// CheckFields returns an error naming the first object member of the JSON
// body b that the type of v (a pointer to the value b was decoded into)
// does not know; nil when there is none. Call it after b decoded into v
// without error: it reports only unknown members.
func CheckFields(b []byte, v any) error {
	t := reflect.TypeOf(v)
	if t == nil {
		return nil
	}
	w := &fieldWalker{body: b}
	_, err := w.value(b, 0, t, 0)
	return err
}

// fieldWalker carries the body, for error positions, and the member names
// and types of the struct types met so far (a body repeats the same types,
// one per point of an upsert).
type fieldWalker struct {
	body   []byte
	fields map[reflect.Type]structFields
}

// structFields are the JSON members of a struct type (jsonFields).
type structFields struct {
	names []string
	types []reflect.Type
}

// structFields returns jsonFields of t, computed once per walk.
func (w *fieldWalker) structFields(t reflect.Type) structFields {
	if f, ok := w.fields[t]; ok {
		return f
	}
	if w.fields == nil {
		w.fields = map[reflect.Type]structFields{}
	}
	var f structFields
	f.names, f.types = jsonFields(t, nil, nil)
	w.fields[t] = f
	return f
}

var (
	rawMessageType   = reflect.TypeFor[json.RawMessage]()
	fieldCheckerType = reflect.TypeFor[fieldChecker]()
)

// unknownField returns serde's error for member name ending at b[end],
// where the object's known members were expected.
func (w *fieldWalker) unknownField(name string, end int, expected []string) error {
	var exp string
	switch len(expected) {
	case 0:
		exp = "there are no fields"
	case 1:
		exp = fmt.Sprintf("expected `%s`", expected[0])
	case 2:
		exp = fmt.Sprintf("expected `%s` or `%s`", expected[0], expected[1])
	default:
		exp = "expected one of `" + strings.Join(expected, "`, `") + "`"
	}
	line, col := 1, 0
	for _, c := range w.body[:min(end, len(w.body))] {
		if c == '\n' {
			line, col = line+1, 0
		} else {
			col++
		}
	}
	return &Error{Kind: KindBadInput, Message: fmt.Sprintf("Format error in JSON body: unknown field `%s`, %s at line %d column %d", name, exp, line, col)}
}

// value checks the JSON value at b[i] against type t and returns the index
// past it.
func (w *fieldWalker) value(b []byte, i int, t reflect.Type, depth int) (int, error) {
	i = skipSpace(b, i)
	if depth > maxSkipDepth || i >= len(b) {
		return w.skip(b, i)
	}
	if t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(fieldCheckerType) {
		// The methods do not use their receiver: a nil *T calls them
		// without allocating.
		return reflect.Zero(reflect.PointerTo(t)).Interface().(fieldChecker).checkFields(w, b, i)
	}
	if t.Kind() == reflect.Pointer {
		return w.value(b, i, t.Elem(), depth)
	}
	if t == rawMessageType {
		return w.skip(b, i)
	}
	switch b[i] {
	case '{':
		switch t.Kind() {
		case reflect.Struct:
			return w.object(b, i, t, depth)
		case reflect.Map:
			return w.members(b, i, func(_ string, _ int, vs int) (int, error) { return w.value(b, vs, t.Elem(), depth+1) })
		case reflect.Slice, reflect.Array:
			// A single object where a list is expected (Prefetches).
			return w.value(b, i, t.Elem(), depth+1)
		}
	case '[':
		if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			if !mayHoldObjects(t.Elem()) {
				return w.skip(b, i)
			}
			return w.elements(b, i, t.Elem(), depth)
		}
	}
	return w.skip(b, i)
}

// mayHoldObjects reports whether values of t can hold checked objects:
// not numbers, strings or bools (vectors are skipped in one scan).
func mayHoldObjects(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.String:
		return false
	}
	return true
}

// skip returns the index past the value at b[i]. The body has decoded
// already, so it is valid JSON: an array or object is skipped by matching
// brackets outside strings, without checking the grammar again (the
// vectors of a write are most of its bytes).
func (w *fieldWalker) skip(b []byte, i int) (int, error) {
	if i >= len(b) {
		return len(b), nil
	}
	if c := b[i]; c != '[' && c != '{' {
		end, ok := skipValue(b, i, 1)
		if !ok {
			return len(b), nil
		}
		return end, nil
	}
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '[', '{':
			depth++
		case ']', '}':
			depth--
			if depth == 0 {
				return i + 1, nil
			}
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		}
	}
	return len(b), nil
}

// elements checks each element of the array at b[i] against t.
func (w *fieldWalker) elements(b []byte, i int, t reflect.Type, depth int) (int, error) {
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for i < len(b) {
		var err error
		if i, err = w.value(b, i, t, depth+1); err != nil {
			return i, err
		}
		i = skipSpace(b, i)
		if i >= len(b) || b[i] == ']' {
			return i + 1, nil
		}
		i++ // ','
	}
	return i, nil
}

// members calls member for each member of the object at b[i] with its
// name, the index past the name and the start of its value; member returns
// the index past the value.
func (w *fieldWalker) members(b []byte, i int, member func(name string, nameEnd, vs int) (int, error)) (int, error) {
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for i < len(b) && b[i] == '"' {
		ke, escaped, ok := skipString(b, i)
		if !ok {
			return len(b), nil
		}
		name := string(b[i+1 : ke-1])
		if escaped {
			_ = json.Unmarshal(b[i:ke], &name)
		}
		i = skipSpace(b, ke)
		if i >= len(b) || b[i] != ':' {
			return len(b), nil
		}
		end, err := member(name, ke, skipSpace(b, i+1))
		if err != nil {
			return end, err
		}
		i = skipSpace(b, end)
		if i >= len(b) || b[i] == '}' {
			return i + 1, nil
		}
		i = skipSpace(b, i+1) // ','
	}
	return i, nil
}

// isNull reports whether the value at b[i] is null. An unknown member set
// to null asks for nothing (clients write unset options as null), so it is
// not refused.
func isNull(b []byte, i int) bool {
	return i+4 <= len(b) && string(b[i:i+4]) == "null"
}

// object checks the members of the object at b[i] against struct type t.
func (w *fieldWalker) object(b []byte, i int, t reflect.Type, depth int) (int, error) {
	f := w.structFields(t)
	names, types := f.names, f.types
	return w.members(b, i, func(name string, nameEnd, vs int) (int, error) {
		for k, n := range names {
			if n == name {
				return w.value(b, vs, types[k], depth+1)
			}
		}
		if isNull(b, vs) {
			return vs + 4, nil
		}
		return vs, w.unknownField(name, nameEnd, names)
	})
}

// checkKeys checks that the object at b[i] has only the members allowed,
// each checked against its type (nil: not looked into).
func (w *fieldWalker) checkKeys(b []byte, i int, allowed []string, types []reflect.Type) (int, error) {
	if i >= len(b) || b[i] != '{' {
		return w.skip(b, i)
	}
	return w.members(b, i, func(name string, nameEnd, vs int) (int, error) {
		for k, n := range allowed {
			if n == name {
				if types == nil || types[k] == nil {
					return w.skip(b, vs)
				}
				return w.value(b, vs, types[k], 1)
			}
		}
		if isNull(b, vs) {
			return vs + 4, nil
		}
		return vs, w.unknownField(name, nameEnd, allowed)
	})
}

// jsonFields appends the JSON member names of struct type t (as
// encoding/json sees them: json tags, else field names; embedded structs
// flattened; "-" left out) and their types, in declaration order.
func jsonFields(t reflect.Type, names []string, types []reflect.Type) ([]string, []reflect.Type) {
	for k := range t.NumField() {
		f := t.Field(k)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if tag == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				names, types = jsonFields(ft, names, types)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		names = append(names, name)
		types = append(types, f.Type)
	}
	return names, types
}

// The types below have JSON forms other than their Go fields.

// skipFields is the checkFields of values that check themselves when
// decoding (Filter and its conditions refuse unknown keys), or that are
// free-form (payloads) or carry no object form (point ids, vector inputs,
// vectors, selectors by name).
func skipFields(w *fieldWalker, b []byte, i int) (int, error) { return w.skip(b, i) }

func (*Filter) checkFields(w *fieldWalker, b []byte, i int) (int, error) { return skipFields(w, b, i) }
func (*Condition) checkFields(w *fieldWalker, b []byte, i int) (int, error) {
	return skipFields(w, b, i)
}
func (*FieldCondition) checkFields(w *fieldWalker, b []byte, i int) (int, error) {
	return skipFields(w, b, i)
}
func (*Match) checkFields(w *fieldWalker, b []byte, i int) (int, error)   { return skipFields(w, b, i) }
func (*Payload) checkFields(w *fieldWalker, b []byte, i int) (int, error) { return skipFields(w, b, i) }
func (*PointID) checkFields(w *fieldWalker, b []byte, i int) (int, error) { return skipFields(w, b, i) }
func (*VectorInput) checkFields(w *fieldWalker, b []byte, i int) (int, error) {
	return skipFields(w, b, i)
}
func (*Vectors) checkFields(w *fieldWalker, b []byte, i int) (int, error) { return skipFields(w, b, i) }
func (*VectorSelector) checkFields(w *fieldWalker, b []byte, i int) (int, error) {
	return skipFields(w, b, i)
}

// checkFields of a PayloadSelector: the object form is {include} or
// {exclude}.
func (*PayloadSelector) checkFields(w *fieldWalker, b []byte, i int) (int, error) {
	return w.checkKeys(b, i, []string{"include", "exclude"}, nil)
}

// checkFields of a NamedVector: the object form is {name, vector}.
func (*NamedVector) checkFields(w *fieldWalker, b []byte, i int) (int, error) {
	return w.checkKeys(b, i, []string{"name", "vector"}, nil)
}

// checkFields of a PayloadFieldSchema: a type name, or an object whose
// other keys are the index parameters, which the service validates per
// index type.
func (*PayloadFieldSchema) checkFields(w *fieldWalker, b []byte, i int) (int, error) {
	return skipFields(w, b, i)
}

// checkFields of a VectorsConfig: the unnamed form is one VectorParams
// object (it has size or distance), the named form a map of them.
func (*VectorsConfig) checkFields(w *fieldWalker, b []byte, i int) (int, error) {
	if i >= len(b) || b[i] != '{' {
		return w.skip(b, i)
	}
	var probe map[string]json.RawMessage
	end, _ := w.skip(b, i)
	if json.Unmarshal(b[i:end], &probe) == nil {
		_, size := probe["size"]
		_, dist := probe["distance"]
		if size || dist {
			return w.value(b, i, reflect.TypeFor[VectorParams](), 1)
		}
	}
	return w.value(b, i, reflect.TypeFor[map[string]VectorParams](), 1)
}

// checkFields of an UpsertPoints: {points} or {batch: {ids, vectors,
// payloads}}, with the fields they share.
func (*UpsertPoints) checkFields(w *fieldWalker, b []byte, i int) (int, error) {
	names, types := jsonFields(reflect.TypeFor[UpsertPoints](), nil, nil)
	names = append(names, "batch")
	types = append(types, reflect.TypeFor[struct {
		IDs      json.RawMessage `json:"ids"`
		Vectors  json.RawMessage `json:"vectors"`
		Payloads json.RawMessage `json:"payloads"`
	}]())
	return w.checkKeys(b, i, names, types)
}

// checkFields of a Query: besides its object form, a query may be a sparse
// vector ({indices, values}) given directly.
func (*Query) checkFields(w *fieldWalker, b []byte, i int) (int, error) {
	if i < len(b) && b[i] == '{' {
		var probe map[string]json.RawMessage
		end, _ := w.skip(b, i)
		if json.Unmarshal(b[i:end], &probe) == nil {
			_, idx := probe["indices"]
			_, vals := probe["values"]
			if idx || vals {
				return w.checkKeys(b, i, []string{"indices", "values"}, nil)
			}
			if _, f := probe["formula"]; f {
				// The expressions decode strictly themselves.
				raw := reflect.TypeFor[json.RawMessage]()
				return w.checkKeys(b, i, []string{"formula", "defaults"}, []reflect.Type{raw, raw})
			}
		}
	}
	names, types := jsonFields(reflect.TypeFor[Query](), nil, nil)
	return w.checkKeys(b, i, names, types)
}
