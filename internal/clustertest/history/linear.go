package history

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// Model is a porcupine model over this package's operations: its Step,
// Partition and Describe functions receive each operation as an Op, both as
// the input and as the output (the output carries Outcome and Result). Ops
// that reach a model are OK, or Info writes whose result is unknown (their
// Outcome is Info): Step must let an Info op succeed with any result. KV is
// one; tests define others for their own state machines, with their own
// kinds (CheckLinearizable accepts any Kind; CheckOptions.IsRead names the
// read-only ones).
type Model = porcupine.Model

// KV returns the model of a map of string registers with put, get, delete
// and cas (see the Kind constants), partitioned by key.
func KV() Model {
	return porcupine.Model{
		Partition: partitionByKey,
		Init:      func() any { return "" },
		Step: func(state, input, output any) (bool, any) {
			s, op := state.(string), output.(Op)
			switch op.Kind {
			case KindGet:
				return op.Result == s, s
			case KindPut:
				return true, op.Value
			case KindDelete:
				return true, ""
			case KindCAS:
				if op.Outcome == Info { // took effect iff it matched
					if s == op.Expect {
						return true, op.Value
					}
					return true, s
				}
				if op.Result == "true" {
					return s == op.Expect, op.Value
				}
				return s != op.Expect, s
			}
			return false, s
		},
		Equal: func(a, b any) bool { return a == b },
		DescribeOperation: func(_, output any) string {
			op := output.(Op)
			s := op.call()
			switch {
			case op.Outcome == Info:
				s += " -> ?"
			case op.Kind == KindGet || op.Kind == KindCAS:
				s += fmt.Sprintf(" -> %q", op.Result)
			}
			return s
		},
		DescribeState: func(state any) string { return fmt.Sprintf("%q", state) },
	}
}

func partitionByKey(h []porcupine.Operation) [][]porcupine.Operation {
	byKey := map[string]int{}
	var parts [][]porcupine.Operation
	for _, o := range h {
		k := o.Input.(Op).Key
		i, ok := byKey[k]
		if !ok {
			i = len(parts)
			byKey[k] = i
			parts = append(parts, nil)
		}
		parts[i] = append(parts[i], o)
	}
	return parts
}

// IsGet reports whether op is a KV get: the default CheckOptions.IsRead.
func IsGet(op Op) bool { return op.Kind == KindGet }

// Operations converts a history for porcupine: failed operations and reads
// (isRead; IsGet if nil) of unknown outcome are left out, since they had no
// effect, and the other operations of unknown outcome never return (Return
// = MaxInt64), since they may take effect at any time after their call.
func Operations(h []Op, isRead func(Op) bool) []porcupine.Operation {
	if isRead == nil {
		isRead = IsGet
	}
	var ops []porcupine.Operation
	for _, op := range h {
		if op.Outcome == Fail || (op.Outcome == Info && isRead(op)) {
			continue
		}
		ret := op.Return
		if op.Outcome == Info {
			ret = math.MaxInt64
		}
		ops = append(ops, porcupine.Operation{ClientId: op.Client, Input: op, Output: op, Call: op.Call, Return: ret})
	}
	return ops
}

// CheckOptions tune CheckLinearizable.
type CheckOptions struct {
	// Timeout bounds the search; 0 means no bound.
	Timeout time.Duration
	// VisualizePath, if set, receives porcupine's HTML visualization of
	// the history when it is not linearizable (or the check timed out).
	VisualizePath string
	// IsRead tells the model's read-only operations, whose unknown
	// outcomes are left out; nil means IsGet.
	IsRead func(Op) bool
}

// CheckLinearizable checks the history against model with porcupine. ok
// reports a linearizable history. Otherwise info names, per partition that
// cannot be linearized (per key with KV), the operations outside its
// longest linearizable prefix, and where the visualization went. err is set
// when the history is malformed, the check timed out (ok is false then) or
// the visualization could not be written.
func CheckLinearizable(h []Op, model Model, opts CheckOptions) (ok bool, info string, err error) {
	if err := validateShape(h); err != nil {
		return false, "", fmt.Errorf("cannot check linearizability: %w", err)
	}
	ops := Operations(h, opts.IsRead)
	res, lin := porcupine.CheckOperationsVerbose(model, ops, opts.Timeout)
	if res == porcupine.Ok {
		return true, "", nil
	}
	var b strings.Builder
	if res == porcupine.Unknown {
		err = fmt.Errorf("cannot check linearizability: no answer within %v", opts.Timeout)
		b.WriteString("the check timed out")
	} else {
		b.WriteString("not linearizable")
		describeFailure(&b, model, ops, lin)
	}
	if opts.VisualizePath != "" {
		if verr := porcupine.VisualizePath(model, lin, opts.VisualizePath); verr != nil {
			err = fmt.Errorf("cannot write the linearizability visualization: %w", verr)
		} else {
			fmt.Fprintf(&b, "\nvisualization: %s", opts.VisualizePath)
		}
	}
	return false, b.String(), err
}

// describeFailure writes, for each partition that could not be linearized
// whole, the longest linearization found and up to ten operations left
// outside it.
func describeFailure(b *strings.Builder, model Model, ops []porcupine.Operation, lin porcupine.LinearizationInfo) {
	parts := [][]porcupine.Operation{ops}
	if model.Partition != nil {
		parts = model.Partition(ops)
	}
	describe := model.DescribeOperation
	if describe == nil {
		describe = func(_, output any) string { return fmt.Sprint(output) }
	}
	partials := lin.PartialLinearizationsOperations()
	if len(partials) != len(parts) {
		return // a model whose Partition is not deterministic
	}
	for p, part := range parts {
		var longest []porcupine.Operation
		for _, l := range partials[p] {
			if len(l) > len(longest) {
				longest = l
			}
		}
		if len(longest) == len(part) {
			continue
		}
		in := map[int]bool{}
		var seq []string
		for _, o := range longest {
			id := o.Input.(Op).ID
			in[id] = true
			seq = append(seq, fmt.Sprintf("#%d %s", id, describe(o.Input, o.Output)))
		}
		label := "key " + part[0].Input.(Op).Key
		for _, o := range part {
			if o.Input.(Op).Key != part[0].Input.(Op).Key {
				label = fmt.Sprintf("partition %d", p)
				break
			}
		}
		fmt.Fprintf(b, "\n%s: the longest linearization covers %d of %d operations: [%s]; left out:", label, len(longest), len(part), strings.Join(seq, ", "))
		left := 0
		for _, o := range part {
			op := o.Input.(Op)
			if in[op.ID] {
				continue
			}
			if left == 10 {
				b.WriteString("\n  ...")
				break
			}
			left++
			fmt.Fprintf(b, "\n  %v", op)
		}
	}
}
