package main

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"retinad/acquisition"
	"retinad/acquisition/acquisitiontest"
	"retinad/configs"
	"retinad/daemon/daemontest"
	"retinad/internal/testwait"
	pb "retinad/proto/retinadpb"
)

// TestLabExportFromHub runs two real daemons (rigs A and B of the simulated rig) as leaf nodes
// of a hub server, records a session on each, and checks that `retinad export --server HUB
// --rig R` gives the same .npz, byte for byte, as exporting the rig's own recording folder.
func TestLabExportFromHub(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	hubs := acquisitiontest.StartHub(t, acquisitiontest.HubOptions{JetStream: true, MaxPayload: 8 << 20,
		Users: acquisitiontest.HubUsers(t, acquisition.LeafPermissions, "rigA", "rigB")})
	hub := hubs[0]
	admin := []string{"--user", "admin", "--password", "admin-secret"}

	dir := t.TempDir()
	bin := buildRetinad(t, dir)
	if out, stderr, err := retinad(bin, append(append([]string{"archive", "--server", hub.ClientURL()}, admin...), "rigA", "rigB")...); err != nil {
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
		leaf := acquisitiontest.LeafURLs(hubs, name, nil)
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
		// The hub forwards a rig its control requests (and only its own): status through the hub.
		out, stderr, err := retinad(bin, append(append([]string{"control", "--server", hub.ClientURL(), "--rig", r.name}, admin...), "status")...)
		if err != nil || !strings.Contains(out, r.name) {
			t.Errorf("%s: control status through the hub: %v\n%s%s", r.name, err, out, stderr)
		}
		if out, stderr, err := retinad(bin, "control", "--server", r.d.url, "--rig", r.name, "--user", "op", "--password", "op-secret", "stop"); err != nil {
			t.Fatalf("%s: control stop: %v\n%s%s", r.name, err, out, stderr)
		}
	}
	hc := acquisitiontest.Admin(t, hub)
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
		if !testwait.Until(60*time.Second, func() bool {
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
		if out, stderr, err := retinad(bin, append([]string{"export", "--server", hub.ClientURL(), "--rig", r.name, "--session", "s1", "--out", hubNPZ}, admin...)...); err != nil {
			t.Fatalf("export from the hub: %v\n%s%s", err, out, stderr)
		}
		a, _ := os.ReadFile(rigNPZ)
		h, _ := os.ReadFile(hubNPZ)
		if len(a) == 0 || !bytes.Equal(a, h) {
			t.Errorf("%s: the hub's export (%d bytes) differs from the rig's (%d bytes)", r.name, len(h), len(a))
		}
	}
}

// TestTapThroughHub runs `retinad tap --server HUB --rig rigA` against a hub whose leaf users
// carry the hub's permissions (acquisition.LeafPermissions) and whose archive sources rigs A
// and B: the messages rig A records on its own embedded server are shown as the archive
// receives them, rig B's are not.
func TestTapThroughHub(t *testing.T) {
	hubs := acquisitiontest.StartHub(t, acquisitiontest.HubOptions{JetStream: true, Users: acquisitiontest.HubUsers(t, acquisition.LeafPermissions, "rigA", "rigB")})
	hub := hubs[0]
	rigs := map[string]*acquisition.Bus{}
	for _, r := range []string{"rigA", "rigB"} {
		b, err := acquisition.Start(configs.NATS{Embedded: true, Leaf: configs.Leaf{URL: acquisitiontest.LeafURLs(hubs, r, nil)}},
			acquisition.BusOptions{Rig: r, StoreDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Stop() })
		subj, _ := acquisition.SubjectsFor(r)
		if err := acquisition.Record(context.Background(), b.Conn(), subj, acquisition.RecordOptions{}); err != nil {
			t.Fatal(err)
		}
		rigs[r] = b
	}
	if code, out, stderr := run(t, "archive", "--server", hub.ClientURL(), "--user", "admin", "--password", "admin-secret", "rigA", "rigB"); code != 0 {
		t.Fatalf("retinad archive: exit %d\n%s%s", code, out, stderr)
	}
	subjA, _ := acquisition.SubjectsFor("rigA")
	subjB, _ := acquisition.SubjectsFor("rigB")

	var out, errb daemontest.LockedBuffer
	done := make(chan int)
	go func() {
		done <- runMain(context.Background(), []string{"tap", "--json", "--count", "3", "--rig", "rigA",
			"--server", hub.ClientURL(), "--user", "admin", "--password", "admin-secret"}, &out, &errb)
	}()
	frame, _ := proto.Marshal(&pb.FrameOnset{Session: "s1", Frame: 7})
	deadline := time.After(30 * time.Second)
	for code := -1; code < 0; {
		select {
		case code = <-done:
			if code != 0 {
				t.Fatalf("tap exit %d: %s", code, errb.String())
			}
		case <-deadline:
			t.Fatalf("tap did not show three of rig A's messages: %s%s", out.String(), errb.String())
		case <-time.After(20 * time.Millisecond): // until tap has begun and taken three
			if err := rigs["rigB"].Conn().Publish(subjB.Frame, frame); err != nil {
				t.Fatal(err)
			}
			if err := rigs["rigA"].Conn().Publish(subjA.Frame, frame); err != nil {
				t.Fatal(err)
			}
		}
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	for _, l := range lines {
		var obj struct {
			Subject string
			Message map[string]any
		}
		if err := json.Unmarshal([]byte(l), &obj); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		if obj.Subject != subjA.Frame || obj.Message["frame"] != "7" {
			t.Errorf("tap --rig rigA showed %s", l)
		}
	}
	if len(lines) != 3 {
		t.Errorf("%d lines, want 3:\n%s", len(lines), out.String())
	}
	if code, _, stderr := run(t, "tap", "--rig", "rigA", "--subject", "retinad.>"); code != 2 || !strings.Contains(stderr, "not both") {
		t.Errorf("--rig with --subject: exit %d, %s", code, stderr)
	}
	if code, _, stderr := run(t, "tap", "--rig", "rig.A"); code != 2 || !strings.Contains(stderr, `rig "rig.A"`) {
		t.Errorf("--rig with a dot: exit %d, %s", code, stderr)
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
