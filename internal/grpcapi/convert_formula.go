package grpcapi

import (
	"encoding/json"

	"github.com/qdrant/go-client/qdrant"

	"github.com/shoal-db/shoal/internal/api"
)

// formulaFromProto converts a formula query into its REST JSON form and
// decodes that with package api, so that both adapters validate formulas
// in one place.
func formulaFromProto(f *qdrant.Formula) (*api.Query, error) {
	if f.GetExpression() == nil {
		return nil, api.ErrBadInput("formula needs an expression")
	}
	expr, err := expressionToJSON(f.GetExpression(), 0)
	if err != nil {
		return nil, err
	}
	body := map[string]any{"formula": expr}
	if len(f.GetDefaults()) > 0 {
		d := make(map[string]any, len(f.GetDefaults()))
		for k, v := range f.GetDefaults() {
			if d[k], err = valueFromProto(v, 0); err != nil {
				return nil, err
			}
		}
		body["defaults"] = d
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, api.ErrBadInput("invalid formula: %v", err)
	}
	var q api.Query
	if err := json.Unmarshal(b, &q); err != nil {
		return nil, err
	}
	return &q, nil
}

// maxExpressionDepth bounds the nesting of a formula's expressions.
const maxExpressionDepth = 64

func expressionToJSON(e *qdrant.Expression, depth int) (any, error) {
	if e == nil {
		return nil, api.ErrBadInput("formula expression is empty")
	}
	if depth > maxExpressionDepth {
		return nil, api.ErrBadInput("formula is nested deeper than %d levels", maxExpressionDepth)
	}
	sub := func(x *qdrant.Expression) (any, error) { return expressionToJSON(x, depth+1) }
	list := func(xs []*qdrant.Expression) ([]any, error) {
		out := make([]any, len(xs))
		for i, x := range xs {
			var err error
			if out[i], err = sub(x); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	wrap := func(k string, x *qdrant.Expression) (any, error) {
		v, err := sub(x)
		return map[string]any{k: v}, err
	}
	decay := func(k string, d *qdrant.DecayParamsExpression) (any, error) {
		x, err := sub(d.GetX())
		if err != nil {
			return nil, err
		}
		p := map[string]any{"x": x}
		if d.Target != nil {
			if p["target"], err = sub(d.Target); err != nil {
				return nil, err
			}
		}
		if d.Scale != nil {
			p["scale"] = float64(*d.Scale)
		}
		if d.Midpoint != nil {
			p["midpoint"] = float64(*d.Midpoint)
		}
		return map[string]any{k: p}, nil
	}
	switch x := e.GetVariant().(type) {
	case *qdrant.Expression_Constant:
		return float64(x.Constant), nil
	case *qdrant.Expression_Variable:
		return x.Variable, nil
	case *qdrant.Expression_Condition:
		return conditionFromProto(x.Condition, 0)
	case *qdrant.Expression_GeoDistance:
		o := x.GeoDistance.GetOrigin()
		if o == nil {
			return nil, api.ErrBadInput("geo_distance needs origin and to")
		}
		return map[string]any{"geo_distance": map[string]any{"origin": api.GeoPoint{Lat: o.GetLat(), Lon: o.GetLon()}, "to": x.GeoDistance.GetTo()}}, nil
	case *qdrant.Expression_Datetime:
		return map[string]any{"datetime": x.Datetime}, nil
	case *qdrant.Expression_DatetimeKey:
		return map[string]any{"datetime_key": x.DatetimeKey}, nil
	case *qdrant.Expression_Mult:
		l, err := list(x.Mult.GetMult())
		return map[string]any{"mult": l}, err
	case *qdrant.Expression_Sum:
		l, err := list(x.Sum.GetSum())
		return map[string]any{"sum": l}, err
	case *qdrant.Expression_Div:
		l, err := sub(x.Div.GetLeft())
		if err != nil {
			return nil, err
		}
		r, err := sub(x.Div.GetRight())
		if err != nil {
			return nil, err
		}
		p := map[string]any{"left": l, "right": r}
		if x.Div.ByZeroDefault != nil {
			p["by_zero_default"] = float64(*x.Div.ByZeroDefault)
		}
		return map[string]any{"div": p}, nil
	case *qdrant.Expression_Neg:
		return wrap("neg", x.Neg)
	case *qdrant.Expression_Abs:
		return wrap("abs", x.Abs)
	case *qdrant.Expression_Sqrt:
		return wrap("sqrt", x.Sqrt)
	case *qdrant.Expression_Pow:
		b, err := sub(x.Pow.GetBase())
		if err != nil {
			return nil, err
		}
		ex, err := sub(x.Pow.GetExponent())
		if err != nil {
			return nil, err
		}
		return map[string]any{"pow": map[string]any{"base": b, "exponent": ex}}, nil
	case *qdrant.Expression_Exp:
		return wrap("exp", x.Exp)
	case *qdrant.Expression_Log10:
		return wrap("log10", x.Log10)
	case *qdrant.Expression_Ln:
		return wrap("ln", x.Ln)
	case *qdrant.Expression_ExpDecay:
		return decay("exp_decay", x.ExpDecay)
	case *qdrant.Expression_GaussDecay:
		return decay("gauss_decay", x.GaussDecay)
	case *qdrant.Expression_LinDecay:
		return decay("lin_decay", x.LinDecay)
	}
	return nil, api.ErrBadInput("formula expression is empty")
}
