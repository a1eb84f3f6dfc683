package rig

import (
	"log/slog"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"retinad/configs"
	"retinad/infer"
	"retinad/infer/enginetest"
	"retinad/internal/testwait"
)

// TestModelThreads: models[].threads reaches the engine: a model configured with 3 threads
// steps with two helper goroutines of its own, and predicts what one thread predicts.
func TestModelThreads(t *testing.T) {
	file := filepath.Join(enginetest.TestdataDir(), "bncnn_small.retinad")
	m, err := infer.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	cfg := configs.Default()
	cfg.Stimulus.Height, cfg.Stimulus.Width = m.Input.Height, m.Input.Width
	cfg.Models = []configs.Model{{Name: "one", File: file}, {Name: "three", File: file, Threads: 3}}
	const pool = "retinad/infer.startPool"
	testwait.Must(t, 10*time.Second, "earlier tests' engines' pool helpers to end", func() bool {
		runtime.GC() // an engine dropped without Close ends its helpers once collected
		return testwait.Started(pool) == 0
	})
	models, err := loadModels(&cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if n := testwait.Started(pool); n != 2 {
		t.Errorf("%d pool helpers started by loading, want 2 (the 3-thread model's)", n)
	}
	frames := enginetest.Frames(m, m.Input.History+5, 7)
	one, three := make([]float32, len(m.Cells)), make([]float32, len(m.Cells))
	for i, f := range frames {
		if err := models[0].Engine.Step(f, one); err != nil {
			t.Fatal(err)
		}
		if err := models[1].Engine.Step(f, three); err != nil {
			t.Fatal(err)
		}
		if i >= m.Input.History-1 {
			if err := enginetest.Check(three, one, "3 threads against 1"); err != nil {
				t.Fatal(err)
			}
		}
	}
}
