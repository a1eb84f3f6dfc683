package main

import (
	"bufio"
	"context"
	"errors"
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
	"google.golang.org/protobuf/proto"

	"retinad/acquisition"
	"retinad/daemon/daemontest"
	"retinad/infer"
	"retinad/infer/infertest"
	"retinad/internal/testwait"
	pb "retinad/proto/retinadpb"
)

// TestControlLoadAttacksOnRealDaemon runs a real `retinad run` process (sim rig, embedded NATS
// on a free loopback port, no control.model_dirs: the configured model's folder) and sends it
// the loads of issue 16 as a stranger's client would: /etc/passwd (its content was echoed),
// /dev/zero (it ran the daemon out of memory), a 2 GiB file, a folder, a FIFO, a `..` escape.
// Each is refused at once, no reply quotes a file, the daemon's peak RSS does not grow, a model
// inside the folder still loads, the frames keep coming, and the log names who asked.
func TestControlLoadAttacksOnRealDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dir := t.TempDir()
	models := filepath.Join(dir, "models")
	if err := os.Mkdir(models, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"ln.rtm", "ln2.rtm"} {
		if err := infer.Save(filepath.Join(models, f), infertest.LNModel(1, infertest.Small)); err != nil {
			t.Fatal(err)
		}
	}
	huge, err := os.Create(filepath.Join(models, "huge.rtm"))
	if err != nil {
		t.Fatal(err)
	}
	if err := huge.Truncate(2 << 30); err != nil {
		t.Fatal(err)
	}
	huge.Close()
	if err := syscall.Mkfifo(filepath.Join(models, "fifo.rtm"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(models, "old"), 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "retinad")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cfg := writeFile(t, dir, "sim.yaml", []byte(`rig: sim
display: {mode: auto, refresh: 100Hz, rect: {x: 0, y: 0, width: 480, height: 480}}
photodiode: {device: sim}
nats: {embedded: true, listen: "127.0.0.1:0", users: [{name: op, role: operator, password: op-secret}]}
models: [{name: ln, file: models/ln.rtm}]
stimulus: {kind: whitenoise, frame_rate: 100Hz, height: 16, width: 16}
acquisition: {simulate: false}
recording: {enabled: false}
dashboard: {status_every: 100ms}
`))
	cmd := exec.Command(bin, "run", "--config", cfg)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr daemontest.LockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	kill := time.AfterFunc(90*time.Second, func() { cmd.Process.Kill() })
	defer kill.Stop()
	lines := bufio.NewScanner(stdout)
	var url string
	for url == "" && lines.Scan() {
		if m := regexp.MustCompile(`tap --server (nats://\S+)`).FindStringSubmatch(lines.Text()); m != nil {
			url = m[1]
		}
	}
	if url == "" {
		t.Fatalf("no NATS address on stdout\n%s", stderr.String())
	}
	var statusLines sync.WaitGroup
	statusLines.Add(1)
	var frames []string
	var mu sync.Mutex
	go func() {
		defer statusLines.Done()
		for lines.Scan() {
			mu.Lock()
			frames = append(frames, lines.Text())
			mu.Unlock()
		}
	}()
	nc, err := nats.Connect(url, nats.Name("stranger-laptop"), nats.UserInfo("op", "op-secret")) // an operator: control is theirs alone
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	subj, _ := acquisition.SubjectsFor("sim")
	call := func(endpoint string, req, rep proto.Message) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return acquisition.Call(ctx, nc, subj, endpoint, req, rep)
	}
	status := func() *pb.Status {
		var st pb.StatusReply
		if err := call(acquisition.EndpointStatus, &pb.StatusRequest{}, &st); err != nil {
			t.Fatalf("status: %v", err)
		}
		return st.Status
	}
	// Wait for the control service to answer (it starts with the daemon's components, after the
	// address is printed) and the frame loop to run, by its frame count.
	if !testwait.Until(30*time.Second, func() bool {
		var st pb.StatusReply
		return call(acquisition.EndpointStatus, &pb.StatusRequest{}, &st) == nil && st.Status.GetFrames() >= 20
	}) {
		t.Fatalf("no status with 20 frames in 30 s\n%s", stderr.String())
	}
	peak0 := procPeakRSS(t, cmd.Process.Pid)
	frames0 := status().GetFrames()
	for _, c := range []struct{ file, code, want string }{
		{"/etc/passwd", "403", "not inside the model folders"},
		{"/etc/shadow", "403", "not inside the model folders"},
		{"/dev/zero", "403", "not inside the model folders"},
		{filepath.Join(models, "..", "sim.yaml"), "403", "not inside the model folders"},
		{filepath.Join(models, "huge.rtm"), "400", "2147483648 bytes, more than the 268435456"},
		{filepath.Join(models, "fifo.rtm"), "400", "a FIFO"},
		{filepath.Join(models, "old"), "400", "a folder"},
		{filepath.Join(models, "missing.rtm"), "404", "no such file"},
	} {
		start := time.Now()
		err := call(acquisition.EndpointLoad, &pb.LoadModelRequest{Name: "x", File: c.file}, &pb.LoadModelReply{})
		var ce *acquisition.ControlError
		if !errors.As(err, &ce) || ce.Code != c.code || !strings.Contains(err.Error(), c.want) {
			t.Errorf("load %s: %v, want code %s with %q", c.file, err, c.code, c.want)
			continue
		}
		if strings.Contains(err.Error(), "root:") || strings.Contains(err.Error(), "rig: sim") {
			t.Errorf("load %s: the reply quotes a file: %v", c.file, err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("load %s: refused after %v", c.file, took)
		}
		t.Logf("load %s: %s %v", c.file, ce.Code, err)
	}
	peak1 := procPeakRSS(t, cmd.Process.Pid)
	if grew := peak1 - peak0; grew > 64<<20 {
		t.Errorf("the daemon's peak RSS grew by %d MiB over the refused loads", grew>>20)
	}
	t.Logf("daemon peak RSS %d MiB before the refused loads, %d MiB after", peak0>>20, peak1>>20)
	var rep pb.LoadModelReply
	if err := call(acquisition.EndpointLoad, &pb.LoadModelRequest{Name: "ln2", File: filepath.Join(models, "ln2.rtm")}, &rep); err != nil || len(rep.CellIds) != 3 {
		t.Errorf("a model inside the folder: %v %v", &rep, err)
	}
	// Status is refreshed every status period: the count must move on within a few.
	if !testwait.Until(5*time.Second, func() bool { return status().GetFrames() >= frames0+20 }) {
		t.Fatalf("frames %d then %d 5 s later: the frame loop stopped", frames0, status().GetFrames())
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	statusLines.Wait()
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit: %v\n%s", err, stderr.String())
	}
	log := stderr.String()
	for _, want := range []string{`requester="client=stranger-laptop (declared)"`, `msg="daemon: model load refused"`, `file=/dev/zero`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

// procPeakRSS is process pid's peak resident set size in bytes (VmHWM).
func procPeakRSS(t *testing.T, pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}
