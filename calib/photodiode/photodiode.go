// Package photodiode opens the rig's photodiode link from its config block: a serial device,
// the fake device over a pseudo-terminal ("sim"), the reference firmware on an emulated board
// ("avr"), or none ("none": every frame Untimed).
// Open and Run are for the daemon's set-up and its Run goroutine; Flip (from calib) is for the
// frame loop.
package photodiode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"retinad/calib"
	"retinad/calib/avrboard"
	"retinad/calib/simdevice"
	"retinad/clock"
	"retinad/configs"
)

// Photodiode is the opened link, and the fake device or emulated board behind it when the
// config says "sim" or "avr".
type Photodiode struct {
	*calib.Photodiode
	Sim *simdevice.Device // nil unless Device is "sim"
	// Board and Display are the emulated board and the simulated display lighting it, nil
	// unless Device is "avr". Display.Truth is the ground truth of every light.
	Board   *avrboard.Board
	Display *avrboard.Display
	// Prior is the flip-to-light latency prior read from the calibration file (0: none, the
	// link learns the latency from the first onsets); PriorFrom is that file, or why there is
	// no prior, for the log.
	Prior     time.Duration
	PriorFrom string
	// ThresholdFrom is the calibration file whose threshold block set the threshold and
	// hysteresis (written by `retinad calibrate threshold`), or "" when they are the config's.
	ThresholdFrom string
}

// Open builds the link from cfg; o must carry OnOnset and may carry Clock and Log. Refresh is
// the display's refresh period (doubled-frame detection). The latency prior is read from the
// calibration file (cfg.Calibration, written by `retinad calibrate latency`) when it exists;
// a file that exists but does not read, or holds an impossible latency, is an error.
func Open(cfg configs.Photodiode, refresh time.Duration, o calib.Options) (*Photodiode, error) {
	if o.Clock == nil {
		o.Clock = clock.System{}
	}
	o.Threshold, o.Hysteresis, o.Refresh = cfg.Threshold, cfg.Hysteresis, refresh
	prior, from, err := readPrior(cfg.Calibration)
	if err != nil {
		return nil, err
	}
	o.Latency = prior
	p := &Photodiode{Prior: prior, PriorFrom: from}
	if th, err := readThreshold(cfg.Calibration); err != nil {
		return nil, err
	} else if th != nil {
		o.Threshold, o.Hysteresis, p.ThresholdFrom = th.Threshold, th.Hysteresis, cfg.Calibration
	}
	switch cfg.Device {
	case "none", "":
	case "sim":
		dev, err := simdevice.NewDevice(simdevice.DeviceConfig{
			Latency: time.Duration(cfg.Sim.Latency), Jitter: time.Duration(cfg.Sim.Jitter),
			DriftPPM: cfg.Sim.DriftPPM, Offset: time.Duration(cfg.Sim.Offset), Seed: cfg.Sim.Seed,
			LevelNoise: 0.001, // a photodiode amplifier's noise, 0.1% of full scale (display gamma 2.2)
		}, o.Clock)
		if err != nil {
			return nil, fmt.Errorf("photodiode: sim device: %w", err)
		}
		p.Sim, o.Light, o.Name = dev, dev, dev.Path()
		o.Dial = func() (calib.Link, error) {
			return calib.OpenSerial(dev.Path(), cfg.Baud, time.Duration(cfg.ReadTimeout))
		}
	case "avr":
		if err := p.openBoard(cfg, &o); err != nil {
			return nil, err
		}
	default:
		path, baud, rt := cfg.Device, cfg.Baud, time.Duration(cfg.ReadTimeout)
		o.Name = path
		o.Baud = baud // a real line: the clock sync takes each message's wire time out
		o.Dial = func() (calib.Link, error) { return calib.OpenSerial(path, baud, rt) }
	}
	p.Photodiode = calib.New(o)
	return p, nil
}

// openBoard boots the firmware on an emulated board and lights it with a simulated display
// (photodiode.sim.latency, gamma 2.2, the amplifier's noise). The link to it is a serial port
// like any other (its pty, at cfg.Baud, the wire's time taken out of the clock sync): the
// emulator is only how the device comes to exist.
func (p *Photodiode) openBoard(cfg configs.Photodiode, o *calib.Options) error {
	if _, ok := o.Clock.(clock.System); !ok {
		return errors.New("photodiode: avr: the emulated board keeps real time: it needs the system clock")
	}
	fw, emu := avrboard.Paths()
	if cfg.AVR.Firmware != "" {
		fw = cfg.AVR.Firmware
	}
	b, err := avrboard.Start(fw, emu)
	if err != nil {
		return fmt.Errorf("photodiode: %w", err)
	}
	if err := b.SetNoise(5); err != nil { // 0.1% of full scale, as the fake device's
		b.Close()
		return fmt.Errorf("photodiode: %w", err)
	}
	p.Board = b
	p.Display = &avrboard.Display{Board: b, Latency: time.Duration(cfg.Sim.Latency),
		Gamma: 2.2, DarkMV: 250, LightMV: 4500}
	o.Light, o.Name, o.Baud = p.Display, b.PTY, cfg.Baud
	rt := time.Duration(cfg.ReadTimeout)
	o.Dial = func() (calib.Link, error) { return calib.OpenSerial(b.PTY, cfg.Baud, rt) }
	return nil
}

// Run runs the link (and the fake device) until ctx ends; it returns nil then, with both
// stopped, and the emulated board, if any, shut down.
func (p *Photodiode) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	if p.Sim != nil {
		wg.Add(1)
		go func() { defer wg.Done(); p.Sim.Run(ctx) }()
	}
	err := p.Photodiode.Run(ctx)
	wg.Wait()
	if p.Board != nil {
		if cerr := p.Board.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("photodiode: %w", cerr)
		}
	}
	return err
}

// readPrior reads the latency prior from the calibration file at path ("" or a missing file:
// none, with the reason in from).
func readPrior(path string) (prior time.Duration, from string, err error) {
	if path == "" {
		return 0, "no calibration file configured (photodiode.calibration)", nil
	}
	c, err := ReadCalibration(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return 0, path + " does not exist yet (retinad calibrate latency writes it)", nil
	case err != nil:
		return 0, "", err
	case c.Latency == nil:
		return 0, path + " has no latency block", nil
	}
	if prior, err = LatencyPrior(c); err != nil {
		return 0, "", fmt.Errorf("photodiode: calibration %s: %w", path, err)
	}
	return prior, path, nil
}

// readThreshold reads the threshold block of the calibration file at path: nil when there is
// no file or no block; an error when the block cannot be a threshold.
func readThreshold(path string) (*ThresholdCal, error) {
	if path == "" {
		return nil, nil
	}
	c, err := ReadCalibration(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, err
	case c.Threshold == nil:
		return nil, nil
	}
	th := c.Threshold
	if !(th.Threshold > 0 && th.Threshold < 1 && th.Hysteresis >= 0 && th.Threshold-th.Hysteresis/2 >= 0 && th.Threshold+th.Hysteresis/2 <= 1) {
		return nil, fmt.Errorf("photodiode: calibration %s: threshold %v, hysteresis %v: want a threshold in (0, 1) whose hysteresis band stays within 0..1", path, th.Threshold, th.Hysteresis)
	}
	return th, nil
}

// LatencyPrior is the latency block's mean as a duration; a mean that is not a finite latency
// from 0 to 1 s is an error (no monitor takes a second to light).
func LatencyPrior(c Calibration) (time.Duration, error) {
	if c.Latency == nil {
		return 0, errors.New("no latency block")
	}
	ms := c.Latency.MeanMs
	if !(ms >= 0 && ms < 1000) {
		return 0, fmt.Errorf("latency.mean_ms %v: want a latency from 0 to 1000 ms", ms)
	}
	return time.Duration(ms * 1e6), nil
}

// Latency is the latency block of the calibration file.
type Latency struct {
	MeanMs     float64 `json:"mean_ms"`
	SdMs       float64 `json:"sd_ms"`
	P99Ms      float64 `json:"p99_ms"`
	Frames     int     `json:"frames"`
	Dropped    int     `json:"dropped"`
	MeasuredAt string  `json:"measured_at,omitempty"`
	Device     string  `json:"device,omitempty"`
}

// Calibration is the rig's calibration file; keys it does not know are kept on rewrite.
type Calibration struct {
	Latency   *Latency      `json:"latency,omitempty"`
	Gamma     *GammaCal     `json:"gamma,omitempty"`
	Threshold *ThresholdCal `json:"threshold,omitempty"`
}

// ThresholdCal is the threshold block of the calibration file: the edge threshold and
// hysteresis `retinad run` sends the device (instead of photodiode.threshold and hysteresis),
// fractions of full scale, and what they were set from.
type ThresholdCal struct {
	Threshold  float64 `json:"threshold"`
	Hysteresis float64 `json:"hysteresis"`
	Margin     float64 `json:"margin"`   // hysteresis as a fraction of bright - dark
	Dark       float64 `json:"dark"`     // the patch's level at drive 0
	Bright     float64 `json:"bright"`   // at full drive
	Verified   int     `json:"verified"` // frames of the test sequence, every one timed with it
	MeasuredAt string  `json:"measured_at,omitempty"`
	Device     string  `json:"device,omitempty"`
}

// GammaCal is the gamma block of the calibration file: the fitted power law and where the
// measured table was written (the file display.gamma.lut names for the presenter).
type GammaCal struct {
	Exponent   float64 `json:"exponent"`
	RMS        float64 `json:"rms"`
	Steps      int     `json:"steps"`
	LUT        string  `json:"lut"`
	Black      float64 `json:"black"` // diode level at drive 0, fraction of full scale
	White      float64 `json:"white"` // at full drive
	MeasuredAt string  `json:"measured_at,omitempty"`
	Device     string  `json:"device,omitempty"`
}

// ReadCalibration reads the calibration file at path.
func ReadCalibration(path string) (Calibration, error) {
	var c Calibration
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("photodiode: calibration: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("photodiode: calibration %s: %w", path, err)
	}
	return c, nil
}

// WriteLatency sets the latency block of the calibration file at path, keeping its other keys.
func WriteLatency(path string, l Latency) error { return writeBlock(path, "latency", l) }

// WriteThreshold sets the threshold block of the calibration file at path, keeping its other keys.
func WriteThreshold(path string, t ThresholdCal) error { return writeBlock(path, "threshold", t) }

// WriteGamma sets the gamma block of the calibration file at path, keeping its other keys.
func WriteGamma(path string, g GammaCal) error { return writeBlock(path, "gamma", g) }

// WriteGammaTable writes a measured table in the format display.gamma.lut reads (the
// presenter's ParseGammaTable): comment lines, then one normalised luminance per line for
// equally spaced drive levels from 0 to full.
func WriteGammaTable(path string, table []float64, comment string) error {
	var b []byte
	for _, line := range strings.Split(comment, "\n") {
		b = append(b, "# "+line+"\n"...)
	}
	for _, v := range table {
		b = strconv.AppendFloat(b, v, 'f', 8, 64)
		b = append(b, '\n')
	}
	return writeFile(path, b)
}

func writeBlock(path, key string, v any) error {
	doc := map[string]json.RawMessage{}
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &doc); err != nil {
			return fmt.Errorf("photodiode: calibration %s: %w (not overwritten)", path, err)
		}
	}
	lb, _ := json.Marshal(v)
	doc[key] = lb
	b, _ := json.MarshalIndent(doc, "", "  ")
	return writeFile(path, append(b, '\n'))
}

// writeFile replaces path with b atomically, making its folder.
func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("photodiode: calibration: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("photodiode: calibration: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("photodiode: calibration: %w", err)
	}
	return nil
}
