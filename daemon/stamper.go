package daemon

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"retinad/acquisition"
	"retinad/calib"
	pb "retinad/proto/retinadpb"
)

// pixelFrames is how many shown frames of a source that cannot be rebuilt wait for their onset
// with their pixels (the stamper is normally a few frames behind the display); a frame further
// behind is published without its pixels, and counted (Figures.PixelsLost).
const pixelFrames = 128

// framePixels is a shown frame's pixels, for its FrameOnset when its source is not reproducible.
type framePixels struct {
	frame uint64
	pix   []float32
}

// flipRec is one flip as the frame loop saw it.
type flipRec struct {
	frame, index uint64
	src          *pb.StimulusSource // the frame's source description (shared, never modified)
	hostNs       int64
}

// latencies keeps the most recent flip-to-publish latencies for percentiles.
type latencies struct {
	mu  sync.Mutex
	buf [1 << 16]int64
	n   int
	i   int
}

func (l *latencies) add(ns int64) {
	l.mu.Lock()
	l.buf[l.i] = ns
	l.i = (l.i + 1) % len(l.buf)
	l.n = min(l.n+1, len(l.buf))
	l.mu.Unlock()
}

// Percentiles returns the given quantiles (0..1) of the recent latencies; zeros when empty.
func (l *latencies) percentiles(qs ...float64) []time.Duration {
	l.mu.Lock()
	s := append([]int64(nil), l.buf[:l.n]...)
	l.mu.Unlock()
	out := make([]time.Duration, len(qs))
	if len(s) == 0 {
		return out
	}
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	for k, q := range qs {
		out[k] = time.Duration(s[min(len(s)-1, int(q*float64(len(s))))])
	}
	return out
}

// stamper joins each frame's onset with every model's prediction for its bin and publishes
// both; it runs on its own goroutine, so the frame loop never waits on the bus.
type stamper struct {
	d      *Daemon
	onsets *ring[onsetIn]     // from the photodiode's goroutine (or the frame loop without one)
	flips  *ring[flipRec]     // from the frame loop
	pixels *ring[framePixels] // from the frame loop: frames of sources that cannot be rebuilt
	wake   wake
	placed [4096]placed // by frame % len
	known  uint64       // frames below this have a published onset

	onsetMsg pb.FrameOnset
	buf      []byte
	lastLat  int64     // last confirmed flip-to-light latency, to place untimed bins
	sess     *session  // the session being published; nil: idle, publish nothing
	set      *modelSet // the models of this pass

	running atomic.Bool             // run is running
	seen    atomic.Pointer[session] // the session process last ran under (control waits on it)

	onsetOverflow atomic.Uint64
	published     atomic.Uint64
	publishErrors atomic.Uint64
	timed         atomic.Uint64
	dropped       atomic.Uint64
	untimed       atomic.Uint64
	linkLost      atomic.Uint64 // untimed because the photodiode link lost messages (in untimed too)
	onsetLatNs    atomic.Int64
	lat           latencies
	toWire        *acquisition.Histogram // onset in (Daemon.Onset) to its predictions handed to the bus
	flipToPub     *acquisition.Histogram // a frame's flip to its predictions handed to the bus
}

// onsetIn is an onset as the photodiode handed it over, with when (host ns).
type onsetIn struct {
	calib.Onset
	inNs int64
}

// toWireBounds are the buckets of Figures.OnsetToPublish: 1 us to about 1 s by doubling.
var toWireBounds = acquisition.ExponentialNs(1000, 2, 21)

// flipToPubBounds are the buckets of Figures.FlipToPublish: 100 us to about 3 s by doubling
// (a monitor's input lag, then the stamper's share).
var flipToPubBounds = acquisition.ExponentialNs(100_000, 2, 16)

func newStamper(d *Daemon) *stamper {
	s := &stamper{
		d:         d,
		onsets:    newRing[onsetIn](8192, nil),
		flips:     newRing[flipRec](8192, nil),
		pixels:    newRing(pixelFrames, func(x *framePixels) { x.pix = make([]float32, d.pixels) }),
		wake:      newWake(),
		buf:       make([]byte, 0, 64<<10),
		toWire:    acquisition.NewHistogram(toWireBounds...),
		flipToPub: acquisition.NewHistogram(flipToPubBounds...),
	}
	s.onsetMsg = pb.FrameOnset{Source: d.source}
	return s
}

// onset takes one frame's fate from the photodiode; it never blocks.
func (s *stamper) onset(o calib.Onset) {
	x := s.onsets.Reserve()
	if x == nil {
		s.onsetOverflow.Add(1)
		return
	}
	x.Onset, x.inNs = o, s.d.now()
	s.onsets.Commit()
	s.wake.Ring()
}

func (s *stamper) run(ctx context.Context) error {
	s.running.Store(true)
	defer s.running.Store(false)
	for {
		s.process()
		select {
		case <-ctx.Done():
			s.process() // what the photodiode resolved before the end
			return nil
		case <-s.wake:
		}
	}
}

// placed is a frame whose onset the stamper has published, kept for the predictions of its bin.
type placed struct {
	frame     uint64
	flipNs    int64
	startNs   int64 // bin start: the confirmed onset, or the flip plus the last known latency
	confirmed bool
	inNs      int64 // when its onset came in (Daemon.Onset)
}

// process publishes every frame whose onset is known, then every model's predictions whose
// frame's onset is known: each model on its own, so a slow one delays no other.
func (s *stamper) process() {
	s.sess = s.d.sess.Load()
	s.set = s.d.models.Load()
	if s.sess != nil {
		s.onsetMsg.Session = s.sess.id
	}
	for o := s.onsets.Peek(); o != nil; o = s.onsets.Peek() {
		// A frame whose flip record was lost (the ring overflowed) is described by the grid
		// alone: export cannot rebuild it and says so, rather than guess its index.
		index, src := o.Frame, s.d.source
		for f := s.flips.Peek(); f != nil && f.frame <= o.Frame; f = s.flips.Peek() {
			if f.frame == o.Frame {
				index, src = f.index, f.src
			}
			s.flips.Release()
		}
		var pix *framePixels
		if !src.Reproducible {
			pix = s.pixelsOf(o.Frame)
		}
		s.publishFrame(&o.Onset, o.inNs, index, src, pix)
		if pix != nil {
			s.pixels.Release()
		}
		s.known = o.Frame + 1
		s.onsets.Release()
	}
	for _, r := range s.set.runners {
		for x := r.out.Peek(); x != nil && x.frame < s.known; x = r.out.Peek() {
			s.publishPrediction(r, x)
			r.out.Release()
		}
	}
	s.seen.Store(s.sess)
}

// pixelsOf returns the pixels of frame (to Release after use), dropping those of frames before
// it, or nil when they were not kept.
func (s *stamper) pixelsOf(frame uint64) *framePixels {
	for x := s.pixels.Peek(); x != nil; x = s.pixels.Peek() {
		if x.frame == frame {
			return x
		}
		if x.frame > frame {
			return nil
		}
		s.pixels.Release()
	}
	return nil
}

// publishFrame publishes frame o's onset in the session (with pix, its pixels, when its source
// cannot be rebuilt) and places it for its predictions and validation.
func (s *stamper) publishFrame(o *calib.Onset, inNs int64, index uint64, src *pb.StimulusSource, pix *framePixels) {
	d := s.d
	pl := placed{frame: o.Frame, flipNs: o.FlipNs, startNs: o.FlipNs + s.lastLat, inNs: inNs}
	switch o.Status {
	case calib.Timed:
		pl.startNs, pl.confirmed = o.OnsetNs, true
		s.lastLat = o.LatencyNs
		s.onsetLatNs.Store(o.LatencyNs)
		s.timed.Add(1)
	case calib.Dropped:
		s.dropped.Add(1)
	default:
		s.untimed.Add(1)
		if o.LinkLost {
			s.linkLost.Add(1)
		}
	}
	s.placed[o.Frame%uint64(len(s.placed))] = pl
	m := &s.onsetMsg
	m.DisplayFrame, m.Index, m.Source = o.Frame, index, src
	m.Pixels = nil
	if pix != nil {
		m.Pixels = pix.pix
	}
	m.FlipHostNs, m.FlipUnixNs = o.FlipNs, d.unix(o.FlipNs)
	m.OnsetHostNs, m.OnsetUnixNs, m.LatencyNs = 0, 0, 0
	if pl.confirmed {
		m.OnsetHostNs, m.OnsetUnixNs, m.LatencyNs = o.OnsetNs, d.unix(o.OnsetNs), o.LatencyNs
	}
	m.Confirmed = pl.confirmed
	m.DroppedBefore = uint32(o.DroppedBefore)
	m.LinkLost = o.LinkLost
	if s.sess != nil {
		if f, begun := s.sess.first(); begun && o.Frame >= f { // a frame shown before the start is in no session
			m.Frame = o.Frame - f
			s.publish(d.subj.Frame, m)
		}
	}
	d.val.frame(int64(o.Frame), pl.startNs) // the clock fit needs every onset, in a session or not
	if s.sess != nil {
		// A model binning several frames is scored on each of them with its bin's rates.
		for _, r := range s.set.runners {
			if r.binSet && o.Frame > r.binFirst && o.Frame < r.binFirst+r.binFrames {
				d.val.prediction(r, int64(o.Frame), r.binRates)
			}
		}
	}
}

// publishPrediction publishes x, model r's output for a frame whose onset is known, or counts
// it skipped when it was ready after the model's deadline. Outside a session nothing is
// published or scored.
func (s *stamper) publishPrediction(r *runner, x *modelOut) {
	d := s.d
	if s.sess == nil {
		return
	}
	start, begun := s.sess.first()
	first := (start + r.binFrames - 1) / r.binFrames // the session's bin 0: its first bin beginning at or after its frame 0
	if !begun || x.frame < first*r.binFrames {       // a bin begun before the session is in none
		return
	}
	pl := &s.placed[x.frame%uint64(len(s.placed))]
	if pl.frame != x.frame { // the onset is long gone: far too late
		r.skipped.Add(1)
		return
	}
	if x.doneNs > pl.flipNs+r.deadline {
		r.skipped.Add(1)
		r.lateNs.Store(x.doneNs - pl.flipNs)
		return
	}
	p := r.predMsg
	p.Session = s.sess.id
	p.Bin, p.Frame, p.Confirmed = x.frame/r.binFrames-first, x.frame-start, pl.confirmed
	p.BinStartHostNs, p.BinStartUnixNs = pl.startNs, d.unix(pl.startNs)
	p.ComputeNs = x.computeNs
	copy(p.Rates, x.rates)
	p.CellIds = nil
	if r.idsSent != s.sess { // sent with a model's first bin of each session only, as the schema allows
		p.CellIds, r.idsSent = r.CellIDs, s.sess
	}
	d.val.prediction(r, int64(x.frame), x.rates)
	if r.binFrames > 1 {
		copy(r.binRates, x.rates)
		r.binFirst, r.binSet = x.frame, true
		for f := x.frame + 1; f < x.frame+r.binFrames && f < s.known; f++ {
			d.val.prediction(r, int64(f), x.rates)
		}
	}
	s.publish(r.subject, p)
	r.published.Add(1)
	if !r.Observed { // an observed model runs behind the acquisition on purpose
		now := d.now()
		s.lat.add(now - pl.flipNs)
		s.flipToPub.Observe(now - pl.flipNs)
		s.toWire.Observe(now - pl.inNs)
	}
}

func (s *stamper) publish(subject string, m proto.Message) {
	var err error
	s.buf, err = proto.MarshalOptions{}.MarshalAppend(s.buf[:0], m)
	if err == nil {
		err = s.d.p.Bus.Publish(subject, s.buf)
	}
	if err != nil {
		s.publishErrors.Add(1)
		s.d.logEvery("publish failed", "subject", subject, "err", err)
		return
	}
	s.published.Add(1)
}
