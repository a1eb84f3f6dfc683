package torchimport

import (
	"fmt"
	"strings"

	"retinad/infer"
	"retinad/infer/onnx"
)

// recurrentType is the model_type of retinad's trainer's recurrent BN-CNN (train/models.py
// RecurrentBNCNN): BNCNN's sequential.0-10 (conv, BN, noise, ReLU, conv, BN, noise, ReLU),
// then gru (a ConvGRUCell: gru.ih and gru.hh, same-padded convolutions of 3*hidden outputs)
// and readout (1 linear, 2 BatchNorm1d, 3 softplus or exp). ONNX has no conv-GRU operator, so
// it is built as a native model directly rather than through Graph.
const recurrentType = "RecurrentBNCNN"

// recurrentModel turns a RecurrentBNCNN checkpoint into a native model with a convgru layer.
// Normalisation and frame rate are the checkpoint's when it has them, else d's.
func (ck *Checkpoint) recurrentModel(d onnx.Defaults) (*infer.Model, error) {
	h, err := ck.hyps()
	if err != nil {
		return nil, fmt.Errorf("torchimport: %w", err)
	}
	var hidden, gk []int
	for key, dst := range map[string]*[]int{"hidden": &hidden, "gru_ksize": &gk} {
		v, ok := ck.Hyps[key]
		if !ok {
			return nil, fmt.Errorf("torchimport: hyps has no %q (a %s needs it)", key, recurrentType)
		}
		if *dst, err = ints(v); err != nil || len(*dst) != 1 || (*dst)[0] <= 0 {
			return nil, fmt.Errorf("torchimport: hyps[%q] = %v: want one positive int", key, v)
		}
	}
	r := &stateReader{ck: ck, used: map[string]bool{}}
	hist, H, W := h.imgShape[0], h.imgShape[1], h.imgShape[2]
	h1, w1 := H-h.ksizes[0]+1, W-h.ksizes[0]+1
	h2, w2 := h1-h.ksizes[1]+1, w1-h.ksizes[1]+1
	if h2 <= 0 || w2 <= 0 {
		return nil, fmt.Errorf("torchimport: hyps: kernels %v do not fit %dx%d", h.ksizes, H, W)
	}
	c0, c1, hc, k, n := h.chans[0], h.chans[1], hidden[0], gk[0], h.nUnits
	conv := func(prefix string, out, in, k int) infer.Layer {
		return infer.Layer{Type: infer.Conv2D, Weight: r.get(prefix+".weight", out, in, k, k), Bias: r.opt(prefix+".bias", out)}
	}
	bn := func(prefix string, n int) infer.Layer {
		return infer.Layer{Type: infer.BatchNorm, Eps: float64(ck.eps()), Weight: r.get(prefix+".weight", n), Bias: r.get(prefix+".bias", n),
			RunningMean: r.get(prefix+".running_mean", n), RunningVar: r.get(prefix+".running_var", n)}
	}
	out := infer.Softplus
	if !h.softplus {
		out = infer.Exp
	}
	layers := []infer.Layer{
		conv("sequential.0", c0, hist, h.ksizes[0]), bn("sequential.2", c0*h1*w1), {Type: infer.ReLU},
		conv("sequential.6", c1, c0, h.ksizes[1]), bn("sequential.8", c1*h2*w2), {Type: infer.ReLU},
		{Type: infer.ConvGRU, Weight: r.get("gru.ih.weight", 3*hc, c1, k, k), Bias: r.opt("gru.ih.bias", 3*hc),
			WeightHH: r.get("gru.hh.weight", 3*hc, hc, k, k), BiasHH: r.opt("gru.hh.bias", 3*hc)},
		{Type: infer.Dense, Weight: r.get("readout.1.weight", n, hc*h2*w2), Bias: r.opt("readout.1.bias", n)},
		bn("readout.2", n), {Type: out},
	}
	if r.err != nil {
		return nil, r.err
	}
	for _, key := range ck.Keys {
		if !r.used[key] && !strings.HasSuffix(key, ".num_batches_tracked") {
			return nil, fmt.Errorf("torchimport: model_state_dict key %q is not part of a %s", key, recurrentType)
		}
	}
	m := &infer.Model{
		Kind: infer.CNN, Name: d.Name, OutputScale: 1, Cells: d.Cells, Layers: layers,
		Input: infer.Input{History: hist, Height: H, Width: W, FrameRate: d.FrameRate, Mean: d.Mean, Std: d.Std},
	}
	if m.Input.Std == 0 {
		m.Input.Std = 1
	}
	if ck.HasNorm {
		m.Input.Mean, m.Input.Std = ck.NormMean, ck.NormStd
	}
	if ck.FrameRate > 0 {
		m.Input.FrameRate, m.OutputScale = ck.FrameRate, ck.FrameRate // outputs are spikes per bin
	}
	if !(m.Input.FrameRate > 0) {
		return nil, fmt.Errorf("torchimport: the checkpoint does not say its frame rate; give one (--frame-rate)")
	}
	if m.Cells == nil {
		for c := range n {
			m.Cells = append(m.Cells, int64(c))
		}
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("torchimport: %w", err)
	}
	return m, nil
}

// stateReader takes tensors out of a checkpoint's state dict, checking their shapes; the first
// problem is kept in err (later calls then do nothing).
type stateReader struct {
	ck   *Checkpoint
	used map[string]bool
	err  error
}

func (r *stateReader) get(key string, shape ...int) *infer.Tensor {
	if r.err != nil {
		return nil
	}
	t, ok := r.ck.State[key]
	if !ok {
		r.err = fmt.Errorf("torchimport: model_state_dict has no %q", key)
		return nil
	}
	if fmt.Sprint(t.Shape) != fmt.Sprint(shape) {
		r.err = fmt.Errorf("torchimport: %s has shape %v, want %v (from hyps)", key, t.Shape, shape)
		return nil
	}
	r.used[key] = true
	return &infer.Tensor{Shape: append([]int{}, shape...), Data: t.Data}
}

// opt is get for a tensor that may be absent (a bias).
func (r *stateReader) opt(key string, shape ...int) *infer.Tensor {
	if _, ok := r.ck.State[key]; !ok {
		return nil
	}
	return r.get(key, shape...)
}
