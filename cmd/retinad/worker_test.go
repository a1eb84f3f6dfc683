package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"retinad/configs"
	"retinad/daemon/scoring"
	"retinad/internal/testwait"
	"retinad/stimulus/adaptive"
)

// TestWorkerCommand runs `retinad worker` against a real server, has it score a clip through
// the queue group, and stops it as Ctrl-C would.
func TestWorkerCommand(t *testing.T) {
	b, _ := startTestBus(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- runMain(ctx, []string{"worker", "--nats", b.ClientURL(), "--model", "cnn=../../models/bncnn.rtm", "--model", "../../models/ln.rtm", "--cores", "1", "--name", "cmdtest", "--identity", "w7"}, &out, &errb)
	}()
	var models []scoring.Model
	for _, a := range [][2]string{{"cnn", "../../models/bncnn.rtm"}, {"ln", "../../models/ln.rtm"}} {
		m, err := scoring.LoadModel(a[0], a[1])
		if err != nil {
			t.Fatal(err)
		}
		models = append(models, m)
	}
	clips := []adaptive.Clip{{Stimulus: configs.Stimulus{Kind: "whitenoise", FrameRate: 100, Height: 50, Width: 50, Seed: 3,
		WhiteNoise: configs.WhiteNoise{Distribution: "gaussian", Checker: 2, Contrast: 0.3}}, Start: 4, Frames: 20}}
	local, err := scoring.NewLocal(models, 1)
	if err != nil {
		t.Fatal(err)
	}
	want, err := local.Predict(ctx, clips)
	if err != nil {
		t.Fatal(err)
	}
	var got [][]adaptive.Rates
	if !testwait.Until(20*time.Second, func() bool {
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
		defer rcancel()
		got, err = scoring.Call(rctx, b.Conn(), scoring.DefaultPrefix+".score", models, clips)
		return err == nil
	}) {
		t.Fatalf("no answer from the worker: %v; its log: %s", err, errb.String())
	}
	for k := range want[0] {
		for j, v := range want[0][k].Rates {
			if got[0][k].Rates[j] != v {
				t.Fatalf("model %s rate %d: worker %v, local %v", want[0][k].Model, j, got[0][k].Rates[j], v)
			}
		}
	}
	// Its direct subject carries the identity it was given (by which a daemon excludes it).
	if _, err := scoring.Call(ctx, b.Conn(), scoring.DefaultPrefix+".w7.score", models, clips); err != nil {
		t.Fatalf("direct subject with --identity w7: %v", err)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("worker exit %d after Ctrl-C: %s", code, errb.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("worker still running 15 s after Ctrl-C")
	}
	if log := errb.String(); !strings.Contains(log, "worker ready") || !strings.Contains(log, "served=2") {
		t.Fatalf("worker log: %s", log)
	}
	if code := runMain(context.Background(), []string{"worker", "--nats", b.ClientURL()}, &out, &errb); code != 2 {
		t.Fatalf("worker without --model: exit %d, want 2", code)
	}
	errb.Reset()
	if code := runMain(context.Background(), []string{"worker", "--nats", b.ClientURL(), "--model", "../../models/ln.rtm", "--user", "w7"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "--password") {
		t.Fatalf("worker --user without --password: exit %d, want 2 and a word about --password: %s", code, errb.String())
	}
}
