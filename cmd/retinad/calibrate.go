package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"retinad/calib"
	"retinad/calib/photodiode"
	"retinad/clock"
	"retinad/configs"
	"retinad/stimulus/present"
)

// calibrateCommand is `retinad calibrate`, in the command table (main.go).
func calibrateCommand() command {
	return command{
		name:    "calibrate",
		args:    "latency [--config C] [--frames N] [--json] [--out FILE] | gamma [--config C] [--steps N] [--hold D] [--lut FILE] [--json] [--out FILE] | threshold [--config C] [--hold D] [--margin F] [--verify N] [--json] [--out FILE]",
		summary: "measure flip-to-light latency, the display's gamma, or the photodiode's edge threshold, and write it to the rig's calibration file",
		run:     runCalibrate,
	}
}

func runCalibrate(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	if len(args) > 0 && args[0] == "gamma" {
		return runCalibrateGamma(ctx, e, fs, args[1:])
	}
	if len(args) > 0 && args[0] == "threshold" {
		return runCalibrateThreshold(ctx, e, fs, args[1:])
	}
	cfgPath := fs.String("config", "configs/sim.yaml", "config file")
	frames := fs.Int("frames", 1000, "frames to measure")
	asJSON := fs.Bool("json", false, "print the result as JSON (mean_ms, sd_ms, p99_ms, frames, dropped)")
	out := fs.String("out", "", "calibration file to write (default: photodiode.calibration of the config)")
	if len(args) == 0 || args[0] != "latency" {
		fs.Usage()
		return fmt.Errorf("%w: want 'calibrate latency', 'calibrate gamma' or 'calibrate threshold'", errUsage)
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *frames < 10 {
		return fmt.Errorf("%w: --frames %d: want at least 10", errUsage, *frames)
	}
	cfg, err := calibrationConfig(*cfgPath, out)
	if err != nil {
		return err
	}
	disp, err := openPatch(cfg, "latency", e)
	if err != nil {
		return err
	}
	defer disp.close()
	period := time.Duration(float64(time.Second) / float64(cfg.Stimulus.FrameRate))
	l, err := photodiode.MeasureLatency(ctx, cfg.Photodiode, period, *frames, disp.showFunc(ctx), calib.Options{Log: e.log})
	if err != nil {
		return fmt.Errorf("calibrate latency: %w", err)
	}
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
	cfg, err := calibrationConfig(*cfgPath, out)
	if err != nil {
		return err
	}
	if *lutPath == "" {
		*lutPath = cfg.Display.Gamma.LUT
	}
	if *lutPath == "" {
		*lutPath = filepath.Join(filepath.Dir(*out), cfg.Rig+".gamma.lut")
	}
	disp, err := openPatch(cfg, "gamma", e)
	if err != nil {
		return err
	}
	defer disp.close()
	var g calib.Gamma
	err = measureLevels(ctx, cfg, disp, e, func(mctx context.Context, pd *photodiode.Photodiode, meter *calib.GammaMeter, show func(uint64, float64) int64) (err error) {
		g, err = photodiode.MeasureGamma(mctx, pd.Photodiode, meter, photodiode.GammaOptions{Steps: *steps, Hold: *hold, Show: show})
		return err
	})
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

// patchDisplay is where calibrate shows the photodiode's patch. For photodiode.device sim and
// avr it is the photodiode package's simulated display, lit by the link's Flip itself (the fake
// device, or the emulated board's A0), at the stimulus frame rate from a ticker. For a serial
// device it is the rig's monitor through the stimulus presenter, as `retinad run` shows it: the
// patch at each drive level (PresentLevel), paced on the presenter's refresh grid, the flip's
// time its Flip.HostNS. Everything else in calibrate is the same for both.
type patchDisplay struct {
	p   *present.Presenter // serial device; nil for sim and avr
	fl  *flipper           // sim and avr
	err error              // the first failure to show the patch (the presenter's, or ctx ended)
}

// openPatch opens the display calibrate's `what` shows the patch on (see patchDisplay). A serial
// device is told apart before anything opens the port, and a port another retinad holds is
// refused (calib.ErrBusy). The presenter's GL calls stay on this goroutine's thread, locked
// here until close (cmd/retinad's main thread is already locked in init).
func openPatch(cfg *configs.Config, what string, e *env) (*patchDisplay, error) {
	period := time.Duration(float64(time.Second) / float64(cfg.Stimulus.FrameRate))
	switch d := cfg.Photodiode.Device; d {
	case "sim", "avr":
		return &patchDisplay{fl: newFlipper(period)}, nil
	case "none":
		return nil, fmt.Errorf("calibrate %s: photodiode.device is \"none\": there is no photodiode to measure with", what)
	default:
		if _, err := os.Stat(d); err != nil {
			return nil, fmt.Errorf("calibrate %s: photodiode.device: %w (is the photodiode plugged in?)", what, err)
		}
		if err := calib.SerialFree(d); err != nil {
			return nil, fmt.Errorf("calibrate %s: %w", what, err)
		}
		runtime.LockOSThread()
		p, err := present.Open(cfg.Display, cfg.Stimulus, present.Options{Log: e.log, Title: "retinad calibrate " + what, OnPatch: e.onPatch})
		if err != nil {
			runtime.UnlockOSThread()
			return nil, fmt.Errorf("calibrate %s: photodiode.device %s: the patch is shown by the stimulus presenter (display block of %s): %w", what, d, cfg.File, err)
		}
		// The presenter's first flips find out whether the swaps wait for vsync (three in a row
		// faster than half a frame: it paces from the clock instead); flipped that fast, they
		// would be lights too short for any photodiode. They are shown black, before anything
		// is measured.
		disp := &patchDisplay{p: p}
		for range 5 {
			if err := disp.dark(); err != nil {
				disp.close()
				return nil, fmt.Errorf("calibrate %s: %w", what, err)
			}
		}
		return disp, nil
	}
}

// dark shows the patch black on the monitor, telling no link: where a measurement starts, as
// the simulated displays of sim and avr start dark with each new link. A monitor keeps the
// patch as it was last shown (bright after calibrate threshold's levels), so a test sequence
// that begins by lighting it would see no edge for its first flip.
func (d *patchDisplay) dark() error {
	if d.p == nil {
		return nil
	}
	if _, err := d.p.PresentLevel(0); err != nil {
		d.err = err
		return err
	}
	return nil
}

// showFunc is the patch's photodiode.ShowFunc: the ticker's time for sim and avr (whose
// simulated display the link's Flip lights), the presenter's flip for a serial device.
func (d *patchDisplay) showFunc(ctx context.Context) photodiode.ShowFunc {
	return func(level float64) (int64, error) {
		if d.p == nil {
			if !d.fl.wait(ctx) {
				return 0, fmt.Errorf("photodiode: %w", ctx.Err())
			}
			return d.fl.flipped(), nil
		}
		if d.err != nil {
			return 0, d.err
		}
		flip, err := d.p.PresentLevel(level)
		if err != nil {
			d.err = err
			return 0, err
		}
		return flip.HostNS, nil
	}
}

// shower is showFunc for photodiode.MeasureGamma and MeasureThreshold, which leave telling the
// link (pd.Flip) to Show, run with ctx: a failure ends the measurement at once (stop cancels
// ctx) and is in d.err once they return.
func (d *patchDisplay) shower(ctx context.Context, stop context.CancelFunc, pd *photodiode.Photodiode) func(uint64, float64) int64 {
	show := d.showFunc(ctx)
	return func(f uint64, level float64) int64 {
		ns, err := show(level)
		if err != nil {
			if d.err == nil {
				d.err = err
			}
			stop()
			return clock.System{}.Now()
		}
		pd.Flip(f, ns, level)
		return ns
	}
}

// close closes the presenter, on the thread that opened it, or stops the ticker.
func (d *patchDisplay) close() {
	if d.p == nil {
		d.fl.stop()
		return
	}
	d.p.Close()
	runtime.UnlockOSThread()
}

// runCalibrateThreshold shows the patch dark and bright with the device streaming levels, sets
// the threshold midway and the hysteresis a margin of the gap, checks that a test sequence of
// flips is timed frame by frame with them, and writes them into the calibration file, where
// `retinad run` takes them instead of photodiode.threshold and hysteresis.
func runCalibrateThreshold(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	cfgPath := fs.String("config", "configs/sim.yaml", "config file")
	hold := fs.Duration("hold", 400*time.Millisecond, "how long dark and bright are each shown (the second half is measured)")
	margin := fs.Float64("margin", 0.2, "hysteresis, as a fraction of bright - dark")
	verify := fs.Int("verify", 60, "flips of the test sequence that must all be timed with the new threshold")
	asJSON := fs.Bool("json", false, "print the result as JSON (dark, bright, threshold, hysteresis, margin, verified, calibration)")
	out := fs.String("out", "", "calibration file to write (default: photodiode.calibration of the config)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *hold < 20*time.Millisecond || !(*margin > 0 && *margin < 1) || *verify < 2 {
		return fmt.Errorf("%w: --hold %v --margin %v --verify %d: want a hold of at least 20ms, a margin in (0, 1), at least 2 flips", errUsage, *hold, *margin, *verify)
	}
	cfg, err := calibrationConfig(*cfgPath, out)
	if err != nil {
		return err
	}
	disp, err := openPatch(cfg, "threshold", e)
	if err != nil {
		return err
	}
	defer disp.close()
	var th photodiode.Threshold
	err = measureLevels(ctx, cfg, disp, e, func(mctx context.Context, pd *photodiode.Photodiode, meter *calib.GammaMeter, show func(uint64, float64) int64) (err error) {
		th, err = photodiode.MeasureThreshold(mctx, pd.Photodiode, meter, photodiode.ThresholdOptions{Hold: *hold, Margin: *margin, Show: show})
		return err
	})
	fmt.Fprintf(e.stderr, "dark %.4f, bright %.4f of full scale\n", th.Dark, th.Bright)
	if err != nil {
		return fmt.Errorf("calibrate threshold: %w", err)
	}
	fmt.Fprintf(e.stderr, "threshold %.4f, hysteresis %.4f (%.0f%% of the gap: edges at %.4f rising, %.4f falling); checking %d flips\n",
		th.Threshold, th.Hysteresis, 100**margin, th.Threshold+th.Hysteresis/2, th.Threshold-th.Hysteresis/2, *verify)
	pc := cfg.Photodiode
	pc.Threshold, pc.Hysteresis, pc.Calibration = th.Threshold, th.Hysteresis, "" // these, not an older file's
	// The monitor still shows the bright level: the test sequence starts dark, as on a new link.
	if err := disp.dark(); err != nil {
		return fmt.Errorf("calibrate threshold: %w", err)
	}
	if err := photodiode.VerifyEdges(ctx, pc, *verify, disp.showFunc(ctx), calib.Options{Log: e.log}); err != nil {
		return fmt.Errorf("calibrate threshold: %w: not written", err)
	}
	now := time.Now().UTC().Format(time.RFC3339)
	if err := photodiode.WriteThreshold(*out, photodiode.ThresholdCal{Threshold: th.Threshold, Hysteresis: th.Hysteresis, Margin: *margin,
		Dark: th.Dark, Bright: th.Bright, Verified: *verify, MeasuredAt: now, Device: cfg.Photodiode.Device}); err != nil {
		return err
	}
	if *asJSON {
		b, _ := json.Marshal(struct {
			Dark, Bright, Threshold, Hysteresis, Margin float64
			Verified                                    int
			Calibration                                 string
		}{th.Dark, th.Bright, th.Threshold, th.Hysteresis, *margin, *verify, *out})
		fmt.Fprintln(e.stdout, string(b))
		return nil
	}
	fmt.Fprintf(e.stdout, "threshold %.4f hysteresis %.4f (dark %.4f, bright %.4f, margin %.2f): %d of %d test flips timed; written to %s\n",
		th.Threshold, th.Hysteresis, th.Dark, th.Bright, *margin, *verify, *verify, *out)
	return nil
}

// flipper paces the simulated flips of calibrate at a frame period. A tick that comes less than
// half a period after the last flip (a host too busy to take the one before in time) is let
// go: flipped then, the patch would be lit for microseconds, too short for any photodiode, and
// that frame and the next would both read as dropped.
type flipper struct {
	tick   *time.Ticker
	period int64
	last   int64
	clk    clock.System
}

func newFlipper(period time.Duration) *flipper {
	return &flipper{tick: time.NewTicker(period), period: int64(period)}
}

// wait returns at the next tick fit for a flip, or false when ctx ends.
func (f *flipper) wait(ctx context.Context) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-f.tick.C:
		}
		if f.last == 0 || f.clk.Now()-f.last >= f.period/2 {
			return true
		}
	}
}

// flipped returns the flip's time, now, and remembers it.
func (f *flipper) flipped() int64 { f.last = f.clk.Now(); return f.last }

func (f *flipper) stop() { f.tick.Stop() }

// calibrationConfig loads the rig's config and settles where the calibration is written: *out
// (--out) when given, else photodiode.calibration, else <rig>.calibration.json beside the config.
func calibrationConfig(path string, out *string) (*configs.Config, error) {
	cfg, err := configs.Load(path)
	if err != nil {
		return nil, err
	}
	switch {
	case *out != "":
	case cfg.Photodiode.Calibration != "":
		*out = cfg.Photodiode.Calibration
	default:
		*out = filepath.Join(filepath.Dir(cfg.File), cfg.Rig+".calibration.json")
	}
	return cfg, nil
}

// measureLevels opens the photodiode streaming its levels into a meter and runs measure, which
// shows the patch with show (gamma and threshold). The error is the display's if it failed (it
// explains the rest), else measure's, else the link's.
func measureLevels(ctx context.Context, cfg *configs.Config, disp *patchDisplay, e *env,
	measure func(ctx context.Context, pd *photodiode.Photodiode, meter *calib.GammaMeter, show func(uint64, float64) int64) error) error {
	var meter calib.GammaMeter
	pd, stop, err := photodiode.OpenSynced(ctx, cfg.Photodiode, 0, calib.Options{OnOnset: func(calib.Onset) {}, OnLevels: meter.Levels, Log: e.log})
	if err != nil {
		return err
	}
	mctx, mstop := context.WithCancel(ctx)
	err = measure(mctx, pd, &meter, disp.shower(mctx, mstop, pd))
	mstop()
	if rerr := stop(); err == nil {
		err = rerr
	}
	if disp.err != nil {
		err = disp.err
	}
	return err
}
