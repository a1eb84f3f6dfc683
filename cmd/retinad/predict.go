package main

import (
	"context"
	"flag"
	"fmt"

	"gorgonia.org/tensor"

	"retinad/infer"
	"retinad/infer/dataset"
	"retinad/infer/npy"
)

// predictCommand is `retinad predict`, in the command table (main.go).
func predictCommand() command {
	return command{
		name:    "predict",
		args:    "--model M --stimulus S.npy|S.npz|S.mat|S.h5 --out R.npy [--frame-rate HZ] [--stochastic --seed N] [--observed] [--workers N]",
		summary: "predict every cell's rate (spikes/s, float32 [T,C], NaN before a full history) for a stimulus movie",
		run:     runPredict,
	}
}

func runPredict(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	modelPath := fs.String("model", "", "model file (native, or .onnx)")
	stimPath := fs.String("stimulus", "", "stimulus: .npy [T,H,W] (floats: contrast; uint8/uint16: luminance), or a dataset file (.npz, .mat v5 or v7.3, HDF5) with a `stimulus` array")
	outPath := fs.String("out", "", "output .npy: float32 [T,C] rates in spikes/s")
	stochastic := fs.Bool("stochastic", false, "add the model's latent noise (rates stay rates; use with --seed)")
	seed := fs.Uint64("seed", 0, "seed of the stochastic mode")
	workers := fs.Int("workers", 0, "goroutines to use (0: all cores)")
	frameRate := fs.Float64("frame-rate", 0, "bins per second, for an .onnx model that does not say its own")
	observed := fs.Bool("observed", false, "a GLM's spike history is the stimulus file's recorded counts (a dataset with counts and cell_ids), as in the daemon's models[].observed, instead of its own mean counts")
	readOpts := stimulusScale(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *modelPath == "" || *stimPath == "" || *outPath == "" || fs.NArg() != 0 {
		fs.Usage()
		return fmt.Errorf("%w: predict needs --model, --stimulus and --out", errUsage)
	}
	m, err := loadModel(*modelPath, *frameRate)
	if err != nil {
		return err
	}
	opt := infer.BatchOptions{Options: infer.Options{Stochastic: *stochastic, Seed: *seed}, Workers: *workers}
	var stim *tensor.Dense
	if *observed {
		stim, opt.Observed, err = readObserved(*stimPath, *readOpts, m, *modelPath)
	} else {
		stim, err = readStimulus(*stimPath, *readOpts)
	}
	if err != nil {
		return err
	}
	if s := stim.Shape(); s[1] != m.Input.Height || s[2] != m.Input.Width {
		return fmt.Errorf("predict: %s: frames of %dx%d, model %s wants %dx%d", *stimPath, s[1], s[2], *modelPath, m.Input.Height, m.Input.Width)
	}
	rates, err := infer.Predict(ctx, m, stim, opt)
	if err != nil {
		return err
	}
	s := rates.Shape()
	if err := npy.WriteFile(*outPath, []int{s[0], s[1]}, rates.Data().([]float32)); err != nil {
		return fmt.Errorf("predict: %w", err)
	}
	e.log.Info("predicted", "model", *modelPath, "frames", s[0], "cells", s[1], "out", *outPath)
	return nil
}

// readStimulus reads the movie [T,H,W] as contrast from a .npy, or the `stimulus` array of any
// dataset file, through the strict reader that refuses truncated, corrupt, empty or non-finite
// movies.
func readStimulus(path string, o dataset.Options) (*tensor.Dense, error) {
	data, t, h, w, err := dataset.ReadStimulusWith(path, o)
	if err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	return tensor.New(tensor.WithShape(t, h, w), tensor.WithBacking(data)), nil
}

// readObserved reads a dataset file's movie and its recorded counts, in m's cells' order
// (matched by cell id), for a GLM's spike history.
func readObserved(path string, o dataset.Options, m *infer.Model, modelPath string) (stim, counts *tensor.Dense, err error) {
	if m.Kind != infer.GLM {
		return nil, nil, fmt.Errorf("predict: --observed: %s is a %s model, which has no spike history (only a GLM has)", modelPath, m.Kind)
	}
	d, err := dataset.ReadWith(path, o)
	if err != nil {
		return nil, nil, fmt.Errorf("predict: --observed needs a dataset file with counts: %w", err)
	}
	col := make(map[int64]int, d.C)
	for c, id := range d.CellIDs {
		col[id] = c
	}
	C := len(m.Cells)
	obs := make([]float32, d.T*C)
	for j, id := range m.Cells {
		c, ok := col[id]
		if !ok {
			return nil, nil, fmt.Errorf("predict: --observed: %s has no counts of cell %d of %s (its cell_ids: %v)", path, id, modelPath, d.CellIDs)
		}
		for t := range d.T {
			obs[t*C+j] = d.Counts[t*d.C+c]
		}
	}
	return tensor.New(tensor.WithShape(d.T, d.H, d.W), tensor.WithBacking(d.Stimulus)),
		tensor.New(tensor.WithShape(d.T, C), tensor.WithBacking(obs)), nil
}
