package adaptive_test

import (
	"context"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"retinad/configs"
	"retinad/internal/testwait"
	"retinad/stimulus/adaptive"
)

// fakePredictor gives model m on a clip starting at s a constant rate of (s mod 97) * (m+1)
// spikes/s for every cell, after waiting delay.
type fakePredictor struct {
	models []string
	cells  int
	delay  time.Duration
}

func (f *fakePredictor) Models() []string { return f.models }
func (f *fakePredictor) Predict(ctx context.Context, clips []adaptive.Clip) ([][]adaptive.Rates, error) {
	select {
	case <-time.After(f.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	out := make([][]adaptive.Rates, len(clips))
	for i, c := range clips {
		for m, name := range f.models {
			r := make([]float32, c.Frames*f.cells)
			for j := range r {
				r[j] = float32(c.Start%97) * float32(m+1)
			}
			out[i] = append(out[i], adaptive.Rates{Model: name, Cells: f.cells, Rates: r})
		}
	}
	return out, nil
}

func config(strategy string) configs.Adaptive {
	a := configs.DefaultAdaptive()
	a.Strategy = strategy
	a.Clip = configs.Duration(100 * time.Millisecond)
	a.Candidates = 5
	return a
}

func start(t *testing.T, st adaptive.Strategy, o adaptive.Options) (*adaptive.Scheduler, *[]*adaptive.Choice, func()) {
	t.Helper()
	var mu sync.Mutex
	var published []*adaptive.Choice
	o.Publish = func(c *adaptive.Choice) { mu.Lock(); published = append(published, c); mu.Unlock() }
	s, err := adaptive.NewScheduler(st, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	return s, &published, func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		mu.Lock()
		mu.Unlock()
	}
}

// TestMaximizePicksTheStrongestCandidate: with time to score, the choice is the candidate the
// models predict drives the cells hardest, and it is published with its scores.
func TestMaximizePicksTheStrongestCandidate(t *testing.T) {
	pred := &fakePredictor{models: []string{"a", "b"}, cells: 3}
	st, err := adaptive.FromConfig(config("maximize"), configs.Default().Stimulus, pred.Models(), 11)
	if err != nil {
		t.Fatal(err)
	}
	s, published, stop := start(t, st, adaptive.Options{Predictor: pred, Budget: 10 * time.Second, Lead: 11})
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		c, err := s.TakeReady(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if c.Fallback || c.Pick < 0 || len(c.Scores) != 5 || c.Lead != 11 || len(c.Preds) != 2 {
			t.Fatalf("choice %d: %+v", i, c)
		}
		for k, v := range c.Scores {
			if v > c.Scores[c.Pick] {
				t.Errorf("choice %d picked %d (score %g) but candidate %d scores %g", i, c.Pick, c.Scores[c.Pick], k, v)
			}
			// Mean of models a (x1) and b (x2), every cell weight 1.
			if want := 1.5 * float64(c.Candidates[k].Start%97); v != want {
				t.Errorf("candidate %d score %g, want %g", k, v, want)
			}
		}
		if !strings.Contains(c.Why, "drives the target cells hardest") {
			t.Errorf("why: %q", c.Why)
		}
	}
	_ = s.Inspect(ctx, func(adaptive.Strategy) {})
	stop()
	if len(*published) != 3 {
		t.Errorf("%d choices published, want 3", len(*published))
	}
}

// TestSlowScoringFallsBackToTheDefault: a predictor slower than the budget never leaves the
// screen without a clip: Take at once gives the default (marked, with why), and after the
// budget the given-up choice says it missed it.
func TestSlowScoringFallsBackToTheDefault(t *testing.T) {
	pred := &fakePredictor{models: []string{"cnn", "ln"}, cells: 2, delay: time.Hour}
	st, err := adaptive.FromConfig(config("discriminate"), configs.Default().Stimulus, pred.Models(), 11)
	if err != nil {
		t.Fatal(err)
	}
	s, published, stop := start(t, st, adaptive.Options{Predictor: pred, Budget: 50 * time.Millisecond, Lead: 11})
	var c *adaptive.Choice
	testwait.Must(t, 10*time.Second, "the first default choice (Run prepares it at once)", func() bool { c = s.Take(0); return c != nil })
	if !c.Fallback || c.Pick != -1 || c.Clip.Frames != 10 || !strings.Contains(c.Why, "not done when the clip was due") {
		t.Errorf("taken before scoring: %+v", c)
	}
	c2, err := s.TakeReady(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !c2.Fallback || c2.Seq != 1 || !strings.Contains(c2.Why, "missed its budget of 50ms") || len(c2.Candidates) != 5 {
		t.Errorf("after the budget: %+v", c2)
	}
	if c2.Clip != st.Default(1) {
		t.Errorf("fallback clip %+v, want the default %+v", c2.Clip, st.Default(1))
	}
	stop()
	if len(*published) != 2 {
		t.Errorf("%d choices published, want 2", len(*published))
	}
}

// TestSwitchStrategy: a switch applies from the next choice prepared on.
func TestSwitchStrategy(t *testing.T) {
	seq, err := adaptive.FromConfig(config("sequence"), configs.Default().Stimulus, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	s, _, stop := start(t, seq, adaptive.Options{})
	defer stop()
	ctx := context.Background()
	c, _ := s.TakeReady(ctx)
	if c.Strategy != "sequence" || c.Clip.Start != 0 || c.Lead != 0 {
		t.Fatalf("first: %+v", c)
	}
	iso, err := adaptive.FromConfig(config("isoresponse"), configs.Default().Stimulus, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Switch(iso); err != nil {
		t.Fatal(err)
	}
	dis, _ := adaptive.FromConfig(config("discriminate"), configs.Default().Stimulus, []string{"a", "b"}, 11)
	if err := s.Switch(dis); err == nil {
		t.Error("switch to discriminate without a predictor accepted")
	}
	var names []string
	for i := 0; i < 4; i++ {
		c, _ := s.TakeReady(ctx)
		names = append(names, c.Strategy+":"+c.Clip.Stimulus.Kind)
	}
	// The choice queued before the switch is shown as chosen; then rests and probes.
	want := "sequence:natural isoresponse:gray isoresponse:grating isoresponse:gray"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("after the switch: %s, want %s", got, want)
	}
}

func TestFromConfigRefuses(t *testing.T) {
	st := configs.Default().Stimulus
	for _, tc := range []struct {
		cfg    configs.Adaptive
		models []string
		want   string
	}{
		{config("guess"), nil, `strategy "guess"`},
		{config("discriminate"), []string{"cnn"}, "needs two models"},
		{func() configs.Adaptive { a := config("discriminate"); a.Models = []string{"cnn", "glm"}; return a }(), []string{"cnn", "ln"}, `model "glm" is not loaded`},
		{func() configs.Adaptive { a := config("sequence"); a.Clip = 0; return a }(), nil, "shorter than one frame"},
	} {
		if _, err := adaptive.FromConfig(tc.cfg, st, tc.models, 0); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.cfg.Strategy, err, tc.want)
		}
	}
}

// TestUncertaintyPicksTheLargestSpread: three models whose rates on a clip are s, 2s and 3s
// (s = start mod 97): the spread var/mean over the ensemble grows with s, so the pick is the
// candidate with the largest s, and its score is the closed form.
func TestUncertaintyPicksTheLargestSpread(t *testing.T) {
	pred := &fakePredictor{models: []string{"a", "b", "c"}, cells: 2}
	st, err := adaptive.FromConfig(config("uncertainty"), configs.Default().Stimulus, pred.Models(), 11)
	if err != nil {
		t.Fatal(err)
	}
	s, _, stop := start(t, st, adaptive.Options{Predictor: pred, Budget: 10 * time.Second, Lead: 11})
	defer stop()
	c, err := s.TakeReady(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	best := 0
	for k, cand := range c.Candidates {
		if cand.Start%97 > c.Candidates[best].Start%97 {
			best = k
		}
		// λ = m*s*dt for m = 1, 2, 3: mean 2 s dt, variance (2/3) (s dt)^2, var/mean = s dt / 3,
		// per bin and cell: 10 bins x 2 cells.
		sdt := float64(cand.Start%97) * 0.01
		if want := 20 * sdt / 3; sdt > 1e-6 && math.Abs(c.Scores[k]-want) > 1e-4*want {
			t.Errorf("candidate %d: spread %g, want %g", k, c.Scores[k], want)
		}
	}
	if c.Pick != best {
		t.Errorf("picked %d (start %d), want %d (start %d)", c.Pick, c.Candidates[c.Pick].Start, best, c.Candidates[best].Start)
	}
}
