package onnx

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"retinad/infer"
	"retinad/infer/enginetest"
	"retinad/infer/infertest"
	"retinad/infer/onnx/ortpeer"
	"retinad/internal/testenv"
)

// recurrentModels are the recurrent models the GRU tests export: a random small one with a
// 3x3 state kernel and one with 5x5 and biases absent, and the 2,400-step PyTorch golden.
func recurrentModels(t *testing.T) map[string]*infer.Model {
	t.Helper()
	golden, err := infer.Load(enginetest.TestdataDir() + "/bncnn_gru.retinad")
	if err != nil {
		t.Fatal(err)
	}
	nobias := infertest.RecurrentCNN(3, infertest.Small, 2, 5)
	for i := range nobias.Layers {
		if nobias.Layers[i].Type == infer.ConvGRU {
			nobias.Layers[i].Bias, nobias.Layers[i].BiasHH = nil, nil
		}
	}
	return map[string]*infer.Model{"small": infertest.RecurrentCNN(2, infertest.Small, 3, 3), "nobias": nobias, "bncnn_gru": golden}
}

// TestRecurrentExportImportRoundTrip: import(export(M)) is M, tensor for tensor, for a
// recurrent model.
func TestRecurrentExportImportRoundTrip(t *testing.T) {
	for name, m := range recurrentModels(t) {
		b, err := Export(m)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		back, err := Import(b)
		if err != nil {
			t.Fatalf("%s: import of export: %v", name, err)
		}
		if back.Kind != m.Kind || back.Input != m.Input || !reflect.DeepEqual(back.Cells, m.Cells) || back.OutputScale != m.OutputScale {
			t.Errorf("%s: came back as %s %+v cells %v scale %v", name, back.Kind, back.Input, back.Cells, back.OutputScale)
		}
		var want []infer.Layer
		for _, l := range m.Layers {
			if l.Type != infer.Noise { // the graph is the deterministic model
				want = append(want, l)
			}
		}
		if len(back.Layers) != len(want) {
			t.Fatalf("%s: %d layers back, want %d", name, len(back.Layers), len(want))
		}
		for i, l := range want {
			got := back.Layers[i]
			if l.Type == infer.BatchNorm && l.Weight == nil { // the export writes the default 1 and 0
				got.Weight, got.Bias = nil, nil
			}
			if got.Type != l.Type || !reflect.DeepEqual(got.Weight, l.Weight) || !reflect.DeepEqual(got.Bias, l.Bias) ||
				!reflect.DeepEqual(got.WeightHH, l.WeightHH) || !reflect.DeepEqual(got.BiasHH, l.BiasHH) {
				t.Errorf("%s: layer %d (%s) differs after the round trip", name, i, l.Type)
			}
		}
	}
}

// TestRecurrentExportStepsInONNXRuntime: ONNX Runtime, stepping the export with its own next
// state fed back, gives the streaming engine's rates over the golden's 2,400-step session of
// contrast steps (and so PyTorch's), and the small models' over 2,000 steps.
func TestRecurrentExportStepsInONNXRuntime(t *testing.T) {
	for name, m := range recurrentModels(t) {
		b, err := Export(m)
		if err != nil {
			t.Fatal(err)
		}
		g, err := Unmarshal(b)
		if err != nil {
			t.Fatal(err)
		}
		if len(g.Inputs) != 2 || g.Inputs[1].Name != StateInput || len(g.Outputs) != 2 || g.Outputs[1].Name != StateOutput {
			t.Fatalf("%s: inputs %v outputs %v, want stimulus, state and rates, next_state", name, g.Inputs, g.Outputs)
		}
		in := m.Input
		var f, golden []float32
		if name == "bncnn_gru" {
			f, _ = readNpy(t, enginetest.TestdataDir()+"/bncnn_gru.contrast.stim.npy")
			golden, _ = readNpy(t, enginetest.TestdataDir()+"/bncnn_gru.contrast.rates.npy")
		} else {
			f = frames(2000, in.Height*in.Width, 11)
		}
		T := len(f) / (in.Height * in.Width)
		stream, _ := engineRates(t, m, f, T)
		got, err := ortpeer.StepRecurrent(b, m, g.Inputs[1].Dims[1:], f)
		if errors.Is(err, ortpeer.ErrUnavailable) {
			testenv.Missing(t, "ONNX Runtime (RETINAD_ONNXRUNTIME, scripts/setup)", err)
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		compare(t, name+": ONNX Runtime stepped against the streaming engine", got, stream, 1e-4, 1e-5)
		if golden != nil {
			compare(t, name+": ONNX Runtime stepped against PyTorch", got, golden, 1e-4, 1e-5)
		}
	}
}

// TestRecurrentImportRefusals: the importer refuses, by node and operator, a step whose
// recurrent unit has an operator a conv-GRU does not, or whose nodes compute another update.
func TestRecurrentImportRefusals(t *testing.T) {
	m := infertest.RecurrentCNN(2, infertest.Small, 3, 3)
	b, err := Export(m)
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(g *Graph)) *Graph {
		g, err := Unmarshal(b)
		if err != nil {
			t.Fatal(err)
		}
		f(g)
		return g
	}
	op := func(g *Graph, from string) *Node {
		for i := range g.Nodes {
			if g.Nodes[i].Op == from {
				return &g.Nodes[i]
			}
		}
		t.Fatalf("no %s node", from)
		return nil
	}
	for _, tc := range []struct {
		name string
		g    *Graph
		want string
	}{
		{"relu for tanh", edit(func(g *Graph) { op(g, "Tanh").Op = "Relu" }), `operator Relu between the recurrent unit's convolutions and next_state is not supported`},
		{"add for sub", edit(func(g *Graph) { op(g, "Sub").Op = "Add" }), "do not compute torch's GRUCell update"},
		{"z and r swapped", edit(func(g *Graph) {
			s := op(g, "Split")
			s.Outputs[0], s.Outputs[1] = s.Outputs[1], s.Outputs[0]
		}), "do not compute torch's GRUCell update"},
		{"valid padding", edit(func(g *Graph) {
			c := op(g, "Conv") // the first layer's: find the unit's, which reads the chain after the stem
			for i := len(g.Nodes) - 1; i >= 0; i-- {
				if g.Nodes[i].Op == "Conv" && g.Nodes[i].Inputs[0] == StateInput {
					c = &g.Nodes[i]
					break
				}
			}
			for i := range c.Attrs {
				if c.Attrs[i].Name == "pads" {
					c.Attrs[i].Ints = []int64{0, 0, 0, 0}
				}
			}
		}), "want same padding"},
		{"padding left to ONNX's default (none)", edit(func(g *Graph) {
			for i := range g.Nodes {
				if n := &g.Nodes[i]; n.Op == "Conv" && n.Inputs[0] == StateInput {
					n.Attrs = slices.DeleteFunc(n.Attrs, func(a Attr) bool { return a.Name == "pads" || a.Name == "auto_pad" })
				}
			}
		}), "no padding: a conv-GRU's convolutions are same-padded"},
		{"state read elsewhere", edit(func(g *Graph) {
			n := &g.Nodes[len(g.Nodes)-1]
			g.Nodes = append(g.Nodes, Node{Name: "extra", Op: "Relu", Inputs: []string{StateInput}, Outputs: []string{"extra"}})
			_ = n
		}), `node "extra" (Relu) reads "state"`},
		{"no second output", edit(func(g *Graph) { g.Outputs = g.Outputs[:1] }), "a recurrent model's step has two outputs"},
		{"dims that overflow", edit(func(g *Graph) {
			for _, t := range g.Inits {
				if strings.HasSuffix(t.Name, "weight_hh") { // 2^62 * 4 wraps to 0, as many values as given
					t.Dims, t.Float = []int64{1 << 62, 4, 1, 1}, nil
				}
			}
		}), "must be float [out, in, kh, kw] with kh and kw odd"},
	} {
		_, err := ImportGraph(tc.g, Defaults{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to say %q", tc.name, err, tc.want)
		}
	}
}
