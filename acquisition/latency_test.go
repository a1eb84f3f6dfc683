package acquisition

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"retinad/configs"
	pb "retinad/proto/retinadpb"
)

// BenchmarkPredictionLatency measures publish-to-receive latency of a 16-cell prediction: the
// frame loop's Publish, the publisher's goroutine, the embedded server, a subscriber's
// delivery goroutine and its decoding. The subscriber is on the in-process connection or a
// loopback TCP connection; "tcp-locked" runs the server with the roles' permissions (the
// daemon's nkey, a stranger subscribing as the observer). One message is in flight at a time;
// p50 and p99 are reported.
func BenchmarkPredictionLatency(b *testing.B) {
	for _, via := range []string{"inprocess", "tcp", "tcp-locked"} {
		b.Run(via, func(b *testing.B) {
			var bus *Bus
			if via != "tcp-locked" {
				bus = startBus(b, true, false)
			} else {
				var err error
				bus, err = Start(configs.NATS{Embedded: true, Listen: "127.0.0.1:0", DefaultRole: "observer"}, BusOptions{Rig: "bench"})
				if err != nil {
					b.Fatal(err)
				}
				defer bus.Stop()
			}
			sub := bus.Conn()
			if via != "inprocess" {
				nc, err := nats.Connect(bus.ClientURL())
				if err != nil {
					b.Fatal(err)
				}
				defer nc.Close()
				sub = nc
			}
			subj := mustSubjects(b, "bench")
			subject := subj.Prediction("cnn")
			got := make(chan time.Time, 1)
			var m pb.Prediction
			s, err := sub.Subscribe(subject, func(msg *nats.Msg) {
				if err := proto.Unmarshal(msg.Data, &m); err != nil {
					b.Error(err)
				}
				got <- time.Now()
			})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Unsubscribe()
			if err := sub.Flush(); err != nil {
				b.Fatal(err)
			}
			p := NewPublisher(bus.Conn(), 1024, nil)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error)
			go func() { done <- p.Run(ctx) }()
			defer func() { cancel(); <-done }()
			pred := &pb.Prediction{Session: "bench", Model: "cnn", BinWidthNs: 1e7, Rates: make([]float32, 16), CellIds: make([]int32, 16)}
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				pred.Bin = uint64(i)
				t0 := time.Now()
				p.Publish(subject, pred)
				lat = append(lat, (<-got).Sub(t0))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-us")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-us")
		})
	}
}

// BenchmarkPublish is the frame loop's cost of handing a prediction to the Publisher, against
// the peer of marshalling it and calling the connection's Publish in the loop itself.
func BenchmarkPublish(b *testing.B) {
	bus := startBus(b, false, false)
	subject := mustSubjects(b, "bench").Prediction("cnn")
	pred := &pb.Prediction{Session: "bench", Model: "cnn", BinWidthNs: 1e7, Rates: make([]float32, 16), CellIds: make([]int32, 16)}
	b.Run("publisher", func(b *testing.B) {
		p := NewPublisher(bus.Conn(), 4096, nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- p.Run(ctx) }()
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			pred.Bin = uint64(i)
			p.Publish(subject, pred)
		}
		b.StopTimer()
		cancel()
		<-done
		b.ReportMetric(float64(p.Stats().Dropped), "dropped")
	})
	b.Run("peer-marshal-and-conn-publish", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			pred.Bin = uint64(i)
			data, _ := proto.Marshal(pred)
			_ = bus.Conn().Publish(subject, data)
		}
	})
}
