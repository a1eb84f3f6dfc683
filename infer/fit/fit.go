package fit

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"
	"time"

	"retinad/infer/dataset"
)

// Options configure a fit. The zero value of a field means its default.
type Options struct {
	History      int     // stimulus filter length in bins (default 40)
	TestFraction float64 // the last fraction of bins held out for the test scores (0: none; default via DefaultTestFraction)
	Rank         int     // spatial stimuli: rank of the space-time separable filter (default 1)
	ROI          int     // spatial stimuli: side of the square region, in stimulus pixels, around the STA's peak that the filter may cover (default 15)
	Passes       int     // spatial stimuli: alternating space/time passes (default 2)
	Folds        int     // cross-validation folds for the ridge penalty (default 5)

	// LN only: the output nonlinearity, when LinkSet; otherwise the better of softplus and
	// exp by training likelihood over all cells.
	Link    Link
	LinkSet bool

	// GLM only.
	SpikeHistory int     // spike-history (and coupling) filter length in bins (0: stimulus only)
	Basis        int     // raised-cosine basis functions for history and coupling filters (default 5)
	Coupling     bool    // fit coupling filters from every other cell
	L2           float64 // Gaussian prior: L2 penalty on every weight but the bias (0: none; the command's default is 1)
	Smooth       float64 // Gaussian prior: penalty on the stimulus filter's second differences in time (default 0)

	Workers  int            // cells fitted at once (default GOMAXPROCS)
	Progress func(Progress) // called after each cell, from the fitting goroutines (serialised)
}

// Progress reports a fit's advance.
type Progress struct {
	Stage   string // "ln" or "glm"
	Done    int    // cells finished
	Cells   int
	Cell    int // index of the cell just finished
	Elapsed time.Duration
}

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.History, 40)
	def(&o.Rank, 1)
	def(&o.ROI, 15)
	def(&o.Passes, 2)
	def(&o.Folds, 5)
	def(&o.Basis, 5)
	def(&o.Workers, runtime.GOMAXPROCS(0))
	return o
}

func (o Options) check(d *dataset.Dataset, glm bool) error {
	switch {
	case o.History < 1:
		return fmt.Errorf("fit: history %d bins, want >= 1", o.History)
	case o.TestFraction < 0 || o.TestFraction >= 1:
		return fmt.Errorf("fit: test fraction %v, want 0 <= f < 1", o.TestFraction)
	case o.Rank < 1 || o.ROI < 1 || o.Passes < 1 || o.Folds < 0:
		return fmt.Errorf("fit: rank %d, roi %d, passes %d, folds %d: want rank, roi, passes >= 1 and folds >= 0", o.Rank, o.ROI, o.Passes, o.Folds)
	case glm && (o.SpikeHistory < 0 || o.Basis < 1 || o.L2 < 0 || o.Smooth < 0):
		return fmt.Errorf("fit: spike history %d, basis %d, l2 %v, smooth %v: want >= 0, >= 1, >= 0, >= 0", o.SpikeHistory, o.Basis, o.L2, o.Smooth)
	case glm && o.Coupling && o.SpikeHistory == 0:
		return fmt.Errorf("fit: coupling needs a spike history length > 0")
	}
	return nil
}

// split is the bins a fit uses: rows are bins t0..T-1 (those with a full history), the
// first nTrain of them for fitting, the rest for testing.
type split struct {
	t0, T, nTrain int
}

func (s split) rows() int  { return s.T - s.t0 }
func (s split) nTest() int { return s.T - s.t0 - s.nTrain }

func newSplit(d *dataset.Dataset, name string, lags int, testFraction float64, cellIDs []int64) (split, error) {
	s := split{t0: lags, T: d.T}
	tTest := d.T - int(math.Round(testFraction*float64(d.T)))
	s.nTrain = tTest - s.t0
	if s.nTrain < 10*lags || s.nTrain < 100 {
		return s, fmt.Errorf("fit: %s: %d bins leave %d for training after a %d-bin history and the test fraction; want at least %d", name, d.T, max(s.nTrain, 0), lags, max(10*lags, 100))
	}
	if testFraction > 0 && s.nTest() < 1 {
		return s, fmt.Errorf("fit: %s: no bins left for testing", name)
	}
	for _, c := range d.SilentCells(s.t0, tTest) {
		return s, fmt.Errorf("fit: %s: counts: cell %d (id %d) has no spikes in the training bins %d..%d; drop it or record longer", name, c, cellIDs[c], s.t0, tTest-1)
	}
	return s, nil
}

// counts returns cell c's counts for the rows of s.
func counts(d *dataset.Dataset, s split, c int) []float64 {
	y := make([]float64, s.rows())
	for i := range y {
		y[i] = float64(d.Counts[(s.t0+i)*d.C+c])
	}
	return y
}

// forCells runs f for every cell on o.Workers goroutines, reporting progress; it returns the
// first error (cells not yet started are skipped once one fails or ctx ends).
func forCells(ctx context.Context, o Options, stage string, cells int, f func(c int) error) error {
	start := time.Now()
	var (
		mu   sync.Mutex
		next int
		done int
		ferr error
	)
	var wg sync.WaitGroup
	for w := 0; w < min(o.Workers, cells); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if ferr == nil {
					ferr = ctx.Err()
				}
				if ferr != nil || next == cells {
					mu.Unlock()
					return
				}
				c := next
				next++
				mu.Unlock()
				err := f(c)
				mu.Lock()
				if err != nil && ferr == nil {
					ferr = err
				}
				done++
				if err == nil && o.Progress != nil {
					o.Progress(Progress{Stage: stage, Done: done, Cells: cells, Cell: c, Elapsed: time.Since(start)})
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return ferr
}
