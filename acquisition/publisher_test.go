package acquisition

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	pb "retinad/proto/retinadpb"
)

// TestPublishDropsOldest fills the ring with no Run draining it: the oldest messages go, are
// counted, and the newest arrive once Run starts.
func TestPublishDropsOldest(t *testing.T) {
	b := startBus(t, false, false)
	sub, err := b.Conn().SubscribeSync("drop")
	if err != nil {
		t.Fatal(err)
	}
	p := NewPublisher(b.Conn(), 4, nil)
	m := &pb.FrameOnset{}
	for i := range 10 {
		m.Frame = uint64(i)
		if !p.Publish("drop", m) {
			t.Fatal("Publish refused a valid message")
		}
	}
	if s := p.Stats(); s.Dropped != 6 || s.Queued != 4 {
		t.Fatalf("stats %v, want 6 dropped, 4 queued", s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	for want := uint64(6); want < 10; want++ {
		msg, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var got pb.FrameOnset
		if err := proto.Unmarshal(msg.Data, &got); err != nil {
			t.Fatal(err)
		}
		if got.Frame != want {
			t.Fatalf("frame %d, want %d", got.Frame, want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s := p.Stats(); s.Published != 4 || s.Queued != 0 {
		t.Fatalf("stats %v, want 4 published", s)
	}
}

// TestPublishRunDrainsOnCancel: what was queued before cancellation is still sent.
func TestPublishRunDrainsOnCancel(t *testing.T) {
	b := startBus(t, false, false)
	sub, err := b.Conn().SubscribeSync("drain")
	if err != nil {
		t.Fatal(err)
	}
	p := NewPublisher(b.Conn(), 1000, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 500 {
		p.Publish("drain", &pb.Status{})
	}
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := sub.Pending(); n != 500 {
		t.Fatalf("%d delivered, want 500", n)
	}
	_ = sub.Unsubscribe()
}

// TestPublishAllocs: the frame loop's calls allocate nothing once the ring has grown.
func TestPublishAllocs(t *testing.T) {
	b := startBus(t, false, false)
	p := NewPublisher(b.Conn(), 64, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	pred := &pb.Prediction{Session: "s", Model: "cnn", Rates: make([]float32, 64), CellIds: make([]int32, 64)}
	frame := examples()[2].(*pb.FrameOnset)
	subj := mustSubjects(t, "r")
	predSubject := subj.Prediction("cnn")
	for range 200 { // grow every slot
		p.Publish(predSubject, pred)
		p.Publish(subj.Frame, frame)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		pred.Bin++
		p.Publish(predSubject, pred)
		frame.Frame++
		p.Publish(subj.Frame, frame)
	})
	if allocs != 0 {
		t.Fatalf("Publish allocates %v times per call pair, want 0", allocs)
	}
}

// TestPublishBytesFlush: bytes queued with PublishBytes are copied (the caller reuses its
// buffer at once), and Flush returns only once the server has every one of them.
func TestPublishBytesFlush(t *testing.T) {
	b := startBus(t, false, false)
	sub, err := b.Conn().SubscribeSync("bytes")
	if err != nil {
		t.Fatal(err)
	}
	p := NewPublisher(b.Conn(), 4096, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	buf := make([]byte, 1)
	for i := range 3000 {
		buf[0] = byte(i)
		p.PublishBytes("bytes", buf)
	}
	fctx, fcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer fcancel()
	if err := p.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	if s := p.Stats(); s.Published != 3000 || s.Queued != 0 || s.Dropped != 0 {
		t.Fatalf("stats %v after Flush, want 3000 published", s)
	}
	for i := range 3000 {
		m, err := sub.NextMsg(time.Second)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if len(m.Data) != 1 || m.Data[0] != byte(i) {
			t.Fatalf("message %d is %v, want [%d]", i, m.Data, byte(i))
		}
	}
}

// TestFlushWithoutRunTimesOut: with no Run sending, Flush says how much is still queued when
// its context ends instead of pretending the server has it.
func TestFlushWithoutRunTimesOut(t *testing.T) {
	b := startBus(t, false, false)
	p := NewPublisher(b.Conn(), 8, nil)
	p.PublishBytes("x", []byte{1})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := p.Flush(ctx); err == nil || !strings.Contains(err.Error(), "1 messages still queued") {
		t.Fatalf("Flush without Run: %v, want a timeout naming 1 queued message", err)
	}
}
