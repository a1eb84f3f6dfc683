package scoring

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"retinad/configs"
	"retinad/infer/infertest"
	"retinad/infer/onnx"
)

// TestConfigModelsForeignONNX: an adaptive config's .onnx model that does not say its bin
// rate loads with models[].frame_rate, and without it is refused naming the model.
func TestConfigModelsForeignONNX(t *testing.T) {
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
	g.Meta = meta
	file := filepath.Join(t.TempDir(), "ln.onnx")
	if err := os.WriteFile(file, onnx.Marshal(g), 0o644); err != nil {
		t.Fatal(err)
	}
	ms, err := LoadConfigModels([]configs.Model{{Name: "ln", File: file, FrameRate: 60}})
	if err != nil {
		t.Fatal(err)
	}
	if ms[0].Model.Input.FrameRate != 60 {
		t.Errorf("frame rate %v, want 60", ms[0].Model.Input.FrameRate)
	}
	_, err = LoadConfigModels([]configs.Model{{Name: "ln", File: file}})
	if err == nil || !strings.Contains(err.Error(), "scoring: model ln: "+file+": onnx: the model does not say its frame rate") || !strings.Contains(err.Error(), "(models[0])") {
		t.Errorf("without frame_rate: %v", err)
	}
}
