package scoring

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"gorgonia.org/tensor"

	"retinad/configs"
	"retinad/infer"
	"retinad/stimulus"
	"retinad/stimulus/adaptive"
)

// The bundled models (12-frame history, 16 cells, 50x50 at 100 Hz) keep the tests quick; the
// benchmark uses the paper-size CNN.
func testModels(t testing.TB) []Model {
	t.Helper()
	var ms []Model
	for _, a := range [][2]string{{"cnn", "../../models/bncnn.rtm"}, {"ln", "../../models/ln.rtm"}} {
		m, err := LoadModel(a[0], a[1])
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	return ms
}

func whiteNoise(seed uint64) configs.Stimulus {
	return configs.Stimulus{Kind: "whitenoise", FrameRate: 100, Height: 50, Width: 50, Seed: seed, Mean: 0.5,
		WhiteNoise: configs.WhiteNoise{Distribution: "binary", Checker: 5, Contrast: 1}}
}

func grating(orientation float64) configs.Stimulus {
	return configs.Stimulus{Kind: "grating", FrameRate: 100, Height: 50, Width: 50, Seed: 1, Mean: 0.5,
		Grating: configs.Grating{Period: 12.5, Speed: 2, Orientation: orientation, Contrast: 0.8}}
}

// natural uses the default photographs (Debian's python3-skimage, which scripts/setup installs).
func natural(seed uint64) configs.Stimulus {
	return configs.Stimulus{Kind: "natural", FrameRate: 100, Height: 50, Width: 50, Seed: seed, Mean: 0.5,
		Natural: configs.Natural{Hold: configs.Duration(time.Second), Jitter: 0.5, Contrast: 0.35}}
}

// testClips are candidates of several kinds, starting at 0 (gray before) and later.
func testClips(n, frames int) []adaptive.Clip {
	var cs []adaptive.Clip
	for i := range n {
		c := adaptive.Clip{Stimulus: whiteNoise(uint64(100 + i)), Start: 37 * i, Frames: frames}
		switch i % 3 {
		case 1: // the adaptive strategies' usual candidates: photographs with fixational jitter
			c.Stimulus = natural(uint64(i))
		case 2:
			c.Stimulus = grating(float64(30 * i))
		}
		cs = append(cs, c)
	}
	return cs
}

// oracle runs infer.Predict, the batch engine, on the clip's frames with each model's own
// history before them (gray before frame 0), and returns the clip's rows.
func oracle(t *testing.T, m Model, c adaptive.Clip) []float32 {
	t.Helper()
	src, err := stimulus.New(c.Stimulus)
	if err != nil {
		t.Fatal(err)
	}
	H, hw := m.Model.Input.History, c.Stimulus.Height*c.Stimulus.Width
	T := c.Frames + H - 1
	movie := make([]float32, T*hw)
	for k := range T {
		if i := c.Start - H + 1 + k; i >= 0 {
			src.Frame(i, movie[k*hw:(k+1)*hw])
		}
	}
	stim := tensor.New(tensor.WithShape(T, c.Stimulus.Height, c.Stimulus.Width), tensor.WithBacking(movie))
	r, err := infer.Predict(context.Background(), m.Model, stim, infer.BatchOptions{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	return r.Data().([]float32)[(H-1)*len(m.Model.Cells):]
}

func TestLocalMatchesBatchPrediction(t *testing.T) {
	models := testModels(t)
	local, err := NewLocal(models, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(local.Models(), ","); got != "cnn,ln" {
		t.Fatalf("Models() = %s, want cnn,ln", got)
	}
	clips := testClips(5, 40)
	for round := range 2 { // the second round reuses the engines and sources
		preds, err := local.Predict(context.Background(), clips)
		if err != nil {
			t.Fatal(err)
		}
		if len(preds) != len(clips) {
			t.Fatalf("%d results for %d clips", len(preds), len(clips))
		}
		for i, c := range clips {
			for k, m := range models {
				r := preds[i][k]
				want := oracle(t, m, c)
				if r.Model != m.Name || r.Cells != 16 || len(r.Rates) != len(want) {
					t.Fatalf("round %d clip %d model %d: %s, %d cells, %d rates; want %s, 16, %d", round, i, k, r.Model, r.Cells, len(r.Rates), m.Name, len(want))
				}
				for j := range want {
					if r.Rates[j] != want[j] || math.IsNaN(float64(r.Rates[j])) {
						t.Fatalf("round %d clip %d model %s rate %d: %v, batch engine %v", round, i, m.Name, j, r.Rates[j], want[j])
					}
				}
			}
		}
	}
	// The same clip gives the same rates wherever it is in a batch.
	a, err := local.Predict(context.Background(), clips[3:4])
	if err != nil {
		t.Fatal(err)
	}
	b, _ := local.Predict(context.Background(), clips)
	if !equalRates(a[0], b[3]) {
		t.Fatal("clip 3 scored alone differs from clip 3 in a batch")
	}
}

func TestLocalRefusesBadClips(t *testing.T) {
	local, err := NewLocal(testModels(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	small := whiteNoise(1)
	small.Height, small.Width = 40, 40
	slow := whiteNoise(1)
	slow.FrameRate = 60
	bad := whiteNoise(1)
	bad.WhiteNoise.Distribution = "pink"
	photos := configs.Stimulus{Kind: "natural", FrameRate: 100, Height: 50, Width: 50,
		Natural: configs.Natural{Dir: "/nonexistent/photos", Hold: configs.Duration(time.Second), Jitter: 0.5, Contrast: 0.3}}
	for _, tc := range []struct {
		clip adaptive.Clip
		want string
	}{
		{adaptive.Clip{Stimulus: small, Frames: 10}, "model cnn sees 50x50 frames, the clip's stimulus is 40x40"},
		{adaptive.Clip{Stimulus: slow, Frames: 10}, "model cnn runs at 100 Hz, the clip's stimulus at 60 Hz"},
		{adaptive.Clip{Stimulus: bad, Frames: 10}, `stimulus.whitenoise.distribution "pink"`},
		{adaptive.Clip{Stimulus: photos, Frames: 10}, "/nonexistent/photos"},
		{adaptive.Clip{Stimulus: whiteNoise(1), Frames: 0}, "start 0 frames 0"},
		{adaptive.Clip{Stimulus: whiteNoise(1), Start: -5, Frames: 3}, "start -5 frames 3"},
	} {
		_, err := local.Predict(context.Background(), []adaptive.Clip{{Stimulus: whiteNoise(2), Frames: 5}, tc.clip})
		if err == nil || !strings.Contains(err.Error(), "scoring: clip 1: ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want one naming clip 1 and %q", err, tc.want)
		}
	}
	if _, err := NewLocal(nil, 1); err == nil {
		t.Error("NewLocal with no models: no error")
	}
	ms := testModels(t)
	if _, err := NewLocal([]Model{ms[0], ms[0]}, 1); err == nil || !strings.Contains(err.Error(), `"cnn" given twice`) {
		t.Errorf("NewLocal with a model twice: %v", err)
	}
}

func TestLocalStopsWithContext(t *testing.T) {
	local, err := NewLocal(testModels(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := local.Predict(ctx, testClips(3, 200)); err == nil {
		t.Fatal("Predict on an ended context: no error")
	}
}

func equalRates(a, b []adaptive.Rates) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if a[k].Model != b[k].Model || a[k].Cells != b[k].Cells || len(a[k].Rates) != len(b[k].Rates) {
			return false
		}
		for j := range a[k].Rates {
			if a[k].Rates[j] != b[k].Rates[j] {
				return false
			}
		}
	}
	return true
}

func TestParseModelArg(t *testing.T) {
	for _, tc := range [][3]string{
		{"cnn=models/bncnn.rtm", "cnn", "models/bncnn.rtm"},
		{"models/bncnn.rtm", "bncnn", "models/bncnn.rtm"},
		{"a/b=c.onnx", "a/b", "c.onnx"},
	} {
		n, f := ParseModelArg(tc[0])
		if n != tc[1] || f != tc[2] {
			t.Errorf("ParseModelArg(%q) = %q, %q; want %q, %q", tc[0], n, f, tc[1], tc[2])
		}
	}
}
