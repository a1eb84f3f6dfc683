package infer

import (
	"fmt"
	"math"
)

// Kind is a model's family.
type Kind string

const (
	CNN Kind = "cnn" // a feed-forward stack starting with a convolution (the paper's BN-CNN)
	LN  Kind = "ln"  // one linear filter per cell and a static nonlinearity
	GLM Kind = "glm" // LN with spike-history and coupling filters and exp
)

// LayerType names a layer of a CNN or LN model.
type LayerType string

const (
	Conv2D    LayerType = "conv2d"
	Dense     LayerType = "dense"
	BatchNorm LayerType = "batchnorm"
	ReLU      LayerType = "relu"
	Noise     LayerType = "noise"
	Softplus  LayerType = "softplus"
	Exp       LayerType = "exp"
	Sigmoid   LayerType = "sigmoid"
	// ConvGRU is the recurrent layer (format version 2): a gated recurrent unit whose
	// matrix products are same-padded 2-D convolutions, carrying its state from step to step.
	ConvGRU LayerType = "convgru"
)

// Model is a loaded (or built) model. Build one with a struct literal or NewLN / NewGLM,
// check it with Validate, write it with Save. Do not change a Model an engine uses.
type Model struct {
	Kind        Kind
	Name        string
	Input       Input
	OutputScale float64 // spikes/s per unit of the last layer's output (frame rate for spikes per bin)
	Cells       []int64 // cell ids, one per output
	Layers      []Layer // kinds cnn and ln
	GLM         *GLMParams
}

// Input says what the model sees.
type Input struct {
	History       int     // frames in the window
	Height, Width int     // pixels
	FrameRate     float64 // Hz: one model step per frame
	Mean, Std     float64 // the model sees (frame - Mean) / Std
}

// Layer is one layer of a CNN or LN model; which fields it uses depends on Type (see the
// package documentation). Absent tensors are nil.
type Layer struct {
	Type   LayerType
	Weight *Tensor // conv2d, dense, batchnorm; convgru: the input's kernels W_i [3*hidden, in, kh, kw]
	Bias   *Tensor // conv2d, dense, batchnorm; convgru: b_i [3*hidden]

	WeightHH, BiasHH *Tensor // convgru: the state's kernels W_h [3*hidden, hidden, kh, kw], b_h [3*hidden]

	RunningMean, RunningVar *Tensor // batchnorm
	Eps                     float64 // batchnorm
	PerChannel              bool    // batchnorm: per channel (BatchNorm2d), else per flattened unit

	Std float64 // noise

	Gain, Slope, Offset *Tensor // softplus, exp, sigmoid: y = Gain*f(Slope*x + Offset)
}

// GLMParams are a GLM's filters (see the package documentation for the formula).
type GLMParams struct {
	StimulusFilter *Tensor // [cells, history, height, width], oldest frame first
	Bias           *Tensor // [cells], log spikes per bin
	HistoryFilter  *Tensor // [cells, L] or nil; index 0 is the previous bin
	CouplingFilter *Tensor // [cells, cells, L] or nil
}

// Tensor is a dense row-major float32 array.
type Tensor struct {
	Shape []int
	Data  []float32
}

// NewTensor returns a zero tensor of the shape.
func NewTensor(shape ...int) *Tensor {
	return &Tensor{Shape: shape, Data: make([]float32, numel(shape))}
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// NewLN builds an LN model: rate (spikes/s) = f(filter . window + bias) * outputScale with
// filter [cells, history*height*width] in window order (oldest frame first), bias [cells]
// and f one of Softplus, Exp, Sigmoid, with optional per-cell gain, slope, offset (nil for
// none). For filters that give spikes per bin, outputScale is the frame rate.
func NewLN(in Input, cells []int64, filter, bias []float32, f LayerType, gain, slope, offset []float32, outputScale float64) (*Model, error) {
	c := len(cells)
	d := in.History * in.Height * in.Width
	opt := func(v []float32) *Tensor {
		if v == nil {
			return nil
		}
		return &Tensor{Shape: []int{len(v)}, Data: v}
	}
	m := &Model{
		Kind: LN, Input: in, OutputScale: outputScale, Cells: cells,
		Layers: []Layer{
			{Type: Dense, Weight: &Tensor{Shape: []int{c, d}, Data: filter}, Bias: opt(bias)},
			{Type: f, Gain: opt(gain), Slope: opt(slope), Offset: opt(offset)},
		},
	}
	return m, m.Validate()
}

// NewGLM builds a GLM; see GLMParams for the shapes. history and coupling may be nil.
func NewGLM(in Input, cells []int64, stimulusFilter, bias []float32, L int, history, coupling []float32, outputScale float64) (*Model, error) {
	c := len(cells)
	g := &GLMParams{
		StimulusFilter: &Tensor{Shape: []int{c, in.History, in.Height, in.Width}, Data: stimulusFilter},
		Bias:           &Tensor{Shape: []int{c}, Data: bias},
	}
	if history != nil {
		g.HistoryFilter = &Tensor{Shape: []int{c, L}, Data: history}
	}
	if coupling != nil {
		g.CouplingFilter = &Tensor{Shape: []int{c, c, L}, Data: coupling}
	}
	m := &Model{Kind: GLM, Input: in, OutputScale: outputScale, Cells: cells, GLM: g}
	return m, m.Validate()
}

// NumParams is the number of float32 parameters.
func (m *Model) NumParams() int {
	n := 0
	m.eachTensor(func(_ string, t *Tensor) { n += len(t.Data) })
	return n
}

// eachTensor calls f with every tensor of m and the name Save gives it.
func (m *Model) eachTensor(f func(name string, t *Tensor)) {
	for i := range m.Layers {
		l := &m.Layers[i]
		for _, nt := range l.tensors() {
			if *nt.t != nil {
				f(fmt.Sprintf("layers.%d.%s", i, nt.name), *nt.t)
			}
		}
	}
	if g := m.GLM; g != nil {
		for _, nt := range g.tensors() {
			if *nt.t != nil {
				f("glm."+nt.name, *nt.t)
			}
		}
	}
}

type namedTensor struct {
	name string
	t    **Tensor
}

func (l *Layer) tensors() []namedTensor {
	return []namedTensor{
		{"weight", &l.Weight}, {"bias", &l.Bias},
		{"running_mean", &l.RunningMean}, {"running_var", &l.RunningVar},
		{"gain", &l.Gain}, {"slope", &l.Slope}, {"offset", &l.Offset},
		{"weight_hh", &l.WeightHH}, {"bias_hh", &l.BiasHH},
	}
}

// Recurrent reports whether m has a layer that carries state from step to step (convgru):
// its output at a bin depends on every bin since Reset, not on the window alone.
func (m *Model) Recurrent() bool {
	for _, l := range m.Layers {
		if l.Type == ConvGRU {
			return true
		}
	}
	return false
}

func (g *GLMParams) tensors() []namedTensor {
	return []namedTensor{
		{"stimulus_filter", &g.StimulusFilter}, {"bias", &g.Bias},
		{"history_filter", &g.HistoryFilter}, {"coupling_filter", &g.CouplingFilter},
	}
}

// Validate checks that m is complete and consistent: shapes chain from the input to one
// output per cell, cell ids are distinct, every value is finite. Its errors name the layer and
// tensor.
func (m *Model) Validate() error {
	_, err := m.shapes()
	return err
}

// shapes returns the output shape of every layer (after checking it).
func (m *Model) shapes() ([][]int, error) {
	in := m.Input
	switch {
	case in.History < 1 || in.Height < 1 || in.Width < 1:
		return nil, fmt.Errorf("infer: input: history %d, height %d, width %d, want each >= 1", in.History, in.Height, in.Width)
	case !(in.FrameRate > 0) || math.IsInf(in.FrameRate, 0):
		return nil, fmt.Errorf("infer: input.frame_rate_hz: %v, want a finite rate > 0", in.FrameRate)
	case !(in.Std > 0) || math.IsInf(in.Std, 0) || math.IsNaN(in.Mean) || math.IsInf(in.Mean, 0):
		return nil, fmt.Errorf("infer: input: mean %v, std %v, want finite values and std > 0", in.Mean, in.Std)
	case !(m.OutputScale > 0) || math.IsInf(m.OutputScale, 0):
		return nil, fmt.Errorf("infer: output_scale: %v, want a finite value > 0", m.OutputScale)
	case len(m.Cells) == 0:
		return nil, fmt.Errorf("infer: cells: none, want one id per output")
	}
	seen := make(map[int64]int, len(m.Cells))
	for c, id := range m.Cells {
		if prev, dup := seen[id]; dup {
			return nil, fmt.Errorf("infer: cells: id %d used by outputs %d and %d, want one id per cell", id, prev, c)
		}
		seen[id] = c
	}
	var bad error
	m.eachTensor(func(name string, t *Tensor) {
		if bad != nil {
			return
		}
		if len(t.Data) != numel(t.Shape) {
			bad = fmt.Errorf("infer: tensor %s: %d values for shape %v", name, len(t.Data), t.Shape)
			return
		}
		for i, v := range t.Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				bad = fmt.Errorf("infer: tensor %s: value %d is %v, want finite", name, i, v)
				return
			}
		}
	})
	if bad != nil {
		return nil, bad
	}
	nc := len(m.Cells)
	window := []int{in.History, in.Height, in.Width}
	switch m.Kind {
	case GLM:
		if len(m.Layers) != 0 {
			return nil, fmt.Errorf("infer: layers: %d layers in a glm model, want none (its formula is fixed)", len(m.Layers))
		}
		g := m.GLM
		if g == nil {
			return nil, fmt.Errorf("infer: glm: missing in a glm model")
		}
		if err := wantShape("glm.stimulus_filter", g.StimulusFilter, nc, in.History, in.Height, in.Width); err != nil {
			return nil, err
		}
		if err := wantShape("glm.bias", g.Bias, nc); err != nil {
			return nil, err
		}
		L := -1
		if g.HistoryFilter != nil {
			if len(g.HistoryFilter.Shape) != 2 || g.HistoryFilter.Shape[0] != nc || g.HistoryFilter.Shape[1] < 1 {
				return nil, fmt.Errorf("infer: glm.history_filter: shape %v, want [%d, L] with L >= 1", g.HistoryFilter.Shape, nc)
			}
			L = g.HistoryFilter.Shape[1]
		}
		if g.CouplingFilter != nil {
			s := g.CouplingFilter.Shape
			if len(s) != 3 || s[0] != nc || s[1] != nc || s[2] < 1 || (L >= 0 && s[2] != L) {
				want := "L >= 1"
				if L >= 0 {
					want = fmt.Sprint("L = ", L, " as history_filter")
				}
				return nil, fmt.Errorf("infer: glm.coupling_filter: shape %v, want [%d, %d, L] with %s", s, nc, nc, want)
			}
		}
		return [][]int{{nc}}, nil
	case CNN, LN:
		if m.GLM != nil {
			return nil, fmt.Errorf("infer: glm: present in a %s model", m.Kind)
		}
	default:
		return nil, fmt.Errorf("infer: kind: %q, want cnn, ln or glm", m.Kind)
	}
	if len(m.Layers) == 0 {
		return nil, fmt.Errorf("infer: layers: none in a %s model", m.Kind)
	}
	first := m.Layers[0].Type
	if m.Kind == CNN && first != Conv2D {
		return nil, fmt.Errorf("infer: layers[0]: %s, want conv2d first in a cnn model", first)
	}
	if m.Kind == LN {
		if first != Dense {
			return nil, fmt.Errorf("infer: layers[0]: %s, want dense first in an ln model", first)
		}
		for i, l := range m.Layers[1:] {
			last := i+2 == len(m.Layers)
			if !(last && isNonlinearity(l.Type)) && !(!last && l.Type == BatchNorm && !l.PerChannel) {
				return nil, fmt.Errorf("infer: layers[%d]: %s, want an ln model to be dense, optionally batchnorm per unit, and a nonlinearity", i+1, l.Type)
			}
		}
	}
	shape := window
	out := make([][]int, len(m.Layers))
	for i := range m.Layers {
		s, err := m.Layers[i].outShape(i, shape)
		if err != nil {
			return nil, err
		}
		out[i], shape = s, s
	}
	if len(shape) != 1 || shape[0] != nc {
		return nil, fmt.Errorf("infer: layers[%d]: output shape %v, want [%d] (one per cell)", len(m.Layers)-1, shape, nc)
	}
	return out, nil
}

func isNonlinearity(t LayerType) bool { return t == Softplus || t == Exp || t == Sigmoid }

func wantShape(name string, t *Tensor, shape ...int) error {
	if t == nil {
		return fmt.Errorf("infer: %s: missing, want shape %v", name, shape)
	}
	if !equalShape(t.Shape, shape) {
		return fmt.Errorf("infer: %s: shape %v, want %v", name, t.Shape, shape)
	}
	return nil
}

func equalShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (l *Layer) outShape(i int, in []int) ([]int, error) {
	name := func(t string) string { return fmt.Sprintf("layers[%d].%s", i, t) }
	for _, nt := range l.tensors() {
		if *nt.t == nil {
			continue
		}
		allowed := false
		switch nt.name {
		case "weight", "bias":
			allowed = l.Type == Conv2D || l.Type == Dense || l.Type == BatchNorm || l.Type == ConvGRU
		case "running_mean", "running_var":
			allowed = l.Type == BatchNorm
		case "weight_hh", "bias_hh":
			allowed = l.Type == ConvGRU
		default:
			allowed = isNonlinearity(l.Type)
		}
		if !allowed {
			return nil, fmt.Errorf("infer: %s: a %s layer has no %s", name(nt.name), l.Type, nt.name)
		}
	}
	n := numel(in)
	switch l.Type {
	case Conv2D:
		if len(in) != 3 {
			return nil, fmt.Errorf("infer: layers[%d]: conv2d on input of shape %v, want [channels, height, width]", i, in)
		}
		w := l.Weight
		if w == nil || len(w.Shape) != 4 || w.Shape[1] != in[0] || w.Shape[0] < 1 || w.Shape[2] < 1 || w.Shape[3] < 1 || w.Shape[2] > in[1] || w.Shape[3] > in[2] {
			var s []int
			if w != nil {
				s = w.Shape
			}
			return nil, fmt.Errorf("infer: %s: shape %v, want [out, %d, kh <= %d, kw <= %d]", name("weight"), s, in[0], in[1], in[2])
		}
		if l.Bias != nil {
			if err := wantShape(name("bias"), l.Bias, w.Shape[0]); err != nil {
				return nil, err
			}
		}
		return []int{w.Shape[0], in[1] - w.Shape[2] + 1, in[2] - w.Shape[3] + 1}, nil
	case Dense:
		w := l.Weight
		if w == nil || len(w.Shape) != 2 || w.Shape[1] != n || w.Shape[0] < 1 {
			var s []int
			if w != nil {
				s = w.Shape
			}
			return nil, fmt.Errorf("infer: %s: shape %v, want [out, %d] (the flattened input %v)", name("weight"), s, n, in)
		}
		if l.Bias != nil {
			if err := wantShape(name("bias"), l.Bias, w.Shape[0]); err != nil {
				return nil, err
			}
		}
		return []int{w.Shape[0]}, nil
	case BatchNorm:
		size := n
		if l.PerChannel {
			if len(in) != 3 && len(in) != 1 {
				return nil, fmt.Errorf("infer: layers[%d]: batchnorm per channel on input of shape %v, want [channels, height, width] or [units]", i, in)
			}
			size = in[0]
		}
		for _, nt := range []namedTensor{{"running_mean", &l.RunningMean}, {"running_var", &l.RunningVar}, {"weight", &l.Weight}, {"bias", &l.Bias}} {
			t := *nt.t
			if t == nil && (nt.name == "weight" || nt.name == "bias") {
				continue
			}
			if t == nil || numel(t.Shape) != size || len(t.Shape) != 1 {
				var s []int
				if t != nil {
					s = t.Shape
				}
				return nil, fmt.Errorf("infer: %s: shape %v, want [%d] (per %s of input %v)", name(nt.name), s, size, map[bool]string{true: "channel", false: "unit"}[l.PerChannel], in)
			}
		}
		if !(l.Eps >= 0) || math.IsInf(l.Eps, 0) {
			return nil, fmt.Errorf("infer: %s: %v, want a finite value >= 0", name("eps"), l.Eps)
		}
		for j, v := range l.RunningVar.Data {
			if !(float64(v)+l.Eps > 0) {
				return nil, fmt.Errorf("infer: %s: value %d is %v, want running_var + eps > 0", name("running_var"), j, v)
			}
		}
		return in, nil
	case ReLU:
		return in, nil
	case Noise:
		if !(l.Std >= 0) || math.IsInf(l.Std, 0) {
			return nil, fmt.Errorf("infer: %s: %v, want a finite value >= 0", name("std"), l.Std)
		}
		return in, nil
	case Softplus, Exp, Sigmoid:
		for _, nt := range []namedTensor{{"gain", &l.Gain}, {"slope", &l.Slope}, {"offset", &l.Offset}} {
			if t := *nt.t; t != nil && len(t.Data) != 1 && !(len(t.Shape) == 1 && t.Shape[0] == n) {
				return nil, fmt.Errorf("infer: %s: shape %v, want [] or [%d] (one per unit)", name(nt.name), t.Shape, n)
			}
		}
		return in, nil
	case ConvGRU:
		return l.gruShape(i, in)
	default:
		return nil, fmt.Errorf("infer: layers[%d].type: %q, want conv2d, dense, batchnorm, relu, noise, softplus, exp, sigmoid or convgru", i, l.Type)
	}
}

// gruShape checks a convgru layer on input in ([channels, height, width]) and returns its
// output, the new state [hidden, height, width]: the convolutions are same-padded, so their
// kernels are odd.
func (l *Layer) gruShape(i int, in []int) ([]int, error) {
	name := func(t string) string { return fmt.Sprintf("layers[%d].%s", i, t) }
	if len(in) != 3 {
		return nil, fmt.Errorf("infer: layers[%d]: convgru on input of shape %v, want [channels, height, width]", i, in)
	}
	w := l.Weight
	if w == nil || len(w.Shape) != 4 || w.Shape[0] < 3 || w.Shape[0]%3 != 0 || w.Shape[1] != in[0] || w.Shape[2]%2 != 1 || w.Shape[3]%2 != 1 {
		var s []int
		if w != nil {
			s = w.Shape
		}
		return nil, fmt.Errorf("infer: %s: shape %v, want [3*hidden, %d, kh, kw] with kh and kw odd (same padding)", name("weight"), s, in[0])
	}
	hc := w.Shape[0] / 3
	if err := wantShape(name("weight_hh"), l.WeightHH, 3*hc, hc, w.Shape[2], w.Shape[3]); err != nil {
		return nil, err
	}
	for _, nt := range []namedTensor{{"bias", &l.Bias}, {"bias_hh", &l.BiasHH}} {
		if *nt.t != nil {
			if err := wantShape(name(nt.name), *nt.t, 3*hc); err != nil {
				return nil, err
			}
		}
	}
	return []int{hc, in[1], in[2]}, nil
}

// at returns element i of t, its only element when t is a scalar, or def when t is absent
// (an optional layer parameter).
func (t *Tensor) at(i int, def float64) float64 {
	switch {
	case t == nil:
		return def
	case len(t.Data) == 1:
		return float64(t.Data[0])
	}
	return float64(t.Data[i])
}

// activation is the output nonlinearity f of layer type typ (Softplus, Exp or Sigmoid) at z, as
// the format defines it; softplus is z itself above 20, where log1p(exp(z)) equals z in float64.
func activation(typ LayerType, z float64) float64 {
	switch typ {
	case Softplus:
		if z > 20 {
			return z
		}
		return math.Log1p(math.Exp(z))
	case Exp:
		return math.Exp(z)
	case Sigmoid:
		return 1 / (1 + math.Exp(-z))
	}
	panic("infer: activation of layer type " + string(typ))
}
