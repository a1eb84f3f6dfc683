package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"retinad/acquisition"
	"retinad/configs"
	"retinad/daemon"
	"retinad/proto/contract"
	pb "retinad/proto/retinadpb"
	"retinad/stimulus"
)

// maxCells is how many cells of each model's latest prediction a snapshot carries: the page's
// grid of small multiples, bounded so that a 10 000-cell model does not flood the browsers.
const maxCells = 64

// Live pushes a snapshot of the daemon's figures to every browser once a period, by
// server-sent events. One goroutine (Run) reads the figures and encodes the snapshot once; each
// browser's request goroutine writes it out. A slow browser misses snapshots (its channel holds
// one) and never holds up the others or the daemon.
type Live struct {
	figures func() daemon.Figures
	bins    BinsFunc
	every   time.Duration

	// Run's own (one goroutine): the bins sent so far, the thumbnail's frame maker and the
	// one source it makes frames of (the maker keys on the pointer).
	sentBin  int64
	rebuild  *stimulus.Rebuilder
	thumbSrc *pb.StimulusSource

	done chan struct{} // closed when Run returns: the event streams end

	mu       sync.Mutex
	clients  map[chan []byte]struct{}
	latest   map[string]*pb.Prediction       // each model's latest prediction, from NATS
	reports  map[string]*pb.ValidationReport // each model's latest validation report
	status   *pb.Status                      // the daemon's latest status message
	frame    *pb.FrameOnset                  // the latest frame onset (with its pixels when it carries them)
	flipHist [flipBins + 1]uint64            // flip-to-light latencies of confirmed frames, flipBin wide; the last: more
	marks    []*pb.Event                     // the last maxRecent marks
	choices  []*pb.AdaptiveChoice            // the last maxRecent adaptive choices
}

// maxRecent is how many marks and adaptive choices the page lists.
const maxRecent = 10

// The page's flip-to-light histogram: 0.5 ms bins up to 40 ms (a monitor's input lag plus a few
// refreshes), then one bin for everything later.
const (
	flipBin  = 500 * time.Microsecond
	flipBins = 80
)

// BinsFunc gives the bins validation closed after frame after (daemon.Daemon.RecentBins).
type BinsFunc func(after int64, maxBins, cells int) daemon.RecentBins

// maxBins bounds the bins one snapshot carries (a browser that missed snapshots misses bins).
const maxBins = 200

// NewLive returns the feed of figures and closed bins (nil: none), one snapshot every period.
func NewLive(figures func() daemon.Figures, bins BinsFunc, every time.Duration) *Live {
	return &Live{figures: figures, bins: bins, every: every, done: make(chan struct{}), clients: map[chan []byte]struct{}{},
		latest: map[string]*pb.Prediction{}, reports: map[string]*pb.ValidationReport{},
		sentBin: -1}
}

// Subscribe keeps each model's latest prediction and validation report, and the last marks
// and adaptive choices, from the rig's subjects on nc. The returned function unsubscribes.
func (l *Live) Subscribe(nc *nats.Conn, subj contract.Subjects) (func(), error) {
	var subs []*nats.Subscription
	stop := func() {
		for _, s := range subs {
			s.Unsubscribe()
		}
	}
	for subject, keep := range map[string]func([]byte){
		subj.AllPredictions: l.keepPrediction, subj.Validation: l.keepReport,
		subj.Event: l.keepMark, subj.Adaptive: l.keepChoice, subj.Status: l.keepStatus, subj.Frame: l.keepFrame,
	} {
		s, err := nc.Subscribe(subject, func(m *nats.Msg) { keep(m.Data) })
		if err != nil {
			stop()
			return nil, fmt.Errorf("dashboard: subscribe %s: %w", subject, err)
		}
		subs = append(subs, s)
	}
	return stop, nil
}

func (l *Live) keepPrediction(data []byte) {
	p := &pb.Prediction{}
	if proto.Unmarshal(data, p) != nil || p.Model == "" {
		return // not the daemon's: it is not ours to show
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(p.CellIds) == 0 { // left empty after a model's first message: same order
		if old := l.latest[p.Model]; old != nil {
			p.CellIds = old.CellIds
		}
	}
	l.latest[p.Model] = p
}

func (l *Live) keepReport(data []byte) {
	v := &pb.ValidationReport{}
	if proto.Unmarshal(data, v) != nil || v.Model == "" {
		return
	}
	l.mu.Lock()
	l.reports[v.Model] = v
	l.mu.Unlock()
}

func (l *Live) keepStatus(data []byte) {
	st := &pb.Status{}
	if proto.Unmarshal(data, st) != nil {
		return
	}
	l.mu.Lock()
	l.status = st
	l.mu.Unlock()
}

// keepFrame keeps the photodiode's verdict on the latest frame and counts its latency.
func (l *Live) keepFrame(data []byte) {
	f := &pb.FrameOnset{}
	if proto.Unmarshal(data, f) != nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.frame = f
	if f.Confirmed && f.LatencyNs >= 0 {
		l.flipHist[min(f.LatencyNs/int64(flipBin), flipBins)]++
	}
}

func (l *Live) keepMark(data []byte) {
	e := &pb.Event{}
	if proto.Unmarshal(data, e) != nil {
		return
	}
	l.mu.Lock()
	l.marks = recent(l.marks, e)
	l.mu.Unlock()
}

func (l *Live) keepChoice(data []byte) {
	c := &pb.AdaptiveChoice{}
	if proto.Unmarshal(data, c) != nil {
		return
	}
	l.mu.Lock()
	l.choices = recent(l.choices, c)
	l.mu.Unlock()
}

// recent appends x, keeping the last maxRecent.
func recent[T any](xs []T, x T) []T {
	xs = append(xs, x)
	if len(xs) > maxRecent {
		xs = append(xs[:0], xs[len(xs)-maxRecent:]...)
	}
	return xs
}

// Run sends a snapshot to every connected browser each period until ctx ends, then ends their
// streams. It runs once.
func (l *Live) Run(ctx context.Context) {
	t := time.NewTicker(l.every)
	defer t.Stop()
	defer close(l.done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		l.mu.Lock()
		n := len(l.clients)
		l.mu.Unlock()
		if n == 0 {
			continue // nobody watches: no work
		}
		b, err := json.Marshal(l.snapshot(time.Now()))
		if err != nil { // every float is a num: nothing in a Snapshot fails to encode
			panic("dashboard: encode snapshot: " + err.Error())
		}
		l.mu.Lock()
		for c := range l.clients {
			select {
			case c <- b:
			default: // that browser has not taken the last one yet
			}
		}
		l.mu.Unlock()
	}
}

// ServeHTTP is the event stream: one "data:" line of JSON (a Snapshot) per period.
func (l *Live) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "dashboard: streaming unsupported", http.StatusInternalServerError)
		return
	}
	c := make(chan []byte, 1)
	l.mu.Lock()
	l.clients[c] = struct{}{}
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.clients, c)
		l.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fl.Flush()
	for {
		select {
		case <-req.Context().Done():
			return
		case <-l.done:
			return
		case b := <-c:
			if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
				return
			}
			fl.Flush()
		}
	}
}

// Snapshot is what the page shows at one moment: the daemon's figures in the page's units
// (milliseconds for times, as the status line), and each model's latest rates.
type Snapshot struct {
	UnixMs                                 int64
	Frames, Missed, Dropped, Untimed       uint64
	FrameRate, FrameRateSet                num
	OnsetLatencyMs                         num
	FlipToPublishP50Ms, FlipToPublishP99Ms num
	Spikes, Rejected, Unplaced             uint64
	AcqDriftPPM                            num
	PublishQueued                          int
	PublishDropped, PublishErrors          uint64
	BusDownS, PhotodiodeDownS              num
	Record, RecordError                    string
	RecordBytes                            uint64
	Models                                 []ModelSnapshot
	State, Session                         string // from the daemon's latest status message
	// The photodiode's verdict on the latest frame: its number, confirmed (an onset was seen),
	// link lost (its edge may have been in a gap), refreshes dropped just before it.
	LastFrame           uint64
	Confirmed, LinkLost bool
	DroppedBefore       uint32
	FlipHistBinMs       num      // width of FlipHist's bins
	FlipHist            []uint64 // confirmed frames per flip-to-light bin since start; the last: later
	Thumb               *Thumb   // the latest frame's stimulus grid; nil: none yet, or ThumbError
	ThumbError          string
	DiodeDriftPPM       num
	// Onset in to prediction handed to the bus, and the bus's queue to the connection (p50,
	// p99 in microseconds: the bounds of the histogram buckets that hold them).
	OnsetToPublishP50Us, OnsetToPublishP99Us num
	PublishSendP99Us                         num
	OnsetError                               Hist // photodiode onset minus the acquisition's edge, us
	OnsetsQueued                             int
	Bins                                     *Bins    // the bins closed since the last snapshot
	Marks                                    []Mark   // the last marks, oldest first
	Choices                                  []Choice // the last adaptive choices, oldest first
}

// Thumb is a frame's stimulus grid as 8-bit gray (luminance: mean*(1+contrast), as the
// presenter's shader), row-major, at most maxThumb on a side (larger grids are subsampled).
type Thumb struct {
	Frame uint64 // in the session
	H, W  int
	Gray  []byte // base64 in JSON
}

const maxThumb = 128

// Hist is a histogram for the page: the count in each bucket (not cumulative), each bucket's
// upper bound (us), the count above the last bound, and the p50 and p99 as bucket bounds.
type Hist struct {
	UpperUs  []num
	Counts   []uint64
	Above    uint64
	P50, P99 num
}

// Bins are validation's closed bins for the page: per bin its frame (in the daemon's display
// numbering) and every shown cell's recorded rate, and each model's predicted rates (spikes/s).
type Bins struct {
	CellIDs   []int32
	Frames    []int64
	Observed  [][]num // [bin][cell]
	Models    []string
	Predicted [][][]num // [model][bin][cell]
}

// Mark is an event the operator marked.
type Mark struct {
	UnixMs      int64
	Label, Note string
}

// Choice is one adaptive choice: the candidates' scores, the pick (-1: the default) and why.
type Choice struct {
	Seq           uint64
	UnixMs        int64
	Strategy, Why string
	Scores        []num
	Pick          int32
	Fallback      bool
	ScoreMs       num
}

// ModelSnapshot is one model's part of a Snapshot.
type ModelSnapshot struct {
	Name                                    string
	LiveR                                   num // null: no r yet
	LastComputeMs, MaxComputeMs, DeadlineMs num
	Steps, Skipped                          uint64
	Cells                                   int
	Bin                                     uint64  // the bin of Rates
	CellIDs                                 []int32 // of Rates: the first maxCells cells
	Rates                                   []num   // spikes/s, latest prediction (null: NaN, a model still filling its history)
	// From the latest validation report, per cell of CellR's order (ReportCells): Pearson r,
	// variance of the counts explained, and the window's mean observed and predicted rates.
	ReportCells                 []int32
	CellR, CellVE               []num
	ObservedRate, PredictedRate []num
	VarExplained                num   // mean over every cell of the report (not only those shown)
	ReportUnixMs                int64 // when the report was made: the page's trend takes one point per report
}

func (l *Live) snapshot(now time.Time) Snapshot {
	f := l.figures()
	s := Snapshot{
		UnixMs: now.UnixMilli(), Frames: f.Frames, Missed: f.Missed, Dropped: f.Dropped, Untimed: f.Untimed,
		FrameRate: num(f.FrameRate), FrameRateSet: num(f.FrameRateSet), OnsetLatencyMs: ms(f.OnsetLatency),
		FlipToPublishP50Ms: ms(f.FlipToPublishP50), FlipToPublishP99Ms: ms(f.FlipToPublishP99),
		Spikes: f.Spikes, Rejected: f.Rejected, Unplaced: f.Unplaced, AcqDriftPPM: num(f.AcqDriftPPM),
		PublishQueued: f.PublishQueued, PublishDropped: f.PublishDropped, PublishErrors: f.PublishErrors,
		BusDownS: num(f.BusDown.Seconds()), PhotodiodeDownS: num(f.PhotodiodeDown.Seconds()),
		Record: f.Record.String(), RecordError: f.RecordError, RecordBytes: f.RecordUsage.Bytes,
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range f.Models {
		x := ModelSnapshot{Name: m.Name, LiveR: num(m.LiveR), LastComputeMs: ms(m.LastCompute), MaxComputeMs: ms(m.MaxCompute),
			DeadlineMs: ms(m.Deadline), Steps: m.Steps, Skipped: m.Skipped, Cells: m.Cells}
		if p := l.latest[m.Name]; p != nil {
			n := min(len(p.Rates), maxCells)
			x.Bin, x.Rates = p.Bin, make([]num, n)
			for i, r := range p.Rates[:n] {
				x.Rates[i] = num(r)
			}
			if len(p.CellIds) >= n {
				x.CellIDs = p.CellIds[:n]
			}
		}
		if v := l.reports[m.Name]; v != nil {
			n := min(len(v.CellIds), maxCells)
			x.ReportCells = v.CellIds[:n]
			x.CellR, x.CellVE = nums(v.PearsonR, n), nums(v.CountVarianceExplained, n)
			x.ObservedRate, x.PredictedRate = nums(v.ObservedRate, n), nums(v.PredictedRate, n)
			x.VarExplained, x.ReportUnixMs = meanOf(v.CountVarianceExplained), v.UnixNs/1e6
		}
		s.Models = append(s.Models, x)
	}
	if st := l.status; st != nil {
		s.State, s.Session = st.State.String(), st.Session
	}
	if fr := l.frame; fr != nil {
		s.LastFrame, s.Confirmed, s.LinkLost, s.DroppedBefore = fr.Frame, fr.Confirmed, fr.LinkLost, fr.DroppedBefore
		s.Thumb, s.ThumbError = l.thumb(fr)
	}
	s.DiodeDriftPPM, s.OnsetsQueued = num(f.DiodeDriftPPM), f.OnsetsQueued
	s.OnsetToPublishP50Us, s.OnsetToPublishP99Us = quantileUs(f.OnsetToPublish, 0.5), quantileUs(f.OnsetToPublish, 0.99)
	s.PublishSendP99Us, s.OnsetError = quantileUs(f.PublishSend, 0.99), hist(f.OnsetError)
	if l.bins != nil {
		s.Bins = l.recentBins()
	}
	s.FlipHistBinMs, s.FlipHist = ms(flipBin), slices.Clone(l.flipHist[:])
	for _, e := range l.marks {
		s.Marks = append(s.Marks, Mark{UnixMs: e.UnixNs / 1e6, Label: e.Label, Note: e.Note})
	}
	for _, c := range l.choices {
		s.Choices = append(s.Choices, Choice{Seq: c.Seq, UnixMs: c.UnixNs / 1e6, Strategy: c.Strategy, Why: c.Why,
			Scores: nums(c.Scores, min(len(c.Scores), maxCells)), Pick: c.Pick, Fallback: c.Fallback, ScoreMs: ms(time.Duration(c.ScoreNs))})
	}
	return s
}

// nums is the first n of xs (fewer when xs is shorter) as page numbers.
func nums(xs []float64, n int) []num {
	n = min(n, len(xs))
	out := make([]num, n)
	for i, x := range xs[:n] {
		out[i] = num(x)
	}
	return out
}

func ms(d time.Duration) num { return num(float64(d) / 1e6) }

// num is a number for the page: JSON has no NaN or infinity, so those are null.
type num float64

func (n num) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(n)) || math.IsInf(float64(n), 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, float64(n), 'g', -1, 64), nil
}

// thumb makes frame fr's thumbnail: from its pixels when it carries them (a source that cannot
// be rebuilt), else rebuilt from its source's description and index, as `retinad export` does.
// Called by Run's snapshot (the Rebuilder is Run's own).
func (l *Live) thumb(fr *pb.FrameOnset) (*Thumb, string) {
	src := fr.Source
	if src == nil || src.Height == 0 || src.Width == 0 {
		return nil, fmt.Sprintf("dashboard: frame %d: its onset describes no stimulus grid", fr.Frame)
	}
	h, w := int(src.Height), int(src.Width)
	if h > configs.MaxGrid || w > configs.MaxGrid { // not the daemon's: no config allows it
		return nil, fmt.Sprintf("dashboard: frame %d: stimulus grid %dx%d, beyond the largest a config allows (stimulus.height and width up to %d)", fr.Frame, h, w, configs.MaxGrid)
	}
	pix := fr.Pixels
	if len(pix) != h*w {
		if !src.Reproducible {
			return nil, fmt.Sprintf("dashboard: frame %d: %s frames cannot be rebuilt and this one came without its pixels", fr.Frame, src.Kind)
		}
		if l.thumbSrc == nil || !proto.Equal(l.thumbSrc, src) {
			// A maker for this source alone: one that kept every source of an adaptive
			// session's clips would grow for as long as the daemon runs.
			l.thumbSrc, l.rebuild = src, stimulus.NewRebuilder()
		}
		pix = make([]float32, h*w)
		if err := l.rebuild.Frame(l.thumbSrc, fr.Index, pix); err != nil {
			return nil, fmt.Sprintf("dashboard: thumbnail of frame %d: %v", fr.Frame, err)
		}
	}
	step := max((max(h, w)+maxThumb-1)/maxThumb, 1)
	t := &Thumb{Frame: fr.Frame, H: (h + step - 1) / step, W: (w + step - 1) / step}
	t.Gray = make([]byte, 0, t.H*t.W)
	mean := src.Mean
	if mean == 0 {
		mean = 0.5
	}
	for y := 0; y < h; y += step {
		for x := 0; x < w; x += step {
			lum := min(max(mean*(1+float64(pix[y*w+x])), 0), 1)
			t.Gray = append(t.Gray, byte(math.Round(lum*255)))
		}
	}
	return t, ""
}

// recentBins takes the bins closed since the last snapshot. Called by Run's snapshot.
func (l *Live) recentBins() *Bins {
	rb := l.bins(l.sentBin, maxBins, maxCells)
	if len(rb.Frames) == 0 {
		return nil
	}
	l.sentBin = rb.Frames[len(rb.Frames)-1]
	b := &Bins{CellIDs: rb.CellIDs, Frames: rb.Frames, Models: rb.Models, Predicted: make([][][]num, len(rb.Models))}
	nc := len(rb.CellIDs)
	for i, obs := range rb.Observed {
		b.Observed = append(b.Observed, nums(obs, nc))
		for m := range rb.Models {
			b.Predicted[m] = append(b.Predicted[m], nums(rb.Predicted[m][i*nc:(i+1)*nc], nc))
		}
	}
	return b
}

// hist is a daemon histogram (ns) as the page's (us).
func hist(s acquisition.HistogramSnapshot) Hist {
	h := Hist{UpperUs: make([]num, len(s.UpperNs)), Counts: make([]uint64, len(s.UpperNs)), Above: s.Count,
		P50: quantileUs(s, 0.5), P99: quantileUs(s, 0.99)}
	var below uint64
	for i, ns := range s.UpperNs {
		h.UpperUs[i], h.Counts[i] = num(float64(ns)/1e3), s.Cumulative[i]-below
		below = s.Cumulative[i]
	}
	h.Above -= below
	return h
}

// quantileUs is s's q quantile in microseconds (null with no observations).
func quantileUs(s acquisition.HistogramSnapshot, q float64) num {
	ns, ok := s.Quantile(q)
	if !ok {
		return num(math.NaN())
	}
	return num(float64(ns) / 1e3)
}

// meanOf is the mean of xs without its NaNs (NaN when none is left).
func meanOf(xs []float64) num {
	var sum float64
	n := 0
	for _, x := range xs {
		if !math.IsNaN(x) {
			sum += x
			n++
		}
	}
	if n == 0 {
		return num(math.NaN())
	}
	return num(sum / float64(n))
}
