package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
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

	mu      sync.Mutex
	clients map[chan []byte]struct{}
	latest  map[string]*pb.Prediction // each model's latest prediction, from NATS
}

// NewLive returns the feed of figures, one snapshot every period.
func NewLive(figures func() daemon.Figures, every time.Duration) *Live {
	return &Live{figures: figures, every: every, done: make(chan struct{}), clients: map[chan []byte]struct{}{}, latest: map[string]*pb.Prediction{}}
}

// Subscribe keeps each model's latest prediction from the rig's prediction subjects on nc. The
// returned function unsubscribes.
func (l *Live) Subscribe(nc *nats.Conn, subj acquisition.Subjects) (func(), error) {
	s, err := nc.Subscribe(subj.AllPredictions, func(msg *nats.Msg) {
		p := &pb.Prediction{}
		if proto.Unmarshal(msg.Data, p) != nil || p.Model == "" {
			return
		}
		l.mu.Lock()
		if len(p.CellIds) == 0 { // left empty after a model's first message: same order
			if old := l.latest[p.Model]; old != nil {
				p.CellIds = old.CellIds
			}
		}
		l.latest[p.Model] = p
		l.mu.Unlock()
	})
	if err != nil {
		return nil, fmt.Errorf("dashboard: subscribe %s: %w", subj.AllPredictions, err)
	}
	return func() { s.Unsubscribe() }, nil
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
		s.Models = append(s.Models, x)
	}
	return s
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
