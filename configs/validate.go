package configs

import (
	"fmt"
	"math"
	"net"
	"os"
	"regexp"
	"retinad/infer"
	"retinad/internal/cpus"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nkeys"
)

var rigID = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Validate checks c as a whole and returns a *Problems naming every field that is wrong, or nil.
func (c *Config) Validate() error {
	ps := &Problems{File: c.File}
	if !rigID.MatchString(c.Rig) {
		ps.add("rig", "%q: want letters, digits, '-' or '_' (it is part of every NATS subject)", c.Rig)
	}
	c.Display.validate(ps, c.Stimulus)
	c.Photodiode.validate(ps)
	c.NATS.validate(ps)
	names := map[string]bool{}
	for i, m := range c.Models {
		p := "models[" + strconv.Itoa(i) + "]"
		switch {
		case !rigID.MatchString(m.Name):
			ps.add(p+".name", "%q: want letters, digits, '-' or '_' (it is part of a NATS subject)", m.Name)
		case names[m.Name]:
			ps.add(p+".name", "%q is used by another model", m.Name)
		}
		names[m.Name] = true
		fileExists(ps, p+".file", m.File, "a model file")
		nonNegative(ps, p+".deadline", float64(m.Deadline))
		nonNegative(ps, p+".frame_rate", float64(m.FrameRate))
		if m.Threads < 0 || m.Threads > infer.MaxThreads {
			ps.add(p+".threads", "%d: want 0 to %d cores for one step (0 or 1: the model's goroutine alone)", m.Threads, infer.MaxThreads)
		}
	}
	c.Stimulus.validate(ps)
	a := c.Acquisition
	if a.Simulate {
		if a.Cells < 1 {
			ps.add("acquisition.cells", "%d: want at least 1 simulated cell", a.Cells)
		}
		positive(ps, "acquisition.batch_interval", float64(a.BatchInterval))
	}
	if math.Abs(a.ClockDriftPPM) > 1000 {
		ps.add("acquisition.clock_drift_ppm", "%g: want at most 1000 ppm in magnitude", a.ClockDriftPPM)
	}
	c.Recording.validate(ps)
	positive(ps, "validation.window", float64(c.Validation.Window))
	positive(ps, "validation.report_every", float64(c.Validation.ReportEvery))
	positive(ps, "dashboard.status_every", float64(c.Dashboard.StatusEvery))
	if l := c.Dashboard.Listen; l != "" {
		checkListen(ps, "dashboard.listen", l, c.NATS.AllowRemote)
	}
	c.Adaptive.validate(ps, c.Models)
	c.Control.validate(ps)
	c.validateCPUs(ps)
	c.bounds(ps)
	if len(ps.List) == 0 {
		return nil
	}
	return ps
}

// validateCPUs checks the core assignment (cpus.frame_loop, models[].cpus): each core named is
// one of this machine's (the cores this process may use), none is named twice (each is a
// thread's own), a model names one core per thread, and one core at least is left for the
// daemon's other threads.
func (c *Config) validateCPUs(ps *Problems) {
	var avail []int
	var availErr error
	named := map[int]string{} // core: the field that named it first
	claim := func(path string, core int) {
		if len(named) == 0 && avail == nil && availErr == nil {
			avail, availErr = cpus.Available()
		}
		switch {
		case availErr != nil:
			ps.add(path, "%v", availErr)
		case !slices.Contains(avail, core):
			ps.add(path, "core %d is not one of this machine's cores (%s)", core, cpus.FormatList(avail))
		case named[core] != "":
			ps.add(path, "core %d is %s's already: want a core of its own for each thread", core, named[core])
		default:
			named[core] = path
		}
	}
	if fl := c.CPUs.FrameLoop; fl != nil {
		claim("cpus.frame_loop", *fl)
	}
	for i, m := range c.Models {
		p := "models[" + strconv.Itoa(i) + "].cpus"
		if len(m.CPUs) > 0 && len(m.CPUs) != max(m.Threads, 1) {
			ps.add(p, "%d cores for threads %d: want one per thread (the model's goroutine first, then each helper)", len(m.CPUs), m.Threads)
		}
		for _, core := range m.CPUs {
			claim(p, core)
		}
	}
	if len(named) > 0 && availErr == nil && len(named) >= len(avail) {
		ps.add("cpus", "cpus.frame_loop and models[].cpus pin every core of this machine (%s): leave one for the daemon's other threads", cpus.FormatList(avail))
	}
}

func (d Display) validate(ps *Problems, s Stimulus) {
	switch d.Mode {
	case "auto", "window", "offscreen":
	default:
		ps.add("display.mode", "%q: want auto, window or offscreen", d.Mode)
	}
	if d.Monitor < 0 {
		ps.add("display.monitor", "%d: want a monitor index, 0 or more", d.Monitor)
	}
	if !d.Fullscreen && (d.Width < 1 || d.Height < 1) {
		ps.add("display.width", "%dx%d: want a window size in pixels", d.Width, d.Height)
	}
	positive(ps, "display.refresh", float64(d.Refresh))
	if d.Refresh > 0 && s.FrameRate > 0 {
		ratio := float64(d.Refresh) / float64(s.FrameRate)
		if r := math.Round(ratio); r < 1 || math.Abs(ratio-r) > 1e-6*ratio {
			ps.add("stimulus.frame_rate", "%v on a %v monitor holds each frame for %.4g refreshes: want a whole number (e.g. %v or %v)",
				s.FrameRate, d.Refresh, ratio, d.Refresh/Frequency(math.Max(1, math.Floor(ratio))), d.Refresh/Frequency(math.Max(1, math.Ceil(ratio))))
		}
	}
	unit(ps, "display.background", d.Background)
	r := d.Rect
	if r.Width < 1 || r.Height < 1 {
		ps.add("display.rect", "%dx%d: want a positive size in screen pixels", r.Width, r.Height)
	} else if s.Width > 0 && s.Height > 0 && (r.Width%s.Width != 0 || r.Height%s.Height != 0) {
		ps.add("display.rect", "%dx%d is not a whole multiple of the %dx%d stimulus grid (nearest-neighbour scaling needs one)", r.Width, r.Height, s.Width, s.Height)
	}
	if r.X < 0 || r.Y < 0 || (!d.Fullscreen && (r.X+r.Width > d.Width || r.Y+r.Height > d.Height)) {
		ps.add("display.rect", "(%d,%d %dx%d) does not fit in the %dx%d window", r.X, r.Y, r.Width, r.Height, d.Width, d.Height)
	}
	positive(ps, "display.pixel_microns", d.PixelMicrons)
	if d.Gamma.LUT != "" {
		fileExists(ps, "display.gamma.lut", d.Gamma.LUT, "a gamma lookup table")
	} else {
		positive(ps, "display.gamma.exponent", d.Gamma.Exponent)
	}
	switch d.Patch.Corner {
	case "top-left", "top-right", "bottom-left", "bottom-right":
	default:
		ps.add("display.patch.corner", "%q: want top-left, top-right, bottom-left or bottom-right", d.Patch.Corner)
	}
	if d.Patch.Size < 1 {
		ps.add("display.patch.size", "%d: want the patch side in screen pixels", d.Patch.Size)
	}
}

func (p Photodiode) validate(ps *Problems) {
	switch p.Device {
	case "":
		ps.add("photodiode.device", "missing: want a serial device path (e.g. /dev/serial/by-id/...), \"sim\", \"avr\" or \"none\"")
	case "sim", "none":
	case "avr":
		if p.Baud != 115200 {
			ps.add("photodiode.baud", "%d: the emulated board runs the reference firmware, which talks at 115200", p.Baud)
		}
	default:
		if p.Baud <= 0 {
			ps.add("photodiode.baud", "%d: want the serial baud rate, such as 115200", p.Baud)
		}
	}
	positive(ps, "photodiode.read_timeout", float64(p.ReadTimeout))
	unit(ps, "photodiode.threshold", p.Threshold)
	unit(ps, "photodiode.hysteresis", p.Hysteresis)
	if p.Device == "avr" {
		nonNegative(ps, "photodiode.sim.latency", float64(p.Sim.Latency))
	}
	if p.Device == "sim" {
		nonNegative(ps, "photodiode.sim.latency", float64(p.Sim.Latency))
		nonNegative(ps, "photodiode.sim.jitter", float64(p.Sim.Jitter))
		if math.Abs(p.Sim.DriftPPM) > 1000 {
			ps.add("photodiode.sim.drift_ppm", "%g: want at most 1000 ppm in magnitude", p.Sim.DriftPPM)
		}
	}
}

// checkListen checks a listener's host:port, loopback only unless remote is allowed.
func checkListen(ps *Problems, field, addr string, remote bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		ps.add(field, "%q: want host:port, such as 127.0.0.1:4222", addr)
	} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		ps.add(field, "%q: port %q is not a TCP port number", addr, port)
	} else if ip := net.ParseIP(host); !remote && (ip == nil || !ip.IsLoopback()) && host != "localhost" {
		ps.add(field, "%q is not a loopback address: set nats.allow_remote to listen on other interfaces", addr)
	}
}

func (n NATS) validate(ps *Problems) {
	if n.Embedded {
		if n.Listen != "" {
			checkListen(ps, "nats.listen", n.Listen, n.AllowRemote)
		}
		n.validateAuth(ps)
	} else {
		if n.URL == "" {
			ps.add("nats.url", "missing: want the external server's URL (nats://host:4222), or set nats.embedded")
		}
		if len(n.Users) > 0 || n.ServerTLS != (ServerTLS{}) || n.AllowRemote {
			ps.add("nats.users", "users, server_tls and allow_remote are the embedded server's; an external server has its own (configs/nats-lab.conf), and this daemon logs in with user/password, nkey or credentials")
		}
	}
	if n.Credentials != "" {
		fileExists(ps, "nats.credentials", n.Credentials, "a NATS credentials file")
	}
	if (n.User == "") != (n.Password == "") {
		ps.add("nats.user", "user and password go together: set both or neither")
	}
	if n.NKey != "" {
		fileExists(ps, "nats.nkey", n.NKey, "a file holding an nkey seed (SU...)")
	}
	if ways := btoi(n.Credentials != "") + btoi(n.User != "") + btoi(n.NKey != ""); ways > 1 {
		ps.add("nats.credentials", "credentials, user/password and nkey are three ways to log in to an external server: set one")
	}
	if (n.TLS.Cert == "") != (n.TLS.Key == "") {
		ps.add("nats.tls", "cert and key go together: set both or neither")
	}
	for _, f := range []struct{ path, file string }{{"nats.tls.ca", n.TLS.CA}, {"nats.tls.cert", n.TLS.Cert}, {"nats.tls.key", n.TLS.Key}} {
		if f.file != "" {
			fileExists(ps, f.path, f.file, "a PEM file")
		}
	}
	n.Leaf.validate(ps, n.Embedded)
	if n.PublishQueue < 1 {
		ps.add("nats.publish_queue", "%d: want at least 1", n.PublishQueue)
	}
	if n.ReconnectBuffer < 1<<10 || n.ReconnectBuffer > 1<<30 {
		ps.add("nats.reconnect_buffer", "%d bytes: want 1kB to 1GB (what an external server's outage may cost in memory before messages are lost)", int64(n.ReconnectBuffer))
	}
}

// validate checks the hub connection: it is the embedded server's, and its domain is a token.
func (l Leaf) validate(ps *Problems, embedded bool) {
	if l == (Leaf{}) {
		return
	}
	if !embedded {
		ps.add("nats.leaf", "a leaf connection is the embedded server's; with an external server, connect that server to the hub")
	}
	if l.URL == "" {
		ps.add("nats.leaf.url", "missing: want the hub's leaf-node URL (nats-leaf://hub:7422)")
	}
	if l.Credentials != "" {
		fileExists(ps, "nats.leaf.credentials", l.Credentials, "a NATS credentials file")
	}
	if strings.IndexFunc(l.Domain, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) >= 0 {
		ps.add("nats.leaf.domain", "%q: want letters, digits, '-' or '_'", l.Domain)
	}
}

func (c Control) validate(ps *Problems) {
	for i, d := range c.ModelDirs {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			ps.add("control.model_dirs["+strconv.Itoa(i)+"]", "%s: no such folder (want a folder of model files)", d)
		}
	}
	if c.MaxModelBytes < 1<<10 || c.MaxModelBytes > 4<<30 {
		ps.add("control.max_model_bytes", "%d: want 1024 to 4294967296 bytes", c.MaxModelBytes)
	}
}

// userRoles are the roles a configured user may have ("daemon" is the daemon's own).
var userRoles = map[string]bool{"acquisition": true, "observer": true, "operator": true, "worker": true}

// maxUsers bounds nats.users: the server checks every connect against the list.
const maxUsers = 64

// validateAuth checks the embedded server's users, default role and listener TLS, and refuses
// a listener beyond loopback that anyone could use unauthenticated or read in the clear.
func (n NATS) validateAuth(ps *Problems) {
	if n.DefaultRole != "observer" && n.DefaultRole != "none" {
		ps.add("nats.default_role", "%q: want observer (clients without credentials may read) or none (they are refused)", n.DefaultRole)
	}
	if len(n.Users) > maxUsers {
		ps.add("nats.users", "%d users: want at most %d", len(n.Users), maxUsers)
	}
	names := map[string]bool{}
	for i, u := range n.Users {
		p := "nats.users[" + strconv.Itoa(i) + "]"
		switch {
		case !rigID.MatchString(u.Name):
			ps.add(p+".name", "%q: want letters, digits, '-' or '_' (a worker's name is part of its subject)", u.Name)
		case u.Name == "anonymous":
			ps.add(p+".name", "%q is the name the server gives clients without credentials; choose another", u.Name)
		case names[u.Name]:
			ps.add(p+".name", "%q is used by another user", u.Name)
		}
		names[u.Name] = true
		if !userRoles[u.Role] {
			ps.add(p+".role", "%q: want acquisition, observer, operator or worker (the daemon is the daemon's own connection, not a user)", u.Role)
		}
		switch {
		case u.Password == "" && u.NKey == "":
			ps.add(p, "no password and no nkey: want one of them")
		case u.Password != "" && u.NKey != "":
			ps.add(p, "both password and nkey: want one of them")
		case u.NKey != "" && !nkeys.IsValidPublicUserKey(u.NKey):
			ps.add(p+".nkey", "%q: want a public user nkey (56 characters starting with U, `nk -gen user -pubout`)", u.NKey)
		case strings.HasPrefix(u.Password, "$2") && !bcryptHash.MatchString(u.Password):
			ps.add(p+".password", "looks like a bcrypt hash but is not one (want $2a$, $2b$ or $2y$, cost, 53 characters)")
		}
	}
	tlsOn := n.ServerTLS.Cert != "" || n.ServerTLS.Key != ""
	if tlsOn && (n.ServerTLS.Cert == "" || n.ServerTLS.Key == "") {
		ps.add("nats.server_tls", "cert and key go together: set both or neither")
	}
	if n.ServerTLS.ClientCA != "" && !tlsOn {
		ps.add("nats.server_tls.client_ca", "needs cert and key: client certificates are checked over TLS")
	}
	for _, f := range []struct{ path, file string }{{"nats.server_tls.cert", n.ServerTLS.Cert}, {"nats.server_tls.key", n.ServerTLS.Key}, {"nats.server_tls.client_ca", n.ServerTLS.ClientCA}} {
		if f.file != "" {
			fileExists(ps, f.path, f.file, "a PEM file")
		}
	}
	if n.AllowRemote {
		var missing []string
		if len(n.Users) == 0 {
			missing = append(missing, "nats.users (an operator, the acquisition system, workers: each with a password or nkey)")
		}
		if !tlsOn {
			missing = append(missing, "nats.server_tls (cert and key)")
		}
		if len(missing) > 0 {
			ps.add("nats.allow_remote", "the embedded server would listen beyond loopback with no authentication or in the clear: add %s, or remove allow_remote", strings.Join(missing, " and "))
		}
	}
}

var bcryptHash = regexp.MustCompile(`^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$`)

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (r Recording) validate(ps *Problems) {
	if r.Enabled && r.Dir == "" {
		ps.add("recording.dir", "missing: want the folder of the session recordings")
	}
	if r.MaxBytes < 0 {
		ps.add("recording.max_bytes", "%d: want a size such as 20GB, or 0 for no limit", int64(r.MaxBytes))
	}
	if r.MaxAge < 0 || r.MaxAge > 0 && r.MaxAge.D() < time.Hour {
		ps.add("recording.max_age", "%v: want 0 (keep every session) or at least 1h (it deletes older recordings, the running session's start too if shorter)", r.MaxAge)
	}
}

func (s Stimulus) validate(ps *Problems) {
	positive(ps, "stimulus.frame_rate", float64(s.FrameRate))
	if s.Height < 1 || s.Width < 1 {
		ps.add("stimulus.height", "%dx%d: want the stimulus grid size in pixels", s.Height, s.Width)
	}
	unit(ps, "stimulus.mean", s.Mean)
	dist := func(path, d string) {
		if d != "binary" && d != "gaussian" {
			ps.add(path, "%q: want binary or gaussian", d)
		}
	}
	switch s.Kind {
	case "gray":
	case "whitenoise":
		dist("stimulus.whitenoise.distribution", s.WhiteNoise.Distribution)
		if s.WhiteNoise.Checker < 1 {
			ps.add("stimulus.whitenoise.checker", "%d: want the checker side in stimulus pixels", s.WhiteNoise.Checker)
		}
		positive(ps, "stimulus.whitenoise.contrast", s.WhiteNoise.Contrast)
	case "flicker":
		dist("stimulus.flicker.distribution", s.Flicker.Distribution)
		positive(ps, "stimulus.flicker.contrast", s.Flicker.Contrast)
	case "flash":
		positive(ps, "stimulus.flash.on", float64(s.Flash.On))
		nonNegative(ps, "stimulus.flash.off", float64(s.Flash.Off))
	case "grating":
		positive(ps, "stimulus.grating.period", s.Grating.Period)
		nonNegative(ps, "stimulus.grating.speed", float64(s.Grating.Speed))
	case "natural":
		if s.Natural.Dir != "" {
			if st, err := os.Stat(s.Natural.Dir); err != nil || !st.IsDir() {
				ps.add("stimulus.natural.dir", "%s: want a folder of PNG/JPEG photographs", s.Natural.Dir)
			}
		}
		positive(ps, "stimulus.natural.hold", float64(s.Natural.Hold))
		nonNegative(ps, "stimulus.natural.jitter", s.Natural.Jitter)
		positive(ps, "stimulus.natural.contrast", s.Natural.Contrast)
	case "movie":
		fileExists(ps, "stimulus.movie.file", s.Movie.File, "a .npy movie or a .npz or .mat dataset")
		if m := s.Movie; math.IsInf(m.Scale, 0) || m.Scale != m.Scale || math.IsInf(m.Offset, 0) || m.Offset != m.Offset || (m.Scale == 0 && m.Offset != 0) {
			ps.add("stimulus.movie.scale", "offset %v, scale %v: want finite numbers, and a scale other than 0 when an offset is given (contrast = (value - offset) / scale)", m.Offset, m.Scale)
		}
	default:
		ps.add("stimulus.kind", "%q: want gray, whitenoise, flicker, flash, grating, natural or movie", s.Kind)
	}
}

func positive(ps *Problems, path string, v float64) {
	if !(v > 0) {
		ps.add(path, "%s: want a positive value", fmtNum(v))
	}
}

func nonNegative(ps *Problems, path string, v float64) {
	if !(v >= 0) {
		ps.add(path, "%s: want zero or more", fmtNum(v))
	}
}

func unit(ps *Problems, path string, v float64) {
	if !(v >= 0 && v <= 1) {
		ps.add(path, "%s: want a value from 0 to 1", fmtNum(v))
	}
}

func fmtNum(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func fileExists(ps *Problems, path, file, what string) {
	if file == "" {
		ps.add(path, "missing: want %s", what)
		return
	}
	if _, err := os.Stat(file); err != nil {
		ps.add(path, "%s: no such file (want %s)", file, what)
	}
}

// String describes c in one line for logs.
func (c *Config) String() string {
	return fmt.Sprintf("rig %s: %s stimulus %dx%d at %v, %d model(s)", c.Rig, c.Stimulus.Kind, c.Stimulus.Width, c.Stimulus.Height, c.Stimulus.FrameRate, len(c.Models))
}
