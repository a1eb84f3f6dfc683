package main

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gofrs/flock"

	"retinad/acquisition"
	"retinad/infer"
	"retinad/infer/infertest"
)

// dupCellsModel writes an LN model whose header lists cell id 5 twice (Save refuses to write
// one, so the header is edited and the CRC fixed).
func dupCellsModel(t *testing.T, path string) {
	m := infertest.LNModel(1, infertest.Small)
	m.Cells = []int64{5, 6, 7}
	b, err := infer.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"cells":[5,6,7]`)) {
		t.Fatalf("no cells list in the header")
	}
	b = bytes.Replace(b, []byte(`"cells":[5,6,7]`), []byte(`"cells":[5,5,7]`), 1)
	binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.ChecksumIEEE(b[:len(b)-4]))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCheckConfigDryRun gives check-config configs that pass the schema but that run would
// refuse or crash on, and checks that each is reported with its field path, every problem of a
// config at once, and that a config it passes is one run opens (TestRunCtrlC runs sim.yaml).
func TestCheckConfigDryRun(t *testing.T) {
	dir := t.TempDir()
	ln := filepath.Join(dir, "ln.rtm") // 16x16 input
	if err := infer.Save(ln, infertest.LNModel(1, infertest.Small)); err != nil {
		t.Fatal(err)
	}
	dup := filepath.Join(dir, "dup.rtm")
	dupCellsModel(t, dup)
	notModel := writeFile(t, dir, "notes.rtm", []byte("experiment notes, not a model\n"))
	badCal := writeFile(t, dir, "cal.json", []byte(`{"latency": {"mean_ms": -3}}`))
	garbledCal := writeFile(t, dir, "garbled.json", []byte(`{"latency": `))
	fileNotDir := writeFile(t, dir, "rec", []byte("a file where the recording folder should be"))
	base := "display: {mode: offscreen, rect: {x: 0, y: 0, width: 480, height: 480}}\nstimulus: {kind: whitenoise, height: 16, width: 16}\n"
	recOff := "recording: {enabled: false}\n"
	for _, c := range []struct {
		name, yaml string
		want       []string // each problem, with its path; the count is len(want)
	}{
		{"good", base + recOff + "models: [{name: ln, file: ln.rtm}]\n", nil},
		{"model on another grid", strings.Replace(base, "height: 16, width: 16", "height: 48, width: 48", 1) + recOff + "models: [{name: ln, file: ln.rtm}]\n",
			[]string{"models[0].file: rig: model ln: " + ln + " sees 16x16 frames but the stimulus grid is 48x48"}},
		{"not a model", base + recOff + "models: [{name: n, file: notes.rtm}]\n",
			[]string{"models[0].file: rig: model n: " + notModel + ": infer: does not start with \"RETINADM\""}},
		{"duplicate cell ids", base + recOff + "models: [{name: d, file: dup.rtm}]\n",
			[]string{"models[0].file: rig: model d: " + dup + ": infer: cells: id 5 used by outputs 0 and 1"}},
		{"observed on an LN", base + recOff + "models: [{name: ln, file: ln.rtm, observed: true}]\n",
			[]string{"models[0].file: rig: model ln: " + ln + " is a ln; observed applies to a GLM's spike history only"}},
		{"adaptive cells past the model's", base + recOff + "models: [{name: ln, file: ln.rtm}]\nadaptive: {strategy: maximize, cells: [0, 7], weights: [1, 1]}\n",
			[]string{"adaptive.cells[1]: 7: the first model has 3 cells"}},
		{"gamma table that is not one", strings.Replace(base, "mode: offscreen,", "mode: offscreen, gamma: {lut: notes.rtm},", 1) + recOff,
			[]string{"display.gamma: present: "}},
		{"missing serial device", base + recOff + "photodiode: {device: /dev/ttyNOPE0}\n",
			[]string{"photodiode.device: /dev/ttyNOPE0: no such device"}},
		{"impossible latency", base + recOff + "photodiode: {calibration: cal.json}\n",
			[]string{"photodiode.calibration: " + badCal + ": latency.mean_ms -3: want a latency from 0 to 1000 ms"}},
		{"every problem at once", base + "recording: {enabled: true, dir: rec}\nmodels: [{name: n, file: notes.rtm}, {name: d, file: dup.rtm}]\nphotodiode: {device: /dev/ttyNOPE0, calibration: garbled.json}\n",
			[]string{"models[0].file: ", "models[1].file: ", "photodiode.device: ", "photodiode.calibration: photodiode: calibration " + garbledCal, "recording.dir: acquisition: recording folder " + fileNotDir + ": not a folder"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := writeFile(t, dir, strings.ReplaceAll(c.name, " ", "_")+".yaml", []byte(c.yaml))
			code, out, errs := run(t, "check-config", cfg)
			if len(c.want) == 0 {
				if code != 0 || !strings.Contains(out, "ok") {
					t.Fatalf("exit %d:\n%s%s", code, out, errs)
				}
				return
			}
			if code != 1 || !strings.Contains(errs, itoa(len(c.want))+" problem(s)") {
				t.Fatalf("exit %d, want 1 with %d problem(s):\n%s", code, len(c.want), errs)
			}
			for _, w := range c.want {
				if !strings.Contains(errs, w) {
					t.Errorf("no %q in:\n%s", w, errs)
				}
			}
		})
	}
}

// TestRunRefusesNegativeDuration: `run --duration -5s` ran forever; it is a usage error now,
// before anything is opened.
func TestRunRefusesNegativeDuration(t *testing.T) {
	code, _, errs := run(t, "run", "--config", "../../configs/sim.yaml", "--duration", "-5s")
	if code != 2 || !strings.Contains(errs, "--duration -5s is negative") {
		t.Errorf("exit %d, %q; want 2 and the negative duration named", code, errs)
	}
}

// FuzzCheckConfig runs `retinad check-config` in-process on fuzzed configs next to a real model
// file: the schema checks and the rig dry-run never panic, and every failure names the file.
func FuzzCheckConfig(f *testing.F) {
	dir := f.TempDir()
	if err := infer.Save(filepath.Join(dir, "ln.rtm"), infertest.LNModel(1, infertest.Small)); err != nil {
		f.Fatal(err)
	}
	f.Add("display: {mode: offscreen, rect: {x: 0, y: 0, width: 480, height: 480}}\nstimulus: {kind: whitenoise, height: 16, width: 16}\nrecording: {enabled: false}\nmodels: [{name: ln, file: ln.rtm}]\nadaptive: {strategy: maximize, cells: [0, 2], weights: [1, 1]}\n")
	f.Add("stimulus: {kind: movie, movie: {file: ln.rtm}}\nrecording: {enabled: true, dir: rec}\nphotodiode: {device: sim, calibration: ln.rtm}\n")
	f.Add(string(mustRead(f, "../../configs/sim.yaml")))
	f.Fuzz(func(t *testing.T, yaml string) {
		file := writeFile(t, dir, "fuzz.yaml", []byte(yaml))
		cliNeverPanics(t, file, "check-config", file)
	})
}

// TestCheckConfigLockedRecordingFolder: a recording folder another daemon holds is a problem at
// recording.dir that says so (run would refuse it at start).
func TestCheckConfigLockedRecordingFolder(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "rec")
	if err := os.Mkdir(rec, 0o755); err != nil {
		t.Fatal(err)
	}
	held := flock.New(filepath.Join(rec, acquisition.LockFile))
	if ok, err := held.TryLock(); !ok || err != nil {
		t.Fatalf("lock: %v %v", ok, err)
	}
	defer held.Unlock()
	cfg := writeFile(t, dir, "c.yaml", []byte("display: {mode: offscreen, rect: {x: 0, y: 0, width: 480, height: 480}}\nstimulus: {kind: whitenoise, height: 16, width: 16}\nrecording: {enabled: true, dir: rec}\n"))
	code, _, errs := run(t, "check-config", cfg)
	if code != 1 || !strings.Contains(errs, "recording.dir: ") || !strings.Contains(errs, rec) {
		t.Errorf("exit %d, %q; want a recording.dir problem naming %s", code, errs, rec)
	}
	t.Logf("%s", errs)
}
