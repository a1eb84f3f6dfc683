// Package enginetest is the test suite every engine of package infer passes, written once
// against the Engine interface and run from each engine's tests (as gonum's testlapack). It
// holds engines to the plain reference engine on random models of every kind, and to the
// PyTorch golden fixtures in infer/testdata. Called from tests only.
package enginetest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"retinad/infer"
	"retinad/infer/infertest"
)

// Engine is what the suite drives: infer.Stream and infer.Reference satisfy it.
type Engine interface {
	Step(frame, rates []float32) bool
	Counts() []float32
	Observe(counts []float32)
	Reset()
}

// New makes an engine for a model.
type New func(m *infer.Model, opt infer.Options) (Engine, error)

// Tolerances: an engine matches within Abs + Rel*|want| (spikes/s).
const (
	Rel = 1e-4
	Abs = 1e-5
)

// Models are the random models the suite runs, by name.
func Models() map[string]*infer.Model {
	return map[string]*infer.Model{
		"cnn":          infertest.CNN(1, infertest.Small),
		"cnn-exp":      infertest.CNNVariant(2, infertest.Small, infer.Exp),
		"cnn-sigmoid":  infertest.CNNVariant(3, infertest.Small, infer.Sigmoid),
		"cnn-softplus": infertest.CNNVariant(4, infertest.Small, infer.Softplus),
		"cnn-odd":      infertest.CNN(5, infertest.Size{History: 4, Height: 13, Width: 11, C1: 2, C2: 3, K1: 4, K2: 3, Cells: 2}),
		"cnn-1x1":      infertest.CNN(9, infertest.Size{History: 4, Height: 12, Width: 12, C1: 3, C2: 2, K1: 5, K2: 1, Cells: 2}), // its second layer direct
		"cnn-gru":      infertest.RecurrentCNN(10, infertest.Small, 2, 3),
		"cnn-gru-k5":   infertest.RecurrentCNN(11, infertest.Size{History: 3, Height: 12, Width: 10, C1: 2, C2: 3, K1: 3, K2: 3, Cells: 2}, 3, 5),
		"ln":           infertest.LNModel(6, infertest.Small),
		"glm":          infertest.GLMModel(7, infertest.Small, false),
		"glm-coupled":  infertest.GLMModel(8, infertest.Small, true),
	}
}

// Frames returns T random frames for m: white noise around the model's mean.
func Frames(m *infer.Model, T int, seed uint64) [][]float32 {
	r := rand.New(rand.NewPCG(seed, 9))
	in := m.Input
	out := make([][]float32, T)
	for t := range out {
		f := make([]float32, in.Height*in.Width)
		for i := range f {
			f[i] = float32(in.Mean + in.Std*r.NormFloat64())
		}
		out[t] = f
	}
	return out
}

// Close reports whether got is within the suite's tolerance of want.
func Close(got, want float64) bool {
	return math.Abs(got-want) <= Abs+Rel*math.Abs(want)
}

// Run runs the whole suite against engines made by newEngine.
func Run(t *testing.T, newEngine New) {
	for name, m := range Models() {
		t.Run(name, func(t *testing.T) {
			t.Run("deterministic", func(t *testing.T) { matchReference(t, newEngine, m, infer.Options{}, nil, 12) })
			t.Run("stochastic", func(t *testing.T) {
				matchReference(t, newEngine, m, infer.Options{Stochastic: true, Seed: 42}, nil, 12)
			})
			if m.Kind == infer.GLM {
				t.Run("observed", func(t *testing.T) {
					r := rand.New(rand.NewPCG(3, 3))
					matchReference(t, newEngine, m, infer.Options{}, func(int) []float32 {
						c := make([]float32, len(m.Cells))
						for i := range c {
							c[i] = float32(r.IntN(3))
						}
						return c
					}, 12)
				})
			}
		})
	}
	// A carried state drifts if an engine's float32 update is off: a small recurrent model long.
	t.Run("recurrent-long", func(t *testing.T) {
		m := infertest.RecurrentCNN(13, infertest.Size{History: 2, Height: 9, Width: 8, C1: 2, C2: 2, K1: 3, K2: 3, Cells: 2}, 2, 3)
		matchReference(t, newEngine, m, infer.Options{}, nil, LongSteps)
	})
	t.Run("golden", func(t *testing.T) { Golden(t, newEngine) })
}

// LongSteps is how many steps past a full history the suite runs recurrent models.
const LongSteps = 2000

// matchReference steps the engine and the reference through the same frames, History-1 and
// then steps more (twice, with a Reset between), and compares every rate and count.
func matchReference(t *testing.T, newEngine New, m *infer.Model, opt infer.Options, observe func(t int) []float32, steps int) {
	e, err := newEngine(m, opt)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := infer.NewReference(m, opt)
	if err != nil {
		t.Fatal(err)
	}
	frames := Frames(m, m.Input.History+steps, 5)
	got, want := make([]float32, len(m.Cells)), make([]float32, len(m.Cells))
	for pass := 0; pass < 2; pass++ {
		var obs func(int) []float32
		if observe != nil {
			obs = observe
		}
		for i, f := range frames {
			gok, wok := e.Step(f, got), ref.Step(f, want)
			if gok != wok {
				t.Fatalf("pass %d, frame %d: engine says full history %v, reference %v", pass, i, gok, wok)
			}
			if !gok {
				continue
			}
			for c := range want {
				if !Close(float64(got[c]), float64(want[c])) {
					t.Fatalf("pass %d, frame %d, cell %d: rate %v, reference %v", pass, i, c, got[c], want[c])
				}
			}
			gc, wc := e.Counts(), ref.Counts()
			for c := range wc {
				if opt.Stochastic {
					// Samples are integers; a rate differing in its last bits may very rarely move one.
					if gc[c] != wc[c] && math.Abs(float64(gc[c]-wc[c])) > 1 {
						t.Fatalf("pass %d, frame %d, cell %d: sampled %v, reference %v", pass, i, c, gc[c], wc[c])
					}
				} else if !Close(float64(gc[c]), float64(wc[c])) {
					t.Fatalf("pass %d, frame %d, cell %d: count %v, reference %v", pass, i, c, gc[c], wc[c])
				}
			}
			if obs != nil {
				o := obs(i)
				e.Observe(o)
				ref.Observe(o)
			}
		}
		e.Reset()
		ref.Reset()
	}
}

// Check returns an error naming the first rate outside the tolerance.
func Check(got, want []float32, what string) error {
	for i := range want {
		if math.IsNaN(float64(want[i])) != math.IsNaN(float64(got[i])) || (!math.IsNaN(float64(want[i])) && !Close(float64(got[i]), float64(want[i]))) {
			return fmt.Errorf("%s: value %d is %v, want %v", what, i, got[i], want[i])
		}
	}
	return nil
}

func nan() float64 { return math.NaN() }
