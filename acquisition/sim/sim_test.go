package sim

import (
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"retinad/infer/dataset"
)

func newRetina(t testing.TB, cells int) *Retina {
	t.Helper()
	r, err := New(DefaultParams(), 50, 50, cells, 1)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func simulate(t testing.TB, r *Retina, f Frames, T, repeats int) *Simulation {
	t.Helper()
	s, err := Simulate(context.Background(), r, f, T, repeats, 7, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The separable spatial filter equals the direct 2-D centre-surround convolution.
func TestSpatialIsCenterSurround(t *testing.T) {
	r := newRetina(t, 4)
	frame := make([]float32, 50*50)
	WhiteNoise(50, 50, 1, 1, 3)(0, frame)
	r.spatial(frame)
	want := directDoG(r, frame)
	for i := range want {
		if d := math.Abs(float64(r.x[i] - want[i])); d > 1e-5 {
			t.Fatalf("subunit %d: separable %g, direct %g", i, r.x[i], want[i])
		}
	}
}

// directDoG is the plain 2-D convolution of the subunits' centre-surround field.
func directDoG(r *Retina, frame []float32) []float32 {
	out := make([]float32, r.sh*r.sw)
	rc, rs := len(r.kc)/2, len(r.ks)/2
	for i, y := range r.subY {
		for j, x := range r.subX {
			var s float64
			for yy := 0; yy < r.h; yy++ {
				for xx := 0; xx < r.w; xx++ {
					var k float64
					if dy, dx := yy-y, xx-x; abs(dy) <= rc && abs(dx) <= rc {
						k += float64(r.kc[dy+rc] * r.kc[dx+rc])
					}
					if dy, dx := yy-y, xx-x; abs(dy) <= rs && abs(dx) <= rs {
						k -= r.p.SurroundWeight * float64(r.ks[dy+rs]*r.ks[dx+rs])
					}
					s += k * float64(frame[yy*r.w+xx])
				}
			}
			out[i*r.sw+j] = float32(s)
		}
	}
	return out
}

func abs(v int) int { return max(v, -v) }

// The subunits' temporal filter is biphasic: a positive lobe peaking near (Stages-1)*TauFast,
// then a negative one.
func TestTemporalFilterIsBiphasic(t *testing.T) {
	p := DefaultParams()
	p.GainSemi = 1e6 // no gain control: the filter itself, times 1/GainSemi
	r, err := New(p, 1, 1, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	var resp []float64
	for k := 0; k < 60; k++ {
		r.x[0] = 0
		if k == 0 {
			r.x[0] = 1
		}
		r.temporal()
		resp = append(resp, float64(r.x[0])*p.GainSemi)
	}
	peak, trough := 0, 0
	for k := range resp {
		if resp[k] > resp[peak] {
			peak = k
		}
		if resp[k] < resp[trough] {
			trough = k
		}
	}
	t.Logf("impulse response: peak %.3f at %d ms, trough %.3f at %d ms", resp[peak], peak*10, resp[trough], trough*10)
	if peak < 3 || peak > 12 || trough <= peak || resp[trough] > -0.1*resp[peak] {
		t.Errorf("impulse response not biphasic with a 30-120 ms peak: %.3f", resp)
	}
}

// ON cells' spike-triggered averages are positive at the centre of their field, OFF cells'
// negative.
func TestPolarityFromSTA(t *testing.T) {
	const T, lags = 30000, 30
	r := newRetina(t, 16)
	frames := WhiteNoise(50, 50, 2, 1, 11)
	s := simulate(t, r, frames, T, 0)
	frame := make([]float32, 50*50)
	// centre[t][c]: the stimulus at cell c's centre (3x3 mean) in frame t.
	centre := make([][]float64, T)
	for i := range centre {
		frames(i, frame)
		centre[i] = make([]float64, 16)
		for c, cell := range r.Cells() {
			cx, cy := int(cell.X), int(cell.Y)
			for y := max(cy-1, 0); y <= min(cy+1, 49); y++ {
				for x := max(cx-1, 0); x <= min(cx+1, 49); x++ {
					centre[i][c] += float64(frame[y*50+x]) / 9
				}
			}
		}
	}
	for c, cell := range r.Cells() {
		sta := make([]float64, lags)
		var n float64
		for i := lags; i < T; i++ {
			k := float64(s.Counts[i*16+c])
			n += k
			for l := range sta {
				sta[l] += k * centre[i-l][c]
			}
		}
		big := 0
		for l := range sta {
			sta[l] /= n
			if math.Abs(sta[l]) > math.Abs(sta[big]) {
				big = l
			}
		}
		got := "ON"
		if sta[big] < 0 {
			got = "OFF"
		}
		t.Logf("cell %2d (%s at %4.1f,%4.1f): %5.0f spikes, STA extremum %+.3f at %d ms -> %s", c, cell.Polarity(), cell.X, cell.Y, n, sta[big], big*10, got)
		if got != cell.Polarity() {
			t.Errorf("cell %d is %s but its STA says %s", c, cell.Polarity(), got)
		}
	}
}

// After a step up in contrast the gain (response per unit of linearly filtered stimulus) is
// high and then falls as the contrast gain control adapts.
func TestContrastAdaptation(t *testing.T) {
	const period, cycles = 1000, 16 // 10 s low, 10 s high
	frames := ContrastSteps(1, 1, 0.05, 0.35, period, 5)
	r, err := New(DefaultParams(), 1, 1, 2, 1) // full field: one subunit, an ON and an OFF cell
	if err != nil {
		t.Fatal(err)
	}
	T := 2 * period * cycles
	s := simulate(t, r, frames, T, 0)
	stim := make([]float64, T)
	one := make([]float32, 1)
	for i := range stim {
		frames(i, one)
		stim[i] = float64(one[0])
	}
	for c, cell := range r.Cells() {
		rate := Column(s.Counts, 2, c)
		// The linear filter: the rate-weighted average of the stimulus over the high-contrast halves.
		const lags = 40
		filt := make([]float64, lags)
		for i := lags; i < T; i++ {
			if (i/period)%2 == 1 {
				for l := range filt {
					filt[l] += rate[i] * stim[i-l]
				}
			}
		}
		gain := func(from, to int) float64 { // regression slope of rate on the filtered stimulus
			var xs, ys []float64
			for k := 0; k < cycles; k++ {
				for i := (2*k+1)*period + from; i < (2*k+1)*period+to; i++ {
					var g float64
					for l := range filt {
						g += filt[l] * stim[i-l]
					}
					xs = append(xs, g)
					ys = append(ys, rate[i])
				}
			}
			return Pearson(xs, ys) * stddev(ys) / stddev(xs)
		}
		early, late := gain(10, 110), gain(period-300, period)
		t.Logf("cell %d (%s): gain %.4g in the first second after the step up, %.4g in the last 3 s (ratio %.2f)", c, cell.Polarity(), early, late, late/early)
		if !(late < 0.8*early) {
			t.Errorf("cell %d: gain did not fall after the contrast step: early %.4g, late %.4g", c, early, late)
		}
	}
}

func stddev(x []float64) float64 {
	var m, ss float64
	for _, v := range x {
		m += v
	}
	m /= float64(len(x))
	for _, v := range x {
		ss += (v - m) * (v - m)
	}
	return math.Sqrt(ss / float64(len(x)))
}

// Repeated trials of natural scenes give sub-Poisson spike counts.
func TestFanoBelowOne(t *testing.T) {
	const T, R = 3000, 30
	r := newRetina(t, 16)
	nat, err := Natural(50, 50, 100, 0.5, 10, 3)
	if err != nil {
		t.Fatal(err)
	}
	s := simulate(t, r, nat, T, R)
	for _, w := range []int{1, 5, 10} {
		f := Fano(s.RepeatCnts, R, T, 16, w, 0.2)
		t.Logf("Fano factor over %d repeats, %d ms windows with >= 0.2 spikes: %.3f", R, w*10, f)
		if !(f < 1) {
			t.Errorf("Fano factor %.3f in %d-bin windows, want < 1", f, w)
		}
	}
	one, ceil := Reliability(s.RepeatCnts, s.Rates, R, T, 16)
	var mo, mc float64
	for c := range one {
		mo += one[c] / 16
		mc += ceil[c] / 16
	}
	t.Logf("reliability: one trial vs the rest r = %.3f, ground truth vs %d-trial mean r = %.3f", mo, R, mc)
}

// The spike generator keeps the rate asked for, and its counts are sub-Poisson as the
// dead-time process predicts.
func TestSpikerRateAndFano(t *testing.T) {
	for _, hz := range []float64{5, 50, 150} {
		const T, R = 2000, 50
		sp, err := NewSpiker(R, 100, 0.004, 9)
		if err != nil {
			t.Fatal(err)
		}
		rate := make([]float64, R)
		for c := range rate {
			rate[c] = hz
		}
		counts := make([]float32, R)
		win := make([]float64, R) // 200 ms windows, one per trial
		var s, ss, n float64
		for i := 0; i < T; i++ {
			sp.Spike(rate, counts)
			for c, k := range counts {
				win[c] += float64(k)
			}
			if i%20 == 19 {
				for c := range win {
					s += win[c]
					ss += win[c] * win[c]
					n++
					win[c] = 0
				}
			}
		}
		m := s / n
		fano := (ss/n - m*m) / m
		got := m / 0.2
		want := math.Pow(1-hz*0.004, 2)
		t.Logf("%g spikes/s asked: %.2f spikes/s, Fano %.3f (dead-time theory %.3f)", hz, got, fano, want)
		if math.Abs(got-hz) > 0.05*hz+0.5 || math.Abs(fano-want) > 0.1 {
			t.Errorf("%g spikes/s: got %.2f spikes/s and Fano %.3f, want about %g and %.3f", hz, got, fano, hz, want)
		}
	}
}

func TestStepAllocatesNothing(t *testing.T) {
	r := newRetina(t, 16)
	sp, _ := NewSpiker(16, 100, 0.004, 1)
	nat, _ := Natural(50, 50, 100, 0.5, 2, 3)
	wn := WhiteNoise(50, 50, 1, 1, 1)
	frame := make([]float32, 2500)
	rate := make([]float64, 16)
	counts := make([]float32, 16)
	i := 0
	allocs := testing.AllocsPerRun(500, func() {
		if i%2 == 0 {
			wn(i, frame)
		} else {
			nat(i, frame)
		}
		r.Step(frame, rate)
		sp.Spike(rate, counts)
		i++
	})
	if allocs != 0 {
		t.Fatalf("frame + Step + Spike: %v allocations per frame, want 0", allocs)
	}
}

func TestRepeatsShareTheRate(t *testing.T) {
	r := newRetina(t, 4)
	wn := WhiteNoise(50, 50, 1, 1, 1)
	a := simulate(t, r, wn, 500, 3)
	b := simulate(t, r, wn, 500, 0)
	for i := range a.Rates {
		if a.Rates[i] != b.Rates[i] {
			t.Fatalf("rate %d differs between runs of the same stimulus: %g, %g", i, a.Rates[i], b.Rates[i])
		}
	}
	same := 0
	for i := range a.Counts {
		if a.RepeatCnts[i] == a.RepeatCnts[a.T*a.C+i] {
			same++
		}
	}
	if same == len(a.Counts) {
		t.Fatal("trials 0 and 1 have identical spikes: the noise is not independent")
	}
}

// The written dataset is one that infer/dataset reads, with the ground truth beside it.
func TestWriteDataset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sim.npz")
	r := newRetina(t, 16)
	s, err := WriteDataset(context.Background(), path, r, WhiteNoise(50, 50, 1, 1, 1), 200, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	d, err := dataset.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if d.T != 200 || d.H != 50 || d.W != 50 || d.C != 16 || d.FrameRate != 100 {
		t.Fatalf("read back T=%d H=%d W=%d C=%d rate=%g", d.T, d.H, d.W, d.C, d.FrameRate)
	}
	frame := make([]float32, 2500)
	WhiteNoise(50, 50, 1, 1, 1)(123, frame)
	for i, v := range frame {
		if d.Frame(123)[i] != v {
			t.Fatalf("stimulus frame 123 pixel %d: %g, want %g", i, d.Frame(123)[i], v)
		}
	}
	for i, v := range s.Counts {
		if d.Counts[i] != v {
			t.Fatalf("counts[%d] = %g, want %g", i, d.Counts[i], v)
		}
	}
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Logf("no %s: numpy check not run", py)
		return
	}
	out, err := exec.Command(py, "-c", `
import sys, numpy as np
d = np.load(sys.argv[1])
assert d["stimulus"].shape == (200, 50, 50) and d["stimulus"].dtype == np.float32
assert d["counts"].shape == (200, 16) and d["rates"].shape == (200, 16)
assert d["repeat_counts"].shape == (3, 200, 16)
assert (d["repeat_counts"][0] == d["counts"]).all()
assert float(d["frame_rate"]) == 100.0 and d["cell_ids"].dtype == np.int64
assert d["cell_xy"].shape == (16, 2) and set(d["cell_on"]) == {0, 1}
print("ok")
`, path).CombinedOutput()
	if err != nil {
		t.Fatalf("numpy.load: %v\n%s", err, out)
	}
}

func TestBadInput(t *testing.T) {
	p := DefaultParams()
	p.TauFast = 0
	p.MaxRate = 1000
	if _, err := New(p, 50, 50, 16, 1); err == nil {
		t.Fatal("bad params accepted")
	} else {
		t.Log(err)
	}
	if _, err := New(DefaultParams(), 50, 50, 0, 1); err == nil {
		t.Fatal("0 cells accepted")
	}
}
