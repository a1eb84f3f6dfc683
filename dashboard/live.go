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
	"retinad/daemon"
	pb "retinad/proto/retinadpb"
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
	every   time.Duration

	done chan struct{} // closed when Run returns: the event streams end

	mu       sync.Mutex
	clients  map[chan []byte]struct{}
	latest   map[string]*pb.Prediction       // each model's latest prediction, from NATS
	reports  map[string]*pb.ValidationReport // each model's latest validation report
	status   *pb.Status                      // the daemon's latest status message
	frame    *pb.FrameOnset                  // the latest frame onset (pixels dropped)
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

// NewLive returns the feed of figures, one snapshot every period.
func NewLive(figures func() daemon.Figures, every time.Duration) *Live {
	return &Live{figures: figures, every: every, done: make(chan struct{}), clients: map[chan []byte]struct{}{},
		latest: map[string]*pb.Prediction{}, reports: map[string]*pb.ValidationReport{}}
}

// Subscribe keeps each model's latest prediction and validation report, and the last marks
// and adaptive choices, from the rig's subjects on nc. The returned function unsubscribes.
func (l *Live) Subscribe(nc *nats.Conn, subj acquisition.Subjects) (func(), error) {
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
	f.Pixels = nil
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
	Marks               []Mark   // the last marks, oldest first
	Choices             []Choice // the last adaptive choices, oldest first
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
		}
		s.Models = append(s.Models, x)
	}
	if st := l.status; st != nil {
		s.State, s.Session = st.State.String(), st.Session
	}
	if fr := l.frame; fr != nil {
		s.LastFrame, s.Confirmed, s.LinkLost, s.DroppedBefore = fr.Frame, fr.Confirmed, fr.LinkLost, fr.DroppedBefore
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
