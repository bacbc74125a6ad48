package grpcapi

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/qdrant/go-client/qdrant"

	"github.com/shoal-db/shoal/internal/api"
)

// Point ids.

func idFromProto(p *qdrant.PointId) (api.PointID, error) {
	switch v := p.GetPointIdOptions().(type) {
	case *qdrant.PointId_Num:
		return api.NumID(v.Num), nil
	case *qdrant.PointId_Uuid:
		return api.ParseUUIDID(v.Uuid)
	}
	return api.PointID{}, api.ErrBadInput("point id is empty: expected an unsigned integer or a UUID")
}

func idsFromProto(ps []*qdrant.PointId) ([]api.PointID, error) {
	out := make([]api.PointID, len(ps))
	for i, p := range ps {
		id, err := idFromProto(p)
		if err != nil {
			return nil, err
		}
		out[i] = id
	}
	return out, nil
}

func idToProto(id api.PointID) *qdrant.PointId {
	if id.IsUUID {
		return &qdrant.PointId{PointIdOptions: &qdrant.PointId_Uuid{Uuid: id.UUID.String()}}
	}
	return &qdrant.PointId{PointIdOptions: &qdrant.PointId_Num{Num: id.Num}}
}

func idsToProto(ids []api.PointID) []*qdrant.PointId {
	out := make([]*qdrant.PointId, len(ids))
	for i, id := range ids {
		out[i] = idToProto(id)
	}
	return out
}

// Payload values.
//
// Protobuf carries integers (int64) and doubles apart; package api keeps
// every JSON number as a json.Number. The mapping keeps the distinction:
// integer_value n becomes json.Number("n"); double_value d becomes the
// shortest decimal that reads back as d, with ".0" added when it would
// otherwise look like an integer (1.0 -> "1.0", 1e21 -> "1e+21"). In the
// other direction a json.Number that parses as an int64 is an integer, any
// other number is a double (so integers beyond int64, such as large
// uint64s, travel as doubles, as in Qdrant). A payload thus round-trips
// proto -> api -> proto unchanged.

// maxValueDepth bounds recursion on payload values; deeper values are
// rejected as api.CheckPayloadDepth would reject them.
const maxValueDepth = api.MaxPayloadDepth + 1

func payloadFromProto(m map[string]*qdrant.Value) (api.Payload, error) {
	if m == nil {
		return nil, nil
	}
	out := make(api.Payload, len(m))
	for k, v := range m {
		x, err := valueFromProto(v, 1)
		if err != nil {
			return nil, fmt.Errorf("%w (at payload key %q)", err, k)
		}
		out[k] = x
	}
	return out, nil
}

func valueFromProto(v *qdrant.Value, depth int) (any, error) {
	if depth > maxValueDepth {
		return nil, api.ErrPayloadTooDeep()
	}
	switch k := v.GetKind().(type) {
	case nil, *qdrant.Value_NullValue:
		return nil, nil
	case *qdrant.Value_BoolValue:
		return k.BoolValue, nil
	case *qdrant.Value_IntegerValue:
		return json.Number(strconv.FormatInt(k.IntegerValue, 10)), nil
	case *qdrant.Value_DoubleValue:
		return doubleNumber(k.DoubleValue)
	case *qdrant.Value_StringValue:
		return k.StringValue, nil
	case *qdrant.Value_StructValue:
		fields := k.StructValue.GetFields()
		m := make(map[string]any, len(fields))
		for key, e := range fields {
			x, err := valueFromProto(e, depth+1)
			if err != nil {
				return nil, err
			}
			m[key] = x
		}
		return m, nil
	case *qdrant.Value_ListValue:
		vals := k.ListValue.GetValues()
		l := make([]any, len(vals))
		for i, e := range vals {
			x, err := valueFromProto(e, depth+1)
			if err != nil {
				return nil, err
			}
			l[i] = x
		}
		return l, nil
	}
	return nil, api.ErrBadInput("unknown payload value kind %T", v.GetKind())
}

// doubleNumber formats d as a json.Number that stays a double.
func doubleNumber(d float64) (json.Number, error) {
	if math.IsNaN(d) || math.IsInf(d, 0) {
		return "", api.ErrBadInput("payload value %v is not a finite number; JSON cannot represent it", d)
	}
	s := strconv.FormatFloat(d, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eEn") { // "n" guards "NaN"/"Inf", excluded above
		s += ".0"
	}
	return json.Number(s), nil
}

func payloadToProto(p api.Payload) (map[string]*qdrant.Value, error) {
	if p == nil {
		return nil, nil
	}
	out := make(map[string]*qdrant.Value, len(p))
	for k, v := range p {
		x, err := valueToProto(v, 1)
		if err != nil {
			return nil, err
		}
		out[k] = x
	}
	return out, nil
}

func numberToProto(n json.Number) (*qdrant.Value, error) {
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return &qdrant.Value{Kind: &qdrant.Value_IntegerValue{IntegerValue: i}}, nil
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		return nil, fmt.Errorf("cannot convert number %q: %w", n, err)
	}
	return &qdrant.Value{Kind: &qdrant.Value_DoubleValue{DoubleValue: f}}, nil
}

func valueToProto(v any, depth int) (*qdrant.Value, error) {
	if depth > maxValueDepth {
		return nil, api.ErrPayloadTooDeep()
	}
	switch x := v.(type) {
	case nil:
		return &qdrant.Value{Kind: &qdrant.Value_NullValue{}}, nil
	case bool:
		return &qdrant.Value{Kind: &qdrant.Value_BoolValue{BoolValue: x}}, nil
	case string:
		return &qdrant.Value{Kind: &qdrant.Value_StringValue{StringValue: x}}, nil
	case json.Number:
		return numberToProto(x)
	case float64:
		return &qdrant.Value{Kind: &qdrant.Value_DoubleValue{DoubleValue: x}}, nil
	case float32:
		return &qdrant.Value{Kind: &qdrant.Value_DoubleValue{DoubleValue: float64(x)}}, nil
	case int:
		return &qdrant.Value{Kind: &qdrant.Value_IntegerValue{IntegerValue: int64(x)}}, nil
	case int64:
		return &qdrant.Value{Kind: &qdrant.Value_IntegerValue{IntegerValue: x}}, nil
	case int32:
		return &qdrant.Value{Kind: &qdrant.Value_IntegerValue{IntegerValue: int64(x)}}, nil
	case uint64:
		if x > math.MaxInt64 {
			return &qdrant.Value{Kind: &qdrant.Value_DoubleValue{DoubleValue: float64(x)}}, nil
		}
		return &qdrant.Value{Kind: &qdrant.Value_IntegerValue{IntegerValue: int64(x)}}, nil
	case uint32:
		return &qdrant.Value{Kind: &qdrant.Value_IntegerValue{IntegerValue: int64(x)}}, nil
	case api.Payload:
		return valueToProto(map[string]any(x), depth)
	case map[string]any:
		fields := make(map[string]*qdrant.Value, len(x))
		for k, e := range x {
			pv, err := valueToProto(e, depth+1)
			if err != nil {
				return nil, err
			}
			fields[k] = pv
		}
		return &qdrant.Value{Kind: &qdrant.Value_StructValue{StructValue: &qdrant.Struct{Fields: fields}}}, nil
	case []any:
		vals := make([]*qdrant.Value, len(x))
		for i, e := range x {
			pv, err := valueToProto(e, depth+1)
			if err != nil {
				return nil, err
			}
			vals[i] = pv
		}
		return &qdrant.Value{Kind: &qdrant.Value_ListValue{ListValue: &qdrant.ListValue{Values: vals}}}, nil
	case []string:
		vals := make([]*qdrant.Value, len(x))
		for i, e := range x {
			vals[i] = &qdrant.Value{Kind: &qdrant.Value_StringValue{StringValue: e}}
		}
		return &qdrant.Value{Kind: &qdrant.Value_ListValue{ListValue: &qdrant.ListValue{Values: vals}}}, nil
	}
	return nil, api.ErrInternal(nil, "cannot convert payload value of type %T", v)
}

// Metadata maps (collection metadata) use the same value mapping.

func metadataFromProto(m map[string]*qdrant.Value) (map[string]any, error) {
	if len(m) == 0 {
		return nil, nil
	}
	p, err := payloadFromProto(m)
	return map[string]any(p), err
}

func metadataToProto(m map[string]any) (map[string]*qdrant.Value, error) {
	if len(m) == 0 {
		return nil, nil
	}
	return payloadToProto(api.Payload(m))
}

// Shard keys. Shoal shards automatically; keys are passed to the service,
// which answers like Qdrant does for collections without custom sharding.

func shardKeyFromProto(k *qdrant.ShardKey) (any, error) {
	switch v := k.GetKey().(type) {
	case *qdrant.ShardKey_Keyword:
		return v.Keyword, nil
	case *qdrant.ShardKey_Number:
		return json.Number(strconv.FormatUint(v.Number, 10)), nil
	}
	return nil, api.ErrBadInput("shard key is empty")
}

func shardKeySelectorFromProto(s *qdrant.ShardKeySelector) (any, error) {
	if s == nil {
		return nil, nil
	}
	if s.Fallback != nil {
		return nil, api.ErrBadInput("shard key fallback is not supported by this server")
	}
	keys := s.GetShardKeys()
	switch len(keys) {
	case 0:
		return nil, nil
	case 1:
		return shardKeyFromProto(keys[0])
	}
	out := make([]any, len(keys))
	for i, k := range keys {
		v, err := shardKeyFromProto(k)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func shardKeyToProto(v any) *qdrant.ShardKey {
	switch x := v.(type) {
	case string:
		return qdrant.NewShardKeyKeyword(x)
	case json.Number:
		if n, err := strconv.ParseUint(string(x), 10, 64); err == nil {
			return qdrant.NewShardKeyNum(n)
		}
	case float64:
		if x >= 0 && x == math.Trunc(x) {
			return qdrant.NewShardKeyNum(uint64(x))
		}
	case uint64:
		return qdrant.NewShardKeyNum(x)
	case int:
		if x >= 0 {
			return qdrant.NewShardKeyNum(uint64(x))
		}
	}
	return nil
}

// Selectors.

func payloadSelectorFromProto(s *qdrant.WithPayloadSelector) *api.PayloadSelector {
	switch v := s.GetSelectorOptions().(type) {
	case *qdrant.WithPayloadSelector_Enable:
		return &api.PayloadSelector{Enable: v.Enable}
	case *qdrant.WithPayloadSelector_Include:
		return &api.PayloadSelector{Enable: true, Include: nonNil(v.Include.GetFields())}
	case *qdrant.WithPayloadSelector_Exclude:
		return &api.PayloadSelector{Enable: true, Exclude: nonNil(v.Exclude.GetFields())}
	}
	return nil
}

func payloadSelectorToProto(s *api.PayloadSelector) *qdrant.WithPayloadSelector {
	switch {
	case s == nil:
		return nil
	case s.Include != nil:
		return qdrant.NewWithPayloadInclude(s.Include...)
	case s.Exclude != nil:
		return qdrant.NewWithPayloadExclude(s.Exclude...)
	}
	return qdrant.NewWithPayloadEnable(s.Enable)
}

func vectorSelectorFromProto(s *qdrant.WithVectorsSelector) *api.VectorSelector {
	switch v := s.GetSelectorOptions().(type) {
	case *qdrant.WithVectorsSelector_Enable:
		return &api.VectorSelector{Enable: v.Enable}
	case *qdrant.WithVectorsSelector_Include:
		return &api.VectorSelector{Enable: true, Names: nonNil(v.Include.GetNames())}
	}
	return nil
}

func vectorSelectorToProto(s *api.VectorSelector) *qdrant.WithVectorsSelector {
	switch {
	case s == nil:
		return nil
	case s.Names != nil:
		return qdrant.NewWithVectorsInclude(s.Names...)
	}
	return qdrant.NewWithVectorsEnable(s.Enable)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Write and read parameters.

// writeParams returns the write parameters: no wait and weak ordering by
// default, as REST's, and the timeout already validated by the timeout
// interceptor (0 for none).
func writeParams(wait *bool, ordering *qdrant.WriteOrdering, timeout *uint64) (api.WriteParams, error) {
	wp := api.WriteParams{Wait: wait != nil && *wait, Ordering: api.OrderingWeak, TimeoutSeconds: timeoutParam(timeout)}
	if ordering != nil {
		switch t := ordering.GetType(); t {
		case qdrant.WriteOrderingType_Weak:
			wp.Ordering = api.OrderingWeak
		case qdrant.WriteOrderingType_Medium:
			wp.Ordering = api.OrderingMedium
		case qdrant.WriteOrderingType_Strong:
			wp.Ordering = api.OrderingStrong
		default:
			return wp, api.ErrBadInput("unknown write ordering type %d: expected Weak, Medium or Strong", int32(t))
		}
	}
	return wp, nil
}

// readParams returns the read parameters; a consistency factor is
// validated by api.ReadConsistencyFactor, as REST's ?consistency=N.
func readParams(rc *qdrant.ReadConsistency, timeout *uint64) (api.ReadParams, error) {
	rp := api.ReadParams{TimeoutSeconds: timeoutParam(timeout)}
	switch v := rc.GetValue().(type) {
	case nil:
	case *qdrant.ReadConsistency_Factor:
		c, err := api.ReadConsistencyFactor(v.Factor)
		if err != nil {
			return rp, err
		}
		rp.Consistency = c
	case *qdrant.ReadConsistency_Type:
		switch v.Type {
		case qdrant.ReadConsistencyType_All:
			rp.Consistency = "all"
		case qdrant.ReadConsistencyType_Majority:
			rp.Consistency = "majority"
		case qdrant.ReadConsistencyType_Quorum:
			rp.Consistency = "quorum"
		default:
			return rp, api.ErrBadInput("unknown read consistency type %d", int32(v.Type))
		}
	}
	return rp, nil
}

// timeoutParam returns a request's timeout in seconds for the service's
// parameters (0 when absent). The timeout interceptor has already refused
// invalid values with api.TimeoutSeconds' error.
func timeoutParam(t *uint64) int {
	if t == nil || *t == 0 {
		return 0
	}
	secs, _ := api.TimeoutSeconds(*t)
	return secs
}

func updateResultToProto(r *api.UpdateResult) *qdrant.UpdateResult {
	if r == nil {
		return nil
	}
	out := &qdrant.UpdateResult{OperationId: r.OperationID}
	switch r.Status {
	case api.UpdateAcknowledged:
		out.Status = qdrant.UpdateStatus_Acknowledged
	case api.UpdateCompleted:
		out.Status = qdrant.UpdateStatus_Completed
	case api.UpdateWaitTimeout:
		out.Status = qdrant.UpdateStatus_WaitTimeout
	default:
		out.Status = qdrant.UpdateStatus_UnknownUpdateStatus
	}
	return out
}

// sortedKeys returns m's keys in order, for deterministic output.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
