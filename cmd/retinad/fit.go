package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"retinad/infer/dataset"
	"retinad/infer/fit"
)

// fitCommand is `retinad fit`, in the command table (main.go).
func fitCommand() command {
	return command{
		name: "fit",
		args: "ln|glm --data D.npz|D.mat|D.h5 --out M [flags]",
		summary: "fit LN or Poisson GLM models of every cell of a dataset and write a native model file " +
			"(ln: STA, cross-validated ridge, softplus/exp/binned nonlinearity; glm: stimulus, spike-history and coupling filters)",
		run: runFit,
	}
}

func runFit(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	kind := ""
	if len(args) > 0 && (args[0] == "ln" || args[0] == "glm") {
		kind, args = args[0], args[1:]
	}
	var o fit.Options
	data := fs.String("data", "", "dataset `file` (.npz, MATLAB v5 or v7.3 .mat, or HDF5): stimulus [T,H,W], counts [T,C] or spike_times and spike_cells (optional frame_times), frame_rate, optional cell_ids (required; see infer/dataset's doc)")
	readOpts := stimulusScale(fs)
	out := fs.String("out", "", "native model `file` to write (required)")
	report := fs.String("report", "", "write the JSON report to this `file` as well as the summary on stdout")
	quiet := fs.Bool("quiet", false, "no progress lines on stderr")
	fs.IntVar(&o.History, "history", 40, "stimulus filter length in `bins`")
	fs.Float64Var(&o.TestFraction, "test-fraction", 0.2, "fraction of the bins, at the end, held out for the test scores (0: fit on all, no test scores)")
	fs.IntVar(&o.Rank, "rank", 1, "spatial stimuli: rank of the space-time separable filter")
	fs.IntVar(&o.ROI, "roi", 15, "spatial stimuli: side, in stimulus `pixels`, of the square around the STA's peak that the filter covers")
	fs.IntVar(&o.Passes, "passes", 2, "spatial stimuli: alternating space/time ridge passes")
	fs.IntVar(&o.Folds, "folds", 5, "cross-validation folds for the ridge penalty")
	fs.IntVar(&o.Workers, "workers", 0, "cells fitted at once (0: one per CPU)")
	nonlin := "auto"
	if kind == "ln" {
		fs.StringVar(&nonlin, "nonlinearity", "auto", "output nonlinearity of every cell: softplus, exp, or auto (the better of the two by training likelihood over all cells)")
	}
	if kind == "glm" {
		fs.IntVar(&o.SpikeHistory, "spike-history", 10, "spike-history (and coupling) filter length in `bins` (0: stimulus only)")
		fs.IntVar(&o.Basis, "basis", 5, "raised-cosine basis functions spanning the history and coupling filters")
		fs.BoolVar(&o.Coupling, "coupling", false, "fit coupling filters from every other cell's spikes")
		fs.Float64Var(&o.L2, "l2", 1, "L2 prior on every GLM weight but the bias")
		fs.Float64Var(&o.Smooth, "smooth", 0, "smoothing prior on the stimulus filter's second differences")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case kind == "":
		fs.Usage()
		return fmt.Errorf("%w: want 'fit ln' or 'fit glm'", errUsage)
	case fs.NArg() > 0:
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	case *data == "" || *out == "":
		return fmt.Errorf("%w: --data and --out are required", errUsage)
	case o.History < 1 || o.TestFraction < 0 || o.TestFraction >= 1:
		return fmt.Errorf("%w: --history %d, --test-fraction %v: want >= 1 and 0 <= f < 1", errUsage, o.History, o.TestFraction)
	}
	switch nonlin {
	case "auto":
	case "softplus":
		o.Link, o.LinkSet = fit.Softplus, true
	case "exp":
		o.Link, o.LinkSet = fit.Exp, true
	default:
		return fmt.Errorf("%w: --nonlinearity %q: want softplus, exp or auto", errUsage, nonlin)
	}
	progress := func(format string, a ...any) {
		if !*quiet {
			fmt.Fprintf(e.stderr, "fit %s: "+format+"\n", append([]any{kind}, a...)...)
		}
	}
	start := time.Now()
	d, err := dataset.ReadWith(*data, *readOpts)
	if err != nil {
		return err
	}
	progress("read %s: %d bins of %dx%d at %g Hz (%.1f min), %d cells, in %.1fs", *data, d.T, d.H, d.W, d.FrameRate,
		float64(d.T)/d.FrameRate/60, d.C, time.Since(start).Seconds())
	var last time.Time
	o.Progress = func(p fit.Progress) {
		if p.Done == p.Cells || time.Since(last) > 500*time.Millisecond {
			last = time.Now()
			progress("%d/%d cells fitted (%.1fs)", p.Done, p.Cells, p.Elapsed.Seconds())
		}
	}
	var (
		rep   *fit.Report
		model modelWriter
	)
	switch kind {
	case "ln":
		m, err := fit.FitLN(ctx, d, *data, o)
		if err != nil {
			return err
		}
		rep, model = m.Report(*data), m
	case "glm":
		m, err := fit.FitGLM(ctx, d, *data, o)
		if err != nil {
			return err
		}
		rep, model = m.Report(*data), m
	}
	progress("fitted in %.1fs", time.Since(start).Seconds())
	rep.Summary(e.stdout)
	if *report != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return fmt.Errorf("fit: report: %w", err)
		}
		if err := os.WriteFile(*report, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("fit: %w", err)
		}
	}
	if err := model.WriteModel(*out); err != nil {
		return err
	}
	progress("wrote %s", *out)
	return nil
}

// modelWriter is a fitted model that writes itself as a native model file.
type modelWriter interface{ WriteModel(path string) error }
