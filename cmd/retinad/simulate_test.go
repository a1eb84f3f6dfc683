package main

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"retinad/infer/dataset"
	"retinad/infer/enginetest"
)

func TestSimulateWritesADataset(t *testing.T) {
	out := filepath.Join(t.TempDir(), "wn.npz")
	code, stdout, stderr := run(t, "simulate", "--stimulus", "whitenoise", "--duration", "3s", "--seed", "4", "--repeats", "3", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "300 frames of 50x50") || !strings.Contains(stdout, "reliability over 3 repeats") {
		t.Errorf("summary: %s", stdout)
	}
	d, err := dataset.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	if d.T != 300 || d.C != 16 || d.H != 50 || d.FrameRate != 100 {
		t.Fatalf("dataset T=%d C=%d H=%d rate=%g", d.T, d.C, d.H, d.FrameRate)
	}

	// What simulate writes, predict reads: the bundled LN over the simulated movie.
	rates := filepath.Join(t.TempDir(), "r.npy")
	if code, _, stderr := run(t, "predict", "--model", "../../models/ln.rtm", "--stimulus", out, "--out", rates); code != 0 {
		t.Fatalf("predict on simulate's dataset: exit %d: %s", code, stderr)
	}
	got, shape, err := enginetest.ReadNpy(rates)
	if err != nil {
		t.Fatal(err)
	}
	if len(shape) != 2 || shape[0] != 300 || shape[1] != 16 {
		t.Fatalf("rates of shape %v, want [300 16]", shape)
	}
	if last := got[len(got)-1]; math.IsNaN(float64(last)) || last < 0 {
		t.Errorf("last rate %v, want a rate in spikes/s", last)
	}
}

func TestSimulateRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"simulate", "--stimulus", "whitenoise"},                                  // no --out
		{"simulate", "--stimulus", "sunset", "--out", "x.npz"},                    // unknown kind
		{"simulate", "--stimulus", "gray", "--duration", "1ms", "--out", "x.npz"}, // under a frame
	} {
		if code, _, stderr := run(t, args...); code == 0 {
			t.Errorf("%v accepted", args)
		} else {
			t.Logf("%v: %s", args[1:], strings.TrimSpace(stderr))
		}
	}
}
