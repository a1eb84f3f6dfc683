package configs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestExampleConfigsLoad(t *testing.T) {
	for _, name := range []string{"sim.yaml", "rig.yaml"} {
		cfg, err := Load(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if cfg.Rig == "" || cfg.Stimulus.FrameRate <= 0 {
			t.Errorf("%s: decoded to %+v", name, cfg)
		}
	}
	sim, _ := Load("sim.yaml")
	if got, want := sim.Photodiode.Sim.Latency.D(), 8*time.Millisecond; got != want {
		t.Errorf("sim.yaml photodiode.sim.latency = %v, want %v", got, want)
	}
	rig, _ := Load("rig.yaml")
	if rig.Display.Refresh != 120 || rig.Stimulus.FrameRate != 60 || rig.NATS.Embedded {
		t.Errorf("rig.yaml: refresh %v, frame rate %v, embedded %v", rig.Display.Refresh, rig.Stimulus.FrameRate, rig.NATS.Embedded)
	}
}

// The example: three mistakes, all reported at once with their paths and lines.
func TestThreeMistakesReportedTogether(t *testing.T) {
	src := `rig: r1
display:
  refresh: 120Hz
  colour: blue
photodiode:
  device: ""
  read_timeout: 20 millis
stimulus:
  frame_rate: 60Hz
`
	_, err := Parse("bad.yaml", []byte(src))
	var ps *Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Parse: got %v, want *Problems", err)
	}
	want := []Problem{
		{Path: "display.colour", Line: 4},
		{Path: "photodiode.device", Line: 6},
		{Path: "photodiode.read_timeout", Line: 7},
	}
	if len(ps.List) != len(want) {
		t.Fatalf("got %d problems, want %d (decode errors first, then checks):\n%v", len(ps.List), len(want), err)
	}
	for i, w := range want {
		if ps.List[i].Path != w.Path || ps.List[i].Line != w.Line {
			t.Errorf("problem %d = %+v, want path %s line %d", i, ps.List[i], w.Path, w.Line)
		}
	}
	msg := err.Error()
	for _, s := range []string{"bad.yaml", `unknown field "colour"`, `"20 millis"`, "want a duration"} {
		if !strings.Contains(msg, s) {
			t.Errorf("message lacks %q:\n%s", s, msg)
		}
	}
}

func TestValidateReportsEveryCheck(t *testing.T) {
	src := `rig: r1
display:
  refresh: 144Hz
photodiode:
  device: ""
stimulus:
  frame_rate: 100Hz
  kind: spirals
models:
  - {name: cnn, file: nowhere.rtm}
  - {name: cnn, file: nowhere.rtm}
`
	_, err := Parse("bad.yaml", []byte(src))
	var ps *Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Parse: got %v, want *Problems", err)
	}
	paths := map[string]int{}
	for _, p := range ps.List {
		paths[p.Path] = p.Line
	}
	for path, line := range map[string]int{
		"stimulus.frame_rate": 7, "photodiode.device": 5, "stimulus.kind": 8,
		"models[0].file": 10, "models[1].file": 11, "models[1].name": 11,
	} {
		if got, ok := paths[path]; !ok || got != line {
			t.Errorf("problem at %s: got line %d (present %v), want line %d\n%v", path, got, ok, line, err)
		}
	}
	if !strings.Contains(err.Error(), "1.44 refreshes") {
		t.Errorf("frame-rate problem does not give the ratio:\n%v", err)
	}
}

func TestTypedValues(t *testing.T) {
	for s, want := range map[string]float64{"120Hz": 120, "59.94 Hz": 59.94, "1.5kHz": 1500, "2MHz": 2e6} {
		f, err := ParseFrequency(s)
		if err != nil || float64(f) != want {
			t.Errorf("ParseFrequency(%q) = %v, %v; want %v", s, f, err, want)
		}
	}
	for _, s := range []string{"120", "Hz", "fastHz", "", "NaNHz"} {
		if _, err := ParseFrequency(s); err == nil {
			t.Errorf("ParseFrequency(%q) accepted", s)
		}
	}
	if p := Frequency(120).Period(); p != 8333333*time.Nanosecond {
		t.Errorf("120Hz period = %v", p)
	}
}

func TestRelativePathsFollowTheFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "m.rtm"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(path, []byte("models:\n  - {name: m, file: m.rtm}\nstimulus: {kind: gray}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Models[0].File; got != filepath.Join(dir, "m.rtm") {
		t.Errorf("models[0].file = %q, want it next to the config", got)
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"sim.yaml", "rig.yaml"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("display: [1, 2]\nrig: {a: b}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yaml", data)
		if (cfg == nil) == (err == nil) {
			t.Fatalf("Parse returned config %v and error %v", cfg != nil, err)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "configs: fuzz.yaml") {
			t.Fatalf("error does not name the file: %v", err)
		}
	})
}

// TestNATSAuthProblems: every mistake in the embedded server's users, default role and TLS is
// reported at once with its path, and allow_remote without users and TLS says what to add.
func TestNATSAuthProblems(t *testing.T) {
	src := `nats:
  embedded: true
  listen: 0.0.0.0:4222
  allow_remote: true
  default_role: operator
  users:
    - {name: op, role: operator, password: pw}
    - {name: op, role: operator, password: pw2}
    - {name: w.1, role: worker, password: pw}
    - {name: d, role: daemon, password: pw}
    - {name: n, role: observer}
    - {name: k, role: worker, nkey: SUAEXAMPLE}
    - {name: b, role: observer, password: "$2a$11$short"}
    - {name: anonymous, role: observer, password: pw}
  server_tls: {cert: nowhere.pem}
`
	_, err := Parse("auth.yaml", []byte(src))
	var ps *Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Parse: got %v, want *Problems", err)
	}
	got := map[string]string{}
	for _, p := range ps.List {
		got[p.Path] += p.Msg + "; "
	}
	for path, want := range map[string]string{
		"nats.default_role":      "want observer",
		"nats.users[1].name":     "used by another user",
		"nats.users[2].name":     "letters, digits",
		"nats.users[3].role":     "daemon's own connection",
		"nats.users[4]":          "no password and no nkey",
		"nats.users[5].nkey":     "public user nkey",
		"nats.users[6].password": "bcrypt",
		"nats.users[7].name":     "anonymous",
		"nats.server_tls":        "cert and key go together",
		"nats.server_tls.cert":   "no such file",
	} {
		if !strings.Contains(got[path], want) {
			t.Errorf("%s: %q, want a problem saying %q\n%v", path, got[path], want, err)
		}
	}
	if _, ok := got["nats.users[0].name"]; ok {
		t.Errorf("the first op is fine: %v", got["nats.users[0].name"])
	}

	// No users at all: allow_remote asks for them too.
	_, err = Parse("open.yaml", []byte("nats: {embedded: true, listen: \"0.0.0.0:4222\", allow_remote: true}\n"))
	if err == nil || !strings.Contains(err.Error(), "nats.users") || !strings.Contains(err.Error(), "no authentication") {
		t.Errorf("allow_remote with nobody to authenticate: %v", err)
	}
	_, err = Parse("plain.yaml", []byte("nats: {embedded: true, listen: \"0.0.0.0:4222\", allow_remote: true, users: [{name: op, role: operator, password: pw}]}\n"))
	if err == nil || !strings.Contains(err.Error(), "nats.server_tls (cert and key)") || strings.Contains(err.Error(), "add nats.users") {
		t.Errorf("allow_remote in the clear: %v", err)
	}
	_, err = Parse("extusers.yaml", []byte("nats: {embedded: false, url: \"nats://h:4222\", users: [{name: op, role: operator, password: pw}]}\n"))
	if err == nil || !strings.Contains(err.Error(), "nats.users: users, server_tls and allow_remote are the embedded server's") {
		t.Errorf("users for an external server: %v", err)
	}
	// An external server's login: one way only.
	_, err = Parse("ext.yaml", []byte("nats: {embedded: false, url: \"nats://h:4222\", user: u, password: p, nkey: nowhere.nk}\n"))
	if err == nil || !strings.Contains(err.Error(), "set one") || !strings.Contains(err.Error(), "nats.nkey") {
		t.Errorf("user/password and nkey together: %v", err)
	}
}

// TestDefaultIsLockedDown: the default config gives strangers the observer role, so every
// config file turns the embedded server's authorization on.
func TestDefaultIsLockedDown(t *testing.T) {
	if got := Default().NATS.DefaultRole; got != "observer" {
		t.Errorf("default nats.default_role %q, want observer", got)
	}
}
func TestBytes(t *testing.T) {
	for s, want := range map[string]Bytes{"0": 0, "500MB": 500e6, "20 GB": 20e9, "1.5TB": 1.5e12, "2GiB": 2 << 30, "64KiB": 64 << 10, "100kB": 100e3, "7B": 7} {
		b, err := ParseBytes(s)
		if err != nil || b != want {
			t.Errorf("ParseBytes(%q) = %v, %v; want %v", s, b, err, want)
		}
		if back, err := ParseBytes(b.String()); err != nil || back != b {
			t.Errorf("ParseBytes(%q.String() = %q) = %v, %v", s, b.String(), back, err)
		}
	}
	for _, s := range []string{"500", "MB", "-1GB", "", "NaNGB", "1e30TB", "3 parsecs"} {
		if _, err := ParseBytes(s); err == nil {
			t.Errorf("ParseBytes(%q) accepted", s)
		}
	}
}

func TestRecordingLimits(t *testing.T) {
	cfg, err := Parse("rec.yaml", []byte("recording: {enabled: true, dir: /tmp/r, max_bytes: 20GB, max_age: 720h}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Recording.MaxBytes != 20e9 || cfg.Recording.MaxAge.D() != 720*time.Hour {
		t.Errorf("recording: %+v", cfg.Recording)
	}
	_, err = Parse("rec.yaml", []byte("recording:\n  enabled: true\n  dir: /tmp/r\n  max_bytes: 20000\n  max_age: 10m\n"))
	if err == nil {
		t.Fatal("accepted a bare max_bytes and a 10m max_age")
	}
	for _, want := range []string{"line 4: recording.max_bytes", "want a size with its unit", "line 5: recording.max_age: 10m0s: want 0"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
}

// FuzzParseBytes: any input is a size that prints back to itself, or an error; never a panic
// or a negative size.
func FuzzParseBytes(f *testing.F) {
	for _, s := range []string{"0", "20GB", "1.5TB", "2GiB", "7B", "-1MB", "1e300TB", "NaNkB", " 3 MB "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseBytes(s)
		if err != nil {
			return
		}
		if b < 0 {
			t.Fatalf("ParseBytes(%q) = %d", s, b)
		}
		if back, err := ParseBytes(b.String()); err != nil || back != b {
			t.Fatalf("ParseBytes(%q) = %d, printed %q, read back %d, %v", s, b, b.String(), back, err)
		}
	})
}

// nats.reconnect_buffer is a size with its unit, 1kB..1GB; the fault suite sets a small one.
func TestReconnectBuffer(t *testing.T) {
	cfg, err := Parse("nats.yaml", []byte("nats: {embedded: false, url: \"nats://127.0.0.1:4222\", reconnect_buffer: 64KiB}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NATS.ReconnectBuffer != 64<<10 {
		t.Errorf("reconnect_buffer = %d, want %d", cfg.NATS.ReconnectBuffer, 64<<10)
	}
	if Default().NATS.ReconnectBuffer != 8<<20 {
		t.Errorf("default reconnect_buffer = %d, want 8MiB", Default().NATS.ReconnectBuffer)
	}
	for _, bad := range []string{"100B", "2GB"} {
		_, err := Parse("nats.yaml", []byte("nats:\n  embedded: false\n  url: nats://127.0.0.1:4222\n  reconnect_buffer: "+bad+"\n"))
		if err == nil || !strings.Contains(err.Error(), "line 4: nats.reconnect_buffer") || !strings.Contains(err.Error(), "want 1kB to 1GB") {
			t.Errorf("reconnect_buffer %s: %v, want a problem naming line 4 and the bounds", bad, err)
		}
	}
}

func TestLeafProblems(t *testing.T) {
	cfg, err := Parse("nats.yaml", []byte("nats: {embedded: true, leaf: {url: \"nats-leaf://hub:7422\", domain: rig-1}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NATS.Leaf.URL != "nats-leaf://hub:7422" || cfg.NATS.Leaf.Domain != "rig-1" {
		t.Errorf("leaf = %+v", cfg.NATS.Leaf)
	}
	for _, c := range []struct{ yaml, want string }{
		{"nats: {embedded: true, leaf: {domain: rig1}}", "nats.leaf.url: missing"},
		{"nats: {embedded: true, leaf: {url: \"nats-leaf://hub:7422\", domain: \"rig.1\"}}", "nats.leaf.domain: \"rig.1\""},
		{"nats: {embedded: false, url: \"nats://x:4222\", leaf: {url: \"nats-leaf://hub:7422\"}}", "nats.leaf: a leaf connection is the embedded server's"},
		{"nats: {embedded: true, leaf: {url: \"nats-leaf://hub:7422\", credentials: /nonexistent/rig.creds}}", "nats.leaf.credentials"},
	} {
		_, err := Parse("nats.yaml", []byte(c.yaml+"\n"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want a problem %q", c.yaml, err, c.want)
		}
	}
}
