package infer_test

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"retinad/infer"
	"retinad/infer/enginetest"
	"retinad/infer/infertest"
)

// TestReference holds the reference engine to what does not come from itself: PyTorch's rates
// on the golden fixtures (CNNs and the LN), a GLM's rates worked out by hand from the formula
// of the package documentation, and its Poisson samples. (enginetest.Run would compare it with
// itself.)
func TestReference(t *testing.T) {
	newRef := func(m *infer.Model, opt infer.Options) (enginetest.Engine, error) { return infer.NewReference(m, opt) }
	t.Run("golden", func(t *testing.T) { enginetest.Golden(t, newRef) })
	t.Run("glm-by-hand", func(t *testing.T) { glmByHand(t, newRef) })
	t.Run("poisson", func(t *testing.T) { poissonSamples(t, newRef) })
}

// glmByHand: two cells on a 1x1 screen, a window of 2 frames, history and coupling filters of
// 2 bins, observed counts; each rate is exp(eta) spikes per bin times 100 bins/s, with eta
// summed by hand in the comments.
func glmByHand(t *testing.T, newEngine enginetest.New) {
	in := infer.Input{History: 2, Height: 1, Width: 1, FrameRate: 100, Mean: 0, Std: 1}
	m, err := infer.NewGLM(in, []int64{10, 11},
		[]float32{0.1, 0.2, -0.3, 0.4}, // stimulus filter [cell][oldest, newest]
		[]float32{-1, 0.5}, 2,
		[]float32{0.5, -0.25, 0.1, 0.2},          // history [cell][j]
		[]float32{0, 0, 0.3, 0, -0.2, 0.1, 0, 0}, // coupling [cell][from][j]
		100)
	if err != nil {
		t.Fatal(err)
	}
	e, err := newEngine(m, infer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	frames := []float32{1, 2, -1, 0.5}
	observed := [][]float32{nil, {2, 1}, {0, 3}, nil}
	want := [][]float64{nil,
		{-1 + 0.1*1 + 0.2*2, 0.5 - 0.3*1 + 0.4*2},                                                                // no history yet: -0.5, 1.0
		{-1 + 0.1*2 + 0.2*-1 + 0.5*2 + 0.3*1, 0.5 - 0.3*2 + 0.4*-1 + 0.1*1 - 0.2*2},                              // n(t-1) = {2, 1}: 0.3, -0.8
		{-1 + 0.1*-1 + 0.2*0.5 + 0.5*0 + 0.3*3 - 0.25*2, 0.5 - 0.3*-1 + 0.4*0.5 + 0.1*3 + 0.2*1 - 0.2*0 + 0.1*2}, // n(t-1) = {0, 3}, n(t-2) = {2, 1}: -0.6, 1.7
	}
	rates := make([]float32, 2)
	for i, f := range frames {
		full := e.Step([]float32{f}, rates)
		if full != (want[i] != nil) {
			t.Fatalf("step %d: full history %v", i, full)
		}
		for c, eta := range want[i] {
			if r := 100 * math.Exp(eta); !enginetest.Close(float64(rates[c]), r) {
				t.Errorf("step %d, cell %d: rate %v, by hand 100 exp(%.2f) = %v", i, c, rates[c], eta, r)
			}
			if n := math.Exp(eta); !enginetest.Close(float64(e.Counts()[c]), n) {
				t.Errorf("step %d, cell %d: mean count %v, by hand %v", i, c, e.Counts()[c], n)
			}
		}
		if observed[i] != nil {
			e.Observe(observed[i])
		}
	}
}

// poissonSamples: a GLM without history on a constant frame has a constant rate; in stochastic
// mode its counts are whole numbers with the Poisson mean and variance (rate / frame rate),
// within 5 standard errors over 4000 bins, and a Reset replays the same samples.
func poissonSamples(t *testing.T, newEngine enginetest.New) {
	in := infer.Input{History: 1, Height: 1, Width: 1, FrameRate: 100, Mean: 0, Std: 1}
	m, err := infer.NewGLM(in, []int64{1}, []float32{0.5}, []float32{0}, 0, nil, nil, 100) // exp(0.5) spikes a bin
	if err != nil {
		t.Fatal(err)
	}
	e, err := newEngine(m, infer.Options{Stochastic: true, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	const bins = 4000
	lambda := math.Exp(0.5)
	rates := make([]float32, 1)
	draw := func() []float32 {
		out := make([]float32, bins)
		for i := range out {
			e.Step([]float32{1}, rates)
			out[i] = e.Counts()[0]
		}
		return out
	}
	counts := draw()
	var sum, sq float64
	for i, n := range counts {
		if n < 0 || n != float32(math.Trunc(float64(n))) {
			t.Fatalf("bin %d: count %v is not a whole number of spikes", i, n)
		}
		sum += float64(n)
		sq += float64(n) * float64(n)
	}
	mean := sum / bins
	variance := sq/bins - mean*mean
	if se := math.Sqrt(lambda / bins); math.Abs(mean-lambda) > 5*se {
		t.Errorf("mean count %.4f, want Poisson mean %.4f (standard error %.4f)", mean, lambda, se)
	}
	if math.Abs(variance-lambda) > 0.1*lambda {
		t.Errorf("count variance %.4f, want the Poisson mean %.4f within 10%%", variance, lambda)
	}
	e.Reset()
	if again := draw(); !slices.Equal(again, counts) {
		t.Error("after Reset the same seed drew other samples")
	}
}

func TestStream(t *testing.T) {
	enginetest.Run(t, func(m *infer.Model, opt infer.Options) (enginetest.Engine, error) {
		return infer.NewStream(m, opt)
	})
}

// TestStreamThreads is the suite with a step split across a pool of two and of three cores
// (three is more than the groups of four channels some layers have: a core with no share).
func TestStreamThreads(t *testing.T) {
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			enginetest.Run(t, func(m *infer.Model, opt infer.Options) (enginetest.Engine, error) {
				opt.Threads = n
				s, err := infer.NewStream(m, opt)
				if err == nil {
					t.Cleanup(s.Close)
				}
				return s, err
			})
		})
	}
}

func TestStreamStepAllocatesNothing(t *testing.T) {
	for name, m := range enginetest.Models() {
		for _, opt := range []infer.Options{{}, {Stochastic: true, Seed: 1}, {Threads: 2}} {
			s, err := infer.NewStream(m, opt)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			frames := enginetest.Frames(m, m.Input.History+3, 1)
			rates := make([]float32, len(m.Cells))
			i := 0
			step := func() {
				s.Step(frames[i%len(frames)], rates)
				s.Observe(s.Counts())
				i++
			}
			for range m.Input.History {
				step()
			}
			if a := testing.AllocsPerRun(50, step); a != 0 {
				t.Errorf("%s %+v: %v allocations per Step, want 0", name, opt, a)
			}
			// The daemon resets an engine on its frame path, where a session starts.
			if a := testing.AllocsPerRun(20, func() { s.Reset(); step() }); a != 0 {
				t.Errorf("%s %+v: %v allocations per Reset and Step, want 0", name, opt, a)
			}
		}
	}
	_ = infertest.Small
}

// TestRecurrentStateCarried shows that a convgru model's rates depend on the steps before the
// window (its state is carried), and that Reset forgets them: the same last History frames
// give different rates after a long run than after a Reset, and equal rates after two Resets.
func TestRecurrentStateCarried(t *testing.T) {
	m := infertest.RecurrentCNN(10, infertest.Small, 2, 3)
	s, err := infer.NewStream(m, infer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	frames := enginetest.Frames(m, 60, 3)
	window := frames[len(frames)-m.Input.History:]
	run := func(fs [][]float32) []float32 {
		rates := make([]float32, len(m.Cells))
		for _, f := range fs {
			s.Step(f, rates)
		}
		return rates
	}
	long := run(frames)
	s.Reset()
	fresh := run(window)
	s.Reset()
	again := run(window)
	if err := enginetest.Check(again, fresh, "after Reset"); err != nil {
		t.Error(err)
	}
	if enginetest.Check(long, fresh, "") == nil {
		t.Errorf("rates after 60 steps %v equal those after a Reset and %d steps %v: the state is not carried", long, m.Input.History, fresh)
	}
}
