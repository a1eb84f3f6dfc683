package rig_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"retinad/acquisition"
	"retinad/configs"
	"retinad/daemon"
	"retinad/daemon/daemontest"
	"retinad/daemon/rig"
	"retinad/infer"
	"retinad/infer/infertest"
	"retinad/proto/contract"
	pb "retinad/proto/retinadpb"
)

// TestControlLoadRefusals runs a daemon with the rig's control loader behind the real control
// service on a real NATS server, and sends it the loads a clumsy or hostile client would: every
// one is refused at once with a reply that quotes no file content and does not tell an existing
// file outside the model folders from a missing one; a load that takes its time does not delay
// stop or status; the frame loop keeps showing frames throughout; every load is logged with who
// asked.
func TestControlLoadRefusals(t *testing.T) {
	dir := t.TempDir()
	models := filepath.Join(dir, "models")
	if err := os.Mkdir(models, 0o755); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(models, "ln.rtm")
	if err := infer.Save(good, infertest.LNModel(1, infertest.Small)); err != nil {
		t.Fatal(err)
	}
	secretText := "root:x:0:0:root:/root:/bin/bash\n"
	secret := filepath.Join(dir, "passwd") // outside the model folder
	write := func(path, s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(secret, secretText)
	write(filepath.Join(models, "notes.txt"), secretText) // inside, but not a model
	if err := os.Symlink(secret, filepath.Join(models, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", filepath.Join(models, "zero")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(models, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(models, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	huge, err := os.Create(filepath.Join(models, "huge.rtm"))
	if err != nil {
		t.Fatal(err)
	}
	if err := huge.Truncate(2 << 30); err != nil { // 2 GiB, sparse
		t.Fatal(err)
	}
	huge.Close()

	cfg := configs.Default()
	cfg.Stimulus.Height, cfg.Stimulus.Width = infertest.Small.Height, infertest.Small.Width
	// /dev is a model folder too, so that /dev/zero reaches the regular-file check.
	cfg.Control.ModelDirs = []string{models, "/dev"}
	var logs daemontest.LockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	release, started := make(chan struct{}), make(chan struct{})
	loadFile := rig.ControlLoader(&cfg, log)
	load := func(ctx context.Context, req daemon.LoadRequest) (daemon.Model, error) {
		if req.Name == "slow" { // a load that takes its time (a big file on a slow disk)
			close(started)
			select {
			case <-release:
			case <-ctx.Done():
				return daemon.Model{}, ctx.Err()
			}
		}
		return loadFile(ctx, req)
	}

	srv, err := server.NewServer(&server.Options{DontListen: true, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	defer srv.Shutdown()
	if !srv.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats server not ready")
	}
	dnc, err := nats.Connect("", nats.InProcessServer(srv), nats.Name("retinad test"))
	if err != nil {
		t.Fatal(err)
	}
	defer dnc.Close()
	cnc, err := nats.Connect("", nats.InProcessServer(srv), nats.Name("stranger-laptop"))
	if err != nil {
		t.Fatal(err)
	}
	defer cnc.Close()

	clock := daemontest.NewClock()
	defer clock.Drive(5 * time.Millisecond)() // after Run has returned
	pres := &daemontest.Presenter{Clock: clock, Period: 10 * time.Millisecond}
	d, err := daemon.New(daemon.Parts{
		Rig: "test", Session: "s1", Source: &daemontest.Source{}, Presenter: pres,
		Bus: daemon.NATSBus(dnc, 1024, log), FrameRate: 100, Height: cfg.Stimulus.Height, Width: cfg.Stimulus.Width,
		Clock: clock, Load: load, Log: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	subj, _ := contract.SubjectsFor("test")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	svc, err := acquisition.Serve(ctx, dnc, subj, d.Controller(), acquisition.ControlOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	waitFrames := func(n uint64) {
		t.Helper()
		from := d.Figures().Frames
		if !daemontest.WaitFor(t, 10*time.Second, fmt.Sprintf("%d frames shown", n), func() bool { return d.Figures().Frames >= from+n }) {
			t.FailNow()
		}
	}
	waitFrames(10)

	call := func(endpoint string, req, rep proto.Message) error {
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer ccancel()
		return acquisition.Call(cctx, cnc, subj, endpoint, req, rep)
	}
	code := func(err error) string {
		var ce *acquisition.ControlError
		if errors.As(err, &ce) {
			return ce.Code
		}
		return ""
	}

	outsideMsg := func(err error, file string) string { // the reply with the path taken out
		return strings.ReplaceAll(err.Error(), file, "FILE")
	}
	var outside []string
	peakBefore := peakRSS(t)
	for _, c := range []struct {
		name, file, code, want string
	}{
		{"existing file outside", secret, "403", "not inside the model folders"},
		{"missing file outside", filepath.Join(dir, "nothing"), "403", "not inside the model folders"},
		{"system file", "/etc/passwd", "403", "not inside the model folders"},
		{"dot-dot escape", filepath.Join(models, "..", "passwd"), "403", "not inside the model folders"},
		{"symlink out", filepath.Join(models, "link"), "403", "not inside the model folders"},
		{"symlink to a device", filepath.Join(models, "zero"), "400", "a device, want a regular model file"},
		{"device", "/dev/zero", "400", "a device, want a regular model file"},
		{"folder", filepath.Join(models, "sub"), "400", "a folder, want a regular model file"},
		{"folder itself", models, "403", "not inside the model folders"},
		{"fifo", filepath.Join(models, "fifo"), "400", "a FIFO, want a regular model file"},
		{"2 GiB file", filepath.Join(models, "huge.rtm"), "400", "2147483648 bytes, more than the 268435456"},
		{"not a model", filepath.Join(models, "notes.txt"), "400", "not a native retinad model file"},
		{"missing inside", filepath.Join(models, "missing.rtm"), "404", "no such file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			err := call(acquisition.EndpointLoad, &pb.LoadModelRequest{Name: "m", File: c.file}, &pb.LoadModelReply{})
			took := time.Since(start)
			if err == nil || code(err) != c.code || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("load %s: %v (code %q), want code %s with %q", c.file, err, code(err), c.code, c.want)
			}
			if strings.Contains(err.Error(), "root:") || strings.Contains(err.Error(), "bash") {
				t.Errorf("the reply quotes the file: %v", err)
			}
			if took > time.Second {
				t.Errorf("refused after %v, want at once", took)
			}
			if c.code == "403" && c.name != "folder itself" && c.name != "symlink out" {
				outside = append(outside, outsideMsg(err, c.file))
			}
			t.Logf("%s: %v", c.name, err)
		})
	}
	// /dev/zero and the 2 GiB file were refused before reading: the process's peak resident
	// set (VmHWM, which no later free can hide) did not grow by anything like their size.
	if grew := peakRSS(t) - peakBefore; grew > 64<<20 {
		t.Errorf("peak RSS grew by %d MiB during the refused loads", grew>>20)
	}
	for _, m := range outside[1:] {
		if m != outside[0] {
			t.Errorf("paths outside the folders get different replies:\n%s\n%s", outside[0], m)
		}
	}
	if st := d.Figures(); len(st.Models) != 0 {
		t.Errorf("a refused load left models running: %v", st.Models)
	}

	// A slow load: stop and status are answered while it runs, and frames keep coming.
	slow := make(chan error, 1)
	go func() {
		slow <- call(acquisition.EndpointLoad, &pb.LoadModelRequest{Name: "slow", File: good}, &pb.LoadModelReply{})
	}()
	<-started
	// (The service takes one load request at a time, so the second goes to the daemon directly.)
	if _, err := d.LoadModel(ctx, daemon.LoadRequest{Name: "slow", File: good}); !errors.Is(err, daemon.ErrConflict) {
		t.Errorf("a second load of a name being loaded: %v, want daemon.ErrConflict", err)
	}
	start := time.Now()
	var stopped pb.StopSessionReply
	if err := call(acquisition.EndpointStop, &pb.StopSessionRequest{}, &stopped); err != nil || stopped.Session != "s1" {
		t.Fatalf("stop during a slow load: %v %v", &stopped, err)
	}
	var st pb.StatusReply
	if err := call(acquisition.EndpointStatus, &pb.StatusRequest{}, &st); err != nil {
		t.Fatalf("status during a slow load: %v", err)
	}
	t.Logf("stop and status answered in %v while the load ran", time.Since(start))
	waitFrames(20)
	select {
	case err := <-slow:
		t.Fatalf("the slow load ended before it was released: %v", err)
	default:
	}
	close(release)
	if err := <-slow; err != nil {
		t.Fatalf("the slow load, released: %v", err)
	}
	waitFrames(10)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	out := logs.String()
	for _, want := range []string{`requester="client=stranger-laptop (declared)"`, "model load refused", "daemon: model loaded"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log has no %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "root:x") {
		t.Errorf("the log quotes a file's content")
	}
}

// peakRSS is the process's peak resident set size in bytes (VmHWM in /proc/self/status).
func peakRSS(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "VmHWM:" && f[2] == "kB" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}
