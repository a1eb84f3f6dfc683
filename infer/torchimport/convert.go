package torchimport

import (
	"fmt"
	"strconv"

	"retinad/infer/onnx"
)

// hyps are the BNCNN architecture kwargs retinad reads (torch-deep-retina names).
type hyps struct {
	nUnits     int
	imgShape   []int // history, H, W
	chans      []int
	ksizes     []int
	softplus   bool
	bias       bool
	linearBias bool
}

func (ck *Checkpoint) hyps() (hyps, error) {
	h := hyps{softplus: true, bias: true}
	get := func(key string, dst *[]int, n int) error {
		v, ok := ck.Hyps[key]
		if !ok {
			return fmt.Errorf("hyps has no %q", key)
		}
		xs, err := ints(v)
		if err != nil {
			return fmt.Errorf("hyps[%q]: %w", key, err)
		}
		if len(xs) < n {
			return fmt.Errorf("hyps[%q] = %v: want at least %d ints", key, xs, n)
		}
		for _, x := range xs {
			if x <= 0 {
				return fmt.Errorf("hyps[%q] = %v: want positive ints", key, xs)
			}
		}
		*dst = xs[:n]
		return nil
	}
	var units []int
	if err := get("n_units", &units, 1); err != nil {
		return h, err
	}
	h.nUnits = units[0]
	if err := get("img_shape", &h.imgShape, 3); err != nil {
		return h, err
	}
	if err := get("chans", &h.chans, 2); err != nil {
		return h, err
	}
	if err := get("ksizes", &h.ksizes, 2); err != nil {
		return h, err
	}
	for key, dst := range map[string]*bool{"softplus": &h.softplus, "bias": &h.bias, "linear_bias": &h.linearBias} {
		if v, ok := ck.Hyps[key]; ok {
			b, err := flag(v)
			if err != nil {
				return h, fmt.Errorf("hyps[%q] is %s, want a bool or None", key, pyType(v))
			}
			*dst = b
		}
	}
	if v, ok := ck.Hyps["inference_exp"]; ok {
		if b, err := flag(v); err != nil || b {
			return h, fmt.Errorf("hyps[\"inference_exp\"] is %v: retinad imports BNCNNs whose eval output is the last layer's (inference_exp False or None); refit or save with inference_exp=False", v)
		}
	}
	return h, nil
}

// flag reads a hyperparameter the way torch-deep-retina's constructors use it: by Python
// truthiness of a bool or None. None is upstream's "default" (TDRModel's linear_bias=None),
// and nn.Conv2d/nn.Linear given bias=None make no bias; an older BNCNN read None as "same as
// bias", which the state dict settles: a bias tensor that is present is always used.
func flag(v any) (bool, error) {
	switch b := v.(type) {
	case nil:
		return false, nil
	case bool:
		return b, nil
	}
	return false, fmt.Errorf("%s, want a bool or None", pyType(v))
}

// recurrent are torch-deep-retina's model classes whose forward takes and returns hidden state.
var recurrent = map[string]bool{"SkipAmacRNN": true, "RNNCNN": true}

// Graph turns a BNCNN checkpoint into the ONNX graph PyTorch would export for it: input
// "stimulus" [N, history, H, W] (already normalised), output "rates" [N, cells]. When the
// checkpoint records a frame_rate, its outputs are spikes per bin and the graph multiplies them
// by the frame rate (spikes/s); otherwise they are taken as spikes/s already. The stimulus
// normalisation and frame rate travel in the graph's metadata.
func (ck *Checkpoint) Graph() (*onnx.Graph, error) {
	if rec, _ := flag(ck.Hyps["recurrent"]); recurrent[ck.ModelType] || rec {
		return nil, fmt.Errorf("torchimport: model_type %q is recurrent (its forward takes hidden state): not supported; torch-deep-retina's RNNCNN and SkipAmacRNN keep a state at the input of each convolution (ConvRNNCell, ConvGRUCell) or feed back through a transposed convolution (AmacRNNFull), which retinad's convgru layer (a state between two layers) does not compute; retinad imports torch-deep-retina's feed-forward BNCNN and its own trainer's RecurrentBNCNN", ck.ModelType)
	}
	if ck.ModelType != "BNCNN" {
		return nil, fmt.Errorf("torchimport: model_type %q not supported (want BNCNN): export the model with torch.onnx.export and import the .onnx, whose layers retinad checks one by one", ck.ModelType)
	}
	h, err := ck.hyps()
	if err != nil {
		return nil, fmt.Errorf("torchimport: %w", err)
	}
	b := &builder{ck: ck, g: &onnx.Graph{Name: "bncnn", Opset: 13, Producer: "retinad torchimport"}}
	hist, H, W := h.imgShape[0], h.imgShape[1], h.imgShape[2]
	b.g.Inputs = []onnx.ValueInfo{{Name: "stimulus", Elem: onnx.TypeFloat, Dims: []int64{-1, int64(hist), int64(H), int64(W)}, Param: []string{"N", "", "", ""}}}
	b.g.Outputs = []onnx.ValueInfo{{Name: "rates", Elem: onnx.TypeFloat, Dims: []int64{-1, int64(h.nUnits)}, Param: []string{"N", ""}}}
	if ck.HasNorm {
		b.g.Meta = []onnx.Prop{
			{Key: onnx.MetaNormMean, Value: strconv.FormatFloat(ck.NormMean, 'g', -1, 64)},
			{Key: onnx.MetaNormStd, Value: strconv.FormatFloat(ck.NormStd, 'g', -1, 64)},
		}
	}
	if ck.FrameRate > 0 {
		b.g.Meta = append(b.g.Meta, onnx.Prop{Key: onnx.MetaFrameRate, Value: strconv.FormatFloat(ck.FrameRate, 'g', -1, 64)})
	}

	// torch-deep-retina BNCNN: 0 conv, 1 flatten, 2 bn, 3 noise, 4 relu, 5 reshape, 6 conv,
	// 7 flatten, 8 bn, 9 noise, 10 relu, 11 linear, 12 bn, 13 softplus/exp.
	x := "stimulus"
	inC, h1, w1 := hist, H, W
	for layer, mod := range []int{0, 6} {
		k := h.ksizes[layer]
		oh, ow := h1-k+1, w1-k+1
		if oh <= 0 || ow <= 0 {
			return nil, fmt.Errorf("torchimport: hyps: kernel %d does not fit %dx%d", k, h1, w1)
		}
		c := h.chans[layer]
		if x, err = b.conv(x, mod, inC, c, k, h.bias); err != nil {
			return nil, err
		}
		x = b.node("Flatten", x, onnx.Attr{Name: "axis", Kind: onnx.AttrInt, I: 1})
		if x, err = b.batchNorm(x, mod+2, c*oh*ow); err != nil {
			return nil, err
		}
		x = b.node("Relu", x)
		if layer == 0 {
			shape := b.constInt64(fmt.Sprintf("sequential.%d.shape", mod+5), []int64{-1, int64(c), int64(oh), int64(ow)})
			x = b.node("Reshape", x, onnx.Attr{}, shape)
		}
		inC, h1, w1 = c, oh, ow
	}
	if x, err = b.linear(x, 11, inC*h1*w1, h.nUnits, h.linearBias); err != nil {
		return nil, err
	}
	if x, err = b.batchNorm(x, 12, h.nUnits); err != nil {
		return nil, err
	}
	if h.softplus {
		x = b.node("Softplus", x)
	} else {
		x = b.node("Exp", x)
	}
	if ck.FrameRate > 0 {
		fr := b.constFloat("frame_rate", nil, []float32{float32(ck.FrameRate)})
		x = b.node("Mul", x, onnx.Attr{}, fr)
	}
	last := &b.g.Nodes[len(b.g.Nodes)-1]
	last.Outputs[0] = "rates"
	for _, key := range ck.Keys {
		if !b.used[key] && !isBookkeeping(key) {
			return nil, fmt.Errorf("torchimport: model_state_dict key %q is not part of a BNCNN", key)
		}
	}
	return b.g, nil
}

// isBookkeeping says whether a state key holds nothing the eval-mode network computes with:
// batch-norm counters, and torch-deep-retina's GaussianNoise std kept as the parameter
// "sigma" of the noise modules 3 and 9 (noise is off in eval; addNoise reads hyps "noise").
func isBookkeeping(key string) bool {
	mod, field, err := moduleIndex(key)
	return err == nil && (field == "num_batches_tracked" || field == "sigma" && (mod == 3 || mod == 9))
}

type builder struct {
	ck   *Checkpoint
	g    *onnx.Graph
	used map[string]bool
}

// param returns state tensor sequential.<mod>.<name>, checking its shape.
func (b *builder) param(mod int, name string, shape ...int) (string, *Tensor, error) {
	key := fmt.Sprintf("sequential.%d.%s", mod, name)
	t, ok := b.ck.State[key]
	if !ok {
		return key, nil, fmt.Errorf("torchimport: model_state_dict has no %q", key)
	}
	same := len(t.Shape) == len(shape)
	for i := 0; same && i < len(shape); i++ {
		same = t.Shape[i] == shape[i]
	}
	if !same {
		return key, nil, fmt.Errorf("torchimport: %s has shape %v, want %v (from hyps)", key, t.Shape, shape)
	}
	if b.used == nil {
		b.used = map[string]bool{}
	}
	b.used[key] = true
	dims := make([]int64, len(shape))
	for i, d := range shape {
		dims[i] = int64(d)
	}
	if b.g.Init(key) == nil {
		b.g.Inits = append(b.g.Inits, &onnx.Tensor{Name: key, Type: onnx.TypeFloat, Dims: dims, Float: t.Data})
	}
	return key, t, nil
}

func (b *builder) has(mod int, name string) bool {
	_, ok := b.ck.State[fmt.Sprintf("sequential.%d.%s", mod, name)]
	return ok
}

func (b *builder) node(op, x string, attrAndInputs ...any) string {
	n := onnx.Node{Name: fmt.Sprintf("%s_%d", op, len(b.g.Nodes)), Op: op, Inputs: []string{x}}
	for _, a := range attrAndInputs {
		switch v := a.(type) {
		case onnx.Attr:
			if v.Name != "" {
				n.Attrs = append(n.Attrs, v)
			}
		case string:
			n.Inputs = append(n.Inputs, v)
		}
	}
	n.Outputs = []string{n.Name + "_out"}
	b.g.Nodes = append(b.g.Nodes, n)
	return n.Outputs[0]
}

func (b *builder) constFloat(name string, dims []int64, v []float32) string {
	b.g.Inits = append(b.g.Inits, &onnx.Tensor{Name: name, Type: onnx.TypeFloat, Dims: dims, Float: v})
	return name
}

func (b *builder) constInt64(name string, v []int64) string {
	b.g.Inits = append(b.g.Inits, &onnx.Tensor{Name: name, Type: onnx.TypeInt64, Dims: []int64{int64(len(v))}, Int64: v})
	return name
}

func (b *builder) conv(x string, mod, inC, outC, k int, bias bool) (string, error) {
	w, _, err := b.param(mod, "weight", outC, inC, k, k)
	if err != nil {
		return "", err
	}
	inputs := []any{w}
	if bias || b.has(mod, "bias") {
		bn, _, err := b.param(mod, "bias", outC)
		if err != nil {
			return "", err
		}
		inputs = append(inputs, bn)
	}
	inputs = append(inputs,
		onnx.Attr{Name: "kernel_shape", Kind: onnx.AttrInts, Ints: []int64{int64(k), int64(k)}},
		onnx.Attr{Name: "strides", Kind: onnx.AttrInts, Ints: []int64{1, 1}},
		onnx.Attr{Name: "pads", Kind: onnx.AttrInts, Ints: []int64{0, 0, 0, 0}},
		onnx.Attr{Name: "dilations", Kind: onnx.AttrInts, Ints: []int64{1, 1}},
		onnx.Attr{Name: "group", Kind: onnx.AttrInt, I: 1})
	return b.node("Conv", x, inputs...), nil
}

func (b *builder) batchNorm(x string, mod, n int) (string, error) {
	var names []any
	for _, p := range []string{"weight", "bias", "running_mean", "running_var"} {
		key, _, err := b.param(mod, p, n)
		if err != nil {
			return "", err
		}
		names = append(names, key)
	}
	names = append(names, onnx.Attr{Name: "epsilon", Kind: onnx.AttrFloat, F: b.eps()})
	return b.node("BatchNormalization", x, names...), nil
}

// eps is torch-deep-retina's batch-norm epsilon (1e-3) unless hyps say otherwise.
func (b *builder) eps() float32 { return b.ck.eps() }

func (ck *Checkpoint) eps() float32 {
	if v, ok := ck.Hyps["bn_eps"]; ok {
		if f, err := number(v); err == nil && f > 0 {
			return float32(f)
		}
	}
	return 1e-3
}

func (b *builder) linear(x string, mod, in, out int, bias bool) (string, error) {
	w, _, err := b.param(mod, "weight", out, in)
	if err != nil {
		return "", err
	}
	inputs := []any{w}
	if bias || b.has(mod, "bias") {
		bn, _, err := b.param(mod, "bias", out)
		if err != nil {
			return "", err
		}
		inputs = append(inputs, bn)
	}
	inputs = append(inputs, onnx.Attr{Name: "transB", Kind: onnx.AttrInt, I: 1})
	return b.node("Gemm", x, inputs...), nil
}
