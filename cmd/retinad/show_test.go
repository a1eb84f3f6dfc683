package main

import (
	"errors"
	"image/png"
	"os"
	"path/filepath"
	"retinad/internal/testenv"
	"strings"
	"testing"
)

func TestShowScreenshot(t *testing.T) {
	out := filepath.Join(t.TempDir(), "shot.png")
	code, stdout, stderr := run(t, "show", "--config", "../../configs/sim.yaml", "--stimulus", "whitenoise", "--frames", "5", "--screenshot", out)
	if code != 0 {
		if strings.Contains(stderr, "present: offscreen") && os.Getenv("DISPLAY") == "" {
			testenv.Missing(t, "a display for GL (no DISPLAY: run under xvfb-run; EGL surfaceless failed)", errors.New(stderr))
		}
		t.Fatalf("show: exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "showed 5 whitenoise frame(s)") {
		t.Errorf("show output: %q", stdout)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 800 || b.Dy() != 600 {
		t.Errorf("screenshot %v, want the 800x600 display of sim.yaml", b)
	}
	// White noise of contrast 1 around mean 0.5 through gamma 2.2: stimulus pixels are black or
	// white; the background (0.5) is 0.5^(1/2.2) = 186 of 255.
	if r, _, _, _ := img.At(5, 5).RGBA(); r>>8 != 186 {
		t.Errorf("background pixel %d, want 186", r>>8)
	}
	for _, pt := range [][2]int{{155, 55}, {400, 300}, {645, 545}} {
		if r, _, _, _ := img.At(pt[0], pt[1]).RGBA(); r>>8 != 0 && r>>8 != 255 {
			t.Errorf("stimulus pixel %v = %d, want 0 or 255", pt, r>>8)
		}
	}

	if code, _, stderr := run(t, "show", "--config", "../../configs/sim.yaml", "--screenshot", out); code != 2 || !strings.Contains(stderr, "--frames") {
		t.Errorf("screenshot without --frames: exit %d, %q", code, stderr)
	}
}
