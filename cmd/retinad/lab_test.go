package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"retinad/acquisition"
)

// TestLabExportFromHub runs two real daemons (rigs A and B of the simulated rig) as leaf nodes
// of a hub server, records a session on each, and checks that `retinad export --server HUB
// --rig R` gives the same .npz, byte for byte, as exporting the rig's own recording folder.
func TestLabExportFromHub(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	hub, err := server.NewServer(&server.Options{ServerName: "hub", Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true,
		JetStream: true, JetStreamDomain: "hub", StoreDir: t.TempDir(), MaxPayload: 8 << 20,
		LeafNode: server.LeafNodeOpts{Host: "127.0.0.1", Port: server.RANDOM_PORT}})
	if err != nil {
		t.Fatal(err)
	}
	hub.Start()
	t.Cleanup(func() { hub.Shutdown(); hub.WaitForShutdown() })
	if !hub.ReadyForConnections(10 * time.Second) {
		t.Fatal("hub not ready")
	}
	v, _ := hub.Varz(nil)
	leaf := fmt.Sprintf("nats-leaf://127.0.0.1:%d", v.LeafNode.Port)

	dir := t.TempDir()
	bin := buildRetinad(t, dir)
	if out, stderr, err := retinad(bin, "archive", "--server", hub.ClientURL(), "rigA", "rigB"); err != nil {
		t.Fatalf("retinad archive: %v\n%s%s", err, out, stderr)
	}
	type rig struct {
		name, cfg, rec string
		d              *daemonProc
	}
	var rigs []*rig
	for _, name := range []string{"rigA", "rigB"} {
		rd := filepath.Join(dir, name)
		if err := os.Mkdir(rd, 0o755); err != nil {
			t.Fatal(err)
		}
		cfg, rec := simConfig(t, rd, "")
		b, err := os.ReadFile(cfg)
		if err != nil {
			t.Fatal(err)
		}
		y := strings.Replace(string(b), "rig: sim", "rig: "+name, 1)
		y = strings.Replace(y, "nats: {embedded: true,", "nats: {embedded: true, leaf: {url: \""+leaf+"\"},", 1)
		if err := os.WriteFile(cfg, []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
		rigs = append(rigs, &rig{name: name, cfg: cfg, rec: rec})
	}
	for _, r := range rigs {
		r.d = startDaemon(t, bin, r.cfg, "s1")
	}
	for _, r := range rigs {
		r.d.waitLines(t, 20)
	}
	for _, r := range rigs {
		if out, stderr, err := retinad(bin, "control", "--server", r.d.url, "--rig", r.name, "--user", "op", "--password", "op-secret", "stop"); err != nil {
			t.Fatalf("%s: control stop: %v\n%s%s", r.name, err, out, stderr)
		}
	}
	hc, err := nats.Connect(hub.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	for _, r := range rigs {
		// The rigs record on (status), the session has ended: the archive must hold every
		// message of it, per subject, as the rig's own recording (read through its server).
		subj, _ := acquisition.SubjectsFor(r.name)
		rc, err := nats.Connect(r.d.url)
		if err != nil {
			t.Fatal(err)
		}
		local := sessionSubjects(t, rc, subj, "s1")
		rc.Close()
		var have map[string]uint64
		if !waitUntil(60*time.Second, func() bool {
			have = sessionSubjects(t, hc, subj.InArchive(), "s1")
			return maps.Equal(have, local)
		}) {
			t.Fatalf("%s: the archive holds %v of session s1, the rig recorded %v", r.name, have, local)
		}
		t.Logf("%s: session s1, %v", r.name, local)
	}
	for _, r := range rigs {
		r.d.stop(t)
	}
	for _, r := range rigs {
		rigNPZ, hubNPZ := filepath.Join(dir, r.name+".npz"), filepath.Join(dir, r.name+"-hub.npz")
		if out, stderr, err := retinad(bin, "export", "--config", r.cfg, "--session", "s1", "--out", rigNPZ); err != nil {
			t.Fatalf("export on the rig: %v\n%s%s", err, out, stderr)
		}
		if out, stderr, err := retinad(bin, "export", "--server", hub.ClientURL(), "--rig", r.name, "--session", "s1", "--out", hubNPZ); err != nil {
			t.Fatalf("export from the hub: %v\n%s%s", err, out, stderr)
		}
		a, _ := os.ReadFile(rigNPZ)
		h, _ := os.ReadFile(hubNPZ)
		if len(a) == 0 || !bytes.Equal(a, h) {
			t.Errorf("%s: the hub's export (%d bytes) differs from the rig's (%d bytes)", r.name, len(h), len(a))
		}
	}
}

// sessionSubjects counts the messages of each subject in session's range of subj's recording.
func sessionSubjects(t *testing.T, conn *nats.Conn, subj acquisition.Subjects, session string) map[string]uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := acquisition.FindSession(ctx, conn, subj, session)
	if err != nil {
		return nil // not (yet) in the archive
	}
	n := map[string]uint64{}
	err = acquisition.ReadSession(ctx, conn, subj, r, func(subject string, _ uint64, _ []byte) error {
		n[subject]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// waitUntil polls ok until it holds (true) or timeout passes (false).
func waitUntil(timeout time.Duration, ok func() bool) bool {
	for start := time.Now(); !ok(); time.Sleep(50 * time.Millisecond) {
		if time.Since(start) > timeout {
			return false
		}
	}
	return true
}
