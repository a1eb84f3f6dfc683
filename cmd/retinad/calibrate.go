package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"retinad/calib"
	"retinad/calib/photodiode"
	"retinad/configs"
)

// calibrateCommand is `retinad calibrate`, in the command table (main.go).
func calibrateCommand() command {
	return command{
		name:    "calibrate",
		args:    "latency [--config C] [--frames N] [--json] [--out FILE] | gamma [--config C] [--steps N] [--hold D] [--lut FILE] [--json] [--out FILE]",
		summary: "measure flip-to-light latency, or the display's gamma, with the photodiode and write it to the rig's calibration file",
		run:     runCalibrate,
	}
}

func runCalibrate(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	if len(args) > 0 && args[0] == "gamma" {
		return runCalibrateGamma(ctx, e, fs, args[1:])
	}
	cfgPath := fs.String("config", "configs/sim.yaml", "config file")
	frames := fs.Int("frames", 1000, "frames to measure")
	asJSON := fs.Bool("json", false, "print the result as JSON (mean_ms, sd_ms, p99_ms, frames, dropped)")
	out := fs.String("out", "", "calibration file to write (default: photodiode.calibration of the config)")
	if len(args) == 0 || args[0] != "latency" {
		fs.Usage()
		return fmt.Errorf("%w: want 'calibrate latency' or 'calibrate gamma'", errUsage)
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *frames < 10 {
		return fmt.Errorf("%w: --frames %d: want at least 10", errUsage, *frames)
	}
	cfg, err := configs.Load(*cfgPath)
	if err != nil {
		return err
	}
	if *out == "" {
		*out = cfg.Photodiode.Calibration
	}
	if *out == "" {
		*out = filepath.Join(filepath.Dir(cfg.File), cfg.Rig+".calibration.json")
	}
	if cfg.Photodiode.Device != "sim" {
		// A real device must see real flips: that needs the stimulus presenter, not wired here yet.
		return fmt.Errorf("calibrate latency: photodiode.device %q: only \"sim\" is supported until the presenter is wired in", cfg.Photodiode.Device)
	}
	period := time.Duration(float64(time.Second) / float64(cfg.Stimulus.FrameRate))

	var mu sync.Mutex
	var lat []float64
	var dropped, resolved int
	done := make(chan struct{})
	onOnset := func(o calib.Onset) {
		mu.Lock()
		defer mu.Unlock()
		switch o.Status {
		case calib.Timed:
			lat = append(lat, float64(o.LatencyNs)/1e6)
		case calib.Dropped:
			dropped++
		}
		if resolved++; resolved == *frames {
			close(done)
		}
	}
	pd, err := photodiode.Open(cfg.Photodiode, period, calib.Options{OnOnset: onOnset, Log: e.log})
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	runErr := make(chan error, 1)
	go func() { runErr <- pd.Run(runCtx) }()

	// Wait for the link and its clock sync, then drive the fake device's light directly at
	// the stimulus frame rate (no display needed).
	clk := calib.SystemClock{}
	st := pd.Stats()
	for start := time.Now(); st.Pongs.Load() < 16; {
		if time.Since(start) > 5*time.Second || ctx.Err() != nil {
			cancel()
			<-runErr
			return fmt.Errorf("calibrate latency: the photodiode did not answer within 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	tick := time.NewTicker(period)
	for f := 0; f < *frames; f++ {
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
		if ctx.Err() != nil {
			break
		}
		pd.Flip(uint64(f), clk.Now(), float64(f%2))
	}
	tick.Stop()
	select {
	case <-done:
	case <-time.After(time.Second):
	case <-ctx.Done():
	}
	cancel()
	if err := <-runErr; err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lat) < *frames/2 {
		return fmt.Errorf("calibrate latency: only %d of %d frames were timed", len(lat), *frames)
	}
	l := summarize(lat, dropped)
	l.MeasuredAt, l.Device = time.Now().UTC().Format(time.RFC3339), cfg.Photodiode.Device
	if err := photodiode.WriteLatency(*out, l); err != nil {
		return err
	}
	if *asJSON {
		b, _ := json.Marshal(struct {
			MeanMs  float64 `json:"mean_ms"`
			SdMs    float64 `json:"sd_ms"`
			P99Ms   float64 `json:"p99_ms"`
			Frames  int     `json:"frames"`
			Dropped int     `json:"dropped"`
		}{l.MeanMs, l.SdMs, l.P99Ms, l.Frames, l.Dropped})
		fmt.Fprintln(e.stdout, string(b))
		return nil
	}
	fmt.Fprintf(e.stdout, "latency %.3f ms +/- %.3f ms (p99 %.3f ms) over %d frames, %d dropped; written to %s\n",
		l.MeanMs, l.SdMs, l.P99Ms, l.Frames, l.Dropped, *out)
	return nil
}

func summarize(ms []float64, dropped int) photodiode.Latency {
	var s, ss float64
	for _, v := range ms {
		s += v
	}
	m := s / float64(len(ms))
	for _, v := range ms {
		ss += (v - m) * (v - m)
	}
	sorted := slices.Clone(ms)
	slices.Sort(sorted)
	return photodiode.Latency{MeanMs: m, SdMs: math.Sqrt(ss / float64(len(ms)-1)),
		P99Ms: sorted[min(len(sorted)-1, len(sorted)*99/100)], Frames: len(ms), Dropped: dropped}
}

// runCalibrateGamma shows gray levels on the photodiode patch, reads the diode's levels, fits
// the display's gamma and writes the measured table where display.gamma.lut reads it, and the
// fit into the calibration file.
func runCalibrateGamma(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	cfgPath := fs.String("config", "configs/sim.yaml", "config file")
	steps := fs.Int("steps", 256, "gray levels, equally spaced from black to white")
	hold := fs.Duration("hold", 60*time.Millisecond, "how long each gray level is shown (its second half is measured)")
	lutPath := fs.String("lut", "", "measured table to write (default: display.gamma.lut of the config, else <rig>.gamma.lut beside the calibration file)")
	asJSON := fs.Bool("json", false, "print the result as JSON (exponent, rms, steps, lut, calibration)")
	out := fs.String("out", "", "calibration file to write (default: photodiode.calibration of the config)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *steps < 3 || *hold < 20*time.Millisecond {
		return fmt.Errorf("%w: --steps %d --hold %v: want at least 3 steps held at least 20ms", errUsage, *steps, *hold)
	}
	cfg, err := configs.Load(*cfgPath)
	if err != nil {
		return err
	}
	if *out == "" {
		*out = cfg.Photodiode.Calibration
	}
	if *out == "" {
		*out = filepath.Join(filepath.Dir(cfg.File), cfg.Rig+".calibration.json")
	}
	if *lutPath == "" {
		*lutPath = cfg.Display.Gamma.LUT
	}
	if *lutPath == "" {
		*lutPath = filepath.Join(filepath.Dir(*out), cfg.Rig+".gamma.lut")
	}
	if cfg.Photodiode.Device != "sim" {
		// A real device must see the display's grays: that needs the presenter, not wired here yet.
		return fmt.Errorf("calibrate gamma: photodiode.device %q: only \"sim\" is supported until the presenter is wired in", cfg.Photodiode.Device)
	}
	var meter calib.GammaMeter
	pd, err := photodiode.Open(cfg.Photodiode, 0, calib.Options{OnOnset: func(calib.Onset) {}, OnLevels: meter.Levels, Log: e.log})
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- pd.Run(runCtx) }()
	st := pd.Stats()
	for start := time.Now(); st.Pongs.Load() < 16; time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 5*time.Second || ctx.Err() != nil {
			cancel()
			<-runErr
			return fmt.Errorf("calibrate gamma: the photodiode did not answer within 5 s")
		}
	}
	clk := calib.SystemClock{}
	g, err := photodiode.MeasureGamma(ctx, pd.Photodiode, &meter, photodiode.GammaOptions{Steps: *steps, Hold: *hold,
		Show: func(f uint64, level float64) int64 { ns := clk.Now(); pd.Flip(f, ns, level); return ns }})
	cancel()
	if rerr := <-runErr; err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("calibrate gamma: %w", err)
	}
	now := time.Now().UTC().Format(time.RFC3339)
	table := g.Table(max(256, *steps))
	comment := fmt.Sprintf("retinad calibrate gamma, %s, device %s: %d gray levels, fitted exponent %.4f (rms %.4f)\n"+
		"normalised luminance for %d equally spaced drive levels from 0 to full (display.gamma.lut)",
		now, cfg.Photodiode.Device, *steps, g.Exponent, g.RMS, len(table))
	if err := photodiode.WriteGammaTable(*lutPath, table, comment); err != nil {
		return err
	}
	if err := photodiode.WriteGamma(*out, photodiode.GammaCal{Exponent: g.Exponent, RMS: g.RMS, Steps: *steps, LUT: *lutPath,
		Black: g.Black, White: g.White, MeasuredAt: now, Device: cfg.Photodiode.Device}); err != nil {
		return err
	}
	if *asJSON {
		b, _ := json.Marshal(struct {
			Exponent    float64 `json:"exponent"`
			RMS         float64 `json:"rms"`
			Steps       int     `json:"steps"`
			LUT         string  `json:"lut"`
			Calibration string  `json:"calibration"`
		}{g.Exponent, g.RMS, *steps, *lutPath, *out})
		fmt.Fprintln(e.stdout, string(b))
		return nil
	}
	fmt.Fprintf(e.stdout, "gamma %.4f (rms %.4f of full) over %d gray levels; table written to %s, fit to %s\n", g.Exponent, g.RMS, *steps, *lutPath, *out)
	if cfg.Display.Gamma.LUT != *lutPath {
		fmt.Fprintf(e.stdout, "to use the table, set display.gamma.lut: %s in %s\n", *lutPath, cfg.File)
	}
	return nil
}
