package sim

import (
	"context"
	"testing"

	"retinad/infer/dataset"
	"retinad/infer/fit"
)

// An LN model fitted (by package infer/fit) on the retina's white-noise response predicts its
// natural-scene response clearly worse than the retina's own noise-free rate does: the
// rectified subunits make natural scenes escape LN models, as in real retinas.
func TestLNFailsOnNaturalScenes(t *testing.T) {
	// Four cells (ON, OFF, ON, OFF) keep the fit short; 200 s of white noise to fit on.
	const C, Twn, Tnat, R = 4, 20000, 3000, 10
	r := newRetina(t, C)
	wnFrames := WhiteNoise(50, 50, 2, 1, 21)
	wn := simulate(t, r, wnFrames, Twn, 0)
	d := toDataset(wnFrames, wn, 50, 50)
	m, err := fit.FitLN(context.Background(), d, "whitenoise", fit.Options{History: 30, TestFraction: 0.1, ROI: 15, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	natFrames, err := Natural(50, 50, 100, 0.5, 10, 22)
	if err != nil {
		t.Fatal(err)
	}
	nat := simulate(t, r, natFrames, Tnat, R)
	natPred := predictLN(m, natFrames, Tnat)
	wnTest := WhiteNoise(50, 50, 2, 1, 23)
	wnt := simulate(t, r, wnTest, Tnat, R)
	wnPred := predictLN(m, wnTest, Tnat)

	// Correlations with the trial-averaged spike counts, over bins with a full filter history.
	score := func(s *Simulation, pred [][]float64) (ln, truth float64) {
		for c := 0; c < C; c++ {
			mean := make([]float64, Tnat)
			for k := 0; k < R; k++ {
				for i := range mean {
					mean[i] += float64(s.RepeatCnts[(k*Tnat+i)*C+c]) / R
				}
			}
			from := m.History
			ln += Pearson(pred[c][from:], mean[from:]) / C
			truth += Pearson(Column(s.Rates, C, c)[from:], mean[from:]) / C
		}
		return ln, truth
	}
	lnWN, truthWN := score(wnt, wnPred)
	lnNat, truthNat := score(nat, natPred)
	t.Logf("white noise (held out): LN r = %.3f, ground truth r = %.3f (vs %d-trial mean, mean over %d cells)", lnWN, truthWN, R, C)
	t.Logf("natural scenes:         LN r = %.3f, ground truth r = %.3f", lnNat, truthNat)
	if !(lnNat < truthNat-0.15) {
		t.Errorf("LN on natural scenes r = %.3f, not clearly below the ground truth's %.3f", lnNat, truthNat)
	}
}

func toDataset(frames Frames, s *Simulation, h, w int) *dataset.Dataset {
	d := &dataset.Dataset{T: s.T, H: h, W: w, C: s.C, Stimulus: make([]float32, s.T*h*w),
		Counts: s.Counts, FrameRate: s.FrameRate, CellIDs: make([]int64, s.C)}
	for i := 0; i < s.T; i++ {
		frames(i, d.Stimulus[i*h*w:(i+1)*h*w])
	}
	for c := range d.CellIDs {
		d.CellIDs[c] = int64(c)
	}
	return d
}

// predictLN runs each LN cell on frames 0..T-1: Link(Bias + Filter·window), per bin.
func predictLN(m *fit.LN, frames Frames, T int) [][]float64 {
	p := m.H * m.W
	stim := make([]float32, T*p)
	for i := 0; i < T; i++ {
		frames(i, stim[i*p:(i+1)*p])
	}
	out := make([][]float64, len(m.Cells))
	for c, cell := range m.Cells {
		var px []int // pixels the filter covers
		for j := 0; j < p; j++ {
			for k := 0; k < m.History; k++ {
				if cell.Filter[k*p+j] != 0 {
					px = append(px, j)
					break
				}
			}
		}
		out[c] = make([]float64, T)
		for i := range out[c] {
			g := cell.Bias
			for k := 0; k < m.History && k <= i; k++ {
				f := cell.Filter[k*p : (k+1)*p]
				fr := stim[(i-k)*p : (i-k+1)*p]
				for _, j := range px {
					g += f[j] * float64(fr[j])
				}
			}
			out[c][i] = cell.Link.Rate(g)
		}
	}
	return out
}
