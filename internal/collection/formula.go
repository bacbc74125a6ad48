package collection

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/filter"
)

// formulaStage re-scores the prefetched points by a formula (Qdrant's
// score boosting): "$score[i]" is a point's score in prefetch i (from
// the defaults, else 0, when it is not there), payload variables come from
// the point's payload (else the defaults, else an error), a condition is 1
// when the point satisfies it, else 0. The hits are sorted by the result,
// highest first, cut by the score threshold and the limit.
func (c *Collection) formulaStage(ctx context.Context, st stage, subs []ranked) (ranked, error) {
	fq := st.query.Formula
	scores := make([]map[api.PointID]float32, len(subs))
	var ids []api.PointID
	seen := map[api.PointID]bool{}
	for i, s := range subs {
		scores[i] = make(map[api.PointID]float32, len(s.hits))
		for _, h := range s.hits {
			scores[i][h.ID] = h.Score
			if !seen[h.ID] {
				seen[h.ID] = true
				ids = append(ids, h.ID)
			}
		}
	}
	ev, err := newFormulaEval(fq, scores)
	if err != nil {
		return ranked{}, err
	}
	if len(ids) == 0 {
		return ranked{higher: true}, nil
	}
	var recs []api.Record
	if ev.needPayload {
		if recs, err = c.get(ctx, ids, api.PayloadAll, nil); err != nil {
			return ranked{}, err
		}
	} else {
		recs = make([]api.Record, len(ids))
		for i, id := range ids {
			recs[i].ID = id
		}
	}
	var hasVector func(api.PointID) func(string) bool
	if ev.needVectors {
		withVec, err := c.get(ctx, ids, nil, &api.VectorSelector{Enable: true})
		if err != nil {
			return ranked{}, err
		}
		names := make(map[api.PointID]map[string]bool, len(withVec))
		for _, r := range withVec {
			m := map[string]bool{}
			for n := range r.Vector {
				m[n] = true
			}
			for n := range r.Sparse {
				m[n] = true
			}
			for n := range r.Multi {
				m[n] = true
			}
			names[r.ID] = m
		}
		hasVector = func(id api.PointID) func(string) bool {
			return func(n string) bool { return names[id][n] }
		}
	}
	hits := make([]api.ScoredPoint, 0, len(recs))
	for i := range recs {
		if err := ctx.Err(); err != nil {
			return ranked{}, err
		}
		r := &recs[i]
		var hv func(string) bool
		if hasVector != nil {
			hv = hasVector(r.ID)
		}
		v, err := ev.eval(&fq.Formula, r.ID, r.Payload, hv)
		if err != nil {
			return ranked{}, err
		}
		s := float32(v)
		if st.threshold != nil && s < *st.threshold {
			continue
		}
		hits = append(hits, api.ScoredPoint{ID: r.ID, Score: s})
	}
	sort.SliceStable(hits, func(i, j int) bool {
		if hits[i].Score != hits[j].Score {
			return hits[i].Score > hits[j].Score
		}
		return hits[i].ID.Compare(hits[j].ID) < 0
	})
	if len(hits) > st.limit {
		hits = hits[:st.limit]
	}
	return ranked{hits: hits, higher: true}, nil
}

// formulaEval evaluates one formula for many points.
type formulaEval struct {
	scores      []map[api.PointID]float32
	defaults    map[string]any
	scoreDef    map[int]float64
	conds       map[*api.Condition]*filter.Matcher
	needPayload bool
	needVectors bool
}

func newFormulaEval(fq *api.FormulaQuery, scores []map[api.PointID]float32) (*formulaEval, error) {
	ev := &formulaEval{scores: scores, defaults: map[string]any{}, scoreDef: map[int]float64{}, conds: map[*api.Condition]*filter.Matcher{}}
	for k, v := range fq.Defaults {
		if e := (api.Expression{}); json.Unmarshal([]byte(`"`+k+`"`), &e) == nil && e.ScoreVar {
			if f, ok := asFloat(v); ok {
				ev.scoreDef[e.ScoreIdx] = f
			}
			continue
		}
		ev.defaults[k] = v
	}
	var err error
	fq.Formula.Walk(func(e *api.Expression) {
		if err != nil {
			return
		}
		switch e.Kind {
		case api.ExprVariable:
			if !e.ScoreVar {
				ev.needPayload = true
			} else if e.ScoreIdx >= len(scores) {
				err = api.ErrBadInput("formula variable %s refers to prefetch %d, but the query has %d prefetches", e.Var, e.ScoreIdx, len(scores))
			}
		case api.ExprGeoDistance, api.ExprDatetimeKey:
			ev.needPayload = true
		case api.ExprCondition:
			f := &api.Filter{Must: []api.Condition{*e.Cond}}
			if err = checkFilter(f); err != nil {
				return
			}
			var m *filter.Matcher
			if m, err = filter.Compile(f); err != nil {
				return
			}
			ev.conds[e.Cond] = m
			ev.needPayload = true
			if f.Depth() > 0 && usesHasVector(e.Cond) {
				ev.needVectors = true
			}
		}
	})
	return ev, err
}

func usesHasVector(c *api.Condition) bool {
	switch {
	case c.HasVector != nil:
		return true
	case c.Filter != nil:
		return filterUsesHasVector(c.Filter)
	case c.Nested != nil:
		return filterUsesHasVector(&c.Nested.Filter)
	}
	return false
}

func filterUsesHasVector(f *api.Filter) bool {
	for _, cs := range [][]api.Condition{f.Must, f.Should, f.MustNot} {
		for i := range cs {
			if usesHasVector(&cs[i]) {
				return true
			}
		}
	}
	if f.MinShould != nil {
		for i := range f.MinShould.Conditions {
			if usesHasVector(&f.MinShould.Conditions[i]) {
				return true
			}
		}
	}
	return false
}

func asFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

// value returns the value of a payload variable: the single value at the
// key, an array of the values when there are several, else the default.
func (ev *formulaEval) value(key string, p api.Payload) (any, bool) {
	vs := filter.Values(p, key)
	switch len(vs) {
	case 0:
		v, ok := ev.defaults[key]
		return v, ok
	case 1:
		return vs[0], true
	}
	return vs, true
}

func (ev *formulaEval) eval(e *api.Expression, id api.PointID, p api.Payload, hv func(string) bool) (float64, error) {
	arg := func(i int) (float64, error) { return ev.eval(&e.Args[i], id, p, hv) }
	finite := func(v float64, expr string) (float64, error) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, api.NonFinite(expr)
		}
		return v, nil
	}
	ff := api.FormatFloat
	switch e.Kind {
	case api.ExprConstant:
		return e.Const, nil
	case api.ExprVariable:
		if e.ScoreVar {
			if s, ok := ev.scores[e.ScoreIdx][id]; ok {
				return float64(s), nil
			}
			return ev.scoreDef[e.ScoreIdx], nil
		}
		v, ok := ev.value(e.Var, p)
		if !ok {
			return 0, api.VariableTypeError(e.Var, "number", "No value found in a payload nor defaults")
		}
		f, ok := asFloat(v)
		if !ok {
			return 0, api.VariableTypeError(e.Var, "number", "Value is not a number")
		}
		return f, nil
	case api.ExprCondition:
		if ev.conds[e.Cond].Match(id, p, hv) {
			return 1, nil
		}
		return 0, nil
	case api.ExprGeoDistance:
		v, ok := ev.value(e.Var, p)
		if !ok {
			return 0, api.VariableTypeError(e.Var, "geo point", "No value found in a payload nor defaults")
		}
		g, ok := asGeo(v)
		if !ok {
			return 0, api.VariableTypeError(e.Var, "geo point", fmt.Sprintf("invalid geo point %v", v))
		}
		return filter.Distance(e.Origin, g), nil
	case api.ExprDatetime:
		return float64(e.Time.Unix()), nil
	case api.ExprDatetimeKey:
		v, ok := ev.value(e.Var, p)
		if !ok {
			return 0, api.VariableTypeError(e.Var, "datetime", "No value found in a payload nor defaults")
		}
		s, ok := v.(string)
		if !ok {
			return 0, api.VariableTypeError(e.Var, "datetime", "value is not a string")
		}
		t, err := api.ParseDatetime(s)
		if err != nil {
			return 0, api.VariableTypeError(e.Var, "datetime", err.Error())
		}
		return float64(t.Unix()), nil
	case api.ExprMult:
		prod := 1.0
		for i := range e.Args {
			v, err := arg(i)
			if err != nil {
				return 0, err
			}
			if v == 0 {
				return 0, nil
			}
			prod *= v
		}
		return prod, nil
	case api.ExprSum:
		sum := 0.0
		for i := range e.Args {
			v, err := arg(i)
			if err != nil {
				return 0, err
			}
			sum += v
		}
		return sum, nil
	case api.ExprNeg:
		v, err := arg(0)
		return -v, err
	case api.ExprAbs:
		v, err := arg(0)
		return math.Abs(v), err
	case api.ExprDiv:
		l, err := arg(0)
		if err != nil || l == 0 {
			return 0, err
		}
		r, err := arg(1)
		if err != nil {
			return 0, err
		}
		if r == 0 && e.ByZero != nil {
			return *e.ByZero, nil
		}
		return finite(l/r, ff(l)+"/"+ff(r)+" = "+ff(l/r))
	case api.ExprSqrt:
		v, err := arg(0)
		if err != nil {
			return 0, err
		}
		return finite(math.Sqrt(v), "√"+ff(v)+" = "+ff(math.Sqrt(v)))
	case api.ExprPow:
		b, err := arg(0)
		if err != nil {
			return 0, err
		}
		x, err := arg(1)
		if err != nil {
			return 0, err
		}
		return finite(math.Pow(b, x), ff(b)+"^"+ff(x)+" = "+ff(math.Pow(b, x)))
	case api.ExprExp:
		v, err := arg(0)
		if err != nil {
			return 0, err
		}
		return finite(math.Exp(v), "exp("+ff(v)+") = "+ff(math.Exp(v)))
	case api.ExprLog10:
		v, err := arg(0)
		if err != nil {
			return 0, err
		}
		return finite(math.Log10(v), "log10("+ff(v)+") = "+ff(math.Log10(v)))
	case api.ExprLn:
		v, err := arg(0)
		if err != nil {
			return 0, err
		}
		return finite(math.Log(v), "ln("+ff(v)+") = "+ff(math.Log(v)))
	case api.ExprLinDecay, api.ExprExpDecay, api.ExprGaussDecay:
		x, err := arg(0)
		if err != nil {
			return 0, err
		}
		target := 0.0
		if e.HasTarget {
			if target, err = arg(1); err != nil {
				return 0, err
			}
		}
		// Qdrant computes the decays in f32.
		d, l := float32(x-target), float32(e.Lambda)
		switch e.Kind {
		case api.ExprLinDecay:
			return float64(max(-l*abs32(d)+1, 0)), nil
		case api.ExprExpDecay:
			return float64(float32(math.Exp(float64(l * abs32(d))))), nil
		}
		return float64(float32(math.Exp(float64(l * d * d)))), nil
	}
	return 0, api.ErrBadInput("unknown expression")
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}

func asGeo(v any) (api.GeoPoint, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return api.GeoPoint{}, false
	}
	lat, ok1 := asFloat(m["lat"])
	lon, ok2 := asFloat(m["lon"])
	if !ok1 || !ok2 || len(m) != 2 {
		return api.GeoPoint{}, false
	}
	return api.GeoPoint{Lat: lat, Lon: lon}, true
}
