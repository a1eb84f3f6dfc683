package daemon

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// TestNATSBusQueue: the daemon's bus is nats.publish_queue long: with nothing sending, the
// oldest messages are dropped and counted (what Status.publish_queued and publish_dropped
// report); once the daemon's Run sends it, Flush returns with every queued message on the server.
func TestNATSBusQueue(t *testing.T) {
	nc := inProcessNATS(t)
	sub, err := nc.SubscribeSync("q")
	if err != nil {
		t.Fatal(err)
	}
	b := NATSBus(nc, 4, nil)
	buf := []byte{0}
	for i := range 10 {
		buf[0] = byte(i)
		if err := b.Publish("q", buf); err != nil {
			t.Fatal(err)
		}
	}
	if q, dropped, _ := b.(queueCounts).queue(); q != 4 || dropped != 6 {
		t.Fatalf("queue %d, dropped %d; want 4 and 6", q, dropped)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.(busRunner).Run(ctx) }()
	defer func() { cancel(); <-done }()
	fctx, fcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer fcancel()
	if err := b.(Flusher).Flush(fctx); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := sub.Pending(); n != 4 {
		t.Fatalf("%d messages on the server after Flush, want the newest 4", n)
	}
	for want := byte(6); want < 10; want++ {
		m, err := sub.NextMsg(time.Second)
		if err != nil || m.Data[0] != want {
			t.Fatalf("message %v (%v), want [%d]", m, err, want)
		}
	}
}

// inProcessNATS starts an in-process NATS server for the test and connects to it.
func inProcessNATS(t testing.TB) *nats.Conn {
	t.Helper()
	srv, err := server.NewServer(&server.Options{DontListen: true, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats server not ready")
	}
	nc, err := nats.Connect("", nats.InProcessServer(srv))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// countedBus is a Bus with a queue that says what it holds and dropped.
type countedBus struct{ nopBus }

func (countedBus) queue() (int, uint64, uint64) { return 3, 7, 2 }

// TestStatusSaysQueue: Status.publish_queued and publish_dropped are the bus queue's, and what
// the connection refused counts among the publish errors.
func TestStatusSaysQueue(t *testing.T) {
	d, err := New(Parts{Rig: "a", Session: "s", Source: &constSource{}, Presenter: &clockPresenter{}, Bus: &countedBus{},
		FrameRate: 100, Height: 2, Width: 2})
	if err != nil {
		t.Fatal(err)
	}
	f := d.Figures()
	m := d.statusMsg(f)
	if m.PublishQueued != 3 || m.PublishDropped != 7 || f.PublishErrors != 2 {
		t.Errorf("status queued %d dropped %d, errors %d; want 3, 7, 2", m.PublishQueued, m.PublishDropped, f.PublishErrors)
	}
	if s := f.String(); !strings.Contains(s, "publish queue 3, dropped 7, failed 2") {
		t.Errorf("status line %q does not say the queue", s)
	}
}
