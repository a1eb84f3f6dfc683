package scoring

import (
	"context"
	"syscall"
	"testing"
	"time"

	"gorgonia.org/tensor"

	"retinad/infer"
	"retinad/stimulus"
	"retinad/stimulus/adaptive"
)

// The paper-size BN-CNN (40 frames of 50x50, 8@15x15, 8@11x11, 16 cells) on candidates of 1 s
// (100 frames at 100 Hz) of binary white noise, each from its own seed, 39 frames of history
// before it. This machine is shared, so each benchmark runs its contenders in turn within
// every iteration, and the ratios between them are what to quote.
func paperModel(b *testing.B) []Model {
	m, err := LoadModel("cnn", "../../infer/testdata/bncnn_paper.retinad")
	if err != nil {
		b.Fatal(err)
	}
	return []Model{m}
}

func candidates(n int) []adaptive.Clip {
	cs := make([]adaptive.Clip, n)
	for i := range cs {
		cs[i] = adaptive.Clip{Stimulus: whiteNoise(uint64(1000 + i)), Start: 500, Frames: 100}
	}
	return cs
}

// contender is one way of scoring a batch, timed across a benchmark's iterations.
type contender struct {
	name    string
	predict func(clips []adaptive.Clip) error
	elapsed time.Duration
	cpu     time.Duration // CPU time of this process (workers, server and pool included)
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// race runs every contender once per iteration, in turn, and reports each one's clips/s, its
// ratio to the first, and the CPU time it spent per clip (what it would cost on cores of its
// own when other jobs hold this machine's).
func race(b *testing.B, clips []adaptive.Clip, cs []*contender) {
	for _, c := range cs { // warm up: engines made, sources cached, workers found
		if err := c.predict(clips); err != nil {
			b.Fatal(err)
		}
	}
	n := 0
	for b.Loop() {
		for _, c := range cs {
			t, cpu := time.Now(), cpuTime()
			if err := c.predict(clips); err != nil {
				b.Fatal(err)
			}
			c.elapsed += time.Since(t)
			c.cpu += cpuTime() - cpu
		}
		n++
	}
	for _, c := range cs {
		rate := float64(n*len(clips)) / c.elapsed.Seconds()
		b.ReportMetric(rate, c.name+"-clips/s")
		b.ReportMetric(c.cpu.Seconds()*1e3/float64(n*len(clips)), c.name+"-cpu-ms/clip")
		if c != cs[0] {
			b.ReportMetric(cs[0].elapsed.Seconds()/c.elapsed.Seconds(), c.name+"/"+cs[0].name)
		}
	}
}

// BenchmarkClip compares the two ways to run one clip on one core: the streaming engines
// reused from clip to clip (Local, the scorer), and the batch engine (infer.Predict on the
// clip's 139 frames), which makes a fresh streaming engine, kernel spectra included, per call.
func BenchmarkClip(b *testing.B) {
	models := paperModel(b)
	clips := candidates(1)
	local, err := NewLocal(models, 1)
	if err != nil {
		b.Fatal(err)
	}
	m := models[0].Model
	H, hw := m.Input.History, 50*50
	T := clips[0].Frames + H - 1
	race(b, clips, []*contender{
		{name: "predict", predict: func(cs []adaptive.Clip) error {
			src, err := stimulus.New(cs[0].Stimulus)
			if err != nil {
				return err
			}
			movie := make([]float32, T*hw)
			for k := range T {
				src.Frame(cs[0].Start-H+1+k, movie[k*hw:(k+1)*hw])
			}
			stim := tensor.New(tensor.WithShape(T, 50, 50), tensor.WithBacking(movie))
			_, err = infer.Predict(context.Background(), m, stim, infer.BatchOptions{Workers: 1})
			return err
		}},
		{name: "scorer", predict: func(cs []adaptive.Clip) error {
			_, err := local.Predict(context.Background(), cs)
			return err
		}},
	})
}

// BenchmarkCandidates scores batches of 8 candidates: on one core, on both of this machine's,
// and on two `retinad worker`s of one core each reached over loopback TCP through the
// embedded NATS server (the pool scoring nothing itself). This machine has two cores, so the
// two workers share them with the server and the pool: the figure is what two workers on two
// cores give, not what two machines would.
func BenchmarkCandidates(b *testing.B) {
	models := paperModel(b)
	const batch = 8
	clips := candidates(batch)
	one, err := NewLocal(models, 1)
	if err != nil {
		b.Fatal(err)
	}
	two, _ := NewLocal(models, 2)
	url := startServer(b)
	w1 := startWorker(b, url, "w1", models, 1, nil)
	w2 := startWorker(b, url, "w2", models, 1, nil)
	pool := NewPool(connect(b, url, "daemon"), one, PoolOptions{Local: -1, Timeout: time.Minute, Probe: time.Second, Rediscover: time.Hour, DiscoverWait: discoverWait})
	with := func(p adaptive.Predictor) func([]adaptive.Clip) error {
		return func(cs []adaptive.Clip) error { _, err := p.Predict(context.Background(), cs); return err }
	}
	race(b, clips, []*contender{
		{name: "1core", predict: with(one)},
		{name: "2cores", predict: with(two)},
		{name: "2workers", predict: with(pool)},
	})
	if st := pool.Stats(); st.Local != 0 || w1.Served() == 0 || w2.Served() == 0 {
		b.Fatalf("stats %+v, served %d and %d: want every clip scored by both workers", st, w1.Served(), w2.Served())
	}
}
