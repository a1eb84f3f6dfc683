package onnx

import (
	"fmt"
	"strconv"

	"retinad/infer"
)

// A GLM as ONNX. Its spike history is recurrent (each bin's counts feed the next bins), and
// an ONNX graph has no state, so the history enters as a second input that the caller keeps:
//
//	stimulus  [N, history, height, width]  the normalised window, as for every export
//	spikes    [N, cells, L]                spike counts per bin of every cell in the L bins
//	                                        before this one: spikes[n, i, j] = n[i, t-1-j]
//	rates     [N, cells] = output_scale * exp(bias + stimulus_filter . window
//	                         + sum_j history_filter[c, j] * spikes[n, c, j]
//	                         + sum_i,j coupling_filter[c, i, j] * spikes[n, i, j])
//
// (infer's formula, term by term: history is a Mul and a ReduceSum over j, coupling a Gemm on
// the flattened spikes). retinad's engine starts its history at the first full window, so to
// match it a caller gives 0 for the bins before frame history-1. A GLM with neither filter has no spikes input. Other tools run the
// graph as it is; ImportGraph recognises it by the metadata retinad.kind = glm and reads the
// filters back by initializer name, so that import(export(M)) is M exactly.
const (
	MetaKind       = "retinad.kind"        // "glm" for a GLM export (absent otherwise)
	MetaGLMHistory = "retinad.glm_history" // L, the bins of spike history (0: no spikes input)
)

// SpikeBins is L, the bins of spike history that the export of m takes as its spikes input
// [N, cells, L]: 0 when it has none (every model but a GLM with a history or coupling filter).
func SpikeBins(m *infer.Model) int {
	if m.GLM == nil {
		return 0
	}
	for _, t := range []*infer.Tensor{m.GLM.HistoryFilter, m.GLM.CouplingFilter} {
		if t != nil {
			return t.Shape[len(t.Shape)-1]
		}
	}
	return 0
}

// exportGLM builds the GLM graph described above.
func exportGLM(m *infer.Model, x *exporter) {
	g, in := m.GLM, m.Input
	nc := len(m.Cells)
	L := SpikeBins(m)
	x.g.Meta = append(x.g.Meta, Prop{MetaKind, string(infer.GLM)}, Prop{MetaGLMHistory, strconv.Itoa(L)})
	x.flatten()
	x.node("Gemm", x.cur, x.tensor("glm.stimulus_filter", &infer.Tensor{Shape: []int{nc, in.History * in.Height * in.Width}, Data: g.StimulusFilter.Data}), x.tensor("glm.bias", g.Bias))
	x.attr(Attr{Name: "transB", Kind: AttrInt, I: 1})
	if L == 0 {
		x.node("Exp", x.cur)
		return
	}
	drive := x.cur
	x.g.Inputs = append(x.g.Inputs, ValueInfo{Name: "spikes", Elem: TypeFloat, Dims: []int64{-1, int64(nc), int64(L)}, Param: []string{"N", "", ""}})
	if h := g.HistoryFilter; h != nil {
		x.node("Mul", "spikes", x.tensor("glm.history_filter", h))
		x.g.Inits = append(x.g.Inits, &Tensor{Name: "glm.history_axes", Type: TypeInt64, Dims: []int64{1}, Int64: []int64{2}})
		x.node("ReduceSum", x.cur, "glm.history_axes")
		x.attr(Attr{Name: "keepdims", Kind: AttrInt, I: 0})
		x.node("Add", drive, x.cur)
		drive = x.cur
	}
	if c := g.CouplingFilter; c != nil {
		x.cur, x.shape = "spikes", []int{nc, L}
		x.flatten()
		x.node("Gemm", x.cur, x.tensor("glm.coupling_filter", &infer.Tensor{Shape: []int{nc, nc * L}, Data: c.Data}))
		x.attr(Attr{Name: "transB", Kind: AttrInt, I: 1})
		x.node("Add", drive, x.cur)
	}
	x.node("Exp", x.cur)
}

// importGLM reads a GLM export's filters back by initializer name.
func importGLM(g *Graph, m *infer.Model) error {
	nc := len(m.Cells)
	init := func(name string, n int, required bool) ([]float32, error) {
		for _, t := range g.Inits {
			if t.Name == name {
				if len(t.Float) != n {
					return nil, fmt.Errorf("onnx: glm: initializer %s: %d values, want %d", name, len(t.Float), n)
				}
				return t.Float, nil
			}
		}
		if !required {
			return nil, nil
		}
		return nil, fmt.Errorf("onnx: glm: no initializer %s (metadata %s says this is retinad's GLM export)", name, MetaKind)
	}
	in := m.Input
	sf, err := init("glm.stimulus_filter", nc*in.History*in.Height*in.Width, true)
	if err != nil {
		return err
	}
	bias, err := init("glm.bias", nc, true)
	if err != nil {
		return err
	}
	s, _ := g.MetaValue(MetaGLMHistory)
	L, err := strconv.Atoi(s)
	if err != nil || L < 0 {
		return fmt.Errorf("onnx: glm: metadata %s = %q, want the bins of spike history", MetaGLMHistory, s)
	}
	var hist, coup []float32
	if L > 0 {
		if hist, err = init("glm.history_filter", nc*L, false); err != nil {
			return err
		}
		if coup, err = init("glm.coupling_filter", nc*nc*L, false); err != nil {
			return err
		}
		if hist == nil && coup == nil {
			return fmt.Errorf("onnx: glm: %s = %d but neither glm.history_filter nor glm.coupling_filter", MetaGLMHistory, L)
		}
	}
	scale, err := init("output_scale", 1, false)
	if err != nil {
		return err
	}
	if scale == nil {
		scale = []float32{1}
	}
	glm, err := infer.NewGLM(in, m.Cells, sf, bias, L, hist, coup, float64(scale[0]))
	if err != nil {
		return fmt.Errorf("onnx: glm: %w", err)
	}
	m.Kind, m.GLM, m.OutputScale = glm.Kind, glm.GLM, glm.OutputScale
	return nil
}

// glmChain is what ImportGraph needs of a GLM export besides its filters: the window's shape,
// the number of cells and the metadata.
func glmChain(g *Graph) (*Chain, error) {
	if len(g.Inputs) == 0 || g.Inputs[0].Name != "stimulus" || len(g.Inputs[0].Dims) != 4 || len(g.Outputs) != 1 || len(g.Outputs[0].Dims) != 2 {
		return nil, fmt.Errorf("onnx: glm: want input stimulus [N, history, height, width] and one output [N, cells], as retinad's GLM export writes")
	}
	d := g.Inputs[0].Dims
	c := &Chain{History: int(d[1]), Height: int(d[2]), Width: int(d[3]), Cells: int(g.Outputs[0].Dims[1]), NormStd: 1}
	if c.History < 1 || c.Height < 1 || c.Width < 1 || c.Cells < 1 {
		return nil, fmt.Errorf("onnx: glm: input shape %v, output shape %v: want fixed sizes", d, g.Outputs[0].Dims)
	}
	return c, c.readMeta(g)
}
