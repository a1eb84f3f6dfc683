package infer

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"syscall"
)

// Magic opens every native model file. Version is the newest format version, which this
// package reads and writes for models with a recurrent layer (version 2 added convgru); a
// model without one is written as version 1, byte for byte as before, so that older readers
// still load it.
const (
	Magic   = "RETINADM"
	Version = 2
)

// recurrentVersion is the first format version that may hold a convgru layer.
const recurrentVersion = 2

const (
	prefixLen = 16
	align     = 64
)

// header is the JSON header of the file, as the package documentation describes it.
type header struct {
	Kind        Kind          `json:"kind"`
	Name        string        `json:"name,omitempty"`
	Input       headerInput   `json:"input"`
	OutputScale float64       `json:"output_scale"`
	Cells       []int64       `json:"cells"`
	Layers      []headerLayer `json:"layers,omitempty"`
	GLM         *headerGLM    `json:"glm,omitempty"`
	Tensors     []tensorEntry `json:"tensors"`
	DataBytes   int64         `json:"data_bytes"`
}

type headerInput struct {
	History   int     `json:"history"`
	Height    int     `json:"height"`
	Width     int     `json:"width"`
	FrameRate float64 `json:"frame_rate_hz"`
	Mean      float64 `json:"mean"`
	Std       float64 `json:"std"`
}

type headerLayer struct {
	Type        LayerType `json:"type"`
	Weight      string    `json:"weight,omitempty"`
	Bias        string    `json:"bias,omitempty"`
	RunningMean string    `json:"running_mean,omitempty"`
	RunningVar  string    `json:"running_var,omitempty"`
	Eps         *float64  `json:"eps,omitempty"`
	Per         string    `json:"per,omitempty"`
	Std         *float64  `json:"std,omitempty"`
	Gain        string    `json:"gain,omitempty"`
	Slope       string    `json:"slope,omitempty"`
	Offset      string    `json:"offset,omitempty"`
	WeightHH    string    `json:"weight_hh,omitempty"`
	BiasHH      string    `json:"bias_hh,omitempty"`
}

type headerGLM struct {
	StimulusFilter string `json:"stimulus_filter"`
	Bias           string `json:"bias"`
	HistoryFilter  string `json:"history_filter,omitempty"`
	CouplingFilter string `json:"coupling_filter,omitempty"`
}

type tensorEntry struct {
	Name   string `json:"name"`
	Shape  []int  `json:"shape"`
	Offset int64  `json:"offset"`
}

// MaxFileBytes is the largest model file Load reads: the paper's CNN is under 1 MiB, so this
// leaves room for much larger models while a device or a huge file is refused before reading.
const MaxFileBytes = 256 << 20

// Load reads and checks a native model file (at most MaxFileBytes). Its errors name the file and
// the field or tensor at fault.
func Load(path string) (*Model, error) { return LoadContext(context.Background(), path, MaxFileBytes) }

// LoadContext is Load for files that someone else names (the control service): it refuses,
// before reading a byte, anything that is not a regular file (a device such as /dev/zero, a
// FIFO, a folder) and a file larger than max bytes; it reads in chunks and stops when ctx ends.
// The file is opened non-blocking so that a FIFO swapped in after a caller's check cannot hang
// the open. Its errors never quote the file's bytes, so it cannot be used to read other files.
func LoadContext(ctx context.Context, path string, max int64) (*Model, error) {
	b, err := ReadFile(ctx, path, max)
	if err != nil {
		return nil, err
	}
	m, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// ReadFile reads the regular file at path, of at most max bytes, in chunks that check ctx,
// with LoadContext's refusals: every reader of a model file (native or ONNX) goes through it.
func ReadFile(ctx context.Context, path string, max int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("infer: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("infer: %w", err)
	}
	switch {
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("infer: %s: %s, want a regular model file", path, fileKind(st.Mode()))
	case st.Size() > max:
		return nil, fmt.Errorf("infer: %s: %d bytes, more than the %d a model file may have", path, st.Size(), max)
	}
	b := make([]byte, 0, st.Size()+1)
	lr := io.LimitReader(f, max+1) // the file may grow after Stat
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("infer: %s: %w", path, err)
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := lr.Read(b[len(b):min(cap(b), len(b)+1<<20)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("infer: %w", err)
		}
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("infer: %s: more than the %d bytes a model file may have", path, max)
	}
	return b, nil
}

// fileKind names what a non-regular file is, for errors.
func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "not a regular file"
}

// Save checks m and writes it to path (through a temporary file renamed into place).
func Save(path string, m *Model) error {
	b, err := Encode(m)
	if err != nil {
		return fmt.Errorf("infer: save %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("infer: save: %w", err)
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("infer: save: %w", err)
	}
	return nil
}

// Encode returns m in the native file format.
func Encode(m *Model) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	h := header{
		Kind: m.Kind, Name: m.Name, OutputScale: m.OutputScale, Cells: m.Cells,
		Input: headerInput{m.Input.History, m.Input.Height, m.Input.Width, m.Input.FrameRate, m.Input.Mean, m.Input.Std},
	}
	var data []*Tensor
	add := func(name string, t *Tensor) string {
		if t == nil {
			return ""
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		h.Tensors = append(h.Tensors, tensorEntry{Name: name, Shape: shape, Offset: h.DataBytes})
		h.DataBytes += int64(4*len(t.Data)+align-1) / align * align
		data = append(data, t)
		return name
	}
	for i, l := range m.Layers {
		p := fmt.Sprintf("layers.%d.", i)
		hl := headerLayer{
			Type: l.Type, Weight: add(p+"weight", l.Weight), Bias: add(p+"bias", l.Bias),
			RunningMean: add(p+"running_mean", l.RunningMean), RunningVar: add(p+"running_var", l.RunningVar),
			Gain: add(p+"gain", l.Gain), Slope: add(p+"slope", l.Slope), Offset: add(p+"offset", l.Offset),
			WeightHH: add(p+"weight_hh", l.WeightHH), BiasHH: add(p+"bias_hh", l.BiasHH),
		}
		switch l.Type {
		case BatchNorm:
			eps := l.Eps
			hl.Eps, hl.Per = &eps, "unit"
			if l.PerChannel {
				hl.Per = "channel"
			}
		case Noise:
			std := l.Std
			hl.Std = &std
		}
		h.Layers = append(h.Layers, hl)
	}
	if g := m.GLM; g != nil {
		h.GLM = &headerGLM{
			StimulusFilter: add("glm.stimulus_filter", g.StimulusFilter), Bias: add("glm.bias", g.Bias),
			HistoryFilter: add("glm.history_filter", g.HistoryFilter), CouplingFilter: add("glm.coupling_filter", g.CouplingFilter),
		}
	}
	js, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("infer: encode header: %w", err)
	}
	n := (prefixLen+len(js)+align-1)/align*align - prefixLen
	out := make([]byte, prefixLen+n+int(h.DataBytes)+4)
	copy(out, Magic)
	version := uint32(1)
	if m.Recurrent() {
		version = recurrentVersion
	}
	binary.LittleEndian.PutUint32(out[8:], version)
	binary.LittleEndian.PutUint32(out[12:], uint32(n))
	copy(out[prefixLen:], js)
	for i := prefixLen + len(js); i < prefixLen+n; i++ {
		out[i] = ' '
	}
	base := prefixLen + n
	for i, t := range data {
		p := out[base+int(h.Tensors[i].Offset):]
		for j, v := range t.Data {
			binary.LittleEndian.PutUint32(p[4*j:], math.Float32bits(v))
		}
	}
	end := len(out) - 4
	binary.LittleEndian.PutUint32(out[end:], crc32.ChecksumIEEE(out[:end]))
	return out, nil
}

// Decode parses and checks a native model file's bytes.
func Decode(b []byte) (*Model, error) {
	if len(b) < prefixLen+4 {
		return nil, fmt.Errorf("infer: %d bytes, too short for a model file (truncated?)", len(b))
	}
	if string(b[:8]) != Magic {
		// The bytes are not quoted: a control request must not be able to read files with it.
		return nil, fmt.Errorf("infer: does not start with %q: not a native retinad model file", Magic)
	}
	version := binary.LittleEndian.Uint32(b[8:])
	if version < 1 || version > Version {
		return nil, fmt.Errorf("infer: version %d, want 1 to %d", version, Version)
	}
	n := int64(binary.LittleEndian.Uint32(b[12:]))
	if (prefixLen+n)%align != 0 {
		return nil, fmt.Errorf("infer: header length %d, want 16+length a multiple of %d", n, align)
	}
	if prefixLen+n+4 > int64(len(b)) {
		return nil, fmt.Errorf("infer: header of %d bytes in a file of %d (truncated)", n, len(b))
	}
	var h header
	dec := json.NewDecoder(bytes.NewReader(bytes.TrimRight(b[prefixLen:prefixLen+n], " ")))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return nil, fmt.Errorf("infer: header: %w", err)
	}
	if dec.More() {
		return nil, errors.New("infer: header: data after the JSON object")
	}
	if h.DataBytes < 0 || prefixLen+n+h.DataBytes+4 != int64(len(b)) {
		return nil, fmt.Errorf("infer: file is %d bytes, header says %d (16 + header %d + data_bytes %d + crc 4): truncated or corrupt",
			len(b), prefixLen+n+h.DataBytes+4, n, h.DataBytes)
	}
	end := len(b) - 4
	if got, want := crc32.ChecksumIEEE(b[:end]), binary.LittleEndian.Uint32(b[end:]); got != want {
		return nil, fmt.Errorf("infer: crc32 %08x, file says %08x: corrupt", got, want)
	}
	data := b[prefixLen+n : end]
	tensors, err := readTensors(h.Tensors, data)
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	get := func(field, name string) (*Tensor, error) {
		if name == "" {
			return nil, nil
		}
		t, ok := tensors[name]
		if !ok {
			return nil, fmt.Errorf("infer: %s: tensor %q is not in the tensor table", field, name)
		}
		if used[name] {
			return nil, fmt.Errorf("infer: %s: tensor %q is used twice", field, name)
		}
		used[name] = true
		return t, nil
	}
	m := &Model{
		Kind: h.Kind, Name: h.Name, OutputScale: h.OutputScale, Cells: h.Cells,
		Input: Input{h.Input.History, h.Input.Height, h.Input.Width, h.Input.FrameRate, h.Input.Mean, h.Input.Std},
	}
	for i, hl := range h.Layers {
		f := func(s string) string { return fmt.Sprintf("layers[%d].%s", i, s) }
		l := Layer{Type: hl.Type}
		for _, p := range []struct {
			name string
			ref  string
			dst  **Tensor
		}{
			{"weight", hl.Weight, &l.Weight}, {"bias", hl.Bias, &l.Bias},
			{"running_mean", hl.RunningMean, &l.RunningMean}, {"running_var", hl.RunningVar, &l.RunningVar},
			{"gain", hl.Gain, &l.Gain}, {"slope", hl.Slope, &l.Slope}, {"offset", hl.Offset, &l.Offset},
			{"weight_hh", hl.WeightHH, &l.WeightHH}, {"bias_hh", hl.BiasHH, &l.BiasHH},
		} {
			if *p.dst, err = get(f(p.name), p.ref); err != nil {
				return nil, err
			}
		}
		if hl.Type == ConvGRU && version < recurrentVersion {
			return nil, fmt.Errorf("infer: %s: convgru in a version %d file, want version %d or later (recurrent layers came with it)", f("type"), version, recurrentVersion)
		}
		if (hl.Eps != nil || hl.Per != "") != (hl.Type == BatchNorm) {
			return nil, fmt.Errorf("infer: %s: eps and per belong to batchnorm layers only, and a batchnorm layer needs both", f("eps"))
		}
		if (hl.Std != nil) != (hl.Type == Noise) {
			return nil, fmt.Errorf("infer: %s: std belongs to noise layers only, and a noise layer needs it", f("std"))
		}
		switch hl.Type {
		case BatchNorm:
			l.Eps = *hl.Eps
			switch hl.Per {
			case "unit":
			case "channel":
				l.PerChannel = true
			default:
				return nil, fmt.Errorf("infer: %s: %q, want \"unit\" or \"channel\"", f("per"), hl.Per)
			}
		case Noise:
			l.Std = *hl.Std
		}
		m.Layers = append(m.Layers, l)
	}
	if hg := h.GLM; hg != nil {
		g := &GLMParams{}
		for _, p := range []struct {
			name string
			ref  string
			dst  **Tensor
		}{
			{"stimulus_filter", hg.StimulusFilter, &g.StimulusFilter}, {"bias", hg.Bias, &g.Bias},
			{"history_filter", hg.HistoryFilter, &g.HistoryFilter}, {"coupling_filter", hg.CouplingFilter, &g.CouplingFilter},
		} {
			if *p.dst, err = get("glm."+p.name, p.ref); err != nil {
				return nil, err
			}
		}
		m.GLM = g
	}
	for _, e := range h.Tensors {
		if !used[e.Name] {
			return nil, fmt.Errorf("infer: tensors: %q is used by no layer", e.Name)
		}
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// readTensors checks the tensor table against the data section and copies the values out.
func readTensors(table []tensorEntry, data []byte) (map[string]*Tensor, error) {
	type span struct {
		lo, hi int64
		name   string
	}
	out := make(map[string]*Tensor, len(table))
	var spans []span
	for i, e := range table {
		if e.Name == "" {
			return nil, fmt.Errorf("infer: tensors[%d]: no name", i)
		}
		if _, dup := out[e.Name]; dup {
			return nil, fmt.Errorf("infer: tensors[%d]: name %q used twice", i, e.Name)
		}
		n := int64(1)
		for _, d := range e.Shape {
			if d < 0 || d > 1<<30 || n*int64(d) > int64(len(data))/4+1 {
				return nil, fmt.Errorf("infer: tensor %s: shape %v does not fit the %d bytes of data", e.Name, e.Shape, len(data))
			}
			n *= int64(d)
		}
		if e.Offset < 0 || e.Offset%4 != 0 || e.Offset+4*n > int64(len(data)) {
			return nil, fmt.Errorf("infer: tensor %s: offset %d, %d bytes, want a multiple of 4 inside the %d data bytes", e.Name, e.Offset, 4*n, len(data))
		}
		for _, s := range spans {
			if e.Offset < s.hi && s.lo < e.Offset+4*n {
				return nil, fmt.Errorf("infer: tensor %s: bytes [%d, %d) overlap tensor %s", e.Name, e.Offset, e.Offset+4*n, s.name)
			}
		}
		spans = append(spans, span{e.Offset, e.Offset + 4*n, e.Name})
		t := &Tensor{Shape: append([]int{}, e.Shape...), Data: make([]float32, n)}
		p := data[e.Offset:]
		for j := range t.Data {
			t.Data[j] = math.Float32frombits(binary.LittleEndian.Uint32(p[4*j:]))
		}
		out[e.Name] = t
	}
	return out, nil
}
