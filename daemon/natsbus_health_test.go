package daemon_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"retinad/acquisition"
	"retinad/acquisition/acquisitiontest"
	"retinad/configs"
	"retinad/daemon"
	"retinad/daemon/daemontest"
)

// TestBusDisconnected: the daemon says how long its connection to an external server has been
// lost (Figures.BusDown, the status line), from a first connect that has to wait for the server
// (no reconnect handler runs then) through an outage and back, and logs the outage when it
// starts and when it ends.
func TestBusDisconnected(t *testing.T) {
	srv := acquisitiontest.StartExternal(t, "")
	srv.Kill() // the daemon starts before the lab's server
	bus, err := acquisition.Start(configs.NATS{URL: srv.URL()}, acquisition.BusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Stop()
	var logs daemontest.LockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	clock := daemontest.NewClock()
	defer clock.Drive(5 * time.Millisecond)() // after Run has returned
	d, err := daemon.New(daemon.Parts{
		Rig: "health", Session: "s", Source: &daemontest.Source{}, Presenter: &daemontest.Presenter{Clock: clock, Period: 10 * time.Millisecond},
		Bus: daemon.NATSBus(bus.Conn(), 64, log), FrameRate: 100, Height: 4, Width: 4, Clock: clock, Log: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	down := func() time.Duration { return d.Figures().BusDown }
	wait := func(what string, cond func() bool) {
		t.Helper()
		if !daemontest.WaitFor(t, 5*time.Second, what, cond) {
			t.Fatalf("BusDown %v; log:\n%s", down(), logs.String())
		}
	}
	if down() <= 0 || !strings.Contains(d.Figures().String(), "NATS DISCONNECTED") {
		t.Fatalf("before the server exists: BusDown %v, status line %q", down(), d.Figures().String())
	}
	srv.Restart()
	wait("connected once the server started", func() bool { return down() == 0 })
	if s := d.Figures().String(); strings.Contains(s, "NATS") {
		t.Errorf("status line while connected: %q", s)
	}
	srv.Kill()
	wait("lost when the server is killed", func() bool { return down() > 0 })
	wait("the outage's length is measured", func() bool { return down() >= 50*time.Millisecond })
	srv.Restart()
	wait("back after the restart", func() bool { return down() == 0 })
	wait("the log says it", func() bool {
		l := logs.String()
		return strings.Contains(l, "daemon: NATS DISCONNECTED") && strings.Contains(l, "daemon: NATS reconnected; nothing lost")
	})
}
