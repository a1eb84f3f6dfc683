package daemon

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"retinad/acquisition"
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

// Figures are the session's counters at one moment.
type Figures struct {
	Frames, Timed, Dropped, Untimed uint64
	Missed                          uint64 // monitor refreshes the presenter missed (frames shown late)
	FlipsLost, OnsetsLost           uint64 // queue overflows between the frame loop and the stamper
	PixelsLost                      uint64 // frames of a source that cannot be rebuilt, published without their pixels
	OnsetLatency                    time.Duration
	Published, PublishErrors        uint64
	Spikes, Syncs, Rejected         uint64
	Unplaced, Unknown               uint64 // spikes not placed in an open bin; of cells no model predicts
	ClockPairs                      int    // sync pairs in the acquisition clock fit
	AcqDriftPPM                     float64
	FlipToPublishP50                time.Duration // flip of a frame to its prediction's publish (models not observed)
	FlipToPublishP99                time.Duration
	Models                          []ModelFigures
	// The recording's health in the session (RECORD_OFF without a Recorder or a session).
	Record      pb.Status_RecordState
	RecordError string
	RecordUsage acquisition.StoreUsage
}

// ModelFigures are one model's counters.
type ModelFigures struct {
	Name, File                string
	Cells                     int
	BinRate                   float64
	Steps, Published, Skipped uint64
	Overrun                   uint64
	Unobserved                uint64 // an observed model's bins stepped without the recorded counts of the bin before
	LastCompute, MaxCompute   time.Duration
	LiveR                     float64 // mean Pearson r over the validation window (NaN: none yet)
}

// Figures returns the counters now; safe from any goroutine.
func (d *Daemon) Figures() Figures {
	s := d.stamp
	f := Figures{
		Frames: d.frames.Load(), Missed: d.missed.Load(), Timed: s.timed.Load(), Dropped: s.dropped.Load(), Untimed: s.untimed.Load(),
		FlipsLost: d.flipsLost.Load(), OnsetsLost: s.onsetOverflow.Load(), PixelsLost: d.pixLost.Load(),
		OnsetLatency: time.Duration(s.onsetLatNs.Load()),
		Published:    s.published.Load(), PublishErrors: s.publishErrors.Load(),
		Spikes: d.val.spikes.Load(), Syncs: d.val.syncs.Load(), Rejected: d.val.rejected.Load(),
	}
	d.val.mu.Lock()
	if v := d.val.v; v != nil {
		f.Unplaced, f.Unknown, f.ClockPairs, f.AcqDriftPPM = v.Unplaced, v.Unknown, v.Clock().Pairs(), v.Clock().DriftPPM()
	}
	d.val.mu.Unlock()
	d.recordFigures(&f)
	p := s.lat.percentiles(0.5, 0.99)
	f.FlipToPublishP50, f.FlipToPublishP99 = p[0], p[1]
	live := d.val.liveR()
	for _, r := range d.models.Load().runners {
		lr, ok := live[r.Name]
		if !ok {
			lr = math.NaN()
		}
		f.Models = append(f.Models, ModelFigures{
			Name: r.Name, File: r.File, Cells: len(r.CellIDs), BinRate: r.BinRate, Steps: r.steps.Load(), Published: r.published.Load(), Skipped: r.skipped.Load(),
			Overrun: r.overrun.Load(), Unobserved: r.unobserved.Load(), LastCompute: r.lastCompute(), MaxCompute: time.Duration(r.maxNs.Load()), LiveR: lr,
		})
	}
	return f
}

// String is the one-line status.
func (f Figures) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "frames %d missed %d dropped %d untimed %d onset-latency %.2fms flip-to-publish p50 %.2fms p99 %.2fms",
		f.Frames, f.Missed, f.Dropped, f.Untimed, ms(f.OnsetLatency), ms(f.FlipToPublishP50), ms(f.FlipToPublishP99))
	for _, m := range f.Models {
		fmt.Fprintf(&b, " | %s %.2fms skipped %d r=%.3f", m.Name, ms(m.LastCompute), m.Skipped, m.LiveR)
	}
	if f.Spikes > 0 || f.Syncs > 0 {
		fmt.Fprintf(&b, " | spikes %d (unplaced %d) syncs %d, acquisition clock drift %.1f ppm", f.Spikes, f.Unplaced, f.Syncs, f.AcqDriftPPM)
	}
	b.WriteString(f.recordText())
	return b.String()
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func (d *Daemon) runStatus(ctx context.Context) error {
	t := time.NewTicker(d.p.StatusEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			d.statusTick(ctx)
		}
	}
}

// statusTick publishes the status, through the recording store while a session is recorded:
// its acknowledgement is the recording's health check. When that changes the health, the news
// goes out at once (a core publish: a store that refused takes nothing). Then the status line.
func (d *Daemon) statusTick(ctx context.Context) {
	f := d.Figures()
	if d.p.Recorder != nil && d.sess.Load() != nil {
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
		UptimeNs: now - d.start, Version: d.p.Version, Frames: f.Frames,
		FramesDropped: f.Dropped, FramesUntimed: f.Untimed, Stimulus: d.source,
		Spikes: f.Spikes, Syncs: f.Syncs, InboundRejected: f.Rejected,
	}
	recordStatus(m, f)
	for _, mf := range f.Models {
		m.Models = append(m.Models, &pb.ModelStatus{
			Name: mf.Name, File: mf.File, Cells: uint32(mf.Cells), BinRateHz: mf.BinRate,
			Bins: mf.Published, Skipped: mf.Skipped, LastComputeNs: int64(mf.LastCompute), MaxComputeNs: int64(mf.MaxCompute),
		})
	}
	return m
}

func (d *Daemon) finalStatus() {
	f := d.Figures()
	d.p.Log.Info("daemon: session ended", "figures", f.String())
}
