package grpcapi

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/shoal-db/shoal/internal/api"
)

// memoryEnum is the full name of Qdrant's memory placement enum.
var memoryEnum = qdrant.Memory(0).Descriptor().FullName()

// Several collection settings (WAL, optimizers, strict mode) are kept by
// package api as raw JSON in Qdrant's REST shape. Their protobuf messages
// use the same field names, so one reflective walk converts them: scalar
// fields become JSON numbers, bools and strings (64-bit integers stay exact
// numbers, unlike protojson), nested messages become objects and
// map<string, message> fields become objects of objects. Only fields that
// are set are written. A marker message (one without fields, such as the
// keyword index's prefix option) is written as true, the REST form of such
// an option. Of the enums only the memory placement (cold, cached, pinned)
// is used by these messages; others are rejected, as are oneofs.

// messageToJSON encodes m's set fields as a REST-shaped JSON object; it
// returns nil for a nil or empty message.
func messageToJSON(m protoreflect.Message) (json.RawMessage, error) {
	if m == nil || !m.IsValid() {
		return nil, nil
	}
	obj, err := messageToMap(m)
	if err != nil || len(obj) == 0 {
		return nil, err
	}
	return json.Marshal(obj)
}

func messageToMap(m protoreflect.Message) (map[string]any, error) {
	obj := map[string]any{}
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		var x any
		switch {
		case fd.IsMap():
			mm := map[string]any{}
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				var e any
				e, err = scalarOrMessageToJSON(fd.MapValue(), mv)
				mm[k.String()] = e
				return err == nil
			})
			x = mm
		case fd.IsList():
			l := make([]any, v.List().Len())
			for i := range l {
				if l[i], err = scalarOrMessageToJSON(fd, v.List().Get(i)); err != nil {
					break
				}
			}
			x = l
		default:
			x, err = scalarOrMessageToJSON(fd, v)
		}
		obj[string(fd.Name())] = x
		return err == nil
	})
	return obj, err
}

func scalarOrMessageToJSON(fd protoreflect.FieldDescriptor, v protoreflect.Value) (any, error) {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return v.Bool(), nil
	case protoreflect.StringKind:
		return v.String(), nil
	case protoreflect.Int32Kind, protoreflect.Int64Kind, protoreflect.Sint32Kind, protoreflect.Sint64Kind,
		protoreflect.Sfixed32Kind, protoreflect.Sfixed64Kind:
		return json.Number(strconv.FormatInt(v.Int(), 10)), nil
	case protoreflect.Uint32Kind, protoreflect.Uint64Kind, protoreflect.Fixed32Kind, protoreflect.Fixed64Kind:
		return json.Number(strconv.FormatUint(v.Uint(), 10)), nil
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, api.ErrBadInput("%s must be a finite number", fd.Name())
		}
		return f, nil
	case protoreflect.MessageKind:
		if fd.Message().Fields().Len() == 0 {
			return true, nil
		}
		return messageToMap(v.Message())
	case protoreflect.EnumKind:
		if fd.Enum().FullName() == memoryEnum {
			m := qdrant.Memory(v.Enum())
			name, err := memoryFromProto(string(fd.Name()), &m)
			if err != nil {
				return nil, err
			}
			return *name, nil
		}
	}
	return nil, api.ErrInternal(nil, "cannot convert field %s of kind %s to JSON", fd.FullName(), fd.Kind())
}

// jsonToMessage sets m's fields from a REST-shaped JSON object; unknown keys
// and nulls are skipped (REST reports more settings than protobuf carries).
func jsonToMessage(raw json.RawMessage, m protoreflect.Message) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	v, err := api.DecodeValue(raw)
	if err != nil {
		return err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("cannot convert %s: not a JSON object", m.Descriptor().Name())
	}
	return mapToMessage(obj, m)
}

func mapToMessage(obj map[string]any, m protoreflect.Message) error {
	fields := m.Descriptor().Fields()
	for k, x := range obj {
		fd := fields.ByName(protoreflect.Name(k))
		if fd == nil || x == nil {
			continue
		}
		switch {
		case fd.IsMap():
			mm, ok := x.(map[string]any)
			if !ok {
				return fmt.Errorf("cannot convert %s: not an object", k)
			}
			dst := m.Mutable(fd).Map()
			for mk, mx := range mm {
				val := dst.NewValue()
				if err := setValue(fd.MapValue(), &val, mx); err != nil {
					return err
				}
				dst.Set(protoreflect.ValueOfString(mk).MapKey(), val)
			}
		case fd.IsList():
			l, ok := x.([]any)
			if !ok {
				return fmt.Errorf("cannot convert %s: not a list", k)
			}
			dst := m.Mutable(fd).List()
			for _, e := range l {
				val := dst.NewElement()
				if err := setValue(fd, &val, e); err != nil {
					return err
				}
				dst.Append(val)
			}
		case fd.Kind() == protoreflect.MessageKind:
			if b, ok := x.(bool); ok && fd.Message().Fields().Len() == 0 {
				if b { // a marker option
					m.Set(fd, protoreflect.ValueOfMessage(m.NewField(fd).Message()))
				}
				continue
			}
			sub, ok := x.(map[string]any)
			if !ok {
				continue // e.g. max_optimization_threads: "auto" is handled by callers
			}
			if err := mapToMessage(sub, m.Mutable(fd).Message()); err != nil {
				return err
			}
		default:
			val := protoreflect.Value{}
			if err := setValue(fd, &val, x); err != nil {
				return err
			}
			if val.IsValid() {
				m.Set(fd, val)
			}
		}
	}
	return nil
}

func setValue(fd protoreflect.FieldDescriptor, val *protoreflect.Value, x any) error {
	num := func() (float64, bool) {
		switch n := x.(type) {
		case json.Number:
			f, err := n.Float64()
			return f, err == nil
		case float64:
			return n, true
		case int:
			return float64(n), true
		}
		return 0, false
	}
	switch fd.Kind() {
	case protoreflect.BoolKind:
		if b, ok := x.(bool); ok {
			*val = protoreflect.ValueOfBool(b)
		}
	case protoreflect.StringKind:
		if s, ok := x.(string); ok {
			*val = protoreflect.ValueOfString(s)
		}
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		if f, ok := num(); ok {
			*val = protoreflect.ValueOfInt32(int32(f))
		}
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		if n, ok := x.(json.Number); ok {
			if i, err := n.Int64(); err == nil {
				*val = protoreflect.ValueOfInt64(i)
				return nil
			}
		}
		if f, ok := num(); ok {
			*val = protoreflect.ValueOfInt64(int64(f))
		}
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		if f, ok := num(); ok && f >= 0 {
			*val = protoreflect.ValueOfUint32(uint32(f))
		}
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		if n, ok := x.(json.Number); ok {
			if u, err := strconv.ParseUint(string(n), 10, 64); err == nil {
				*val = protoreflect.ValueOfUint64(u)
				return nil
			}
		}
		if f, ok := num(); ok && f >= 0 {
			*val = protoreflect.ValueOfUint64(uint64(f))
		}
	case protoreflect.FloatKind:
		if f, ok := num(); ok {
			*val = protoreflect.ValueOfFloat32(float32(f))
		}
	case protoreflect.DoubleKind:
		if f, ok := num(); ok {
			*val = protoreflect.ValueOfFloat64(f)
		}
	case protoreflect.EnumKind:
		if fd.Enum().FullName() == memoryEnum {
			if mem := memoryToProto(x); mem != nil {
				*val = protoreflect.ValueOfEnum(protoreflect.EnumNumber(*mem))
			}
		}
	case protoreflect.MessageKind:
		sub, ok := x.(map[string]any)
		if !ok {
			return fmt.Errorf("cannot convert %s: not an object", fd.Name())
		}
		if err := mapToMessage(sub, val.Message()); err != nil {
			return err
		}
	}
	return nil
}
