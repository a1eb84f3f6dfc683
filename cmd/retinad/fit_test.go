package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"retinad/infer"
	"retinad/infer/dataset"
	"retinad/infer/fit/fittest"
)

// writeSynthetic writes a small full-field dataset of an ON and an OFF GLM cell.
func writeSynthetic(t *testing.T) string {
	t.Helper()
	hist := []float64{-2, -1, -0.4}
	d, _ := fittest.Generate(fittest.Spec{T: 12000, H: 1, W: 1, FrameRate: 100, Seed: 3, Cells: []fittest.Cell{
		{Temporal: fittest.Biphasic(15, 3), Bias: -1.5, History: hist},
		{Temporal: fittest.Scale(fittest.Biphasic(15, 4), -1), Bias: -1.5, History: hist},
	}})
	path := filepath.Join(t.TempDir(), "ff.npz")
	if err := dataset.Write(path, d); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestFitReport runs both fits through the command line and checks the report's layout.
func TestFitReport(t *testing.T) {
	data := writeSynthetic(t)
	dir := t.TempDir()
	for _, c := range []struct {
		kind     string
		args     []string
		wantTest bool
	}{
		{"ln", []string{"--test-fraction", "0.25"}, true},
		{"ln", []string{"--test-fraction", "0", "--nonlinearity", "exp"}, false},
		{"glm", []string{"--spike-history", "6"}, true},
		{"glm", []string{"--spike-history", "6", "--coupling", "--test-fraction", "0"}, false},
	} {
		rep := filepath.Join(dir, c.kind+".json")
		args := append([]string{"fit", c.kind, "--data", data, "--out", filepath.Join(dir, c.kind+".model"), "--history", "15", "--report", rep}, c.args...)
		code, out, errs := run(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, code, errs)
		}
		m, err := infer.Load(filepath.Join(dir, c.kind+".model"))
		if err != nil {
			t.Fatalf("%v: the model file: %v", args, err)
		}
		if string(m.Kind) != c.kind || len(m.Cells) != 2 || m.Input.History != 15 || m.OutputScale != 100 {
			t.Errorf("%v: model %s with %d cells, input %+v, output scale %v", args, m.Kind, len(m.Cells), m.Input, m.OutputScale)
		}
		if !strings.Contains(out, "cell") || !strings.Contains(out, "bits/sp") {
			t.Errorf("%v: no summary table on stdout:\n%s", args, out)
		}
		if !strings.Contains(errs, "cells fitted") {
			t.Errorf("%v: no progress on stderr:\n%s", args, errs)
		}
		b, err := os.ReadFile(rep)
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, errs)
		}
		var r struct {
			Model string `json:"model"`
			Cells []map[string]json.RawMessage
		}
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		if r.Model != c.kind || len(r.Cells) != 2 {
			t.Fatalf("%v: model %q with %d cells", args, r.Model, len(r.Cells))
		}
		for i, cell := range r.Cells {
			var idx int
			var id int64
			json.Unmarshal(cell["index"], &idx)
			json.Unmarshal(cell["id"], &id)
			if idx != i || id != int64(100+i) {
				t.Errorf("%v: cell %d has index %d id %d", args, i, idx, id)
			}
			var train struct {
				Bits    *float64 `json:"bits_per_spike"`
				R       *float64 `json:"r"`
				NSpikes *float64 `json:"n_spikes"`
			}
			if err := json.Unmarshal(cell["train"], &train); err != nil || train.Bits == nil || train.R == nil || train.NSpikes == nil {
				t.Errorf("%v: cell %d train = %s", args, i, cell["train"])
			} else if *train.Bits <= 0 || *train.NSpikes < 100 {
				t.Errorf("%v: cell %d train = %s, want positive bits per spike", args, i, cell["train"])
			}
			if _, has := cell["test"]; has != c.wantTest {
				t.Errorf("%v: cell %d has test = %v, want %v", args, i, has, c.wantTest)
			}
			var pol string
			json.Unmarshal(cell["polarity"], &pol)
			if want := []string{"ON", "OFF"}[i]; pol != want {
				t.Errorf("%v: cell %d polarity %s, want %s", args, i, pol, want)
			}
		}
	}
}

func TestFitBadInput(t *testing.T) {
	dir := t.TempDir()
	if code, _, errs := run(t, "fit", "svm", "--data", "x"); code != 2 || !strings.Contains(errs, "fit ln' or 'fit glm") {
		t.Errorf("unknown kind: exit %d, %q", code, errs)
	}
	if code, _, errs := run(t, "fit", "ln", "--out", "m"); code != 2 || !strings.Contains(errs, "--data and --out") {
		t.Errorf("no data: exit %d, %q", code, errs)
	}
	missing := filepath.Join(dir, "missing.npz")
	if code, _, errs := run(t, "fit", "glm", "--data", missing, "--out", filepath.Join(dir, "m")); code != 1 || !strings.Contains(errs, "missing.npz") {
		t.Errorf("missing file: exit %d, %q", code, errs)
	}
	// A dataset whose second cell never fires.
	d, _ := fittest.Generate(fittest.Spec{T: 3000, H: 1, W: 1, FrameRate: 100, Seed: 1, Cells: []fittest.Cell{
		{Temporal: fittest.Biphasic(10, 3), Bias: -1}, {Temporal: fittest.Biphasic(10, 3), Bias: -40}}})
	silent := filepath.Join(dir, "silent.npz")
	if err := dataset.Write(silent, d); err != nil {
		t.Fatal(err)
	}
	code, _, errs := run(t, "fit", "ln", "--data", silent, "--out", filepath.Join(dir, "m"), "--history", "10")
	if code != 1 || !strings.Contains(errs, "counts: cell 1 (id 101) has no spikes") {
		t.Errorf("silent cell: exit %d, %q", code, errs)
	}
}
