package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"retinad/infer/npy"
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
			if err := npy.WriteData(stimulus, frame); err != nil {
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
	zw := npy.NewArchiveWriter(f)
	w, err := zw.Create("stimulus", npy.Dtype[float32](), []int{T, r.h, r.w})
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
	errs := []error{
		npy.Add(zw, "counts", []int{T, C}, s.Counts),
		npy.Add(zw, "rates", []int{T, C}, s.Rates),
		npy.Add(zw, "frame_rate", nil, []float64{s.FrameRate}),
		npy.Add(zw, "cell_ids", []int{C}, ids),
		npy.Add(zw, "cell_on", []int{C}, on),
		npy.Add(zw, "cell_xy", []int{C, 2}, xy),
	}
	if repeats > 0 {
		errs = append(errs, npy.Add(zw, "repeat_counts", []int{repeats, T, C}, s.RepeatCnts))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, zw.Close()
}
