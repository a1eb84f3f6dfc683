package daemon_test

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"retinad/daemon"
	"retinad/daemon/daemontest"
	pb "retinad/proto/retinadpb"
)

// TestRunPublishesEveryFrame runs the loop for a second and a half at 100 Hz over a real
// in-process NATS server, with a fast model and one that is slower than a bin, and checks from
// a subscriber: every frame has an onset, the fast model has a prediction for every frame in
// order, the slow one is skipped (never delaying a flip), and Run returns nil promptly on
// cancellation.
func TestRunPublishesEveryFrame(t *testing.T) {
	nc, stop, err := daemontest.NATS()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	clock := daemontest.NewClock()
	cells := []int32{1, 2, 3, 4}
	pres := &daemontest.Presenter{Clock: clock, Period: 10 * time.Millisecond}
	d, err := daemon.New(daemon.Parts{
		Rig: "test", Session: "s1", Source: &daemontest.Source{}, Presenter: pres,
		Bus: daemon.NATSBus(nc, 4096, nil), FrameRate: 100, Height: 20, Width: 20, Now: clock.Now,
		Models: []daemon.Model{
			{Name: "fast", Engine: &daemontest.Engine{Cells: 4, Gain: 10}, CellIDs: cells, BinRate: 100},
			{Name: "slow", Engine: &daemontest.Engine{Cells: 4, Gain: 10, Cost: 25 * time.Millisecond}, CellIDs: cells, BinRate: 100},
		},
		StatusEvery: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	onsets := map[uint64]bool{}
	preds := map[string][]uint64{}
	var statuses int
	sub, err := nc.Subscribe("retinad.test.>", func(m *nats.Msg) {
		mu.Lock()
		defer mu.Unlock()
		switch m.Subject {
		case "retinad.test.frame":
			var o pb.FrameOnset
			if err := proto.Unmarshal(m.Data, &o); err != nil {
				t.Error(err)
			}
			onsets[o.Frame] = true
		case "retinad.test.prediction.fast", "retinad.test.prediction.slow":
			var p pb.Prediction
			if err := proto.Unmarshal(m.Data, &p); err != nil {
				t.Error(err)
			}
			if len(p.Rates) != 4 || p.BinWidthNs != 10e6 {
				t.Errorf("prediction %v", &p)
			}
			preds[p.Model] = append(preds[p.Model], p.Bin)
		case "retinad.test.status":
			statuses++
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }() // the presenter here needs no GL thread
	time.Sleep(1500 * time.Millisecond)
	cancel()
	t0 := time.Now()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(time.Second):
		buf := make([]byte, 1<<20)
		t.Fatalf("Run did not return within a second of cancellation\n%s", buf[:runtime.Stack(buf, true)])
	}
	t.Logf("Run returned %v after cancel", time.Since(t0))
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	f := d.Figures()
	daemontest.WaitFor(t, 5*time.Second, "every published prediction received", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range f.Models {
			if uint64(len(preds[m.Name])) < m.Published {
				return false
			}
		}
		return true
	})

	t.Logf("%v", f)
	mu.Lock()
	defer mu.Unlock()
	// Had the loop waited for the slow model (25 ms a step), it would show at most 60 frames.
	if f.Frames < 100 || f.Frames > 160 {
		t.Errorf("shown %d frames in 1.5 s at 100 Hz", f.Frames)
	}
	t.Logf("the frame loop missed %d refreshes (machine load)", pres.Missed.Load())
	// Every frame whose onset was resolved was published, and the fast model has each of them.
	if uint64(len(onsets)) < f.Frames-2 {
		t.Errorf("%d onsets for %d frames", len(onsets), f.Frames)
	}
	fast := preds["fast"]
	for i, b := range fast {
		if b != uint64(i) {
			t.Fatalf("fast model: bin %d at position %d; bins not contiguous", b, i)
		}
	}
	if len(fast) != len(onsets) {
		t.Errorf("fast model: %d predictions for %d onsets", len(fast), len(onsets))
	}
	slow := f.Models[1]
	if slow.Skipped == 0 || len(preds["slow"]) >= len(fast) {
		t.Errorf("slow model (25 ms a bin of 10 ms): skipped %d, published %d", slow.Skipped, len(preds["slow"]))
	}
	if statuses < 5 {
		t.Errorf("%d status messages in 1.5 s at 10 Hz", statuses)
	}
	if f.FlipToPublishP99 <= 0 || f.FlipToPublishP99 > 5*time.Millisecond {
		t.Errorf("flip-to-publish p99 %v", f.FlipToPublishP99)
	}
}
