package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"retinad/acquisition/acquisitiontest"
	"retinad/internal/testwait"
	pb "retinad/proto/retinadpb"
)

// TestSecurityCLI runs the control attacks of issue 16 the way they were first tried: real
// `retinad control` processes against a real `retinad run` (simulated rig, embedded server with
// users), as a stranger (no credentials: the observer) and as the acquisition system (the wrong
// role). Each is refused by the server, says so, and the session goes on; an operator may
// control, and an observer exports the session. The same attacks through Go clients, against
// the embedded server and an external nats-server, are in acquisition/security_test.go.
func TestSecurityCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	bin := buildRetinad(t, t.TempDir())
	t.Run("embedded", func(t *testing.T) {
		runSecurityCLI(t, bin, "sim", `nats:
  embedded: true
  listen: "127.0.0.1:0"
  users:
    - {name: op, role: operator, password: op-secret}
    - {name: acq, role: acquisition, password: acq-secret}
`, "", []string{"--user", "op", "--password", "op-secret"}, []string{"--user", "acq", "--password", "acq-secret"})
	})
	t.Run("nats-server", func(t *testing.T) {
		url := acquisitiontest.StartLabServer(t, "../../configs/nats-lab.conf")
		pw, users := acquisitiontest.LabPasswords, acquisitiontest.LabUsers
		runSecurityCLI(t, bin, "rig1", fmt.Sprintf("nats: {embedded: false, url: %q, user: %s, password: %s}\n", url, users["daemon"], pw["RETINAD_DAEMON_PASSWORD"]), url,
			[]string{"--user", users["operator"], "--password", pw["RETINAD_OPERATOR_PASSWORD"]},
			[]string{"--user", users["acquisition"], "--password", pw["RETINAD_ACQUISITION_PASSWORD"]})
	})
}

// runSecurityCLI runs `retinad run` for rig with the nats block natsYAML (url: the external
// server's, or "" to read the embedded one's from the daemon's output), then the attacks with
// real `retinad control` processes; op and acq are the operator's and acquisition's flags.
func runSecurityCLI(t *testing.T, bin, rig, natsYAML, url string, op, acq []string) {
	embedded := url == ""
	dir := t.TempDir()
	cfg := filepath.Join(dir, "rig.yaml")
	yaml := "rig: " + rig + `
display: {mode: auto, refresh: 100Hz}
photodiode: {device: sim}
` + natsYAML + `stimulus: {kind: whitenoise, frame_rate: 100Hz, height: 50, width: 50, whitenoise: {checker: 5}}
acquisition: {simulate: true, cells: 8, batch_interval: 20ms, clock_offset: 3s, clock_drift_ppm: 20}
recording: {enabled: true, dir: ` + filepath.Join(dir, "rec") + `}
dashboard: {status_every: 100ms}
`
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	daemon := exec.Command(bin, "run", "--config", cfg, "--session", "s1")
	stdout, err := daemon.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var daemonLog strings.Builder
	daemon.Stderr = &daemonLog
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	defer daemon.Process.Kill()
	kill := time.AfterFunc(2*time.Minute, func() { daemon.Process.Kill() })
	defer kill.Stop()
	lines := bufio.NewScanner(stdout)
	ready := false
	for !ready && lines.Scan() {
		if m := regexp.MustCompile(`--server (nats://\S+)`).FindStringSubmatch(lines.Text()); m != nil {
			ready = true
			if url == "" {
				url = m[1]
			}
		}
	}
	if !ready {
		daemon.Wait()
		t.Fatalf("no NATS URL in the daemon's output\n%s", daemonLog.String())
	}
	go func() { // keep draining the status lines
		for lines.Scan() {
		}
	}()

	control := func(creds []string, verb ...string) (string, error) {
		args := append(append([]string{"control", "--server", url, "--rig", rig, "--timeout", "5s"}, creds...), verb...)
		out, err := exec.Command(bin, args...).CombinedOutput()
		return string(out), err
	}
	stranger := []string(nil)
	status := func(who []string) *pb.Status {
		t.Helper()
		out, err := control(who, "status")
		if err != nil {
			t.Fatalf("control status: %v\n%s", err, out)
		}
		var rep pb.StatusReply
		if err := protojson.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("control status: %v\n%s", err, out)
		}
		return rep.Status
	}
	// The daemon prints its URL before its control service is up: wait for the service.
	var reply string
	if !testwait.Until(30*time.Second, func() bool {
		reply, err = control(stranger, "status")
		if err != nil && !strings.Contains(reply, "no responders") {
			t.Fatalf("control status: %v\n%s", err, reply) // refused, not merely early
		}
		return err == nil
	}) {
		t.Fatalf("control status: %v\n%s", err, reply)
	}
	if s := status(stranger); s.Session != "s1" {
		t.Fatalf("session %q before the attacks, want s1", s.Session)
	}
	models := len(status(stranger).Models)
	for _, who := range []struct {
		name  string
		creds []string
	}{{"stranger", stranger}, {"acquisition", acq}} {
		for _, verb := range [][]string{{"stop"}, {"start", "evil"}, {"load", "pw", "/etc/passwd"}, {"unload", "cnn"}, {"mark", "forged"}} {
			out, err := control(who.creds, verb...)
			if err == nil {
				t.Errorf("control %s as %s: succeeded: %s", verb[0], who.name, out)
				continue
			}
			if !strings.Contains(out, "refused by the NATS server") || !strings.Contains(out, "operator role") {
				t.Errorf("control %s as %s: %v, want a refusal that names the operator role:\n%s", verb[0], who.name, err, out)
			}
			if strings.Contains(out, "root:") {
				t.Errorf("control %s as %s: the reply shows a file's content:\n%s", verb[0], who.name, out)
			}
		}
	}
	if s := status(stranger); s.Session != "s1" || len(s.Models) != models {
		t.Errorf("after the attacks: session %q with %d models, want s1 with %d", s.Session, len(s.Models), models)
	}

	// A stranger may watch the rig's subjects, not everything on the server.
	tap := func(subject string) (string, error) {
		out, err := exec.Command(bin, "tap", "--server", url, "--subject", subject, "--count", "1").CombinedOutput()
		return string(out), err
	}
	if out, err := tap("retinad.>"); err == nil || !strings.Contains(out, "refused by the NATS server") {
		t.Errorf("tap retinad.> as a stranger: %v, want refused:\n%s", err, out)
	}
	if out, err := tap("retinad." + rig + ".status"); err != nil || !strings.Contains(out, "retinad."+rig+".status") {
		t.Errorf("tap retinad.%s.status as a stranger: %v\n%s", rig, err, out)
	}

	// The operator may control: it stops the session (once the virtual retina's spikes are in
	// it), which an observer then exports.
	testwait.Must(t, 30*time.Second, "spikes in the session", func() bool { return status(stranger).Spikes > 0 })
	if out, err := control(op, "stop"); err != nil {
		t.Fatalf("control stop as operator: %v\n%s", err, out)
	}
	if s := status(stranger); s.Session != "" {
		t.Errorf("session %q after the operator's stop, want none", s.Session)
	}
	npz := filepath.Join(dir, "s1.npz")
	out, err := exec.Command(bin, "export", "--server", url, "--config", cfg, "--session", "s1", "--out", npz).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "session s1") {
		t.Errorf("export as an observer: %v\n%s", err, out)
	}
	if err := daemon.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := daemon.Wait(); err != nil {
		t.Errorf("daemon exit: %v\n%s", err, daemonLog.String())
	}
	// The embedded server's refusals are in the daemon's log (an external server logs its own).
	if n := strings.Count(daemonLog.String(), "Publish Violation"); embedded && n < 10 {
		t.Errorf("the daemon's log shows %d refused publishes, want the 10 attacks:\n%s", n, daemonLog.String())
	}
	if embedded {
		m := regexp.MustCompile(`NATS server refused clients.* refused=(\d+)`).FindStringSubmatch(daemonLog.String())
		n := 0
		if m != nil {
			n, _ = strconv.Atoi(m[1])
		}
		if n < 10 {
			t.Errorf("the daemon's final log counts %d refusals, want the 10 attacks at least:\n%s", n, daemonLog.String())
		}
	}
}

// TestAllowRemoteRefused: a config whose embedded server would listen beyond loopback with no
// users and no TLS is refused by check-config and by run, both saying what to add.
func TestAllowRemoteRefused(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "remote.yaml")
	if err := os.WriteFile(cfg, []byte("nats: {embedded: true, listen: \"0.0.0.0:0\", allow_remote: true}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"check-config", cfg}, {"run", "--config", cfg}} {
		code, _, msg := run(t, args...)
		if code == 0 {
			t.Errorf("%v: exit 0, want refused", args)
		}
		if !strings.Contains(msg, "nats.allow_remote") || !strings.Contains(msg, "nats.users") || !strings.Contains(msg, "nats.server_tls") {
			t.Errorf("%v: %q, want a message naming nats.allow_remote and what to add", args, msg)
		}
	}
}
