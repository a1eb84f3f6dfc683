// Package acquisitiontest holds test stand-ins for the acquisition side of NATS: an external
// nats-server started with the lab's configuration (configs/nats-lab.conf), for the tests that
// must hold against the server a lab really runs, not only the embedded one.
package acquisitiontest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"retinad/internal/testenv"
	"strings"
	"sync"
	"testing"
	"time"
)

// NATSServerBin is Debian's nats-server (scripts/setup installs it).
const NATSServerBin = "/usr/sbin/nats-server"

// LabPasswords are the passwords the lab config reads from nats-server's environment, as the
// tests set them: the key is the environment variable, e.g. RETINAD_OPERATOR_PASSWORD.
var LabPasswords = map[string]string{
	"RETINAD_DAEMON_PASSWORD":      "daemon-secret",
	"RETINAD_ACQUISITION_PASSWORD": "acq-secret",
	"RETINAD_OPERATOR_PASSWORD":    "op-secret",
	"RETINAD_WORKER1_PASSWORD":     "worker-secret",
	"RETINAD_ANONYMOUS_PASSWORD":   "anonymous-secret",
}

// LabUsers are the lab config's user names, by role.
var LabUsers = map[string]string{
	"daemon": "retinad-rig1", "acquisition": "acquisition", "operator": "operator", "worker": "worker1",
}

// StartLabServer starts NATSServerBin with the lab config at conf (as shipped, but for its
// JetStream store, moved into a temporary folder) on a free loopback port, and returns its URL.
// A missing binary ends the test through testenv.Missing. The server is killed when the test ends; its
// log is shown if the test failed.
func StartLabServer(t testing.TB, conf string) string {
	t.Helper()
	testenv.Path(t, "Debian's nats-server (scripts/setup)", NATSServerBin)
	dir := t.TempDir()
	text, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	store := regexp.MustCompile(`(?m)^(\s*store_dir:).*$`)
	if !store.Match(text) {
		t.Fatalf("%s: no jetstream store_dir", conf)
	}
	// nats-server 2.9 refuses a second store_dir on its command line: rewrite the file's.
	text = store.ReplaceAll(text, []byte("${1} "+filepath.Join(dir, "js")))
	copyConf := filepath.Join(dir, "nats-lab.conf")
	if err := os.WriteFile(copyConf, text, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(NATSServerBin, "-c", copyConf, "-a", "127.0.0.1", "-p", "-1", "--ports_file_dir", dir)
	cmd.Env = os.Environ()
	for k, v := range LabPasswords {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var log strings.Builder
	done := make(chan struct{})
	go func() {
		defer close(done)
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			mu.Lock()
			log.WriteString(s.Text() + "\n")
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		cmd.Wait()
		if t.Failed() {
			t.Logf("nats-server log:\n%s", log.String())
		}
	})
	portsFile := filepath.Join(dir, fmt.Sprintf("nats-server_%d.ports", cmd.Process.Pid))
	var ports struct{ Nats []string }
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		data, err := os.ReadFile(portsFile)
		if err == nil && json.Unmarshal(data, &ports) == nil && len(ports.Nats) > 0 {
			return ports.Nats[0]
		}
		exited := false
		select {
		case <-done: // its stderr closed: it exited
			exited = true
		default:
		}
		if exited || time.Since(start) > 10*time.Second {
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("nats-server wrote no ports file (exited: %v):\n%s", exited, log.String())
		}
	}
}
