package sim

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"retinad/clock"
	pb "retinad/proto/retinadpb"
)

// Publisher publishes a message without blocking; acquisition.Publisher is one.
type Publisher interface {
	Publish(subject string, m proto.Message) bool
}

// AcquisitionOptions set up the virtual retina as the rig's acquisition system.
type AcquisitionOptions struct {
	Spikes, Sync string // subjects (contract.Subjects' Spikes and Sync)
	Session      string // copied into every message; may be empty
	// BatchInterval is the publishing cadence: one spike batch per tick (configs.Acquisition).
	BatchInterval time.Duration
	// The acquisition clock: acq = host + ClockOffset + host*ClockDriftPPM/1e6 (host monotonic ns).
	ClockOffset   time.Duration
	ClockDriftPPM float64
	// Holdback is how far behind the present a batch ends, so that frames whose onsets are
	// confirmed late still have their spikes published in order (default 100 ms).
	Holdback time.Duration
	Seed     uint64 // spike noise
	Queue    int    // frames that may wait for Run (default 256); beyond, Show refuses
	// Clock is the host monotonic clock the retina sees the screen on (give it the daemon's),
	// and the batch ticker's. Default clock.System, the daemon's one clock.
	Clock clock.Clock
	Log   *slog.Logger
}

// AcquisitionStats are an Acquisition's counters since it was made.
type AcquisitionStats struct {
	Frames  uint64 // frames seen (Show accepted)
	Refused uint64 // frames Show refused: queue full or out of order
	Bins    uint64 // bins simulated (more than frames when frames were held on screen)
	Spikes  uint64 // spikes published
	Late    uint64 // spikes dropped because their batch had already been published
	Batches uint64 // spike batches published
	Syncs   uint64 // sync events published
	Unsent  uint64 // messages the publisher refused
}

// Acquisition is the virtual retina standing in for the acquisition system: it sees each frame
// the rig shows from its confirmed onset (Show), and Run publishes the spikes on its own clock
// (offset and drift) and a sync event for every frame's photodiode edge, every BatchInterval.
type Acquisition struct {
	r   *Retina
	sp  *Spiker
	pub Publisher
	o   AcquisitionOptions
	dt  int64 // bin, ns

	mu    sync.Mutex
	ring  [][]float32
	index []uint64
	onset []int64
	head  int
	n     int
	last  uint64 // last frame accepted + 1 (0: none)

	// Run's own state.
	frame      []float32
	rate       []float64
	counts     []float32
	shown      bool  // a frame is on screen
	nextBin    int64 // host ns of the next bin to simulate, while a frame is shown
	pendCell   []int32
	pendTime   []int64 // acq ns
	batchStart int64   // acq ns
	started    bool
	spikes     pb.Spikes
	sync       pb.Sync

	frames, refused, bins, nSpikes, late, batches, syncs, unsent atomic.Uint64
}

// NewAcquisition makes the acquisition stand-in around retina r, publishing through pub.
func NewAcquisition(r *Retina, pub Publisher, o AcquisitionOptions) (*Acquisition, error) {
	if o.Spikes == "" || o.Sync == "" {
		return nil, fmt.Errorf("sim: acquisition: spikes and sync subjects are required")
	}
	if o.BatchInterval <= 0 {
		return nil, fmt.Errorf("sim: acquisition: batch_interval %v: want a positive interval", o.BatchInterval)
	}
	if o.Holdback == 0 {
		o.Holdback = 100 * time.Millisecond
	}
	if o.Queue <= 0 {
		o.Queue = 256
	}
	if o.Clock == nil {
		o.Clock = clock.System{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	sp, err := NewSpiker(len(r.cells), r.p.FrameRate, r.p.Refractory, o.Seed)
	if err != nil {
		return nil, err
	}
	a := &Acquisition{r: r, sp: sp, pub: pub, o: o, dt: int64(1e9/r.p.FrameRate + 0.5),
		ring: make([][]float32, o.Queue), index: make([]uint64, o.Queue), onset: make([]int64, o.Queue),
		frame: make([]float32, r.h*r.w), rate: make([]float64, len(r.cells)), counts: make([]float32, len(r.cells)),
		pendCell: make([]int32, 0, 1024), pendTime: make([]int64, 0, 1024)}
	for i := range a.ring {
		a.ring[i] = make([]float32, r.h*r.w)
	}
	a.spikes.Session, a.sync.Session = o.Session, o.Session
	a.spikes.CellIds = make([]int32, 0, 1024)
	a.spikes.TimesAcqNs = make([]int64, 0, 1024)
	a.sync.Source = pb.Sync_PHOTODIODE
	r.Reset()
	return a, nil
}

// AcqTime is host monotonic time hostNs on the acquisition clock.
func (a *Acquisition) AcqTime(hostNs int64) int64 {
	return hostNs + int64(a.o.ClockOffset) + int64(float64(hostNs)*a.o.ClockDriftPPM*1e-6)
}

// Show hands the retina frame's pixels (contrast, h*w) and its confirmed onset (host monotonic
// ns), in frame order. It copies the pixels, never blocks and allocates nothing; it may be
// called from any one goroutine (the frame loop or the photodiode's onset callback). It returns
// false, and counts the frame as refused, when the queue is full or frame is not after the
// previous one.
func (a *Acquisition) Show(frame uint64, pixels []float32, onsetNs int64) bool {
	if len(pixels) != len(a.frame) {
		panic("sim: Show: frame of the wrong size")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n == len(a.ring) || (a.last > 0 && frame < a.last) {
		a.refused.Add(1)
		return false
	}
	k := (a.head + a.n) % len(a.ring)
	copy(a.ring[k], pixels)
	a.index[k], a.onset[k] = frame, onsetNs
	a.n++
	a.last = frame + 1
	a.frames.Add(1)
	return true
}

// Stats returns the counters; safe from any goroutine.
func (a *Acquisition) Stats() AcquisitionStats {
	return AcquisitionStats{Frames: a.frames.Load(), Refused: a.refused.Load(), Bins: a.bins.Load(),
		Spikes: a.nSpikes.Load(), Late: a.late.Load(), Batches: a.batches.Load(), Syncs: a.syncs.Load(), Unsent: a.unsent.Load()}
}

// Run publishes a batch every tick until ctx ends, then returns nil. Run it once.
func (a *Acquisition) Run(ctx context.Context) error {
	t := a.o.Clock.NewTicker(a.o.BatchInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
			a.Batch()
			clock.Ack(t) // published: a virtual clock may move on
		}
	}
}

// Batch simulates the screen as the retina saw it up to now minus the holdback, and publishes
// the sync events of the frames shown and one batch of the spikes up to that horizon. Run calls it on every tick; a test may call it instead
// of running Run. Not safe to call concurrently with itself or Run.
func (a *Acquisition) Batch() {
	horizon := a.o.Clock.Now() - int64(a.o.Holdback) // host ns up to which the retina has seen the screen
	end := a.AcqTime(horizon)
	for {
		a.mu.Lock()
		if a.n == 0 {
			a.mu.Unlock()
			break
		}
		k := a.head
		frame, onset := a.index[k], a.onset[k]
		// The previous frame stays on screen until this onset: simulate its remaining bins.
		if a.shown {
			a.simulate(onset)
		}
		copy(a.frame, a.ring[k])
		a.head = (a.head + 1) % len(a.ring)
		a.n--
		a.mu.Unlock()

		a.sync.Seq = a.syncs.Load()
		a.sync.TimeAcqNs = a.AcqTime(onset)
		a.sync.Rising = frame%2 == 1 // the patch turns white on odd frames
		a.sync.Frame, a.sync.HasFrame = frame, true
		a.publish(a.o.Sync, &a.sync)
		a.syncs.Add(1)
		// A frame confirmed later than the holdback starts where the retina has got to.
		a.shown, a.nextBin = true, max(onset, a.nextBin)
	}
	// The frame on screen stays there up to the horizon.
	if a.shown {
		a.simulate(horizon)
	}
	if !a.started {
		a.batchStart, a.started = end, true
		return
	}
	if end <= a.batchStart {
		return
	}
	a.spikes.Seq = a.batches.Load()
	a.spikes.StartAcqNs, a.spikes.EndAcqNs = a.batchStart, end
	a.spikes.CellIds, a.spikes.TimesAcqNs = a.spikes.CellIds[:0], a.spikes.TimesAcqNs[:0]
	keep := 0
	for i, t := range a.pendTime {
		switch {
		case t < a.batchStart:
			a.late.Add(1)
		case t < end:
			a.spikes.CellIds = append(a.spikes.CellIds, a.pendCell[i])
			a.spikes.TimesAcqNs = append(a.spikes.TimesAcqNs, t)
		default:
			a.pendCell[keep], a.pendTime[keep] = a.pendCell[i], t
			keep++
		}
	}
	a.pendCell, a.pendTime = a.pendCell[:keep], a.pendTime[:keep]
	a.publish(a.o.Spikes, &a.spikes)
	a.nSpikes.Add(uint64(len(a.spikes.CellIds)))
	a.batches.Add(1)
	a.batchStart = end
}

// simulate runs the bins of the frame on screen that start before until (host ns).
func (a *Acquisition) simulate(until int64) {
	for a.nextBin < until {
		a.r.Step(a.frame, a.rate)
		a.sp.Spike(a.rate, a.counts)
		for _, s := range a.sp.Times() {
			t := a.nextBin + int64(s.At*1e9)
			a.pendCell = append(a.pendCell, int32(a.r.cells[s.Cell].ID))
			a.pendTime = append(a.pendTime, a.AcqTime(t))
		}
		a.nextBin += a.dt
		a.bins.Add(1)
	}
}

func (a *Acquisition) publish(subject string, m proto.Message) {
	if !a.pub.Publish(subject, m) {
		a.unsent.Add(1)
	}
}
