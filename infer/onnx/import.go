package onnx

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"retinad/infer"
)

// Defaults fill in what an ONNX file from elsewhere lacks: retinad's own exports carry all of
// it in their metadata, which wins over these.
type Defaults struct {
	FrameRate float64 // bins per second; required when the file has no retinad.frame_rate
	Mean, Std float64 // stimulus normalisation; Std 0 means 1
	Cells     []int64 // cell ids; nil means 0..cells-1
	Name      string
}

// Import reads an ONNX model (a BN-CNN or LN export, see Supported; a recurrent BN-CNN's step,
// see gru.go; a GLM, see glm.go) into a native model. The
// file must say its frame rate in retinad's metadata (Export and train/ write it); use
// ImportWith otherwise.
func Import(data []byte) (*infer.Model, error) {
	return ImportWith(data, Defaults{})
}

// DecodeFile decodes a model file's bytes by its name: an .onnx file is imported with d for
// what it does not say, anything else is a native model file (and d is not used).
func DecodeFile(name string, b []byte, d Defaults) (*infer.Model, error) {
	var m *infer.Model
	var err error
	if strings.EqualFold(filepath.Ext(name), ".onnx") {
		m, err = ImportWith(b, d)
	} else {
		m, err = infer.Decode(b)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return m, nil
}

// ImportWith is Import with defaults for what the file does not say.
func ImportWith(data []byte, d Defaults) (*infer.Model, error) {
	g, err := Unmarshal(data)
	if err != nil {
		return nil, err
	}
	return ImportGraph(g, d)
}

// ImportGraph is ImportWith after decoding.
func ImportGraph(g *Graph, d Defaults) (*infer.Model, error) {
	if d.Std == 0 {
		d.Std = 1
	}
	kind, _ := g.MetaValue(MetaKind)
	glm := kind == string(infer.GLM)
	var c *Chain
	var err error
	if glm {
		c, err = glmChain(g)
	} else {
		c, err = ReadChain(g)
	}
	if err != nil {
		return nil, err
	}
	m := &infer.Model{
		Name:  d.Name,
		Input: infer.Input{History: c.History, Height: c.Height, Width: c.Width, FrameRate: d.FrameRate, Mean: d.Mean, Std: d.Std},
	}
	if _, ok := g.MetaValue(MetaFrameRate); ok {
		m.Input.FrameRate = c.FrameRate
	}
	if _, ok := g.MetaValue(MetaNormMean); ok {
		m.Input.Mean = c.NormMean
	}
	if _, ok := g.MetaValue(MetaNormStd); ok {
		m.Input.Std = c.NormStd
	}
	if !(m.Input.FrameRate > 0) {
		return nil, fmt.Errorf("onnx: the model does not say its frame rate (no %s metadata); give one (--frame-rate, or frame_rate: in the config's models[])", MetaFrameRate)
	}
	if name, ok := g.MetaValue(MetaName); ok && m.Name == "" {
		m.Name = name
	}
	m.Cells = d.Cells
	if s, ok := g.MetaValue(MetaCells); ok {
		m.Cells = nil
		for _, f := range strings.Split(s, ",") {
			id, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("onnx: metadata %s = %q: want comma-separated integers", MetaCells, s)
			}
			m.Cells = append(m.Cells, id)
		}
	}
	if m.Cells == nil {
		for i := 0; i < c.Cells; i++ {
			m.Cells = append(m.Cells, int64(i))
		}
	}
	if len(m.Cells) != c.Cells {
		return nil, fmt.Errorf("onnx: %d cell ids for a model of %d outputs", len(m.Cells), c.Cells)
	}
	if glm {
		err = importGLM(g, m)
	} else {
		err = fromChain(m, c)
	}
	if err != nil {
		return nil, err
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("onnx: imported model: %w", err)
	}
	return m, nil
}

// affine is a pending elementwise x*W + B (W, B of length 1 or one per unit).
type affine struct {
	w, b  []float64
	nodes []string
}

func (a *affine) then(l *Layer) {
	n := max(len(a.w), len(l.W), len(l.B))
	w, b := make([]float64, n), make([]float64, n)
	for i := range w {
		w[i] = a.w[i%len(a.w)] * float64(l.W[i%len(l.W)])
		b[i] = a.b[i%len(a.b)]*float64(l.W[i%len(l.W)]) + float64(l.B[i%len(l.B)])
	}
	a.w, a.b = w, b
	a.nodes = append(a.nodes, l.Node)
}

func (a *affine) empty() bool { return len(a.nodes) == 0 }

func (a *affine) identityB() bool {
	for _, v := range a.b {
		if v != 0 {
			return false
		}
	}
	return true
}

func tensor32(v []float64) *infer.Tensor {
	d := make([]float32, len(v))
	for i, x := range v {
		d[i] = float32(x)
	}
	if len(d) == 1 {
		return &infer.Tensor{Shape: []int{}, Data: d}
	}
	return &infer.Tensor{Shape: []int{len(d)}, Data: d}
}

// fromChain maps chain layers to retinad layers. Elementwise scales (Mul/Add by constants) are
// folded: into a preceding dense layer, into the slope and offset of the nonlinearity that
// follows, into its gain, and, after the last nonlinearity, into the output scale (a scalar)
// or the gain (one per cell).
func fromChain(m *infer.Model, c *Chain) error {
	var pend affine
	flush := func(next string) error {
		if pend.empty() {
			return nil
		}
		if k := len(m.Layers) - 1; k >= 0 && m.Layers[k].Type == infer.Dense {
			foldDense(&m.Layers[k], &pend)
			pend = affine{}
			return nil
		}
		return fmt.Errorf("onnx: nodes %v: an elementwise Mul/Add before %s is not supported here (only after a dense layer, around the output nonlinearity, or at the end)", pend.nodes, next)
	}
	for i := range c.Layers {
		l := &c.Layers[i]
		t := func(v []float32, shape ...int) *infer.Tensor {
			if v == nil {
				return nil
			}
			return &infer.Tensor{Shape: shape, Data: v}
		}
		switch l.Kind {
		case Scale:
			if pend.empty() {
				pend = affine{w: []float64{1}, b: []float64{0}}
			}
			pend.then(l)
			continue
		case Softplus, Exp, Sigmoid:
			nl := infer.Layer{Type: map[LayerKind]infer.LayerType{Softplus: infer.Softplus, Exp: infer.Exp, Sigmoid: infer.Sigmoid}[l.Kind]}
			if !pend.empty() {
				nl.Slope, nl.Offset = tensor32(pend.w), tensor32(pend.b)
				pend = affine{}
			}
			m.Layers = append(m.Layers, nl)
			continue
		}
		if err := flush(l.Kind.String() + " (node " + l.Node + ")"); err != nil {
			return err
		}
		switch l.Kind {
		case Conv:
			m.Layers = append(m.Layers, infer.Layer{Type: infer.Conv2D, Weight: t(l.W, l.Out, l.In[0], l.KH, l.KW), Bias: t(l.B, l.Out)})
		case Dense:
			m.Layers = append(m.Layers, infer.Layer{Type: infer.Dense, Weight: t(l.W, l.Out, size(l.In)), Bias: t(l.B, l.Out)})
		case BatchNorm:
			n := len(l.Mean)
			m.Layers = append(m.Layers, infer.Layer{Type: infer.BatchNorm, Weight: t(l.W, n), Bias: t(l.B, n),
				RunningMean: t(l.Mean, n), RunningVar: t(l.Var, n), Eps: float64(l.Eps), PerChannel: !l.Flat})
		case Relu:
			m.Layers = append(m.Layers, infer.Layer{Type: infer.ReLU})
		case GRU:
			in, o := l.In[0], 3*l.Out
			m.Layers = append(m.Layers, infer.Layer{Type: infer.ConvGRU, Weight: t(l.W, o, in, l.KH, l.KW), Bias: t(l.B, o),
				WeightHH: t(l.WH, o, l.Out, l.KH, l.KW), BiasHH: t(l.BH, o)})
		}
	}
	m.OutputScale = 1
	if !pend.empty() { // trailing scale
		k := len(m.Layers) - 1
		if k >= 0 && m.Layers[k].Type == infer.Dense {
			foldDense(&m.Layers[k], &pend)
		} else if k >= 0 && isNonlinearity(m.Layers[k].Type) && pend.identityB() {
			if len(pend.w) == 1 && pend.w[0] > 0 {
				m.OutputScale = pend.w[0]
			} else {
				m.Layers[k].Gain = tensor32(pend.w)
			}
		} else {
			return fmt.Errorf("onnx: nodes %v: a trailing Add or a non-positive scale after the output nonlinearity is not supported", pend.nodes)
		}
	}
	switch {
	case len(m.Layers) > 0 && m.Layers[0].Type == infer.Conv2D:
		m.Kind = infer.CNN
	case len(m.Layers) > 0 && m.Layers[0].Type == infer.Dense:
		m.Kind = infer.LN
	default:
		return fmt.Errorf("onnx: the model starts with %v; retinad imports models that start with Conv (cnn) or Gemm/MatMul (ln)", c.Layers[0].Kind)
	}
	return nil
}

func isNonlinearity(t infer.LayerType) bool {
	return t == infer.Softplus || t == infer.Exp || t == infer.Sigmoid
}

// foldDense applies y*W + B to a dense layer's outputs: row o of its weight scales by W[o].
func foldDense(l *infer.Layer, a *affine) {
	out, in := l.Weight.Shape[0], l.Weight.Shape[1]
	w := make([]float32, len(l.Weight.Data))
	b := make([]float32, out)
	for o := 0; o < out; o++ {
		s := a.w[o%len(a.w)]
		for i := 0; i < in; i++ {
			w[o*in+i] = float32(float64(l.Weight.Data[o*in+i]) * s)
		}
		bias := 0.0
		if l.Bias != nil {
			bias = float64(l.Bias.Data[o])
		}
		b[o] = float32(bias*s + a.b[o%len(a.b)])
	}
	l.Weight = &infer.Tensor{Shape: []int{out, in}, Data: w}
	l.Bias = &infer.Tensor{Shape: []int{out}, Data: b}
}
