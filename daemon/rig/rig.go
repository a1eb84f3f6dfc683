package rig

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"time"

	"gopkg.in/yaml.v3"

	"retinad/acquisition"
	"retinad/acquisition/sim"
	"retinad/calib"
	"retinad/calib/avrboard"
	"retinad/calib/photodiode"
	"retinad/calib/simdevice"
	"retinad/clock"
	"retinad/configs"
	"retinad/daemon"
	"retinad/dashboard"
	"retinad/proto/contract"
	"retinad/stimulus"
	"retinad/stimulus/present"
)

// Options are what Open needs besides the config.
type Options struct {
	Log       *slog.Logger // nil: discard
	StatusOut io.Writer    // the status line; nil for none
	Version   string       // the build's version (semantic, e.g. 1.2.0 or 0.0.0-dev): Status, SessionEvent and the control service say it
	Session   string       // "" makes one from the UTC time
	// FrameDump, for tests only, receives every frame the presenter draws, in display order, as
	// height*width little-endian float32 (contrast): the truth an export is checked against.
	// nil (the default): nothing is written and the frame loop only tests a nil.
	FrameDump io.Writer
}

// Rig is an opened rig: every part is live and Run shows the session.
type Rig struct {
	cfg     *configs.Config
	log     *slog.Logger
	bus     *acquisition.Bus
	out     daemon.Bus // the daemon's (and the adaptive stimulus's) publish queue on bus, nats.publish_queue long
	pres    *present.Presenter
	diode   *calib.Photodiode
	device  *simdevice.Device
	display *avrboard.Display // the emulated board's simulated display (device avr), else nil
	prior   time.Duration     // the photodiode's latency prior, from the calibration file
	retina  *sim.Acquisition
	daemon  *daemon.Daemon
	dash    *dashboard.Server // the HTTP listener (nil: dashboard.listen "")
	session string
	version string // the build's, everywhere: Status, SessionEvent, the control service
}

// Open opens every part cfg describes. On error, what was opened is closed again.
func Open(cfg *configs.Config, o Options) (r *Rig, err error) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	session := o.Session
	if session == "" {
		session = time.Now().UTC().Format("20060102T150405Z")
	}
	rg := &Rig{cfg: cfg, log: log, session: session, version: o.Version}
	r = rg
	defer func() {
		if err != nil {
			rg.Close()
			r = nil
		}
	}()

	store := ""
	if cfg.Recording.Enabled {
		store = cfg.Recording.Dir
	}
	if r.bus, err = acquisition.Start(cfg.NATS, acquisition.BusOptions{Name: "retinad " + cfg.Rig, Rig: cfg.Rig, StoreDir: store, ReconnectBuf: int(cfg.NATS.ReconnectBuffer), Log: log}); err != nil {
		return nil, err
	}
	r.out = daemon.NATSBus(r.bus.Conn(), cfg.NATS.PublishQueue, log)
	var recorder daemon.Recorder
	if cfg.Recording.Enabled {
		if recorder, err = r.openRecording(); err != nil {
			return nil, err
		}
	}

	src, err := stimulus.New(cfg.Stimulus)
	if err != nil {
		return nil, err
	}
	if r.pres, err = present.Open(cfg.Display, cfg.Stimulus, present.Options{Log: log}); err != nil {
		return nil, err
	}

	models, err := loadModels(cfg, log)
	if err != nil {
		return nil, err
	}
	var comps []daemon.Component
	flips, err := r.openPhotodiode(&comps)
	if err != nil {
		return nil, err
	}
	pres := &presenter{p: r.pres}
	if o.FrameDump != nil {
		pres.dump, pres.dumpBuf = o.FrameDump, make([]byte, 4*cfg.Stimulus.Height*cfg.Stimulus.Width)
	}
	if cfg.Acquisition.Simulate {
		if flips, err = r.openRetina(pres, flips, &comps); err != nil {
			return nil, err
		}
	}

	var source daemon.Source = newSequence(src)
	if cfg.Adaptive.Strategy != "" {
		if source, err = r.openAdaptive(session, &comps); err != nil {
			return nil, err
		}
	}
	comps = append(comps, daemon.Component{Name: "control service", Run: r.serveControl})
	if err := r.openDashboard(&comps); err != nil {
		return nil, err
	}
	var diodeDown func() time.Duration
	var diodeReady <-chan struct{}
	if r.diode != nil {
		diodeDown, diodeReady = r.diode.Down, r.diode.Ready()
	}
	r.daemon, err = daemon.New(daemon.Parts{
		Rig: cfg.Rig, Session: session, Version: o.Version, ConfigYAML: configYAML(cfg),
		Source: source, Presenter: pres, Flips: flips, FlipsReady: diodeReady, PhotodiodeLost: r.photodiodeLost, PhotodiodeDown: diodeDown,
		PhotodiodeDriftPPM: r.photodiodeDrift,
		Models:             models, Load: ControlLoader(cfg, log), Bus: r.out, Recorder: recorder, Components: comps,
		FrameRate: float64(cfg.Stimulus.FrameRate), Height: cfg.Stimulus.Height, Width: cfg.Stimulus.Width,
		Window: time.Duration(cfg.Validation.Window), ReportEvery: time.Duration(cfg.Validation.ReportEvery),
		StatusEvery: time.Duration(cfg.Dashboard.StatusEvery),
		Clock:       clock.System{}, Log: log, StatusOut: o.StatusOut,
		FrameLoopCPU: cfg.CPUs.FrameLoop,
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// openRecording makes sure the recording stream exists with the configured limits (never
// recreating it) and returns the store the daemon checks its health through.
func (r *Rig) openRecording() (*acquisition.Store, error) {
	subj, err := contract.SubjectsFor(r.cfg.Rig)
	if err != nil {
		return nil, err
	}
	rc := r.cfg.Recording
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := acquisition.Record(ctx, r.bus.Conn(), subj, acquisition.RecordOptions{MaxBytes: int64(rc.MaxBytes), MaxAge: rc.MaxAge.D()}); err != nil {
		return nil, err
	}
	return r.bus.OpenStore(subj, 0)
}

// serveControl runs the NATS control service (`nats micro ls`) until ctx ends.
func (r *Rig) serveControl(ctx context.Context) error {
	subj, err := contract.SubjectsFor(r.cfg.Rig)
	if err != nil {
		return err
	}
	c, err := acquisition.Serve(ctx, r.bus.Conn(), subj, r.daemon.Controller(), acquisition.ControlOptions{Log: r.log, Version: r.version})
	if err != nil {
		return err
	}
	<-ctx.Done()
	if err := c.Stop(); err != nil {
		r.log.Warn("rig: control service stop", "err", err)
	}
	return nil
}

// photodiodeLost is the photodiode device messages lost on the link (0 without a device).
func (r *Rig) photodiodeLost() uint64 {
	if r.diode == nil {
		return 0
	}
	return r.diode.Stats().Lost.Load()
}

// photodiodeDrift is the photodiode device clock's fitted drift, ppm (0 without a device).
func (r *Rig) photodiodeDrift() float64 {
	if r.diode == nil {
		return 0
	}
	return float64(r.diode.Stats().SyncDriftPPB.Load()) / 1000
}

// openPhotodiode opens the link cfg.Photodiode.Device names through calib/photodiode.Open, the
// one path from config to the photodiode (calibrate uses it too), with the calibration file's
// latency prior; flips is nil for "none".
func (r *Rig) openPhotodiode(comps *[]daemon.Component) (daemon.FlipSink, error) {
	if r.cfg.Photodiode.Device == "none" {
		return nil, nil
	}
	p, err := photodiode.Open(r.cfg.Photodiode, r.cfg.Display.Refresh.Period(), calib.Options{
		Log: r.log, OnOnset: func(o calib.Onset) { r.daemon.Onset(o) },
	})
	if err != nil {
		return nil, fmt.Errorf("rig: %w", err)
	}
	r.diode, r.device, r.display, r.prior = p.Photodiode, p.Sim, p.Display, p.Prior
	r.log.Info("rig: photodiode latency prior", "prior", p.Prior, "from", p.PriorFrom)
	if p.ThresholdFrom != "" {
		r.log.Info("rig: photodiode threshold and hysteresis from the calibration file (retinad calibrate threshold), not the config", "from", p.ThresholdFrom)
	}
	*comps = append(*comps, daemon.Component{Name: "photodiode", Run: p.Run})
	return r.diode, nil
}

// LatencyPrior is the flip-to-light latency prior the photodiode link started from (the
// calibration file's), 0 when there was none.
func (r *Rig) LatencyPrior() time.Duration { return r.prior }

// openRetina starts the virtual retina as the acquisition system: it sees every frame when it
// lights the screen, and publishes spikes and sync events on its own clock over NATS.
func (r *Rig) openRetina(pres *presenter, flips daemon.FlipSink, comps *[]daemon.Component) (daemon.FlipSink, error) {
	cfg := r.cfg
	p := sim.DefaultParams()
	p.FrameRate = float64(cfg.Stimulus.FrameRate)
	retina, err := sim.New(p, cfg.Stimulus.Height, cfg.Stimulus.Width, cfg.Acquisition.Cells, cfg.Acquisition.Seed)
	if err != nil {
		return nil, err
	}
	subj, err := contract.SubjectsFor(cfg.Rig)
	if err != nil {
		return nil, err
	}
	pub := acquisition.NewPublisher(r.bus.Conn(), cfg.NATS.PublishQueue, r.log)
	acq, err := sim.NewAcquisition(retina, pub, sim.AcquisitionOptions{
		// No session: like a real acquisition system, the virtual retina goes on across the
		// sessions started over control, and a name it kept would be the first one's.
		Spikes: subj.Spikes, Sync: subj.Sync,
		BatchInterval: time.Duration(cfg.Acquisition.BatchInterval),
		ClockOffset:   time.Duration(cfg.Acquisition.ClockOffset), ClockDriftPPM: cfg.Acquisition.ClockDriftPPM,
		Seed: cfg.Acquisition.Seed ^ 0x5350494b4553, Clock: clock.System{}, Log: r.log,
	})
	if err != nil {
		return nil, err
	}
	r.retina = acq
	view := &retinaView{pres: pres, dev: r.device, acq: acq, onset: func(o calib.Onset) { r.daemon.Onset(o) },
		latency: int64(cfg.Photodiode.Sim.Latency)}
	if flips != nil {
		view.next = r.diode
	}
	*comps = append(*comps,
		daemon.Component{Name: "virtual retina", Run: acq.Run},
		daemon.Component{Name: "virtual retina publisher", Run: pub.Run})
	return view, nil
}

// Retina is the virtual retina in simulation (nil otherwise).
func (r *Rig) Retina() *sim.Acquisition { return r.retina }

// Device is the fake photodiode device in simulation (nil otherwise), for its ground truth.
func (r *Rig) Device() *simdevice.Device { return r.device }

// BoardDisplay is the simulated display lighting the emulated board when photodiode.device is
// "avr" (nil otherwise), for its ground truth.
func (r *Rig) BoardDisplay() *avrboard.Display { return r.display }

// Daemon is the wired daemon, for its figures.
func (r *Rig) Daemon() *daemon.Daemon { return r.daemon }

// NATSURL is where outside tools reach the embedded server ("" without a listener or when
// the server is external).
func (r *Rig) NATSURL() string { return r.bus.ClientURL() }

// Session is the session's name.
func (r *Rig) Session() string { return r.session }

// Run runs the session until ctx ends; it returns nil then.
func (r *Rig) Run(ctx context.Context) error {
	return r.daemon.Run(ctx)
}

// Close closes the presenter, the fake photodiode device (whose pty Run would have closed, but
// Run may never have run: Open failed after it) and drains and stops the bus. It is idempotent.
func (r *Rig) Close() error {
	errs := []error{r.closeDashboard()}
	if r.device != nil {
		r.device.Close() // idempotent; keeps the device's ground truth readable
	}
	if r.pres != nil {
		errs = append(errs, r.pres.Close())
		r.pres = nil
	}
	if r.bus != nil {
		if n := r.bus.Refused(); n > 0 { // each was logged as it happened (the first 64)
			r.log.Warn("rig: the NATS server refused clients' publishes, subscriptions or logins (their roles do not allow them)", "refused", n)
		}
		errs = append(errs, r.bus.Stop())
		r.bus = nil
	}
	return errors.Join(errs...)
}

func configYAML(cfg *configs.Config) string {
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return "# config not encodable: " + err.Error()
	}
	return string(b)
}
