// Package onnx reads and writes ONNX model files (IR version 7, opset 13) for retinad's models,
// with no dependency on the ONNX libraries: the few protobuf messages involved (ModelProto,
// GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto) are encoded and decoded
// by hand with protowire.
//
// Marshal and Unmarshal convert between bytes and Graph, a plain description of one graph in
// the default domain. Unmarshal is a pure function of its input, fuzzed, and refuses what it
// cannot represent (external data, element types other than float32/float64/int64) with an
// error naming the initializer or node.
//
// Every function may be called from any goroutine; nothing here keeps state. Tensors are in
// row-major order; model inputs are stimulus contrast [N, history, H, W] (and, for a GLM with
// spike history, the counts of the bins before, spikes [N, cells, L]: see glm.go; for a
// recurrent model, its conv-GRU's state [N, hidden, h, w]: see gru.go), outputs firing rates
// in spikes per second [N, cells] (and a recurrent model's next state).
package onnx
