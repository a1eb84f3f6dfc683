package onnx

// Graph is the subset of an ONNX model that retinad reads and writes: one graph of nodes in
// the default domain, float32 (and int64) initialisers, and the graph's inputs and outputs.
type Graph struct {
	Name     string
	Opset    int64 // default-domain opset version (13 when exporting)
	Producer string
	Inputs   []ValueInfo
	Outputs  []ValueInfo
	Inits    []*Tensor
	Nodes    []Node
	// Meta is the model's metadata_props: retinad stores the input spec there (MetaFrameRate,
	// MetaNormMean, MetaNormStd), which ONNX itself has no field for.
	Meta []Prop
}

// Prop is one metadata_props entry.
type Prop struct{ Key, Value string }

// Metadata keys retinad writes and reads.
const (
	MetaFrameRate = "retinad.frame_rate" // bins per second, decimal
	MetaNormMean  = "retinad.norm_mean"  // stimulus normalisation x' = (x - mean) / std
	MetaNormStd   = "retinad.norm_std"
)

// MetaValue returns the metadata value for key.
func (g *Graph) MetaValue(key string) (string, bool) {
	for _, p := range g.Meta {
		if p.Key == key {
			return p.Value, true
		}
	}
	return "", false
}

// ValueInfo names a graph input or output and its shape; a dimension < 0 is symbolic (Param).
type ValueInfo struct {
	Name  string
	Elem  int32 // ONNX element type, TypeFloat for every value retinad uses
	Dims  []int64
	Param []string // symbolic name of a dimension whose Dims entry is < 0, else ""
}

// Tensor is a constant: float32 data (Type TypeFloat) or int64 data (Type TypeInt64).
type Tensor struct {
	Name  string
	Type  int32
	Dims  []int64
	Float []float32
	Int64 []int64
}

// Node is one operator application.
type Node struct {
	Name    string
	Op      string
	Domain  string
	Inputs  []string
	Outputs []string
	Attrs   []Attr
}

// Attr is a node attribute; Kind says which field holds its value.
type Attr struct {
	Name   string
	Kind   int32 // AttrFloat, AttrInt, AttrString, AttrFloats or AttrInts (others are refused)
	F      float32
	I      int64
	S      string
	Floats []float32
	Ints   []int64
	T      *Tensor
}

// ONNX element types and attribute kinds (onnx.proto TensorProto.DataType, AttributeType).
const (
	TypeFloat  int32 = 1
	TypeInt64  int32 = 7
	TypeDouble int32 = 11

	AttrFloat   int32 = 1
	AttrInt     int32 = 2
	AttrString  int32 = 3
	AttrTensor  int32 = 4
	AttrFloats  int32 = 6
	AttrInts    int32 = 7
	AttrStrings int32 = 8
)

// Len is the number of elements the tensor's dims call for.
func (t *Tensor) Len() int {
	n := 1
	for _, d := range t.Dims {
		n *= int(d)
	}
	return n
}

// Attr returns the node's attribute of that name.
func (n *Node) Attr(name string) (Attr, bool) {
	for _, a := range n.Attrs {
		if a.Name == name {
			return a, true
		}
	}
	return Attr{}, false
}

// Init returns the initialiser of that name, or nil.
func (g *Graph) Init(name string) *Tensor {
	for _, t := range g.Inits {
		if t.Name == name {
			return t
		}
	}
	return nil
}
