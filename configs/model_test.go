package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestModelFrameRate: models[].frame_rate is a typed frequency (for an .onnx file that does
// not say its own), and a negative one is refused with its path.
func TestModelFrameRate(t *testing.T) {
	file := filepath.Join(t.TempDir(), "m.onnx")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Parse("a.yaml", []byte("models: [{name: m, file: "+file+", frame_rate: 100Hz}]\nacquisition: {simulate: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Models[0].FrameRate != 100 {
		t.Errorf("frame_rate %v, want 100", c.Models[0].FrameRate)
	}
	_, err = Parse("b.yaml", []byte("models: [{name: m, file: "+file+", frame_rate: -5Hz}]\nacquisition: {simulate: true}\n"))
	if err == nil || !strings.Contains(err.Error(), "models[0].frame_rate") {
		t.Errorf("negative frame_rate: %v", err)
	}
}
