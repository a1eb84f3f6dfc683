package scoring

import (
	"context"
	"testing"
	"time"

	"gorgonia.org/tensor"

	"retinad/infer"
	"retinad/stimulus"
	"retinad/stimulus/adaptive"
)

// The paper-size BN-CNN (40 frames of 50x50, 8@15x15, 8@11x11, 16 cells) on candidates of 1 s
// (100 frames at 100 Hz) of binary white noise, each from its own seed, 39 frames of history
// before it.
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

func reportClips(b *testing.B, clips int) {
	b.ReportMetric(float64(b.N*clips)/b.Elapsed().Seconds(), "clips/s")
}

// BenchmarkClip compares the two ways to run one clip on one core: the streaming engines
// reused from clip to clip (Local), and the batch engine (infer.Predict on the clip's 139
// frames), which makes a fresh streaming engine, kernel spectra included, per call.
func BenchmarkClip(b *testing.B) {
	models := paperModel(b)
	clip := candidates(1)
	b.Run("local-stream-reused", func(b *testing.B) {
		local, err := NewLocal(models, 1)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := local.Predict(context.Background(), clip); err != nil {
				b.Fatal(err)
			}
		}
		reportClips(b, 1)
	})
	b.Run("infer.Predict", func(b *testing.B) {
		m := models[0].Model
		H, hw := m.Input.History, 50*50
		T := clip[0].Frames + H - 1
		b.ReportAllocs()
		for b.Loop() {
			src, err := stimulus.New(clip[0].Stimulus)
			if err != nil {
				b.Fatal(err)
			}
			movie := make([]float32, T*hw)
			for k := range T {
				src.Frame(clip[0].Start-H+1+k, movie[k*hw:(k+1)*hw])
			}
			stim := tensor.New(tensor.WithShape(T, 50, 50), tensor.WithBacking(movie))
			if _, err := infer.Predict(context.Background(), m, stim, infer.BatchOptions{Workers: 1}); err != nil {
				b.Fatal(err)
			}
		}
		reportClips(b, 1)
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
	run := func(b *testing.B, p adaptive.Predictor) {
		if _, err := p.Predict(context.Background(), clips); err != nil { // warm up engines and sources
			b.Fatal(err)
		}
		b.ResetTimer()
		for b.Loop() {
			if _, err := p.Predict(context.Background(), clips); err != nil {
				b.Fatal(err)
			}
		}
		reportClips(b, batch)
	}
	for _, cores := range []int{1, 2} {
		name := map[int]string{1: "local-1core", 2: "local-2cores"}[cores]
		b.Run(name, func(b *testing.B) {
			local, err := NewLocal(models, cores)
			if err != nil {
				b.Fatal(err)
			}
			run(b, local)
		})
	}
	b.Run("2workers-1core-each", func(b *testing.B) {
		url := startServer(b)
		w1 := startWorker(b, url, "w1", models, 1, nil)
		w2 := startWorker(b, url, "w2", models, 1, nil)
		local, _ := NewLocal(models, 1)
		pool := NewPool(connect(b, url, "daemon"), local, PoolOptions{Local: -1, Timeout: time.Minute, Rediscover: time.Hour, DiscoverWait: 200 * time.Millisecond})
		run(b, pool)
		if st := pool.Stats(); st.Local != 0 || w1.Served() == 0 || w2.Served() == 0 {
			b.Fatalf("stats %+v, served %d and %d: want every clip scored by both workers", st, w1.Served(), w2.Served())
		}
	})
}
