package daemon

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"retinad/acquisition"
	"retinad/clock"
	pb "retinad/proto/retinadpb"
)

// publishOnce marshals and publishes a message off the per-frame path (it allocates).
func (d *Daemon) publishOnce(subject string, m proto.Message) {
	data, err := proto.Marshal(m)
	if err == nil {
		err = d.p.Bus.Publish(subject, data)
	}
	if err != nil {
		d.stamp.publishErrors.Add(1)
		d.logEvery("daemon: publish failed", "subject", subject, "err", err)
	}
}

// Figures are the session's counters at one moment. Frame, spike, sync and inbound counts
// start from 0 at each session's start (they run on while idle, since the last start);
// publishing counts are since the daemon started.
type Figures struct {
	Frames, Timed, Dropped, Untimed uint64
	LinkLost                        uint64 // of Untimed: the photodiode link lost messages around them (not the monitor's drops)
	PhotodiodeLost                  uint64 // photodiode device messages lost on the link, ever
	Missed                          uint64 // monitor refreshes the presenter missed (frames shown late)
	FlipsLost, OnsetsLost           uint64 // queue overflows between the frame loop and the stamper
	PixelsLost                      uint64 // frames of a source that cannot be rebuilt, published without their pixels
	OnsetLatency                    time.Duration
	Published, PublishErrors        uint64
	PublishQueued                   int                       // messages waiting in the bus's publish queue now
	PublishDropped                  uint64                    // messages the full queue dropped (oldest first), ever
	PublishFailed                   uint64                    // messages the connection refused (lost: reconnect buffer full), ever; in PublishErrors too
	BusDown                         time.Duration             // how long the NATS connection has been lost; 0: connected
	PhotodiodeDown                  time.Duration             // how long the photodiode has been away; 0: connected or none
	Spikes, Syncs, Rejected         uint64                    // spikes and sync edges accepted; inbound messages rejected
	Inbound                         acquisition.InboundCounts // rejections per subject and reason, sequence gaps
	Unplaced, Unknown               uint64                    // spikes not placed in an open bin; of cells no model predicts
	ClockPairs                      int                       // sync pairs in the acquisition clock fit
	ClockRefused, ClockResets       uint64                    // sync pairs off the fit; restarts of the fit on evidence (ever)
	AcqDriftPPM                     float64
	DiodeDriftPPM                   float64       // the photodiode device clock's fitted drift (0 without a device)
	FlipToPublishP50                time.Duration // flip of a frame to its prediction's publish (models not observed)
	FlipToPublishP99                time.Duration
	// Histograms since the daemon started (ns; acquisition.HistogramSnapshot): a frame's flip,
	// and its photodiode onset's arrival (Onset), to each of its predictions handed to the bus
	// (models not observed); the photodiode's onset minus the acquisition's record of the same edge on the
	// fitted clock, where the acquisition's sync edges carry frame numbers; and each message's
	// way from the bus's publish queue to the NATS connection (empty without a NATS bus).
	FlipToPublish, OnsetToPublish, OnsetError, PublishSend acquisition.HistogramSnapshot
	// Queue depths now: onsets and flips waiting for the stamper.
	OnsetsQueued, FlipsQueued int
	Models                    []ModelFigures
	WorkersExcluded           []string    // scoring workers excluded for wrong answers (identities)
	Loop                      LoopFigures // the closed-loop (adaptive) source's, since it started; zero without one
	// The recording's health in the session (RECORD_OFF without a Recorder or a session).
	Record      pb.Status_RecordState
	RecordError string
	RecordUsage acquisition.StoreUsage

	FrameRate    float64 // frames per second the display ran at, from the session's flips (0: under two)
	FrameRateSet float64 // the configured stimulus.frame_rate
}

// ModelFigures are one model's counters.
type ModelFigures struct {
	Name, File                string
	Cells                     int
	CellIDs                   []int32 // the model's cells, in the order of its rates (shared: do not modify)
	BinRate                   float64
	History                   int           // bins of input a prediction needs (0: unknown)
	Deadline                  time.Duration // a step ready later than this after its frame's flip is skipped
	Steps, Published, Skipped uint64
	Overrun                   uint64
	Unobserved                uint64 // an observed model's bins stepped without the recorded counts of the bin before
	LastCompute, MaxCompute   time.Duration
	LiveR                     float64 // mean Pearson r over the validation window (NaN: none yet)
	InQueued, OutQueued       int     // frames waiting for the model's step; steps waiting for their onset
}

// counters are the raw counters that Figures report per session.
type counters struct {
	frames, missed, timed, dropped, untimed, linkLost, spikes, syncs uint64
	inbound                                                          acquisition.InboundCounts
}

func (d *Daemon) counters() *counters {
	s := d.stamp
	return &counters{
		frames: d.frames.Load(), missed: d.missed.Load(), timed: s.timed.Load(), dropped: s.dropped.Load(), untimed: s.untimed.Load(),
		linkLost: s.linkLost.Load(), spikes: d.val.spikes.Load(), syncs: d.val.syncs.Load(), inbound: d.val.in.Counts(),
	}
}

// sessionShown is the frames shown in the running session, from its frame 0 (which a session
// started over the control service has a few frames after its START), given the frames shown
// since the last START (since) and in all (shown); since when no session runs.
func (d *Daemon) sessionShown(since, shown uint64) uint64 {
	s := d.sess.Load()
	if s == nil {
		return since
	}
	if first, begun := s.first(); begun && shown > first {
		return shown - first
	}
	return 0
}

// Figures returns the counters now; safe from any goroutine.
func (d *Daemon) Figures() Figures {
	s := d.stamp
	c, b := d.counters(), d.base.Load()
	f := Figures{
		Frames: d.sessionShown(c.frames-b.frames, c.frames), Missed: c.missed - b.missed, Timed: c.timed - b.timed,
		Dropped: c.dropped - b.dropped, Untimed: c.untimed - b.untimed, LinkLost: c.linkLost - b.linkLost,
		FlipsLost: d.flipsLost.Load(), OnsetsLost: s.onsetOverflow.Load(), PixelsLost: d.pixLost.Load(),
		OnsetLatency: time.Duration(s.onsetLatNs.Load()),
		Published:    s.published.Load(), PublishErrors: s.publishErrors.Load(),
		Spikes: c.spikes - b.spikes, Syncs: c.syncs - b.syncs, Inbound: c.inbound.Sub(b.inbound),
	}
	f.Rejected = f.Inbound.Rejected()
	if q, ok := d.p.Bus.(queueCounts); ok {
		f.PublishQueued, f.PublishDropped, f.PublishFailed = q.queue()
		f.PublishErrors += f.PublishFailed
	}
	if h, ok := d.p.Bus.(busHealth); ok {
		f.BusDown = h.health()
	}
	if d.p.PhotodiodeDown != nil {
		f.PhotodiodeDown = d.p.PhotodiodeDown()
	}
	f.FrameRate, f.FrameRateSet = d.flipSpan.rate(), d.p.FrameRate
	d.val.mu.Lock()
	if v := d.val.v; v != nil {
		clk := v.Clock()
		f.Unplaced, f.Unknown, f.ClockPairs, f.AcqDriftPPM = v.Unplaced, v.Unknown, clk.Pairs(), clk.DriftPPM()
		f.ClockRefused, f.ClockResets = clk.Refused, clk.Resets
	}
	d.val.mu.Unlock()
	f.WorkersExcluded = d.workersExcluded()
	if d.loop != nil {
		f.Loop = d.loop.Figures()
	}
	if d.p.PhotodiodeLost != nil {
		f.PhotodiodeLost = d.p.PhotodiodeLost()
	}
	if d.p.PhotodiodeDriftPPM != nil {
		f.DiodeDriftPPM = d.p.PhotodiodeDriftPPM()
	}
	d.recordFigures(&f)
	f.FlipToPublish, f.OnsetToPublish, f.OnsetError = s.flipToPub.Snapshot(), s.toWire.Snapshot(), d.val.onsetErr.Snapshot()
	if sl, ok := d.p.Bus.(sendLatencies); ok {
		f.PublishSend = sl.sendLatency().Snapshot()
	}
	f.OnsetsQueued, f.FlipsQueued = s.onsets.Len(), s.flips.Len()
	p := s.lat.percentiles(0.5, 0.99)
	f.FlipToPublishP50, f.FlipToPublishP99 = p[0], p[1]
	live := d.val.liveR()
	for _, r := range d.models.Load().runners {
		lr, ok := live[r.Name]
		if !ok {
			lr = math.NaN()
		}
		f.Models = append(f.Models, r.figures(lr))
	}
	return f
}

// figures are r's counters, with its live r.
func (r *runner) figures(liveR float64) ModelFigures {
	return ModelFigures{
		Name: r.Name, File: r.File, Cells: len(r.CellIDs), CellIDs: r.CellIDs, BinRate: r.BinRate, History: r.History,
		Deadline: time.Duration(r.deadline), Steps: r.steps.Load(), Published: r.published.Load(), Skipped: r.skipped.Load(),
		Overrun: r.overrun.Load(), Unobserved: r.unobserved.Load(), LastCompute: r.lastCompute(), MaxCompute: time.Duration(r.maxNs.Load()), LiveR: liveR,
		InQueued: r.in.Len(), OutQueued: r.out.Len(),
	}
}

// status is the model's part of Status (and of the load reply): what a subscriber that joins
// late needs to read its predictions, cell ids first.
func (mf ModelFigures) status() *pb.ModelStatus {
	return &pb.ModelStatus{
		Name: mf.Name, File: mf.File, Cells: uint32(mf.Cells), BinRateHz: mf.BinRate,
		Bins: mf.Published, Skipped: mf.Skipped, LastComputeNs: int64(mf.LastCompute), MaxComputeNs: int64(mf.MaxCompute),
		CellIds: mf.CellIDs, DeadlineNs: int64(mf.Deadline), History: uint32(max(mf.History, 0)),
	}
}

// rejects lists the non-zero rejection counters as "spikes.<reason>" and "sync.<reason>".
func rejects(c *acquisition.InboundCounts) []*pb.Count {
	var out []*pb.Count
	for sub, name := range [2]string{"spikes.", "sync."} {
		for r := acquisition.ReasonNone + 1; r < acquisition.NumReasons; r++ {
			if n := c.Rejects[sub][r]; n > 0 {
				out = append(out, &pb.Count{Name: name + r.String(), Value: n})
			}
		}
	}
	return out
}

// String is the one-line status.
func (f Figures) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "frames %d at %.2f Hz (configured %g Hz) missed %d dropped %d untimed %d onset-latency %.2fms flip-to-publish p50 %.2fms p99 %.2fms",
		f.Frames, f.FrameRate, f.FrameRateSet, f.Missed, f.Dropped, f.Untimed, ms(f.OnsetLatency), ms(f.FlipToPublishP50), ms(f.FlipToPublishP99))
	if f.PhotodiodeLost > 0 || f.LinkLost > 0 {
		fmt.Fprintf(&b, " | photodiode link lost %d messages: %d frames untimed by the link, not dropped", f.PhotodiodeLost, f.LinkLost)
	}
	for _, m := range f.Models {
		fmt.Fprintf(&b, " | %s %.2fms skipped %d r=%.3f", m.Name, ms(m.LastCompute), m.Skipped, m.LiveR)
		if m.Unobserved > 0 { // an observed model stepped these on its own counts: offline replay differs there
			fmt.Fprintf(&b, " unobserved %d", m.Unobserved)
		}
	}
	if f.PublishDropped > 0 || f.PublishErrors > 0 {
		fmt.Fprintf(&b, " | publish queue %d, dropped %d, failed %d", f.PublishQueued, f.PublishDropped, f.PublishErrors)
	}
	b.WriteString(f.faultText())
	if f.Spikes > 0 || f.Syncs > 0 {
		fmt.Fprintf(&b, " | spikes %d (unplaced %d) syncs %d, acquisition clock drift %.1f ppm", f.Spikes, f.Unplaced, f.Syncs, f.AcqDriftPPM)
	}
	if gaps := f.Inbound.Gaps[0] + f.Inbound.Gaps[1]; f.Rejected > 0 || gaps > 0 {
		fmt.Fprintf(&b, " | inbound rejected %d", f.Rejected)
		for _, c := range rejects(&f.Inbound) {
			fmt.Fprintf(&b, " %s=%d", c.Name, c.Value)
		}
		fmt.Fprintf(&b, ", gaps %d", gaps)
	}
	if len(f.WorkersExcluded) > 0 {
		fmt.Fprintf(&b, " | workers excluded: %s", strings.Join(f.WorkersExcluded, ", "))
	}
	if l := f.Loop; l.Clips > 0 || l.Idle > 0 {
		fmt.Fprintf(&b, " | adaptive clips %d (default %d) observed %d unplaced %d", l.Clips, l.Fallbacks, l.Observed, l.Unplaced)
	}
	b.WriteString(f.recordText())
	return b.String()
}

// flipSpan is the span of the flips the frame loop has reported: the frame rate the display
// really runs at, whatever the configuration says (a display that drifts or misses refreshes
// shows here). A mutex rather than atomics, so that a reader sees a count and a last flip of
// the same frame; the frame loop holds it for a few nanoseconds and allocates nothing.
type flipSpan struct {
	mu          sync.Mutex
	first, last int64
	n           uint64
}

// reset starts the span again at the next flip (a session starts).
func (s *flipSpan) reset() {
	s.mu.Lock()
	s.n = 0
	s.mu.Unlock()
}

// add records a flip at host time t.
func (s *flipSpan) add(t int64) {
	s.mu.Lock()
	if s.n == 0 {
		s.first = t
	}
	s.last = t
	s.n++
	s.mu.Unlock()
}

// rate is the frames per second from the first flip to the last (0 before two flips).
func (s *flipSpan) rate() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n < 2 || s.last <= s.first {
		return 0
	}
	return float64(s.n-1) * 1e9 / float64(s.last-s.first)
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// faultText is the status line's part for the faults the daemon rides through: a lost NATS
// connection, an unplugged photodiode ("" when there are none). Messages lost meanwhile are the
// publish part's "failed".
func (f Figures) faultText() string {
	var b strings.Builder
	if f.BusDown > 0 {
		fmt.Fprintf(&b, " | NATS DISCONNECTED %.1fs: reconnecting, publishing into the reconnect buffer", f.BusDown.Seconds())
	}
	if f.PhotodiodeDown > 0 {
		fmt.Fprintf(&b, " | PHOTODIODE DISCONNECTED %.1fs: frames untimed, redialling", f.PhotodiodeDown.Seconds())
	}
	return b.String()
}

func (d *Daemon) runStatus(ctx context.Context) error {
	t := d.p.Clock.NewTicker(d.p.StatusEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
			d.statusTick(ctx)
			clock.Ack(t) // sent: a virtual clock may move on
		}
	}
}

// statusTick publishes the status, through the recording store while a session is recorded:
// its acknowledgement is the recording's health check. When that changes the health, the news
// goes out at once (a core publish: a store that refused takes nothing). Then the status line.
func (d *Daemon) statusTick(ctx context.Context) {
	f := d.Figures()
	// While NATS is disconnected the store cannot answer: the status goes into the reconnect
	// buffer, and the outage (not a recording failure) is what it says.
	if d.p.Recorder != nil && d.sess.Load() != nil && f.BusDown == 0 {
		if d.storeRecorded(ctx, d.subj.Status, d.statusMsg(f)) {
			f = d.Figures()
			d.publishOnce(d.subj.Status, d.statusMsg(f))
		}
	} else {
		d.publishOnce(d.subj.Status, d.statusMsg(f))
	}
	if d.p.StatusOut != nil {
		fmt.Fprintln(d.p.StatusOut, f)
	}
}

func (d *Daemon) statusMsg(f Figures) *pb.Status {
	now := d.now()
	state := pb.Status_RECORDING
	if d.sess.Load() == nil {
		state = pb.Status_IDLE
	}
	m := &pb.Status{
		Rig: d.p.Rig, Session: d.sessionID(), State: state, HostNs: now, UnixNs: d.unix(now),
		UptimeNs: now - d.start.Load(), Version: d.p.Version, Frames: f.Frames,
		FramesDropped: f.Dropped, FramesUntimed: f.Untimed, Stimulus: d.source,
		// inbound_rejected is "ever" (the schema's word); inbound_rejects, per reason, is the session's.
		Spikes: f.Spikes, Syncs: f.Syncs, InboundRejected: d.val.in.Counts().Rejected(),
		InboundRejects: rejects(&f.Inbound), InboundGaps: f.Inbound.Gaps[0] + f.Inbound.Gaps[1],
		RefreshesMissed: f.Missed,
		PublishQueued:   uint64(f.PublishQueued), PublishDropped: f.PublishDropped,
		WorkersExcluded: f.WorkersExcluded, PhotodiodeLost: f.PhotodiodeLost, FramesLinkLost: f.LinkLost,
		PublishFailed: f.PublishFailed, BusDisconnectedNs: int64(f.BusDown), PhotodiodeDisconnectedNs: int64(f.PhotodiodeDown),
	}
	recordStatus(m, f)
	for _, mf := range f.Models {
		m.Models = append(m.Models, mf.status())
	}
	return m
}

func (d *Daemon) finalStatus() {
	f := d.Figures()
	d.p.Log.Info("daemon: session ended", "figures", f.String())
}
