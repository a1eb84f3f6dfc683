package daemon

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"retinad/calib"
	"retinad/clock/clocktest"
	pb "retinad/proto/retinadpb"
)

// BenchmarkOnsetToWire measures the latency the dashboard plots: a photodiode onset handed to
// the daemon (Onset, as calib's reader does) to its frame's 16-cell prediction received by a
// NATS subscriber. The model step is done beforehand (models run ahead of the display), so the
// path is the stamper's wake-up, the frame onset's and the prediction's marshalling into the
// publish queue, the queue's goroutine, the embedded server (in-process connection) and the
// subscriber's delivery goroutine. One frame is in flight at a time; p50 and p99 are reported
// for the whole path and for its parts: onset in to the prediction handed to the bus (the
// stamper; of it, onset in to the frame onset handed to the bus: the stamper's wake-up and the
// frame onset's marshalling), from there to the subscriber (queue, connection, server,
// delivery), and, from the
// publisher's own histogram (bucket bounds, by doubling), each message's wait in the queue up
// to its hand-over to the connection.
func BenchmarkOnsetToWire(b *testing.B) {
	nc := inProcessNATS(b)
	inner := NATSBus(nc, 4096, nil).(*natsBus)
	bus := &handedBus{natsBus: inner, frame: "retinad.a.frame", prediction: "retinad.a.prediction.m"}
	clk := clocktest.NewVirtualClock(0) // the presenter moves it to each flip
	cells := make([]int32, 16)
	for i := range cells {
		cells[i] = int32(i)
	}
	d, err := New(Parts{
		Rig: "a", Session: "s", Source: &constSource{}, Presenter: &clockPresenter{clk: clk}, Bus: bus,
		FrameRate: 100, Height: 50, Width: 50, Clock: clk,
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
	stamper := make([]time.Duration, 0, b.N)
	toFrame := make([]time.Duration, 0, b.N)
	wire := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for k := uint64(0); k < uint64(b.N); k++ {
		if err := d.showFrame(k); err != nil {
			b.Fatal(err)
		}
		x, o := r.in.Peek(), r.out.Reserve()
		_ = r.Engine.Step(x.pix, o.rates)
		o.frame, o.doneNs = x.frame, clk.Now()
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
		t3 := time.Now()
		tf, t1 := bus.frameAt.Load().(time.Time), bus.predictionAt.Load().(time.Time)
		lat, stamper, wire = append(lat, t3.Sub(t0)), append(stamper, t1.Sub(t0)), append(wire, t3.Sub(t1))
		toFrame = append(toFrame, tf.Sub(t0))
	}
	b.StopTimer()
	us := func(xs []time.Duration, q float64) float64 {
		slices.Sort(xs)
		return float64(xs[min(int(q*float64(len(xs))), len(xs)-1)].Nanoseconds()) / 1e3
	}
	b.ReportMetric(us(lat, 0.5), "p50-us")
	b.ReportMetric(us(lat, 0.99), "p99-us")
	b.ReportMetric(us(stamper, 0.5), "stamper-p50-us")
	b.ReportMetric(us(stamper, 0.99), "stamper-p99-us")
	b.ReportMetric(us(toFrame, 0.5), "to-frame-onset-p50-us")
	b.ReportMetric(us(toFrame, 0.99), "to-frame-onset-p99-us")
	b.ReportMetric(us(wire, 0.5), "bus-to-subscriber-p50-us")
	b.ReportMetric(us(wire, 0.99), "bus-to-subscriber-p99-us")
	// The marshalling in that path, alone: the last frame onset and prediction, 1000 times each.
	for _, m := range []struct {
		name string
		msg  proto.Message
	}{{"marshal-frame-onset-ns", &d.stamp.onsetMsg}, {"marshal-prediction-ns", r.predMsg}} {
		var buf []byte
		t0 := time.Now()
		for range 1000 {
			buf, _ = proto.MarshalOptions{}.MarshalAppend(buf[:0], m.msg)
		}
		b.ReportMetric(float64(time.Since(t0).Nanoseconds())/1000, m.name)
	}
	q := inner.sendLatency().Snapshot()
	p50, _ := q.Quantile(0.5)
	p99, _ := q.Quantile(0.99)
	b.ReportMetric(float64(p50)/1e3, "queue-to-conn-p50<=us")
	b.ReportMetric(float64(p99)/1e3, "queue-to-conn-p99<=us")
}

// handedBus is the daemon's NATS bus that notes when the last frame onset and prediction were
// handed to it.
type handedBus struct {
	*natsBus
	frame, prediction     string
	frameAt, predictionAt atomic.Value // time.Time
}

func (h *handedBus) Publish(subject string, data []byte) error {
	switch subject {
	case h.frame:
		h.frameAt.Store(time.Now())
	case h.prediction:
		h.predictionAt.Store(time.Now())
	}
	return h.natsBus.Publish(subject, data)
}
