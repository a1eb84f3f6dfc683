package daemon

import (
	"context"
	"io"
	"log/slog"
	"time"

	"retinad/acquisition"
	"retinad/clock"
	pb "retinad/proto/retinadpb"
)

// Source produces the stimulus frames in order. Called only from the frame loop.
type Source interface {
	// Next writes the next frame (contrast, row-major, Height*Width) into dst and returns its
	// index within the source (what regenerates it).
	Next(dst []float32) (index uint64, err error)
}

// Describer is a Source whose frames say what made them: Description is the stimulus source of
// the frame Next last wrote, which that frame's FrameOnset.source carries so that the record
// alone rebuilds it. The message is built when the source (or clip) is chosen and never
// modified after, so the frame loop hands on a pointer and allocates nothing. A Source that is
// no Describer is described by the grid and rate alone (its frames cannot be rebuilt).
type Describer interface {
	Description() *pb.StimulusSource
}

// ClosedLoop is a Source that chooses what to show from what was recorded: the adaptive
// stimulus (daemon/closedloop). The daemon calls it only through this interface. Next and
// Description run on the frame loop; the rest from any goroutine.
type ClosedLoop interface {
	Source
	Describer
	// Cells are the recorded cells the loop wants counted, in its models' order. With no model
	// to set them (Parts.Models empty), the daemon's validation bins these.
	Cells() []int32
	// Observe is told of every bin as the daemon's validation closes it, in display-frame
	// order, with the one clock fit and binning the models are scored by: counts per cell of
	// cells (valid during the call only) and whether the bin's onset was known (covered false:
	// a gap; counts are zero). It runs on a bus goroutine with validation's lock held: it must
	// not block or call the daemon.
	Observe(frame uint64, cells []int32, counts []float64, covered bool)
	// Sessions gives the loop the daemon's numbering (New calls it once, before Run): which
	// session a display frame belongs to, and the frame in that session's numbering.
	Sessions(at func(display uint64) (session string, frame uint64))
	// Switch switches to the named strategy from the next choice on (the control service's
	// ChooseStimulus); an error is a strategy the loop cannot make.
	Switch(strategy string) error
	// Frames is how many frames the loop has handed out: the display frame the next choice
	// starts at, at the earliest.
	Frames() uint64
	// Figures count what the loop did; the daemon's Figures and status line carry them.
	Figures() LoopFigures
}

// LoopFigures count what a ClosedLoop did since it started: clips chosen and how many were the
// strategy's default (scoring late), clips whose recorded counts went back to the strategy and
// clips that could not be counted (no acquisition, gaps), gray frames before the first clip,
// and frames a clip ran on for while no next one was ready.
type LoopFigures struct {
	Clips, Fallbacks, Observed, Unplaced, Idle, Extended uint64
}

// Flip is what the presenter reports of one shown frame.
type Flip struct {
	HostNs int64   // when the buffer swap returned, host monotonic ns
	Level  float64 // the photodiode patch's level in this frame, 0 black .. 1 white
	Missed int     // monitor refreshes missed just before this frame (it came late)
}

// Presenter shows frames. Called only from the frame loop, on the OS thread that owns the GL
// context (the main thread).
type Presenter interface {
	// Present draws frame and swaps buffers, returning when the flip is done.
	Present(frame []float32) (Flip, error)
}

// FlipSink is told of every flip, without blocking (calib.Photodiode.Flip).
type FlipSink interface {
	Flip(frame uint64, hostNs int64, level float64)
}

// Engine is one model's streaming engine: one Step per bin, each with the newest frame.
// Called only from that model's goroutine.
type Engine interface {
	// Step feeds the frame of the next bin and writes the predicted rates (spikes/s, one per
	// cell) into rates. Rates are NaN until the engine has a full history.
	Step(frame []float32, rates []float32) error
}

// Resetter is an Engine that can start afresh: forget its frame window, set a recurrent
// state to zero, reseed its generator. The daemon calls Reset before the first bin of a
// session (started over the control service), so that a session's predictions depend on its
// own frames only. Called only from that model's goroutine; it must not allocate.
type Resetter interface {
	Reset()
}

// Observer is an Engine whose spike history can follow the recorded spikes (a GLM in
// validation mode): Observe gives it the counts of the bin it last stepped, before the next
// Step. Called only from that model's goroutine.
type Observer interface {
	Observe(counts []float32)
}

// Model is one configured model, ready to run.
type Model struct {
	Name     string // the <model> of the prediction subject
	File     string // where it was loaded from, for status; may be empty
	Engine   Engine
	CellIDs  []int32       // the cells it predicts, acquisition ids, in rate order
	BinRate  float64       // bins per second the model was trained at
	History  int           // bins of input one prediction needs (the first History-1 are NaN); 0: unknown
	Deadline time.Duration // a prediction ready later than this after its frame's flip is skipped; 0 = one bin (1 s when Observed)
	// Observed: the engine (an Observer) is given the recorded counts of each bin before it
	// steps the next, so it steps only once acquisition has covered the bin before: about the
	// acquisition's publishing delay behind the display. Its deadline must allow for that.
	Observed bool
	// CPUs are the model's cores of its own (configs models[].cpus, Linux): the daemon runs its
	// goroutine pinned to the first, locked to its OS thread for its life; the rest are its
	// engine's helpers', which the Loader pinned (infer.Options.HelperCPUs). Run keeps every
	// other thread off them. Empty: not pinned.
	CPUs []int
}

// LoadRequest is a model the control service asks to load while the daemon runs.
type LoadRequest struct {
	Name       string
	File       string // a model file on the daemon's machine
	Stochastic bool
	Seed       uint64
	Deadline   time.Duration
	Observed   bool    // a GLM's spike history follows the recorded spikes (Model.Observed)
	FrameRate  float64 // bins per second of an .onnx file that does not say its own (configs models[].frame_rate)
	Threads    int     // cores one step may use (configs models[].threads; infer.Options.Threads)
	CPUs       []int   // the model's cores of its own, one per thread (configs models[].cpus; Model.CPUs); the control service asks for none
	// Requester is who asked, as the control service knows it (acquisition.Requester), for the
	// log; "" for configured models.
	Requester string
}

// Loader makes a Model from a LoadRequest: reads and checks the file, makes the engine. It runs
// on a control goroutine, without the control lock, and may allocate and take its time; it
// stops when ctx ends (the requester gave up or the daemon is ending). A missing file is an
// error that wraps fs.ErrNotExist; a file the daemon refuses to read wraps fs.ErrPermission.
type Loader func(ctx context.Context, req LoadRequest) (Model, error)

// Flusher is a Bus that can wait until what it buffered has reached the server (a session's
// end flushes the recording).
type Flusher interface {
	Flush(ctx context.Context) error
}

// busRunner is a Bus with a sending goroutine of its own (NATSBus): the daemon's Run runs it
// from before the session's START to after its STOP.
type busRunner interface {
	Run(ctx context.Context) error
}

// queueCounts is a Bus with a bounded publish queue, for Status.publish_queued and
// publish_dropped: waiting now, dropped by the full queue, and refused by the connection
// (counted with the daemon's publish errors).
type queueCounts interface {
	queue() (queued int, dropped, failed uint64)
}

// sendLatencies is a Bus with a publish queue that times each message's way to the connection.
type sendLatencies interface {
	sendLatency() *acquisition.Histogram
}

// busHealth is a Bus whose connection can be lost (an external server's outage), for
// Status.bus_disconnected_ns.
type busHealth interface {
	health() (down time.Duration)
}

// clockUser is a Bus that times something (NATSBus: its outages): New gives it the daemon's
// clock, so that what it reports is on the same clock as every stamp.
type clockUser interface {
	useClock(clock.Clock)
}

// Bus is the message bus (NATS). Publish must not block for long (it buffers); handlers run on
// the bus's own goroutine.
type Bus interface {
	Publish(subject string, data []byte) error
	Subscribe(subject string, handle func(data []byte)) (unsubscribe func() error, err error)
}

// Component is anything else that runs for the daemon's lifetime: the photodiode link, the
// virtual retina, the recorder. Run blocks until ctx ends and returns nil then.
type Component struct {
	Name string
	Run  func(ctx context.Context) error
}

// Parts is everything New wires together.
type Parts struct {
	Rig, Session string // Session: the first session's name; "" makes one from the UTC time
	Version      string // the daemon's version, for status
	ConfigYAML   string // the effective config, recorded with the session's start
	Source       Source
	Presenter    Presenter
	Flips        FlipSink // may be nil (no photodiode: every frame is then untimed)
	// FlipsReady, if set, is closed once Flips can time a frame (calib.Photodiode.Ready: the
	// device connected and its clock synced). Run shows its first frame after it, or after
	// FlipsWait (default 2 s) without it, so that a session's first frames are not untimed
	// only because the clock sync was still under way when the frame loop started.
	FlipsReady <-chan struct{}
	FlipsWait  time.Duration
	Models     []Model
	Load       Loader // loads models asked for over the control service; nil: none can be
	Bus        Bus
	// Recorder is the session recording's store; nil when sessions are not recorded. Session
	// events and status go through it with the store's acknowledgement (Status.record_state).
	Recorder   Recorder
	Components []Component
	// PhotodiodeDown says how long the photodiode has been away (calib.Photodiode.Down; 0 while
	// connected); nil without one. Frames are untimed meanwhile: the status says why.
	PhotodiodeDown func() time.Duration

	// FrameLoopCPU, if set, is the core the frame loop's OS thread (Run's caller) runs on
	// alone while Run runs (configs cpus.frame_loop, Linux). When it or a model's CPUs is set,
	// Run moves every other thread of the process off those cores, and gives them back when it
	// returns (internal/cpus).
	FrameLoopCPU *int

	FrameRate   float64 // stimulus frames per second (= every model's bin rate)
	Height      int     // stimulus grid
	Width       int
	Lookahead   int           // frames generated and fed to the models before they are shown; default 4
	Window      time.Duration // validation sliding window; default 60 s
	ReportEvery time.Duration // validation reports; default 1 s
	StatusEvery time.Duration // status line and message; default 250 ms

	// Clock is the daemon's one clock: every stamp (host monotonic ns) and every wait (status,
	// validation reports, a control request's wait for the frame loop) is on it. Default
	// clock.System (CLOCK_MONOTONIC), what every other part stamps with; tests pass a
	// clocktest.VirtualClock.
	Clock     clock.Clock
	Log       *slog.Logger // default: discard
	StatusOut io.Writer    // the status line; nil for none

	// PhotodiodeLost, if set, reports the photodiode device messages the link has lost
	// (calib.Stats.Lost), for Status.photodiode_lost and the status line.
	PhotodiodeLost func() uint64
	// PhotodiodeDriftPPM, if set, reports the photodiode device clock's fitted drift against
	// the host, ppm (calib.Stats.SyncDriftPPB / 1000).
	PhotodiodeDriftPPM func() float64
}
