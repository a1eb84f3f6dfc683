package validate

import "math"

// moments are the sums of one cell's (predicted, observed) pairs.
type moments struct {
	n                     float64
	sp, so, spp, soo, spo float64
}

func (m *moments) add(p, o float64) {
	m.n++
	m.sp += p
	m.so += o
	m.spp += p * p
	m.soo += o * o
	m.spo += p * o
}

func (m *moments) sub(p, o float64) {
	m.n--
	m.sp -= p
	m.so -= o
	m.spp -= p * p
	m.soo -= o * o
	m.spo -= p * o
}

// r is Pearson's correlation of the pairs; NaN with fewer than 2 pairs or no variance.
func (m *moments) r() float64 {
	if m.n < 2 {
		return math.NaN()
	}
	cov := m.n*m.spo - m.sp*m.so
	vp := m.n*m.spp - m.sp*m.sp
	vo := m.n*m.soo - m.so*m.so
	if vp <= 0 || vo <= 0 {
		return math.NaN()
	}
	return cov / math.Sqrt(vp*vo)
}

// varExplained is the fraction of the variance of the observed counts that the predicted
// counts explain, 1 - MSE/Var (no noise correction; see the package doc); NaN with fewer than 2
// pairs or no observed variance.
func (m *moments) varExplained() float64 {
	if m.n < 2 {
		return math.NaN()
	}
	mo := m.so / m.n
	vo := m.soo/m.n - mo*mo
	mse := (m.soo - 2*m.spo + m.spp) / m.n
	if vo <= 0 {
		return math.NaN()
	}
	return 1 - mse/vo
}

// Stats holds the running statistics of one model against the recorded counts of its cells:
// over the last Window bins and over the session. Values are counts per bin.
type Stats struct {
	cells   int
	window  int
	pred    []float64 // ring [window][cells]
	obs     []float64
	head    int // next slot
	filled  int
	added   int // pairs added since the window sums were last recomputed
	win     []moments
	session []moments
}

// NewStats returns statistics for cells cells over a sliding window of window bins.
func NewStats(cells, window int) *Stats {
	if cells < 1 || window < 2 {
		panic("validate: NewStats needs cells >= 1 and window >= 2")
	}
	return &Stats{
		cells: cells, window: window,
		pred: make([]float64, window*cells), obs: make([]float64, window*cells),
		win: make([]moments, cells), session: make([]moments, cells),
	}
}

// Add records one bin: pred and obs are per cell, spike counts per bin (len = cells).
func (s *Stats) Add(pred, obs []float64) {
	if len(pred) != s.cells || len(obs) != s.cells {
		panic("validate: Stats.Add length mismatch")
	}
	row := s.head * s.cells
	for c := 0; c < s.cells; c++ {
		if s.filled == s.window {
			s.win[c].sub(s.pred[row+c], s.obs[row+c])
		}
		s.pred[row+c], s.obs[row+c] = pred[c], obs[c]
		s.win[c].add(pred[c], obs[c])
		s.session[c].add(pred[c], obs[c])
	}
	s.head = (s.head + 1) % s.window
	if s.filled < s.window {
		s.filled++
	}
	// Adding and subtracting accumulates rounding; recompute the window's sums from its
	// contents once per window length.
	if s.added++; s.added >= s.window {
		s.added = 0
		for c := range s.win {
			s.win[c] = moments{}
		}
		for i := 0; i < s.filled; i++ {
			for c := 0; c < s.cells; c++ {
				s.win[c].add(s.pred[i*s.cells+c], s.obs[i*s.cells+c])
			}
		}
	}
}

// Bins returns the number of bins in the window and in the session.
func (s *Stats) Bins() (window, session int) { return s.filled, int(s.session[0].n) }

// Summary is one set of per-cell statistics.
type Summary struct {
	Bins      int
	R         []float64 // Pearson r per cell (NaN when undefined)
	VarExpl   []float64 // variance of the counts explained, 1 - MSE/Var, per cell (NaN when undefined)
	Predicted []float64 // mean predicted count per bin
	Observed  []float64 // mean observed count per bin
	MeanR     float64   // mean of the defined r (NaN when none is)
}

// Window fills dst (reusing its slices) with the sliding-window statistics.
func (s *Stats) Window(dst *Summary) { s.summarize(s.win, dst) }

// Session fills dst (reusing its slices) with the whole session's statistics.
func (s *Stats) Session(dst *Summary) { s.summarize(s.session, dst) }

func (s *Stats) summarize(ms []moments, dst *Summary) {
	dst.R = resize(dst.R, s.cells)
	dst.VarExpl = resize(dst.VarExpl, s.cells)
	dst.Predicted = resize(dst.Predicted, s.cells)
	dst.Observed = resize(dst.Observed, s.cells)
	dst.Bins = int(ms[0].n)
	var sum float64
	var k int
	for c := range ms {
		m := &ms[c]
		dst.R[c], dst.VarExpl[c] = m.r(), m.varExplained()
		dst.Predicted[c], dst.Observed[c] = math.NaN(), math.NaN()
		if m.n > 0 {
			dst.Predicted[c], dst.Observed[c] = m.sp/m.n, m.so/m.n
		}
		if !math.IsNaN(dst.R[c]) {
			sum += dst.R[c]
			k++
		}
	}
	dst.MeanR = math.NaN()
	if k > 0 {
		dst.MeanR = sum / float64(k)
	}
}

func resize(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}
