package stimulus_test

import (
	"testing"

	"retinad/configs"
	"retinad/stimulus"
)

// TestDescriptionProto checks that a source's description becomes the StimulusSource message
// with every field, and parameters sorted by name (one description, one encoding).
func TestDescriptionProto(t *testing.T) {
	src, err := stimulus.New(configs.Stimulus{Kind: "whitenoise", Seed: 9, Height: 6, Width: 5, FrameRate: 60, Mean: 0.5,
		WhiteNoise: configs.WhiteNoise{Distribution: "gaussian", Checker: 2, Contrast: 0.4}})
	if err != nil {
		t.Fatal(err)
	}
	m := src.Describe().Proto()
	if m.Kind != "whitenoise" || m.Seed != 9 || m.Height != 6 || m.Width != 5 || m.FrameRateHz != 60 || m.Mean != 0.5 || !m.Reproducible {
		t.Fatalf("message %v", m)
	}
	want := []struct {
		name  string
		value float64
	}{{"checker", 2}, {"contrast", 0.4}, {"gaussian", 1}}
	if len(m.Params) != len(want) {
		t.Fatalf("params %v, want %v", m.Params, want)
	}
	for i, w := range want {
		if m.Params[i].Name != w.name || m.Params[i].Value != w.value {
			t.Errorf("param %d: %v, want %s=%v", i, m.Params[i], w.name, w.value)
		}
	}
}
