package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"retinad/acquisition"
	"retinad/configs"
	"retinad/daemon/daemontest"
	"retinad/proto/contract"
	pb "retinad/proto/retinadpb"
)

// The recording store's tests run the real retinad binary (built here with go build) on the
// simulated rig: real GL under Xvfb or EGL, the fake photodiode over a pty, the embedded NATS
// server with JetStream in t.TempDir(), the virtual retina.

// buildRetinad builds the binary under test into dir.
func buildRetinad(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "retinad")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// simConfig writes a config based on configs/sim.yaml (no models, whitenoise, port 0) that
// records into dir/rec, with extra recording settings.
func simConfig(t *testing.T, dir, recording string) (file, rec string) {
	t.Helper()
	rec = filepath.Join(dir, "rec")
	yaml := `rig: sim
display: {mode: auto, refresh: 100Hz}
photodiode: {device: sim}
nats: {embedded: true, listen: "127.0.0.1:0", users: [{name: op, role: operator, password: op-secret}]}
stimulus: {kind: whitenoise, frame_rate: 100Hz, height: 50, width: 50, whitenoise: {checker: 5}}
acquisition: {simulate: true, cells: 8, batch_interval: 20ms, clock_offset: 3s, clock_drift_ppm: 20}
recording: {enabled: true, dir: ` + rec + recording + `}
dashboard: {status_every: 100ms}
`
	file = filepath.Join(dir, "sim.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return file, rec
}

// daemonProc is a running `retinad run`: its status lines, its NATS URL and its log.
type daemonProc struct {
	cmd    *exec.Cmd
	url    string
	stderr *daemontest.LockedBuffer
	mu     sync.Mutex
	lines  []string // status lines so far
	more   chan struct{}
	done   chan error
}

var natsURL = regexp.MustCompile(`NATS (nats://127\.0\.0\.1:\d+)`)

// startDaemon runs `retinad run --config cfg --session session` and waits for its NATS URL.
func startDaemon(t *testing.T, bin, cfg, session string) *daemonProc {
	t.Helper()
	d := &daemonProc{cmd: exec.Command(bin, "run", "--config", cfg, "--session", session), stderr: &daemontest.LockedBuffer{},
		more: make(chan struct{}, 1), done: make(chan error, 1)}
	d.cmd.Stderr = d.stderr
	out, err := d.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.cmd.Process.Kill(); <-d.done })
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			l := sc.Text()
			if m := natsURL.FindStringSubmatch(l); m != nil {
				urls <- m[1]
			}
			if strings.HasPrefix(l, "frames ") {
				d.mu.Lock()
				d.lines = append(d.lines, l)
				d.mu.Unlock()
				select {
				case d.more <- struct{}{}:
				default:
				}
			}
		}
		d.done <- d.cmd.Wait()
	}()
	select {
	case d.url = <-urls:
	case err := <-d.done:
		d.done <- err
		t.Fatalf("retinad run exited before serving NATS: %v\n%s", err, d.stderr)
	case <-time.After(60 * time.Second):
		t.Fatalf("retinad run: no NATS URL after 60s\n%s", d.stderr)
	}
	return d
}

// waitLines waits until the daemon has printed n status lines in all, and returns the last.
func (d *daemonProc) waitLines(t *testing.T, n int) string {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		d.mu.Lock()
		if len(d.lines) >= n {
			l := d.lines[len(d.lines)-1]
			d.mu.Unlock()
			return l
		}
		d.mu.Unlock()
		select {
		case <-d.more:
		case err := <-d.done:
			d.done <- err
			t.Fatalf("retinad run exited (%v) before %d status lines\n%s", err, n, d.stderr)
		case <-timeout:
			t.Fatalf("fewer than %d status lines after 60s\n%s", n, d.stderr)
		}
	}
}

// waitLine waits until a status line contains s, and returns it.
func (d *daemonProc) waitLine(t *testing.T, s string, within time.Duration) string {
	t.Helper()
	deadline := time.After(within)
	for seen := 0; ; {
		d.mu.Lock()
		for ; seen < len(d.lines); seen++ {
			if strings.Contains(d.lines[seen], s) {
				l := d.lines[seen]
				d.mu.Unlock()
				return l
			}
		}
		d.mu.Unlock()
		select {
		case <-d.more:
		case <-deadline:
			t.Fatalf("no status line with %q within %v\n%s", s, within, d.stderr)
		}
	}
}

// count is how many status lines the daemon has printed.
func (d *daemonProc) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.lines)
}

// stop sends SIGINT and waits for a clean exit.
func (d *daemonProc) stop(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.done:
		d.done <- err
		if err != nil {
			t.Fatalf("retinad run after SIGINT: %v\n%s", err, d.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("retinad run still running 30s after SIGINT\n%s", d.stderr)
	}
}

// retinad runs one command of the binary and returns its exit error and output.
func retinad(bin string, args ...string) (stdout, stderr string, err error) {
	cmd := exec.Command(bin, args...)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// framesOf reads the session from the recording folder (the daemon stopped) and returns its
// range and how many frames it holds; they must be contiguous from frame 0.
func framesOf(t *testing.T, conn *nats.Conn, session string) (acquisition.SessionRange, uint64) {
	t.Helper()
	subj, _ := contract.SubjectsFor("sim")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := acquisition.FindSession(ctx, conn, subj, session)
	if err != nil {
		t.Fatal(err)
	}
	next := uint64(0)
	var o pb.FrameOnset
	err = acquisition.ReadSession(ctx, conn, subj, r, func(subject string, seq uint64, data []byte) error {
		if subject != subj.Frame {
			return nil
		}
		if err := proto.Unmarshal(data, &o); err != nil {
			return err
		}
		if o.Session == session {
			if o.Frame != next {
				return fmt.Errorf("sequence %d: frame %d, want %d", seq, o.Frame, next)
			}
			next++
		}
		return nil
	})
	if err != nil {
		t.Fatalf("session %s: %v", session, err)
	}
	return r, next
}

// openFolder opens a stopped daemon's recording folder in-process.
func openFolder(t *testing.T, rec string) *acquisition.Bus {
	t.Helper()
	b, err := acquisition.Start(configs.NATS{Embedded: true}, acquisition.BusOptions{StoreDir: rec})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Stop() })
	return b
}

var framesRe = regexp.MustCompile(`^frames (\d+) `)

func statusFrames(line string) uint64 {
	m := framesRe.FindStringSubmatch(line)
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return n
}

// TestTwoDaemonsOneFolder starts a daemon, then a second on the same config: the second must
// refuse in under a second naming the folder, the first's PID and recording.dir; an export
// without --server must refuse and say to pass --server; an export through the first's server
// exports the session so far; the first records on, and its session is whole once it stops.
func TestTwoDaemonsOneFolder(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dir := t.TempDir()
	bin := buildRetinad(t, dir)
	cfg, rec := simConfig(t, dir, "")
	first := startDaemon(t, bin, cfg, "first")
	first.waitLines(t, 5)

	t0 := time.Now()
	_, stderr, err := retinad(bin, "run", "--config", cfg, "--session", "second")
	took := time.Since(t0)
	t.Logf("second daemon: %v after %v: %s", err, took, strings.TrimSpace(stderr))
	if err == nil {
		t.Fatal("a second daemon ran on a locked recording folder")
	}
	want := fmt.Sprintf("recording folder %s is in use by process %d", rec, first.cmd.Process.Pid)
	if !strings.Contains(stderr, want) || !strings.Contains(stderr, "recording.dir") {
		t.Errorf("second daemon's error does not say %q and recording.dir:\n%s", want, stderr)
	}
	if took > time.Second {
		t.Errorf("second daemon refused after %v, want under a second", took)
	}

	_, stderr, err = retinad(bin, "export", "--config", cfg, "--session", "first", "--out", filepath.Join(dir, "no.npz"))
	if err == nil || !strings.Contains(stderr, "is in use by process") || !strings.Contains(stderr, "--server") {
		t.Errorf("export without --server on the daemon's folder: %v\n%s", err, stderr)
	}

	live := filepath.Join(dir, "live.npz")
	out, stderr, err := retinad(bin, "export", "--config", cfg, "--server", first.url, "--session", "first", "--out", live)
	if err != nil {
		t.Fatalf("export of the live session through --server: %v\n%s%s", err, out, stderr)
	}
	t.Logf("live export: %s%s", out, stderr)
	if !strings.Contains(stderr, "has no STOP event") {
		t.Errorf("live export does not say the session has not ended:\n%s", stderr)
	}

	before := first.waitLines(t, 1)
	last := first.waitLines(t, first.count()+5)
	if statusFrames(last) <= statusFrames(before) {
		t.Errorf("first daemon stopped showing frames after the second's refusal: %d then %d", statusFrames(before), statusFrames(last))
	}
	if strings.Contains(first.stderr.String(), "level=ERROR") {
		t.Errorf("first daemon logged errors:\n%s", first.stderr)
	}
	first.stop(t)
	shown := statusFrames(last)

	b := openFolder(t, rec)
	r, n := framesOf(t, b.Conn(), "first")
	t.Logf("session first: %d frames recorded whole (%d shown by the last status line read), STOP %v", n, shown, r.Stop != nil)
	// Every frame shown has its onset published as the daemon stops (untimed if its edge had not
	// come), and the status line read was before the stop.
	if r.Stop == nil || n < shown {
		t.Errorf("session first: %d frames (at least %d shown), STOP %v; want it whole", n, shown, r.Stop != nil)
	}
	b.Stop()
	out, stderr, err = retinad(bin, "export", "--config", cfg, "--session", "first", "--out", filepath.Join(dir, "first.npz"))
	if err != nil || strings.Contains(stderr, "no STOP") {
		t.Errorf("export of the stopped session: %v\n%s%s", err, out, stderr)
	}
}

// TestRecordingFull records into a small recording.max_bytes until the stream is full: a
// Status on retinad.sim.status must say RECORD_FAILED within a second of the stream's last
// stored message, the status line must say RECORDING FAILED, the log once, the control stop
// reply too; and the part recorded must read back whole and export.
func TestRecordingFull(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dir := t.TempDir()
	bin := buildRetinad(t, dir)
	cfg, rec := simConfig(t, dir, ", max_bytes: 200kB")
	d := startDaemon(t, bin, cfg, "full")
	nc, err := nats.Connect(d.url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	statuses := make(chan *pb.Status, 4096)
	sub, err := nc.Subscribe("retinad.sim.status", func(m *nats.Msg) {
		var s pb.Status
		if proto.Unmarshal(m.Data, &s) == nil {
			statuses <- &s
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	var ok, near, failed *pb.Status
	timeout := time.After(90 * time.Second)
	for failed == nil {
		select {
		case s := <-statuses:
			switch s.RecordState {
			case pb.Status_RECORD_OK:
				ok = s
			case pb.Status_RECORD_NEAR_LIMIT:
				near = s
			case pb.Status_RECORD_FAILED:
				failed = s
			}
		case <-timeout:
			t.Fatalf("no RECORD_FAILED status after 90s\n%s", d.stderr)
		}
	}
	if ok == nil || !ok.Recording || ok.RecordingMaxBytes != 200e3 || ok.DiskFreeBytes == 0 {
		t.Errorf("a healthy status before: %v", ok)
	}
	if near == nil || !near.Recording {
		t.Errorf("no RECORD_NEAR_LIMIT status before the failure: %v", near)
	}
	if failed.Recording || !strings.Contains(failed.RecordingError, "maximum bytes exceeded") {
		t.Errorf("failed status: recording %v, %q", failed.Recording, failed.RecordingError)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := js.Stream(ctx, "RETINAD_sim")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	late := time.Unix(0, failed.UnixNs).Sub(info.State.LastTime)
	t.Logf("stream full at %d bytes; RECORD_FAILED published %v after its last stored message: %s", info.State.Bytes, late, failed.RecordingError)
	if late > time.Second {
		t.Errorf("failure reported %v after the stream's last stored message, want within a second", late)
	}
	line := d.waitLine(t, "RECORDING FAILED: ", 2*time.Second)
	t.Logf("status line: %s", line)

	out, stderr, err := retinad(bin, "control", "--server", d.url, "--user", "op", "--password", "op-secret", "stop") // the operator role
	if err != nil || !strings.Contains(out, "RECORD_FAILED") {
		t.Errorf("control stop: %v, reply does not say RECORD_FAILED:\n%s%s", err, out, stderr)
	}
	d.stop(t)
	if n := strings.Count(d.stderr.String(), "RECORDING FAILED: the session goes on"); n != 1 {
		t.Errorf("the failure is logged %d times, want once:\n%s", n, d.stderr)
	}

	b := openFolder(t, rec)
	_, n := framesOf(t, b.Conn(), "full")
	t.Logf("recorded part: frames 0..%d whole", n-1)
	if n < 100 {
		t.Errorf("recorded part: %d frames", n)
	}
	b.Stop()
	out, stderr, err = retinad(bin, "export", "--config", cfg, "--session", "full", "--out", filepath.Join(dir, "full.npz"))
	t.Logf("export: %s%s", out, stderr)
	if err != nil || !strings.Contains(stderr, "no STOP event") {
		t.Errorf("export of the recorded part: %v, want success saying the STOP is missing", err)
	}
}

// TestKilledDaemonResumes kills a recording daemon with SIGKILL, restarts it on the same folder
// (the lock died with it), and checks that the interrupted session is there with at most one
// second missing (against the last frame a subscriber saw, and the kill's time), and that its
// export says it was interrupted.
func TestKilledDaemonResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dir := t.TempDir()
	bin := buildRetinad(t, dir)
	cfg, _ := simConfig(t, dir, "")
	d := startDaemon(t, bin, cfg, "killed")
	nc, err := nats.Connect(d.url)
	if err != nil {
		t.Fatal(err)
	}
	var seen struct {
		sync.Mutex
		frame uint64
	}
	_, err = nc.Subscribe("retinad.sim.frame", func(m *nats.Msg) {
		var o pb.FrameOnset
		if proto.Unmarshal(m.Data, &o) == nil {
			seen.Lock()
			seen.frame = max(seen.frame, o.Frame)
			seen.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	d.waitLines(t, 20) // 2 s of frames
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if err := <-d.done; err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("daemon exit after SIGKILL: %v", err)
	}
	d.done <- errors.New("killed")
	nc.Close()
	seen.Lock()
	lastSeen := seen.frame
	seen.Unlock()

	again := startDaemon(t, bin, cfg, "after")
	again.waitLines(t, 5)
	conn, err := nats.Connect(again.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r, n := framesOf(t, conn, "killed")
	subj, _ := contract.SubjectsFor("sim")
	end, err := acquisition.LastStored(context.Background(), conn, subj, r)
	if err != nil {
		t.Fatal(err)
	}
	missing := int64(lastSeen) + 1 - int64(n)
	t.Logf("killed session: frames 0..%d recorded, %d seen by a subscriber before the kill (%d missing); record ends %v before the kill",
		n-1, lastSeen+1, missing, killed.Sub(end))
	if r.Stop != nil {
		t.Error("a STOP was recorded for a killed session")
	}
	if missing > 100 || killed.Sub(end) > time.Second {
		t.Errorf("%d frames (more than 1 s at 100 Hz) or %v missing from the killed session", missing, killed.Sub(end))
	}

	out, stderr, err := retinad(bin, "export", "--config", cfg, "--server", again.url, "--session", "killed", "--out", filepath.Join(dir, "killed.npz"))
	t.Logf("export: %s%s", out, stderr)
	if err != nil || !strings.Contains(stderr, "session killed has no STOP event") || !strings.Contains(stderr, "recorded up to") {
		t.Errorf("export of the killed session: %v; want success saying it was interrupted", err)
	}
	again.stop(t)
}

// TestRunBusyPort holds a port and runs retinad with nats.listen on it: it must refuse in under
// a second naming the address and how to change it, and leave its recording folder unlocked.
func TestRunBusyPort(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dir := t.TempDir()
	bin := buildRetinad(t, dir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg, rec := simConfig(t, dir, "")
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(data), "127.0.0.1:0", addr, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	_, stderr, err := retinad(bin, "run", "--config", cfg)
	took := time.Since(t0)
	t.Logf("%v after %v: %s", err, took, strings.TrimSpace(stderr))
	if err == nil || !strings.Contains(stderr, "nats.listen "+addr+" is busy: another retinad or NATS server probably holds it") ||
		!strings.Contains(stderr, "set nats.listen to a free address") {
		t.Errorf("run on a busy port: %v\n%s", err, stderr)
	}
	if took > time.Second {
		t.Errorf("refused after %v, want under a second", took)
	}
	openFolder(t, rec).Stop() // not left locked
}
