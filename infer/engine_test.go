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
