package infer_test

import (
	"fmt"
	"testing"

	"retinad/infer"
	"retinad/infer/enginetest"
	"retinad/infer/infertest"
)

func TestReference(t *testing.T) {
	enginetest.Run(t, func(m *infer.Model, opt infer.Options) (enginetest.Engine, error) {
		return infer.NewReference(m, opt)
	})
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
