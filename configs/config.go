package configs

import (
	"path/filepath"
	"time"
)

// Config is the whole daemon's configuration. Every size and rate has the bounds its comment
// states (bounds.go); Validate refuses a value past them. Every field has a yaml name in snake_case; paths
// in it are resolved relative to the config file's folder by Load.
type Config struct {
	Rig         string      `yaml:"rig"` // rig id: the <rig> of every NATS subject
	Display     Display     `yaml:"display"`
	Photodiode  Photodiode  `yaml:"photodiode"`
	NATS        NATS        `yaml:"nats"`
	Models      []Model     `yaml:"models"`
	Stimulus    Stimulus    `yaml:"stimulus"`
	Acquisition Acquisition `yaml:"acquisition"`
	Recording   Recording   `yaml:"recording"`
	Validation  Validation  `yaml:"validation"`
	Dashboard   Dashboard   `yaml:"dashboard"`
	Adaptive    Adaptive    `yaml:"adaptive"`
	Control     Control     `yaml:"control"`
	CPUs        CPUs        `yaml:"cpus"`

	// File is the path the config was loaded from ("" when built in code).
	File string `yaml:"-"`
}

// Display is the rig monitor and how the stimulus sits on it.
type Display struct {
	// Mode is "window" (a real window on Monitor), "offscreen" (headless rendering, no monitor)
	// or "auto" (a window when a display is reachable, else offscreen).
	Mode       string    `yaml:"mode"`
	Monitor    int       `yaml:"monitor"`    // GLFW monitor index, 0 = primary
	Fullscreen bool      `yaml:"fullscreen"` // take the whole monitor at its current mode
	Width      int       `yaml:"width"`      // window or offscreen size, screen pixels, 1 to 16384
	Height     int       `yaml:"height"`     // window or offscreen size, screen pixels, 1 to 16384
	Refresh    Frequency `yaml:"refresh"`    // the monitor's refresh rate, 1Hz to 1kHz
	VSync      bool      `yaml:"vsync"`
	Background float64   `yaml:"background"` // luminance outside the stimulus, 0 (black) to 1 (white)
	// Rect is where the stimulus grid is drawn, in screen pixels from the top-left corner.
	// Its size must be a whole multiple of the stimulus grid (nearest-neighbour scaling).
	Rect Rect `yaml:"rect"`
	// PixelMicrons is the size of one stimulus pixel on the retina, in micrometres.
	PixelMicrons float64 `yaml:"pixel_microns"`
	Gamma        Gamma   `yaml:"gamma"`
	Patch        Patch   `yaml:"patch"`
}

// Rect is a rectangle in screen pixels, origin at the top-left corner.
type Rect struct {
	X      int `yaml:"x"`
	Y      int `yaml:"y"`
	Width  int `yaml:"width"`
	Height int `yaml:"height"`
}

// Gamma describes the monitor's response so that the shader can linearise it: either a power
// law (Exponent) or a measured lookup table file (LUT: 256 or more luminances, one per line, for
// equally spaced drive levels, as `retinad calibrate gamma` writes it). LUT wins when both are set.
type Gamma struct {
	Exponent float64 `yaml:"exponent"` // 1 = linear monitor
	LUT      string  `yaml:"lut"`
}

// Patch is the photodiode square that toggles black/white on every new stimulus frame.
type Patch struct {
	Corner string `yaml:"corner"` // top-left, top-right, bottom-left or bottom-right
	Size   int    `yaml:"size"`   // side, screen pixels, 1 to 16384
}

// Photodiode is the serial link to the photodiode's microcontroller.
type Photodiode struct {
	// Device is the serial device path (use /dev/serial/by-id/... on a rig), "sim" for the fake
	// device over a pseudo-terminal, "avr" for the reference firmware on an emulated board
	// (simavr, its serial line on a pseudo-terminal, its A0 lit by a simulated display with
	// Sim's latency), or "none" to run without one (frames are marked untimed).
	Device      string   `yaml:"device"`
	Baud        int      `yaml:"baud"`         // up to 4000000
	ReadTimeout Duration `yaml:"read_timeout"` // one serial read's timeout, up to 10s; reads loop on it
	// Calibration is the rig's calibration file (latency, gamma) written by `retinad calibrate`.
	Calibration string        `yaml:"calibration"`
	Threshold   float64       `yaml:"threshold"`  // edge threshold, fraction of full scale
	Hysteresis  float64       `yaml:"hysteresis"` // fraction of full scale
	Sim         SimPhotodiode `yaml:"sim"`
	AVR         AVRPhotodiode `yaml:"avr"`
}

// AVRPhotodiode sets the emulated board used when Device is "avr".
type AVRPhotodiode struct {
	// Firmware is the firmware the board runs: the .hex a lab flashes (or its ELF); default ""
	// is the one `make firmware` built in the source tree retinad was built from.
	Firmware string `yaml:"firmware"`
}

// SimPhotodiode sets the fake device used when Device is "sim".
type SimPhotodiode struct {
	Latency  Duration `yaml:"latency"`   // mean flip-to-light latency, 0 to 1s
	Jitter   Duration `yaml:"jitter"`    // its standard deviation, 0 to 1s
	DriftPPM float64  `yaml:"drift_ppm"` // device clock drift against the host, parts per million (|x| <= 1000)
	Offset   Duration `yaml:"offset"`    // device clock offset at start (|x| <= 24h)
	Seed     uint64   `yaml:"seed"`
}

// NATS is the message bus: an embedded server (the default) or an external one.
//
// Who may do what on the bus is NATS's own business: the embedded server gives every client a
// role (acquisition.Permissions), each a set of subject permissions checked by the server before a message
// reaches anyone. A client that presents no credentials gets DefaultRole. The daemon's own
// in-process connection authenticates with a key made at start-up and is the only "daemon".
// For an external server, configs/nats-lab.conf holds the same roles; User/Password, NKey,
// Credentials and TLS are then the daemon's credentials there.
type NATS struct {
	Embedded bool `yaml:"embedded"`
	// Listen is where the embedded server accepts outside tools (host:port); "" for no
	// listener (in-process only). Only loopback unless AllowRemote is set.
	Listen string `yaml:"listen"`
	// AllowRemote lets the embedded server listen beyond loopback. It needs Users (someone
	// to authenticate) and ServerTLS (cert and key): check-config and run refuse it otherwise.
	AllowRemote bool `yaml:"allow_remote"`
	// DefaultRole is the role of a client that presents no credentials to the embedded
	// server: "observer" (the default: read-only) or "none" (such clients are refused).
	DefaultRole string `yaml:"default_role"`
	// Users are the embedded server's users, each with one role. At most 64.
	Users []NATSUser `yaml:"users"`
	// ServerTLS makes the embedded server's listener speak TLS only.
	ServerTLS ServerTLS `yaml:"server_tls"`

	URL         string `yaml:"url"`         // external server(s), comma-separated, when not embedded
	Credentials string `yaml:"credentials"` // .creds file for an external server
	User        string `yaml:"user"`        // user name on an external server (with Password)
	Password    string `yaml:"password"`    // its password (plain: the server holds the hash)
	NKey        string `yaml:"nkey"`        // file holding the daemon's nkey seed (SU...) for an external server
	TLS         TLS    `yaml:"tls"`
	// PublishQueue bounds the messages waiting to be published; beyond it the oldest are
	// dropped and counted, so publishing never blocks the frame loop. 1 to 1048576.
	PublishQueue int `yaml:"publish_queue"`
	// ReconnectBuffer bounds what the connection to an external server holds while that server
	// is away (bytes, e.g. 8MB: minutes of a 100 Hz session with two models); it is sent
	// when the server is back. Beyond it messages are lost and counted (Status.publish_failed).
	// Unused with the embedded server, whose in-process connection never drops.
	ReconnectBuffer Bytes `yaml:"reconnect_buffer"`
	// Leaf connects the embedded server to a lab hub as a leaf node (README "A lab with several
	// rigs"). The rig still records locally first; the hub sources the recording from it.
	Leaf Leaf `yaml:"leaf"`
}

// Leaf is the embedded server's leaf-node connection to the lab hub.
type Leaf struct {
	// URL is the hub's leaf-node listener(s), comma-separated (nats-leaf://hub:7422); ""
	// for no hub: the rig is an island.
	URL string `yaml:"url"`
	// Credentials is the .creds file of this rig's leaf user on the hub, "" for none.
	Credentials string `yaml:"credentials"`
	// Domain is the embedded JetStream's domain, by which the hub reaches this rig's
	// recording ($JS.<domain>.API); default: the rig id. Unique in the lab.
	Domain string `yaml:"domain"`
}

// NATSUser is one user of the embedded server: a name, a role and one way to authenticate.
type NATSUser struct {
	// Name is the user's NATS name: letters, digits, '-' or '_'. For a worker it is also its
	// identity: its direct subject is retinad.workers.<name>.>, which no other user may take.
	Name string `yaml:"name"`
	// Role is acquisition (publishes spikes and sync), observer (reads), operator (observer
	// plus the control service) or worker (serves scoring). "daemon" is the daemon's own.
	Role string `yaml:"role"`
	// Password is the user's password, plain or, better, a bcrypt hash ("$2a$11$...", as
	// `nats server passwd` or `htpasswd -bnBC 11 "" PASSWORD` make). NATS's token
	// authentication is one secret for the whole server with no user, so it cannot carry a
	// role: a password-only user is the token-like way.
	Password string `yaml:"password"`
	// NKey is the user's public nkey (U..., from `nk -gen user -pubout`); the client holds
	// the seed. Set Password or NKey, not both.
	NKey string `yaml:"nkey"`
}

// ServerTLS is the embedded server's listener certificate, and optionally the CA that client
// certificates must be signed by (then every client must present one).
type ServerTLS struct {
	Cert     string `yaml:"cert"`
	Key      string `yaml:"key"`
	ClientCA string `yaml:"client_ca"`
}

// TLS is the client TLS set-up for an external server.
type TLS struct {
	CA   string `yaml:"ca"`
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// Model is one trained model to run on every bin.
type Model struct {
	Name string `yaml:"name"` // the <model> of retinad.<rig>.prediction.<model>
	File string `yaml:"file"` // native model file or .onnx
	// FrameRate is the bin rate of an .onnx file that does not say its own (retinad's exports
	// do, in their metadata, which wins); 0 means the file must say.
	FrameRate  Frequency `yaml:"frame_rate"`
	Stochastic bool      `yaml:"stochastic"`
	Seed       uint64    `yaml:"seed"`
	Deadline   Duration  `yaml:"deadline"` // a step slower than this is skipped and reported; 0 = one bin; at most 10s
	// Observed (GLM only): the spike history follows the recorded spikes (validation mode);
	// the model then steps behind the acquisition's publishing delay, and deadline 0 means 1s.
	Observed bool `yaml:"observed"`
	// Threads is the cores one step of this model may use: 0 or 1 steps it on its model
	// goroutine alone; more starts Threads-1 helpers, once, for a model too big for one core's
	// frame budget (infer.Options.Threads). Leave a core for the frame loop: on a machine of
	// N cores, at most N-1 in all.
	Threads int `yaml:"threads"`
	// CPUs pins this model to cores of its own (Linux): its goroutine, which steps it, to the
	// first, locked to its OS thread for its life, and each of its Threads-1 helpers to one of
	// the rest, in order: one core per thread. No other thread of the daemon runs on them (see
	// CPUs). Empty: the model runs wherever the kernel puts it.
	CPUs []int `yaml:"cpus"`
}

// CPUs is which cores the daemon's time-critical threads have to themselves (Linux). Nothing
// is pinned unless set: the default is safe on any machine, however many cores it has. When
// a core is named here or in a model's cpus, the thread it names runs on it alone and every
// other thread of the daemon (the runtime's, NATS's, the stamper's, validation's, a model's
// without cpus) is moved to the cores not named, of which one at least must be left. Cores
// are checked against the machine check-config runs on.
type CPUs struct {
	// FrameLoop is the core of the frame loop's OS thread (the one that owns the display: it
	// generates, feeds the models and presents every frame), pinned while the daemon runs.
	// Unset: not pinned. On a machine of two cores, `frame_loop: 0` leaves the other core to
	// the models and everything else.
	FrameLoop *int `yaml:"frame_loop"`
}

// Stimulus is what is shown. Kind picks the source; the block of that kind sets it.
type Stimulus struct {
	// Kind is one of: gray, whitenoise, flicker, flash, grating, natural, movie.
	Kind       string     `yaml:"kind"`
	FrameRate  Frequency  `yaml:"frame_rate"` // new stimulus frames per second, 0.1Hz to 1kHz, refresh/whole number
	Height     int        `yaml:"height"`     // stimulus grid, pixels, 1 to 1024
	Width      int        `yaml:"width"`      // stimulus grid, pixels, 1 to 1024
	Seed       uint64     `yaml:"seed"`
	Mean       float64    `yaml:"mean"` // mean luminance, 0 to 1; frames are contrast around it
	WhiteNoise WhiteNoise `yaml:"whitenoise"`
	Flicker    Flicker    `yaml:"flicker"`
	Flash      Flash      `yaml:"flash"`
	Grating    Grating    `yaml:"grating"`
	Natural    Natural    `yaml:"natural"`
	Movie      Movie      `yaml:"movie"`
}

// WhiteNoise is a checkerboard of independent checkers.
type WhiteNoise struct {
	Distribution string  `yaml:"distribution"` // binary or gaussian
	Checker      int     `yaml:"checker"`      // checker side, stimulus pixels, 1 to 1024
	Contrast     float64 `yaml:"contrast"`     // binary: +/-contrast; gaussian: standard deviation
}

// Flicker is full-field white noise.
type Flicker struct {
	Distribution string  `yaml:"distribution"` // binary or gaussian
	Contrast     float64 `yaml:"contrast"`
}

// Flash is a full-field step on and off.
type Flash struct {
	On       Duration `yaml:"on"`  // up to 1h
	Off      Duration `yaml:"off"` // up to 1h
	Contrast float64  `yaml:"contrast"`
}

// Grating is a drifting sinusoidal grating.
type Grating struct {
	Period      float64   `yaml:"period"`      // spatial period, stimulus pixels, up to 1e6
	Speed       Frequency `yaml:"speed"`       // temporal frequency, up to 1kHz
	Orientation float64   `yaml:"orientation"` // degrees, 0 = vertical bars drifting right
	Contrast    float64   `yaml:"contrast"`
}

// Natural is the paper's natural-scene stimulus: photographs held for a while each, jittered
// by a random walk that mimics fixational eye movements.
type Natural struct {
	Dir    string   `yaml:"dir"`    // folder of PNG/JPEG photographs
	Hold   Duration `yaml:"hold"`   // time each photograph is shown, up to 1h
	Jitter float64  `yaml:"jitter"` // random-walk step, standard deviation in stimulus pixels per frame, up to 1024
	// Contrast is the RMS contrast every photograph is normalised to.
	Contrast float64 `yaml:"contrast"`
}

// Movie plays frames from a file.
type Movie struct {
	File string `yaml:"file"` // .npy [T,H,W] (floats: contrast; uint8/uint16: luminance), or a dataset .npz or .mat
	Loop bool   `yaml:"loop"`
	// Offset and Scale map the file's stored values to contrast, c = (v - Offset) / Scale, for
	// a movie whose values are not what infer/dataset takes them to be (uint8/uint16 luminance
	// around mid-gray, floats contrast). Scale 0 (the default) keeps the file's own
	// stimulus_offset/stimulus_scale, else that default.
	Offset float64 `yaml:"offset"`
	Scale  float64 `yaml:"scale"`
}

// Acquisition is the other side of NATS: a real acquisition system, or the virtual retina.
type Acquisition struct {
	// Simulate runs the virtual retina in-process as the acquisition system.
	Simulate      bool     `yaml:"simulate"`
	Cells         int      `yaml:"cells"` // simulated cells, 1 to 10000
	Seed          uint64   `yaml:"seed"`
	BatchInterval Duration `yaml:"batch_interval"`  // how often spikes are published, up to 1h
	ClockOffset   Duration `yaml:"clock_offset"`    // the acquisition clock's offset from the host's (|x| <= 24h)
	ClockDriftPPM float64  `yaml:"clock_drift_ppm"` // and its drift
}

// Recording keeps every message of a session in a JetStream file store. One daemon owns a
// folder at a time (it locks it); the store is never deleted or recreated by retinad.
type Recording struct {
	Enabled bool   `yaml:"enabled"`
	Dir     string `yaml:"dir"` // JetStream storage folder
	// MaxBytes bounds the recording (every session in Dir). When it is reached, new messages are
	// refused and the session's recording fails loudly; old sessions are never deleted to make
	// room. Past 80% the daemon warns. 0: no limit but the disk.
	MaxBytes Bytes `yaml:"max_bytes"`
	// MaxAge DELETES recorded messages older than this, old sessions first; 0 keeps them until
	// removed by hand. At least 1h when set (a shorter one would delete the session running).
	MaxAge Duration `yaml:"max_age"`
}

// Validation compares predictions with recorded spikes while the experiment runs.
type Validation struct {
	Window      Duration `yaml:"window"`       // sliding window of the running statistics, up to 1h
	ReportEvery Duration `yaml:"report_every"` // period of validation reports, up to 1h
}

// Dashboard is what the operator sees: the status line on the terminal, and the HTTP listener
// with Prometheus metrics at /metrics.
type Dashboard struct {
	StatusEvery Duration `yaml:"status_every"` // period of the status line and status messages, 10ms to 1h
	// Listen is the HTTP listener (host:port, port 0 for any free one); "" for none. Only
	// loopback unless nats.allow_remote is set: what it serves is read without a login. The
	// example configs set 127.0.0.1:8080; the built-in default is "" so that a config written
	// for a test never binds a fixed port.
	Listen string `yaml:"listen"`
}

// Control limits what the control service may do on the daemon's machine.
type Control struct {
	// ModelDirs are the folders `load` may read model files from: the requested file, its
	// symlinks resolved, must lie inside one of them. Empty: the folders of the configured models
	// (Config.ModelDirs); with no models configured either, no file can be loaded over control.
	ModelDirs []string `yaml:"model_dirs"`
	// MaxModelBytes is the largest model file `load` reads, checked before reading (1 KiB to
	// 4 GiB; default 256 MiB, infer.MaxFileBytes).
	MaxModelBytes int64 `yaml:"max_model_bytes"`
}

// ModelDirs is Control.ModelDirs, or the folders of the configured models when it is empty.
func (c *Config) ModelDirs() []string {
	if len(c.Control.ModelDirs) > 0 {
		return c.Control.ModelDirs
	}
	var dirs []string
	seen := map[string]bool{}
	for _, m := range c.Models {
		if d := filepath.Dir(m.File); m.File != "" && !seen[d] {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// Default returns the configuration used for every field a file leaves out.
func Default() Config {
	return Config{
		Rig: "sim",
		Display: Display{
			Mode: "auto", Width: 800, Height: 600, Refresh: 100, VSync: true,
			Background: 0.5, Rect: Rect{X: 150, Y: 50, Width: 500, Height: 500},
			PixelMicrons: 50, Gamma: Gamma{Exponent: 2.2},
			Patch: Patch{Corner: "bottom-right", Size: 40},
		},
		Photodiode: Photodiode{
			Device: "sim", Baud: 115200, ReadTimeout: Duration(50 * time.Millisecond),
			Threshold: 0.5, Hysteresis: 0.05,
			Sim: SimPhotodiode{Latency: Duration(8 * time.Millisecond), Jitter: Duration(500 * time.Microsecond), DriftPPM: 50, Seed: 1},
		},
		NATS: NATS{Embedded: true, Listen: "127.0.0.1:4222", DefaultRole: "observer", PublishQueue: 4096, ReconnectBuffer: 8 << 20},
		Stimulus: Stimulus{
			Kind: "natural", FrameRate: 100, Height: 50, Width: 50, Seed: 1, Mean: 0.5,
			WhiteNoise: WhiteNoise{Distribution: "binary", Checker: 1, Contrast: 1},
			Flicker:    Flicker{Distribution: "gaussian", Contrast: 0.35},
			Flash:      Flash{On: Duration(time.Second), Off: Duration(time.Second), Contrast: 1},
			Grating:    Grating{Period: 25, Speed: 2, Contrast: 1},
			Natural:    Natural{Hold: Duration(time.Second), Jitter: 0.5, Contrast: 0.35},
		},
		Acquisition: Acquisition{Simulate: true, Cells: 16, Seed: 1, BatchInterval: Duration(20 * time.Millisecond)},
		Recording:   Recording{Enabled: true, Dir: "var/recordings"},
		Validation:  Validation{Window: Duration(60 * time.Second), ReportEvery: Duration(time.Second)},
		Dashboard:   Dashboard{StatusEvery: Duration(250 * time.Millisecond)},
		Adaptive:    DefaultAdaptive(),
		Control:     Control{MaxModelBytes: 256 << 20},
	}
}
