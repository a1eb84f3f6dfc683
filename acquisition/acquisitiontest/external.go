package acquisitiontest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"
)

// ExternalServer is a nats-server process on 127.0.0.1, with JetStream stored in a folder of
// the test's when asked. Kill and Restart may be called in turn; the test's cleanup kills it.
type ExternalServer struct {
	t     testing.TB
	bin   string
	port  int
	store string // "" without JetStream
	cmd   *exec.Cmd
}

// NATSServerBinary finds Debian's nats-server (installed by scripts/setup), or fails t.
func NATSServerBinary(t testing.TB) string {
	for _, p := range []string{"/usr/sbin/nats-server", "/usr/bin/nats-server"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p
	}
	t.Fatal("acquisitiontest: nats-server not installed: run scripts/setup")
	return ""
}

// StartExternal starts a nats-server on a free port of 127.0.0.1 (JetStream in store, unless
// store is "") and waits until it accepts connections. The port is held for the test
// (reservePort): between a Kill and a Restart no other socket can take it.
func StartExternal(t testing.TB, store string) *ExternalServer {
	t.Helper()
	port, release := reservePort(t)
	t.Cleanup(release)
	s := &ExternalServer{t: t, bin: NATSServerBinary(t), port: port, store: store}
	s.Restart()
	t.Cleanup(s.Kill)
	return s
}

// URL is the server's client URL.
func (s *ExternalServer) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.port) }

// Kill kills the server (SIGKILL, as a crash or a pulled cable would end it) and waits for it.
func (s *ExternalServer) Kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Restart starts the server again on the same port and store and waits, up to 10 s, until it
// accepts connections.
func (s *ExternalServer) Restart() {
	s.t.Helper()
	args := []string{"-a", "127.0.0.1", "-p", fmt.Sprint(s.port)}
	if s.store != "" {
		args = append(args, "-js", "-sd", s.store)
	}
	cmd := exec.Command(s.bin, args...)
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("acquisitiontest: start %s: %v", s.bin, err)
	}
	s.cmd = cmd
	addr := fmt.Sprintf("127.0.0.1:%d", s.port)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			s.Kill()
			s.t.Fatalf("acquisitiontest: nats-server did not listen on %s within 10 s", addr)
		}
	}
}
