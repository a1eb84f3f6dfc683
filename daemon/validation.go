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

	"retinad/acquisition"
	"retinad/clock"
	"retinad/daemon/validate"
	pb "retinad/proto/retinadpb"
)

// validation owns the validator behind a mutex: the stamper feeds it frames and predictions,
// the bus's goroutines spikes and syncs, the control goroutine adds and removes models, and its
// own goroutine reports every ReportEvery.
type validation struct {
	d     *Daemon
	mu    sync.Mutex
	v     *validate.Validator // nil until a model can be validated
	cells []int32             // the validated cells: the first model's
	names []string            // by validator index; "" for a model unloaded
	obs   []*runner           // observed models, fed every closed bin's counts
	loop  ClosedLoop          // told of every closed bin (the adaptive stimulus), or nil

	in               *acquisition.Inbound // the strict decoder of spikes and sync, with its counters
	spikes, syncs    atomic.Uint64        // spikes and sync edges accepted
	unpairedSyncs    atomic.Uint64        // sync events without a frame number
	lastWin, lastAll []validate.Summary
	onsetErr         *acquisition.Histogram // photodiode onset minus the acquisition's edge of the same frame
}

// onsetErrorBounds are the buckets of Figures.OnsetError, signed: +-1 us to +-5 ms.
var onsetErrorBounds = func() []int64 {
	pos := []int64{1e3, 2e3, 5e3, 10e3, 20e3, 50e3, 100e3, 200e3, 500e3, 1e6, 2e6, 5e6}
	out := make([]int64, 0, 2*len(pos)+1)
	for i := len(pos) - 1; i >= 0; i-- {
		out = append(out, -pos[i])
	}
	out = append(out, 0)
	return append(out, pos...)
}()

func newValidation(d *Daemon) *validation {
	val := &validation{d: d, onsetErr: acquisition.NewHistogram(onsetErrorBounds...)}
	val.in = acquisition.NewInbound(d.subj, val, d.p.Log)
	return val
}

// add makes r scored from its next prediction on, when it predicts the validated cells (the
// first model's). It allocates; call it before r is shared.
func (val *validation) add(r *runner) error {
	d := val.d
	val.mu.Lock()
	defer val.mu.Unlock()
	if err := val.open(r.CellIDs); err != nil {
		return err
	}
	if !slices.Equal(r.CellIDs, val.cells) {
		d.p.Log.Warn("daemon: model predicts other cells than the first model; not validated", "model", r.Name)
		r.valIdx = -1
		return nil
	}
	r.valIdx = val.v.AddModel(r.Name)
	if r.Observed {
		if ob, ok := r.Engine.(Observer); ok {
			r.observer = ob
			r.obs = newRing(len(r.in.buf), func(x *obsIn) { x.counts = make([]float32, len(r.CellIDs)) })
			val.obs = append(val.obs, r)
		} else {
			d.p.Log.Warn("daemon: model is to be observed but its engine cannot take recorded counts; it runs on its own", "model", r.Name)
		}
	}
	val.names = append(val.names, r.Name)
	val.lastWin = append(val.lastWin, validate.Summary{})
	val.lastAll = append(val.lastAll, validate.Summary{})
	return nil
}

// open makes the validator, binning cells, unless it is made already. Called with mu held.
func (val *validation) open(cells []int32) error {
	if val.v != nil {
		return nil
	}
	d := val.d
	window := int(math.Round(d.p.Window.Seconds() * d.p.FrameRate))
	v, err := validate.New(validate.Config{CellIDs: cells, BinNs: d.binNs, Window: max(window, 2)})
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	val.v, val.cells = v, cells
	v.OnClose = val.closed
	return nil
}

// watch tells loop of every bin that closes from now on (nil: none). With no model to set the
// validated cells, the loop's are binned; cells of the loop that are not binned (the first
// model predicts others) are never counted, which is logged.
func (val *validation) watch(loop ClosedLoop) error {
	if loop == nil {
		return nil
	}
	val.mu.Lock()
	defer val.mu.Unlock()
	val.loop = loop
	cells := loop.Cells()
	if len(cells) == 0 {
		return nil
	}
	if err := val.open(cells); err != nil {
		return err
	}
	for _, id := range cells {
		if !slices.Contains(val.cells, id) {
			val.d.p.Log.Warn("daemon: the adaptive stimulus's cells are not all the first model's; those it lacks are never counted", "cell", id)
			break
		}
	}
	return nil
}

// remove stops scoring r and publishes its final report (window and session figures).
func (val *validation) remove(r *runner) {
	if r.valIdx < 0 {
		return
	}
	val.mu.Lock()
	m := r.valIdx
	val.v.RemoveModel(m)
	val.obs = slices.DeleteFunc(slices.Clone(val.obs), func(x *runner) bool { return x == r })
	val.v.Stats(m).Window(&val.lastWin[m])
	val.v.Stats(m).Session(&val.lastAll[m])
	val.names[m] = ""
	msg, line := val.reportMsg(r.Name, &val.lastWin[m], &val.lastAll[m])
	val.mu.Unlock()
	val.d.publishOnce(val.d.subj.Validation, msg)
	val.d.p.Log.Info("validation: final report of an unloaded model:" + line)
}

// reset starts every model's statistics afresh, for a new session.
func (val *validation) reset() {
	val.mu.Lock()
	if val.v != nil {
		val.v.ResetStats()
	}
	val.mu.Unlock()
}

// closed hands a closed bin's counts to every observed model and to the closed loop (the
// validator's OnClose, under mu).
func (val *validation) closed(frame int64, counts []float64, scored bool) {
	for _, r := range val.obs {
		r.observed(frame, counts, scored)
	}
	if val.loop != nil {
		val.loop.Observe(uint64(frame), val.cells, counts, scored)
	}
}

func (val *validation) frame(frame, startNs int64) {
	val.mu.Lock()
	if val.v != nil {
		val.v.Frame(frame, startNs)
	}
	val.mu.Unlock()
}

func (val *validation) prediction(r *runner, frame int64, rates []float32) {
	if r.valIdx < 0 {
		return
	}
	val.mu.Lock()
	val.v.Prediction(r.valIdx, frame, rates)
	val.mu.Unlock()
}

// spikesAhead is how far past the host's now a spike batch may end on the fitted clock: an
// acquisition system cannot have covered the future, and a batch that claims to would close
// (score) bins before their spikes arrived. It allows for the fit's error.
const spikesAhead = int64(100 * time.Millisecond)

// subscribe listens to the acquisition's spikes and sync events through the strict decoder
// (acquisition.Inbound): what it rejects never reaches the validator, and is counted by reason.
func (val *validation) subscribe() (unsubscribe func(), err error) {
	d := val.d
	u1, err := d.p.Bus.Subscribe(d.subj.Spikes, val.in.HandleSpikes)
	if err != nil {
		return nil, fmt.Errorf("daemon: subscribe %s: %w", d.subj.Spikes, err)
	}
	u2, err := d.p.Bus.Subscribe(d.subj.Sync, val.in.HandleSync)
	if err != nil {
		_ = u1()
		return nil, fmt.Errorf("daemon: subscribe %s: %w", d.subj.Sync, err)
	}
	return func() { _ = u1(); _ = u2() }, nil
}

// Spikes takes one batch that passed the decoder (acquisition.AcquisitionHandler, on the
// spikes subscription's goroutine). A batch that ends after now on the fitted acquisition clock
// is refused (ReasonOffClock); before the clock is fitted nothing can be placed and nothing is
// refused.
func (val *validation) Spikes(m *pb.Spikes) acquisition.Reason {
	val.mu.Lock()
	defer val.mu.Unlock()
	if v := val.v; v != nil && v.Clock().Ready() {
		if end, ok := v.Clock().ToHost(m.EndAcqNs); !ok || end > val.d.now()+spikesAhead {
			return acquisition.ReasonOffClock
		}
	}
	val.spikes.Add(uint64(len(m.TimesAcqNs)))
	if val.v != nil {
		val.v.Spikes(m.CellIds, m.TimesAcqNs, m.EndAcqNs)
	}
	return acquisition.ReasonNone
}

// Sync takes one sync edge that passed the decoder (on the sync subscription's goroutine). An
// edge the clock fit refuses (far off it: see validate.Clock) is ReasonOffClock.
func (val *validation) Sync(m *pb.Sync) acquisition.Reason {
	if !m.HasFrame {
		val.syncs.Add(1)
		val.unpairedSyncs.Add(1) // pairing anonymous edges with onsets in order is not implemented
		return acquisition.ReasonNone
	}
	val.mu.Lock()
	errNs, known := val.onsetError(int64(m.Frame), m.TimeAcqNs)
	ok := val.v == nil || val.v.Sync(int64(m.Frame), m.TimeAcqNs)
	val.mu.Unlock()
	if !ok {
		return acquisition.ReasonOffClock
	}
	if known {
		val.onsetErr.Observe(errNs)
	}
	val.syncs.Add(1)
	return acquisition.ReasonNone
}

// onsetError is the onset error where it is known: the photodiode's onset of frame minus the
// acquisition's own record of the same edge (acqNs), placed on host time by the clock fit as it
// stood before this pair joined it (so the pair does not judge itself). It is known once the
// fit has its pairs and while the validator holds the frame. Called with mu held.
func (val *validation) onsetError(frame, acqNs int64) (int64, bool) {
	v := val.v
	if v == nil || !v.Clock().Ready() {
		return 0, false
	}
	onset, ok := v.Onset(frame)
	if !ok {
		return 0, false
	}
	host, ok := v.Clock().ToHost(acqNs)
	return onset - host, ok
}

// run publishes a validation report per model every ReportEvery, in a session, and logs one
// compact line.
func (val *validation) run(ctx context.Context) error {
	t := val.d.p.Clock.NewTicker(val.d.p.ReportEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
			if val.d.sess.Load() != nil {
				val.report()
			}
			clock.Ack(t) // reported: a virtual clock may move on
		}
	}
}

func (val *validation) report() {
	d := val.d
	type out struct {
		msg  *pb.ValidationReport
		line string
	}
	var outs []out
	val.mu.Lock()
	for m, name := range val.names {
		if name == "" {
			continue
		}
		val.v.Stats(m).Window(&val.lastWin[m])
		val.v.Stats(m).Session(&val.lastAll[m])
		msg, line := val.reportMsg(name, &val.lastWin[m], &val.lastAll[m])
		outs = append(outs, out{msg, line})
	}
	val.mu.Unlock()
	if len(outs) == 0 {
		return
	}
	var line strings.Builder
	for _, o := range outs {
		d.publishOnce(d.subj.Validation, o.msg)
		line.WriteString(o.line)
	}
	d.p.Log.Info("validation:" + line.String())
}

// reportMsg makes one model's report from its window and session summaries. Called with mu held.
func (val *validation) reportMsg(name string, win, all *validate.Summary) (*pb.ValidationReport, string) {
	d := val.d
	now := d.now()
	w := float64(d.binNs) * 1e-9
	msg := &pb.ValidationReport{
		Session: d.sessionID(), Model: name, HostNs: now, UnixNs: d.unix(now),
		WindowNs: int64(d.p.Window), Bins: uint64(win.Bins), CellIds: val.cells,
		PearsonR: slices.Clone(win.R), CountVarianceExplained: slices.Clone(win.VarExpl), MeanPearsonR: win.MeanR,
		PredictedRate: scaled(win.Predicted, 1/w), ObservedRate: scaled(win.Observed, 1/w),
	}
	line := fmt.Sprintf(" %s r=%.3f (session %.3f, %d bins) var-explained=%.3f", name, win.MeanR, all.MeanR, all.Bins, nanMean(win.VarExpl))
	return msg, line
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
		if name != "" {
			out[name] = val.lastWin[m].MeanR
		}
	}
	return out
}

// RecentBins are the last closed bins of the validated cells as validation scored them, for the
// experimenter's view of recorded against predicted rates bin by bin.
type RecentBins struct {
	CellIDs   []int32     // the validated cells shown (the first of them)
	Models    []string    // the validated models
	Frames    []int64     // each bin's frame (the daemon's display numbering, as validation's)
	Observed  [][]float64 // [bin][cell] recorded rate, spikes/s
	Predicted [][]float64 // [model][bin*len(CellIDs)+cell] predicted rate, spikes/s (NaN: none)
}

// RecentBins returns the bins closed after frame after (every bin held when after < 0), the
// newest maxBins of them, for the first cells cells. Safe from any goroutine; it allocates, so
// call it once a period (the dashboard does), never per frame.
func (d *Daemon) RecentBins(after int64, maxBins, cells int) RecentBins {
	val := d.val
	val.mu.Lock()
	defer val.mu.Unlock()
	v := val.v
	var out RecentBins
	if v == nil {
		return out
	}
	cells = min(cells, len(val.cells))
	out.CellIDs = val.cells[:cells]
	var idx []int
	for m, name := range val.names {
		if name != "" {
			out.Models, idx = append(out.Models, name), append(idx, m)
		}
	}
	out.Predicted = make([][]float64, len(idx))
	perSec := 1e9 / float64(d.binNs)
	for f := max(after+1, v.Closed()-int64(maxBins)); f < v.Closed(); f++ {
		counts, _, ok := v.Bin(f, 0)
		if !ok {
			continue
		}
		obs := make([]float64, cells)
		for c := range obs {
			obs[c] = counts[c] * perSec
		}
		out.Frames, out.Observed = append(out.Frames, f), append(out.Observed, obs)
		for i, m := range idx {
			_, pred, _ := v.Bin(f, m)
			for c := range cells {
				out.Predicted[i] = append(out.Predicted[i], pred[c]*perSec)
			}
		}
	}
	return out
}
