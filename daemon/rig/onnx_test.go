package rig_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"retinad/configs"
	"retinad/daemon"
	"retinad/daemon/rig"
	"retinad/infer/infertest"
	"retinad/infer/onnx"
)

// TestLoadForeignONNX: a model folder's .onnx file that does not say its frame rate loads
// with the request's frame rate (configs models[].frame_rate), and without one is refused with
// the message naming the config field.
func TestLoadForeignONNX(t *testing.T) {
	dir := t.TempDir()
	g, err := onnx.ExportGraph(infertest.LNModel(1, infertest.Small))
	if err != nil {
		t.Fatal(err)
	}
	var meta []onnx.Prop
	for _, p := range g.Meta {
		if p.Key != onnx.MetaFrameRate {
			meta = append(meta, p)
		}
	}
	g.Meta = meta // as an exporter other than retinad writes it
	file := filepath.Join(dir, "ln.onnx")
	if err := os.WriteFile(file, onnx.Marshal(g), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := configs.Default()
	cfg.Stimulus.Height, cfg.Stimulus.Width = infertest.Small.Height, infertest.Small.Width
	cfg.Control.ModelDirs = []string{dir}
	load := rig.ControlLoader(&cfg, slog.New(slog.DiscardHandler))
	_, err = load(context.Background(), daemon.LoadRequest{Name: "ln", File: file})
	if err == nil || !strings.Contains(err.Error(), "ln.onnx: onnx: the model does not say its frame rate") || !strings.Contains(err.Error(), "frame_rate") {
		t.Errorf("without a frame rate: %v", err)
	}
	m, err := load(context.Background(), daemon.LoadRequest{Name: "ln", File: file, FrameRate: 60})
	if err != nil {
		t.Fatal(err)
	}
	if m.BinRate != 60 || len(m.CellIDs) == 0 || m.Engine == nil {
		t.Errorf("loaded bin rate %v, %d cells, engine %v; want 60 Hz and a running model", m.BinRate, len(m.CellIDs), m.Engine)
	}
}
