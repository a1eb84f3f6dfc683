package acquisition

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"retinad/configs"
	pb "retinad/proto/retinadpb"
)

// natsServerBinary finds Debian's nats-server (installed by scripts/setup).
func natsServerBinary(t *testing.T) string {
	for _, p := range []string{"/usr/sbin/nats-server", "/usr/bin/nats-server"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p
	}
	t.Fatal("nats-server not installed: run scripts/setup")
	return ""
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// runNATSServer starts an external nats-server process on 127.0.0.1:port and returns a
// function that kills it and waits.
func runNATSServer(t *testing.T, bin string, port int) func() {
	cmd := exec.Command(bin, "-a", "127.0.0.1", "-p", fmt.Sprint(port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return stop
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatal("external nats-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestExternalServer connects the bus to a separate nats-server process, publishes through it,
// then kills and restarts the server: what is published while it is down is buffered and
// arrives after the automatic reconnect.
func TestExternalServer(t *testing.T) {
	bin := natsServerBinary(t)
	port := freePort(t)
	stop := runNATSServer(t, bin, port)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	bus, err := Start(configs.NATS{URL: url}, BusOptions{})
	if err != nil {
		stop()
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

	stop()
	for !bus.Conn().IsReconnecting() {
		time.Sleep(5 * time.Millisecond)
	}
	for i := uint64(10); i < 20; i++ { // buffered by the connection while the server is gone
		p.Publish(subj.Status, &pb.Status{Frames: i})
	}
	for p.Stats().Queued > 0 {
		time.Sleep(5 * time.Millisecond)
	}
	stop = runNATSServer(t, bin, port)
	defer stop()
	s = listen() // subscribes before the bus reconnects (reconnect wait is 250 ms)
	t.Log("restarted", time.Now())
	expect(s, 10, 20)
	t.Log("got", time.Now())
	if st := p.Stats(); st.Dropped != 0 || st.Failed != 0 {
		t.Errorf("publisher stats %v, want nothing dropped or failed", st)
	}
}
