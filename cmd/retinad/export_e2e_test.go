package main

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"
	"gopkg.in/yaml.v3"

	"retinad/acquisition"
	"retinad/configs"
	"retinad/infer/dataset"
	"retinad/infer/npy"
	"retinad/internal/testwait"
	pb "retinad/proto/retinadpb"
	"retinad/stimulus"
)

// TestExportEndToEnd runs the real binary on the simulated rig (configs/sim.yaml with the LN
// model only, offscreen, NATS on a free port, the recording in a temporary folder) for three
// sessions: natural scenes from the start ("first"), a second one started over control after
// `retinad control stop` ("second"), and, in a second daemon, an adaptive session ("adapt",
// after a warm-up one). Every frame the presenter draws is written to a file
// (RETINAD_DUMP_FRAMES), and the test listens to the bus during the runs. Each session is then
// exported with `retinad export` and checked against what really happened:
//
//   - the two malformed spike batches published into "second" are skipped and reported;
//   - the stimulus equals, bit for bit, the frames the presenter drew;
//   - the counts equal the spikes the virtual retina published between the sync edges it
//     published for each frame (a spike between the retina's edge and the export's, its onset
//     through its clock fit, may fall either side; those edges are held to a median of 100 us);
//   - the predictions equal what was published, bin by bin;
//   - frames and bins count from 0 in each session, and adaptive choices point at the frames
//     of their clips in that numbering.
func TestExportEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dir := t.TempDir()
	bin := buildRetinad(t, dir)
	rec := filepath.Join(dir, "rec")
	natural := writeE2EConfig(t, dir, "natural.yaml", rec, nil)
	adapt := writeE2EConfig(t, dir, "adaptive.yaml", rec, func(c *configs.Config) {
		c.Adaptive.Strategy = "maximize"
		c.Adaptive.Models = []string{"ln"}
		c.Adaptive.Clip = configs.Duration(300 * time.Millisecond)
		c.Adaptive.Candidates = 3
		c.Adaptive.Budget = configs.Duration(250 * time.Millisecond)
	})

	// Daemon A: natural scenes; "first" from the start, "second" over control.
	dumpA := filepath.Join(dir, "a.frames")
	t.Setenv("RETINAD_DUMP_FRAMES", dumpA)
	a := startDaemon(t, bin, natural, "first")
	w := watch(t, a.url)
	w.waitFrames(t, "first", 200)
	control(t, bin, a.url, "stop")
	control(t, bin, a.url, "start", "second")
	w.waitFrames(t, "second", 100)
	// Malformed spikes from a faulty acquisition system: recorded, and skipped by the export.
	acq, err := nats.Connect(a.url, nats.UserInfo("acq", "acq-secret"))
	if err != nil {
		t.Fatal(err)
	}
	for _, data := range [][]byte{{0xff, 0xff}, mustMarshal(t, &pb.Spikes{Seq: 1 << 40, CellIds: []int32{1}})} {
		if err := acq.Publish("retinad.sim.spikes", data); err != nil {
			t.Fatal(err)
		}
	}
	if err := acq.Flush(); err != nil {
		t.Fatal(err)
	}
	acq.Close()
	w.waitFrames(t, "second", 300)
	a.stop(t)
	w.close()

	// Daemon B: the adaptive stimulus; "adapt" started over control once the bus is watched.
	dumpB := filepath.Join(dir, "b.frames")
	t.Setenv("RETINAD_DUMP_FRAMES", dumpB)
	b := startDaemon(t, bin, adapt, "warmup")
	wb := watch(t, b.url)
	wb.waitFrames(t, "warmup", 50)
	control(t, bin, b.url, "stop")
	control(t, bin, b.url, "start", "adapt")
	wb.waitFrames(t, "adapt", 400)
	wb.waitChoices(t, "adapt", 4)
	b.stop(t)
	wb.close()

	for _, tc := range []struct {
		session, config, dump string
		w                     *watcher
		joinedLate            bool // started with the daemon, before the test subscribed
	}{
		{"first", natural, dumpA, w, true},
		{"second", natural, dumpA, w, false},
		{"adapt", adapt, dumpB, wb, false},
	} {
		t.Run(tc.session, func(t *testing.T) {
			out := filepath.Join(dir, tc.session+".npz")
			report, stderr, err := retinad(bin, "export", "--config", tc.config, "--session", tc.session, "--out", out)
			if err != nil {
				t.Fatalf("export: %v\n%s%s", err, report, stderr)
			}
			t.Logf("export:\n%s", report)
			skipped := regexp.MustCompile(`skipped .*`).FindAllString(string(report), -1)
			want := []string(nil)
			if tc.session == "second" { // the two malformed batches published into it
				want = []string{"skipped 2 malformed messages on retinad.sim.spikes"}
			}
			if len(skipped) != len(want) || (len(want) > 0 && !strings.HasPrefix(skipped[0], want[0])) {
				t.Errorf("export reports %q, want %q", skipped, want)
			}
			e := readExport(t, out)
			checkNumbering(t, tc.session, e, tc.w, tc.joinedLate)
			checkStimulus(t, e, readDump(t, tc.dump, e.d.H*e.d.W))
			checkCounts(t, e, tc.w, tc.joinedLate)
			checkPredictions(t, tc.session, e, tc.w, tc.joinedLate)
			if tc.session == "adapt" {
				checkChoices(t, e, tc.w)
			}
		})
	}
}

// writeE2EConfig writes configs/sim.yaml as the test runs it, changed by edit.
func writeE2EConfig(t *testing.T, dir, name, rec string, edit func(*configs.Config)) string {
	t.Helper()
	sim, err := filepath.Abs("../../configs/sim.yaml") // its relative paths resolve to absolute ones
	if err != nil {
		t.Fatal(err)
	}
	c, err := configs.Load(sim)
	if err != nil {
		t.Fatal(err)
	}
	c.Display.Mode = "offscreen"
	// configs/sim.yaml's operator controls; the test publishes malformed spikes as acquisition.
	c.NATS.Users = append(c.NATS.Users, configs.NATSUser{Name: "acq", Role: "acquisition", Password: "acq-secret"})
	c.NATS.Listen, c.Dashboard.Listen = "127.0.0.1:0", "" // tests in parallel must not share a port
	c.Recording.Enabled, c.Recording.Dir = true, rec
	c.Photodiode.Calibration = ""
	var ln []configs.Model
	for _, m := range c.Models {
		if m.Name == "ln" { // the CNN costs the shared machine more than the test needs
			ln = append(ln, m)
		}
	}
	c.Models = ln
	if edit != nil {
		edit(c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	b, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func control(t *testing.T, bin, url string, args ...string) {
	t.Helper()
	args = append([]string{"control", "--server", url, "--rig", "sim", "--user", "operator", "--password", "sim-operator"}, args...)
	if out, stderr, err := retinad(bin, args...); err != nil {
		t.Fatalf("retinad control %v: %v\n%s%s", args, err, out, stderr)
	}
}

// watcher is what a subscriber to retinad.sim.> saw during a run.
type watcher struct {
	nc      *nats.Conn
	mu      sync.Mutex
	frames  map[string][]*pb.FrameOnset
	preds   map[string][]*pb.Prediction
	choices map[string][]*pb.AdaptiveChoice
	spikes  []*pb.Spikes
	syncs   []*pb.Sync
	errs    []string
}

func watch(t *testing.T, url string) *watcher {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	w := &watcher{nc: nc, frames: map[string][]*pb.FrameOnset{}, preds: map[string][]*pb.Prediction{}, choices: map[string][]*pb.AdaptiveChoice{}}
	sub, err := nc.Subscribe("retinad.sim.>", w.handle)
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *watcher) handle(m *nats.Msg) {
	var msg proto.Message
	switch {
	case m.Subject == "retinad.sim.frame":
		msg = &pb.FrameOnset{}
	case m.Subject == "retinad.sim.spikes":
		msg = &pb.Spikes{}
	case m.Subject == "retinad.sim.sync":
		msg = &pb.Sync{}
	case m.Subject == "retinad.sim.adaptive":
		msg = &pb.AdaptiveChoice{}
	case strings.HasPrefix(m.Subject, "retinad.sim.prediction."):
		msg = &pb.Prediction{}
	default:
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	err := proto.Unmarshal(m.Data, msg)
	if sp, ok := msg.(*pb.Spikes); ok {
		err = acquisition.DecodeSpikes(m.Data, sp) // the test's malformed batches are not the retina's
	}
	if err != nil {
		w.errs = append(w.errs, m.Subject+": "+err.Error())
		return
	}
	switch x := msg.(type) {
	case *pb.FrameOnset:
		w.frames[x.Session] = append(w.frames[x.Session], x)
	case *pb.Spikes:
		w.spikes = append(w.spikes, x)
	case *pb.Sync:
		w.syncs = append(w.syncs, x)
	case *pb.AdaptiveChoice:
		w.choices[x.Session] = append(w.choices[x.Session], x)
	case *pb.Prediction:
		w.preds[x.Session] = append(w.preds[x.Session], x)
	}
}

func (w *watcher) close() { w.nc.Drain() }

// waitUntil polls cond (under w.mu) until it holds, for up to 60 s.
func (w *watcher) waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.Must(t, 60*time.Second, what, func() bool { w.mu.Lock(); defer w.mu.Unlock(); return cond() })
}

func (w *watcher) waitFrames(t *testing.T, session string, n int) {
	t.Helper()
	w.waitUntil(t, "frames of session "+session, func() bool { return len(w.frames[session]) >= n })
}

func (w *watcher) waitChoices(t *testing.T, session string, n int) {
	t.Helper()
	w.waitUntil(t, "adaptive choices of session "+session, func() bool { return len(w.choices[session]) >= n })
}

// export is an exported session: the dataset and the extra arrays the test checks.
type export struct {
	d                        *dataset.Dataset
	display, firstFrame      []int64
	recorded, rebuilt, timed []uint8
	covered                  []uint8
	binStart                 []int64
	clockFit                 []float64
	rates                    []float32
	rateIDs                  []int64
	frameIndex               []int64
}

func readExport(t *testing.T, path string) *export {
	t.Helper()
	d, err := dataset.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	z, err := npy.OpenArchive(path)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	e := &export{d: d}
	for name, ptr := range map[string]any{
		"frame_display": &e.display, "bin_first_frame": &e.firstFrame, "frame_recorded": &e.recorded,
		"frame_rebuilt": &e.rebuilt, "bin_timed": &e.timed, "bin_spikes_covered": &e.covered, "bin_start_host_ns": &e.binStart, "clock_fit": &e.clockFit, "pred_ln": &e.rates, "pred_ln_cell_ids": &e.rateIDs,
		"frame_index": &e.frameIndex,
	} {
		a, err := z.Open(name)
		if err == nil {
			switch p := ptr.(type) {
			case *[]float32:
				*p, err = npy.ReadAll[float32](a)
			case *[]float64:
				*p, err = npy.ReadAll[float64](a)
			case *[]int64:
				*p, err = npy.ReadAll[int64](a)
			case *[]uint8:
				*p, err = npy.ReadAll[uint8](a)
			default:
				t.Fatalf("array %s: no reader for %T", name, ptr)
			}
			a.Close()
		}
		if err != nil {
			t.Fatalf("%s: array %s: %v", path, name, err)
		}
	}
	return e
}

// readDump reads the frames the presenter drew (RETINAD_DUMP_FRAMES), by display frame.
func readDump(t *testing.T, path string, pixels int) [][]float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b)%(4*pixels) != 0 {
		t.Fatalf("%s: %d bytes, not a whole number of %d-pixel frames", path, len(b), pixels)
	}
	frames := make([][]float32, len(b)/(4*pixels))
	for k := range frames {
		f := make([]float32, pixels)
		for i := range f {
			f[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*(k*pixels+i):]))
		}
		frames[k] = f
	}
	return frames
}

// checkNumbering: the session's frames count from 0, whole, in the export and on the bus.
func checkNumbering(t *testing.T, session string, e *export, w *watcher, joinedLate bool) {
	t.Helper()
	for f, r := range e.recorded {
		if r != 1 {
			t.Errorf("session frame %d is not in the record", f)
		}
		if f > 0 && e.display[f] != e.display[f-1]+1 {
			t.Fatalf("session frame %d is display frame %d, frame %d was %d", f, e.display[f], f-1, e.display[f-1])
		}
	}
	for t2, f := range e.firstFrame {
		if f != int64(t2) {
			t.Fatalf("bin %d begins at frame %d; want one bin per frame from 0", t2, f)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	live := w.frames[session]
	if !joinedLate && live[0].Frame != 0 {
		t.Errorf("the first frame published in session %s is %d, want 0", session, live[0].Frame)
	}
	for _, o := range live {
		if o.Frame >= uint64(len(e.display)) || uint64(e.display[o.Frame]) != o.DisplayFrame {
			t.Fatalf("published frame %d (display %d) is not the export's", o.Frame, o.DisplayFrame)
		}
	}
	t.Logf("%d frames from 0 (display frames %d..%d), %d published while watched", len(e.display), e.display[0], e.display[len(e.display)-1], len(live))
}

// checkStimulus: every bin's stimulus is, bit for bit, the frame the presenter drew.
func checkStimulus(t *testing.T, e *export, drawn [][]float32) {
	t.Helper()
	for tt := range e.d.T {
		f := e.firstFrame[tt]
		if e.rebuilt[f] != 1 {
			t.Fatalf("bin %d: frame %d was not rebuilt", tt, f)
		}
		k := e.display[f]
		if k >= int64(len(drawn)) {
			t.Fatalf("bin %d: display frame %d, the presenter drew %d", tt, k, len(drawn))
		}
		got := e.d.Frame(tt)
		for i, v := range drawn[k] {
			if math.Float32bits(got[i]) != math.Float32bits(v) {
				t.Fatalf("bin %d (display frame %d, source index %d) pixel %d: exported %v, drawn %v", tt, k, e.frameIndex[f], i, got[i], v)
			}
		}
	}
	t.Logf("%d bins: the stimulus is the frames drawn, bit for bit", e.d.T)
}

// checkCounts: the counts are the spikes the virtual retina published between the sync edges
// of each frame and the next, for every timed bin the watcher saw whole.
func checkCounts(t *testing.T, e *export, w *watcher, joinedLate bool) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	edge := map[uint64]int64{} // display frame -> its sync edge, acquisition clock
	for _, y := range w.syncs {
		if y.HasFrame {
			edge[y.Frame] = y.TimeAcqNs
		}
	}
	batches := slices.Clone(w.spikes)
	sort.Slice(batches, func(i, j int) bool { return batches[i].Seq < batches[j].Seq })
	type spike struct {
		t    int64
		cell int32
	}
	var spikes []spike
	for i, b := range batches {
		if i > 0 && b.Seq != batches[i-1].Seq+1 {
			t.Fatalf("spike batch %d after %d: the watcher missed some", b.Seq, batches[i-1].Seq)
		}
		for j, c := range b.CellIds {
			spikes = append(spikes, spike{b.TimesAcqNs[j], c})
		}
	}
	slices.SortFunc(spikes, func(a, b spike) int { return int(a.t - b.t) })
	from, to := batches[0].StartAcqNs, batches[len(batches)-1].EndAcqNs
	col := map[int32]int{}
	for c, id := range e.d.CellIDs {
		col[int32(id)] = c
	}
	// The export's bin edges on the acquisition clock (its onset through its clock fit) against
	// the retina's own sync edges: a spike between the two may land in either bin, no other.
	a, b := e.clockFit[0], e.clockFit[1]
	gap := func(tt int, truth int64) int64 {
		return abs(int64((float64(e.binStart[tt])-a)/b)-truth) + 1000
	}
	checked, untimed, differ, total := 0, 0, 0, 0
	var maxGap int64
	var gaps []int64
	var unseen []int // bins the watcher did not see whole
	for tt := range e.d.T {
		k := uint64(e.display[e.firstFrame[tt]])
		s0, ok0 := edge[k]
		s1, ok1 := edge[k+1]
		if !ok0 || !ok1 || s0 < from || s1 > to {
			unseen = append(unseen, tt)
			if e.covered[tt] == 1 && ok1 && s1 > to {
				t.Errorf("bin %d ends after the last spike batch published, the export marks it covered", tt)
			}
			continue
		}
		if e.timed[tt] != 1 {
			untimed++
			continue
		}
		if e.covered[tt] != 1 {
			t.Errorf("bin %d: the watcher saw its spikes whole, the export marks it not covered", tt)
		}
		g0, g1 := gap(tt, s0), int64(0)
		gaps = append(gaps, g0)
		if tt+1 < e.d.T {
			g1 = gap(tt+1, s1)
		} else {
			g1 = g0 // the last bin's end is not exported: its start's gap
		}
		maxGap = max(maxGap, g0, g1)
		want := make([]float32, e.d.C)
		slack := make([]float32, e.d.C)
		lo := sort.Search(len(spikes), func(i int) bool { return spikes[i].t >= s0-g0 })
		for _, s := range spikes[lo:] {
			if s.t >= s1+g1 {
				break
			}
			c, ok := col[s.cell]
			if !ok {
				t.Fatalf("cell %d published but not in the export's cell ids %v", s.cell, e.d.CellIDs)
			}
			if s.t >= s0 && s.t < s1 {
				want[c]++
			}
			if abs(s.t-s0) < g0 || abs(s.t-s1) < g1 {
				slack[c]++
			}
		}
		for c := range want {
			got := e.d.Counts[tt*e.d.C+c]
			total += int(want[c])
			if d := float32(math.Abs(float64(got - want[c]))); d > slack[c] {
				t.Errorf("bin %d cell %d: %v spikes exported, the retina published %v between the frame's sync edges (%v between an edge and the export's, %d and %d ns apart)", tt, e.d.CellIDs[c], got, want[c], slack[c], g0, g1)
			} else if d > 0 {
				differ++
			}
		}
		checked++
	}
	if !joinedLate && checked < e.d.T*9/10 {
		t.Errorf("only %d of %d bins checked (%d untimed)", checked, e.d.T, untimed)
	}
	slices.Sort(gaps)
	if len(gaps) > 0 && gaps[len(gaps)/2] > 100e3 {
		t.Errorf("the export's bin edges are a median %d ns from the retina's sync edges; want the photodiode's onsets and the clock fit within 100 us", gaps[len(gaps)/2])
	}
	uncovered := e.d.T - int(sumU8(e.covered))
	if uncovered > 30 {
		t.Errorf("%d of %d bins not covered by the spike batches", uncovered, e.d.T)
	}
	if checked < 100 || total < 100 {
		t.Errorf("only %d bins and %d spikes checked", checked, total)
	}
	t.Logf("counts of %d bins (%d spikes) equal the published spikes; %d cell-bins differ by spikes between the retina's and the export's edges (median %d ns, at most %d ns apart); %d untimed bins not checked; %d bins marked not covered by spike batches; bins not seen whole by the watcher: %v", checked, total, differ, gaps[len(gaps)/2], maxGap, untimed, uncovered, unseen)
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sumU8(v []uint8) (n int64) {
	for _, x := range v {
		n += int64(x)
	}
	return n
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// checkPredictions: each bin's rates are the Prediction published for it, bit for bit, and
// bins without one are NaN.
func checkPredictions(t *testing.T, session string, e *export, w *watcher, joinedLate bool) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	C := len(e.rateIDs)
	published := map[uint64]bool{}
	for _, p := range w.preds[session] {
		if p.Model != "ln" {
			continue
		}
		if len(p.CellIds) > 0 && !slices.Equal(int32s(e.rateIDs), p.CellIds) {
			t.Fatalf("pred_ln_cell_ids %v, published %v", e.rateIDs, p.CellIds)
		}
		if p.Bin >= uint64(e.d.T) {
			continue // after the last whole bin
		}
		published[p.Bin] = true
		got := e.rates[int(p.Bin)*C : int(p.Bin+1)*C]
		for c, v := range p.Rates {
			if math.Float32bits(got[c]) != math.Float32bits(v) {
				t.Fatalf("bin %d cell %d: exported rate %v, published %v", p.Bin, c, got[c], v)
			}
		}
	}
	if !joinedLate {
		if !published[0] {
			t.Errorf("no prediction published for bin 0 of session %s", session)
		}
		for b := range e.d.T {
			if !published[uint64(b)] && !math.IsNaN(float64(e.rates[b*C])) {
				t.Errorf("bin %d: exported rates %v, none published", b, e.rates[b*C:(b+1)*C])
			}
		}
	}
	if len(published) < 100 {
		t.Errorf("only %d predictions compared", len(published))
	}
	t.Logf("%d predictions equal what was published", len(published))
}

func int32s(v []int64) []int32 {
	out := make([]int32, len(v))
	for i, x := range v {
		out[i] = int32(x)
	}
	return out
}

// checkChoices: each adaptive choice of the session starts its clip's lead at from_frame, in
// the session's numbering: the frames from there are the lead (gray before the source's
// frame 0) and then the clip from its start, each described by its own source.
func checkChoices(t *testing.T, e *export, w *watcher) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	byFrame := map[uint64]*pb.FrameOnset{}
	for _, o := range w.frames["adapt"] {
		byFrame[o.Frame] = o
	}
	checked := 0
	for _, c := range w.choices["adapt"] {
		clip, err := stimulus.DecodeYAML(c.Clip.StimulusYaml)
		if err != nil {
			t.Fatal(err)
		}
		if c.FromFrame == 0 {
			continue // its lead may have begun before the session
		}
		for j := range int64(c.Lead) + 2 {
			o := byFrame[c.FromFrame+uint64(j)]
			if o == nil {
				continue // after the session's end
			}
			idx := c.Clip.Start - int64(c.Lead) + j
			kind, index := clip.Kind, uint64(max(idx, 0))
			if idx < 0 {
				kind, index = "gray", 0
			}
			if o.Source.Kind != kind || o.Index != index || o.Source.StimulusYaml == "" {
				t.Fatalf("choice %d (from frame %d, lead %d, clip start %d): frame %d is %s index %d, want %s index %d", c.Seq, c.FromFrame, c.Lead, c.Clip.Start, o.Frame, o.Source.Kind, o.Index, kind, index)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Errorf("no adaptive choice checked (%d choices)", len(w.choices["adapt"]))
	}
	t.Logf("%d frames of %d adaptive choices are their clips'", checked, len(w.choices["adapt"]))
}
