package onnx

import (
	"fmt"
	"math"
	"math/rand/v2"

	"retinad/infer"
)

// A recurrent model (a convgru layer) as ONNX. A graph keeps no state, so the export is one
// step, and the caller carries the state from one run to the next:
//
//	stimulus    [N, history, height, width]  the normalised window, as for every export
//	state       [N, hidden, h, w]            the conv-GRU's state before this step: zeros at a
//	                                         session's first full window (infer's Reset)
//	rates       [N, cells]                   spikes/s
//	next_state  [N, hidden, h, w]            the state after this step: the next step's state
//
// Inputs and outputs are in that order (the window first, the rates first). The cell is two
// Conv nodes with same padding (of the layer's input, and of the state), each split into the
// gates r, z, n along the channels (Split, or Slice), and elementwise Add, Sub, Mul, Sigmoid
// and Tanh (torch.onnx.export of train/'s ConvGRUCell writes exactly these). Import finds the
// two convolutions behind next_state, refuses any other operator between them and next_state
// by name, and checks that those nodes compute torch's GRUCell update by evaluating them at
// random points (so an export that spells the update differently, h + z (h - n) say, still
// imports, and one that computes something else does not); they are then one convgru layer.
const (
	StateInput  = "state"
	StateOutput = "next_state"
)

// gruOps are the operators allowed between the gates' convolutions and the next state.
var gruOps = map[string]bool{"Split": true, "Slice": true, "Add": true, "Sub": true, "Mul": true, "Sigmoid": true, "Tanh": true, "Identity": true}

// gruDomain marks the node that stands for a recognised conv-GRU in the rewritten graph that
// ReadChain walks; it never appears in a file (the chain reader accepts it only as the unit
// findGRU built).
const gruDomain = "retinad.convgru"

// gruUnit is a conv-GRU found in a step graph.
type gruUnit struct {
	x, out string // the value the input's convolution reads; the next state
	state  *ValueInfo
	l      Layer // Kind GRU, without its shapes (the chain reader sets them)
	used   bool
}

// findGRU finds the conv-GRU that computes out (the graph's second output) from state (its
// second input) and returns it with g's nodes rewritten: the unit's nodes replaced by one node
// of domain gruDomain, from the input convolution's input to out.
func findGRU(g *Graph, state *ValueInfo, out string) (*gruUnit, []Node, error) {
	consts := map[string]*Tensor{}
	for _, t := range g.Inits {
		consts[t.Name] = t
	}
	prod := map[string]int{}
	for i, n := range g.Nodes {
		if a, ok := n.Attr("value"); n.Op == "Constant" && ok && a.T != nil && len(n.Outputs) == 1 {
			consts[n.Outputs[0]] = a.T
		}
		for _, o := range n.Outputs {
			prod[o] = i
		}
	}
	inside := map[int]bool{} // the unit's nodes, convolutions included
	var convs []int
	stack, seen := []string{out}, map[string]bool{}
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[v] || v == "" || v == state.Name || consts[v] != nil {
			continue
		}
		seen[v] = true
		i, ok := prod[v]
		if !ok {
			return nil, nil, fmt.Errorf("onnx: recurrent: value %q behind %s is neither the state %q, a constant nor a node's output", v, out, state.Name)
		}
		n := &g.Nodes[i]
		inside[i] = true
		if n.Op == "Conv" && (n.Domain == "" || n.Domain == "ai.onnx") && len(n.Inputs) > 0 {
			convs = append(convs, i) // a gate's convolution: what feeds it is outside the unit
			continue
		}
		if !gruOps[n.Op] || (n.Domain != "" && n.Domain != "ai.onnx") {
			return nil, nil, fmt.Errorf("onnx: node %q: operator %s between the recurrent unit's convolutions and %s is not supported (a conv-GRU step is Conv, Split or Slice, Add, Sub, Mul, Sigmoid and Tanh)", n.Name, n.Op, out)
		}
		stack = append(stack, n.Inputs...)
	}
	if len(convs) != 2 {
		return nil, nil, fmt.Errorf("onnx: recurrent: %d Conv nodes behind %s, want 2 (the gates of the input and of the state %q)", len(convs), out, state.Name)
	}
	ih, hh := &g.Nodes[convs[0]], &g.Nodes[convs[1]]
	if ih.Inputs[0] == state.Name {
		ih, hh = hh, ih
	}
	if hh.Inputs[0] != state.Name || ih.Inputs[0] == state.Name {
		return nil, nil, fmt.Errorf("onnx: recurrent: of the Conv nodes %q and %q behind %s, one must read the state %q and the other the layer's input", ih.Name, hh.Name, out, state.Name)
	}
	u := &gruUnit{x: ih.Inputs[0], out: out, state: state, l: Layer{Kind: GRU, Node: ih.Name}}
	var err error
	if u.l.W, u.l.B, u.l.KH, u.l.KW, err = gruConv(ih, consts); err != nil {
		return nil, nil, err
	}
	var kh, kw int
	if u.l.WH, u.l.BH, kh, kw, err = gruConv(hh, consts); err != nil {
		return nil, nil, err
	}
	wi, wh := consts[ih.Inputs[1]].Dims, consts[hh.Inputs[1]].Dims
	hc := int(wh[0]) / 3
	if hc < 1 || wh[0]%3 != 0 || int(wh[1]) != hc || wi[0] != wh[0] || kh != u.l.KH || kw != u.l.KW {
		return nil, nil, fmt.Errorf("onnx: recurrent: Conv %q weight %v and Conv %q weight %v: want [3*hidden, in, k, k] and [3*hidden, hidden, k, k]", ih.Name, wi, hh.Name, wh)
	}
	u.l.Out = hc
	// Nothing outside the unit may read its inside: the state, the gates, the convolutions.
	for i, n := range g.Nodes {
		if inside[i] {
			continue
		}
		for _, v := range n.Inputs {
			if j, ok := prod[v]; (ok && inside[j] && v != out) || v == state.Name {
				return nil, nil, fmt.Errorf("onnx: node %q (%s) reads %q, inside the recurrent unit; only its output %s may be used", n.Name, n.Op, v, out)
			}
		}
	}
	var order []int // the unit's elementwise nodes in graph order
	for i := range g.Nodes {
		if inside[i] && i != convs[0] && i != convs[1] {
			order = append(order, i)
		}
	}
	if err := checkGRU(g, order, consts, ih.Outputs[0], hh.Outputs[0], state.Name, out, hc); err != nil {
		return nil, nil, err
	}
	last := 0 // out's node: the unit's last, since every other one is behind it
	for i := range inside {
		last = max(last, i)
	}
	var nodes []Node
	for i, n := range g.Nodes {
		switch {
		case i == last:
			nodes = append(nodes, Node{Name: ih.Name, Op: "ConvGRU", Domain: gruDomain, Inputs: []string{u.x}, Outputs: []string{out}})
		case !inside[i]:
			nodes = append(nodes, n)
		}
	}
	return u, nodes, nil
}

// gruConv reads one of the unit's convolutions: constant weight [out, in, kh, kw] with odd
// kernels, optional constant bias, zero-padded by kh/2 and kw/2 (same), stride 1, ungrouped.
func gruConv(n *Node, consts map[string]*Tensor) (w, b []float32, kh, kw int, err error) {
	fail := func(format string, args ...any) ([]float32, []float32, int, int, error) {
		return nil, nil, 0, 0, fmt.Errorf("onnx: node %q (Conv, recurrent unit): %s", n.Name, fmt.Sprintf(format, args...))
	}
	if len(n.Inputs) < 2 || consts[n.Inputs[1]] == nil {
		return fail("weight must be a constant")
	}
	wt := consts[n.Inputs[1]]
	if wt.Type != TypeFloat || len(wt.Dims) != 4 || !holds(wt.Dims, len(wt.Float)) || wt.Dims[2]%2 != 1 || wt.Dims[3]%2 != 1 {
		return fail("weight %v must be float [out, in, kh, kw] with kh and kw odd", wt.Dims)
	}
	kh, kw = int(wt.Dims[2]), int(wt.Dims[3])
	if len(n.Inputs) > 2 && n.Inputs[2] != "" {
		bt := consts[n.Inputs[2]]
		if bt == nil || bt.Type != TypeFloat || len(bt.Float) != int(wt.Dims[0]) {
			return fail("bias %q must be %d constant floats", n.Inputs[2], wt.Dims[0])
		}
		b = bt.Float
	}
	if a, padded := badConvAttr(n, kh, kw, true); a != nil || !padded {
		same := []int64{int64(kh / 2), int64(kw / 2), int64(kh / 2), int64(kw / 2)}
		if a == nil {
			return fail("no padding: a conv-GRU's convolutions are same-padded (pads %v)", same)
		}
		return fail("attribute %s = %v%v%s: want same padding %v, stride 1, one group", a.Name, a.I, a.Ints, a.S, same)
	}
	return wt.Float, b, kh, kw, nil
}

// holds reports whether dims, each at least 1, multiply to n (without overflowing on the way:
// a file's dims are not to be trusted).
func holds(dims []int64, n int) bool {
	p := int64(1)
	for _, d := range dims {
		if d < 1 || d > int64(n) || p*d > int64(n) {
			return false
		}
		p *= d
	}
	return p == int64(n)
}

// checkGRU evaluates the unit's elementwise nodes (order, in graph order) on one pixel at
// random points, the gates' convolutions gi and gh and the state h given, and compares what
// they give at out with torch's GRUCell update (gates r, z, n in that order along the
// channels). A value is a vector over the channels of one pixel.
func checkGRU(g *Graph, order []int, consts map[string]*Tensor, gi, gh, state, out string, hc int) error {
	rng := rand.New(rand.NewPCG(7, uint64(hc)))
	for trial := 0; trial < 4; trial++ {
		vals := map[string][]float64{gi: randVec(rng, 3*hc), gh: randVec(rng, 3*hc), state: randVec(rng, hc)}
		for _, i := range order {
			if err := evalGRUNode(&g.Nodes[i], vals, consts); err != nil {
				return err
			}
		}
		got := vals[out]
		want := gruUpdate(vals[gi], vals[gh], vals[state])
		if len(got) != hc {
			return fmt.Errorf("onnx: recurrent: %s has %d channels, want the state's %d", out, len(got), hc)
		}
		for c := range want {
			if math.Abs(got[c]-want[c]) > 1e-9*math.Max(1, math.Abs(want[c])) {
				return fmt.Errorf("onnx: recurrent: the nodes from the gates' convolutions to %s do not compute torch's GRUCell update (gates r, z, n along the channels; h' = (1-z) n + z h): channel %d gives %.6g at a test point, want %.6g", out, c, got[c], want[c])
			}
		}
	}
	return nil
}

func randVec(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.Float64()*6 - 3
	}
	return v
}

// gruUpdate is h' from the gates' pre-activations gi, gh ([r z n] each) and h, in float64.
func gruUpdate(gi, gh, h []float64) []float64 {
	n := len(h)
	out := make([]float64, n)
	sig := func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }
	for c := range out {
		r, z := sig(gi[c]+gh[c]), sig(gi[n+c]+gh[n+c])
		out[c] = (1-z)*math.Tanh(gi[2*n+c]+r*gh[2*n+c]) + z*h[c]
	}
	return out
}

// evalGRUNode computes one elementwise node of the unit on one pixel's channel vectors.
func evalGRUNode(n *Node, vals map[string][]float64, consts map[string]*Tensor) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("onnx: node %q (%s, recurrent unit): %s", n.Name, n.Op, fmt.Sprintf(format, args...))
	}
	arg := func(i int) ([]float64, error) {
		if i >= len(n.Inputs) {
			return nil, fail("input %d missing", i)
		}
		if v, ok := vals[n.Inputs[i]]; ok {
			return v, nil
		}
		if t := consts[n.Inputs[i]]; t != nil && t.Type == TypeFloat && len(t.Float) == 1 {
			return []float64{float64(t.Float[0])}, nil
		}
		return nil, fail("input %q is neither a value of the unit nor a one-value float constant", n.Inputs[i])
	}
	x, err := arg(0)
	if err != nil {
		return err
	}
	channelAxis := func() error {
		if a, ok := n.Attr("axis"); !ok || (a.I != 1 && a.I != -3) {
			return fail("want axis 1 (the channels)")
		}
		return nil
	}
	switch n.Op {
	case "Identity":
		vals[n.Outputs[0]] = x
	case "Sigmoid", "Tanh":
		y := make([]float64, len(x))
		for i, v := range x {
			y[i] = math.Tanh(v)
			if n.Op == "Sigmoid" {
				y[i] = 1 / (1 + math.Exp(-v))
			}
		}
		vals[n.Outputs[0]] = y
	case "Add", "Sub", "Mul":
		b, err := arg(1)
		if err != nil {
			return err
		}
		if len(x) == 0 || len(b) == 0 || len(x) != len(b) && len(x) != 1 && len(b) != 1 {
			return fail("operands of %d and %d channels", len(x), len(b))
		}
		y := make([]float64, max(len(x), len(b)))
		for i := range y {
			p, q := x[i%len(x)], b[i%len(b)]
			switch n.Op {
			case "Add":
				y[i] = p + q
			case "Sub":
				y[i] = p - q
			default:
				y[i] = p * q
			}
		}
		vals[n.Outputs[0]] = y
	case "Split":
		if err := channelAxis(); err != nil {
			return err
		}
		sizes := make([]int64, len(n.Outputs))
		if len(n.Inputs) > 1 && n.Inputs[1] != "" {
			t := consts[n.Inputs[1]]
			if t == nil || t.Type != TypeInt64 || len(t.Int64) != len(n.Outputs) {
				return fail("split %q must be %d constant int64 sizes", n.Inputs[1], len(n.Outputs))
			}
			copy(sizes, t.Int64)
		} else if a, ok := n.Attr("split"); ok && len(a.Ints) == len(n.Outputs) {
			copy(sizes, a.Ints)
		} else {
			for i := range sizes {
				sizes[i] = int64(len(x) / len(n.Outputs))
			}
		}
		at := int64(0)
		for i, s := range sizes {
			if s < 0 || at+s > int64(len(x)) {
				return fail("sizes %v do not split %d channels", sizes, len(x))
			}
			vals[n.Outputs[i]] = x[at : at+s]
			at += s
		}
		if at != int64(len(x)) {
			return fail("sizes %v do not split %d channels", sizes, len(x))
		}
	case "Slice":
		ints := func(i int) []int64 {
			if i < len(n.Inputs) {
				if t := consts[n.Inputs[i]]; t != nil && t.Type == TypeInt64 {
					return t.Int64
				}
			}
			return nil
		}
		starts, ends, axes, steps := ints(1), ints(2), ints(3), ints(4)
		if len(starts) != 1 || len(ends) != 1 || len(axes) != 1 || (axes[0] != 1 && axes[0] != -3) || (steps != nil && (len(steps) != 1 || steps[0] != 1)) {
			return fail("want constant starts, ends and axes [1] (one channel range, step 1)")
		}
		s, e := clampIndex(starts[0], len(x)), clampIndex(ends[0], len(x))
		vals[n.Outputs[0]] = x[s:max(s, e)]
	}
	return nil
}

// gruLayer reads the node findGRU put in the unit's place: the convgru layer on the chain's
// value so far, which must be spatial and of the state's size.
func (r *chainReader) gruLayer(n *Node) error {
	u := r.gru
	if len(r.shape) != 3 || !r.isData(u.x) {
		return fmt.Errorf("onnx: node %q (Conv, recurrent unit): reads %q, want the chain's spatial value %q", n.Name, u.x, r.cur)
	}
	l := u.l
	if len(l.W) != 3*l.Out*r.shape[0]*l.KH*l.KW {
		return fmt.Errorf("onnx: node %q (Conv, recurrent unit): weight for %d input channels, want %d", n.Name, len(l.W)/(3*l.Out*l.KH*l.KW), r.shape[0])
	}
	d := u.state.Dims
	if len(d) != 4 || d[1] != int64(l.Out) || d[2] != int64(r.shape[1]) || d[3] != int64(r.shape[2]) {
		return fmt.Errorf("onnx: input %q has shape %v, want [N, %d, %d, %d] (the conv-GRU's state)", u.state.Name, d, l.Out, r.shape[1], r.shape[2])
	}
	if u.state.Elem != TypeFloat {
		return fmt.Errorf("onnx: input %q has element type %d, want float32 (1)", u.state.Name, u.state.Elem)
	}
	r.in = append([]int(nil), r.shape...)
	r.shape = []int{l.Out, r.shape[1], r.shape[2]}
	u.used = true
	r.push(l, n)
	return nil
}

// gru exports a convgru layer as the step graph above: the state input and next_state output,
// the two same-padded convolutions, their Splits and the update.
func (x *exporter) gru(p string, l *infer.Layer) {
	hc, kh, kw := l.Weight.Shape[0]/3, l.Weight.Shape[2], l.Weight.Shape[3]
	h, w := x.shape[1], x.shape[2]
	dims := []int64{-1, int64(hc), int64(h), int64(w)}
	param := []string{"N", "", "", ""}
	x.g.Inputs = append(x.g.Inputs, ValueInfo{Name: StateInput, Elem: TypeFloat, Dims: dims, Param: param})
	x.g.Outputs = append(x.g.Outputs, ValueInfo{Name: StateOutput, Elem: TypeFloat, Dims: dims, Param: param})
	pads := []int64{int64(kh / 2), int64(kw / 2), int64(kh / 2), int64(kw / 2)}
	sizes := p + "split"
	x.g.Inits = append(x.g.Inits, &Tensor{Name: sizes, Type: TypeInt64, Dims: []int64{3}, Int64: []int64{int64(hc), int64(hc), int64(hc)}})
	gates := func(in string, wt, bt string) []string {
		ins := []string{in, wt}
		if bt != "" {
			ins = append(ins, bt)
		}
		x.node("Conv", ins...)
		x.attr(Attr{Name: "kernel_shape", Kind: AttrInts, Ints: []int64{int64(kh), int64(kw)}})
		x.attr(Attr{Name: "pads", Kind: AttrInts, Ints: pads})
		x.node("Split", x.cur, sizes)
		x.attr(Attr{Name: "axis", Kind: AttrInt, I: 1})
		s := &x.g.Nodes[len(x.g.Nodes)-1]
		s.Outputs = []string{s.Name + "_r", s.Name + "_z", s.Name + "_n"}
		return s.Outputs
	}
	gi := gates(x.cur, x.tensor(p+"weight", l.Weight), x.tensor(p+"bias", l.Bias))
	gh := gates(StateInput, x.tensor(p+"weight_hh", l.WeightHH), x.tensor(p+"bias_hh", l.BiasHH))
	x.node("Add", gi[0], gh[0])
	x.node("Sigmoid", x.cur)
	r := x.cur
	x.node("Add", gi[1], gh[1])
	x.node("Sigmoid", x.cur)
	z := x.cur
	x.node("Mul", r, gh[2])
	x.node("Add", gi[2], x.cur)
	x.node("Tanh", x.cur)
	n := x.cur
	x.node("Sub", x.scalar(p+"one", 1), z)
	x.node("Mul", x.cur, n)
	keep := x.cur
	x.node("Mul", z, StateInput)
	x.node("Add", keep, x.cur)
	x.g.Nodes[len(x.g.Nodes)-1].Outputs[0] = StateOutput
	x.cur = StateOutput
	x.shape = []int{hc, h, w}
}
