//go:build cgo

package acquisition

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"retinad/infer/dataset"
	pb "retinad/proto/retinadpb"
)

// TestWriteNWB exports the synthetic session of TestExport (with two marks) to .npz and to NWB,
// validates the NWB file against the NWB 2.6.0 schema with hdmf and has h5py hold it to the
// .npz: stimulus, frame and bin times, spike times (which bin into the counts), predictions,
// events and config (testdata/nwb_check.py).
func TestWriteNWB(t *testing.T) {
	b := startBus(t, false, true)
	subj := mustSubjects(t, "rig1")
	ctx := context.Background()
	if err := Record(ctx, b.Conn(), subj, RecordOptions{}); err != nil {
		t.Fatal(err)
	}
	publishSessionWith(t, b, subj, "s1", true, true, func(f int64) {
		if f == 20 || f == 120 {
			publishProto(t, b, subj.Event, &pb.Event{Session: "s1", Label: "mark", Note: "frame " + string(rune('0'+f/100)), HostNs: 10e9 + f*10e6})
		}
	})
	if err := b.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	waitStored(t, b, subj, 1+1+1+200+199+200+2+1+1)
	d, sum, err := Export(ctx, b.Conn(), subj, "s1", ExportOptions{Frames: testMaker})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	npz, nwb := filepath.Join(dir, "s1.npz"), filepath.Join(dir, "s1.nwb")
	if err := dataset.Write(npz, d); err != nil {
		t.Fatal(err)
	}
	if err := WriteNWB(nwb, d, sum); err != nil {
		t.Fatal(err)
	}
	checkNWB(t, nwb, npz)
	noSpikes(t, d, sum, dir)
	// Given to retinad fit, the NWB file is refused saying what it is.
	if _, err := dataset.Read(nwb); err == nil || !strings.Contains(err.Error(), nwb+": an NWB 2.6.0 file: retinad reads its own dataset layout") {
		t.Errorf("dataset.Read of the NWB file: %v", err)
	}

	// The check can fail: without session_start_time (required by the schema) or with one
	// spike time moved by a nanosecond, it does.
	for mutation, want := range map[string]string{
		`del f["session_start_time"]`:            "root/session_start_time (): argument missing",
		`f["units/spike_times"][3] += 1e-9 * 64`: "spikes of cell",
	} {
		bad := filepath.Join(dir, "bad.nwb")
		data, err := os.ReadFile(nwb)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bad, data, 0o644); err != nil {
			t.Fatal(err)
		}
		py := "import h5py\nf = h5py.File(" + "\"" + bad + "\"" + ", \"a\")\n" + mutation + "\nf.close()\n"
		if out, err := exec.Command("/usr/bin/python3", "-c", py).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", mutation, err, out)
		}
		out, err := exec.Command("/usr/bin/python3", "testdata/nwb_check.py", bad, npz).CombinedOutput()
		if err == nil || !strings.Contains(string(out), want) {
			t.Errorf("after %s: nwb_check.py says %v\n%s\nwant a failure with %q", mutation, err, out, want)
		}
	}
}

// noSpikes: a session whose acquisition system sent no spikes (the cells known from the
// predictions only) makes a valid NWB file too, with empty spike times.
func noSpikes(t *testing.T, d *dataset.Dataset, sum *ExportSummary, dir string) {
	t.Helper()
	e := *d
	e.Counts = make([]float32, len(d.Counts))
	e.Extra = nil
	for _, a := range d.Extra {
		if a.Name == "spike_cells" || a.Name == "spike_host_ns" {
			a = dataset.Array{Name: a.Name, Shape: []int{0}, Data: []int64{}}
		}
		e.Extra = append(e.Extra, a)
	}
	npz, nwb := filepath.Join(dir, "silent.npz"), filepath.Join(dir, "silent.nwb")
	if err := dataset.Write(npz, &e); err != nil {
		t.Fatal(err)
	}
	if err := WriteNWB(nwb, &e, sum); err != nil {
		t.Fatal(err)
	}
	checkNWB(t, nwb, npz)
}

// checkNWB runs testdata/nwb_check.py: hdmf's validation, then h5py against the .npz.
func checkNWB(t *testing.T, nwb, npz string) {
	t.Helper()
	out, err := exec.Command("/usr/bin/python3", "testdata/nwb_check.py", nwb, npz).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("nwb_check.py %s: %v\n%s", nwb, err, out)
	}
}

// TestWriteNWBErrors: a dataset that Export did not make is refused, naming the missing array,
// and leaves no file behind; an unwritable path names the file.
func TestWriteNWBErrors(t *testing.T) {
	dir := t.TempDir()
	d := &dataset.Dataset{T: 1, H: 1, W: 1, C: 1, FrameRate: 100, Stimulus: []float32{0}, Counts: []float32{0}, CellIDs: []int64{0}}
	path := filepath.Join(dir, "x.nwb")
	err := WriteNWB(path, d, &ExportSummary{})
	if err == nil || !strings.HasPrefix(err.Error(), "acquisition: nwb: ") || !strings.Contains(err.Error(), `no "`) {
		t.Errorf("err %v, want one naming the missing array", err)
	}
	if _, serr := os.Stat(path); !os.IsNotExist(serr) {
		t.Errorf("a failed export left %s", path)
	}
	bad := filepath.Join(dir, "no", "such", "x.nwb")
	if err := WriteNWB(bad, d, &ExportSummary{}); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("err %v, want one naming %s", err, bad)
	}
}
