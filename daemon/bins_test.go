package daemon_test

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"retinad/daemon"
	"retinad/daemon/daemontest"
	pb "retinad/proto/retinadpb"
)

// frameEngine keeps the first pixels of every frame it is stepped with.
type frameEngine struct {
	daemontest.Engine
	mu   sync.Mutex
	seen [][]float32
}

func (e *frameEngine) Step(frame, rates []float32) error {
	e.mu.Lock()
	e.seen = append(e.seen, append([]float32(nil), frame[:4]...))
	e.mu.Unlock()
	return e.Engine.Step(frame, rates)
}

// TestModelBinOfSeveralFrames runs a 200 Hz stimulus with a model that bins at 100 Hz next to
// one at 200 Hz: the slow one steps once per two frames, on their mean, and publishes bins
// 0, 1, 2, ... stamped with the first frame of each (bin width 10 ms); the fast one publishes a
// bin per frame (5 ms).
func TestModelBinOfSeveralFrames(t *testing.T) {
	nc, clock := daemontest.Setup(t)
	slow := &frameEngine{Engine: daemontest.Engine{Cells: 2, Gain: 1}}
	d, err := daemon.New(daemon.Parts{
		Rig: "test", Source: &daemontest.Source{}, Presenter: &daemontest.Presenter{Clock: clock, Period: 5 * time.Millisecond},
		Bus: daemon.NATSBus(nc, 4096, nil), FrameRate: 200, Height: 4, Width: 4, Clock: clock, ReportEvery: 200 * time.Millisecond,
		Models: []daemon.Model{
			{Name: "slow", Engine: slow, CellIDs: []int32{1, 2}, BinRate: 100},
			{Name: "fast", Engine: &daemontest.Engine{Cells: 2, Gain: 1}, CellIDs: []int32{1, 2}, BinRate: 200},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := daemon.New(daemon.Parts{
		Rig: "test", Source: &daemontest.Source{}, Presenter: &daemontest.Presenter{Clock: clock, Period: 5 * time.Millisecond},
		Bus: daemon.NATSBus(nc, 4096, nil), FrameRate: 200, Height: 4, Width: 4,
		Models: []daemon.Model{{Name: "odd", Engine: slow, CellIDs: []int32{1, 2}, BinRate: 80}},
	}); err == nil {
		t.Errorf("a model at 80 Hz under a 200 Hz stimulus was accepted")
	}
	defer fakeAcquisition(t, nc, "test", func(frame uint64) []float32 { return []float32{float32(frame % 2), float32(frame / 3 % 2)} })()
	var mu sync.Mutex
	preds := map[string][]*pb.Prediction{}
	reports := map[string]uint64{} // model -> bins scored in its last report
	vsub, err := nc.Subscribe("retinad.test.validation", func(m *nats.Msg) {
		var v pb.ValidationReport
		if err := proto.Unmarshal(m.Data, &v); err != nil {
			t.Error(err)
		}
		mu.Lock()
		reports[v.Model] = v.Bins
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer vsub.Unsubscribe()
	sub, err := nc.Subscribe("retinad.test.prediction.*", func(m *nats.Msg) {
		var p pb.Prediction
		if err := proto.Unmarshal(m.Data, &p); err != nil {
			t.Error(err)
		}
		mu.Lock()
		preds[p.Model] = append(preds[p.Model], &p)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := d.Run(ctx); err != nil {
		t.Fatal(err)
	}
	_ = nc.Flush()
	published := map[string]int{}
	for _, m := range d.Figures().Models {
		published[m.Name] = int(m.Published)
	}
	daemontest.WaitFor(t, 5*time.Second, "every published prediction received", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(preds["slow"]) >= published["slow"] && len(preds["fast"]) >= published["fast"]
	})
	mu.Lock()
	defer mu.Unlock()
	s, f := preds["slow"], preds["fast"]
	if len(s) < 50 || len(f) < 2*len(s)-4 {
		t.Fatalf("%d slow and %d fast predictions in 1 s", len(s), len(f))
	}
	for i, p := range s {
		if p.Bin != uint64(i) || p.Frame != 2*p.Bin || p.BinWidthNs != 10e6 {
			t.Fatalf("slow prediction %d: bin %d frame %d width %d", i, p.Bin, p.Frame, p.BinWidthNs)
		}
	}
	for i, p := range f {
		if p.Bin != uint64(i) || p.Frame != p.Bin || p.BinWidthNs != 5e6 {
			t.Fatalf("fast prediction %d: bin %d frame %d width %d", i, p.Bin, p.Frame, p.BinWidthNs)
		}
	}
	// The slow model saw the mean of each pair of frames, as the source made them.
	src := &daemontest.Source{}
	a, b := make([]float32, 16), make([]float32, 16)
	slow.mu.Lock()
	defer slow.mu.Unlock()
	for i, got := range slow.seen {
		_, _ = src.Next(a)
		_, _ = src.Next(b)
		for j := range got {
			if want := (a[j] + b[j]) / 2; math.Abs(float64(got[j]-want)) > 1e-6 {
				t.Fatalf("bin %d pixel %d: stepped with %v, the mean of its frames is %v", i, j, got[j], want)
			}
		}
	}
	// Validation scores the slow model on every stimulus frame, with its bin's rates.
	if reports["fast"] < 100 || reports["slow"]+4 < reports["fast"] {
		t.Errorf("frames scored: slow %d, fast %d; want the slow model scored on every frame too", reports["slow"], reports["fast"])
	}
	t.Logf("slow: %d bins over %d frames; fast: %d bins; frames scored in the last reports: slow %d, fast %d", len(s), len(f), len(f), reports["slow"], reports["fast"])
}
