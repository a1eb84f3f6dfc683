package acquisition

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"retinad/acquisition/acquisitiontest"
	"retinad/configs"
	"retinad/internal/testwait"
	pb "retinad/proto/retinadpb"
)

// TestExternalServer connects the bus to a separate nats-server process, publishes through it,
// then kills and restarts the server: what is published while it is down is buffered and
// arrives after the automatic reconnect.
func TestExternalServer(t *testing.T) {
	srv := acquisitiontest.StartExternal(t, "")
	url := srv.URL()
	bus, err := Start(configs.NATS{URL: url}, BusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Stop()
	subj := mustSubjects(t, "ext")
	p := NewPublisher(bus.Conn(), 4096, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()

	listen := func() *nats.Subscription {
		nc, err := nats.Connect(url, nats.MaxReconnects(-1))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		s, err := nc.SubscribeSync(subj.Status)
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		return s
	}
	expect := func(s *nats.Subscription, from, to uint64) {
		t.Helper()
		var m pb.Status
		for want := from; want < to; want++ {
			msg, err := s.NextMsg(10 * time.Second)
			if err != nil {
				t.Fatalf("status %d: %v", want, err)
			}
			if err := proto.Unmarshal(msg.Data, &m); err != nil || m.Frames != want {
				t.Fatalf("got frames=%d (%v), want %d", m.Frames, err, want)
			}
		}
	}
	s := listen()
	for i := range uint64(10) {
		p.Publish(subj.Status, &pb.Status{Frames: i})
	}
	expect(s, 0, 10)

	srv.Kill()
	testwait.Must(t, 10*time.Second, "the bus reconnecting after the kill", bus.Conn().IsReconnecting)
	for i := uint64(10); i < 20; i++ { // buffered by the connection while the server is gone
		p.Publish(subj.Status, &pb.Status{Frames: i})
	}
	testwait.Must(t, 10*time.Second, "the publisher's queue handed to the connection", func() bool { return p.Stats().Queued == 0 })
	srv.Restart()
	s = listen() // subscribes before the bus reconnects (reconnect wait is 250 ms)
	t.Log("restarted", time.Now())
	expect(s, 10, 20)
	t.Log("got", time.Now())
	if st := p.Stats(); st.Dropped != 0 || st.Failed != 0 {
		t.Errorf("publisher stats %v, want nothing dropped or failed", st)
	}
}
