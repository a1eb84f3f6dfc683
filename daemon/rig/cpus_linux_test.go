package rig

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"retinad/configs"
	"retinad/infer/enginetest"
	"retinad/internal/cpus"
	"retinad/internal/testenv"
	"retinad/internal/testwait"
)

// TestModelCPUs: models[].cpus reaches the daemon (Model.CPUs, which its goroutine is pinned
// by) and the engine: the helper of a model of two threads runs on the second core alone once
// loaded, and is given back to the runtime when the engine is closed.
func TestModelCPUs(t *testing.T) {
	avail, err := cpus.Available()
	if err != nil {
		t.Fatal(err)
	}
	if len(avail) < 2 {
		testenv.Missing(t, "a second core", os.ErrNotExist)
	}
	a, b := avail[0], avail[len(avail)-1]
	file := filepath.Join(enginetest.TestdataDir(), "bncnn_small.retinad")
	cfg := configs.Default()
	cfg.Stimulus.Height, cfg.Stimulus.Width = 20, 20
	cfg.Models = []configs.Model{{Name: "two", File: file, Threads: 2, CPUs: []int{a, b}}}
	on := func(core int) (n int) {
		tids, err := cpus.Threads()
		if err != nil {
			t.Fatal(err)
		}
		for _, tid := range tids {
			if c, err := cpus.Allowed(tid); err == nil && slices.Equal(c, []int{core}) {
				n++
			}
		}
		return n
	}
	before := on(b)
	models, err := loadModels(&cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if got := models[0].CPUs; !slices.Equal(got, []int{a, b}) {
		t.Errorf("Model.CPUs %v, want %v", got, []int{a, b})
	}
	if n := on(b); n != before+1 {
		t.Errorf("%d threads on core %d alone after loading, %d before: want the helper's", n, b, before)
	}
	models[0].Engine.(interface{ Close() }).Close()
	testwait.Must(t, 10*time.Second, "the helper's thread to leave its core after Close", func() bool { return on(b) == before })
}
