package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"time"

	"retinad/acquisition/sim"
	"retinad/stimulus"
)

// simulateCommand is `retinad simulate`, in the command table (main.go).
func simulateCommand() command {
	return command{
		name:    "simulate",
		args:    "--stimulus KIND --duration D --seed N --out data.npz [--repeats R] [--retina N] [--cells C] [--config FILE]",
		summary: "run the virtual retina on a stimulus and write a dataset .npz with its ground-truth rates",
		run:     runSimulate,
	}
}

func runSimulate(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	kind := fs.String("stimulus", "", "stimulus kind: gray, whitenoise, flicker, flash, grating, natural or movie (default: the config's stimulus.kind)")
	duration := fs.Duration("duration", time.Minute, "stimulus duration")
	seed := fs.Uint64("seed", 1, "seed of the stimulus and the spikes")
	retina := fs.Uint64("retina", 0, "seed of the retina's cell mosaic (default: the config's acquisition.seed); keep it to simulate the same cells on another stimulus")
	out := fs.String("out", "", "dataset file to write (.npz)")
	repeats := fs.Int("repeats", 0, "also record this many trials of the same stimulus (repeat_counts [R,T,C])")
	cells := fs.Int("cells", 0, "ganglion cells (default: the config's acquisition.cells)")
	cfgFile := fs.String("config", "", "config file for the stimulus block and acquisition.cells (default: built-in defaults)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() != 0 {
		fs.Usage()
		return fmt.Errorf("%w: want --out FILE and no arguments", errUsage)
	}
	cfg, err := configOrDefault(*cfgFile)
	if err != nil {
		return err
	}
	st := cfg.Stimulus
	if *kind != "" {
		st.Kind = *kind
	}
	st.Seed = *seed
	if *cells > 0 {
		cfg.Acquisition.Cells = *cells
	}
	if *retina > 0 {
		cfg.Acquisition.Seed = *retina
	}
	src, err := stimulus.New(st)
	if err != nil {
		return err
	}
	h, w := src.Size()
	p := sim.DefaultParams()
	p.FrameRate = st.FrameRate.Hz()
	r, err := sim.New(p, h, w, cfg.Acquisition.Cells, cfg.Acquisition.Seed)
	if err != nil {
		return err
	}
	T := int(math.Round(duration.Seconds() * p.FrameRate))
	if T < 1 {
		return fmt.Errorf("%w: --duration %v is less than one frame at %v", errUsage, *duration, st.FrameRate)
	}
	if n := src.Len(); n > 0 && T > n {
		return fmt.Errorf("%w: --duration %v is %d frames, the %s stimulus has %d", errUsage, *duration, T, st.Kind, n)
	}
	frames := sim.Frames(src.Frame)
	start := time.Now()
	// The spikes' seed differs from the stimulus's so that the two are not the same stream.
	s, err := sim.WriteDataset(ctx, *out, r, frames, T, *repeats, *seed^0x5350494b4553)
	if err != nil {
		return err
	}
	var spikes float64
	for _, v := range s.Counts {
		spikes += float64(v)
	}
	fmt.Fprintf(e.stdout, "%s: %s, %d frames of %dx%d at %v, %d cells, %.1f spikes/s per cell, %v\n",
		*out, st.Kind, T, h, w, st.FrameRate, s.C, spikes/float64(s.C)/duration.Seconds(), time.Since(start).Round(time.Millisecond))
	if *repeats >= 2 {
		one, ceil := sim.Reliability(s.RepeatCnts, s.Rates, *repeats, T, s.C)
		fmt.Fprintf(e.stdout, "reliability over %d repeats: one-vs-rest r = %.3f, ground truth vs trial mean r = %.3f (means over cells)\n",
			*repeats, simMean(one), simMean(ceil))
	}
	return nil
}

func simMean(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}
