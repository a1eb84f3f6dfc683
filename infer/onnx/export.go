package onnx

import (
	"fmt"
	"strconv"
	"strings"

	"retinad/infer"
)

// Export writes a CNN, LN or GLM model as an ONNX model (IR 7, opset 13) that ONNX Runtime runs:
// input "stimulus" [N, history, height, width], the normalised window (x = (frame - mean) /
// std, oldest frame first), output "rates" [N, cells] in spikes/s. The normalisation, frame
// rate and cell ids go in the metadata, where Import finds them again. Noise layers are left
// out (an ONNX graph is the deterministic, mean-field model). A GLM takes its spike history as
// a second input (see glm.go); a recurrent model is one step, its state a second input and
// output (see gru.go).
func Export(m *infer.Model) ([]byte, error) {
	g, err := ExportGraph(m)
	if err != nil {
		return nil, err
	}
	return Marshal(g), nil
}

// ExportGraph is Export before encoding.
func ExportGraph(m *infer.Model) (*Graph, error) {
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("onnx: export: %w", err)
	}
	in := m.Input
	x := &exporter{g: &Graph{Name: string(m.Kind), Opset: 13, Producer: "retinad"}, cur: "stimulus",
		shape: []int{in.History, in.Height, in.Width}}
	x.g.Inputs = []ValueInfo{{Name: "stimulus", Elem: TypeFloat, Dims: []int64{-1, int64(in.History), int64(in.Height), int64(in.Width)}, Param: []string{"N", "", "", ""}}}
	x.g.Outputs = []ValueInfo{{Name: "rates", Elem: TypeFloat, Dims: []int64{-1, int64(len(m.Cells))}, Param: []string{"N", ""}}}
	ids := make([]string, len(m.Cells))
	for i, c := range m.Cells {
		ids[i] = strconv.FormatInt(c, 10)
	}
	x.g.Meta = []Prop{
		{MetaFrameRate, strconv.FormatFloat(in.FrameRate, 'g', -1, 64)},
		{MetaNormMean, strconv.FormatFloat(in.Mean, 'g', -1, 64)},
		{MetaNormStd, strconv.FormatFloat(in.Std, 'g', -1, 64)},
		{MetaCells, strings.Join(ids, ",")},
	}
	if m.Name != "" {
		x.g.Meta = append(x.g.Meta, Prop{MetaName, m.Name})
	}
	if m.Kind == infer.GLM {
		exportGLM(m, x)
	}
	for i := range m.Layers {
		if err := x.layer(i, &m.Layers[i]); err != nil {
			return nil, err
		}
	}
	if m.OutputScale != 1 {
		x.node("Mul", x.cur, x.scalar("output_scale", float32(m.OutputScale)))
	}
	if len(x.g.Nodes) == 0 {
		x.node("Identity", x.cur)
	}
	x.g.Nodes[len(x.g.Nodes)-1].Outputs[0] = "rates"
	return x.g, nil
}

// Metadata keys for the cell ids (comma-separated integers) and the model's name.
const (
	MetaCells = "retinad.cells"
	MetaName  = "retinad.name"
)

type exporter struct {
	g     *Graph
	cur   string
	shape []int // of cur without the batch dimension: [C, H, W] or [D]
}

func (x *exporter) node(op string, inputs ...string) {
	n := Node{Name: fmt.Sprintf("%s_%d", op, len(x.g.Nodes)), Op: op, Inputs: inputs}
	n.Outputs = []string{n.Name}
	x.g.Nodes = append(x.g.Nodes, n)
	x.cur = n.Name
}

func (x *exporter) attr(a Attr) {
	n := &x.g.Nodes[len(x.g.Nodes)-1]
	n.Attrs = append(n.Attrs, a)
}

func (x *exporter) tensor(name string, t *infer.Tensor) string {
	if t == nil {
		return ""
	}
	dims := make([]int64, len(t.Shape))
	for i, d := range t.Shape {
		dims[i] = int64(d)
	}
	x.g.Inits = append(x.g.Inits, &Tensor{Name: name, Type: TypeFloat, Dims: dims, Float: t.Data})
	return name
}

func (x *exporter) scalar(name string, v float32) string {
	x.g.Inits = append(x.g.Inits, &Tensor{Name: name, Type: TypeFloat, Float: []float32{v}})
	return name
}

func (x *exporter) flatten() {
	if len(x.shape) != 1 {
		x.node("Flatten", x.cur)
		x.attr(Attr{Name: "axis", Kind: AttrInt, I: 1})
		x.shape = []int{size(x.shape)}
	}
}

func (x *exporter) reshape(shape []int) {
	name := fmt.Sprintf("shape_%d", len(x.g.Nodes))
	v := []int64{-1}
	for _, d := range shape {
		v = append(v, int64(d))
	}
	x.g.Inits = append(x.g.Inits, &Tensor{Name: name, Type: TypeInt64, Dims: []int64{int64(len(v))}, Int64: v})
	x.node("Reshape", x.cur, name)
	x.shape = shape
}

func (x *exporter) layer(i int, l *infer.Layer) error {
	p := fmt.Sprintf("layers.%d.", i)
	switch l.Type {
	case infer.Conv2D:
		if len(x.shape) != 3 {
			return fmt.Errorf("onnx: export: layers[%d]: conv2d on a flat input", i)
		}
		ins := []string{x.cur, x.tensor(p+"weight", l.Weight)}
		if l.Bias != nil {
			ins = append(ins, x.tensor(p+"bias", l.Bias))
		}
		x.node("Conv", ins...)
		kh, kw := l.Weight.Shape[2], l.Weight.Shape[3]
		x.attr(Attr{Name: "kernel_shape", Kind: AttrInts, Ints: []int64{int64(kh), int64(kw)}})
		x.shape = []int{l.Weight.Shape[0], x.shape[1] - kh + 1, x.shape[2] - kw + 1}
	case infer.Dense:
		x.flatten()
		ins := []string{x.cur, x.tensor(p+"weight", l.Weight)}
		if l.Bias != nil {
			ins = append(ins, x.tensor(p+"bias", l.Bias))
		}
		x.node("Gemm", ins...)
		x.attr(Attr{Name: "transB", Kind: AttrInt, I: 1})
		x.shape = []int{l.Weight.Shape[0]}
	case infer.BatchNorm:
		n := l.RunningMean.Shape[0]
		ones := func(name string, t *infer.Tensor, v float32) string {
			if t != nil {
				return x.tensor(name, t)
			}
			d := make([]float32, n)
			for j := range d {
				d[j] = v
			}
			return x.tensor(name, &infer.Tensor{Shape: []int{n}, Data: d})
		}
		spatial := x.shape
		if !l.PerChannel {
			x.flatten()
		}
		x.node("BatchNormalization", x.cur, ones(p+"weight", l.Weight, 1), ones(p+"bias", l.Bias, 0),
			x.tensor(p+"running_mean", l.RunningMean), x.tensor(p+"running_var", l.RunningVar))
		x.attr(Attr{Name: "epsilon", Kind: AttrFloat, F: float32(l.Eps)})
		if !l.PerChannel && len(spatial) == 3 {
			x.reshape(spatial) // retinad's per-unit batch norm keeps the [C, H, W] shape
		}
	case infer.ReLU:
		x.node("Relu", x.cur)
	case infer.ConvGRU:
		x.gru(p, l)
	case infer.Noise:
		// Deterministic graph: latent noise is a run-time option of retinad's engines.
	case infer.Softplus, infer.Exp, infer.Sigmoid:
		if l.Slope != nil {
			x.node("Mul", x.cur, x.tensor(p+"slope", l.Slope))
		}
		if l.Offset != nil {
			x.node("Add", x.cur, x.tensor(p+"offset", l.Offset))
		}
		x.node(map[infer.LayerType]string{infer.Softplus: "Softplus", infer.Exp: "Exp", infer.Sigmoid: "Sigmoid"}[l.Type], x.cur)
		if l.Gain != nil {
			x.node("Mul", x.cur, x.tensor(p+"gain", l.Gain))
		}
	default:
		return fmt.Errorf("onnx: export: layers[%d]: type %q not supported", i, l.Type)
	}
	return nil
}
