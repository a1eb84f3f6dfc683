package onnx

import (
	"reflect"
	"strings"
	"testing"
)

func sampleGraph() *Graph {
	return &Graph{
		Name: "g", Opset: 13, Producer: "retinad", Meta: []Prop{{MetaFrameRate, "100"}},
		Inputs:  []ValueInfo{{Name: "x", Elem: TypeFloat, Dims: []int64{-1, 2, 3}, Param: []string{"N", "", ""}}},
		Outputs: []ValueInfo{{Name: "y", Elem: TypeFloat, Dims: []int64{-1, 4}, Param: []string{"N", ""}}},
		Inits: []*Tensor{
			{Name: "w", Type: TypeFloat, Dims: []int64{6, 4}, Float: []float32{1, -2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24.5}},
			{Name: "shape", Type: TypeInt64, Dims: []int64{2}, Int64: []int64{-1, 6}},
		},
		Nodes: []Node{
			{Name: "flat", Op: "Reshape", Inputs: []string{"x", "shape"}, Outputs: []string{"f"}},
			{Name: "dense", Op: "Gemm", Inputs: []string{"f", "w"}, Outputs: []string{"g"},
				Attrs: []Attr{{Name: "alpha", Kind: AttrFloat, F: 1}, {Name: "transB", Kind: AttrInt, I: 0},
					{Name: "ks", Kind: AttrInts, Ints: []int64{3, -3}}, {Name: "fs", Kind: AttrFloats, Floats: []float32{0.5}},
					{Name: "s", Kind: AttrString, S: "NOTSET"}}},
			{Name: "c", Op: "Constant", Outputs: []string{"k"}, Attrs: []Attr{{Name: "value", Kind: AttrTensor, T: &Tensor{Name: "v", Type: TypeFloat, Float: []float32{100}}}}},
			{Name: "out", Op: "Softplus", Inputs: []string{"g"}, Outputs: []string{"y"}},
		},
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	g := sampleGraph()
	got, err := Unmarshal(Marshal(g))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, g) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, g)
	}
}

func TestUnmarshalErrors(t *testing.T) {
	good := Marshal(sampleGraph())
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"truncated", good[:len(good)-3], "onnx:"},
		{"empty", nil, "onnx: model has no graph"},
		{"short tensor", Marshal(&Graph{Opset: 13, Inits: []*Tensor{{Name: "w", Type: TypeFloat, Dims: []int64{3}, Float: []float32{1}}}}), `onnx: initializer "w": 4 raw bytes for dims [3], want 12`},
	} {
		_, err := Unmarshal(tc.data)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

// FuzzUnmarshal checks that the reader never panics or over-allocates, and that whatever it
// accepts survives a Marshal/Unmarshal round trip.
func FuzzUnmarshal(f *testing.F) {
	f.Add(Marshal(sampleGraph()))
	f.Add([]byte{0x3a, 0x02, 0x0a, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Unmarshal(data)
		if err != nil {
			return
		}
		for _, n := range g.Nodes {
			for _, a := range n.Attrs {
				if a.Kind == AttrTensor && a.T == nil {
					return
				}
				if a.Kind != AttrFloat && a.Kind != AttrInt && a.Kind != AttrString && a.Kind != AttrFloats && a.Kind != AttrInts && a.Kind != AttrTensor {
					return // kinds Marshal does not write
				}
			}
		}
		if _, err := Unmarshal(Marshal(g)); err != nil {
			t.Fatalf("re-read of an accepted graph failed: %v", err)
		}
	})
}
