package acquisition

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"retinad/daemon/validate"
	"retinad/infer/dataset"
	"retinad/proto/contract"
	pb "retinad/proto/retinadpb"
)

// FrameMaker regenerates frame index of a reproducible stimulus source into dst (len
// height*width, contrast, row-major). The stimulus package provides it (stimulus.Rebuilder);
// Export needs it only for frames recorded without pixels. An error is fatal to the export:
// frames that are not the ones shown would make a wrong dataset.
type FrameMaker func(src *pb.StimulusSource, index uint64, dst []float32) error

// ExportOptions tune Export.
type ExportOptions struct {
	Frames FrameMaker // nil: every frame of a reproducible source must carry its pixels
	// BinRate is the dataset's bins per second; 0 takes the session's (SessionEvent.bin_rate_hz),
	// else the stimulus frame rate. The frame rate must be a whole multiple of it.
	BinRate float64
}

// ExportSummary says what Export found in the record and what it could not use.
type ExportSummary struct {
	Session     string
	Start, Stop *pb.SessionEvent // Stop is nil when the session never stopped (the daemon died, or it still runs)
	Messages    int              // messages read in the session's range of the stream

	Frames        int // frame onsets recorded in the session
	FramesMissing int // session frame numbers below the last one recorded that are not in the record
	FramesUntimed int // recorded frames whose onset the photodiode did not confirm
	FramesBlank   int // recorded frames that no description rebuilds and carry no pixels (gray in the stimulus)

	Bins, BinsUntimed int // dataset bins; those whose start or end onset is not photodiode-confirmed
	BinsUncovered     int // bins not wholly within the spike batches recorded: their counts are short
	Spikes            int // spikes of the session counted into bins
	SpikesOutside     int // spikes of the session before the first bin or after the last
	Syncs, SyncPairs  int // sync edges; those paired with a confirmed frame onset for the clock fit
	Events            int // experimenter's marks
	Predictions       map[string]int

	Skipped    map[string]int    // malformed messages skipped, per subject
	SkipErrors map[string]string // the first such error of each subject
}

// skip counts a malformed message (err != nil) of subject, keeping the first error.
func (s *ExportSummary) skip(subject string, seq uint64, err error) {
	if err == nil {
		return
	}
	if s.Skipped[subject]++; s.Skipped[subject] == 1 {
		s.SkipErrors[subject] = fmt.Sprintf("sequence %d: %v", seq, err)
	}
}

// Interrupted reports whether the record holds no STOP for the session.
func (s *ExportSummary) Interrupted() bool { return s.Stop == nil }

// Report writes the summary as a few lines for the experimenter: what is in the dataset, and
// every message or frame that is not. (Whether the session was interrupted, Interrupted, is
// for the caller to say with what the record lacks: retinad export does.)
func (s *ExportSummary) Report(w io.Writer) {
	fmt.Fprintf(w, "session %s: %d messages, %d frames (%d untimed, %d missing, %d blank), %d bins (%d untimed, %d not covered by spike batches), %d spikes (%d outside the bins), %d sync edges (%d paired), %d events\n",
		s.Session, s.Messages, s.Frames, s.FramesUntimed, s.FramesMissing, s.FramesBlank, s.Bins, s.BinsUntimed, s.BinsUncovered, s.Spikes, s.SpikesOutside, s.Syncs, s.SyncPairs, s.Events)
	for _, m := range slices.Sorted(mapKeys(s.Predictions)) {
		fmt.Fprintf(w, "  model %s: %d predictions\n", m, s.Predictions[m])
	}
	for _, subj := range slices.Sorted(mapKeys(s.Skipped)) {
		fmt.Fprintf(w, "  skipped %d malformed messages on %s (first: %s)\n", s.Skipped[subj], subj, s.SkipErrors[subj])
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// Export turns a recorded session into a dataset (see infer/dataset), from the record alone:
//
//   - one bin per stimulus frame (or per k frames when the bin rate is the frame rate / k, bins
//     beginning where the models' do), numbered as the session numbers its frames and bins;
//   - bin t's stimulus is its frame, rebuilt from FrameOnset.source and index or taken from the
//     frame's pixels (with k frames a bin, their mean, as the models are fed);
//   - bin t spans from its first frame's photodiode-confirmed onset to the next bin's; an onset
//     the photodiode did not confirm is taken as the flip plus the session's median latency, and
//     the bin is marked untimed (bin_timed 0) rather than passed off as measured;
//   - spikes are placed on host time by a straight-line fit (offset and drift, the daemon's robust
//     fit validate.Clock over all the pairs) of the acquisition clock against the host clock over
//     the sync events, each paired with the onset of its frame
//     (Sync.frame, a display frame, or in order with the confirmed onsets when the acquisition
//     system does not know frame numbers), then counted per bin and cell;
//   - cell ids are every cell seen in spikes or in predictions, ascending.
//
// Beside the dataset's own arrays it stores (Dataset.Extra) every model's predictions, the frame
// timing, the bins' timing, the sync edges, the clock fit, the events and the session's config;
// README.md lists them. A malformed message is skipped and counted in the summary, never
// fatal; a session without a STOP exports what was recorded. Daemon messages of other sessions
// in the range are ignored; spikes, sync and events count when their session is empty or this
// one. The summary is returned with any error found after the session was read.
func Export(ctx context.Context, conn *nats.Conn, subj contract.Subjects, session string, o ExportOptions) (*dataset.Dataset, *ExportSummary, error) {
	r, err := FindSession(ctx, conn, subj, session)
	if err != nil {
		return nil, nil, err
	}
	sum := &ExportSummary{Session: session, Start: r.Start, Stop: r.Stop, Predictions: map[string]int{},
		Skipped: map[string]int{}, SkipErrors: map[string]string{}}
	rec := newRecord(session, subj)
	err = ReadSession(ctx, conn, subj, r, func(subject string, seq uint64, data []byte) error {
		sum.Messages++
		sum.skip(subject, seq, rec.add(subject, data))
		return nil
	})
	if err != nil {
		return nil, sum, err
	}
	rate := o.BinRate
	if rate == 0 && r.Start != nil {
		rate = r.Start.BinRateHz
	}
	lay, acqEnd, err := rec.plan(rate, sum)
	if err == nil {
		err = readTail(ctx, conn, subj, r, rec, sum, acqEnd)
	}
	var d *dataset.Dataset
	if err == nil {
		d, err = rec.dataset(lay, rate, o.Frames, sum)
	}
	if err != nil {
		return nil, sum, fmt.Errorf("acquisition: export session %q: %w", session, err)
	}
	var config, version string
	if r.Start != nil {
		config, version = r.Start.ConfigYaml, r.Start.Version
	}
	d.Extra = append(d.Extra,
		dataset.Array{Name: "session", Data: []string{session}},
		dataset.Array{Name: "config_yaml", Data: []string{config}},
		dataset.Array{Name: "version", Data: []string{version}},
		dataset.Array{Name: "stopped", Data: []uint8{b2u(r.Stop != nil)}})
	return d, sum, nil
}

// readTail reads the spikes and sync edges recorded after the session's range: the acquisition
// system publishes a bin's spikes after the bin ends, so those of the last frames come after
// the STOP (even after the next session's START). It reads the batches that continue the
// session's (addTail) until one ends after acqEnd, the end of the session's last bin on the
// acquisition clock, or the record ends.
func readTail(ctx context.Context, conn *nats.Conn, subj contract.Subjects, r SessionRange, rec *record, sum *ExportSummary, acqEnd int64) error {
	info, err := streamInfo(ctx, conn, subj)
	if err != nil {
		return err
	}
	if rec.spikesEnd >= acqEnd {
		return nil
	}
	// One subject per scan: servers before 2.10 take one consumer filter subject only. The
	// spikes decide where the tail ends; the sync edges are read up to there, or to the first
	// after the session's last bin.
	last := info.State.LastSeq
	add := func(m jetstream.Msg, seq uint64) bool {
		sum.Messages++
		more, err := rec.addTail(m.Subject(), m.Data())
		sum.skip(m.Subject(), seq, err)
		return more
	}
	err = scan(ctx, conn, subj, []string{subj.Spikes}, r.Last+1, last, func(m jetstream.Msg, seq uint64) (bool, error) {
		last = seq
		return add(m, seq) && rec.spikesEnd < acqEnd, nil
	})
	if err != nil {
		return err
	}
	return scan(ctx, conn, subj, []string{subj.Sync}, r.Last+1, last, func(m jetstream.Msg, seq uint64) (bool, error) {
		return add(m, seq) && rec.sy.TimeAcqNs < acqEnd, nil // later edges are not the session's
	})
}

// frameRec is one recorded frame onset.
type frameRec struct {
	frame, display, index uint64
	src                   *pb.StimulusSource // shared by the frames of one source
	pixels                []float32
	flip, flipUnix        int64
	onset, onsetUnix, lat int64
	confirmed, linkLost   bool
	droppedBefore         uint32
}

type syncRec struct {
	seq, frame       uint64
	acq              int64
	hasFrame, rising bool
}

type predRec struct {
	bin   uint64
	rates []float32
}

type modelRec struct {
	cells []int32 // nil until a prediction carries them
	width int     // rates per prediction
	preds []predRec
}

// record is what Export gathers from a session, message by message.
type record struct {
	session    string
	subj       contract.Subjects
	frames     []frameRec
	sources    map[string]*pb.StimulusSource // by encoding: one shared message per source
	syncs      []syncRec
	spikeCells []int32
	spikeTimes []int64 // acquisition clock
	spikesEnd  int64   // the end of the latest spike batch, acquisition clock
	spikesFrom int64   // the start of the earliest spike batch of the session (0: none yet)
	spikeSeq   uint64  // the last spike batch's seq (spikeSeqSet: one was read)
	syncSeq    uint64  // the last sync edge's seq (syncSeqSet: one was read)

	spikeSeqSet, syncSeqSet bool
	models                  map[string]*modelRec
	events                  []*pb.Event

	fo pb.FrameOnset
	sp pb.Spikes
	sy pb.Sync
	pr pb.Prediction
}

func newRecord(session string, subj contract.Subjects) *record {
	return &record{session: session, subj: subj, sources: map[string]*pb.StimulusSource{}, models: map[string]*modelRec{}}
}

// add takes one recorded message; an error says why it is malformed (and it is not used).
func (r *record) add(subject string, data []byte) error {
	switch {
	case subject == r.subj.Frame:
		return r.addFrame(data)
	case subject == r.subj.Spikes:
		if err := DecodeSpikes(data, &r.sp); err != nil {
			return err
		}
		r.addSpikes(&r.sp)
	case subject == r.subj.Sync:
		if err := DecodeSync(data, &r.sy); err != nil {
			return err
		}
		r.addSync(&r.sy)
	case subject == r.subj.Event:
		ev := &pb.Event{}
		if err := unmarshal.Unmarshal(data, ev); err != nil {
			return fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		if ev.Session == "" || ev.Session == r.session {
			r.events = append(r.events, ev)
		}
	case strings.HasPrefix(subject, r.subj.Root+".prediction."):
		return r.addPrediction(strings.TrimPrefix(subject, r.subj.Root+".prediction."), data)
	}
	return nil
}

func (r *record) addSpikes(sp *pb.Spikes) {
	r.spikesEnd = max(r.spikesEnd, sp.EndAcqNs)
	r.spikeSeq, r.spikeSeqSet = sp.Seq, true
	if sp.Session != "" && sp.Session != r.session {
		return
	}
	if r.spikesFrom == 0 || sp.StartAcqNs < r.spikesFrom {
		r.spikesFrom = sp.StartAcqNs
	}
	r.spikeCells = append(r.spikeCells, sp.CellIds...)
	r.spikeTimes = append(r.spikeTimes, sp.TimesAcqNs...)
}

func (r *record) addSync(y *pb.Sync) {
	r.syncSeq, r.syncSeqSet = y.Seq, true
	if y.Session != "" && y.Session != r.session {
		return
	}
	r.syncs = append(r.syncs, syncRec{seq: y.Seq, frame: y.Frame, acq: y.TimeAcqNs, hasFrame: y.HasFrame, rising: y.Rising})
}

// addTail takes a spike batch or sync edge recorded after the session's range when it
// continues the acquisition stream the session saw (its seq follows the last one's: a batch
// of another acquisition run, e.g. after the daemon restarted, counts from 0 on its own clock);
// more is false at the first spike batch that does not.
func (r *record) addTail(subject string, data []byte) (more bool, err error) {
	switch subject {
	case r.subj.Spikes:
		if err := DecodeSpikes(data, &r.sp); err != nil {
			return true, err
		}
		if r.spikeSeqSet && r.sp.Seq != r.spikeSeq+1 {
			return false, nil
		}
		r.addSpikes(&r.sp)
	case r.subj.Sync:
		if err := DecodeSync(data, &r.sy); err != nil {
			return true, err
		}
		if !r.syncSeqSet || r.sy.Seq == r.syncSeq+1 {
			r.addSync(&r.sy)
		}
	}
	return true, nil
}

func (r *record) addFrame(data []byte) error {
	fo := &r.fo
	if err := unmarshal.Unmarshal(data, fo); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if fo.Session != r.session {
		return nil
	}
	src := fo.Source
	switch {
	case src == nil || src.Height == 0 || src.Width == 0:
		return fmt.Errorf("%w: frame %d has no stimulus source size", ErrMalformed, fo.Frame)
	case len(fo.Pixels) != 0 && len(fo.Pixels) != int(src.Height*src.Width):
		return fmt.Errorf("%w: frame %d: %d pixels, want %d (%dx%d)", ErrMalformed, fo.Frame, len(fo.Pixels), src.Height*src.Width, src.Height, src.Width)
	case fo.Frame > 1<<40:
		return fmt.Errorf("%w: frame number %d", ErrMalformed, fo.Frame)
	}
	key, err := proto.MarshalOptions{Deterministic: true}.Marshal(src)
	if err != nil {
		return fmt.Errorf("%w: frame %d source: %w", ErrMalformed, fo.Frame, err)
	}
	shared, ok := r.sources[string(key)]
	if !ok {
		shared = src
		r.sources[string(key)] = src
	}
	r.frames = append(r.frames, frameRec{
		frame: fo.Frame, display: fo.DisplayFrame, index: fo.Index, src: shared, pixels: fo.Pixels,
		flip: fo.FlipHostNs, flipUnix: fo.FlipUnixNs, onset: fo.OnsetHostNs, onsetUnix: fo.OnsetUnixNs, lat: fo.LatencyNs,
		confirmed: fo.Confirmed, linkLost: fo.LinkLost, droppedBefore: fo.DroppedBefore,
	})
	return nil
}

func (r *record) addPrediction(model string, data []byte) error {
	p := &r.pr
	if err := unmarshal.Unmarshal(data, p); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if p.Session != r.session {
		return nil
	}
	if p.Model != model {
		return fmt.Errorf("%w: prediction of model %q on the subject of %q", ErrMalformed, p.Model, model)
	}
	m := r.models[model]
	if m == nil {
		m = &modelRec{width: len(p.Rates)}
		r.models[model] = m
	}
	switch {
	case len(p.Rates) != m.width:
		return fmt.Errorf("%w: bin %d: %d rates, the model's earlier predictions have %d", ErrMalformed, p.Bin, len(p.Rates), m.width)
	case len(p.CellIds) != 0 && len(p.CellIds) != m.width:
		return fmt.Errorf("%w: bin %d: %d cell ids for %d rates", ErrMalformed, p.Bin, len(p.CellIds), m.width)
	case len(p.CellIds) != 0 && m.cells != nil && !slices.Equal(p.CellIds, m.cells):
		return fmt.Errorf("%w: bin %d: cell ids %v, earlier %v", ErrMalformed, p.Bin, p.CellIds, m.cells)
	}
	if len(p.CellIds) != 0 {
		m.cells = p.CellIds
	}
	m.preds = append(m.preds, predRec{bin: p.Bin, rates: p.Rates})
	return nil
}

// layout is how the session's frames fall into bins.
type layout struct {
	N        int     // session frames 0..N-1 (the last recorded + 1)
	k        int     // frames per bin
	offset   int     // session frame of bin 0's first frame (bins begin where the models' do)
	T        int     // whole bins
	display0 uint64  // the display frame of session frame 0
	at       []int32 // index in frames of session frame f, -1 when not recorded
	period   float64 // ns per frame
	edge     []int64 // host ns at which session frame f began, f in [0, N]
	timed    []bool  // edge f is a photodiode-confirmed onset
}

// plan lays the recorded frames out in bins and returns when, on the acquisition clock (by a
// first clock fit), the last bin ends: how far the spikes published after the session matter.
func (r *record) plan(rate float64, sum *ExportSummary) (*layout, int64, error) {
	if len(r.frames) == 0 {
		return nil, 0, fmt.Errorf("no frame onsets recorded")
	}
	sort.SliceStable(r.frames, func(i, j int) bool { return r.frames[i].frame < r.frames[j].frame })
	r.frames = slices.CompactFunc(r.frames, func(a, b frameRec) bool { return a.frame == b.frame })
	sum.Frames = len(r.frames)
	lay, err := r.layout(rate, sum)
	if err != nil {
		return nil, 0, err
	}
	a, b, _, err := r.clock(lay)
	if err != nil {
		return nil, 0, err
	}
	return lay, int64((float64(lay.edge[lay.N]) - a) / b), nil
}

// dataset makes the dataset of the frames laid out by plan, with every spike and sync edge read.
func (r *record) dataset(lay *layout, rate float64, maker FrameMaker, sum *ExportSummary) (*dataset.Dataset, error) {
	src0 := r.frames[0].src
	H, W := int(src0.Height), int(src0.Width)
	cells := r.cells()
	if len(cells) == 0 {
		return nil, fmt.Errorf("no cells: no spikes and no predictions with cell ids")
	}
	d := &dataset.Dataset{T: lay.T, H: H, W: W, C: len(cells), FrameRate: rate, CellIDs: make([]int64, len(cells)),
		Stimulus: make([]float32, lay.T*H*W), Counts: make([]float32, lay.T*len(cells))}
	for i, c := range cells {
		d.CellIDs[i] = int64(c)
	}
	rebuilt, err := r.stimulus(d, lay, maker, sum)
	if err != nil {
		return nil, err
	}
	a, b, pairs, err := r.clock(lay)
	if err != nil {
		return nil, err
	}
	sum.SyncPairs, sum.Syncs, sum.Events = pairs, len(r.syncs), len(r.events)
	binEdge, binTimed := lay.bins(sum)
	r.count(d, cells, binEdge, a, b, sum)
	covered := r.covered(binEdge, a, b, sum)
	d.Extra = append(d.Extra, r.frameArrays(lay, rebuilt)...)
	d.Extra = append(d.Extra,
		dataset.Array{Name: "frame_start_host_ns", Shape: []int{lay.N}, Data: lay.edge[:lay.N]},
		dataset.Array{Name: "bin_first_frame", Shape: []int{lay.T}, Data: seq(lay.T, func(t int) int64 { return int64(lay.offset + t*lay.k) })},
		dataset.Array{Name: "bin_start_host_ns", Shape: []int{lay.T}, Data: binEdge[:lay.T]},
		dataset.Array{Name: "bin_timed", Shape: []int{lay.T}, Data: binTimed},
		dataset.Array{Name: "bin_spikes_covered", Shape: []int{lay.T}, Data: covered},
		dataset.Array{Name: "clock_fit", Shape: []int{2}, Data: []float64{a, b}},
	)
	d.Extra = append(d.Extra, r.spikeArrays(binEdge, a, b)...)
	d.Extra = append(d.Extra, r.syncArrays(lay, a, b)...)
	d.Extra = append(d.Extra, r.eventArrays()...)
	d.Extra = append(d.Extra, r.predictionArrays(lay.T, sum)...)
	return d, nil
}

// layout numbers the frames and places their onsets on host time.
func (r *record) layout(rate float64, sum *ExportSummary) (*layout, error) {
	src0 := r.frames[0].src
	for _, f := range r.frames {
		if f.src.Height != src0.Height || f.src.Width != src0.Width {
			return nil, fmt.Errorf("frame %d: stimulus %dx%d, frame %d's is %dx%d; export one stimulus size at a time", f.frame, f.src.Height, f.src.Width, r.frames[0].frame, src0.Height, src0.Width)
		}
	}
	frameRate := src0.FrameRateHz
	if rate == 0 {
		rate = frameRate
	}
	if !(rate > 0) || math.IsInf(rate, 0) || !(frameRate > 0) || math.IsInf(frameRate, 0) {
		return nil, fmt.Errorf("bin rate %v Hz, frame rate %v Hz: want both positive (give --bin-rate when the session's START has no bin_rate_hz)", rate, frameRate)
	}
	k := math.Round(frameRate / rate)
	if k < 1 || math.Abs(frameRate/rate-k) > 1e-6*k {
		return nil, fmt.Errorf("bin rate %v Hz: want the frame rate %v Hz divided by a whole number", rate, frameRate)
	}
	last := r.frames[len(r.frames)-1].frame
	if last >= uint64(10*len(r.frames)+1_000_000) {
		return nil, fmt.Errorf("frame numbers up to %d for %d frames recorded", last, len(r.frames))
	}
	lay := &layout{N: int(last) + 1, k: int(k), period: 1e9 / frameRate}
	// Records before display_frame numbered frames across sessions: display = frame there.
	for _, f := range r.frames {
		if f.display != 0 {
			lay.display0 = f.display - f.frame
			break
		}
	}
	lay.offset = int((uint64(lay.k) - lay.display0%uint64(lay.k)) % uint64(lay.k))
	lay.T = (lay.N - lay.offset) / lay.k
	if lay.T < 1 {
		return nil, fmt.Errorf("%d frames: shorter than one bin of %d frames", lay.N, lay.k)
	}
	lay.at = make([]int32, lay.N)
	for i := range lay.at {
		lay.at[i] = -1
	}
	var lat []int64
	for i, f := range r.frames {
		lay.at[f.frame] = int32(i)
		if f.confirmed {
			lat = append(lat, f.onset-f.flip)
		} else {
			sum.FramesUntimed++
		}
	}
	sum.FramesMissing = lay.N - len(r.frames)
	if len(lat) == 0 {
		return nil, fmt.Errorf("no frame onset was confirmed by the photodiode; cannot place frames on host time")
	}
	slices.Sort(lat)
	median := lat[len(lat)/2]
	lay.edge, lay.timed = make([]int64, lay.N+1), make([]bool, lay.N+1)
	known := -1 // the last frame with an edge
	for f := range lay.N {
		i := lay.at[f]
		switch {
		case i >= 0 && r.frames[i].confirmed:
			lay.edge[f], lay.timed[f] = r.frames[i].onset, true
		case i >= 0:
			lay.edge[f] = r.frames[i].flip + median
		default:
			continue // missing: placed below from its neighbours
		}
		for g := known + 1; g < f; g++ { // frames missing before f, evenly before it
			lay.edge[g] = lay.edge[f] - int64(float64(f-g)*lay.period)
		}
		known = f
	}
	// The last frame's end is the next onset, which is not in the session: one frame period on,
	// and not photodiode-timed (the last bin is marked untimed rather than passed off as measured).
	lay.edge[lay.N] = lay.edge[lay.N-1] + int64(lay.period)
	return lay, nil
}

// bins returns each bin's start on host time (T+1 edges) and whether both its edges were
// confirmed by the photodiode.
func (l *layout) bins(sum *ExportSummary) ([]int64, []uint8) {
	edge := make([]int64, l.T+1)
	timed := make([]uint8, l.T)
	for t := range l.T + 1 {
		edge[t] = l.edge[l.offset+t*l.k]
	}
	for t := range l.T {
		if l.timed[l.offset+t*l.k] && l.timed[l.offset+(t+1)*l.k] {
			timed[t] = 1
		} else {
			sum.BinsUntimed++
		}
	}
	sum.Bins = l.T
	return edge, timed
}

// stimulus fills d.Stimulus bin by bin and returns which session frames it had the pixels of.
func (r *record) stimulus(d *dataset.Dataset, l *layout, maker FrameMaker, sum *ExportSummary) ([]uint8, error) {
	P := d.H * d.W
	rebuilt := make([]uint8, l.N)
	frame := make([]float32, P)
	var have *frameRec // what frame holds
	for f := range r.frames {
		fr := &r.frames[f]
		ok, err := r.pixels(fr, have, frame, maker)
		if err != nil {
			return nil, err
		}
		if !ok {
			sum.FramesBlank++
			continue
		}
		have = fr
		rebuilt[fr.frame] = 1
		n := int(fr.frame) - l.offset
		if n < 0 || n/l.k >= l.T {
			continue
		}
		dst := d.Stimulus[n/l.k*P : (n/l.k+1)*P]
		if l.k == 1 {
			copy(dst, frame)
			continue
		}
		for i, v := range frame { // the mean of the bin's frames, summed in order as the models' input
			dst[i] += v
		}
	}
	if l.k > 1 {
		scale := 1 / float32(l.k)
		for i := range d.Stimulus {
			d.Stimulus[i] *= scale
		}
	}
	return rebuilt, nil
}

// pixels puts frame fr's pixels in dst (which holds those of have), or says it has none.
func (r *record) pixels(fr, have *frameRec, dst []float32, maker FrameMaker) (bool, error) {
	switch {
	case len(fr.pixels) != 0:
		copy(dst, fr.pixels)
		return true, nil
	case !fr.src.Reproducible:
		return false, nil
	case have != nil && have.src == fr.src && have.index == fr.index && len(have.pixels) == 0:
		return true, nil // a frame held on screen: same source and index
	case maker == nil:
		return false, fmt.Errorf("frame %d: stimulus %q carries no pixels and no frame maker regenerates it", fr.frame, fr.src.Kind)
	}
	if err := maker(fr.src, fr.index, dst); err != nil {
		return false, fmt.Errorf("frame %d: rebuild %q frame %d: %w", fr.frame, fr.src.Kind, fr.index, err)
	}
	return true, nil
}

// cells is every cell seen in spikes or predictions, ascending.
func (r *record) cells() []int32 {
	cells := slices.Clone(r.spikeCells)
	for _, m := range r.models {
		cells = append(cells, m.cells...)
	}
	slices.Sort(cells)
	return slices.Compact(cells)
}

// clock fits host = a + b*acq over the sync edges paired with confirmed frame onsets, with the
// daemon's one acquisition clock fit (validate.Clock: outliers do not move it), over them all.
func (r *record) clock(l *layout) (a, b float64, pairs int, err error) {
	var acq, host []int64
	sort.SliceStable(r.syncs, func(i, j int) bool { return r.syncs[i].seq < r.syncs[j].seq })
	next := 0 // the next confirmed frame for edges that do not name theirs
	for _, y := range r.syncs {
		if y.hasFrame {
			if y.frame >= l.display0 && y.frame-l.display0 < uint64(l.N) {
				if f := y.frame - l.display0; l.timed[f] {
					acq, host = append(acq, y.acq), append(host, l.edge[f])
				}
			}
			continue
		}
		for next < l.N && !l.timed[next] {
			next++
		}
		if next < l.N {
			acq, host = append(acq, y.acq), append(host, l.edge[next])
			next++
		}
	}
	if len(r.spikeTimes) > 0 && len(acq) == 0 {
		return 0, 0, 0, fmt.Errorf("no sync event pairs with a confirmed frame onset; cannot place spikes on host time")
	}
	fit := validate.NewClock(max(2, len(acq)))
	for i := range acq {
		fit.Add(acq[i], host[i])
	}
	a, b, _ = fit.Line()
	return a, b, len(acq), nil
}

// count places every spike on host time and counts it in its bin.
func (r *record) count(d *dataset.Dataset, cells []int32, edge []int64, a, b float64, sum *ExportSummary) {
	col := make(map[int32]int, len(cells))
	for i, c := range cells {
		col[c] = i
	}
	for i, ta := range r.spikeTimes {
		th := a + b*float64(ta)
		if th < float64(edge[0]) || th >= float64(edge[len(edge)-1]) {
			sum.SpikesOutside++
			continue
		}
		t := sort.Search(len(edge), func(j int) bool { return float64(edge[j]) > th }) - 1
		d.Counts[t*d.C+col[r.spikeCells[i]]]++
		sum.Spikes++
	}
}

// covered marks the bins that the recorded spike batches cover whole (a batch says "these are
// all the spikes in [start, end)"): the bins of a session's first and last moments may not be,
// e.g. when the daemon stopped before the acquisition system published its last spikes.
func (r *record) covered(edge []int64, a, b float64, sum *ExportSummary) []uint8 {
	from, to := a+b*float64(r.spikesFrom), a+b*float64(r.spikesEnd)
	out := make([]uint8, len(edge)-1)
	for t := range out {
		if r.spikesEnd > 0 && float64(edge[t]) >= from && float64(edge[t+1]) <= to {
			out[t] = 1
		} else {
			sum.BinsUncovered++
		}
	}
	return out
}

func seq[T any](n int, f func(int) T) []T {
	s := make([]T, n)
	for i := range s {
		s[i] = f(i)
	}
	return s
}

func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// frameArrays are the frame timing of session frames 0..N-1 (zeros where not recorded).
func (r *record) frameArrays(l *layout, rebuilt []uint8) []dataset.Array {
	at := func(f int) *frameRec {
		if i := l.at[f]; i >= 0 {
			return &r.frames[i]
		}
		return &frameRec{}
	}
	i64 := func(name string, v func(*frameRec) int64) dataset.Array {
		return dataset.Array{Name: name, Shape: []int{l.N}, Data: seq(l.N, func(f int) int64 { return v(at(f)) })}
	}
	u8 := func(name string, v func(*frameRec) bool) dataset.Array {
		return dataset.Array{Name: name, Shape: []int{l.N}, Data: seq(l.N, func(f int) uint8 { return b2u(v(at(f))) })}
	}
	return []dataset.Array{
		{Name: "frame_recorded", Shape: []int{l.N}, Data: seq(l.N, func(f int) uint8 { return b2u(l.at[f] >= 0) })},
		{Name: "frame_rebuilt", Shape: []int{l.N}, Data: rebuilt},
		i64("frame_display", func(f *frameRec) int64 { return int64(f.display) }),
		i64("frame_index", func(f *frameRec) int64 { return int64(f.index) }),
		i64("frame_flip_host_ns", func(f *frameRec) int64 { return f.flip }),
		i64("frame_flip_unix_ns", func(f *frameRec) int64 { return f.flipUnix }),
		i64("frame_onset_host_ns", func(f *frameRec) int64 { return f.onset }),
		i64("frame_onset_unix_ns", func(f *frameRec) int64 { return f.onsetUnix }),
		i64("frame_latency_ns", func(f *frameRec) int64 { return f.lat }),
		u8("frame_confirmed", func(f *frameRec) bool { return f.confirmed }),
		i64("frame_dropped_before", func(f *frameRec) int64 { return int64(f.droppedBefore) }),
		u8("frame_link_lost", func(f *frameRec) bool { return f.linkLost }),
	}
}

// syncArrays are the session's sync edges, with their session frame (-1: none or not in the
// session) and their time on host time by the clock fit.
func (r *record) syncArrays(l *layout, a, b float64) []dataset.Array {
	S := len(r.syncs)
	frame := func(y syncRec) int64 {
		if !y.hasFrame || y.frame < l.display0 || y.frame-l.display0 >= uint64(l.N) {
			return -1
		}
		return int64(y.frame - l.display0)
	}
	return []dataset.Array{
		{Name: "sync_seq", Shape: []int{S}, Data: seq(S, func(i int) int64 { return int64(r.syncs[i].seq) })},
		{Name: "sync_acq_ns", Shape: []int{S}, Data: seq(S, func(i int) int64 { return r.syncs[i].acq })},
		{Name: "sync_host_ns", Shape: []int{S}, Data: seq(S, func(i int) int64 { return int64(math.Round(a + b*float64(r.syncs[i].acq))) })},
		{Name: "sync_frame", Shape: []int{S}, Data: seq(S, func(i int) int64 { return frame(r.syncs[i]) })},
		{Name: "sync_rising", Shape: []int{S}, Data: seq(S, func(i int) uint8 { return b2u(r.syncs[i].rising) })},
	}
}

// eventArrays are the experimenter's marks, in the order recorded.
func (r *record) eventArrays() []dataset.Array {
	E := len(r.events)
	return []dataset.Array{
		{Name: "event_host_ns", Shape: []int{E}, Data: seq(E, func(i int) int64 { return r.events[i].HostNs })},
		{Name: "event_unix_ns", Shape: []int{E}, Data: seq(E, func(i int) int64 { return r.events[i].UnixNs })},
		{Name: "event_label", Shape: []int{E}, Data: seq(E, func(i int) string { return r.events[i].Label })},
		{Name: "event_note", Shape: []int{E}, Data: seq(E, func(i int) string { return r.events[i].Note })},
	}
}

// predictionArrays are every model's rates per bin (NaN where none was recorded: the first
// history-1 bins, skipped steps, lost messages) and its cell ids (-1 when no prediction
// carried them).
func (r *record) predictionArrays(T int, sum *ExportSummary) []dataset.Array {
	var out []dataset.Array
	for _, name := range slices.Sorted(mapKeys(r.models)) {
		m := r.models[name]
		rates := make([]float32, T*m.width)
		for i := range rates {
			rates[i] = float32(math.NaN())
		}
		for _, p := range m.preds {
			if p.bin < uint64(T) {
				copy(rates[int(p.bin)*m.width:], p.rates)
			}
		}
		sum.Predictions[name] = len(m.preds)
		ids := seq(m.width, func(i int) int64 {
			if m.cells == nil {
				return -1
			}
			return int64(m.cells[i])
		})
		out = append(out,
			dataset.Array{Name: "pred_" + name, Shape: []int{T, m.width}, Data: rates},
			dataset.Array{Name: "pred_" + name + "_cell_ids", Shape: []int{m.width}, Data: ids})
	}
	return out
}
