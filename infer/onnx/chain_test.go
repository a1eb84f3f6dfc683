package onnx

import (
	"math"
	"os"
	"strings"
	"testing"

	"retinad/infer/enginetest"
)

// forward is a plain float64 evaluation of a Chain on one window [History, H, W] (already
// normalised): the obviously-correct reading of what each layer means, used to check that
// ReadChain interprets PyTorch's exports the way PyTorch runs them.
func forward(c *Chain, x []float32) []float64 {
	v := make([]float64, len(x))
	for i, f := range x {
		v[i] = float64(f)
	}
	for _, l := range c.Layers {
		shape := l.In
		switch l.Kind {
		case Conv:
			C, H, W := shape[0], shape[1], shape[2]
			oh, ow := H-l.KH+1, W-l.KW+1
			out := make([]float64, l.Out*oh*ow)
			for o := 0; o < l.Out; o++ {
				for y := 0; y < oh; y++ {
					for xx := 0; xx < ow; xx++ {
						s := 0.0
						if l.B != nil {
							s = float64(l.B[o])
						}
						for ci := 0; ci < C; ci++ {
							for ky := 0; ky < l.KH; ky++ {
								for kx := 0; kx < l.KW; kx++ {
									s += float64(l.W[((o*C+ci)*l.KH+ky)*l.KW+kx]) * v[(ci*H+y+ky)*W+xx+kx]
								}
							}
						}
						out[(o*oh+y)*ow+xx] = s
					}
				}
			}
			v = out
		case BatchNorm:
			per := 1
			if !l.Flat {
				per = len(v) / len(l.W)
			}
			for i := range v {
				u := i / per
				v[i] = (v[i]-float64(l.Mean[u]))/math.Sqrt(float64(l.Var[u])+float64(l.Eps))*float64(l.W[u]) + float64(l.B[u])
			}
		case Dense:
			out := make([]float64, l.Out)
			for o := range out {
				if l.B != nil {
					out[o] = float64(l.B[o])
				}
				for i, xi := range v {
					out[o] += float64(l.W[o*len(v)+i]) * xi
				}
			}
			v = out
		case Scale:
			for i := range v {
				v[i] = v[i]*float64(l.W[i%len(l.W)]) + float64(l.B[i%len(l.B)])
			}
		case Relu:
			for i := range v {
				v[i] = math.Max(v[i], 0)
			}
		case Softplus:
			for i := range v {
				v[i] = math.Log1p(math.Exp(v[i]))
			}
		case Exp:
			for i := range v {
				v[i] = math.Exp(v[i])
			}
		case Sigmoid:
			for i := range v {
				v[i] = 1 / (1 + math.Exp(-v[i]))
			}
		}
	}
	return v
}

func readNpy(t *testing.T, path string) ([]float32, []int) {
	t.Helper()
	data, shape, err := enginetest.ReadNpy(path)
	if err != nil {
		t.Fatal(err)
	}
	return data, shape
}

func loadGraph(t *testing.T, path string) *Graph {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	g, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestChainMatchesPyTorch reads PyTorch's own exports of a BN-CNN and an LN model and checks
// the chain they describe against PyTorch's rates (the fixtures of train/golden.py).
func TestChainMatchesPyTorch(t *testing.T) {
	const dir = "../torchimport/testdata/"
	stim, ss := readNpy(t, dir+"stimulus.npy")
	for _, tc := range []struct{ model, rates string }{{"bncnn_torch.onnx", "rates.npy"}, {"ln_torch.onnx", "ln_rates.npy"}} {
		c, err := ReadChain(loadGraph(t, dir+tc.model))
		if err != nil {
			t.Fatalf("%s: %v", tc.model, err)
		}
		want, ws := readNpy(t, dir+tc.rates)
		hw, cells := ss[1]*ss[2], ws[1]
		const mean, std = 0.05, 0.8 // train/golden.py's normalisation, applied outside the graph
		worst := 0.0
		for row := c.History - 1; row < ss[0]; row++ {
			x := make([]float32, c.History*hw)
			for i, s := range stim[(row-c.History+1)*hw : (row+1)*hw] {
				x[i] = float32((float64(s) - mean) / std)
			}
			got := forward(c, x)
			for j := 0; j < cells; j++ {
				w := float64(want[row*cells+j])
				rel := math.Abs(got[j]-w) / math.Max(math.Abs(w), 1e-3)
				worst = math.Max(worst, rel)
				if rel > 1e-4 {
					t.Fatalf("%s: row %d cell %d: %v, PyTorch %v", tc.model, row, j, got[j], w)
				}
			}
		}
		t.Logf("%s: %d layers, worst relative error %.2g", tc.model, len(c.Layers), worst)
	}
}

func TestChainRefusals(t *testing.T) {
	base := func() *Graph { return loadGraph(t, "../torchimport/testdata/ln_torch.onnx") }
	for _, tc := range []struct {
		name string
		edit func(g *Graph)
		want string
	}{
		{"unknown op", func(g *Graph) { g.Nodes[0].Op = "LSTM" }, `node "/model/flatten/Flatten": operator LSTM is not supported`},
		{"custom domain", func(g *Graph) { g.Nodes[1].Domain = "com.microsoft" }, `domain "com.microsoft"`},
		{"two outputs", func(g *Graph) { g.Outputs = append(g.Outputs, g.Outputs[0]) }, "graph has 2 outputs"},
		{"bad input", func(g *Graph) { g.Inputs[0].Dims = []int64{-1, 8} }, `input "stimulus" has shape [-1 8]`},
		{"weight not constant", func(g *Graph) { g.Inits = g.Inits[1:] }, `weight "model.linear.weight" must be a constant`},
		{"bad metadata", func(g *Graph) { g.Meta = []Prop{{MetaNormStd, "zero"}} }, "metadata retinad.norm_std"},
		{"transA", func(g *Graph) { g.Nodes[1].Attrs = append(g.Nodes[1].Attrs, Attr{Name: "transA", Kind: AttrInt, I: 1}) }, "transA not supported"},
	} {
		g := base()
		tc.edit(g)
		_, err := ReadChain(g)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
	// A convolution must be valid, stride 1 and ungrouped, said however ONNX lets it be said.
	conv := func(g *Graph) *Node {
		for i := range g.Nodes {
			if g.Nodes[i].Op == "Conv" {
				return &g.Nodes[i]
			}
		}
		t.Fatal("no Conv in bncnn_torch.onnx")
		return nil
	}
	for _, tc := range []struct {
		name string
		attr Attr
		want string
	}{
		{"padded", Attr{Name: "pads", Kind: AttrInts, Ints: []int64{1, 1, 1, 1}}, "attribute pads = 0[1 1 1 1] not supported"},
		{"same", Attr{Name: "auto_pad", Kind: AttrString, S: "SAME_UPPER"}, "attribute auto_pad = 0[]SAME_UPPER not supported"},
		{"strided", Attr{Name: "strides", Kind: AttrInts, Ints: []int64{2, 2}}, "attribute strides"},
		{"grouped", Attr{Name: "group", Kind: AttrInt, I: 2}, "attribute group"},
	} {
		g := loadGraph(t, "../torchimport/testdata/bncnn_torch.onnx")
		c := conv(g)
		c.Attrs = append(c.Attrs, tc.attr)
		_, err := ReadChain(g)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}
