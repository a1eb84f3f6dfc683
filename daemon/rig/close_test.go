package rig_test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"retinad/configs"
	"retinad/daemon/rig"
)

// openPTYs counts this process's open pseudo-terminal descriptors (both ends).
func openPTYs(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && (target == "/dev/ptmx" || strings.HasPrefix(target, "/dev/pts/")) {
			n++
		}
	}
	return n
}

// TestOpenFailureReleasesTheFakeDevice: when Open fails after the simulated photodiode was
// opened (here the dashboard's port is taken), what Open opened is closed again, the fake
// device's pseudo-terminal included (it used to stay open until the process ended).
func TestOpenFailureReleasesTheFakeDevice(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := configs.Default()
	cfg.Display.Mode = "auto"
	cfg.NATS.Listen = "127.0.0.1:0"
	cfg.Photodiode.Device = "sim"
	cfg.Dashboard.Listen = busy.Addr().String()
	cfg.Recording.Dir = t.TempDir()
	before := openPTYs(t)
	var r *rig.Rig
	onMain(func() { r, err = rig.Open(&cfg, rig.Options{Session: "close"}) })
	if err == nil {
		onMain(func() { r.Close() })
		t.Fatalf("Open with the dashboard's port %s taken succeeded", cfg.Dashboard.Listen)
	}
	if after := openPTYs(t); after != before {
		t.Errorf("after a failed Open (%v): %d pseudo-terminal descriptors open, %d before", err, after, before)
	}
}
