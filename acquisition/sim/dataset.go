package sim

import (
	"archive/zip"
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
)

// Simulation is a recorded run of the virtual retina on one stimulus.
type Simulation struct {
	T, C       int
	FrameRate  float64
	Cells      []Cell
	Rates      []float32 // [T*C] noise-free rate, spikes/s: the ground truth
	Counts     []float32 // [T*C] spikes per bin, trial 0
	Repeats    int       // trials of the same stimulus in RepeatCounts (0: none recorded)
	RepeatCnts []float32 // [Repeats*T*C] spikes per bin, trial r at [r*T*C:(r+1)*T*C]; trial 0 is Counts
}

// Simulate runs the retina (after a Reset) on frames 0..T-1 and draws spikes for
// max(repeats, 1) trials of the same stimulus, with trial noise from seed. If stimulus is not
// nil, each frame's float32 contrast values are written to it, in order, as they are made.
// It stops with ctx's error if ctx ends.
func Simulate(ctx context.Context, r *Retina, frames Frames, T, repeats int, seed uint64, stimulus io.Writer) (*Simulation, error) {
	if T < 1 || repeats < 0 {
		return nil, fmt.Errorf("sim: simulate %d frames, %d repeats: want frames >= 1, repeats >= 0", T, repeats)
	}
	C := len(r.cells)
	trials := max(repeats, 1)
	spikers := make([]*Spiker, trials)
	for k := range spikers {
		var err error
		if spikers[k], err = NewSpiker(C, r.p.FrameRate, r.p.Refractory, seed+uint64(k)*0x9e3779b97f4a7c15); err != nil {
			return nil, err
		}
	}
	s := &Simulation{T: T, C: C, FrameRate: r.p.FrameRate, Cells: r.cells,
		Rates: make([]float32, T*C), Repeats: repeats, RepeatCnts: make([]float32, trials*T*C)}
	s.Counts = s.RepeatCnts[:T*C]
	if repeats == 0 {
		s.RepeatCnts = nil
	}
	all := s.Counts
	if repeats > 0 {
		all = s.RepeatCnts
	}
	r.Reset()
	frame := make([]float32, r.h*r.w)
	rate := make([]float64, C)
	buf := make([]byte, 4*len(frame))
	for t := 0; t < T; t++ {
		if t%1000 == 0 && ctx.Err() != nil {
			return nil, fmt.Errorf("sim: simulate: %w", ctx.Err())
		}
		frames(t, frame)
		r.Step(frame, rate)
		for c, v := range rate {
			s.Rates[t*C+c] = float32(v)
		}
		for k, sp := range spikers {
			sp.Spike(rate, all[(k*T+t)*C:(k*T+t+1)*C])
		}
		if stimulus != nil {
			for i, v := range frame {
				binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
			}
			if _, err := stimulus.Write(buf); err != nil {
				return nil, fmt.Errorf("sim: simulate: write stimulus: %w", err)
			}
		}
	}
	return s, nil
}

// WriteDataset simulates T frames (see Simulate) and writes them to path as a dataset .npz
// (the dataset format of infer/dataset and docs/design.md: stimulus float32 [T,H,W], counts
// float32 [T,C], frame_rate float64, cell_ids int64 [C]) plus the ground truth: rates float32
// [T,C] (spikes/s), cell_on int64 [C] (1 ON, 0 OFF), cell_xy float64 [C,2] (receptive-field
// centre, x then y, pixels) and, when repeats > 0, repeat_counts float32 [R,T,C]. The stimulus
// is streamed to the file, so a long dataset needs memory only for its counts and rates.
func WriteDataset(ctx context.Context, path string, r *Retina, frames Frames, T, repeats int, seed uint64) (*Simulation, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	s, err := writeNPZ(ctx, f, r, frames, T, repeats, seed)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("sim: write %s: %w", path, cerr)
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("sim: write %s: %w", path, err)
	}
	return s, nil
}

func writeNPZ(ctx context.Context, f io.Writer, r *Retina, frames Frames, T, repeats int, seed uint64) (*Simulation, error) {
	bw := bufio.NewWriterSize(f, 1<<20)
	zw := zip.NewWriter(bw)
	entry := func(name, dtype string, shape ...int) (io.Writer, error) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name + ".npy", Method: zip.Store})
		if err != nil {
			return nil, err
		}
		_, err = w.Write(npyHeader(dtype, shape))
		return w, err
	}
	w, err := entry("stimulus", "<f4", T, r.h, r.w)
	if err != nil {
		return nil, err
	}
	s, err := Simulate(ctx, r, frames, T, repeats, seed, w)
	if err != nil {
		return nil, err
	}
	C := s.C
	on := make([]int64, C)
	ids := make([]int64, C)
	xy := make([]float64, 2*C)
	for c, cell := range s.Cells {
		ids[c] = cell.ID
		if cell.On {
			on[c] = 1
		}
		xy[2*c], xy[2*c+1] = cell.X, cell.Y
	}
	arrays := []struct {
		name, dtype string
		data        any
		shape       []int
	}{
		{"counts", "<f4", s.Counts, []int{T, C}},
		{"rates", "<f4", s.Rates, []int{T, C}},
		{"frame_rate", "<f8", []float64{s.FrameRate}, nil},
		{"cell_ids", "<i8", ids, []int{C}},
		{"cell_on", "<i8", on, []int{C}},
		{"cell_xy", "<f8", xy, []int{C, 2}},
	}
	if repeats > 0 {
		arrays = append(arrays, struct {
			name, dtype string
			data        any
			shape       []int
		}{"repeat_counts", "<f4", s.RepeatCnts, []int{repeats, T, C}})
	}
	for _, a := range arrays {
		w, err := entry(a.name, a.dtype, a.shape...)
		if err != nil {
			return nil, err
		}
		if err := binary.Write(w, binary.LittleEndian, a.data); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return s, bw.Flush()
}

// npyHeader is the .npy version 1.0 header of a little-endian C-order array.
func npyHeader(dtype string, shape []int) []byte {
	dims := make([]string, len(shape))
	for i, n := range shape {
		dims[i] = fmt.Sprint(n)
	}
	tuple := "(" + strings.Join(dims, ", ")
	if len(shape) == 1 {
		tuple += ","
	}
	tuple += ")"
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", dtype, tuple)
	pad := (64 - (10+len(dict)+1)%64) % 64
	dict += strings.Repeat(" ", pad) + "\n"
	h := []byte("\x93NUMPY\x01\x00\x00\x00")
	binary.LittleEndian.PutUint16(h[8:], uint16(len(dict)))
	return append(h, dict...)
}
