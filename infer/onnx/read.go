package onnx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// maxElems bounds one tensor's element count, so that a corrupt file cannot ask for gigabytes.
const maxElems = 1 << 28

// field is one decoded protobuf field: v for varint and fixed types, b for bytes.
type field struct {
	num protowire.Number
	typ protowire.Type
	v   uint64
	b   []byte
}

// fields calls f on each field of the message in b; what names the message in errors.
func fields(b []byte, what string, f func(field) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%s: bad field tag: %w", what, protowire.ParseError(n))
		}
		b = b[n:]
		fl := field{num: num, typ: typ}
		switch typ {
		case protowire.VarintType:
			fl.v, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(b)
			fl.v = uint64(v)
		case protowire.Fixed64Type:
			fl.v, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			fl.b, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("%s: field %d: %w", what, num, protowire.ParseError(n))
		}
		b = b[n:]
		if err := f(fl); err != nil {
			return err
		}
	}
	return nil
}

func wantBytes(fl field, what string) error {
	if fl.typ != protowire.BytesType {
		return fmt.Errorf("%s: field %d has wire type %d, want bytes", what, fl.num, fl.typ)
	}
	return nil
}

func wantVarint(fl field, what string) error {
	if fl.typ != protowire.VarintType {
		return fmt.Errorf("%s: field %d has wire type %d, want varint", what, fl.num, fl.typ)
	}
	return nil
}

// varints reads a repeated varint field, packed or not, appending to dst.
func varints(dst []int64, fl field, what string) ([]int64, error) {
	switch fl.typ {
	case protowire.VarintType:
		return append(dst, int64(fl.v)), nil
	case protowire.BytesType:
		b := fl.b
		for len(b) > 0 {
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, fmt.Errorf("%s: packed field %d: %w", what, fl.num, protowire.ParseError(n))
			}
			dst = append(dst, int64(v))
			b = b[n:]
		}
		return dst, nil
	}
	return nil, fmt.Errorf("%s: field %d has wire type %d, want varints", what, fl.num, fl.typ)
}

// floats reads a repeated float field, packed or not, appending to dst.
func floats(dst []float32, fl field, what string) ([]float32, error) {
	switch fl.typ {
	case protowire.Fixed32Type:
		return append(dst, math.Float32frombits(uint32(fl.v))), nil
	case protowire.BytesType:
		if len(fl.b)%4 != 0 {
			return nil, fmt.Errorf("%s: packed floats field %d has %d bytes, not a multiple of 4", what, fl.num, len(fl.b))
		}
		for i := 0; i < len(fl.b); i += 4 {
			dst = append(dst, math.Float32frombits(binary.LittleEndian.Uint32(fl.b[i:])))
		}
		return dst, nil
	}
	return nil, fmt.Errorf("%s: field %d has wire type %d, want floats", what, fl.num, fl.typ)
}

// Unmarshal decodes an ONNX ModelProto into a Graph. Only the default ("" or "ai.onnx")
// domain is accepted; tensors must be float32, float64 (converted) or int64, stored inline.
func Unmarshal(data []byte) (*Graph, error) {
	g := &Graph{Opset: -1}
	var sawGraph bool
	err := fields(data, "onnx: model", func(fl field) error {
		switch fl.num {
		case modelProducer:
			if err := wantBytes(fl, "onnx: model"); err != nil {
				return err
			}
			g.Producer = string(fl.b)
		case modelGraph:
			if err := wantBytes(fl, "onnx: model"); err != nil {
				return err
			}
			sawGraph = true
			return readGraph(g, fl.b)
		case modelMeta:
			if err := wantBytes(fl, "onnx: model"); err != nil {
				return err
			}
			var p Prop
			err := fields(fl.b, "onnx: metadata_props", func(f field) error {
				if f.num != propKey && f.num != propValue {
					return nil
				}
				if err := wantBytes(f, "onnx: metadata_props"); err != nil {
					return err
				}
				if f.num == propKey {
					p.Key = string(f.b)
				} else {
					p.Value = string(f.b)
				}
				return nil
			})
			g.Meta = append(g.Meta, p)
			return err
		case modelOpsetImprt:
			if err := wantBytes(fl, "onnx: model"); err != nil {
				return err
			}
			var domain string
			var version int64
			err := fields(fl.b, "onnx: opset_import", func(f field) error {
				switch f.num {
				case opsetDomain:
					if err := wantBytes(f, "onnx: opset_import"); err != nil {
						return err
					}
					domain = string(f.b)
				case opsetVersion:
					if err := wantVarint(f, "onnx: opset_import"); err != nil {
						return err
					}
					version = int64(f.v)
				}
				return nil
			})
			if err != nil {
				return err
			}
			if domain == "" || domain == "ai.onnx" {
				g.Opset = version
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !sawGraph {
		return nil, errors.New("onnx: model has no graph")
	}
	if g.Opset < 0 {
		return nil, errors.New("onnx: model imports no opset of the default domain")
	}
	return g, nil
}

func readGraph(g *Graph, b []byte) error {
	return fields(b, "onnx: graph", func(fl field) error {
		switch fl.num {
		case graphNode, graphName, graphInit, graphInput, graphOutput:
			if err := wantBytes(fl, "onnx: graph"); err != nil {
				return err
			}
		}
		switch fl.num {
		case graphNode:
			n, err := readNode(fl.b, len(g.Nodes))
			if err != nil {
				return err
			}
			g.Nodes = append(g.Nodes, n)
		case graphName:
			g.Name = string(fl.b)
		case graphInit:
			t, err := readTensor(fl.b)
			if err != nil {
				return err
			}
			g.Inits = append(g.Inits, t)
		case graphInput, graphOutput:
			v, err := readValueInfo(fl.b)
			if err != nil {
				return err
			}
			if fl.num == graphInput {
				g.Inputs = append(g.Inputs, v)
			} else {
				g.Outputs = append(g.Outputs, v)
			}
		}
		return nil
	})
}

func readNode(b []byte, index int) (Node, error) {
	var n Node
	what := fmt.Sprintf("onnx: node %d", index)
	err := fields(b, what, func(fl field) error {
		switch fl.num {
		case nodeInput, nodeOutput, nodeName, nodeOp, nodeAttr, nodeDomain:
			if err := wantBytes(fl, what); err != nil {
				return err
			}
		}
		switch fl.num {
		case nodeInput:
			n.Inputs = append(n.Inputs, string(fl.b))
		case nodeOutput:
			n.Outputs = append(n.Outputs, string(fl.b))
		case nodeName:
			n.Name = string(fl.b)
		case nodeOp:
			n.Op = string(fl.b)
		case nodeDomain:
			n.Domain = string(fl.b)
		case nodeAttr:
			a, err := readAttr(fl.b, what)
			if err != nil {
				return err
			}
			n.Attrs = append(n.Attrs, a)
		}
		return nil
	})
	if err != nil {
		return n, err
	}
	if n.Name == "" {
		n.Name = fmt.Sprintf("#%d", index)
	}
	return n, nil
}

func readAttr(b []byte, node string) (Attr, error) {
	var a Attr
	what := node + " attribute"
	var kinds []int32 // kinds implied by the fields present, for files without a type field
	err := fields(b, what, func(fl field) error {
		var err error
		switch fl.num {
		case attrName:
			if err = wantBytes(fl, what); err == nil {
				a.Name = string(fl.b)
			}
		case attrType:
			if err = wantVarint(fl, what); err == nil {
				a.Kind = int32(fl.v)
			}
		case attrF:
			if fl.typ != protowire.Fixed32Type {
				return fmt.Errorf("%s: field f has wire type %d, want fixed32", what, fl.typ)
			}
			a.F = math.Float32frombits(uint32(fl.v))
			kinds = append(kinds, AttrFloat)
		case attrI:
			if err = wantVarint(fl, what); err == nil {
				a.I = int64(fl.v)
				kinds = append(kinds, AttrInt)
			}
		case attrS:
			if err = wantBytes(fl, what); err == nil {
				a.S = string(fl.b)
				kinds = append(kinds, AttrString)
			}
		case attrT:
			if err = wantBytes(fl, what); err == nil {
				a.T, err = readTensor(fl.b)
				kinds = append(kinds, AttrTensor)
			}
		case attrFloats:
			a.Floats, err = floats(a.Floats, fl, what)
			kinds = append(kinds, AttrFloats)
		case attrInts:
			a.Ints, err = varints(a.Ints, fl, what)
			kinds = append(kinds, AttrInts)
		}
		return err
	})
	if err != nil {
		return a, err
	}
	if a.Kind == 0 && len(kinds) > 0 {
		a.Kind = kinds[0]
	}
	return a, nil
}

func readTensor(b []byte) (*Tensor, error) {
	t := &Tensor{}
	var raw []byte
	var doubles []float64
	var external bool
	what := "onnx: initializer"
	err := fields(b, what, func(fl field) error {
		var err error
		switch fl.num {
		case tensorDims:
			t.Dims, err = varints(t.Dims, fl, what)
		case tensorType:
			if err = wantVarint(fl, what); err == nil {
				t.Type = int32(fl.v)
			}
		case tensorName:
			if err = wantBytes(fl, what); err == nil {
				t.Name = string(fl.b)
				what = fmt.Sprintf("onnx: initializer %q", t.Name)
			}
		case tensorRaw:
			if err = wantBytes(fl, what); err == nil {
				raw = fl.b
			}
		case tensorFloats:
			t.Float, err = floats(t.Float, fl, what)
		case tensorInt64s:
			t.Int64, err = varints(t.Int64, fl, what)
		case tensorDouble:
			switch fl.typ {
			case protowire.Fixed64Type:
				doubles = append(doubles, math.Float64frombits(fl.v))
			case protowire.BytesType:
				if len(fl.b)%8 != 0 {
					return fmt.Errorf("%s: packed doubles of %d bytes", what, len(fl.b))
				}
				for i := 0; i < len(fl.b); i += 8 {
					doubles = append(doubles, math.Float64frombits(binary.LittleEndian.Uint64(fl.b[i:])))
				}
			default:
				return fmt.Errorf("%s: double_data has wire type %d", what, fl.typ)
			}
		case tensorLoc:
			if fl.typ == protowire.VarintType && fl.v == 1 {
				external = true
			}
		case tensorExtern:
			external = true
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if external {
		return nil, fmt.Errorf("%s: data stored in an external file; save the model with its weights inside", what)
	}
	n := int64(1)
	for _, d := range t.Dims {
		if d < 0 || d > maxElems || n*d > maxElems {
			return nil, fmt.Errorf("%s: bad dims %v", what, t.Dims)
		}
		n *= d
	}
	switch t.Type {
	case TypeFloat:
		if raw != nil {
			if len(raw) != 4*int(n) {
				return nil, fmt.Errorf("%s: %d raw bytes for dims %v, want %d", what, len(raw), t.Dims, 4*n)
			}
			t.Float = make([]float32, n)
			for i := range t.Float {
				t.Float[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
		}
		if len(t.Float) != int(n) {
			return nil, fmt.Errorf("%s: %d floats for dims %v, want %d", what, len(t.Float), t.Dims, n)
		}
	case TypeDouble:
		if raw != nil {
			if len(raw) != 8*int(n) {
				return nil, fmt.Errorf("%s: %d raw bytes for dims %v, want %d", what, len(raw), t.Dims, 8*n)
			}
			doubles = make([]float64, n)
			for i := range doubles {
				doubles[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
			}
		}
		if len(doubles) != int(n) {
			return nil, fmt.Errorf("%s: %d doubles for dims %v, want %d", what, len(doubles), t.Dims, n)
		}
		t.Type = TypeFloat
		t.Float = make([]float32, n)
		for i, d := range doubles {
			t.Float[i] = float32(d)
		}
	case TypeInt64:
		if raw != nil {
			if len(raw) != 8*int(n) {
				return nil, fmt.Errorf("%s: %d raw bytes for dims %v, want %d", what, len(raw), t.Dims, 8*n)
			}
			t.Int64 = make([]int64, n)
			for i := range t.Int64 {
				t.Int64[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
			}
		}
		if len(t.Int64) != int(n) {
			return nil, fmt.Errorf("%s: %d int64s for dims %v, want %d", what, len(t.Int64), t.Dims, n)
		}
	default:
		return nil, fmt.Errorf("%s: element type %d not supported (want float32, float64 or int64)", what, t.Type)
	}
	return t, nil
}

func readValueInfo(b []byte) (ValueInfo, error) {
	var v ValueInfo
	what := "onnx: graph input/output"
	err := fields(b, what, func(fl field) error {
		switch fl.num {
		case valueName:
			if err := wantBytes(fl, what); err != nil {
				return err
			}
			v.Name = string(fl.b)
		case valueType:
			if err := wantBytes(fl, what); err != nil {
				return err
			}
			return fields(fl.b, what+" type", func(f field) error {
				if f.num != typeTensor {
					return nil
				}
				if err := wantBytes(f, what); err != nil {
					return err
				}
				return fields(f.b, what+" tensor type", func(f field) error {
					switch f.num {
					case ttElem:
						if err := wantVarint(f, what); err != nil {
							return err
						}
						v.Elem = int32(f.v)
					case ttShape:
						if err := wantBytes(f, what); err != nil {
							return err
						}
						return fields(f.b, what+" shape", func(f field) error {
							if f.num != shapeDim {
								return nil
							}
							if err := wantBytes(f, what); err != nil {
								return err
							}
							d, p := int64(-1), ""
							err := fields(f.b, what+" dim", func(f field) error {
								switch f.num {
								case dimValue:
									if f.typ == protowire.VarintType {
										d = int64(f.v)
									}
								case dimParam:
									if f.typ == protowire.BytesType {
										p = string(f.b)
									}
								}
								return nil
							})
							v.Dims = append(v.Dims, d)
							v.Param = append(v.Param, p)
							return err
						})
					}
					return nil
				})
			})
		}
		return nil
	})
	return v, err
}
