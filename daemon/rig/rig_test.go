package rig_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"retinad/daemon/daemontest"
	"retinad/daemon/validate"
	"retinad/internal/testenv"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"retinad/acquisition"
	"retinad/acquisition/sim"
	"retinad/configs"
	"retinad/daemon/rig"
	"retinad/infer"
	"retinad/infer/infertest"
	"retinad/proto/contract"
	pb "retinad/proto/retinadpb"
	"retinad/stimulus/present/presenttest"
)

var e2eDuration = flag.Duration("e2e.duration", 30*time.Second, "how long the simulated rig runs in TestSimulatedRig")

// GL calls must come from one locked OS thread: the tests hand their GL work to the main
// goroutine through presenttest.
var onMain = presenttest.OnMain

func TestMain(m *testing.M) { os.Exit(presenttest.Main(m)) }

// modelFiles writes the models the test runs: bundled ones from models/ when they exist,
// else the paper-size CNN and an LN with seeded random weights (real engines, untrained).
func modelFiles(t testing.TB) (files []configs.Model, trained bool) {
	bundled := []configs.Model{{Name: "cnn", File: "../../models/bncnn.rtm"}, {Name: "ln", File: "../../models/ln.rtm"}}
	if _, err := os.Stat(bundled[0].File); err == nil {
		if _, err := os.Stat(bundled[1].File); err == nil {
			return bundled, true
		}
	}
	if testenv.Required() {
		_, err := os.Stat(bundled[0].File)
		if err == nil {
			_, err = os.Stat(bundled[1].File)
		}
		testenv.Missing(t, "the bundled models (models/bncnn.rtm, models/ln.rtm)", err)
	}
	dir := t.TempDir()
	size := infertest.Paper
	size.Cells = 16
	for name, m := range map[string]*infer.Model{"cnn": infertest.CNN(1, size), "ln": infertest.LNModel(2, size)} {
		for c := range m.Cells {
			m.Cells[c] = int64(c) // the virtual retina's cell ids
		}
		f := filepath.Join(dir, name+".rtm")
		if err := infer.Save(f, m); err != nil {
			t.Fatal(err)
		}
		files = append(files, configs.Model{Name: name, File: f})
	}
	return files, false
}

// glmFile writes a GLM with seeded random weights (12 frames) for the cells of the model in
// like, run observed: its spike history follows the virtual retina's recorded spikes.
func glmFile(t *testing.T, like string) configs.Model {
	ref, err := infer.Load(like)
	if err != nil {
		t.Fatal(err)
	}
	size := infertest.Paper
	size.History, size.Cells = 12, len(ref.Cells)
	m := infertest.GLMModel(3, size, false)
	copy(m.Cells, ref.Cells)
	f := filepath.Join(t.TempDir(), "glm.rtm")
	if err := infer.Save(f, m); err != nil {
		t.Fatal(err)
	}
	return configs.Model{Name: "glm", File: f, Observed: true, Deadline: configs.Duration(time.Second)}
}

// TestSimulatedRig runs the whole simulated rig in-process (real GL under Xvfb or EGL, the fake
// photodiode over a real pty, the embedded NATS server, the streaming engines, the virtual
// retina) and checks from a separate NATS connection: every frame has an onset and a
// prediction from every model, bins are contiguous, confirmed onsets agree with the fake
// device's truth to 100 us, spikes and validation reports arrive, and Run ends cleanly within
// a second of cancellation.
func TestSimulatedRig(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	cfg := configs.Default()
	cfg.Display.Mode = "auto"
	cfg.Stimulus.Kind = "whitenoise"
	cfg.Stimulus.WhiteNoise.Checker = 5
	cfg.NATS.Listen = "127.0.0.1:0"
	cfg.NATS.Users = []configs.NATSUser{{Name: "op", Role: "operator", Password: "op-password"}} // control needs the operator role
	cfg.Recording.Enabled = true
	cfg.Recording.Dir = t.TempDir()
	cfg.Photodiode.Sim.Offset = configs.Duration(time.Hour)
	if os.Getenv("E2E_NODRIFT") != "" {
		cfg.Photodiode.Sim.Offset, cfg.Photodiode.Sim.DriftPPM = 0, 0
	}
	cfg.Acquisition.ClockOffset = configs.Duration(3 * time.Second)
	cfg.Acquisition.ClockDriftPPM = 20
	cfg.Validation.Window = configs.Duration(time.Minute) // the whole run: the live r compared is the session's
	models, trained := modelFiles(t)
	cfg.Models = append(models, glmFile(t, models[1].File))
	if photos := "/usr/lib/python3/dist-packages/skimage/data"; trained {
		// The bundled models were trained on natural scenes: show them those.
		if _, err := os.Stat(photos); err != nil {
			t.Fatalf("bundled models need the natural-scene photographs (python3-skimage): %v", err)
		}
		cfg.Stimulus.Kind, cfg.Stimulus.Natural.Dir = "natural", photos
		// A movie no bundled model was trained or scored on (make paper: natural --seed 3 trains,
		// --seed 1, the one configs/sim.yaml shows, is scored). With its training seed the rig
		// would replay the movie the models were fitted to, and an LN that fits that recording
		// scores in-sample (the old LN: r 0.42 against its training counts, 0.36 against fresh
		// spikes of the same movie).
		cfg.Stimulus.Seed = 4
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var r *rig.Rig
	var err error
	onMain(func() { r, err = rig.Open(&cfg, rig.Options{Session: "e2e"}) })
	if err != nil {
		t.Fatal(err)
	}
	defer onMain(func() { r.Close() })

	sub, err := nats.Connect(r.NATSURL(), nats.UserInfo("op", "op-password"))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	type onset struct {
		host, flip int64
		confirmed  bool
	}
	var mu sync.Mutex
	onsets := map[uint64]onset{}
	bins := map[string][]uint64{}
	rates := map[string]map[uint64][]float32{"cnn": {}, "ln": {}}
	var spikeCells []int32
	var spikeTimes []int64
	syncAcq := map[uint64]int64{}
	finite := map[string]int{}
	lastR := map[string]float64{}
	lastBins := map[string]uint64{} // bins the validator scored, by its last report
	var spikes, syncs, reports int
	sessionStop := make(chan struct{})
	_, err = sub.Subscribe("retinad.sim.>", func(m *nats.Msg) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case m.Subject == "retinad.sim.session":
			sessionStopped(t, m, sessionStop)
		case m.Subject == "retinad.sim.frame":
			var o pb.FrameOnset
			if err := proto.Unmarshal(m.Data, &o); err != nil {
				t.Errorf("frame: %v", err)
				return
			}
			onsets[o.Frame] = onset{o.OnsetHostNs, o.FlipHostNs, o.Confirmed}
		case strings.HasPrefix(m.Subject, "retinad.sim.prediction."):
			var p pb.Prediction
			if err := proto.Unmarshal(m.Data, &p); err != nil {
				t.Errorf("prediction: %v", err)
				return
			}
			bins[p.Model] = append(bins[p.Model], p.Bin)
			if !math.IsNaN(float64(p.Rates[0])) {
				finite[p.Model]++
				if r, ok := rates[p.Model]; ok {
					r[p.Bin] = p.Rates
				}
			}
		case m.Subject == "retinad.sim.spikes":
			var s pb.Spikes
			_ = proto.Unmarshal(m.Data, &s)
			spikes += len(s.TimesAcqNs)
			spikeCells = append(spikeCells, s.CellIds...)
			spikeTimes = append(spikeTimes, s.TimesAcqNs...)
		case m.Subject == "retinad.sim.sync":
			var s pb.Sync
			_ = proto.Unmarshal(m.Data, &s)
			if s.HasFrame {
				syncAcq[s.Frame] = s.TimeAcqNs
			}
			syncs++
		case m.Subject == "retinad.sim.validation":
			var v pb.ValidationReport
			_ = proto.Unmarshal(m.Data, &v)
			lastR[v.Model], lastBins[v.Model] = v.MeanPearsonR, v.Bins
			reports++
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	stop := time.AfterFunc(*e2eDuration, cancel)
	defer stop.Stop()
	// When the context ended, handed over by a channel: AfterFunc runs on a goroutine of its own.
	stopped := make(chan time.Time, 1)
	context.AfterFunc(ctx, func() { stopped <- time.Now() })
	// The control service answers while the rig runs.
	var status pb.StatusReply
	var mark pb.MarkEventReply
	var statusErr, markErr, startErr, loadErr, unloadErr error
	var missedLoad, missedBefore uint64 // refreshes missed while the loaded model made its first 100 predictions, and in the 2 s before
	controlled := make(chan struct{})
	go func() {
		defer close(controlled)
		time.Sleep(2 * time.Second)
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		defer ccancel()
		subj, _ := contract.SubjectsFor("sim")
		statusErr = acquisition.Call(cctx, sub, subj, acquisition.EndpointStatus, &pb.StatusRequest{}, &status)
		markErr = acquisition.Call(cctx, sub, subj, acquisition.EndpointMark, &pb.MarkEventRequest{Label: "e2e"}, &mark)
		startErr = acquisition.Call(cctx, sub, subj, acquisition.EndpointStart, &pb.StartSessionRequest{}, &pb.StartSessionReply{})
		// A model loads and unloads while frames are shown.
		m0 := r.Daemon().Figures().Missed
		time.Sleep(2 * time.Second)
		m1 := r.Daemon().Figures().Missed
		lctx, lcancel := context.WithTimeout(ctx, 10*time.Second)
		defer lcancel()
		loadErr = acquisition.Call(lctx, sub, subj, acquisition.EndpointLoad, &pb.LoadModelRequest{Name: "ln2", File: models[1].File}, &pb.LoadModelReply{})
		daemontest.WaitFor(t, 20*time.Second, "100 predictions of the model loaded while running", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(bins["ln2"]) >= 100
		})
		missedBefore, missedLoad = m1-m0, r.Daemon().Figures().Missed-m1
		uctx, ucancel := context.WithTimeout(ctx, 10*time.Second)
		defer ucancel()
		unloadErr = acquisition.Call(uctx, sub, subj, acquisition.EndpointUnload, &pb.UnloadModelRequest{Name: "ln2"}, &pb.UnloadModelReply{})
	}()
	var runErr error
	onMain(func() { runErr = r.Run(ctx) })
	<-controlled
	if statusErr != nil || status.Status.GetFrames() == 0 || markErr != nil || mark.Event.GetLabel() != "e2e" {
		t.Errorf("control: status %v (%v), mark %v (%v)", status.Status, statusErr, mark.Event, markErr)
	}
	if ce := (*acquisition.ControlError)(nil); !errors.As(startErr, &ce) || ce.Code != "409" {
		t.Errorf("control: start session while one runs: %v, want a 409 conflict", startErr)
	}
	if loadErr != nil || unloadErr != nil {
		t.Errorf("control: load %v, unload %v", loadErr, unloadErr)
	}
	t.Logf("refreshes missed while a model loaded and made 100 predictions: %d (in the 2 s before: %d)", missedLoad, missedBefore)
	if runErr != nil {
		t.Fatalf("Run: %v", runErr)
	}
	if d := time.Since(<-stopped); d > time.Second {
		t.Errorf("Run returned %v after cancellation, want under a second", d)
	}
	f := r.Daemon().Figures()
	dev := r.Device()
	waitSessionStop(t, sessionStop)
	// Everything published is in the recording.
	recorded := map[string]int{}
	subj, _ := contract.SubjectsFor("sim")
	rctx, rcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer rcancel()
	sr, err := acquisition.FindSession(rctx, sub, subj, "e2e")
	if err != nil {
		t.Fatalf("recording: %v", err)
	}
	if err := acquisition.ReadSession(rctx, sub, subj, sr, func(subject string, seq uint64, data []byte) error {
		recorded[subject]++
		return nil
	}); err != nil {
		t.Fatalf("recording: %v", err)
	}
	if sr.Stop == nil {
		t.Errorf("recording: session has no STOP event")
	}
	onMain(func() { err = r.Close() }) // drains the connection and stops the server
	if err != nil {
		t.Errorf("Close: %v", err)
	}
	t.Logf("figures: %v", f)

	mu.Lock()
	defer mu.Unlock()
	// Every frame shown has its onset published (the last ones untimed when the stop came
	// before their edges).
	n := uint64(len(onsets))
	for k := uint64(0); k < n; k++ {
		if _, ok := onsets[k]; !ok {
			t.Fatalf("frame %d has no onset message (of %d)", k, n)
		}
	}
	if n != f.Frames {
		t.Errorf("%d onsets for %d frames", n, f.Frames)
	}
	if n < 2 {
		t.Fatalf("%d onsets", n)
	}
	// Frames come late when the machine cannot keep up (llvmpipe under load). How many is the
	// machine's, not a bound a test can hold on a shared one (it once wanted half of 100 Hz):
	// the daemon reports them (Figures.Missed, the status line, retinad_refreshes_missed_total)
	// and BenchmarkDashboardClients and the fault tests compare them with an idle baseline.
	// The rig's part is that none is lost: every refresh from the session's first flip to its
	// last showed a frame or was counted missed (the refreshes missed outside that span, a few,
	// are counted too).
	period := int64(float64(time.Second) / cfg.Display.Refresh.Hz())
	ratio := int64(math.Round(cfg.Display.Refresh.Hz() / cfg.Stimulus.FrameRate.Hz()))
	span := (onsets[n-1].flip - onsets[0].flip + period/2) / period
	if shown := int64(n-1) * ratio; shown+int64(f.Missed) < span {
		t.Errorf("%d refreshes from the first flip to the last, but the frames after the first took %d and %d were counted missed in all: refreshes went uncounted", span, shown, f.Missed)
	}
	t.Logf("%d refreshes from the first flip to the last: %d frames shown, %d refreshes counted missed", span, n, f.Missed)
	// Confirmed onsets agree with the fake device's truth.
	// The clock sync fits the device's offset and drift over its first seconds: onsets are
	// judged after a 2 s warm-up.
	var errs, warm, signed []int64
	for k, o := range onsets {
		if o.confirmed {
			signed = append(signed, o.host-dev.Truth(k).LightNs)
			e := abs(o.host - dev.Truth(k).LightNs)
			if k < 200 {
				warm = append(warm, e)
			} else {
				errs = append(errs, e)
			}
		}
	}
	if len(errs)+len(warm) < int(n)*9/10 || len(errs) == 0 {
		t.Fatalf("only %d of %d onsets confirmed (%d after warm-up)", len(errs)+len(warm), n, len(errs))
	}
	slices.Sort(errs)
	slices.Sort(warm)
	slices.Sort(signed)
	beyond := 0
	for _, e := range errs {
		if e > 100e3 {
			beyond++
		}
	}
	q := func(x []int64, p float64) time.Duration {
		if len(x) == 0 {
			return 0
		}
		return time.Duration(x[int(p*float64(len(x)-1))])
	}
	t.Logf("%d of %d onsets confirmed; error against the device's truth after warm-up: p50 %v p99 %v max %v, %d of %d beyond 100us; during warm-up p50 %v max %v",
		len(errs)+len(warm), n, q(errs, 0.5), q(errs, 0.99), q(errs, 1), beyond, len(errs), q(warm, 0.5), q(warm, 1))
	t.Logf("signed error (onset - truth): p1 %v p50 %v p99 %v", q(signed, 0.01), q(signed, 0.5), q(signed, 0.99))
	// Onsets to a tenth of a millisecond: the median, since a single onset's error is its edge's
	// scheduling luck on this shared machine (p99 and max are logged above).
	if q(errs, 0.5) > 100*time.Microsecond {
		t.Errorf("onsets: median error %v against the device's truth, want 100us or less", q(errs, 0.5))
	}
	// A prediction from every model for every frame, in order: contiguous bins, except for
	// those a model computed too late, which it counted as skipped.
	for i, m := range []string{"cnn", "ln"} {
		b := bins[m]
		if f.Models[i].Name != m {
			t.Fatalf("figures list %s at %d, want %s", f.Models[i].Name, i, m)
		}
		for j := 1; j < len(b); j++ {
			if b[j] <= b[j-1] {
				t.Fatalf("model %s: bin %d after bin %d", m, b[j], b[j-1])
			}
		}
		mf := f.Models[i]
		if uint64(len(b))+mf.Skipped+mf.Overrun < n {
			t.Errorf("model %s: %d predictions + %d skipped + %d overrun for %d frames", m, len(b), mf.Skipped, mf.Overrun, n)
		}
		if mf.Skipped == 0 && mf.Overrun == 0 && (len(b) == 0 || b[len(b)-1] != uint64(len(b)-1)) {
			t.Errorf("model %s: nothing skipped, yet bins are not 0..%d", m, len(b)-1)
		}
		if mf.Skipped > 0 {
			t.Logf("model %s: %d bins skipped for missing the deadline (last step %v, max %v): this machine is too slow or too loaded for it at 100 Hz", m, mf.Skipped, mf.LastCompute, mf.MaxCompute)
		}
		if finite[m] < len(b)-40 {
			t.Errorf("model %s: only %d of %d predictions have rates", m, finite[m], len(b))
		}
	}
	if b := bins["ln2"]; len(b) < 100 {
		t.Errorf("model loaded while running: %d predictions, want 100", len(b))
	} else {
		for j := 1; j < len(b); j++ {
			if b[j] != b[j-1]+1 {
				t.Errorf("model loaded while running: bin %d after %d", b[j], b[j-1])
				break
			}
		}
		t.Logf("model loaded while running joined at bin %d and published %d bins", b[0], len(b))
	}
	if g := f.Models[2]; g.Name != "glm" || g.Published < n/2 || g.Unobserved > g.Steps/5 {
		t.Errorf("observed GLM: %+v for %d frames", g, n)
	} else {
		t.Logf("observed GLM: %d published, %d skipped, %d of %d steps without the recorded counts of the bin before", g.Published, g.Skipped, g.Unobserved, g.Steps)
	}
	hostOnsets := map[uint64]int64{}
	for k, o := range onsets {
		if o.confirmed {
			hostOnsets[k] = o.host
		}
	}
	scan := lagScan(t, hostOnsets, syncAcq, spikeCells, spikeTimes, rates, 10e6)
	if spikes == 0 || syncs < int(n)/2 || reports == 0 {
		t.Errorf("from the virtual retina: %d spikes, %d syncs; %d validation reports", spikes, syncs, reports)
	}
	t.Logf("recorded: %v", recorded)
	if recorded["retinad.sim.frame"] != len(onsets) || recorded["retinad.sim.prediction.cnn"] != len(bins["cnn"]) || recorded["retinad.sim.prediction.ln"] != len(bins["ln"]) {
		t.Errorf("recording lost messages: recorded %v; seen %d onsets, %d cnn and %d ln predictions", recorded, len(onsets), len(bins["cnn"]), len(bins["ln"]))
	}
	t.Logf("live r: %v (trained models: %v), over %v bins of %d cnn and %d ln predictions with rates", lastR, trained, lastBins, len(rates["cnn"]), len(rates["ln"]))
	// The CNN's live r above the LN's: the bundled CNN scores r 0.478 against 0.432 on the
	// spikes of held-out natural scenes (models/README.md), ahead on every cell.
	if trained && !(lastR["cnn"] > lastR["ln"]) {
		t.Errorf("live r of the CNN %.3f is not above the LN's %.3f", lastR["cnn"], lastR["ln"])
	}
	for _, m := range []string{"cnn", "ln"} {
		if trained && !(lastR[m] > 0.1) {
			t.Errorf("live r of %s is %.3f: a trained model should track the virtual retina's spikes", m, lastR[m])
		}
	}
	if !trained {
		t.Log("no bundled models in models/: ran untrained models; CNN-above-LN and the lag scan are not checked")
		return
	}
	// The validator's scoring, reproduced independently of it: by the test's own binning (on
	// the one clock fit, validate.Clock, fed the published onsets and sync edges), lag 0 (prediction t against the counts of bin t) must give the mean r the
	// validator reported, within 0.02. That catches spikes mapped through a wrong clock, counted
	// to the wrong cells or models, or binned two or more frames off (r moves by 0.02-0.1); not
	// reliably a one-frame shift: neighbouring lags differ by 0.005-0.02, and under missed
	// refreshes the two binnings differ by up to 0.007 (seen at load 13 under -race). Where the
	// peak lies is not asserted either: offline (retinad simulate + predict, natural seed 4,
	// 60 s) the bundled CNN peaks at lag 0 and the LN at +1, but refreshes missed under load
	// stretch frames in wall time and move the live peak (runs at load 13-14 peaked at -1).
	for _, m := range []string{"cnn", "ln"} {
		r := scan[m]
		if len(r) != 2*maxLag+1 {
			break // lagScan said why
		}
		if d := math.Abs(r[maxLag] - lastR[m]); !(d < 0.02) {
			t.Errorf("lag scan, %s: r %.4f at lag 0 by the test's own binning, the validator reported %.4f", m, r[maxLag], lastR[m])
		}
	}
}

// sessionStopped closes stop when m, of the session subject, is the session's STOP. The daemon
// sends the STOP last, on the connection everything else went out on, and one subscription's
// messages are handled in order: when it has been handled, so has every message before it.
func sessionStopped(t *testing.T, m *nats.Msg, stop chan struct{}) {
	var e pb.SessionEvent
	if err := proto.Unmarshal(m.Data, &e); err != nil {
		t.Errorf("session: %v", err)
		return
	}
	if e.Kind != pb.SessionEvent_STOP {
		return
	}
	select {
	case <-stop:
	default:
		close(stop)
	}
}

// waitSessionStop waits for sessionStopped to close stop: the test's subscription has handled
// every message the session published (instead of sleeping while the daemon's connection
// flushes).
func waitSessionStop(t *testing.T, stop chan struct{}) {
	t.Helper()
	select {
	case <-stop:
	case <-time.After(10 * time.Second):
		t.Fatal("the session's STOP did not reach the test's subscriber in 10 s")
	}
}

// maxLag is how far lagScan shifts the counts against the predictions, in bins either way.
const maxLag = 3

// lagScan bins the recorded spikes independently of the validator: it maps the spike times to
// host time with the clock fit (validate.Clock) over the (sync acquisition time, published
// onset) pairs, bins them
// from each onset, and returns (and logs) each model's mean per-cell r between the prediction
// for bin t and the counts of bin t+lag, for lag -maxLag..maxLag (index lag+maxLag). Too few
// sync pairs to fit the line is a test failure.
func lagScan(t *testing.T, onsets map[uint64]int64, syncAcq map[uint64]int64, cells []int32, times []int64, rates map[string]map[uint64][]float32, binNs int64) map[string][]float64 {
	paired := make([]uint64, 0, len(syncAcq))
	for f := range syncAcq {
		if _, ok := onsets[f]; ok {
			paired = append(paired, f)
		}
	}
	if len(paired) < 100 {
		t.Errorf("lag scan: only %d sync pairs", len(paired))
		return nil
	}
	slices.Sort(paired) // in the order they came
	fit := validate.NewClock(len(paired))
	for _, f := range paired {
		fit.Add(syncAcq[f], onsets[f])
	}
	frames := make([]uint64, 0, len(onsets))
	for f := range onsets {
		frames = append(frames, f)
	}
	slices.Sort(frames)
	starts := make([]int64, len(frames))
	for i, f := range frames {
		starts[i] = onsets[f]
	}
	counts := map[uint64]map[int32]float64{}
	for i, a := range times {
		h, ok := fit.ToHost(a)
		if !ok {
			continue
		}
		j, _ := slices.BinarySearch(starts, h+1)
		j--
		if j < 0 || h >= starts[j]+binNs {
			continue
		}
		f := frames[j]
		if counts[f] == nil {
			counts[f] = map[int32]float64{}
		}
		counts[f][cells[i]]++
	}
	scan := map[string][]float64{}
	for _, model := range []string{"cnn", "ln"} {
		line := ""
		for lag := -maxLag; lag <= maxLag; lag++ {
			var rs []float64
			for c := int32(0); c < 16; c++ {
				var P, O []float64
				for f, p := range rates[model] {
					g := int64(f) + int64(lag)
					if _, ok := onsets[uint64(g)]; !ok || g < 0 || int(c) >= len(p) {
						continue
					}
					P = append(P, float64(p[c]))
					O = append(O, counts[uint64(g)][c])
				}
				if r := sim.Pearson(P, O); len(P) >= 3 && !math.IsNaN(r) {
					rs = append(rs, r)
				}
			}
			scan[model] = append(scan[model], mean(rs))
			line += fmt.Sprintf(" %+d:%.3f", lag, mean(rs))
		}
		t.Logf("lag scan, %s: mean r of prediction(t) vs counts(t+lag) over the session:%s", model, line)
	}
	return scan
}

func mean(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
