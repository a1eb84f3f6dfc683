package daemon

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"retinad/calib"
	pb "retinad/proto/retinadpb"
)

// BenchmarkOnsetToWire measures the latency the dashboard plots: a photodiode onset handed to
// the daemon (Onset, as calib's reader does) to its frame's 16-cell prediction received by a
// NATS subscriber. The model step is done beforehand (models run ahead of the display), so the
// path is the stamper's wake-up, the prediction's marshalling, the publish queue's goroutine, the
// embedded server (in-process connection) and the subscriber's delivery goroutine. One frame is
// in flight at a time; p50 and p99 are reported.
func BenchmarkOnsetToWire(b *testing.B) {
	nc := inProcessNATS(b)
	bus := NATSBus(nc, 4096, nil)
	var now int64
	cells := make([]int32, 16)
	for i := range cells {
		cells[i] = int32(i)
	}
	d, err := New(Parts{
		Rig: "a", Session: "s", Source: &constSource{}, Presenter: &clockPresenter{}, Bus: bus,
		FrameRate: 100, Height: 50, Width: 50, Now: func() int64 { now += 1000; return now },
		Models: []Model{{Name: "m", Engine: sumEngine{}, CellIDs: cells, BinRate: 100}},
	})
	if err != nil {
		b.Fatal(err)
	}
	stopBus := d.runBus()
	defer stopBus()
	ctx, cancel := context.WithCancel(context.Background())
	stamped := make(chan struct{})
	go func() { defer close(stamped); d.stamp.run(ctx) }()
	defer func() { cancel(); <-stamped }()

	got := make(chan uint64, 1)
	sub, err := nc.Subscribe("retinad.a.prediction.m", func(m *nats.Msg) {
		var p pb.Prediction
		if proto.Unmarshal(m.Data, &p) == nil {
			got <- p.Frame
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()

	r := d.models.Load().runners[0]
	for k := uint64(0); k < uint64(len(d.stage)); k++ {
		if err := d.generate(k); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for k := uint64(0); k < uint64(b.N); k++ {
		if err := d.showFrame(k); err != nil {
			b.Fatal(err)
		}
		x, o := r.in.Peek(), r.out.Reserve()
		_ = r.Engine.Step(x.pix, o.rates)
		o.frame, o.doneNs = x.frame, now
		r.out.Commit()
		r.in.Release()
		t0 := time.Now()
		d.Onset(calib.Onset{Frame: k, FlipNs: int64(k) * 10e6, OnsetNs: int64(k)*10e6 + 8e6, LatencyNs: 8e6, Status: calib.Timed})
		select {
		case f := <-got:
			if f != k {
				b.Fatalf("prediction of frame %d, want %d", f, k)
			}
		case <-time.After(5 * time.Second):
			b.Fatalf("no prediction of frame %d on NATS", k)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-us")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-us")
}
