package onnx

import (
	"encoding/binary"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of onnx.proto (ONNX IR version 7, opset 13), for the messages retinad uses.
const (
	modelIRVersion  = 1
	modelProducer   = 2
	modelProducerV  = 3
	modelGraph      = 7
	modelOpsetImprt = 8
	modelMeta       = 14

	propKey   = 1
	propValue = 2

	opsetDomain  = 1
	opsetVersion = 2

	graphNode   = 1
	graphName   = 2
	graphInit   = 5
	graphInput  = 11
	graphOutput = 12

	nodeInput  = 1
	nodeOutput = 2
	nodeName   = 3
	nodeOp     = 4
	nodeAttr   = 5
	nodeDomain = 7

	attrName   = 1
	attrF      = 2
	attrI      = 3
	attrS      = 4
	attrT      = 5
	attrFloats = 7
	attrInts   = 8
	attrType   = 20

	tensorDims   = 1
	tensorType   = 2
	tensorFloats = 4
	tensorInt64s = 7
	tensorName   = 8
	tensorRaw    = 9
	tensorDouble = 10
	tensorExtern = 13
	tensorLoc    = 14

	valueName = 1
	valueType = 2

	typeTensor = 1

	ttElem  = 1
	ttShape = 2

	shapeDim = 1

	dimValue = 1
	dimParam = 2
)

// irVersion is the ONNX IR version written: 7 goes with opset 13.
const irVersion = 7

// Marshal encodes g as an ONNX ModelProto.
func Marshal(g *Graph) []byte {
	var b []byte
	b = protowire.AppendTag(b, modelIRVersion, protowire.VarintType)
	b = protowire.AppendVarint(b, irVersion)
	if g.Producer != "" {
		b = appendString(b, modelProducer, g.Producer)
	}
	b = appendMessage(b, modelGraph, appendGraph(nil, g))
	var op []byte
	op = appendString(op, opsetDomain, "")
	op = protowire.AppendTag(op, opsetVersion, protowire.VarintType)
	op = protowire.AppendVarint(op, uint64(g.Opset))
	b = appendMessage(b, modelOpsetImprt, op)
	for _, p := range g.Meta {
		var m []byte
		m = appendString(m, propKey, p.Key)
		m = appendString(m, propValue, p.Value)
		b = appendMessage(b, modelMeta, m)
	}
	return b
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendMessage(b []byte, num protowire.Number, m []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, m)
}

func appendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendGraph(b []byte, g *Graph) []byte {
	for i := range g.Nodes {
		b = appendMessage(b, graphNode, appendNode(nil, &g.Nodes[i]))
	}
	b = appendString(b, graphName, g.Name)
	for _, t := range g.Inits {
		b = appendMessage(b, graphInit, appendTensor(nil, t))
	}
	for i := range g.Inputs {
		b = appendMessage(b, graphInput, appendValueInfo(nil, &g.Inputs[i]))
	}
	for i := range g.Outputs {
		b = appendMessage(b, graphOutput, appendValueInfo(nil, &g.Outputs[i]))
	}
	return b
}

func appendNode(b []byte, n *Node) []byte {
	for _, in := range n.Inputs {
		b = appendString(b, nodeInput, in)
	}
	for _, out := range n.Outputs {
		b = appendString(b, nodeOutput, out)
	}
	if n.Name != "" {
		b = appendString(b, nodeName, n.Name)
	}
	b = appendString(b, nodeOp, n.Op)
	for i := range n.Attrs {
		b = appendMessage(b, nodeAttr, appendAttr(nil, &n.Attrs[i]))
	}
	if n.Domain != "" {
		b = appendString(b, nodeDomain, n.Domain)
	}
	return b
}

func appendAttr(b []byte, a *Attr) []byte {
	b = appendString(b, attrName, a.Name)
	switch a.Kind {
	case AttrFloat:
		b = protowire.AppendTag(b, attrF, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(a.F))
	case AttrInt:
		b = appendVarintField(b, attrI, uint64(a.I))
	case AttrString:
		b = appendString(b, attrS, a.S)
	case AttrFloats:
		var p []byte
		for _, f := range a.Floats {
			p = protowire.AppendFixed32(p, math.Float32bits(f))
		}
		b = appendMessage(b, attrFloats, p)
	case AttrTensor:
		b = appendMessage(b, attrT, appendTensor(nil, a.T))
	case AttrInts:
		var p []byte
		for _, v := range a.Ints {
			p = protowire.AppendVarint(p, uint64(v))
		}
		b = appendMessage(b, attrInts, p)
	default:
		panic(fmt.Sprintf("onnx: attribute %q has unsupported kind %d", a.Name, a.Kind))
	}
	return appendVarintField(b, attrType, uint64(a.Kind))
}

func appendTensor(b []byte, t *Tensor) []byte {
	if len(t.Dims) > 0 {
		var p []byte
		for _, d := range t.Dims {
			p = protowire.AppendVarint(p, uint64(d))
		}
		b = appendMessage(b, tensorDims, p)
	}
	b = appendVarintField(b, tensorType, uint64(t.Type))
	b = appendString(b, tensorName, t.Name)
	var raw []byte
	switch t.Type {
	case TypeFloat:
		raw = make([]byte, 4*len(t.Float))
		for i, f := range t.Float {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(f))
		}
	case TypeInt64:
		raw = make([]byte, 8*len(t.Int64))
		for i, v := range t.Int64 {
			binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
		}
	default:
		panic(fmt.Sprintf("onnx: tensor %q has unsupported type %d", t.Name, t.Type))
	}
	return appendMessage(b, tensorRaw, raw)
}

func appendValueInfo(b []byte, v *ValueInfo) []byte {
	b = appendString(b, valueName, v.Name)
	var shape []byte
	for i, d := range v.Dims {
		var dim []byte
		if d >= 0 {
			dim = appendVarintField(dim, dimValue, uint64(d))
		} else {
			p := "N"
			if i < len(v.Param) && v.Param[i] != "" {
				p = v.Param[i]
			}
			dim = appendString(dim, dimParam, p)
		}
		shape = appendMessage(shape, shapeDim, dim)
	}
	var tt []byte
	tt = appendVarintField(tt, ttElem, uint64(v.Elem))
	tt = appendMessage(tt, ttShape, shape)
	var typ []byte
	typ = appendMessage(typ, typeTensor, tt)
	return appendMessage(b, valueType, typ)
}
