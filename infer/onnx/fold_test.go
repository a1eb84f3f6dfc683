package onnx

import (
	"strings"
	"testing"
)

// flatGraph is stimulus [batch, 2, 4, 4] -> <reshape nodes> -> Gemm [3 x 32] -> "rates": the
// nodes under test compute the value "flat" from "stimulus".
func flatGraph(batch int64, nodes ...Node) *Graph {
	w := make([]float32, 3*32)
	for i := range w {
		w[i] = float32(i%7) - 3
	}
	g := &Graph{
		Name:    "fold",
		Inputs:  []ValueInfo{{Name: "stimulus", Elem: TypeFloat, Dims: []int64{batch, 2, 4, 4}}},
		Outputs: []ValueInfo{{Name: "rates", Elem: TypeFloat, Dims: []int64{batch, 3}}},
		Inits: []*Tensor{{Name: "w", Type: TypeFloat, Dims: []int64{3, 32}, Float: w},
			{Name: "zero", Type: TypeInt64, Int64: []int64{0}},
			{Name: "zeros", Type: TypeInt64, Dims: []int64{1}, Int64: []int64{0}},
			{Name: "minus1", Type: TypeInt64, Dims: []int64{1}, Int64: []int64{-1}},
			{Name: "one", Type: TypeInt64, Dims: []int64{1}, Int64: []int64{1}},
			{Name: "big", Type: TypeInt64, Dims: []int64{1}, Int64: []int64{99}}},
	}
	g.Nodes = append(nodes, Node{Name: "gemm", Op: "Gemm", Inputs: []string{"flat", "w"}, Outputs: []string{"rates"},
		Attrs: []Attr{{Name: "transB", Kind: AttrInt, I: 1}}})
	return g
}

func node(name, op string, in []string, attrs ...Attr) Node {
	return Node{Name: name, Op: op, Inputs: in, Outputs: []string{name}, Attrs: attrs}
}

func shapeConst(name string, v ...int64) Node {
	return Node{Name: name, Op: "Constant", Outputs: []string{name},
		Attrs: []Attr{{Name: "value", Kind: AttrTensor, T: &Tensor{Type: TypeInt64, Dims: []int64{int64(len(v))}, Int64: v}}}}
}

func reshapeTo(shape string) Node {
	return Node{Name: "reshape", Op: "Reshape", Inputs: []string{"stimulus", shape}, Outputs: []string{"flat"}}
}

// TestFoldShapeSubgraphs: the spellings exporters use for "flatten all but the batch axis"
// all read as one Dense layer over the 32 inputs.
func TestFoldShapeSubgraphs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		batch int64
		nodes []Node
	}{
		{"x.view(x.size(0), -1)", -1, []Node{
			node("shape", "Shape", []string{"stimulus"}),
			node("gather", "Gather", []string{"shape", "zero"}, Attr{Name: "axis", Kind: AttrInt}),
			node("unsq", "Unsqueeze", []string{"gather", "zeros"}),
			node("concat", "Concat", []string{"unsq", "minus1"}, Attr{Name: "axis", Kind: AttrInt}),
			reshapeTo("concat")}},
		{"opset 11 Unsqueeze attribute and Cast", -1, []Node{
			node("shape", "Shape", []string{"stimulus"}),
			node("gather", "Gather", []string{"shape", "zero"}),
			node("cast", "Cast", []string{"gather"}, Attr{Name: "to", Kind: AttrInt, I: 7}),
			node("unsq", "Unsqueeze", []string{"cast"}, Attr{Name: "axes", Kind: AttrInts, Ints: []int64{0}}),
			node("concat", "Concat", []string{"unsq", "minus1"}, Attr{Name: "axis", Kind: AttrInt}),
			reshapeTo("concat")}},
		{"size(1)*size(2)*size(3) via Slice and Mul", -1, []Node{
			node("shape", "Shape", []string{"stimulus"}),
			node("batch", "Slice", []string{"shape", "zeros", "one"}),
			node("rest", "Slice", []string{"shape", "one", "big"}),
			node("c", "Gather", []string{"rest", "zero"}),
			shapeConst("i1", 1), shapeConst("i2", 2),
			node("h", "Gather", []string{"rest", "i1"}),
			node("wd", "Gather", []string{"rest", "i2"}),
			node("ch", "Mul", []string{"c", "h"}),
			node("chw", "Mul", []string{"ch", "wd"}),
			node("concat", "Concat", []string{"batch", "chw"}, Attr{Name: "axis", Kind: AttrInt}),
			reshapeTo("concat")}},
		{"Reshape [0 -1]", -1, []Node{shapeConst("s", 0, -1), reshapeTo("s")}},
		{"Reshape [-1 32]", -1, []Node{shapeConst("s", -1, 32), reshapeTo("s")}},
		{"static batch Reshape [2 -1]", 2, []Node{shapeConst("s", 2, -1), reshapeTo("s")}},
		{"Flatten axis -3", -1, []Node{{Name: "flatten", Op: "Flatten", Inputs: []string{"stimulus"}, Outputs: []string{"flat"},
			Attrs: []Attr{{Name: "axis", Kind: AttrInt, I: -3}}}}},
	} {
		c, err := ReadChain(flatGraph(tc.batch, tc.nodes...))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if len(c.Layers) != 1 || c.Layers[0].Kind != Dense || c.Layers[0].In[0] != 32 || c.Cells != 3 {
			t.Errorf("%s: layers %+v cells %d, want one Dense 32 -> 3", tc.name, c.Layers, c.Cells)
		}
	}
}

// TestFoldRefusals: what does not fold, or folds to something other than keeping the batch
// axis, is refused naming the node and the reason.
func TestFoldRefusals(t *testing.T) {
	gatherBatch := []Node{
		node("shape", "Shape", []string{"stimulus"}),
		node("gather", "Gather", []string{"shape", "zero"}),
		node("unsq", "Unsqueeze", []string{"gather", "zeros"}),
	}
	for _, tc := range []struct {
		name  string
		batch int64
		nodes []Node
		want  string
	}{
		{"batch in arithmetic", -1, append(gatherBatch[:2:2],
			node("twice", "Mul", []string{"gather", "zero"})),
			`node "twice" (Mul): arithmetic on the batch size does not fold`},
		{"batch twice", -1, append(gatherBatch[:3:3],
			node("concat", "Concat", []string{"unsq", "unsq"}), reshapeTo("concat")),
			`node "reshape" (Reshape): shape [N N]: dimension 1 = N cannot be resolved`},
		{"batch folded into a row", -1, []Node{shapeConst("s", 4, -1), reshapeTo("s")},
			`node "reshape" (Reshape): shape [4 -1] must keep the batch dimension`},
		{"static batch, other first dim", 2, []Node{shapeConst("s", 1, -1), reshapeTo("s")},
			`shape [1 -1] must keep the batch dimension`},
		{"two inferred", -1, []Node{shapeConst("s", -1, -1), reshapeTo("s")},
			`dimension 1 = -1 cannot be resolved`},
		{"index outside", -1, []Node{node("shape", "Shape", []string{"stimulus"}), node("gather", "Gather", []string{"shape", "big"})},
			`node "gather" (Gather): index 99 outside 4 values`},
		{"gather on data", -1, []Node{node("g", "Gather", []string{"stimulus", "zero"})},
			`node "g": operator Gather is not supported`},
		{"real computation", -1, []Node{node("pool", "MaxPool", []string{"stimulus"})},
			`node "pool": operator MaxPool is not supported`},
	} {
		_, err := ReadChain(flatGraph(tc.batch, tc.nodes...))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}
