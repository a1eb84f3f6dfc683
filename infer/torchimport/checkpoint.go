package torchimport

import (
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/nlpodyssey/gopickle/pytorch"
	"github.com/nlpodyssey/gopickle/types"
)

// Tensor is one state_dict entry: its shape and its values in row-major order.
type Tensor struct {
	Shape []int
	Data  []float32
}

// Checkpoint is what a torch-deep-retina checkpoint holds that retinad needs.
type Checkpoint struct {
	ModelType string             // e.g. "BNCNN"
	State     map[string]*Tensor // model_state_dict, by key ("sequential.0.weight", ...)
	Keys      []string           // State's keys in file order
	Hyps      map[string]any     // architecture kwargs from "hyps" or "model_hyps"
	NormMean  float64            // stimulus normalisation: x' = (x - NormMean) / NormStd
	NormStd   float64
	HasNorm   bool    // the checkpoint holds norm_stats (else NormMean 0, NormStd 1)
	FrameRate float64 // bins per second, if the checkpoint says (0 when it does not)
}

// Read loads a torch.save file (zip or legacy format) holding a torch-deep-retina checkpoint
// dict, or a whole module saved with torch.save(model) (see fromModule). Optimiser state and
// other keys are ignored.
func Read(path string) (*Checkpoint, error) {
	if err := sniff(path); err != nil {
		return nil, err
	}
	v, err := load(path)
	if err != nil {
		return nil, fmt.Errorf("torchimport: %s: %w", path, err)
	}
	if o, ok := v.(*pyObject); ok {
		ck, err := fromModule(o)
		if err != nil {
			return nil, fmt.Errorf("torchimport: %s: whole-module save of %s.%s: %w", path, o.Class.Module, o.Class.Name, err)
		}
		return ck, nil
	}
	d, ok := v.(*types.Dict)
	if !ok {
		return nil, fmt.Errorf("torchimport: %s: top-level object is %s, want a dict with model_type and model_state_dict", path, pyType(v))
	}
	ck := &Checkpoint{State: map[string]*Tensor{}, Hyps: map[string]any{}, NormStd: 1}
	fail := func(format string, args ...any) (*Checkpoint, error) {
		return nil, fmt.Errorf("torchimport: %s: %s", path, fmt.Sprintf(format, args...))
	}
	if mt, ok := d.Get("model_type"); ok {
		s, ok := mt.(string)
		if !ok {
			return fail("model_type is %s, want a string", pyType(mt))
		}
		ck.ModelType = s
	} else {
		return fail("no model_type key")
	}
	sd, ok := d.Get("model_state_dict")
	if !ok {
		return fail("no model_state_dict key")
	}
	if err := ck.readState(sd); err != nil {
		return fail("model_state_dict: %v", err)
	}
	hv, ok := d.Get("hyps")
	if !ok {
		hv, ok = d.Get("model_hyps")
	}
	if ok {
		if err := dictInto(hv, ck.Hyps); err != nil {
			return fail("hyps: %v", err)
		}
	}
	if ns, ok := d.Get("norm_stats"); ok && ns != nil {
		m := map[string]any{}
		if err := dictInto(ns, m); err != nil {
			return fail("norm_stats: %v", err)
		}
		for key, dst := range map[string]*float64{"mean": &ck.NormMean, "std": &ck.NormStd} {
			x, ok := m[key]
			if !ok {
				return fail("norm_stats has no %q", key)
			}
			f, err := number(x)
			if err != nil {
				return fail("norm_stats[%q]: %v", key, err)
			}
			*dst = f
		}
		ck.HasNorm = true
		if !(ck.NormStd > 0) || math.IsInf(ck.NormStd, 0) || math.IsNaN(ck.NormMean) || math.IsInf(ck.NormMean, 0) {
			return fail("norm_stats mean %v, std %v: want finite mean and positive std", ck.NormMean, ck.NormStd)
		}
	}
	if fr, ok := d.Get("frame_rate"); ok {
		f, err := number(fr)
		if err != nil || !(f > 0) {
			return fail("frame_rate %v: want a positive number", fr)
		}
		ck.FrameRate = f
	}
	return ck, nil
}

// load unpickles path with gopickle, whose decoder indexes its opcode table with the file's
// bytes and panics on some malformed files (FuzzRead found "\x80\x02\xff"): that panic is
// the library's, on bad input, so it becomes an error here.
func load(path string) (v any, err error) {
	defer func() {
		if p := recover(); p != nil {
			v, err = nil, fmt.Errorf("malformed pickle (the unpickler failed: %v)", p)
		}
	}()
	return pytorch.LoadWithUnpickler(path, newUnpickler)
}

func (ck *Checkpoint) readState(v any) error {
	add := func(k any, val any) error {
		key, ok := k.(string)
		if !ok {
			return fmt.Errorf("key %v is %s, want a string", k, pyType(k))
		}
		t, ok := val.(*pytorch.Tensor)
		if !ok {
			return fmt.Errorf("%s is %s, want a tensor", key, pyType(val))
		}
		data, err := tensorData(t)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		ck.State[key] = &Tensor{Shape: append([]int(nil), t.Size...), Data: data}
		ck.Keys = append(ck.Keys, key)
		return nil
	}
	switch m := v.(type) {
	case *types.OrderedDict:
		for e := m.List.Front(); e != nil; e = e.Next() {
			en := e.Value.(*types.OrderedDictEntry)
			if err := add(en.Key, en.Value); err != nil {
				return err
			}
		}
	case *types.Dict:
		for _, en := range *m {
			if err := add(en.Key, en.Value); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("is %s, want a dict of tensors", pyType(v))
	}
	return nil
}

// tensorData copies a (possibly strided) tensor into row-major float32.
func tensorData(t *pytorch.Tensor) ([]float32, error) {
	var get func(i int) (float64, bool)
	var n int
	switch s := t.Source.(type) {
	case *pytorch.FloatStorage:
		n, get = len(s.Data), func(i int) (float64, bool) { return float64(s.Data[i]), true }
	case *pytorch.DoubleStorage:
		n, get = len(s.Data), func(i int) (float64, bool) { return s.Data[i], true }
	case *pytorch.HalfStorage:
		n, get = len(s.Data), func(i int) (float64, bool) { return float64(s.Data[i]), true }
	case *pytorch.LongStorage:
		n, get = len(s.Data), func(i int) (float64, bool) { return float64(s.Data[i]), true }
	case *pytorch.IntStorage:
		n, get = len(s.Data), func(i int) (float64, bool) { return float64(s.Data[i]), true }
	default:
		return nil, fmt.Errorf("storage %T not supported (want float, double, half, long or int)", t.Source)
	}
	if len(t.Stride) != len(t.Size) {
		return nil, fmt.Errorf("%d strides for %d dims", len(t.Stride), len(t.Size))
	}
	count := 1
	for _, s := range t.Size {
		if s < 0 || (s > 0 && count > math.MaxInt32/s) {
			return nil, fmt.Errorf("bad shape %v", t.Size)
		}
		count *= s
	}
	out := make([]float32, count)
	idx := make([]int, len(t.Size))
	for i := range out {
		off := t.StorageOffset
		for d, j := range idx {
			off += j * t.Stride[d]
		}
		if off < 0 || off >= n {
			return nil, fmt.Errorf("element %d at storage offset %d outside storage of %d", i, off, n)
		}
		v, _ := get(off)
		out[i] = float32(v)
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < t.Size[d] {
				break
			}
			idx[d] = 0
		}
	}
	return out, nil
}

func dictInto(v any, m map[string]any) error {
	switch d := v.(type) {
	case *types.Dict:
		for _, en := range *d {
			k, ok := en.Key.(string)
			if !ok {
				return fmt.Errorf("key %v is %s, want a string", en.Key, pyType(en.Key))
			}
			m[k] = en.Value
		}
	case *types.OrderedDict:
		for e := d.List.Front(); e != nil; e = e.Next() {
			en := e.Value.(*types.OrderedDictEntry)
			k, ok := en.Key.(string)
			if !ok {
				return fmt.Errorf("key %v is %s, want a string", en.Key, pyType(en.Key))
			}
			m[k] = en.Value
		}
	default:
		return fmt.Errorf("is %s, want a dict", pyType(v))
	}
	return nil
}

// number converts a pickled Python number (int, float, bool, numpy scalar, 1-element tensor).
func number(v any) (float64, error) {
	switch x := v.(type) {
	case int:
		return float64(x), nil
	case float64:
		return x, nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case *pytorch.Tensor:
		d, err := tensorData(x)
		if err != nil {
			return 0, err
		}
		if len(d) != 1 {
			return 0, fmt.Errorf("tensor of %d elements, want 1", len(d))
		}
		return float64(d[0]), nil
	}
	return 0, fmt.Errorf("%s, want a number", pyType(v))
}

// ints reads a hyperparameter that is an int or a list/tuple of ints.
// intSeq reads a Python list or tuple of ints.
func intSeq(x interface {
	Len() int
	Get(int) any
}) ([]int, error) {
	out := make([]int, 0, x.Len())
	for i := 0; i < x.Len(); i++ {
		n, ok := x.Get(i).(int)
		if !ok {
			return nil, fmt.Errorf("element %d is %s, want an int", i, pyType(x.Get(i)))
		}
		out = append(out, n)
	}
	return out, nil
}

func ints(v any) ([]int, error) {
	switch x := v.(type) {
	case int:
		return []int{x}, nil
	case *types.List:
		return intSeq(x)
	case *types.Tuple:
		return intSeq(x)
	}
	return nil, fmt.Errorf("%s, want an int or a list of ints", pyType(v))
}

func pyType(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case string:
		return "str"
	case int:
		return "int"
	case float64:
		return "float"
	case bool:
		return "bool"
	case *types.Dict, *types.OrderedDict:
		return "dict"
	case *types.List:
		return "list"
	case *types.Tuple:
		return "tuple"
	case *pytorch.Tensor:
		return "tensor"
	case *types.GenericObject:
		return x.Class.Module + "." + x.Class.Name
	case *pyObject:
		return x.Class.Module + "." + x.Class.Name
	}
	return fmt.Sprintf("%T", v)
}

// moduleIndex splits "sequential.12.running_mean" into 12 and "running_mean".
func moduleIndex(key string) (int, string, error) {
	rest, ok := strings.CutPrefix(key, "sequential.")
	if !ok {
		return 0, "", fmt.Errorf("key %q is not under sequential.N", key)
	}
	num, field, ok := strings.Cut(rest, ".")
	if !ok {
		return 0, "", fmt.Errorf("key %q has no parameter name", key)
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 0 {
		return 0, "", fmt.Errorf("key %q: module index %q is not a number", key, num)
	}
	return n, field, nil
}

// sniff refuses files that are neither a zip archive (torch.save since 1.6) nor a pickle
// (the legacy format starts with a pickled magic number), before the unpickler sees them.
func sniff(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("torchimport: %w", err)
	}
	defer f.Close()
	var head [4]byte
	n, _ := io.ReadFull(f, head[:])
	if n >= 4 && string(head[:4]) == "PK\x03\x04" || n >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5 {
		return nil
	}
	return fmt.Errorf("torchimport: %s: not a torch.save file (want a zip archive or a pickle, found % x)", path, head[:n])
}

// fromModule recovers a checkpoint from a whole pickled module, as torch.save(model) writes
// it: the class name is the model_type, the state dict is gathered from each module's
// _parameters and _buffers under its _modules path (the keys model.state_dict() would give),
// and the hyperparameters are the top module's plain attributes, which torch-deep-retina's
// TDRModel sets from its constructor (n_units, chans, ksizes, ...; infr_exp is read as
// inference_exp). Such a file has no norm_stats or frame_rate.
func fromModule(o *pyObject) (*Checkpoint, error) {
	top := o.attrs()
	if top == nil || top["_modules"] == nil {
		return nil, fmt.Errorf("no module state (__dict__ with _modules): not an nn.Module")
	}
	ck := &Checkpoint{ModelType: o.Class.Name, State: map[string]*Tensor{}, Hyps: map[string]any{}, NormStd: 1}
	for k, v := range top {
		if !strings.HasPrefix(k, "_") && k != "training" {
			ck.Hyps[k] = v
		}
	}
	if v, ok := ck.Hyps["infr_exp"]; ok {
		ck.Hyps["inference_exp"] = v
	}
	if err := ck.moduleState("", top, 0); err != nil {
		return nil, err
	}
	return ck, nil
}

// moduleState adds one module's parameters and buffers, then its children's, to ck.State.
func (ck *Checkpoint) moduleState(prefix string, attrs map[string]any, depth int) error {
	if depth > 32 {
		return fmt.Errorf("%s: modules nested deeper than 32", prefix)
	}
	for _, field := range []string{"_parameters", "_buffers"} {
		m, ok := attrs[field]
		if !ok || m == nil {
			continue
		}
		if err := ck.readStateSkipNone(prefix, m); err != nil {
			return fmt.Errorf("%s%s: %w", prefix, field, err)
		}
	}
	children := map[string]any{}
	var names []string
	switch m := attrs["_modules"].(type) {
	case nil:
		return nil
	case *types.OrderedDict:
		for e := m.List.Front(); e != nil; e = e.Next() {
			en := e.Value.(*types.OrderedDictEntry)
			name, ok := en.Key.(string)
			if !ok {
				return fmt.Errorf("%s_modules: key %v is %s, want a string", prefix, en.Key, pyType(en.Key))
			}
			names = append(names, name)
			children[name] = en.Value
		}
	default:
		return fmt.Errorf("%s_modules is %s, want an OrderedDict", prefix, pyType(m))
	}
	for _, name := range names {
		c := children[name]
		if c == nil {
			continue
		}
		co, ok := c.(*pyObject)
		if !ok || co.attrs() == nil {
			return fmt.Errorf("%s%s is %s, want a module", prefix, name, pyType(c))
		}
		if err := ck.moduleState(prefix+name+".", co.attrs(), depth+1); err != nil {
			return err
		}
	}
	return nil
}

// readStateSkipNone adds a module's _parameters or _buffers under prefix, skipping the None
// entries (a Linear made with bias=None keeps "bias": None).
func (ck *Checkpoint) readStateSkipNone(prefix string, v any) error {
	od, ok := v.(*types.OrderedDict)
	if !ok {
		return fmt.Errorf("is %s, want an OrderedDict", pyType(v))
	}
	kept := types.NewOrderedDict()
	for e := od.List.Front(); e != nil; e = e.Next() {
		en := e.Value.(*types.OrderedDictEntry)
		if en.Value == nil {
			continue
		}
		name, ok := en.Key.(string)
		if !ok {
			return fmt.Errorf("key %v is %s, want a string", en.Key, pyType(en.Key))
		}
		kept.Set(prefix+name, en.Value)
	}
	return ck.readState(kept)
}
