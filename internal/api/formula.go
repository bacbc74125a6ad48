package api

import (
	"bytes"
	"encoding/json"
	"math"
	"regexp"
	"strconv"
	"time"
)

// FormulaQuery re-scores the prefetched points by an expression (Qdrant's
// score boosting). Defaults give the values of variables a point lacks:
// "$score", "$score[i]" or a payload key.
type FormulaQuery struct {
	Formula  Expression     `json:"formula"`
	Defaults map[string]any `json:"defaults,omitempty"`
}

// ExprKind says which form an Expression has.
type ExprKind int

// Expression kinds.
const (
	ExprConstant    ExprKind = iota // a number
	ExprVariable                    // "$score", "$score[i]" or a payload key
	ExprCondition                   // a filter condition: 1 when it holds, else 0
	ExprGeoDistance                 // metres from Origin to the geo point at To
	ExprDatetime                    // a datetime constant, in seconds since the epoch
	ExprDatetimeKey                 // the datetime at a payload key, in seconds
	ExprMult
	ExprSum
	ExprNeg
	ExprAbs
	ExprDiv
	ExprSqrt
	ExprPow
	ExprExp
	ExprLog10
	ExprLn
	ExprLinDecay
	ExprExpDecay
	ExprGaussDecay
)

// Expression is Qdrant's formula Expression union.
type Expression struct {
	Kind      ExprKind
	Const     float64
	Var       string // ExprVariable: the variable; ExprGeoDistance, ExprDatetimeKey: the payload key
	ScoreIdx  int    // ExprVariable of "$score[i]": i (ScoreVar true)
	ScoreVar  bool
	Cond      *Condition
	Origin    GeoPoint
	Time      time.Time
	Args      []Expression // mult, sum; one operand for neg, abs, sqrt, exp, log10, ln; div: left, right; pow: base, exponent; decay: x (and target)
	ByZero    *float64     // div's by_zero_default
	HasTarget bool         // decay with a target (Args[1])
	Lambda    float64      // decay constant from scale and midpoint
	raw       json.RawMessage
}

var scoreVar = regexp.MustCompile(`^\$score(?:\[(\d+)\])?$`)

// parseVariable reads a variable name the way Qdrant does.
func parseVariable(s string) (idx int, score bool, err error) {
	if s == "" {
		return 0, false, ErrBadInput("Invalid payload variable: %s", s)
	}
	if s[0] != '$' {
		return 0, false, nil
	}
	m := scoreVar.FindStringSubmatch(s)
	if m == nil {
		if len(s) >= 6 && s[:6] == "$score" {
			return 0, false, ErrBadInput("Invalid reserved variable: %s", s)
		}
		return 0, false, ErrBadInput("Invalid reserved word: %s", s)
	}
	if m[1] != "" {
		n, err := strconv.Atoi(m[1])
		if err != nil {
			return 0, false, ErrBadInput("Invalid reserved variable: %s", s)
		}
		idx = n
	}
	return idx, true, nil
}

// MarshalJSON writes the expression as it was given.
func (e Expression) MarshalJSON() ([]byte, error) {
	if e.raw != nil {
		return e.raw, nil
	}
	return json.Marshal(e.Const)
}

// UnmarshalJSON reads every form of Qdrant's Expression.
func (e *Expression) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	*e = Expression{raw: append(json.RawMessage(nil), b...)}
	if len(b) == 0 {
		return ErrBadInput("empty expression")
	}
	switch b[0] {
	case '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return ErrBadInput("invalid expression: %v", err)
		}
		idx, score, err := parseVariable(s)
		if err != nil {
			return err
		}
		e.Kind, e.Var, e.ScoreIdx, e.ScoreVar = ExprVariable, s, idx, score
		return nil
	case '{':
	default:
		var f float64
		if err := json.Unmarshal(b, &f); err != nil {
			return ErrBadInput("expression must be a number, a variable name or an object: %s", b)
		}
		e.Kind, e.Const = ExprConstant, f
		return nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return ErrBadInput("invalid expression: %v", err)
	}
	if len(raw) == 0 {
		return ErrBadInput("empty expression: expected a number, a variable, an operator or a condition")
	}
	if len(raw) == 1 {
		for k, v := range raw {
			if ok, err := e.operator(k, v); ok || err != nil {
				return err
			}
		}
	}
	// Anything else is a condition.
	var c Condition
	if err := json.Unmarshal(b, &c); err != nil {
		return err
	}
	e.Kind, e.Cond = ExprCondition, &c
	return nil
}

// operator decodes the one-key operator forms; ok is false for a key that
// is not an operator (the object is then a condition).
func (e *Expression) operator(k string, v json.RawMessage) (ok bool, err error) {
	one := func(kind ExprKind) (bool, error) {
		var a Expression
		if err := json.Unmarshal(v, &a); err != nil {
			return true, err
		}
		e.Kind, e.Args = kind, []Expression{a}
		return true, nil
	}
	switch k {
	case "mult", "sum":
		var args []Expression
		if err := json.Unmarshal(v, &args); err != nil {
			return true, exprErr(k, err)
		}
		e.Kind, e.Args = ExprMult, args
		if k == "sum" {
			e.Kind = ExprSum
		}
		return true, nil
	case "neg":
		return one(ExprNeg)
	case "abs":
		return one(ExprAbs)
	case "sqrt":
		return one(ExprSqrt)
	case "exp":
		return one(ExprExp)
	case "log10":
		return one(ExprLog10)
	case "ln":
		return one(ExprLn)
	case "div":
		var p struct {
			Left          *Expression `json:"left"`
			Right         *Expression `json:"right"`
			ByZeroDefault *float64    `json:"by_zero_default"`
		}
		if err := decodeStrict(v, &p, "div"); err != nil {
			return true, err
		}
		if p.Left == nil || p.Right == nil {
			return true, ErrBadInput("div needs left and right")
		}
		e.Kind, e.Args, e.ByZero = ExprDiv, []Expression{*p.Left, *p.Right}, p.ByZeroDefault
		return true, nil
	case "pow":
		var p struct {
			Base     *Expression `json:"base"`
			Exponent *Expression `json:"exponent"`
		}
		if err := decodeStrict(v, &p, "pow"); err != nil {
			return true, err
		}
		if p.Base == nil || p.Exponent == nil {
			return true, ErrBadInput("pow needs base and exponent")
		}
		e.Kind, e.Args = ExprPow, []Expression{*p.Base, *p.Exponent}
		return true, nil
	case "lin_decay", "exp_decay", "gauss_decay":
		var p struct {
			X        *Expression `json:"x"`
			Target   *Expression `json:"target"`
			Scale    *float64    `json:"scale"`
			Midpoint *float64    `json:"midpoint"`
		}
		if err := decodeStrict(v, &p, k); err != nil {
			return true, err
		}
		if p.X == nil {
			return true, ErrBadInput("%s needs x", k)
		}
		kind := map[string]ExprKind{"lin_decay": ExprLinDecay, "exp_decay": ExprExpDecay, "gauss_decay": ExprGaussDecay}[k]
		lambda, err := decayLambda(kind, p.Midpoint, p.Scale)
		if err != nil {
			return true, err
		}
		e.Kind, e.Args, e.Lambda = kind, []Expression{*p.X}, lambda
		if p.Target != nil {
			e.Args, e.HasTarget = append(e.Args, *p.Target), true
		}
		return true, nil
	case "geo_distance":
		var p struct {
			Origin *GeoPoint `json:"origin"`
			To     *string   `json:"to"`
		}
		if err := decodeStrict(v, &p, k); err != nil {
			return true, err
		}
		if p.Origin == nil || p.To == nil || *p.To == "" {
			return true, ErrBadInput("geo_distance needs origin and to")
		}
		e.Kind, e.Origin, e.Var = ExprGeoDistance, *p.Origin, *p.To
		return true, nil
	case "datetime":
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return true, ErrBadInput("datetime must be a string")
		}
		t, err := ParseDatetime(s)
		if err != nil {
			return true, ErrBadInput("invalid datetime %q: %v", s, err)
		}
		e.Kind, e.Time = ExprDatetime, t
		return true, nil
	case "datetime_key":
		var s string
		if err := json.Unmarshal(v, &s); err != nil || s == "" {
			return true, ErrBadInput("datetime_key must be a payload key")
		}
		e.Kind, e.Var = ExprDatetimeKey, s
		return true, nil
	}
	return false, nil
}

func exprErr(k string, err error) error {
	if e, ok := err.(*Error); ok {
		return e
	}
	return ErrBadInput("invalid %s expression: %v", k, err)
}

// decayLambda turns a decay's midpoint and scale into its constant, with
// Qdrant's checks.
func decayLambda(kind ExprKind, midpoint, scale *float64) (float64, error) {
	m, s := 0.5, 1.0
	if midpoint != nil {
		m = float64(float32(*midpoint))
	}
	if scale != nil {
		s = float64(float32(*scale))
	}
	if kind == ExprLinDecay {
		if m < 0 || m > 1 {
			return 0, ErrBadRequest("Validation error: Linear decay midpoint should be in the range [0.0, 1.0], got %v.", m)
		}
	} else if m <= 0 || m >= 1 {
		return 0, ErrBadRequest("Validation error: Decay midpoint should be in the range (0.0, 1.0), got %v.", m)
	}
	if !(s > 0) {
		return 0, ErrBadRequest("Validation error: Decay scale should be non-zero positive, got %v.", s)
	}
	switch kind {
	case ExprLinDecay:
		return (1 - m) / s, nil
	case ExprExpDecay:
		return math.Log(m) / s, nil
	}
	return math.Log(m) / (s * s), nil
}

// Walk calls fn for e and every expression inside it.
func (e *Expression) Walk(fn func(*Expression)) {
	fn(e)
	for i := range e.Args {
		e.Args[i].Walk(fn)
	}
}

// CheckDefaults validates the defaults' keys as variable names.
func (f *FormulaQuery) CheckDefaults() error {
	for k := range f.Defaults {
		if _, _, err := parseVariable(k); err != nil {
			return err
		}
	}
	return nil
}

// NonFinite is Qdrant's error of an expression that produced a non-finite
// number.
func NonFinite(expr string) *Error {
	return ErrBadInput("The expression %s produced a non-finite number", expr)
}

// VariableTypeError is Qdrant's error of a variable without a usable value.
func VariableTypeError(field, expected, detail string) *Error {
	return ErrBadInput("Expected %s value for %s in the payload and/or in the formula defaults. Error: %s", expected, field, detail)
}

// FormatFloat prints like Rust's Display of f64.
func FormatFloat(f float64) string {
	if math.IsInf(f, 1) {
		return "inf"
	}
	if math.IsInf(f, -1) {
		return "-inf"
	}
	if math.IsNaN(f) {
		return "NaN"
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}
