package configs

import (
	"strconv"
	"time"
)

// Bounds on every size and rate that run sizes buffers or divides by. A value past one would not
// describe a real rig and could crash run (an integer divide by zero at a refresh of 1e300Hz, an
// allocation failure at a 100000x100000 grid), so Validate refuses it with the bound named.
const (
	MaxScreenPixels  = 16384            // display.width, display.height, rect sides, patch size
	MaxRefresh       = 1000.0           // Hz, display.refresh and stimulus.frame_rate
	MinRefresh       = 1.0              // Hz, display.refresh (its period in ns must be a sane integer)
	MinFrameRate     = 0.1              // Hz, stimulus.frame_rate (a frame held at most 10 s)
	MaxGrid          = 1024             // stimulus.height, stimulus.width, pixels
	MaxCells         = 10000            // acquisition.cells
	MaxPublishQueue  = 1 << 20          // nats.publish_queue, messages
	MaxBaud          = 4000000          // photodiode.baud
	MaxReadTimeout   = 10 * time.Second // photodiode.read_timeout
	MaxSimLatency    = time.Second      // photodiode.sim.latency and jitter
	MaxDeadline      = 10 * time.Second // models[].deadline
	MaxWindow        = time.Hour        // validation.window
	MaxPeriod        = time.Hour        // validation.report_every, dashboard.status_every, acquisition.batch_interval, flash on/off, natural.hold
	MinStatusEvery   = 10 * time.Millisecond
	MaxClockOffset   = 24 * time.Hour // acquisition.clock_offset and photodiode.sim.offset, in magnitude
	MaxGratingPeriod = 1e6            // stimulus pixels
)

// bounds adds a problem for every value in c past its bound; the lower bounds (positive, at
// least 1) are checked where each block is validated.
func (c *Config) bounds(ps *Problems) {
	d, s := c.Display, c.Stimulus
	intMax(ps, "display.width", d.Width, MaxScreenPixels)
	intMax(ps, "display.height", d.Height, MaxScreenPixels)
	intMax(ps, "display.rect.width", d.Rect.Width, MaxScreenPixels)
	intMax(ps, "display.rect.height", d.Rect.Height, MaxScreenPixels)
	intMax(ps, "display.patch.size", d.Patch.Size, MaxScreenPixels)
	intMax(ps, "display.monitor", d.Monitor, 64)
	hzMax(ps, "display.refresh", d.Refresh, MaxRefresh)
	hzMax(ps, "stimulus.frame_rate", s.FrameRate, MaxRefresh)
	if d.Refresh > 0 && float64(d.Refresh) < MinRefresh {
		ps.add("display.refresh", "%v: want at least %v", d.Refresh, Frequency(MinRefresh))
	}
	if s.FrameRate > 0 && float64(s.FrameRate) < MinFrameRate {
		ps.add("stimulus.frame_rate", "%v: want at least %v", s.FrameRate, Frequency(MinFrameRate))
	}
	intMax(ps, "stimulus.height", s.Height, MaxGrid)
	intMax(ps, "stimulus.width", s.Width, MaxGrid)
	intMax(ps, "stimulus.whitenoise.checker", s.WhiteNoise.Checker, MaxGrid)
	if s.Grating.Period > MaxGratingPeriod {
		ps.add("stimulus.grating.period", "%s: want at most %g stimulus pixels", fmtNum(s.Grating.Period), MaxGratingPeriod)
	}
	hzMax(ps, "stimulus.grating.speed", s.Grating.Speed, MaxRefresh)
	if s.Natural.Jitter > MaxGrid {
		ps.add("stimulus.natural.jitter", "%s: want at most %d stimulus pixels per frame", fmtNum(s.Natural.Jitter), MaxGrid)
	}
	durMax(ps, "stimulus.flash.on", s.Flash.On, MaxPeriod)
	durMax(ps, "stimulus.flash.off", s.Flash.Off, MaxPeriod)
	durMax(ps, "stimulus.natural.hold", s.Natural.Hold, MaxPeriod)

	p := c.Photodiode
	intMax(ps, "photodiode.baud", p.Baud, MaxBaud)
	durMax(ps, "photodiode.read_timeout", p.ReadTimeout, MaxReadTimeout)
	durMax(ps, "photodiode.sim.latency", p.Sim.Latency, MaxSimLatency)
	durMax(ps, "photodiode.sim.jitter", p.Sim.Jitter, MaxSimLatency)
	durAbsMax(ps, "photodiode.sim.offset", p.Sim.Offset, MaxClockOffset)

	intMax(ps, "nats.publish_queue", c.NATS.PublishQueue, MaxPublishQueue)
	for i, m := range c.Models {
		durMax(ps, "models["+strconv.Itoa(i)+"].deadline", m.Deadline, MaxDeadline)
	}
	a := c.Acquisition
	intMax(ps, "acquisition.cells", a.Cells, MaxCells)
	durMax(ps, "acquisition.batch_interval", a.BatchInterval, MaxPeriod)
	durAbsMax(ps, "acquisition.clock_offset", a.ClockOffset, MaxClockOffset)
	durMax(ps, "validation.window", c.Validation.Window, MaxWindow)
	durMax(ps, "validation.report_every", c.Validation.ReportEvery, MaxPeriod)
	durMax(ps, "dashboard.status_every", c.Dashboard.StatusEvery, MaxPeriod)
	if se := c.Dashboard.StatusEvery; se > 0 && se.D() < MinStatusEvery {
		ps.add("dashboard.status_every", "%v: want at least %v (each period publishes a status message)", se, MinStatusEvery)
	}
}

func intMax(ps *Problems, path string, v, max int) {
	if v > max {
		ps.add(path, "%d: want at most %d", v, max)
	}
}

func hzMax(ps *Problems, path string, f Frequency, max float64) {
	if float64(f) > max {
		ps.add(path, "%v: want at most %v", f, Frequency(max))
	}
}

func durMax(ps *Problems, path string, d Duration, max time.Duration) {
	if d.D() > max {
		ps.add(path, "%v: want at most %v", d, max)
	}
}

func durAbsMax(ps *Problems, path string, d Duration, max time.Duration) {
	if d.D() > max || d.D() < -max {
		ps.add(path, "%v: want at most %v in magnitude", d, max)
	}
}
