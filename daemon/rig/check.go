package rig

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"strconv"

	"retinad/acquisition"
	"retinad/calib/avrboard"
	"retinad/calib/photodiode"
	"retinad/configs"
	"retinad/daemon"
	"retinad/stimulus"
	"retinad/stimulus/adaptive"
	"retinad/stimulus/present"
)

// Check dry-runs the rig cfg (already validated by configs.Load) describes, without a window,
// a serial port or the bus: the stimulus source is made, the gamma table reads, every model file loads and fits the
// stimulus grid as Open would load it, the adaptive strategy is made against those models, the
// photodiode device exists (or is "sim" or "none") and its calibration file, when there is one,
// reads, and the recording folder can hold the record. It returns every problem at once as a
// *configs.Problems, or nil when Open would accept the config.
func Check(cfg *configs.Config) error {
	ps := &configs.Problems{File: cfg.File}
	if _, err := stimulus.New(cfg.Stimulus); err != nil {
		ps.Add("stimulus", "%v", err)
	}
	if _, err := present.InverseGamma(cfg.Display.Gamma); err != nil {
		ps.Add("display.gamma", "%v", err)
	}
	quiet := slog.New(slog.DiscardHandler)
	var names []string
	var cells int
	lead := 0
	for i, mc := range cfg.Models {
		m, im, err := openModel(context.Background(), cfg, daemon.LoadRequest{Name: mc.Name, File: mc.File, Observed: mc.Observed}, quiet)
		if err != nil {
			ps.Add("models["+strconv.Itoa(i)+"].file", "%v", err)
			continue
		}
		names = append(names, mc.Name)
		if len(names) == 1 {
			cells = len(m.CellIDs)
		}
		lead = max(lead, im.Input.History-1)
	}
	if a := cfg.Adaptive; a.Strategy != "" && len(names) == len(cfg.Models) {
		if _, err := adaptive.FromConfig(a, cfg.Stimulus, names, lead); err != nil {
			ps.Add("adaptive", "%v", err)
		}
		for i, c := range a.Cells {
			if c >= cells {
				ps.Add("adaptive.cells["+strconv.Itoa(i)+"]", "%d: the first model has %d cells (indices 0 to %d)", c, cells, cells-1)
			}
		}
	}
	checkPhotodiode(ps, cfg.Photodiode)
	if cfg.Recording.Enabled {
		if err := acquisition.RecordingDirUsable(cfg.Recording.Dir); err != nil {
			ps.Add("recording.dir", "%v", err)
		}
	}
	return ps.Err()
}

// checkPhotodiode adds a problem when the serial device is missing, or when the calibration
// file exists but does not read or holds an impossible latency (a missing one is normal before
// the first `retinad calibrate latency`).
func checkPhotodiode(ps *configs.Problems, pd configs.Photodiode) {
	switch pd.Device {
	case "sim", "none":
	case "avr":
		fw, emu := avrboard.Paths()
		if pd.AVR.Firmware != "" {
			fw = pd.AVR.Firmware
		}
		for _, f := range []string{fw, emu} {
			if _, err := os.Stat(f); err != nil {
				ps.Add("photodiode.avr.firmware", "%v (make firmware builds the firmware and the emulator)", err)
			}
		}
	default:
		if _, err := os.Stat(pd.Device); err != nil {
			ps.Add("photodiode.device", "%s: no such device (plugged in? want a serial device path, \"sim\", \"avr\" or \"none\")", pd.Device)
		}
	}
	if pd.Calibration == "" {
		return
	}
	c, err := photodiode.ReadCalibration(pd.Calibration)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		ps.Add("photodiode.calibration", "%v", err)
	case c.Latency != nil:
		if _, err := photodiode.LatencyPrior(c); err != nil {
			ps.Add("photodiode.calibration", "%s: %v", pd.Calibration, err)
		}
	}
}
