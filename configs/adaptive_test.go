package configs

import (
	"strings"
	"testing"
)

func TestAdaptiveBlock(t *testing.T) {
	c, err := Parse("a.yaml", []byte("models: []\nacquisition: {simulate: true}\nadaptive:\n  strategy: isoresponse\n  clip: 500ms\n  isoresponse: {target: 20, rest: 2s, directions: [{orientation: 90, period: 10}]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Adaptive
	if a.Strategy != "isoresponse" || a.Clip.D().Milliseconds() != 500 || a.Candidates != 8 || a.IsoResponse.Target != 20 ||
		len(a.IsoResponse.Directions) != 1 || a.IsoResponse.Directions[0].Period != 10 || a.IsoResponse.Start != 0.02 {
		t.Errorf("adaptive block: %+v", a)
	}
	_, err = Parse("b.yaml", []byte("adaptive: {strategy: guess, candidates: 0, models: [nope], weights: [1]}\n"))
	if err == nil {
		t.Fatal("a bad adaptive block was accepted")
	}
	for _, want := range []string{"adaptive.strategy", "adaptive.candidates", "adaptive.models[0]", "adaptive.weights"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s: %v", want, err)
		}
	}
}
