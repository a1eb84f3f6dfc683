package onnx

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// LayerKind says what one step of a Chain does.
type LayerKind int

const (
	Conv      LayerKind = iota // valid 2-D convolution, stride 1: W [out, in, kh, kw], B [out] or nil
	BatchNorm                  // inference batch norm: per unit when flat, per channel when spatial
	Dense                      // y = W x + B: W [out, in] (in = the flattened C*H*W, row-major), B [out] or nil
	Scale                      // y = x * W + B elementwise; W and B hold 1 value or one per unit
	Relu
	Softplus
	Exp
	Sigmoid
	GRU // conv-GRU (gru.go): W, B the input's gates [3*Out, in, KH, KW], WH, BH the state's; Out = hidden
)

var kindNames = [...]string{"Conv", "BatchNorm", "Dense", "Scale", "Relu", "Softplus", "Exp", "Sigmoid", "GRU"}

func (k LayerKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "LayerKind(" + strconv.Itoa(int(k)) + ")"
}

// Layer is one step of a Chain, in float32 as stored. Shape is the layer's output:
// [C, H, W] while the value is spatial, [D] once it is flat.
type Layer struct {
	Kind  LayerKind
	Node  string // the ONNX node it came from
	W, B  []float32
	WH    []float32 // GRU: the state's kernels and biases
	BH    []float32
	KH    int // Conv kernel
	KW    int
	Out   int       // Conv channels or Dense units
	Mean  []float32 // BatchNorm running statistics and epsilon
	Var   []float32
	Eps   float32
	Flat  bool  // BatchNorm on a flat vector (one scale and shift per unit)
	In    []int // input shape: [C, H, W] or [D]
	Shape []int // output shape
}

// Chain is a feed-forward model read from an ONNX graph: the stimulus history window
// [History, Height, Width] goes through Layers in order to rates [Cells].
type Chain struct {
	History, Height, Width int
	Cells                  int
	Layers                 []Layer
	FrameRate              float64 // from metadata, 0 when absent
	NormMean, NormStd      float64 // from metadata, 0 and 1 when absent
}

// Supported lists the ONNX operators Import understands on the chain; a recurrent step's
// conv-GRU adds its own between its convolutions and its next state (gruOps, gru.go).
var Supported = []string{"Conv", "BatchNormalization", "Relu", "Softplus", "Exp", "Sigmoid", "Gemm",
	"MatMul", "Add", "Mul", "Flatten", "Reshape", "Identity", "Constant"}

// ReadChain interprets a graph as a chain of retinad layers: one float input [N, history, H, W],
// one output [N, cells], every weight a constant; or a recurrent model's step (gru.go), with
// the state as a second input and the next state as a second output. An operator outside
// Supported (and the conv-GRU's), or a use of a supported one that retinad's engines cannot
// run, is refused with the op and node named.
func ReadChain(g *Graph) (*Chain, error) {
	if len(g.Inputs) == 0 {
		return nil, fmt.Errorf("onnx: graph %q has no inputs", g.Name)
	}
	consts := map[string]*Tensor{}
	for _, t := range g.Inits {
		consts[t.Name] = t
	}
	var ins []*ValueInfo
	for i := range g.Inputs {
		if consts[g.Inputs[i].Name] == nil {
			ins = append(ins, &g.Inputs[i])
		}
	}
	if len(ins) == 0 {
		return nil, fmt.Errorf("onnx: graph %q has no non-constant input", g.Name)
	}
	data := ins[0]
	nodes := g.Nodes
	var gru *gruUnit
	switch {
	case len(ins) > 2:
		return nil, fmt.Errorf("onnx: graph has %d inputs (%q, %q, ...); retinad models take a stimulus input, and a recurrent model's step its state second", len(ins), ins[0].Name, ins[1].Name)
	case len(ins) == 2 && len(g.Outputs) != 2:
		return nil, fmt.Errorf("onnx: graph has inputs %q and %q and %d outputs; a recurrent model's step has two outputs, the rates and the next state", ins[0].Name, ins[1].Name, len(g.Outputs))
	case len(ins) == 2:
		var err error
		if gru, nodes, err = findGRU(g, ins[1], g.Outputs[1].Name); err != nil {
			return nil, err
		}
	case len(g.Outputs) != 1:
		return nil, fmt.Errorf("onnx: graph has %d outputs, want 1 (rates [N, cells])", len(g.Outputs))
	}
	if len(data.Dims) != 4 || data.Dims[1] <= 0 || data.Dims[2] <= 0 || data.Dims[3] <= 0 {
		return nil, fmt.Errorf("onnx: input %q has shape %v, want [N, history, height, width] with fixed history and size", data.Name, data.Dims)
	}
	if data.Elem != TypeFloat {
		return nil, fmt.Errorf("onnx: input %q has element type %d, want float32 (1)", data.Name, data.Elem)
	}
	c := &Chain{History: int(data.Dims[1]), Height: int(data.Dims[2]), Width: int(data.Dims[3]), NormStd: 1}
	if err := c.readMeta(g); err != nil {
		return nil, err
	}
	r := chainReader{c: c, consts: consts, cur: data.Name, shape: []int{c.History, c.Height, c.Width}, alias: map[string]string{},
		shapes: map[string]shapeVal{}, seen: map[string][]int{}, batch: data.Dims[0], gru: gru}
	for i := range nodes {
		if err := r.node(&nodes[i]); err != nil {
			return nil, err
		}
	}
	if gru != nil && !gru.used {
		return nil, fmt.Errorf("onnx: the recurrent unit behind %s is not on the chain from input %q", gru.out, data.Name)
	}
	out := g.Outputs[0].Name
	if a, ok := r.alias[out]; ok {
		out = a
	}
	if out != r.cur {
		return nil, fmt.Errorf("onnx: output %q is not the end of the chain from input %q (which ends at %q)", g.Outputs[0].Name, data.Name, r.cur)
	}
	if len(r.shape) != 1 {
		return nil, fmt.Errorf("onnx: output %q has shape %v, want [cells]", out, r.shape)
	}
	c.Cells = r.shape[0]
	return c, nil
}

func (c *Chain) readMeta(g *Graph) error {
	for key, dst := range map[string]*float64{MetaFrameRate: &c.FrameRate, MetaNormMean: &c.NormMean, MetaNormStd: &c.NormStd} {
		s, ok := g.MetaValue(key)
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("onnx: metadata %s = %q, want a finite number", key, s)
		}
		*dst = v
	}
	if c.FrameRate < 0 || c.NormStd <= 0 {
		return fmt.Errorf("onnx: metadata frame rate %v and norm std %v must be positive", c.FrameRate, c.NormStd)
	}
	return nil
}

type chainReader struct {
	c      *Chain
	consts map[string]*Tensor
	alias  map[string]string // Identity outputs of the data path
	cur    string            // the data value at the end of the chain so far
	shape  []int
	in     []int               // shape at the start of the current node
	shapes map[string]shapeVal // int values folded from shapes (fold.go)
	seen   map[string][]int    // the shape of every value the data path has had, without the batch axis
	batch  int64               // the input's batch size when the graph fixes it, else <= 0
	gru    *gruUnit            // a recurrent step's conv-GRU, found before the walk (gru.go)
}

func (r *chainReader) isData(name string) bool {
	if a, ok := r.alias[name]; ok {
		name = a
	}
	return name == r.cur
}

func size(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

func (r *chainReader) constIn(n *Node, i int, what string) (*Tensor, error) {
	if i >= len(n.Inputs) || n.Inputs[i] == "" {
		return nil, nil
	}
	t := r.consts[n.Inputs[i]]
	if t == nil {
		return nil, fmt.Errorf("onnx: node %q (%s): %s %q must be a constant", n.Name, n.Op, what, n.Inputs[i])
	}
	return t, nil
}

func (r *chainReader) push(l Layer, n *Node) {
	l.Node = n.Name
	l.In = r.in
	l.Shape = append([]int(nil), r.shape...)
	r.c.Layers = append(r.c.Layers, l)
	r.cur = n.Outputs[0]
}

func (r *chainReader) node(n *Node) error {
	if n.Domain == gruDomain && r.gru != nil && !r.gru.used && len(n.Outputs) == 1 && n.Outputs[0] == r.gru.out {
		return r.gruLayer(n)
	}
	if n.Domain != "" && n.Domain != "ai.onnx" {
		return fmt.Errorf("onnx: node %q: operator %s of domain %q is not supported", n.Name, n.Op, n.Domain)
	}
	if len(n.Outputs) < 1 {
		return fmt.Errorf("onnx: node %q (%s) has no output", n.Name, n.Op)
	}
	r.seen[r.cur] = append([]int(nil), r.shape...)
	switch n.Op {
	case "Constant":
		a, ok := n.Attr("value")
		if !ok || a.T == nil {
			return fmt.Errorf("onnx: node %q (Constant) has no tensor value", n.Name)
		}
		r.consts[n.Outputs[0]] = a.T
		return nil
	case "Identity":
		if len(n.Inputs) != 1 {
			return fmt.Errorf("onnx: node %q (Identity) has %d inputs, want 1", n.Name, len(n.Inputs))
		}
		if t := r.consts[n.Inputs[0]]; t != nil {
			r.consts[n.Outputs[0]] = t
		} else if sv, ok := r.shapes[n.Inputs[0]]; ok {
			r.shapes[n.Outputs[0]] = sv
		} else if r.isData(n.Inputs[0]) {
			r.alias[n.Outputs[0]] = r.cur
		} else {
			return fmt.Errorf("onnx: node %q (Identity): input %q is neither a constant nor the model's data path", n.Name, n.Inputs[0])
		}
		return nil
	}
	if handled, err := r.fold(n); handled {
		return err
	}
	known := false
	for _, op := range Supported {
		known = known || op == n.Op
	}
	if !known {
		return fmt.Errorf("onnx: node %q: operator %s is not supported (retinad imports %v)", n.Name, n.Op, Supported)
	}
	if len(n.Inputs) == 0 || !r.isData(n.Inputs[0]) {
		if (n.Op == "Add" || n.Op == "Mul") && len(n.Inputs) == 2 && r.isData(n.Inputs[1]) {
			n.Inputs[0], n.Inputs[1] = n.Inputs[1], n.Inputs[0]
		} else {
			return fmt.Errorf("onnx: node %q (%s): first input %v is not the end of the chain %q; retinad imports single-path feed-forward models", n.Name, n.Op, n.Inputs, r.cur)
		}
	}
	r.in = append([]int(nil), r.shape...)
	switch n.Op {
	case "Relu", "Softplus", "Exp", "Sigmoid":
		k := map[string]LayerKind{"Relu": Relu, "Softplus": Softplus, "Exp": Exp, "Sigmoid": Sigmoid}[n.Op]
		r.push(Layer{Kind: k}, n)
	case "Flatten":
		if a, ok := n.Attr("axis"); ok && a.I != 1 && a.I != -int64(len(r.shape)) {
			return fmt.Errorf("onnx: node %q (Flatten): axis %d, want 1 or %d (flatten all but the batch axis)", n.Name, a.I, -len(r.shape))
		}
		r.shape = []int{size(r.shape)}
		r.cur = n.Outputs[0]
	case "Reshape":
		return r.reshape(n)
	case "Conv":
		return r.conv(n)
	case "BatchNormalization":
		return r.batchNorm(n)
	case "Gemm", "MatMul":
		return r.dense(n)
	case "Add", "Mul":
		return r.scale(n)
	}
	return nil
}

// reshape accepts every spelling of a reshape that keeps the batch axis: first -1, 0, the
// folded batch size (x.size(0)) or the graph's fixed batch size, then the per-sample shape
// with at most one -1 (inferred) and 0 meaning "as the input".
func (r *chainReader) reshape(n *Node) error {
	if len(n.Inputs) < 2 {
		return fmt.Errorf("onnx: node %q (Reshape): no shape input", n.Name)
	}
	sv, ok := r.intsOf(n.Inputs[1])
	if !ok || sv.scalar || len(sv.v) < 2 {
		return fmt.Errorf("onnx: node %q (Reshape): shape %q must be a constant or folded int64 vector [N, ...]", n.Name, n.Inputs[1])
	}
	dims := sv.v
	first := dims[0]
	if first != -1 && first != 0 && first != batchDim && (r.batch <= 0 || first != r.batch) {
		return fmt.Errorf("onnx: node %q (Reshape): shape %v must keep the batch dimension (-1, 0, the input's batch size or x.size(0) first)", n.Name, spell(dims))
	}
	shape := make([]int, len(dims)-1)
	infer := -1
	for i, d := range dims[1:] {
		switch {
		case d == 0 && i < len(r.shape):
			shape[i] = r.shape[i]
		case d == -1 && infer < 0 && first != -1:
			infer = i
		case d > 0:
			shape[i] = int(d)
		default:
			return fmt.Errorf("onnx: node %q (Reshape): shape %v: dimension %d = %s cannot be resolved (only one dimension may be inferred, the batch's included)", n.Name, spell(dims), i+1, strings.Trim(spell([]int64{d}), "[]"))
		}
	}
	if infer >= 0 {
		shape[infer] = 1
		if rest := size(shape); rest == 0 || size(r.shape)%rest != 0 {
			return fmt.Errorf("onnx: node %q (Reshape): cannot reshape %v to %v", n.Name, r.shape, spell(dims))
		} else {
			shape[infer] = size(r.shape) / rest
		}
	}
	if size(shape) != size(r.shape) || (len(shape) != 1 && len(shape) != 3) {
		return fmt.Errorf("onnx: node %q (Reshape): cannot reshape %v to %v", n.Name, r.shape, shape)
	}
	r.shape = shape
	r.cur = n.Outputs[0]
	return nil
}

// spell writes a shape with the folded batch size as "N".
func spell(dims []int64) string {
	s := "["
	for i, d := range dims {
		if i > 0 {
			s += " "
		}
		if d == batchDim {
			s += "N"
		} else {
			s += strconv.FormatInt(d, 10)
		}
	}
	return s + "]"
}

func (r *chainReader) conv(n *Node) error {
	if len(r.shape) != 3 {
		return fmt.Errorf("onnx: node %q (Conv): input is flat %v, want [C, H, W]", n.Name, r.shape)
	}
	w, err := r.constIn(n, 1, "weight")
	if err != nil {
		return err
	}
	b, err := r.constIn(n, 2, "bias")
	if err != nil {
		return err
	}
	if w == nil || len(w.Dims) != 4 || int(w.Dims[1]) != r.shape[0] || w.Type != TypeFloat {
		return fmt.Errorf("onnx: node %q (Conv): weight must be float [out, %d, kh, kw]", n.Name, r.shape[0])
	}
	out, kh, kw := int(w.Dims[0]), int(w.Dims[2]), int(w.Dims[3])
	if b != nil && (b.Type != TypeFloat || len(b.Float) != out) {
		return fmt.Errorf("onnx: node %q (Conv): bias has %d values, want %d floats", n.Name, b.Len(), out)
	}
	if a, _ := badConvAttr(n, kh, kw, false); a != nil {
		return fmt.Errorf("onnx: node %q (Conv): attribute %s = %v%v%s not supported (retinad runs valid, stride-1, ungrouped convolutions)", n.Name, a.Name, a.I, a.Ints, a.S)
	}
	oh, ow := r.shape[1]-kh+1, r.shape[2]-kw+1
	if oh <= 0 || ow <= 0 {
		return fmt.Errorf("onnx: node %q (Conv): kernel %dx%d larger than input %v", n.Name, kh, kw, r.shape)
	}
	l := Layer{Kind: Conv, W: w.Float, KH: kh, KW: kw, Out: out}
	if b != nil {
		l.B = b.Float
	}
	r.shape = []int{out, oh, ow}
	r.push(l, n)
	return nil
}

// badConvAttr is the first attribute of Conv node n that retinad cannot run, or nil: it runs
// stride 1, dilation 1, one group, a kh x kw kernel, padded by nothing (valid) or, if same, by
// half the kernel on every side. For a same convolution, padded says whether n says so (by pads
// or a SAME auto_pad), as it must: ONNX's default is no padding.
func badConvAttr(n *Node, kh, kw int, same bool) (bad *Attr, padded bool) {
	half := []int64{int64(kh / 2), int64(kw / 2), int64(kh / 2), int64(kw / 2)}
	for i := range n.Attrs {
		a := &n.Attrs[i]
		ok := true
		switch a.Name {
		case "group":
			ok = a.I == 1
		case "strides", "dilations":
			for _, v := range a.Ints {
				ok = ok && v == 1
			}
		case "pads":
			if same {
				ok = slices.Equal(a.Ints, half)
				padded = padded || ok
			} else {
				ok = !slices.ContainsFunc(a.Ints, func(v int64) bool { return v != 0 })
			}
		case "auto_pad":
			samePad := a.S == "SAME_UPPER" || a.S == "SAME_LOWER"
			ok = a.S == "" || a.S == "NOTSET" || samePad && same || a.S == "VALID" && !same
			padded = padded || samePad
		case "kernel_shape":
			ok = len(a.Ints) == 2 && int(a.Ints[0]) == kh && int(a.Ints[1]) == kw
		}
		if !ok {
			return a, padded
		}
	}
	return nil, padded
}

func (r *chainReader) batchNorm(n *Node) error {
	units := size(r.shape)
	flat := len(r.shape) == 1
	if !flat {
		units = r.shape[0]
	}
	var ts [4]*Tensor
	for i, what := range []string{"scale", "bias", "mean", "var"} {
		t, err := r.constIn(n, i+1, what)
		if err != nil {
			return err
		}
		if t == nil || t.Type != TypeFloat || len(t.Float) != units {
			return fmt.Errorf("onnx: node %q (BatchNormalization): %s must be %d floats (one per %s)", n.Name, what, units, map[bool]string{true: "unit", false: "channel"}[flat])
		}
		ts[i] = t
	}
	eps := float32(1e-5)
	if a, ok := n.Attr("epsilon"); ok {
		eps = a.F
	}
	if a, ok := n.Attr("training_mode"); ok && a.I != 0 {
		return fmt.Errorf("onnx: node %q (BatchNormalization): training_mode is set; export the model in eval mode", n.Name)
	}
	for i, v := range ts[3].Float {
		if !(v+eps > 0) {
			return fmt.Errorf("onnx: node %q (BatchNormalization): variance %d is %v", n.Name, i, v)
		}
	}
	r.push(Layer{Kind: BatchNorm, W: ts[0].Float, B: ts[1].Float, Mean: ts[2].Float, Var: ts[3].Float, Eps: eps, Flat: flat}, n)
	return nil
}

func (r *chainReader) dense(n *Node) error {
	if len(r.shape) != 1 {
		return fmt.Errorf("onnx: node %q (%s): input has shape %v; flatten it first", n.Name, n.Op, r.shape)
	}
	in := r.shape[0]
	w, err := r.constIn(n, 1, "weight")
	if err != nil {
		return err
	}
	if w == nil || w.Type != TypeFloat || len(w.Dims) != 2 {
		return fmt.Errorf("onnx: node %q (%s): weight must be a float matrix", n.Name, n.Op)
	}
	transB := false
	alpha, beta := float32(1), float32(1)
	if n.Op == "Gemm" {
		for _, a := range n.Attrs {
			switch a.Name {
			case "transA":
				if a.I != 0 {
					return fmt.Errorf("onnx: node %q (Gemm): transA not supported", n.Name)
				}
			case "transB":
				transB = a.I != 0
			case "alpha":
				alpha = a.F
			case "beta":
				beta = a.F
			}
		}
	}
	rows, cols := int(w.Dims[0]), int(w.Dims[1])
	var out int
	W := make([]float32, rows*cols)
	if transB { // stored [out, in]
		if cols != in {
			return fmt.Errorf("onnx: node %q (%s): weight %v, want [*, %d]", n.Name, n.Op, w.Dims, in)
		}
		out = rows
		for i, v := range w.Float {
			W[i] = alpha * v
		}
	} else { // stored [in, out]
		if rows != in {
			return fmt.Errorf("onnx: node %q (%s): weight %v, want [%d, *]", n.Name, n.Op, w.Dims, in)
		}
		out = cols
		for i := 0; i < in; i++ {
			for o := 0; o < out; o++ {
				W[o*in+i] = alpha * w.Float[i*out+o]
			}
		}
	}
	l := Layer{Kind: Dense, W: W, Out: out}
	if n.Op == "Gemm" {
		c, err := r.constIn(n, 2, "bias")
		if err != nil {
			return err
		}
		if c != nil {
			if c.Type != TypeFloat || (len(c.Float) != out && len(c.Float) != 1) {
				return fmt.Errorf("onnx: node %q (Gemm): bias has %d values, want %d", n.Name, c.Len(), out)
			}
			l.B = make([]float32, out)
			for i := range l.B {
				l.B[i] = beta * c.Float[i%len(c.Float)]
			}
		}
	}
	r.shape = []int{out}
	r.push(l, n)
	return nil
}

// scale reads Add or Mul by a constant; an Add right after a Dense without bias becomes its bias.
func (r *chainReader) scale(n *Node) error {
	t, err := r.constIn(n, 1, "operand")
	if err != nil {
		return err
	}
	units := size(r.shape)
	if t == nil || t.Type != TypeFloat || (len(t.Float) != 1 && (len(r.shape) != 1 || len(t.Float) != units)) {
		return fmt.Errorf("onnx: node %q (%s): operand must be one float or, on a flat value, %d floats", n.Name, n.Op, units)
	}
	if n.Op == "Add" {
		if k := len(r.c.Layers) - 1; k >= 0 && r.c.Layers[k].Kind == Dense && r.c.Layers[k].B == nil && r.c.Layers[k].Node != "" {
			l := &r.c.Layers[k]
			l.B = make([]float32, l.Out)
			for i := range l.B {
				l.B[i] = t.Float[i%len(t.Float)]
			}
			r.cur = n.Outputs[0]
			return nil
		}
		r.push(Layer{Kind: Scale, W: []float32{1}, B: t.Float}, n)
		return nil
	}
	r.push(Layer{Kind: Scale, W: t.Float, B: []float32{0}}, n)
	return nil
}
