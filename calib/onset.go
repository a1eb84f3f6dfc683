package calib

import (
	"fmt"
	"math"
	"time"
)

// Status says what is known about a frame's onset.
type Status uint8

const (
	// Timed: the photodiode saw the frame; OnsetNs and LatencyNs are set.
	Timed Status = iota + 1
	// Dropped: the device was listening and the frame never lit the patch.
	Dropped
	// Untimed: nothing is known (no device, link down, clock sync not ready, the patch did
	// not change, or the link lost messages that may have held its edge: Onset.LinkLost). The
	// onset is never guessed.
	Untimed
)

func (s Status) String() string {
	switch s {
	case Timed:
		return "timed"
	case Dropped:
		return "dropped"
	case Untimed:
		return "untimed"
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// Onset is what became of one flipped frame. Every flipped frame gets exactly one, in frame
// order.
type Onset struct {
	Frame     uint64
	FlipNs    int64 // host ns the presenter reported for the flip
	OnsetNs   int64 // Timed: host ns the patch changed on screen
	LatencyNs int64 // Timed: OnsetNs - FlipNs
	Status    Status
	// DroppedBefore is how many frames just before this one were Dropped.
	DroppedBefore int
	// LateRefreshes (Timed, when the refresh period is known) is how many refreshes later
	// than usual this frame lit: the frame before it was shown that many extra times
	// (a doubled frame).
	LateRefreshes int
	// LinkLost (Untimed) says the link lost device messages (a sequence gap) that may have
	// held this frame's edge: it is untimed by the link's fault, and says nothing of the
	// monitor, which may well have shown it.
	LinkLost bool
}

// flip is one reported flip waiting for its edge.
type flip struct {
	frame  uint64
	ns     int64
	rising bool
}

// matcherCap bounds the flips waiting for an edge; beyond it the oldest are made Untimed.
const matcherCap = 1024

// matcher pairs photodiode edges (already in host time) with the flips that caused them. It
// is pure and single-goroutine: Run feeds it flips, edges and watermarks.
type matcher struct {
	pending [matcherCap]flip
	head, n int

	window  int64   // an edge later than this after its flip does not belong to it
	refresh int64   // display refresh period, ns; 0 = unknown
	lat     float64 // running latency estimate, ns (0 = none yet)
	latN    int

	lastLevel     float64
	haveLevel     bool
	droppedBefore int
	lastFrame     uint64 // last frame resolved Timed, for attributing spurious edges

	emit func(Onset)
	st   *Stats
}

func newMatcher(window, refresh, prior time.Duration, st *Stats, emit func(Onset)) *matcher {
	m := &matcher{window: int64(window), refresh: int64(refresh), lat: float64(prior), emit: emit, st: st}
	if prior > 0 {
		m.latN = 16
	}
	return m
}

// addFlip takes frame's flip at host ns with the patch at level. timed says whether the link
// can time it now; if not, or if the patch did not change, it is resolved Untimed at once
// (after any frames still waiting, to keep frame order).
func (m *matcher) addFlip(frame uint64, ns int64, level float64, timed bool) {
	rising := level > m.lastLevel
	changed := !m.haveLevel || level != m.lastLevel
	if !m.haveLevel {
		rising = level >= 0.5
	}
	m.lastLevel, m.haveLevel = level, true
	if !timed || !changed {
		m.untimeAll()
		m.st.Untimed.Add(1)
		m.emit(Onset{Frame: frame, FlipNs: ns, Status: Untimed})
		return
	}
	if m.n == matcherCap {
		f := m.pop()
		m.st.Untimed.Add(1)
		m.emit(Onset{Frame: f.frame, FlipNs: f.ns, Status: Untimed})
	}
	m.pending[(m.head+m.n)%matcherCap] = flip{frame, ns, rising}
	m.n++
}

func (m *matcher) pop() flip {
	f := m.pending[m.head]
	m.head = (m.head + 1) % matcherCap
	m.n--
	return f
}

// untimeAll resolves every waiting flip Untimed (the link went down: nothing can be known).
func (m *matcher) untimeAll() {
	for m.n > 0 {
		f := m.pop()
		m.st.Untimed.Add(1)
		m.emit(Onset{Frame: f.frame, FlipNs: f.ns, Status: Untimed})
	}
	m.droppedBefore = 0
}

// lose resolves the k oldest waiting flips Untimed by the link's fault (LinkLost).
func (m *matcher) lose(k int) {
	for range k {
		f := m.pop()
		m.st.Untimed.Add(1)
		m.st.LinkLost.Add(1)
		m.emit(Onset{Frame: f.frame, FlipNs: f.ns, Status: Untimed, LinkLost: true})
	}
	m.droppedBefore = 0
}

// loseUntil is told that the link lost messages sent before the device's stream reached host
// time ns: every waiting flip at or before ns may have had its edge among them, so each is
// resolved LinkLost (never Dropped: the monitor is not to blame for the link).
func (m *matcher) loseUntil(ns int64) {
	k := 0
	for k < m.n && m.pending[(m.head+k)%matcherCap].ns <= ns {
		k++
	}
	m.lose(k)
}

// edge matches a photodiode edge at host time on: among the waiting flips of the same
// polarity that it may follow (0 <= latency <= window), the one whose latency is nearest the
// running estimate (the earliest while there is none). Earlier waiting flips are Dropped, or,
// when afterGap (the link lost messages just before this edge, which may have held their
// edges), LinkLost; an edge after a gap that matches no flip makes every flip before it
// LinkLost.
func (m *matcher) edge(on int64, rising, afterGap bool) {
	best := -1
	bestCost := math.Inf(1)
	for i := 0; i < m.n; i++ {
		f := &m.pending[(m.head+i)%matcherCap]
		lat := on - f.ns
		if lat < 0 {
			break
		}
		if f.rising != rising || lat > m.window {
			continue
		}
		cost := float64(i)
		if m.latN > 0 {
			cost = math.Abs(float64(lat) - m.lat)
		}
		if cost < bestCost {
			best, bestCost = i, cost
		}
	}
	if best < 0 && afterGap {
		m.loseUntil(on)
	}
	if best < 0 {
		m.st.Spurious.Add(1)
		m.st.LastSpuriousFrame.Store(m.lastFrame)
		return
	}
	if afterGap {
		m.lose(best)
		best = 0
	}
	for i := 0; i < best; i++ {
		m.drop(m.pop())
	}
	f := m.pop()
	lat := on - f.ns
	o := Onset{Frame: f.frame, FlipNs: f.ns, OnsetNs: on, LatencyNs: lat, Status: Timed, DroppedBefore: m.droppedBefore}
	late := false
	if m.refresh > 0 && m.latN >= 8 {
		if r := int(math.Round((float64(lat) - m.lat) / float64(m.refresh))); r > 0 {
			o.LateRefreshes, late = r, true
			m.st.Doubled.Add(uint64(r))
		}
	}
	if !late {
		// A running mean over the last ~64 frames, robust enough: late frames are left out.
		w := 1 / float64(min(m.latN+1, 64))
		m.lat += w * (float64(lat) - m.lat)
		m.latN++
	}
	m.droppedBefore = 0
	m.lastFrame = f.frame
	m.st.Timed.Add(1)
	m.emit(o)
}

func (m *matcher) drop(f flip) {
	m.droppedBefore++
	m.st.Dropped.Add(1)
	m.emit(Onset{Frame: f.frame, FlipNs: f.ns, Status: Dropped})
}

// watermark says the device's stream has reached host time ns: flips older than the window
// that are still waiting never lit the patch.
func (m *matcher) watermark(ns int64) {
	for m.n > 0 && ns-m.pending[m.head].ns > m.window {
		m.drop(m.pop())
	}
}
