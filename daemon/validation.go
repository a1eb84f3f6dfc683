package daemon

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"retinad/daemon/validate"
	pb "retinad/proto/retinadpb"
)

// validation owns the validator behind a mutex: the stamper feeds it frames and predictions,
// the bus's goroutines spikes and syncs, and its own goroutine reports every ReportEvery.
type validation struct {
	d      *Daemon
	mu     sync.Mutex
	v      *validate.Validator // nil when no model can be validated
	models []int               // runner index -> validator model index, -1 if not validated
	names  []string

	spikes, syncs    atomic.Uint64
	rejected         atomic.Uint64 // malformed inbound messages
	unpairedSyncs    atomic.Uint64 // sync events without a frame number
	lastWin, lastAll []validate.Summary
}

func newValidation(d *Daemon) (*validation, error) {
	val := &validation{d: d, models: make([]int, len(d.runners))}
	if len(d.runners) == 0 {
		return val, nil
	}
	cells := d.runners[0].CellIDs
	for i, r := range d.runners {
		val.models[i] = -1
		if slices.Equal(r.CellIDs, cells) {
			val.models[i] = len(val.names)
			val.names = append(val.names, r.Name)
		} else {
			d.p.Log.Warn("daemon: model predicts other cells than the first model; not validated", "model", r.Name)
		}
	}
	window := int(math.Round(d.p.Window.Seconds() * d.p.FrameRate))
	v, err := validate.New(validate.Config{CellIDs: cells, Models: val.names, BinNs: d.binNs, Window: max(window, 2)})
	if err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	val.v = v
	val.lastWin = make([]validate.Summary, len(val.names))
	val.lastAll = make([]validate.Summary, len(val.names))
	return val, nil
}

func (val *validation) frame(frame, startNs int64) {
	if val.v == nil {
		return
	}
	val.mu.Lock()
	val.v.Frame(frame, startNs)
	val.mu.Unlock()
}

func (val *validation) prediction(runner int, frame int64, rates []float32) {
	if val.v == nil || val.models[runner] < 0 {
		return
	}
	val.mu.Lock()
	val.v.Prediction(val.models[runner], frame, rates)
	val.mu.Unlock()
}

// subscribe listens to the acquisition's spikes and sync events.
func (val *validation) subscribe() (unsubscribe func(), err error) {
	d := val.d
	var spikes pb.Spikes
	var sync pb.Sync
	u1, err := d.p.Bus.Subscribe(d.subj.Spikes, func(data []byte) {
		if err := proto.Unmarshal(data, &spikes); err != nil {
			val.rejected.Add(1)
			d.logEvery("daemon: malformed spikes message", "subject", d.subj.Spikes, "err", err)
			return
		}
		val.spikes.Add(uint64(len(spikes.TimesAcqNs)))
		if val.v == nil {
			return
		}
		val.mu.Lock()
		val.v.Spikes(spikes.CellIds, spikes.TimesAcqNs, spikes.EndAcqNs)
		val.mu.Unlock()
	})
	if err != nil {
		return nil, fmt.Errorf("daemon: subscribe %s: %w", d.subj.Spikes, err)
	}
	u2, err := d.p.Bus.Subscribe(d.subj.Sync, func(data []byte) {
		if err := proto.Unmarshal(data, &sync); err != nil {
			val.rejected.Add(1)
			d.logEvery("daemon: malformed sync message", "subject", d.subj.Sync, "err", err)
			return
		}
		val.syncs.Add(1)
		if !sync.HasFrame {
			val.unpairedSyncs.Add(1) // pairing anonymous edges with onsets in order is not implemented
			return
		}
		if val.v == nil {
			return
		}
		val.mu.Lock()
		val.v.Sync(int64(sync.Frame), sync.TimeAcqNs)
		val.mu.Unlock()
	})
	if err != nil {
		_ = u1()
		return nil, fmt.Errorf("daemon: subscribe %s: %w", d.subj.Sync, err)
	}
	return func() { _ = u1(); _ = u2() }, nil
}

// run publishes a validation report per model every ReportEvery and logs one compact line.
func (val *validation) run(ctx context.Context) error {
	if val.v == nil {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(val.d.p.ReportEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			val.report()
		}
	}
}

func (val *validation) report() {
	d := val.d
	val.mu.Lock()
	for m := range val.names {
		val.v.Stats(m).Window(&val.lastWin[m])
		val.v.Stats(m).Session(&val.lastAll[m])
	}
	val.mu.Unlock()
	var line strings.Builder
	now := d.now()
	w := float64(d.binNs) * 1e-9
	for m, name := range val.names {
		win, all := &val.lastWin[m], &val.lastAll[m]
		msg := &pb.ValidationReport{
			Session: d.p.Session, Model: name, HostNs: now, UnixNs: d.unix(now),
			WindowNs: int64(d.p.Window), Bins: uint64(win.Bins), CellIds: d.runners[0].CellIDs,
			PearsonR: win.R, Fev: win.FEV, MeanPearsonR: win.MeanR,
			PredictedRate: scaled(win.Predicted, 1/w), ObservedRate: scaled(win.Observed, 1/w),
		}
		d.publishOnce(d.subj.Validation, msg)
		fmt.Fprintf(&line, " %s r=%.3f (session %.3f, %d bins) fev=%.3f", name, win.MeanR, all.MeanR, all.Bins, nanMean(win.FEV))
	}
	d.p.Log.Info("validation:" + line.String())
}

func scaled(x []float64, k float64) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = v * k
	}
	return out
}

func nanMean(x []float64) float64 {
	var s float64
	var n int
	for _, v := range x {
		if !math.IsNaN(v) {
			s += v
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return s / float64(n)
}

// windowR returns each validated model's live mean r, for the status line.
func (val *validation) liveR() map[string]float64 {
	out := map[string]float64{}
	val.mu.Lock()
	defer val.mu.Unlock()
	for m, name := range val.names {
		out[name] = val.lastWin[m].MeanR
	}
	return out
}
