package ortpeer

import (
	"errors"
	"os"
	"slices"
	"testing"

	"retinad/infer"
	"retinad/infer/onnx"
	"retinad/internal/cpus"
	"retinad/internal/testenv"
)

// TestSessionRunsOnCallersThread: a session (one intra-op and one inter-op thread) and its
// runs, on a pinned thread, start no thread of their own: Run computes on the calling thread,
// so that `retinad bench --cpu N` times ONNX Runtime on the pinned core too. A thread ONNX
// Runtime started from the pinned thread would inherit its one core; the Go runtime's threads
// started meanwhile (sysmon hands a P on while Run is in C) have the process's cores and are
// not counted. (Initialising the runtime does start one thread, from the calling thread,
// inheriting its cores: bench initialises it before it pins.)
func TestSessionRunsOnCallersThread(t *testing.T) {
	if _, err := Version(); errors.Is(err, ErrUnavailable) {
		testenv.Missing(t, "ONNX Runtime (scripts/setup)", err)
	} else if err != nil {
		t.Fatal(err)
	}
	m, err := infer.Load("../../testdata/bncnn_small.retinad")
	if err != nil {
		t.Fatal(err)
	}
	g, err := onnx.ExportGraph(m)
	if err != nil {
		t.Fatal(err)
	}
	avail, err := cpus.Available()
	if err != nil {
		t.Fatal(err)
	}
	if len(avail) < 2 {
		testenv.Missing(t, "a second core (to tell a pinned thread's from the process's)", os.ErrNotExist)
	}
	core := avail[len(avail)-1]
	in := m.Input
	done := make(chan struct{})
	go func() {
		defer close(done)
		unpin, err := cpus.Pin(core)
		if err != nil {
			t.Error(err)
			return
		}
		defer unpin()
		before, err := cpus.Threads()
		if err != nil {
			t.Error(err)
			return
		}
		s, err := NewSession(onnx.Marshal(g),
			[]Input{{Name: "stimulus", Data: make([]float32, in.History*in.Height*in.Width), Shape: []int64{1, int64(in.History), int64(in.Height), int64(in.Width)}}},
			[]Output{{Name: "rates", Shape: []int64{1, int64(len(m.Cells))}}})
		if err != nil {
			t.Error(err)
			return
		}
		defer s.Close()
		for range 20 {
			if err := s.Run(); err != nil {
				t.Error(err)
				return
			}
		}
		after, err := cpus.Threads()
		if err != nil {
			t.Error(err)
			return
		}
		for _, tid := range after {
			if got, err := cpus.Allowed(tid); err == nil && !slices.Contains(before, tid) && slices.Equal(got, []int{core}) {
				t.Errorf("thread %d, on core %d alone, started by a session or its runs", tid, core)
			}
		}
	}()
	<-done
}
