package present

import (
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-gl/gl/v3.3-core/gl"
	"golang.org/x/sys/unix"

	"retinad/clock"
	"retinad/clock/clocktest"
	"retinad/configs"
	"retinad/internal/testenv"
	"retinad/stimulus/present/presenttest"
)

// GL calls must come from one locked OS thread: the tests hand their GL work to the main
// goroutine through presenttest.
var onMain = presenttest.OnMain

func TestMain(m *testing.M) { os.Exit(presenttest.Main(m)) }

// errNoDisplay is why a window cannot be had.
var errNoDisplay = fmt.Errorf("neither DISPLAY nor WAYLAND_DISPLAY is set")

// fakeClock runs pacing instantly: a virtual clock whose one sleeper, the presenter, moves it
// (clocktest.VirtualClock.SetSolo); a test advances it too (a frame drawn late, a slow swap).
func fakeClock(start int64) *clocktest.VirtualClock {
	c := clocktest.NewVirtualClock(start)
	c.SetSolo(true)
	return c
}

// targets are the modes the suite runs on: a real window when a display is reachable (make
// test runs under Xvfb), and EGL surfaceless offscreen.
func targets(t *testing.T) []string {
	var modes []string
	if haveDisplay() {
		modes = append(modes, "window")
	} else if testenv.Required() {
		testenv.Missing(t, "a display for the window case (DISPLAY: run under xvfb-run)", errNoDisplay)
	}
	var eglErr error
	onMain(func() {
		e, err := openEGL()
		if err == nil {
			e.close()
		}
		eglErr = err
	})
	if eglErr == nil {
		modes = append(modes, "offscreen")
	}
	if len(modes) == 0 {
		testenv.Missing(t, "a display for GL (DISPLAY unset: run under xvfb-run; EGL surfaceless failed)", eglErr)
	}
	return modes
}

func testConfig(mode string) (configs.Display, configs.Stimulus) {
	d := configs.Default().Display
	d.Mode, d.Width, d.Height, d.VSync = mode, 200, 150, false
	d.Rect = configs.Rect{X: 30, Y: 20, Width: 80, Height: 60}
	d.Background = 0.25
	d.Gamma = configs.Gamma{Exponent: 1}
	d.Patch = configs.Patch{Corner: "top-right", Size: 10}
	s := configs.Default().Stimulus
	s.Width, s.Height, s.Mean = 4, 3, 0.5
	d.Refresh, s.FrameRate = 120, 60
	return d, s
}

func open(t *testing.T, d configs.Display, s configs.Stimulus, o Options) *Presenter {
	t.Helper()
	var p *Presenter
	var err error
	onMain(func() { p, err = Open(d, s, o) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { onMain(func() { p.Close() }) })
	return p
}

// drive is the 8-bit value the pipeline must write for luminance lum through lut.
func drive(lut []float32, lum float32) uint8 {
	lum = min(1, max(0, lum))
	d := lut[int(lum*float32(LUTSize-1)+0.5)]
	return uint8(math.Round(float64(d) * 255))
}

// checkScreen compares every pixel of img with what the doc says: patch, stimulus rect, background.
func checkScreen(t *testing.T, img *image.RGBA, d configs.Display, s configs.Stimulus, lut []float32, frame []float32, patch uint8) {
	t.Helper()
	W, H := img.Rect.Dx(), img.Rect.Dy()
	r := d.Rect
	bad := 0
	for y := 0; y < H; y++ {
		for x := 0; x < W; x++ {
			want := drive(lut, float32(d.Background))
			if x >= r.X && x < r.X+r.Width && y >= r.Y && y < r.Y+r.Height {
				gx, gy := (x-r.X)*s.Width/r.Width, (y-r.Y)*s.Height/r.Height
				want = drive(lut, float32(s.Mean)*(1+frame[gy*s.Width+gx]))
			}
			if x >= W-d.Patch.Size && y < d.Patch.Size {
				want = drive(lut, float32(patch))
			}
			o := img.PixOffset(x, y)
			got := img.Pix[o : o+4]
			if got[0] != want || got[1] != want || got[2] != want || got[3] != 255 {
				if bad++; bad <= 5 {
					t.Errorf("pixel (%d,%d) = %v, want gray %d", x, y, got, want)
				}
			}
		}
	}
	if bad > 5 {
		t.Errorf("... %d pixels wrong in all", bad)
	}
}

func TestScalingBackgroundPatch(t *testing.T) {
	for _, mode := range targets(t) {
		t.Run(mode, func(t *testing.T) {
			d, s := testConfig(mode)
			p := open(t, d, s, Options{Clock: fakeClock(1)})
			lut, _ := InverseGamma(d.Gamma)
			frame := make([]float32, s.Width*s.Height)
			for k := range frame {
				frame[k] = float32(k)/6 - 1 // -1 .. 0.83: every stimulus pixel its own gray
			}
			img := image.NewRGBA(image.Rect(0, 0, d.Width, d.Height))
			for i := 0; i < 4; i++ {
				var f Flip
				var err error
				frame[0] = float32(i) / 4
				onMain(func() { f, err = p.PresentCapture(frame, img) })
				if err != nil {
					t.Fatal(err)
				}
				if want := uint8(1 - i%2); f.Patch != want {
					t.Errorf("frame %d: patch %d, want %d (toggling, white first)", i, f.Patch, want)
				}
				checkScreen(t, img, d, s, lut, frame, f.Patch)
			}
			if p.Frames() != 4 || p.Missed() != 0 {
				t.Errorf("frames %d missed %d, want 4 and 0", p.Frames(), p.Missed())
			}
		})
	}
}

func TestGammaLUT(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("# luminance of drive levels 0..255 (a cube law)\n")
	for k := 0; k < 256; k++ {
		fmt.Fprintf(&b, "%g\n", 0.2+80*math.Pow(float64(k)/255, 3))
	}
	lutFile := filepath.Join(dir, "gamma.txt")
	os.WriteFile(lutFile, []byte(b.String()), 0o644)
	for _, mode := range targets(t) {
		for _, g := range []configs.Gamma{{Exponent: 2.2}, {LUT: lutFile}} {
			t.Run(fmt.Sprintf("%s/%+v", mode, g), func(t *testing.T) {
				d, s := testConfig(mode)
				d.Gamma = g
				lut, err := InverseGamma(g)
				if err != nil {
					t.Fatal(err)
				}
				p := open(t, d, s, Options{Clock: fakeClock(1)})
				frame := []float32{-1, -0.8, -0.5, -0.3, -0.1, 0, 0.1, 0.3, 0.5, 0.7, 0.9, 1}
				img := image.NewRGBA(image.Rect(0, 0, d.Width, d.Height))
				var f Flip
				onMain(func() { f, err = p.PresentCapture(frame, img) })
				if err != nil {
					t.Fatal(err)
				}
				checkScreen(t, img, d, s, lut, frame, f.Patch)
				// The LUT really changes pixels: luminance 0.25 (the background) is brighter
				// than 64 through an inverse gamma, as the table says.
				bg := img.Pix[img.PixOffset(0, d.Height-1)]
				if want := drive(lut, 0.25); bg != want || bg <= 64+20 {
					t.Errorf("background drive %d, want %d (identity would give 64)", bg, want)
				}
			})
		}
	}
}

// TestMissedRefreshes: a frame drawn after its due refresh is shown at the next refresh of the
// grid and counts the refreshes it missed; one drawn slowly but in time, or exactly on time,
// counts none and is shown on its refresh.
func TestMissedRefreshes(t *testing.T) {
	for _, mode := range targets(t) {
		t.Run(mode, func(t *testing.T) {
			d, s := testConfig(mode) // 120 Hz monitor, 60 Hz stimulus: 2 refreshes per frame
			clk := fakeClock(1_000_000_000)
			p := open(t, d, s, Options{Clock: clk})
			frame := make([]float32, 12)
			period := int64(time.Second / 120)
			hold := 2 * period
			// when each frame is ready, from its due refresh
			ready := map[int]int64{3: period + period/3, 6: period * 6 / 10, 7: -period / 3, 8: 0}
			wantMissed := map[int]int{3: 2, 6: 1}
			prev := int64(0)
			for i := 0; i < 10; i++ {
				if i > 0 {
					clk.AdvanceTo(prev + hold + ready[i])
				}
				var f Flip
				var err error
				onMain(func() { f, err = p.Present(frame) })
				if err != nil {
					t.Fatal(err)
				}
				if f.Missed != wantMissed[i] {
					t.Errorf("frame %d: missed %d, want %d", i, f.Missed, wantMissed[i])
				}
				if want := hold + int64(wantMissed[i])*period; i > 0 && f.HostNS-prev != want {
					t.Errorf("frame %d flipped %v after the previous, want %v", i, time.Duration(f.HostNS-prev), time.Duration(want))
				}
				prev = f.HostNS
			}
			if p.Missed() != 3 {
				t.Errorf("Missed() = %d, want 3", p.Missed())
			}
		})
	}
}

func TestPresentAllocs(t *testing.T) {
	for _, mode := range targets(t) {
		t.Run(mode, func(t *testing.T) {
			d, s := testConfig(mode)
			p := open(t, d, s, Options{Pacing: PaceNone})
			frame := make([]float32, 12)
			img := image.NewRGBA(image.Rect(0, 0, d.Width, d.Height))
			var a, ac float64
			onMain(func() {
				a = testing.AllocsPerRun(50, func() { p.Present(frame) })
				ac = testing.AllocsPerRun(20, func() { p.PresentCapture(frame, img) })
			})
			if a != 0 || ac != 0 {
				t.Errorf("Present: %v allocations per frame, PresentCapture %v; want 0", a, ac)
			}
		})
	}
}

// TestPacedPresentAllocs: pacing on the refresh grid, late frames counted, allocates nothing.
func TestPacedPresentAllocs(t *testing.T) {
	for _, mode := range targets(t) {
		t.Run(mode, func(t *testing.T) {
			d, s := testConfig(mode)
			clk := fakeClock(1)
			p := open(t, d, s, Options{Pacing: PaceClock, Clock: clk})
			frame := make([]float32, 12)
			var a float64
			onMain(func() {
				a = testing.AllocsPerRun(50, func() { clk.Advance(3e7); p.Present(frame) }) // late: the grid counts
			})
			if a != 0 || p.Missed() == 0 {
				t.Errorf("Present paced on the refresh grid: %v allocations per frame (want 0), %d refreshes missed (want some)", a, p.Missed())
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	modes := targets(t)
	mode := modes[len(modes)-1]
	bad := []struct {
		edit func(*configs.Display, *configs.Stimulus)
		want string
	}{
		{func(d *configs.Display, s *configs.Stimulus) { d.Rect.X = 150 }, "display.rect"},
		{func(d *configs.Display, s *configs.Stimulus) { d.Rect.Width = 82 }, "whole multiple"},
		{func(d *configs.Display, s *configs.Stimulus) { s.FrameRate = 50 }, "whole number"},
		{func(d *configs.Display, s *configs.Stimulus) { d.Patch.Corner = "middle" }, "display.patch.corner"},
		{func(d *configs.Display, s *configs.Stimulus) { d.Gamma = configs.Gamma{LUT: "/nonexistent/gamma.txt"} }, "/nonexistent/gamma.txt"},
		{func(d *configs.Display, s *configs.Stimulus) { d.Mode = "hologram" }, "display.mode"},
	}
	for _, b := range bad {
		d, s := testConfig(mode)
		b.edit(&d, &s)
		var err error
		onMain(func() {
			var p *Presenter
			if p, err = Open(d, s, Options{}); err == nil {
				p.Close()
			}
		})
		if err == nil || !strings.HasPrefix(err.Error(), "present: ") || !strings.Contains(err.Error(), b.want) {
			t.Errorf("error %v, want one naming %q", err, b.want)
		}
	}
}

func TestGammaTableErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(s), 0o644)
		return p
	}
	ramp := func(n int) string {
		var b strings.Builder
		for k := 0; k < n; k++ {
			fmt.Fprintf(&b, "%d\n", k)
		}
		return b.String()
	}
	cases := map[string]string{
		write("short.txt", ramp(10)):                      "want 256 or more",
		write("word.txt", ramp(100)+"bright\n"+ramp(200)): "word.txt:101",
		write("down.txt", ramp(300)+"5\n"):                "below the previous",
		write("flat.txt", strings.Repeat("3\n", 300)):     "does not rise",
	}
	for path, want := range cases {
		if _, err := InverseGamma(configs.Gamma{LUT: path}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", filepath.Base(path), err, want)
		}
	}
	// A linear table inverts to the identity.
	lut, err := InverseGamma(configs.Gamma{LUT: write("linear.txt", ramp(256))})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range lut {
		if want := float64(k) / (LUTSize - 1); math.Abs(float64(v)-want) > 1e-6 {
			t.Fatalf("linear table: lut[%d] = %v, want %v", k, v, want)
		}
	}
}

// BenchmarkPresent is the done-when figure: a 50x50 stimulus on a 1920x1080 target,
// upload+draw+swap per frame without pacing, with its p50 and p99.
func BenchmarkPresent(b *testing.B) {
	for _, side := range []int{500, 1000} { // 10 (as sim.yaml) and 20 screen pixels per stimulus pixel
		for _, mode := range []string{"window", "offscreen"} {
			b.Run(fmt.Sprintf("rect=%d/%s", side, mode), func(b *testing.B) { benchmarkPresent(b, mode, side) })
		}
	}
}

func benchmarkPresent(b *testing.B, mode string, side int) {
	{
		{
			if mode == "window" && !haveDisplay() {
				testenv.Missing(b, "a display for the window case (run under xvfb-run)", errNoDisplay)
			}
			d := configs.Default().Display
			d.Mode, d.Width, d.Height, d.VSync = mode, 1920, 1080, false
			d.Rect = configs.Rect{X: (1920 - side) / 2, Y: (1080 - side) / 2, Width: side, Height: side}
			s := configs.Default().Stimulus
			s.Width, s.Height = 50, 50
			var p *Presenter
			var err error
			onMain(func() { p, err = Open(d, s, Options{Pacing: PaceNone}) })
			if err != nil {
				b.Fatal(err)
			}
			frame := make([]float32, 2500)
			times := make([]int64, 0, b.N)
			peer := make([]int64, 0, b.N)
			clk := clock.System{}
			b.ReportAllocs()
			onMain(func() {
				for i := 0; i < 10; i++ {
					p.Present(frame)
				}
				b.ResetTimer()
				cpu0 := cpuTime()
				for i := 0; i < b.N; i++ {
					frame[i%2500] = float32(i%3) - 1
					t0 := clk.Now()
					if _, err = p.Present(frame); err != nil {
						break
					}
					times = append(times, clk.Now()-t0)
				}
				b.StopTimer()
				b.ReportMetric(float64(cpuTime()-cpu0)/1e6/float64(b.N), "cpu-ms/op")
				// The peer, in the same process on the same target: the bare minimum of any
				// presenter, a clear of the target and the swap (or finish) alone.
				for i := 0; i < b.N && err == nil; i++ {
					t0 := clk.Now()
					gl.Clear(gl.COLOR_BUFFER_BIT)
					if p.win != nil {
						p.win.win.SwapBuffers()
					}
					gl.Finish()
					peer = append(peer, clk.Now()-t0)
				}
				p.Close()
			})
			if err != nil {
				b.Fatal(err)
			}
			q := func(ts []int64, f float64) float64 {
				sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
				return float64(ts[int(f*float64(len(ts)-1))]) / 1e6
			}
			b.ReportMetric(q(times, 0.5), "p50-ms")
			b.ReportMetric(q(times, 0.99), "p99-ms")
			b.ReportMetric(q(peer, 0.5), "peer-clear+swap-p50-ms")
			b.ReportMetric(q(peer, 0.99), "peer-clear+swap-p99-ms")
		}
	}
}

// TestGLErrorNamesCall breaks the GL state under the presenter and checks that the error says
// which call failed.
func TestGLErrorNamesCall(t *testing.T) {
	for _, mode := range targets(t) {
		t.Run(mode, func(t *testing.T) {
			d, s := testConfig(mode)
			p := open(t, d, s, Options{Pacing: PaceNone})
			var err error
			onMain(func() {
				gl.DeleteTextures(1, &p.frameTex) // the bound texture becomes 0, with no storage
				_, err = p.Present(make([]float32, 12))
			})
			if err == nil || !strings.HasPrefix(err.Error(), "present: glTexSubImage2D: GL_INVALID_") {
				t.Errorf("error %v, want one naming glTexSubImage2D and the GL error", err)
			}
		})
	}
}

// TestVSyncFallback: under Xvfb vsync does not throttle; a window asked for vsync notices and
// paces from the clock.
func TestVSyncFallback(t *testing.T) {
	if !haveDisplay() {
		testenv.Missing(t, "a display for the window case (run under xvfb-run)", errNoDisplay)
	}
	d, s := testConfig("window")
	d.VSync = true
	clk := fakeClock(1)
	p := open(t, d, s, Options{Clock: clk})
	if !p.vsync {
		t.Fatal("vsync pacing not chosen for a window with display.vsync")
	}
	frame := make([]float32, 12)
	var flips []int64
	for i := 0; i < 8; i++ {
		var f Flip
		var err error
		onMain(func() { f, err = p.Present(frame) })
		if err != nil {
			t.Fatal(err)
		}
		flips = append(flips, f.HostNS)
	}
	if p.vsync {
		t.Fatal("still trusting vsync after 8 instant swaps")
	}
	if hold := flips[7] - flips[6]; hold != int64(2*time.Second/120) {
		t.Errorf("after the fallback frames are %v apart, want 2 refreshes", time.Duration(hold))
	}
}

// cpuTime is the process's user+system CPU time in ns, all threads (llvmpipe renders on its own
// threads): the frame's work, whatever else the machine is doing.
func cpuTime() int64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// TestVSyncMissedFromSwaps: when the swaps wait for the monitor (the fake clock moves by a hold
// per swap, as a vsync'd display would), a flip more than half a refresh past the hold missed the
// refreshes past it, counted from the swap times, and vsync stays trusted.
func TestVSyncMissedFromSwaps(t *testing.T) {
	if !haveDisplay() {
		testenv.Missing(t, "a display for the window case (run under xvfb-run)", errNoDisplay)
	}
	d, s := testConfig("window") // 120 Hz monitor, 60 Hz stimulus: 2 refreshes per frame
	d.VSync = true
	clk := fakeClock(1_000_000_000)
	p := open(t, d, s, Options{Clock: clk})
	frame := make([]float32, 12)
	period := int64(time.Second / 120)
	// the interval before each frame, in refreshes past the hold: 3 is late by 3 refreshes,
	// 5 by a quarter of one (not late), 7 by three quarters (one missed)
	past := map[int]int64{3: 3 * period, 5: period / 4, 7: period * 3 / 4}
	wantMissed := map[int]int{3: 3, 7: 1}
	for i := 0; i < 10; i++ {
		if i > 0 {
			clk.Advance(time.Duration(2*period + past[i]))
		}
		var f Flip
		var err error
		onMain(func() { f, err = p.Present(frame) })
		if err != nil {
			t.Fatal(err)
		}
		if f.Missed != wantMissed[i] {
			t.Errorf("frame %d: missed %d, want %d", i, f.Missed, wantMissed[i])
		}
	}
	if !p.vsync {
		t.Error("vsync given up although every swap waited")
	}
	if p.Missed() != 4 {
		t.Errorf("Missed() = %d, want 4", p.Missed())
	}
}

// TestPresentLevel: the patch takes the drive level as it is, not through the inverse-gamma
// table (OnPatch reads it back: drive k/255 is byte k), Flip.Patch says black or white, a
// level outside 0..1 is refused, and neither PresentLevel nor Present with OnPatch allocates.
func TestPresentLevel(t *testing.T) {
	for _, mode := range targets(t) {
		t.Run(mode, func(t *testing.T) {
			d, s := testConfig(mode)
			d.Gamma = configs.Gamma{Exponent: 2.2} // the table would turn drive 64/255 into 137
			var got uint8
			var at int64
			p := open(t, d, s, Options{Pacing: PaceNone, OnPatch: func(ns int64, drive uint8) { at, got = ns, drive }})
			for _, k := range []int{0, 1, 64, 128, 200, 254, 255} {
				var f Flip
				var err error
				onMain(func() { f, err = p.PresentLevel(float64(k) / 255) })
				if err != nil {
					t.Fatal(err)
				}
				if int(got) != k || at != f.HostNS || f.Patch != uint8(k/128) {
					t.Errorf("PresentLevel(%d/255): patch drive %d at %d, flip %+v; want drive %d at the flip's time, patch %d", k, got, at, f, k, k/128)
				}
			}
			var err error
			onMain(func() { _, err = p.PresentLevel(1.5) })
			if err == nil || !strings.Contains(err.Error(), "PresentLevel(1.5)") {
				t.Errorf("PresentLevel(1.5): %v, want an error naming it", err)
			}
			frame := make([]float32, 12)
			var a, al float64
			onMain(func() {
				a = testing.AllocsPerRun(50, func() { p.Present(frame) })
				al = testing.AllocsPerRun(50, func() { p.PresentLevel(0.5) })
			})
			if a != 0 || al != 0 {
				t.Errorf("with OnPatch: Present %v allocations per frame, PresentLevel %v; want 0", a, al)
			}
		})
	}
}
