package daemon_test

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"retinad/daemon"
	"retinad/daemon/daemontest"
	pb "retinad/proto/retinadpb"
)

// TestSessionCountersStartFromZero: Status counts frames, missed refreshes, spikes, syncs and
// inbound rejections per reason per session: a second session started over control reports from 0, not
// on from the first; and the SessionEvent carries the daemon's version.
func TestSessionCountersStartFromZero(t *testing.T) {
	nc, clock := daemontest.Setup(t)
	d, err := daemon.New(daemon.Parts{
		Rig: "test", Session: "s1", Version: "2.0.1", Source: &daemontest.Source{},
		Presenter: &daemontest.Presenter{Clock: clock, Period: 10 * time.Millisecond},
		Bus:       daemon.NATSBus(nc, 4096, nil), FrameRate: 100, Height: 10, Width: 10, Clock: clock,
		Models: []daemon.Model{{Name: "m", Engine: &daemontest.Engine{Cells: 2, Gain: 10}, CellIDs: []int32{1, 2}, BinRate: 100}},
	})
	if err != nil {
		t.Fatal(err)
	}
	events, err := nc.SubscribeSync("retinad.test.session")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stopDaemon := daemontest.Run(t, d.Run)
	defer stopDaemon()
	status := func() *pb.Status {
		s, err := d.Controller().Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if !daemontest.WaitFor(t, 10*time.Second, "frames of s1", func() bool { return status().Frames > 60 }) {
		return
	}
	for range 3 {
		_ = nc.Publish("retinad.test.spikes", []byte("garbage"))
	}
	if !daemontest.WaitFor(t, 5*time.Second, "rejections in s1", func() bool { return status().InboundRejected == 3 }) {
		return
	}
	if _, err := d.StopSession(ctx, ""); err != nil {
		t.Fatal(err)
	}
	s1 := status()
	if _, err := d.StartSession(ctx, "s2"); err != nil {
		t.Fatal(err)
	}
	s2 := status()
	// inbound_rejected is the daemon's total ("ever"), inbound_rejects the session's.
	if s2.Session != "s2" || s2.Frames >= s1.Frames || s2.InboundRejected != 3 || len(s2.InboundRejects) != 0 || s2.RefreshesMissed > s1.RefreshesMissed {
		t.Errorf("s2 starts at frames %d, rejected %d %v, missed %d; s1 ended at %d, %d, %d: want from 0",
			s2.Frames, s2.InboundRejected, s2.InboundRejects, s2.RefreshesMissed, s1.Frames, s1.InboundRejected, s1.RefreshesMissed)
	}
	if !daemontest.WaitFor(t, 5*time.Second, "frames of s2", func() bool { return status().Frames > 10 }) {
		return
	}
	for _, want := range []pb.SessionEvent_Kind{pb.SessionEvent_START, pb.SessionEvent_STOP, pb.SessionEvent_START} {
		m, err := events.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var ev pb.SessionEvent
		if err := proto.Unmarshal(m.Data, &ev); err != nil || ev.Kind != want || ev.Version != "2.0.1" {
			t.Errorf("session event %v (%v): want %v with version 2.0.1", &ev, err, want)
		}
	}
}
