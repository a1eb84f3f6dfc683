package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"retinad/internal/testwait"
	pb "retinad/proto/retinadpb"
)

// semver is the micro services' check (nats.go micro), which a version must pass for the
// control service to start.
var semver = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

func TestBuildVersionIsSemantic(t *testing.T) {
	for _, c := range []struct{ set, want string }{{"dev", "0.0.0-dev"}, {"v1.2.3", "1.2.3"}, {"1.4.0-rc.1", "1.4.0-rc.1"}} {
		old := version
		version = c.set
		got := buildVersion()
		version = old
		if got != c.want || !semver.MatchString(got) {
			t.Errorf("version %q: buildVersion %q, want %q (semantic)", c.set, got, c.want)
		}
	}
}

// TestOneVersionEverywhere builds retinad with a version, runs it on the simulated rig, and
// asks what a user would: `retinad version`, the control micro service's info and
// Status.version all say the build's version (SessionEvent.version, published before a
// subscriber could join, is checked in daemon's TestSessionCountersStartFromZero).
func TestOneVersionEverywhere(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "retinad")
	if out, err := exec.Command("go", "build", "-ldflags", "-X main.version=v3.1.4", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "retinad 3.1.4 ") {
		t.Fatalf("retinad version: %q %v", out, err)
	}
	cfg := filepath.Join(dir, "sim.yaml")
	yaml := `rig: sim
display: {mode: auto, refresh: 100Hz}
photodiode: {device: none}
nats: {embedded: true, listen: "127.0.0.1:0"}
stimulus: {kind: whitenoise, frame_rate: 100Hz, height: 20, width: 20, whitenoise: {checker: 5}}
dashboard: {status_every: 100ms}
`
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", cfg)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	kill := time.AfterFunc(60*time.Second, func() { _ = cmd.Process.Kill() })
	defer kill.Stop()
	lines := bufio.NewScanner(stdout)
	url := ""
	for url == "" && lines.Scan() {
		if i := strings.Index(lines.Text(), "nats://127.0.0.1:"); i >= 0 {
			url = strings.TrimRight(strings.Fields(lines.Text()[i:])[0], ";,.")
		}
	}
	if url == "" {
		t.Fatalf("no server URL in the output; stderr:\n%s", stderr.String())
	}
	go func() {
		for lines.Scan() {
		}
	}()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var info struct {
		Name, Version string
	}
	var reply *nats.Msg
	testwait.Until(20*time.Second, func() bool { // a failure is reported below, with err
		reply, err = nc.Request("$SRV.INFO.retinad", nil, time.Second)
		return err == nil
	})
	if err != nil {
		t.Fatalf("micro info of the control service: %v; stderr:\n%s", err, stderr.String())
	}
	if err := json.Unmarshal(reply.Data, &info); err != nil || info.Version != "3.1.4" {
		t.Errorf("control service info %s (%v): want version 3.1.4", reply.Data, err)
	}
	sub, err := nc.SubscribeSync("retinad.sim.status")
	if err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var st pb.Status
	if err := proto.Unmarshal(m.Data, &st); err != nil || st.Version != "3.1.4" {
		t.Errorf("Status.version %q (%v), want 3.1.4", st.Version, err)
	}
}
