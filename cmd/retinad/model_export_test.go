package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"retinad/infer"
	"retinad/infer/enginetest"
	"retinad/infer/infertest"
	"retinad/infer/npy"
	"retinad/infer/onnx"
	"retinad/infer/onnx/ortpeer"

	"gorgonia.org/tensor"
)

// TestModelExportRoundTrip: `model export` writes every CNN variant and the LN as ONNX, and
// `predict` on the exported file gives the native model's rates to 1e-6 relative.
func TestModelExportRoundTrip(t *testing.T) {
	dir := enginetest.TestdataDir()
	tmp := t.TempDir()
	for _, name := range []string{"bncnn_small", "bncnn_perchannel_exp", "bncnn_sigmoid", "bncnn_softplus_param", "ln"} {
		native := filepath.Join(dir, name+".retinad")
		exported := filepath.Join(tmp, name+".onnx")
		code, stdout, errs := run(t, "model", "export", native, "--out", exported)
		if code != 0 || !strings.Contains(stdout, exported+": ") {
			t.Fatalf("%s: model export: exit %d: %s%s", name, code, stdout, errs)
		}
		stim := filepath.Join(dir, name+".natural.stim.npy")
		var rates [2][]float32
		for i, model := range []string{native, exported} {
			out := filepath.Join(tmp, name+"."+filepath.Ext(model)[1:]+".npy")
			if code, _, errs := run(t, "predict", "--model", model, "--stimulus", stim, "--out", out); code != 0 {
				t.Fatalf("%s: predict %s: exit %d: %s", name, model, code, errs)
			}
			r, _, err := enginetest.ReadNpy(out)
			if err != nil {
				t.Fatal(err)
			}
			rates[i] = r
		}
		worst := 0.0
		for i, want := range rates[0] {
			got := rates[1][i]
			if math.IsNaN(float64(want)) != math.IsNaN(float64(got)) {
				t.Fatalf("%s: rate %d is %v, native %v", name, i, got, want)
			}
			if !math.IsNaN(float64(want)) {
				worst = math.Max(worst, math.Abs(float64(got-want))/math.Max(math.Abs(float64(want)), 1e-3))
			}
		}
		if worst > 1e-6 {
			t.Errorf("%s: exported model's rates differ from the native model's by %.2g relative, want <= 1e-6", name, worst)
		}
	}
}

// TestModelExportGLM: `model export` writes a GLM (history and coupling, history only) as
// ONNX with the spike history as a second input. The round trip holds: `predict` on the
// exported file gives the native rates to 1e-6 (the model feeding on its own counts), and so
// does the imported model fed recorded counts. ONNX Runtime, given the same windows and the
// same counts as the spikes input, computes the same rates (1e-5: its own summation order).
func TestModelExportGLM(t *testing.T) {
	tmp := t.TempDir()
	for _, coupled := range []bool{true, false} {
		m := infertest.GLMModel(3, infertest.Small, coupled)
		name := fmt.Sprintf("glm_coupled_%v", coupled)
		native, exported := filepath.Join(tmp, name+".rtm"), filepath.Join(tmp, name+".onnx")
		if err := infer.Save(native, m); err != nil {
			t.Fatal(err)
		}
		if code, stdout, errs := run(t, "model", "export", native, "--out", exported); code != 0 || !strings.Contains(stdout, exported+": glm model") {
			t.Fatalf("%s: model export: exit %d: %s%s", name, code, stdout, errs)
		}
		const T = 300
		in := m.Input
		hw := in.Height * in.Width
		frames := enginetest.Frames(m, T, 11)
		flat := make([]float32, 0, T*hw)
		for _, f := range frames {
			flat = append(flat, f...)
		}
		stim := filepath.Join(tmp, name+".stim.npy")
		if err := npy.WriteFile(stim, []int{T, in.Height, in.Width}, flat); err != nil {
			t.Fatal(err)
		}
		var rates [2][]float32
		for i, model := range []string{native, exported} {
			out := filepath.Join(tmp, fmt.Sprintf("%s.%d.npy", name, i))
			if code, _, errs := run(t, "predict", "--model", model, "--stimulus", stim, "--out", out); code != 0 {
				t.Fatalf("%s: predict %s: exit %d: %s", name, model, code, errs)
			}
			if rates[i], _, _ = enginetest.ReadNpy(out); len(rates[i]) != T*len(m.Cells) {
				t.Fatalf("%s: %d rates", name, len(rates[i]))
			}
		}
		if worst := relDiff(rates[0], rates[1]); worst > 1e-6 {
			t.Errorf("%s: predict on the export differs from the native model by %.2g relative, want <= 1e-6", name, worst)
		}

		// Fed recorded counts (validation mode): the imported model, and ONNX Runtime.
		b, err := os.ReadFile(exported)
		if err != nil {
			t.Fatal(err)
		}
		back, err := onnx.Import(b)
		if err != nil {
			t.Fatal(err)
		}
		C, L := len(m.Cells), m.GLM.HistoryFilter.Shape[1]
		counts := make([]float32, T*C)
		for i := range counts {
			counts[i] = float32((i * 7 / 3) % 3)
		}
		obs := tensor.New(tensor.WithShape(T, C), tensor.WithBacking(counts))
		st := tensor.New(tensor.WithShape(T, in.Height, in.Width), tensor.WithBacking(flat))
		var fed [2][]float32
		for i, model := range []*infer.Model{m, back} {
			r, err := infer.Predict(context.Background(), model, st, infer.BatchOptions{Observed: obs})
			if err != nil {
				t.Fatal(err)
			}
			fed[i] = r.Data().([]float32)
		}
		if worst := relDiff(fed[0], fed[1]); worst > 1e-6 {
			t.Errorf("%s: imported export fed recorded counts differs by %.2g relative, want <= 1e-6", name, worst)
		}
		n := T - in.History + 1
		windows := make([]float32, 0, n*in.History*hw)
		spikes := make([]float32, n*C*L)
		for k := 0; k < n; k++ {
			tt := k + in.History - 1 // the window ending at frame tt predicts bin tt
			for h := tt - in.History + 1; h <= tt; h++ {
				for _, v := range frames[h] {
					windows = append(windows, float32((float64(v)-in.Mean)/in.Std))
				}
			}
			for i := 0; i < C; i++ {
				for j := 0; j < L && tt-1-j >= in.History-1; j++ { // the engine keeps the counts of full windows only
					spikes[(k*C+i)*L+j] = counts[(tt-1-j)*C+i]
				}
			}
		}
		got, err := ortpeer.RunInputs(b, []ortpeer.Input{
			{Name: "stimulus", Data: windows, Shape: []int64{int64(n), int64(in.History), int64(in.Height), int64(in.Width)}},
			{Name: "spikes", Data: spikes, Shape: []int64{int64(n), int64(C), int64(L)}},
		}, "rates", int64(C))
		if errors.Is(err, ortpeer.ErrUnavailable) {
			t.Logf("ONNX Runtime not installed: %v", err)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if worst := relDiff(fed[0][(in.History-1)*C:], got); worst > 1e-5 {
			t.Errorf("%s: ONNX Runtime on the export differs from retinad by %.2g relative, want <= 1e-5", name, worst)
		}
	}
}

// relDiff is the largest |a-b| / max(|a|, 1e-3) over the non-NaN values; a NaN in one but not
// the other is +Inf.
func relDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	worst := 0.0
	for i, want := range a {
		got := b[i]
		if math.IsNaN(float64(want)) != math.IsNaN(float64(got)) {
			return math.Inf(1)
		}
		if !math.IsNaN(float64(want)) {
			worst = math.Max(worst, math.Abs(float64(got-want))/math.Max(math.Abs(float64(want)), 1e-3))
		}
	}
	return worst
}
