package daemon

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"retinad/internal/cpus"
	"retinad/internal/cpus/cpustest"
)

// threadEngine records the thread of its first step and the cores that thread may use.
type threadEngine struct {
	sumEngine
	tid atomic.Int64
}

func (e *threadEngine) Step(frame, rates []float32) error {
	if e.tid.Load() == 0 {
		e.tid.Store(int64(cpus.CurrentThread()))
	}
	return e.sumEngine.Step(frame, rates)
}

// threadPresenter, once the engine has stepped, records the frame loop's thread and the cores
// every thread of the process may use, as the kernel has them then (sched_getaffinity), and
// ends the run.
type threadPresenter struct {
	eng    *threadEngine
	cancel context.CancelFunc
	once   sync.Once
	loop   int
	cores  map[int][]int // thread: its cores
	err    error
}

func (p *threadPresenter) Present([]float32) (Flip, error) {
	if p.eng.tid.Load() != 0 {
		p.once.Do(func() {
			p.loop = cpus.CurrentThread()
			p.cores = map[int][]int{}
			tids, err := cpus.Threads()
			p.err = err
			for _, tid := range tids {
				if c, err := cpus.Allowed(tid); err == nil { // else the thread has ended
					p.cores[tid] = c
				}
			}
			p.cancel()
		})
	}
	return Flip{}, nil
}

// TestPinnedCores runs the daemon with the frame loop pinned, then with a model pinned, and
// reads where every thread may run while it runs: the pinned thread (the frame loop's, the
// model goroutine's) on its core alone, every other thread of the process off it; once Run
// has returned, every thread may use every core again.
func TestPinnedCores(t *testing.T) {
	core, avail := cpustest.LastCore(t)
	for _, frameLoop := range []bool{true, false} {
		eng := &threadEngine{}
		m := Model{Name: "m", Engine: eng, CellIDs: []int32{1, 2}, BinRate: 100}
		parts := Parts{Rig: "a", Session: "s", Source: &constSource{}, Bus: &nopBus{}, FrameRate: 100, Height: 4, Width: 4}
		if frameLoop {
			parts.FrameLoopCPU = &core
		} else {
			m.CPUs = []int{core}
		}
		parts.Models = []Model{m}
		ctx, cancel := context.WithCancel(context.Background())
		pres := &threadPresenter{eng: eng, cancel: cancel}
		parts.Presenter = pres
		d, err := New(parts)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Run(ctx); err != nil {
			t.Fatal(err)
		}
		if pres.err != nil || pres.cores == nil {
			t.Fatalf("threads not read: %v", pres.err)
		}
		pinned, what := pres.loop, "the frame loop's"
		if !frameLoop {
			pinned, what = int(eng.tid.Load()), "the model's"
		}
		if got := pres.cores[pinned]; !slices.Equal(got, []int{core}) {
			t.Errorf("%s thread %d may run on %v, want core %d alone", what, pinned, got, core)
		}
		for tid, c := range pres.cores {
			if tid != pinned && slices.Contains(c, core) {
				t.Errorf("with %s thread pinned to core %d, thread %d may run on %v", what, core, tid, c)
			}
		}
		tids, err := cpus.Threads()
		if err != nil {
			t.Fatal(err)
		}
		for _, tid := range tids {
			if c, err := cpus.Allowed(tid); err == nil && !slices.Equal(c, avail) {
				t.Errorf("after Run, thread %d may run on %v, want every core %v", tid, c, avail)
			}
		}
	}
}

// TestPinnedCoresRefused: a core assignment that cannot be is Run's error, naming it, before
// anything runs.
func TestPinnedCoresRefused(t *testing.T) {
	avail, err := cpus.Available()
	if err != nil {
		t.Fatal(err)
	}
	one := avail[0]
	for _, c := range []struct {
		frameLoop *int
		model     []int
		want      string
	}{
		{&one, []int{one}, "is named twice"},
		{nil, avail, "would leave none of this process's cores"},
		{nil, []int{cpus.MaxCore}, "core 1023 is not one of this process's cores"},
	} {
		d, err := New(Parts{Rig: "a", Session: "s", Source: &constSource{}, Presenter: &clockPresenter{}, Bus: &nopBus{}, FrameRate: 100, Height: 4, Width: 4,
			FrameLoopCPU: c.frameLoop, Models: []Model{{Name: "m", Engine: sumEngine{}, CellIDs: []int32{1}, BinRate: 100, CPUs: c.model}}})
		if err != nil {
			t.Fatal(err)
		}
		err = d.Run(context.Background())
		if err == nil || !strings.HasPrefix(err.Error(), "daemon: cpus: cpus.frame_loop and models[].cpus: ") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("frame loop %v, model %v: %v, want an error saying %s", c.frameLoop, c.model, err, c.want)
		}
	}
}
