package main

import (
	"path/filepath"
	"strings"
	"testing"

	"retinad/infer/dataset"
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
