package adaptive_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"retinad/configs"
	"retinad/daemon/scoring"
	"retinad/stimulus/adaptive"
	"retinad/stimulus/adaptive/adaptivetest"
)

// root is the repository root, from this file's folder.
var root = filepath.Join("..", "..")

// predictor is the bundled CNN and LN, run by daemon/scoring's local predictor (the daemon's
// own), behind a cache; lead is their history - 1.
type predictor struct {
	*adaptivetest.Cached
	cells []int64
	lead  int
}

func bundled(t testing.TB) predictor {
	t.Helper()
	var ms []scoring.Model
	for _, m := range [][2]string{{"cnn", "bncnn.rtm"}, {"ln", "ln.rtm"}} {
		sm, err := scoring.LoadModel(m[0], filepath.Join(root, "models", m[1]))
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, sm)
	}
	if !slices.Equal(ms[0].Model.Cells, ms[1].Model.Cells) {
		t.Fatalf("cnn and ln predict different cells: %v, %v", ms[0].Model.Cells, ms[1].Model.Cells)
	}
	l, err := scoring.NewLocal(ms, 0)
	if err != nil {
		t.Fatal(err)
	}
	h := max(ms[0].Model.Input.History, ms[1].Model.Input.History)
	return predictor{Cached: &adaptivetest.Cached{P: l}, cells: ms[0].Model.Cells, lead: h - 1}
}

// naturalStimulus is sim.yaml's stimulus: the photographs of Debian's python3-skimage.
func naturalStimulus() configs.Stimulus {
	st := configs.Default().Stimulus
	st.Natural.Dir = "/usr/lib/python3/dist-packages/skimage/data"
	return st
}

// run shows clips chosen by st to a fresh virtual retina until the summed log-likelihood
// ratio between the models passes threshold nats or max clips were shown. It returns the
// clips shown, the final evidence (ln P(spikes|cnn) - ln P(spikes|ln)) after each clip, and
// the choices.
func runDiscriminate(t testing.TB, pred predictor, d *adaptive.Discriminate, spikeSeed uint64, max int, threshold float64) ([]float64, []*adaptive.Choice) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tis, err := adaptivetest.NewTissue(50, 50, 16, 1, spikeSeed, pred.cells)
	if err != nil {
		t.Fatal(err)
	}
	s, err := adaptive.NewScheduler(d, adaptive.Options{Predictor: pred, Budget: time.Minute, Lead: pred.lead})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var ev []float64
	var chosen []*adaptive.Choice
	for len(ev) < max {
		ch, err := s.TakeReady(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ch.Fallback {
			t.Fatalf("choice %d fell back: %s", ch.Seq, ch.Why)
		}
		counts, _, err := tis.Show(ch)
		if err != nil {
			t.Fatal(err)
		}
		s.Observe(adaptive.Observation{Seq: ch.Seq, Cells: tis.Cells(), Counts: counts})
		var e float64
		if err := s.Inspect(ctx, func(st adaptive.Strategy) { e = st.(*adaptive.Discriminate).Evidence() }); err != nil {
			t.Fatal(err)
		}
		ev = append(ev, e)
		chosen = append(chosen, ch)
		if e > threshold || e < -threshold {
			break
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return ev, chosen
}

// clipsToVerdict is the number of clips after which the evidence stays beyond threshold on
// the side it ends on (len(ev)+1 when it never settles there).
func clipsToVerdict(ev []float64, threshold float64) int {
	last := ev[len(ev)-1]
	n := len(ev) + 1
	for i := len(ev) - 1; i >= 0; i-- {
		if math.Abs(ev[i]) < threshold || (ev[i] > 0) != (last > 0) {
			break
		}
		n = i + 1
	}
	return n
}

// TestDiscriminateSeparatesModelsWithFewerClips is the first done-when: in simulation,
// clips picked by discriminate (the largest expected log-likelihood ratio between the
// bundled CNN and LN among 6 natural-scene candidates) make the virtual retina's recorded
// spikes separate the two models in fewer clips than random picks among the same candidates.
// Separated: the summed log-likelihood ratio over the 16 cells stays beyond 150 nats on one
// side from that clip on, within 20 clips of 0.5 s.
func TestDiscriminateSeparatesModelsWithFewerClips(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the bundled models on 240 candidate clips")
	}
	const max, threshold = 20, 150.0
	pred := bundled(t)
	var sumD, sumR int
	type run struct {
		Seed     uint64
		Strategy string
		Evidence []float64
		Scores   [][]float64
		Picks    []int
		Clips    int
	}
	var runs []run
	for seed := uint64(1); seed <= 3; seed++ {
		var n [2]int
		var last [2]float64
		for i, random := range []bool{false, true} {
			pool := adaptive.Pool{Stimulus: naturalStimulus(), Frames: 50, Lead: pred.lead, Seed: seed}
			d := &adaptive.Discriminate{Pool: pool, N: 6, A: 0, B: 1, Names: [2]string{"cnn", "ln"}, DT: 0.01, Random: random}
			ev, chosen := runDiscriminate(t, pred, d, seed, max, math.Inf(1))
			n[i], last[i] = clipsToVerdict(ev, threshold), ev[len(ev)-1]
			r := run{Seed: seed, Strategy: d.Name(), Evidence: ev, Clips: n[i]}
			for _, c := range chosen {
				r.Scores, r.Picks = append(r.Scores, c.Scores), append(r.Picks, c.Pick)
			}
			runs = append(runs, r)
			t.Logf("seed %d %-12s evidence (cnn over ln, nats) after each clip: %v", seed, d.Name(), fmtv(ev))
		}
		t.Logf("seed %d: separated after %d clips (discriminate, final %+.0f nats) vs %d (random, final %+.0f nats; %d = never)", seed, n[0], last[0], n[1], last[1], max+1)
		sumD += n[0]
		sumR += n[1]
	}
	t.Logf("clips to separate the models, summed over 3 seeds: discriminate %d, random %d; candidate predictions computed: %d", sumD, sumR, pred.Calls)
	writePlotData(t, "discriminate.json", map[string]any{"threshold": threshold, "max": max, "runs": runs})
	if sumD >= sumR {
		t.Errorf("discriminate needed %d clips over 3 seeds, random %d: want fewer", sumD, sumR)
	}
}

func fmtv(x []float64) []int {
	out := make([]int, len(x))
	for i, v := range x {
		out[i] = int(math.Round(v))
	}
	return out
}

// isoExperiment is the isoresponse set-up of the tests: drifting gratings (2 Hz) of five
// spatial periods and one oblique orientation, 0.5-s probes after 5-s gray rests, target a
// mean rate of 30 spikes/s over the 16 cells.
func isoExperiment() *adaptive.IsoResponse {
	return &adaptive.IsoResponse{Base: configs.Default().Stimulus, Speed: 2, Probe: 50, Rest: 500, DT: 0.01, Target: 30, Start: 0.02, Fit: 8,
		Directions: []adaptive.Direction{{Orientation: 0, Period: 4}, {Orientation: 0, Period: 8}, {Orientation: 0, Period: 16}, {Orientation: 0, Period: 32}, {Orientation: 0, Period: 64}, {Orientation: 45, Period: 8}}}
}

// groundTruth is the virtual retina's iso-response contrast of every direction (noise-free
// rates, periodic steady state of 3 rest+probe cycles), two directions at a time.
func groundTruth(t testing.TB, iso *adaptive.IsoResponse) []float64 {
	gt := make([]float64, len(iso.Directions))
	errs := make(chan error, len(gt))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for k := range gt {
		go func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			c, err := adaptivetest.IsoContrast(*iso, k, 3)
			gt[k] = c
			errs <- err
		}()
	}
	for range gt {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	return gt
}

// TestIsoResponseConverges is the second done-when: closed loop on the recorded
// spikes of the virtual retina, isoresponse finds every direction's iso-response contrast
// within 25% (mean error within 10%) of the ground truth computed from the noise-free rates.
func TestIsoResponseConverges(t *testing.T) {
	iso := isoExperiment()
	gt := groundTruth(t, iso)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := adaptive.NewScheduler(iso, adaptive.Options{Budget: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	tis, err := adaptivetest.NewTissue(50, 50, 16, 1, 7, nil)
	if err != nil {
		t.Fatal(err)
	}
	const probes = 12
	var cont []adaptive.ContourPoint
	for i := 0; i < 2*len(iso.Directions)*probes; i++ {
		ch, err := s.TakeReady(ctx)
		if err != nil {
			t.Fatal(err)
		}
		counts, _, err := tis.Show(ch)
		if err != nil {
			t.Fatal(err)
		}
		s.Observe(adaptive.Observation{Seq: ch.Seq, Cells: tis.Cells(), Counts: counts})
	}
	if err := s.Inspect(ctx, func(st adaptive.Strategy) { cont = st.(*adaptive.IsoResponse).Contour() }); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var sum, worst float64
	for k, p := range cont {
		e := math.Abs(p.Contrast/gt[k] - 1)
		sum += e
		worst = math.Max(worst, e)
		t.Logf("direction %d (orientation %g°, period %g px): %d probes, contrast %.4f, truth %.4f, error %.1f%%", k, p.Direction.Orientation, p.Direction.Period, p.Probes, p.Contrast, gt[k], 100*e)
		if p.Probes != probes {
			t.Errorf("direction %d: %d probes observed, want %d", k, p.Probes, probes)
		}
	}
	type dir struct {
		Orientation, Period, Truth, Estimate float64
		Probes                               []adaptive.Probe
	}
	var dirs []dir
	for k, p := range cont {
		// Run has returned: the strategy is ours to read.
		dirs = append(dirs, dir{p.Direction.Orientation, p.Direction.Period, gt[k], p.Contrast, iso.Probes(k)})
	}
	writePlotData(t, "isoresponse.json", map[string]any{"target": iso.Target, "directions": dirs})
	mean := sum / float64(len(cont))
	t.Logf("iso-response contour error: mean %.1f%%, worst %.1f%%", 100*mean, 100*worst)
	if worst > 0.25 || mean > 0.10 {
		t.Errorf("contour error mean %.1f%%, worst %.1f%%: want within 10%% and 25%%", 100*mean, 100*worst)
	}
}

// writePlotData writes v as JSON into the folder $RETINAD_ADAPTIVE_PLOT, when set: the data of
// docs/adaptive.png (docs/adaptive_plot.py draws it).
func writePlotData(t *testing.T, name string, v any) {
	dir := os.Getenv("RETINAD_ADAPTIVE_PLOT")
	if dir == "" {
		return
	}
	b, err := json.MarshalIndent(v, "", " ")
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, name), b, 0o644)
	}
	if err != nil {
		t.Error(err)
	}
}
