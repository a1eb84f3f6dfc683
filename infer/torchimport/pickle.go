package torchimport

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"reflect"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// newUnpickler knows the few non-torch classes a torch-deep-retina checkpoint pickles: numpy
// scalars (norm_stats), their dtypes, and _codecs.encode (how protocol 2 stores bytes). Nothing
// is executed: any other class becomes an inert generic object.
func newUnpickler(r io.Reader) pickle.Unpickler {
	u := pickle.NewUnpickler(r)
	u.FindClass = func(module, name string) (interface{}, error) {
		switch module + "." + name {
		case "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar":
			return npScalar{}, nil
		case "numpy.dtype":
			return npDtypeClass{}, nil
		case "_codecs.encode":
			return codecsEncode{}, nil
		case "__builtin__.set", "builtins.set":
			return setClass{}, nil
		case "torch._utils._rebuild_parameter":
			return rebuildParameter{}, nil
		}
		return &pyClass{Module: module, Name: name}, nil
	}
	return u
}

// pyClass stands for any other pickled class. Constructing it (NEWOBJ, or REDUCE as
// copyreg does) runs no code: it makes a pyObject that only records its class and the state
// BUILD gives it, which is how a whole-module torch.save keeps each module's __dict__
// (_parameters, _buffers, _modules and the constructor's attributes).
type pyClass struct{ Module, Name string }

// pyObject is an instance of a pyClass: its constructor arguments and pickled state.
type pyObject struct {
	Class *pyClass
	Args  []any
	State any
}

func (c *pyClass) PyNew(args ...any) (any, error) { return &pyObject{Class: c, Args: args}, nil }
func (c *pyClass) Call(args ...any) (any, error)  { return c.PyNew(args...) }

func (o *pyObject) PySetState(state any) error {
	o.State = state
	return nil
}

// attrs returns the object's __dict__ (BUILD state, or its dict half when slots are pickled).
func (o *pyObject) attrs() map[string]any {
	st := o.State
	if t, ok := st.(*types.Tuple); ok && t.Len() == 2 {
		st = t.Get(0)
	}
	m := map[string]any{}
	if dictInto(st, m) != nil {
		return nil
	}
	return m
}

// setClass rebuilds a Python set (protocol 2 pickles it as set([...])) as a types.Set.
type setClass struct{}

func (setClass) Call(args ...any) (any, error) {
	if len(args) == 0 {
		return types.NewSet(), nil
	}
	var xs []any
	switch x := args[0].(type) {
	case *types.List:
		xs = *x
	case *types.Tuple:
		xs = *x
	default:
		return nil, fmt.Errorf("set: argument %T, want a list", args[0])
	}
	for _, x := range xs {
		if x != nil && !reflect.TypeOf(x).Comparable() {
			return nil, fmt.Errorf("set: element %T is not hashable", x)
		}
	}
	return types.NewSetFromSlice(xs), nil
}

// rebuildParameter is torch._utils._rebuild_parameter(data, requires_grad, hooks): an
// nn.Parameter is its data tensor here.
type rebuildParameter struct{}

func (rebuildParameter) Call(args ...any) (any, error) {
	if len(args) < 1 {
		return nil, fmt.Errorf("torch._utils._rebuild_parameter: no arguments")
	}
	return args[0], nil
}

type codecsEncode struct{}

func (codecsEncode) Call(args ...interface{}) (interface{}, error) {
	if len(args) < 1 {
		return nil, fmt.Errorf("_codecs.encode: no arguments")
	}
	s, ok := args[0].(string)
	if !ok {
		return nil, fmt.Errorf("_codecs.encode: argument %T, want str", args[0])
	}
	if len(args) > 1 && args[1] != "latin1" && args[1] != "latin-1" {
		return nil, fmt.Errorf("_codecs.encode: encoding %v, want latin1", args[1])
	}
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 255 {
			return nil, fmt.Errorf("_codecs.encode: rune %U outside latin1", r)
		}
		b = append(b, byte(r))
	}
	return b, nil
}

// npDtype is a numpy dtype: kind and size as numpy spells them ("f4", "f8", "i8", ...), and
// the byte order from its pickled state ("<", ">", "|" or "=").
type npDtype struct {
	Str   string
	Order string
}

type npDtypeClass struct{}

func (npDtypeClass) Call(args ...interface{}) (interface{}, error) {
	if len(args) < 1 {
		return nil, fmt.Errorf("numpy.dtype: no arguments")
	}
	s, ok := args[0].(string)
	if !ok {
		return nil, fmt.Errorf("numpy.dtype: argument %T, want str", args[0])
	}
	return &npDtype{Str: s, Order: "<"}, nil
}

func (d *npDtype) PySetState(state interface{}) error {
	if t, ok := state.(*types.Tuple); ok && t.Len() > 1 {
		if o, ok := t.Get(1).(string); ok {
			d.Order = o
		}
	}
	return nil
}

// npScalar rebuilds a numpy scalar as a Go float64 (floats and integers).
type npScalar struct{}

func (npScalar) Call(args ...interface{}) (interface{}, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("numpy scalar: %d arguments, want 2", len(args))
	}
	d, ok := args[0].(*npDtype)
	if !ok {
		return nil, fmt.Errorf("numpy scalar: dtype %T", args[0])
	}
	var b []byte
	switch v := args[1].(type) {
	case []byte:
		b = v
	case string:
		b = []byte(v)
	default:
		return nil, fmt.Errorf("numpy scalar: data %T", args[1])
	}
	var order binary.ByteOrder = binary.LittleEndian
	if d.Order == ">" {
		order = binary.BigEndian
	}
	want := map[string]int{"f4": 4, "f8": 8, "i4": 4, "i8": 8, "u4": 4, "u8": 8, "f2": 2}[d.Str]
	if want == 0 || len(b) != want {
		return nil, fmt.Errorf("numpy scalar: dtype %q with %d bytes not supported", d.Str, len(b))
	}
	switch d.Str {
	case "f4":
		return float64(math.Float32frombits(order.Uint32(b))), nil
	case "f8":
		return math.Float64frombits(order.Uint64(b)), nil
	case "i4":
		return float64(int32(order.Uint32(b))), nil
	case "i8":
		return float64(int64(order.Uint64(b))), nil
	case "u4":
		return float64(order.Uint32(b)), nil
	case "u8":
		return float64(order.Uint64(b)), nil
	}
	return nil, fmt.Errorf("numpy scalar: dtype %q not supported", d.Str)
}
