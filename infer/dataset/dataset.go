package dataset

import (
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"

	"retinad/infer/npy"
)

// Dataset is one recording: a stimulus movie and the spike counts it evoked, bin by bin.
type Dataset struct {
	T, H, W   int       // bins, stimulus height and width in stimulus pixels
	C         int       // cells
	Stimulus  []float32 // [T*H*W], contrast, frame t at Stimulus[t*H*W:(t+1)*H*W]
	Counts    []float32 // [T*C], spikes; bin t of cell c at Counts[t*C+c]
	FrameRate float64   // bins per second
	CellIDs   []int64   // [C]
	// Extra are further arrays Write stores beside these (an export's frame timing, predictions,
	// events); Read does not load them, and no consumer needs them.
	Extra []Array
}

// Array is one extra named array of a dataset file: Data is []float32, []float64, []int64,
// []uint8 (a mask: 1 true, 0 false) or []string (numpy unicode, '<U'), row-major, with
// len(Data) the product of Shape (an empty Shape is a scalar).
type Array struct {
	Name  string
	Shape []int
	Data  any
}

// Pixels is the number of stimulus pixels per frame, H*W.
func (d *Dataset) Pixels() int { return d.H * d.W }

// Frame returns frame t of the stimulus (aliases d.Stimulus).
func (d *Dataset) Frame(t int) []float32 { p := d.Pixels(); return d.Stimulus[t*p : (t+1)*p] }

// Spikes returns the total spike count of cell c over bins [from, to).
func (d *Dataset) Spikes(c, from, to int) float64 {
	var n float64
	for t := from; t < to; t++ {
		n += float64(d.Counts[t*d.C+c])
	}
	return n
}

// SilentCells returns the cells with no spike in bins [from, to).
func (d *Dataset) SilentCells(from, to int) []int {
	var silent []int
	for c := 0; c < d.C; c++ {
		if d.Spikes(c, from, to) == 0 {
			silent = append(silent, c)
		}
	}
	return silent
}

// Check validates the shapes and values of d; name (a file name) prefixes its errors.
func (d *Dataset) Check(name string) error {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("dataset: %s: "+format, append([]any{name}, a...)...)
	}
	switch {
	case d.T <= 0 || d.H <= 0 || d.W <= 0:
		return fail("stimulus: shape [%d,%d,%d], want [T,H,W] with every size > 0", d.T, d.H, d.W)
	case len(d.Stimulus) != d.T*d.H*d.W:
		return fail("stimulus: %d values for shape [%d,%d,%d]", len(d.Stimulus), d.T, d.H, d.W)
	case d.C <= 0:
		return fail("counts: %d cells, want at least 1", d.C)
	case len(d.Counts) != d.T*d.C:
		return fail("counts: %d values, want T*C = %d*%d (T from stimulus)", len(d.Counts), d.T, d.C)
	case !(d.FrameRate > 0) || math.IsInf(d.FrameRate, 0):
		return fail("frame_rate: %v, want a finite number of bins per second > 0", d.FrameRate)
	case len(d.CellIDs) != d.C:
		return fail("cell_ids: %d ids for %d cells in counts", len(d.CellIDs), d.C)
	}
	p := d.Pixels()
	if i := notFinite(d.Stimulus); i >= 0 {
		t, r := i/p, i%p
		return fail("stimulus: %v at frame %d, pixel (%d,%d)", d.Stimulus[i], t, r/d.W, r%d.W)
	}
	for i, v := range d.Counts {
		if math.Float32bits(v)&0xff800000 >= 0x7f800000 { // negative (and -0), infinite or NaN
			if v == 0 {
				continue
			}
			return fail("counts: %v at bin %d for cell %d (id %d), want a finite count >= 0", v, i/d.C, i%d.C, d.CellIDs[i%d.C])
		}
	}
	names := map[string]bool{"stimulus": true, "counts": true, "frame_rate": true, "cell_ids": true}
	for _, a := range d.Extra {
		if err := a.check(); err != nil {
			return fail("%w", err)
		}
		if names[a.Name] {
			return fail("extra array %q: the name is taken", a.Name)
		}
		names[a.Name] = true
	}
	seen := make(map[int64]int, d.C)
	for c, id := range d.CellIDs {
		if prev, dup := seen[id]; dup {
			return fail("cell_ids: id %d used by cells %d and %d", id, prev, c)
		}
		seen[id] = c
	}
	return nil
}

// Options say how Read turns stored values into a dataset.
type Options struct {
	// Scaling, when not nil, maps every stored stimulus value to contrast, overriding the
	// file's stimulus_offset/stimulus_scale and the default of its element type.
	Scaling *Scaling
}

// Scaling maps a stored stimulus value v to contrast: c = (v - Offset) / Scale.
type Scaling struct{ Offset, Scale float64 }

// DefaultScaling is the scaling of a stimulus stored as kind and bits when neither the file
// nor the caller gives one: unsigned integers (and bools) are luminance from 0 to the type's
// maximum, mapped around mid-gray (uint8 0 -> -1, 255 -> +1, 128 -> +0.0039); floats and
// signed integers are contrast already.
func DefaultScaling(kind byte, bits int) Scaling {
	if kind == 'u' || kind == 'b' {
		half := (math.Pow(2, float64(bits)) - 1) / 2
		return Scaling{Offset: half, Scale: half}
	}
	return Scaling{Offset: 0, Scale: 1}
}

// notFinite is the index of the first NaN or infinity in v, or -1: the exponent bits of a
// float32 are all ones exactly for those. (math.IsNaN and IsInf on float64 took most of the
// time of reading a movie.)
func notFinite(v []float32) int {
	for i, x := range v {
		if math.Float32bits(x)&0x7f800000 == 0x7f800000 {
			return i
		}
	}
	return -1
}

// Read reads and checks the dataset in the file path, whatever its container (see Source),
// with the default Options.
func Read(path string) (*Dataset, error) { return ReadWith(path, Options{}) }

// ReadWith is Read with Options.
func ReadWith(path string, o Options) (*Dataset, error) {
	src, err := openPath(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	return decode(src, path, o)
}

// Decode reads and checks a dataset from the file bytes in ra (size bytes long); path, a file
// name, prefixes its errors.
func Decode(ra io.ReaderAt, size int64, path string) (*Dataset, error) {
	src, err := openSource(ra, size, path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	return decode(src, path, Options{})
}

// decode reads the dataset layout (see the package doc) from src.
func decode(src Source, path string, o Options) (*Dataset, error) {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("dataset: %s: "+format, append([]any{path}, a...)...)
	}
	has := arrays(src)
	info := func(name string) (ArrayInfo, error) {
		if !has[name] {
			return ArrayInfo{}, missing(src, name, fail)
		}
		a, err := src.Info(name)
		if err != nil {
			return a, arrayErr(fail, name, err)
		}
		return a, nil
	}
	d := &Dataset{}

	h, err := info("stimulus")
	if err != nil {
		return nil, err
	}
	h.Shape = h.shape(3)
	if len(h.Shape) != 3 {
		return nil, fail("stimulus: shape %v, want [T,H,W]", h.Shape)
	}
	d.T, d.H, d.W = h.Shape[0], h.Shape[1], h.Shape[2]
	if d.Stimulus, err = readStimulus(src, h, o, fail); err != nil {
		return nil, err
	}
	if d.FrameRate, err = scalar(src, has, "frame_rate", fail); err != nil {
		return nil, err
	}
	if has["counts"] || !has["spike_times"] {
		err = readCounts(src, d, info, fail)
	} else {
		err = readSpikes(src, d, has, fail)
	}
	if err != nil {
		return nil, err
	}
	if err := d.Check(path); err != nil {
		return nil, err
	}
	return d, nil
}

// readStimulus reads the [T,H,W] stimulus and scales it to contrast (see Options).
func readStimulus(src Source, h ArrayInfo, o Options, fail func(string, ...any) error) ([]float32, error) {
	if h.Len() == 0 {
		return nil, fail("stimulus: shape %v, want [T,H,W] with every size at least 1", h.Shape)
	}
	v := make([]float32, h.Len())
	if err := src.ReadFloat32("stimulus", v); err != nil {
		return nil, arrayErr(fail, "stimulus", err)
	}
	sc, err := scaling(src, h, o, fail)
	if err != nil {
		return nil, err
	}
	scale(v, sc, h)
	return v, nil
}

// scale maps the stored values in v (read from an array described by h) to contrast. An
// integer type of up to 16 bits goes through a table of its values computed in float64, so
// that the result is exact and costs a load per pixel.
func scale(v []float32, sc Scaling, h ArrayInfo) {
	switch {
	case sc == (Scaling{0, 1}):
	case (h.Kind == 'u' || h.Kind == 'b') && h.Bits <= 16:
		lut := make([]float32, 1<<max(h.Bits, 1))
		for i := range lut {
			lut[i] = float32((float64(i) - sc.Offset) / sc.Scale)
		}
		for i, x := range v {
			if j := int(x); j >= 0 && j < len(lut) {
				v[i] = lut[j]
			} else { // a container that stored the class's values in a wider type
				v[i] = float32((float64(x) - sc.Offset) / sc.Scale)
			}
		}
	default:
		for i, x := range v {
			v[i] = float32((float64(x) - sc.Offset) / sc.Scale)
		}
	}
}

// scaling is the stimulus scaling to use: the caller's, else the file's
// stimulus_offset/stimulus_scale scalars, else DefaultScaling of the stored type.
func scaling(src Source, h ArrayInfo, o Options, fail func(string, ...any) error) (Scaling, error) {
	sc := DefaultScaling(h.Kind, h.Bits)
	if o.Scaling != nil {
		sc = *o.Scaling
	} else {
		has := arrays(src)
		for name, dst := range map[string]*float64{"stimulus_offset": &sc.Offset, "stimulus_scale": &sc.Scale} {
			if has[name] {
				v, err := scalar(src, has, name, fail)
				if err != nil {
					return sc, err
				}
				*dst = v
			}
		}
	}
	if !(sc.Scale != 0) || math.IsInf(sc.Scale, 0) || math.IsNaN(sc.Offset) || math.IsInf(sc.Offset, 0) {
		return sc, fail("stimulus scaling: offset %v, scale %v, want finite numbers and a scale other than 0", sc.Offset, sc.Scale)
	}
	return sc, nil
}

// scalar reads the one-element array name as a float64.
func scalar(src Source, has map[string]bool, name string, fail func(string, ...any) error) (float64, error) {
	if !has[name] {
		return 0, missing(src, name, fail)
	}
	h, err := src.Info(name)
	if err != nil {
		return 0, arrayErr(fail, name, err)
	}
	if h.Len() != 1 {
		return 0, fail("%s: shape %v, want a scalar", name, h.Shape)
	}
	v := make([]float64, 1)
	if err := src.ReadFloat64(name, v); err != nil {
		return 0, arrayErr(fail, name, err)
	}
	return v[0], nil
}

// readCounts reads binned counts [T,C] (any float or integer type) and the optional cell_ids.
func readCounts(src Source, d *Dataset, info func(string) (ArrayInfo, error), fail func(string, ...any) error) error {
	h, err := info("counts")
	if err != nil {
		return err
	}
	if len(h.Shape) != 2 {
		return fail("counts: shape %v, want [T,C]", h.Shape)
	}
	if h.Shape[0] != d.T {
		return fail("counts: %d bins but stimulus has %d frames; want one row per frame", h.Shape[0], d.T)
	}
	d.C = h.Shape[1]
	d.Counts = make([]float32, h.Len())
	if err := src.ReadFloat32("counts", d.Counts); err != nil {
		return arrayErr(fail, "counts", err)
	}
	d.CellIDs, err = cellIDs(src, d.C, fail)
	return err
}

// cellIDs reads cell_ids [C], or numbers the cells 0..C-1 when the file has none.
func cellIDs(src Source, c int, fail func(string, ...any) error) ([]int64, error) {
	ids := make([]int64, c)
	if !arrays(src)["cell_ids"] {
		for i := range ids {
			ids[i] = int64(i)
		}
		return ids, nil
	}
	h, err := src.Info("cell_ids")
	if err != nil {
		return nil, arrayErr(fail, "cell_ids", err)
	}
	if s := h.shape(1); len(s) != 1 || s[0] != c {
		return nil, fail("cell_ids: shape %v, want [%d] (one id per column of counts)", h.Shape, c)
	}
	if err := src.ReadInt64("cell_ids", ids); err != nil {
		return nil, arrayErr(fail, "cell_ids", err)
	}
	return ids, nil
}

var want = map[string]string{
	"spike_cells": "[N] the cell id of each spike in spike_times (integers)",
	"spike_times": "[N] spike times in seconds",
	"frame_times": "[T] frame onsets in seconds",
	"cell_ids":    "[C] cell ids (integers)",
	"stimulus":    "[T,H,W] contrast (floats or signed ints), or uint8/uint16 luminance",
	"counts":      "float32 [T,C] spike counts (or float64 or integers), or spike_times and spike_cells",
	"frame_rate":  "a scalar (bins per second)",
}

func list(names []string) string {
	if len(names) == 0 {
		return "no arrays"
	}
	names = append([]string(nil), names...)
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// Write writes d to path as an .npz dataset that Read (and numpy.load) accepts.
func Write(path string, d *Dataset) error {
	if err := d.Check(path); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	err = writeArrays(npy.NewArchiveWriter(f), d)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("dataset: write %s: %w", path, err)
	}
	return nil
}

func writeArrays(w *npy.ArchiveWriter, d *Dataset) error {
	if err := npy.Add(w, "stimulus", []int{d.T, d.H, d.W}, d.Stimulus); err != nil {
		return err
	}
	if err := npy.Add(w, "counts", []int{d.T, d.C}, d.Counts); err != nil {
		return err
	}
	if err := npy.Add(w, "frame_rate", nil, []float64{d.FrameRate}); err != nil {
		return err
	}
	if err := npy.Add(w, "cell_ids", []int{d.C}, d.CellIDs); err != nil {
		return err
	}
	for _, x := range d.Extra {
		var err error
		switch v := x.Data.(type) {
		case []float32:
			err = npy.Add(w, x.Name, x.Shape, v)
		case []float64:
			err = npy.Add(w, x.Name, x.Shape, v)
		case []int64:
			err = npy.Add(w, x.Name, x.Shape, v)
		case []uint8:
			err = npy.Add(w, x.Name, x.Shape, v)
		case []string:
			err = w.AddStrings(x.Name, x.Shape, v)
		}
		if err != nil {
			return err
		}
	}
	return w.Close()
}

// check reports an extra array whose name, type or length is wrong.
func (a Array) check() error {
	if a.Name == "" || strings.ContainsAny(a.Name, "/\\\x00") {
		return fmt.Errorf("extra array %q: want a plain name", a.Name)
	}
	n := 1
	for _, s := range a.Shape {
		if s < 0 {
			return fmt.Errorf("extra array %q: shape %v", a.Name, a.Shape)
		}
		n *= s
	}
	var have int
	switch v := a.Data.(type) {
	case []float32:
		have = len(v)
	case []float64:
		have = len(v)
	case []int64:
		have = len(v)
	case []uint8:
		have = len(v)
	case []string:
		have = len(v)
	default:
		return fmt.Errorf("extra array %q: %T, want []float32, []float64, []int64, []uint8 or []string", a.Name, a.Data)
	}
	if have != n {
		return fmt.Errorf("extra array %q: %d values for shape %v", a.Name, have, a.Shape)
	}
	return nil
}
