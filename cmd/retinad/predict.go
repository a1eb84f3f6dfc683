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
		args:    "--model M --stimulus S.npy|S.npz|S.mat|S.h5 --out R.npy [--frame-rate HZ] [--stochastic --seed N] [--workers N]",
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
	stim, err := readStimulus(*stimPath, *readOpts)
	if err != nil {
		return err
	}
	if s := stim.Shape(); s[1] != m.Input.Height || s[2] != m.Input.Width {
		return fmt.Errorf("predict: %s: frames of %dx%d, model %s wants %dx%d", *stimPath, s[1], s[2], *modelPath, m.Input.Height, m.Input.Width)
	}
	rates, err := infer.Predict(ctx, m, stim, infer.BatchOptions{Options: infer.Options{Stochastic: *stochastic, Seed: *seed}, Workers: *workers})
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
