package fit

import (
	"fmt"
	"io"
	"math"
)

// Report is the JSON report of a fit (the layout `retinad fit --report` writes).
type Report struct {
	Model     string       `json:"model"` // "ln" or "glm"
	Data      string       `json:"data,omitempty"`
	FrameRate float64      `json:"frame_rate"`
	Grid      [2]int       `json:"grid"`                 // H, W
	FullField bool         `json:"full_field,omitempty"` // uniform frames, fitted as one pixel
	History   int          `json:"history"`              // stimulus filter length, bins
	Bins      ReportBins   `json:"bins"`
	Cells     []ReportCell `json:"cells"`
}

// ReportBins are the half-open ranges of bins trained and tested on.
type ReportBins struct {
	Train [2]int  `json:"train"`
	Test  *[2]int `json:"test,omitempty"`
}

// ReportCell is one cell's entry. Test (and every test score) is absent when nothing was
// held out.
type ReportCell struct {
	Index        int                     `json:"index"`
	ID           int64                   `json:"id"`
	Train        Score                   `json:"train"`
	Test         *Score                  `json:"test,omitempty"`
	Polarity     string                  `json:"polarity"`   // ON or OFF
	PeakLag      float64                 `json:"peak_lag_s"` // lag of the temporal filter's extremum, seconds
	Center       [2]int                  `json:"center"`     // pixel (y, x) of the spatial filter's extremum
	Filters      ReportFilters           `json:"filters"`
	Nonlinearity string                  `json:"nonlinearity,omitempty"` // LN: the link stored in the model
	Lambda       float64                 `json:"ridge_lambda,omitempty"` // LN: cross-validated penalty
	ByNL         map[string]ReportScores `json:"nonlinearities,omitempty"`
	StimulusOnly *ReportScores           `json:"stimulus_only,omitempty"` // GLM: the same fit without spike history or coupling
	Iterations   int                     `json:"newton_iterations,omitempty"`
}

// ReportScores are a train and an optional test score.
type ReportScores struct {
	Train Score  `json:"train"`
	Test  *Score `json:"test,omitempty"`
}

// ReportFilters gives each fitted filter's shape and the time courses worth reading.
type ReportFilters struct {
	Stimulus []int       `json:"stimulus"`           // [N, H, W]
	Temporal [][]float64 `json:"temporal"`           // [rank][N], lag 0 (the current frame) first
	History  []float64   `json:"history,omitempty"`  // [K], lag 1 first
	Coupling []int       `json:"coupling,omitempty"` // [C, K]
}

func testPtr(s Score, hasTest bool) *Score {
	if !hasTest {
		return nil
	}
	return &s
}

func (b Bins) report() ReportBins {
	r := ReportBins{Train: [2]int{b.First, b.TestFirst}}
	if b.End > b.TestFirst {
		r.Test = &[2]int{b.TestFirst, b.End}
	}
	return r
}

// peak returns the lag (seconds) of the largest-magnitude entry of the first temporal
// factor and the pixel of the largest-magnitude spatial weight.
func peak(temporal, spatial [][]float64, w int, frameRate float64) (float64, [2]int) {
	argmax := func(v []float64) int {
		best := 0
		for i, x := range v {
			if math.Abs(x) > math.Abs(v[best]) {
				best = i
			}
		}
		return best
	}
	var lag float64
	var c [2]int
	if len(temporal) > 0 {
		lag = float64(argmax(temporal[0])) / frameRate
	}
	if len(spatial) > 0 {
		p := argmax(spatial[0])
		c = [2]int{p / w, p % w}
	}
	return lag, c
}

// Report returns the LN fit's report; data names the dataset.
func (m *LN) Report(data string) *Report {
	r := &Report{Model: "ln", Data: data, FrameRate: m.FrameRate, Grid: [2]int{m.H, m.W}, FullField: m.FullField, History: m.History, Bins: m.Bins.report()}
	hasTest := m.Bins.End > m.Bins.TestFirst
	for _, c := range m.Cells {
		lag, ctr := peak(c.Temporal, c.Spatial, m.W, m.FrameRate)
		rc := ReportCell{Index: c.Index, ID: c.ID, Train: c.Train, Test: testPtr(c.Test, hasTest),
			Polarity: Polarity(c.Filter, m.H*m.W), PeakLag: lag, Center: ctr,
			Filters:      ReportFilters{Stimulus: []int{m.History, m.H, m.W}, Temporal: c.Temporal},
			Nonlinearity: c.Link.String(), Lambda: c.Lambda, ByNL: map[string]ReportScores{}}
		for name, s := range c.TrainByNL {
			rc.ByNL[name] = ReportScores{Train: s, Test: testPtr(c.TestByNL[name], hasTest)}
		}
		r.Cells = append(r.Cells, rc)
	}
	return r
}

// Report returns the GLM fit's report; data names the dataset.
func (m *GLM) Report(data string) *Report {
	r := &Report{Model: "glm", Data: data, FrameRate: m.FrameRate, Grid: [2]int{m.H, m.W}, FullField: m.FullField, History: m.History, Bins: m.Bins.report()}
	hasTest := m.Bins.End > m.Bins.TestFirst
	for _, c := range m.Cells {
		lag, ctr := peak(c.Temporal, c.Spatial, m.W, m.FrameRate)
		rc := ReportCell{Index: c.Index, ID: c.ID, Train: c.Train, Test: testPtr(c.Test, hasTest),
			Polarity: Polarity(c.Filter, m.H*m.W), PeakLag: lag, Center: ctr,
			Filters:    ReportFilters{Stimulus: []int{m.History, m.H, m.W}, Temporal: c.Temporal, History: c.History},
			Iterations: c.Iterations}
		if m.Coupled {
			rc.Filters.Coupling = []int{len(m.Cells), m.SpikeHistory}
		}
		if m.SpikeHistory > 0 {
			rc.StimulusOnly = &ReportScores{Train: c.StimulusOnlyTrain, Test: testPtr(c.StimulusOnlyTest, hasTest)}
		}
		r.Cells = append(r.Cells, rc)
	}
	return r
}

// Summary writes the report as a table for the terminal.
func (r *Report) Summary(w io.Writer) {
	hasTest := r.Bins.Test != nil
	ff := ""
	if r.FullField {
		ff = " full-field"
	}
	fmt.Fprintf(w, "%s fit of %s: %d cells, %dx%d%s stimulus, %d-bin filters (%.0f ms at %g Hz), bins %d..%d for training",
		upper(r.Model), r.Data, len(r.Cells), r.Grid[0], r.Grid[1], ff, r.History, 1000*float64(r.History)/r.FrameRate, r.FrameRate, r.Bins.Train[0], r.Bins.Train[1]-1)
	if hasTest {
		fmt.Fprintf(w, ", %d..%d held out", r.Bins.Test[0], r.Bins.Test[1]-1)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%5s %6s %4s %7s %9s  %8s %6s", "cell", "id", "pol", "peak", "center", "bits/sp", "r")
	if hasTest {
		fmt.Fprintf(w, "  %8s %6s", "test b/s", "test r")
	}
	extra := ""
	switch r.Model {
	case "ln":
		extra = "nonlin"
	case "glm":
		if len(r.Cells) > 0 && r.Cells[0].StimulusOnly != nil {
			extra = "stim-only b/s"
		}
	}
	fmt.Fprintf(w, "  %8s  %s\n", "spikes", extra)
	var sumTr, sumTe, sumSO float64
	for _, c := range r.Cells {
		fmt.Fprintf(w, "%5d %6d %4s %5.0fms %9s  %8.3f %6.3f", c.Index, c.ID, c.Polarity, 1000*c.PeakLag,
			fmt.Sprintf("(%d,%d)", c.Center[0], c.Center[1]), float64(c.Train.BitsPerSpike), float64(c.Train.R))
		sumTr += float64(c.Train.BitsPerSpike)
		spikes := c.Train.NSpikes
		if hasTest {
			fmt.Fprintf(w, "  %8.3f %6.3f", float64(c.Test.BitsPerSpike), float64(c.Test.R))
			sumTe += float64(c.Test.BitsPerSpike)
			spikes += c.Test.NSpikes
		}
		fmt.Fprintf(w, "  %8.0f  ", spikes)
		switch {
		case r.Model == "ln":
			fmt.Fprint(w, c.Nonlinearity)
		case c.StimulusOnly != nil:
			s := c.StimulusOnly.Train
			if c.StimulusOnly.Test != nil {
				s = *c.StimulusOnly.Test
			}
			fmt.Fprintf(w, "%8.3f", float64(s.BitsPerSpike))
			sumSO += float64(s.BitsPerSpike)
		}
		fmt.Fprintln(w)
	}
	if n := float64(len(r.Cells)); n > 0 {
		fmt.Fprintf(w, "%5s %6s %4s %7s %9s  %8.3f %6s", "mean", "", "", "", "", sumTr/n, "")
		if hasTest {
			fmt.Fprintf(w, "  %8.3f %6s", sumTe/n, "")
		}
		fmt.Fprintf(w, "  %8s  ", "")
		if sumSO != 0 {
			fmt.Fprintf(w, "%8.3f", sumSO/n)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "bits/sp: log-likelihood over a constant rate, bits per spike; r: Pearson r of the rate with the binned counts")
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}
