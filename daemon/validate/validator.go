package validate

import (
	"fmt"
	"math"
)

// Config sizes a Validator.
type Config struct {
	CellIDs  []int32  // the recorded cells, in the order the models predict them
	Models   []string // model names, in the order of the model index the caller passes (more with AddModel)
	BinNs    int64    // bin width, ns (one stimulus frame)
	Window   int      // sliding window, bins
	History  int      // bins kept open for late spikes and predictions (default 4096)
	ClockCap int      // sync pairs in the clock fit (default 1000)
}

// Validator bins spikes per model bin and scores every model's predictions against them.
type Validator struct {
	cfg     Config
	cellIdx map[int32]int
	clock   *Clock
	hist    int

	// Bins, a ring indexed by frame % hist.
	frame  []int64 // frame number held by the slot, -1 if none
	onset  []int64 // host ns (interpolated for a frame never reported)
	valid  []bool  // the frame was reported
	counts []float64
	pred   [][]float64 // [model][slot*cells+cell], NaN when not predicted; nil for a removed model
	first  int64       // oldest frame in the ring
	newest int64       // newest frame with an onset, -1 before any
	closed int64       // bins < closed have been scored or dropped

	// Sync edges that came before their frame's onset (an acquisition system may publish an
	// edge before the photodiode's onset reaches the daemon), a ring indexed by frame %
	// len(earlyAcq): the pair joins the clock fit when Frame records the onset.
	earlyFrame, earlyAcq []int64
	// Spikes past the newest onset's bin: their frame's onset has not come yet (the batch beat
	// the photodiode's onset to the daemon). Frame places them; capacity maxWaiting.
	waiting []waitingSpike

	stats []*Stats
	pbuf  []float64
	obuf  []float64

	// OnClose, when set, is told of every bin as it closes, in frame order: its counts (per
	// cell, valid during the call) and whether acquisition covered it (scored false: a gap or a
	// bin that left the ring uncovered; counts are then zero). It feeds observed models.
	OnClose func(frame int64, counts []float64, scored bool)

	// Counters, for status: spikes and syncs received, spikes not placed in an open bin, and
	// spikes of cells the validator does not know.
	SpikesSeen, SyncsSeen, Unplaced, Unknown uint64
}

// New returns a validator for cfg.
func New(cfg Config) (*Validator, error) {
	if len(cfg.CellIDs) == 0 || cfg.BinNs <= 0 || cfg.Window < 2 {
		return nil, fmt.Errorf("validate: need cells, a positive bin width and a window of 2 or more bins (have %d cells, %d ns, %d bins)", len(cfg.CellIDs), cfg.BinNs, cfg.Window)
	}
	if cfg.History == 0 {
		cfg.History = 4096
	}
	if cfg.ClockCap == 0 {
		cfg.ClockCap = 1000
	}
	v := &Validator{cfg: cfg, cellIdx: map[int32]int{}, clock: NewClock(cfg.ClockCap), hist: cfg.History,
		earlyFrame: make([]int64, earlySyncs), earlyAcq: make([]int64, earlySyncs), waiting: make([]waitingSpike, 0, maxWaiting)}
	for i := range v.earlyFrame {
		v.earlyFrame[i] = -1
	}
	for i, id := range cfg.CellIDs {
		if _, dup := v.cellIdx[id]; dup {
			return nil, fmt.Errorf("validate: cell id %d listed twice", id)
		}
		v.cellIdx[id] = i
	}
	nc := len(cfg.CellIDs)
	v.frame = make([]int64, v.hist)
	v.onset = make([]int64, v.hist)
	v.valid = make([]bool, v.hist)
	v.counts = make([]float64, v.hist*nc)
	for i := range v.frame {
		v.frame[i] = -1
	}
	v.newest = -1
	names := cfg.Models
	v.cfg.Models = nil
	for _, name := range names {
		v.AddModel(name)
	}
	v.pbuf, v.obuf = make([]float64, nc), make([]float64, nc)
	return v, nil
}

// AddModel adds a model to score from its next prediction on and returns its index. It
// allocates (call it when a model loads, not per bin); indices are never reused.
func (v *Validator) AddModel(name string) int {
	p := make([]float64, v.hist*len(v.cfg.CellIDs))
	for i := range p {
		p[i] = math.NaN()
	}
	v.cfg.Models = append(v.cfg.Models, name)
	v.pred = append(v.pred, p)
	v.stats = append(v.stats, NewStats(len(v.cfg.CellIDs), v.cfg.Window))
	return len(v.pred) - 1
}

// RemoveModel stops scoring model m; its Stats stay readable (the final report).
func (v *Validator) RemoveModel(m int) {
	if m >= 0 && m < len(v.pred) {
		v.pred[m] = nil
	}
}

// ResetStats starts every model's statistics afresh (a new session); the clock fit and the
// open bins are kept.
func (v *Validator) ResetStats() {
	for m := range v.stats {
		v.stats[m] = NewStats(len(v.cfg.CellIDs), v.cfg.Window)
	}
}

// Clock returns the acquisition-to-host clock fit.
func (v *Validator) Clock() *Clock { return v.clock }

// Stats returns model m's statistics.
func (v *Validator) Stats(m int) *Stats { return v.stats[m] }

func (v *Validator) slot(frame int64) int { return int(frame % int64(v.hist)) }

// Frame records frame's onset on host time (its bin's start). Frames arrive in order.
func (v *Validator) Frame(frame, onsetNs int64) {
	if frame <= v.newest {
		return
	}
	if v.newest < 0 {
		v.first, v.closed = frame, frame
	}
	// Make room: bins that fall out of the ring are closed without being scored.
	for frame-v.first >= int64(v.hist) {
		if v.first >= v.closed {
			v.closed = v.first + 1
			if v.OnClose != nil {
				clear(v.obuf)
				v.OnClose(v.first, v.obuf, false)
			}
		}
		v.clear(v.first)
		v.first++
	}
	if v.newest >= 0 {
		// Frames never reported (gaps) get onsets spread evenly, so the search stays ordered,
		// and collect no spikes.
		prev := v.onset[v.slot(v.newest)]
		for f := v.newest + 1; f < frame; f++ {
			v.clear(f)
			s := v.slot(f)
			v.frame[s] = f
			v.onset[s] = prev + (onsetNs-prev)*(f-v.newest)/(frame-v.newest)
		}
	}
	s := v.slot(frame)
	v.clear(frame)
	v.frame[s], v.onset[s], v.valid[s] = frame, onsetNs, true
	v.newest = frame
	if e := frame % earlySyncs; v.earlyFrame[e] == frame { // its sync edge came first
		v.earlyFrame[e] = -1
		v.clock.Add(v.earlyAcq[e], onsetNs)
	}
	if len(v.waiting) > 0 {
		v.placeWaiting()
	}
}

// waitingSpike is a spike (host ns, cell index) waiting for its frame's onset.
type waitingSpike struct {
	t    int64
	cell int
}

// maxWaiting bounds the spikes that wait for their frame's onset (a few frames' worth of a
// large recording); more are not placed.
const maxWaiting = 1 << 14

// ahead reports whether host time t is past the newest known onset's bin (or no onset is
// known): its frame may not have been reported yet.
func (v *Validator) ahead(t int64) bool {
	return v.newest < 0 || t >= v.onset[v.slot(v.newest)]+v.cfg.BinNs
}

// placeWaiting counts the waiting spikes whose frame is now known; those still ahead wait on.
func (v *Validator) placeWaiting() {
	nc := len(v.cfg.CellIDs)
	n := 0
	for _, w := range v.waiting {
		if v.ahead(w.t) {
			v.waiting[n] = w
			n++
			continue
		}
		if f := v.bin(w.t); f >= 0 && f >= v.closed {
			v.counts[v.slot(f)*nc+w.cell]++
		} else {
			v.Unplaced++ // between two bins (a late frame), or in one already closed
		}
	}
	v.waiting = v.waiting[:n]
}

// earlySyncs is how many sync edges may wait for their frame's onset: far more frames than an
// onset can lag its edge.
const earlySyncs = 1024

func (v *Validator) clear(frame int64) {
	s := v.slot(frame)
	v.frame[s], v.valid[s] = -1, false
	nc := len(v.cfg.CellIDs)
	clear(v.counts[s*nc : (s+1)*nc])
	for _, pm := range v.pred {
		if pm != nil {
			p := pm[s*nc : (s+1)*nc]
			for i := range p {
				p[i] = math.NaN()
			}
		}
	}
}

// Sync records that the acquisition saw frame's onset at acqNs on its clock. It reports false
// when the clock refused the pair for being far off its fit (Clock.Add). An edge of a frame
// whose onset has not come yet waits for it (Frame pairs them); one of a frame no longer held
// is ignored.
func (v *Validator) Sync(frame, acqNs int64) bool {
	v.SyncsSeen++
	if frame > v.newest && frame >= 0 {
		e := frame % earlySyncs
		v.earlyFrame[e], v.earlyAcq[e] = frame, acqNs
		return true
	}
	if frame < v.first {
		return true
	}
	if s := v.slot(frame); v.valid[s] {
		return v.clock.Add(acqNs, v.onset[s])
	}
	return true
}

// Onset returns frame's onset (host ns) as Frame recorded it; false when the validator does not
// hold that frame or it was never reported.
func (v *Validator) Onset(frame int64) (int64, bool) {
	if frame < v.first || frame > v.newest {
		return 0, false
	}
	s := v.slot(frame)
	return v.onset[s], v.valid[s] && v.frame[s] == frame
}

// Closed returns the frame below which every bin has closed (been scored, or dropped uncovered).
func (v *Validator) Closed() int64 { return v.closed }

// Bin returns closed bin frame's counts per cell and model m's expected counts per cell (NaN:
// it predicted none; nil for a removed model), valid until the validator's next call. ok is
// false for a bin not closed yet, no longer held, or never reported.
func (v *Validator) Bin(frame int64, m int) (counts, pred []float64, ok bool) {
	if frame >= v.closed || frame < v.first || m < 0 || m >= len(v.pred) {
		return nil, nil, false
	}
	s := v.slot(frame)
	if !v.valid[s] || v.frame[s] != frame {
		return nil, nil, false
	}
	nc := len(v.cfg.CellIDs)
	counts = v.counts[s*nc:][:nc]
	if pm := v.pred[m]; pm != nil {
		pred = pm[s*nc:][:nc]
	}
	return counts, pred, true
}

// Prediction records model m's rates (spikes/s, per cell) for the bin of frame.
func (v *Validator) Prediction(m int, frame int64, rates []float32) {
	if frame < v.closed || frame > v.newest || m < 0 || m >= len(v.pred) || v.pred[m] == nil {
		return
	}
	s := v.slot(frame)
	if !v.valid[s] {
		return
	}
	nc := len(v.cfg.CellIDs)
	p := v.pred[m][s*nc:][:nc]
	w := float64(v.cfg.BinNs) * 1e-9
	for c := range p {
		if c < len(rates) {
			p[c] = float64(rates[c]) * w
		}
	}
}

// bin returns the frame whose bin holds host time t, or -1.
func (v *Validator) bin(t int64) int64 {
	if v.newest < 0 {
		return -1
	}
	lo, hi := v.first, v.newest // find the last frame with onset <= t
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if v.onset[v.slot(mid)] <= t {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	s := v.slot(lo)
	if !v.valid[s] || t < v.onset[s] || t >= v.onset[s]+v.cfg.BinNs {
		return -1
	}
	return lo
}

// Spikes records a batch that covers [startAcq, endAcq) on the acquisition clock, then scores
// every bin acquisition has now covered. Spikes before the clock is fitted are not placed.
func (v *Validator) Spikes(cellIDs []int32, timesAcq []int64, endAcq int64) {
	n := min(len(cellIDs), len(timesAcq))
	v.SpikesSeen += uint64(n)
	if !v.clock.Ready() {
		v.Unplaced += uint64(n)
		return
	}
	nc := len(v.cfg.CellIDs)
	for i := 0; i < n; i++ {
		c, ok := v.cellIdx[cellIDs[i]]
		if !ok {
			v.Unknown++
			continue
		}
		t, _ := v.clock.ToHost(timesAcq[i])
		f := v.bin(t)
		if f < 0 && v.ahead(t) && len(v.waiting) < cap(v.waiting) {
			v.waiting = append(v.waiting, waitingSpike{t: t, cell: c})
			continue
		}
		if f < v.closed {
			v.Unplaced++
			continue
		}
		v.counts[v.slot(f)*nc+c]++
	}
	end, _ := v.clock.ToHost(endAcq)
	v.close(end)
}

// close scores every bin that ends at or before host time end.
func (v *Validator) close(end int64) {
	nc := len(v.cfg.CellIDs)
	for ; v.closed <= v.newest; v.closed++ {
		s := v.slot(v.closed)
		if v.onset[s]+v.cfg.BinNs > end {
			return
		}
		for c := 0; c < nc; c++ {
			v.obuf[c] = v.counts[s*nc+c]
		}
		if v.OnClose != nil {
			v.OnClose(v.closed, v.obuf, v.valid[s])
		}
		if !v.valid[s] {
			continue
		}
		for m, pm := range v.pred {
			if pm == nil {
				continue
			}
			p := pm[s*nc:][:nc]
			if math.IsNaN(p[0]) {
				continue // the model had no prediction for this bin
			}
			copy(v.pbuf, p)
			v.stats[m].Add(v.pbuf, v.obuf)
		}
	}
}
