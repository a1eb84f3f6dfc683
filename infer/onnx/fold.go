package onnx

import (
	"fmt"
	"math"
)

// Exporters compute the shape a Reshape gets from the data at run time: torch's
// x.view(x.size(0), -1) becomes Shape -> Gather -> Unsqueeze -> Concat -> Reshape. retinad
// knows every shape while reading the chain except the batch size, so these subgraphs are
// folded to constants here, with batchDim standing for the batch size; Reshape then accepts it
// as the batch axis, and any other use of it (arithmetic, another position) is refused.

// batchDim stands for the run-time batch size inside a folded shape value.
const batchDim = math.MinInt64

// shapeVal is an int64 value folded from shapes: a scalar or a 1-D vector.
type shapeVal struct {
	v      []int64
	scalar bool
}

func (s shapeVal) hasBatch() bool {
	for _, x := range s.v {
		if x == batchDim {
			return true
		}
	}
	return false
}

// intsOf returns an input as a folded int value: a shape value, or an int64 constant of
// rank 0 or 1. ok is false for anything else (the data path, floats, missing inputs).
func (r *chainReader) intsOf(name string) (shapeVal, bool) {
	if s, ok := r.shapes[name]; ok {
		return s, true
	}
	t := r.consts[name]
	if t == nil || t.Type != TypeInt64 || len(t.Dims) > 1 {
		return shapeVal{}, false
	}
	return shapeVal{v: t.Int64, scalar: len(t.Dims) == 0}, true
}

// foldable lists the operators whose int64 results fold; Mul, Add, Sub and Div fold only
// when all their inputs are int values.
var foldable = map[string]bool{"Shape": true, "Gather": true, "Unsqueeze": true, "Squeeze": true,
	"Concat": true, "Slice": true, "Cast": true, "Mul": true, "Add": true, "Sub": true, "Div": true}

// fold evaluates n if it computes on shapes. handled is false when n is not such a node (it
// then goes through the chain as usual); an error names the node and what it cannot fold.
func (r *chainReader) fold(n *Node) (handled bool, err error) {
	if !foldable[n.Op] || len(n.Inputs) == 0 {
		return false, nil
	}
	if n.Op == "Shape" {
		in := n.Inputs[0]
		if a, ok := r.alias[in]; ok {
			in = a
		}
		shape, ok := r.seen[in]
		if !ok {
			return false, nil
		}
		v := append([]int64{batchDim}, make([]int64, len(shape))...)
		for i, d := range shape {
			v[i+1] = int64(d)
		}
		start, end := 0, len(v)
		if a, ok := n.Attr("start"); ok {
			start = clampIndex(a.I, len(v))
		}
		if a, ok := n.Attr("end"); ok {
			end = clampIndex(a.I, len(v))
		}
		if end < start {
			end = start
		}
		return true, r.setShape(n, shapeVal{v: v[start:end]})
	}
	var ins []shapeVal
	for _, name := range n.Inputs {
		if name == "" {
			ins = append(ins, shapeVal{})
			continue
		}
		s, ok := r.intsOf(name)
		if !ok {
			return false, nil
		}
		ins = append(ins, s)
	}
	fail := func(format string, args ...any) (bool, error) {
		return true, fmt.Errorf("onnx: node %q (%s): %s", n.Name, n.Op, fmt.Sprintf(format, args...))
	}
	switch n.Op {
	case "Cast":
		return true, r.setShape(n, ins[0])
	case "Gather":
		if len(ins) != 2 || ins[0].scalar {
			return fail("want a vector and indices")
		}
		if a, ok := n.Attr("axis"); ok && a.I != 0 {
			return fail("axis %d on a vector", a.I)
		}
		out := shapeVal{scalar: ins[1].scalar}
		for _, i := range ins[1].v {
			if i < 0 {
				i += int64(len(ins[0].v))
			}
			if i < 0 || i >= int64(len(ins[0].v)) {
				return fail("index %d outside %d values", i, len(ins[0].v))
			}
			out.v = append(out.v, ins[0].v[i])
		}
		return true, r.setShape(n, out)
	case "Unsqueeze":
		axes, err := axesOf(n, ins)
		if err != nil {
			return fail("%v", err)
		}
		if !ins[0].scalar || len(axes) != 1 || (axes[0] != 0 && axes[0] != -1) {
			return fail("only a scalar to a 1-element vector folds (axes %v)", axes)
		}
		return true, r.setShape(n, shapeVal{v: ins[0].v})
	case "Squeeze":
		if ins[0].scalar || len(ins[0].v) != 1 {
			return fail("only a 1-element vector to a scalar folds")
		}
		return true, r.setShape(n, shapeVal{v: ins[0].v, scalar: true})
	case "Concat":
		if a, ok := n.Attr("axis"); ok && a.I != 0 && a.I != -1 {
			return fail("axis %d on vectors", a.I)
		}
		var out shapeVal
		for i, s := range ins {
			if s.scalar {
				return fail("input %d is a scalar, want a vector", i)
			}
			out.v = append(out.v, s.v...)
		}
		return true, r.setShape(n, out)
	case "Slice":
		return r.slice(n, ins)
	}
	// Mul, Add, Sub, Div on int values, elementwise with a 1-element operand broadcast.
	if len(ins) != 2 {
		return fail("want 2 inputs")
	}
	if ins[0].hasBatch() || ins[1].hasBatch() {
		return fail("arithmetic on the batch size does not fold; reshape with -1 or 0 for the batch axis")
	}
	a, b := ins[0], ins[1]
	if len(a.v) < len(b.v) {
		a, b = b, a
	}
	if len(b.v) != 1 && len(b.v) != len(a.v) {
		return fail("operands of %d and %d values", len(ins[0].v), len(ins[1].v))
	}
	out := shapeVal{v: make([]int64, len(a.v)), scalar: ins[0].scalar && ins[1].scalar}
	for i := range out.v {
		x, y := ins[0].v[i%len(ins[0].v)], ins[1].v[i%len(ins[1].v)]
		switch n.Op {
		case "Mul":
			out.v[i] = x * y
		case "Add":
			out.v[i] = x + y
		case "Sub":
			out.v[i] = x - y
		case "Div":
			if y == 0 {
				return fail("division by zero")
			}
			out.v[i] = x / y
		}
	}
	return true, r.setShape(n, out)
}

func (r *chainReader) slice(n *Node, ins []shapeVal) (bool, error) {
	fail := func(format string, args ...any) (bool, error) {
		return true, fmt.Errorf("onnx: node %q (Slice): %s", n.Name, fmt.Sprintf(format, args...))
	}
	if ins[0].scalar {
		return fail("input is a scalar")
	}
	var starts, ends, axes, steps []int64
	if len(ins) >= 3 { // opset 10+: starts, ends, axes, steps as inputs
		starts, ends = ins[1].v, ins[2].v
		if len(ins) > 3 {
			axes = ins[3].v
		}
		if len(ins) > 4 {
			steps = ins[4].v
		}
	} else {
		for name, dst := range map[string]*[]int64{"starts": &starts, "ends": &ends, "axes": &axes} {
			if a, ok := n.Attr(name); ok {
				*dst = a.Ints
			}
		}
	}
	if len(starts) != 1 || len(ends) != 1 || len(axes) > 1 || len(steps) > 1 ||
		len(axes) == 1 && axes[0] != 0 && axes[0] != -1 || len(steps) == 1 && steps[0] != 1 {
		return fail("only a step-1 slice of one vector folds (starts %v ends %v axes %v steps %v)", starts, ends, axes, steps)
	}
	v := ins[0].v
	s, e := clampIndex(starts[0], len(v)), clampIndex(ends[0], len(v))
	if e < s {
		e = s
	}
	return true, r.setShape(n, shapeVal{v: append([]int64(nil), v[s:e]...)})
}

// axesOf reads Unsqueeze's axes: the second input (opset 13) or the attribute.
func axesOf(n *Node, ins []shapeVal) ([]int64, error) {
	if len(ins) > 1 {
		return ins[1].v, nil
	}
	if a, ok := n.Attr("axes"); ok {
		return a.Ints, nil
	}
	return nil, fmt.Errorf("no axes")
}

// clampIndex resolves a possibly negative start or end index into [0, n], as ONNX does.
func clampIndex(i int64, n int) int {
	if i < 0 {
		i += int64(n)
	}
	return int(min(max(i, 0), int64(n)))
}

// setShape records n's folded result; one without the batch size is also an ordinary int64
// constant, so that any consumer sees it.
func (r *chainReader) setShape(n *Node, s shapeVal) error {
	if len(n.Outputs) != 1 {
		return fmt.Errorf("onnx: node %q (%s) has %d outputs, want 1", n.Name, n.Op, len(n.Outputs))
	}
	r.shapes[n.Outputs[0]] = s
	if !s.hasBatch() {
		t := &Tensor{Name: n.Outputs[0], Type: TypeInt64, Int64: s.v}
		if !s.scalar {
			t.Dims = []int64{int64(len(s.v))}
		}
		r.consts[n.Outputs[0]] = t
	}
	return nil
}
