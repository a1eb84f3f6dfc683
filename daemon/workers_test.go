package daemon_test

import (
	"context"
	"retinad/daemon"
	"retinad/daemon/daemontest"
	pb "retinad/proto/retinadpb"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
)

// A scoring worker's exclusion is published as an Event on the rig's event subject naming it
// and why, and shown in Status and the status line for the daemon's lifetime.
func TestWorkerExclusionIsPublishedAndShown(t *testing.T) {
	nc, clock := daemontest.Setup(t)
	d, err := daemon.New(daemon.Parts{
		Rig: "test", Session: "s1", Source: &daemontest.Source{}, Presenter: &daemontest.Presenter{Clock: clock, Period: 10 * time.Millisecond},
		Bus: daemon.NATSBus(nc, 4096, nil), FrameRate: 100, Height: 20, Width: 20, Clock: clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := nc.SubscribeSync("retinad.test.event")
	if err != nil {
		t.Fatal(err)
	}
	// The daemon's messages leave through its publish queue, which Run sends.
	_, stopDaemon := daemontest.Run(t, d.Run)
	defer stopDaemon()
	note := "worker rogue (w1, retinad.workers.rogue.score) excluded: the worker's rates disagree with this machine's"
	d.WorkerExcluded("rogue", note)
	msg, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var ev pb.Event
	if err := proto.Unmarshal(msg.Data, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Label != daemon.EventWorkerExcluded || ev.Note != note || ev.HostNs == 0 {
		t.Fatalf("event %v: want label %q and the note", &ev, daemon.EventWorkerExcluded)
	}
	st, err := d.Controller().Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.WorkersExcluded) != 1 || st.WorkersExcluded[0] != "rogue" {
		t.Fatalf("Status.workers_excluded = %v, want [rogue]", st.WorkersExcluded)
	}
	if line := d.Figures().String(); !strings.Contains(line, "workers excluded: rogue") {
		t.Fatalf("status line %q does not name the excluded worker", line)
	}
}
