package calib

import (
	"testing"
	"time"
)

// The matcher pairs edges with flips by polarity and the running latency, finds dropped frames
// from later edges or the device's watermark, and counts late (doubled) frames.
func TestMatcher(t *testing.T) {
	var st Stats
	var got []Onset
	m := newMatcher(50*time.Millisecond, 10*time.Millisecond, 0, &st, func(o Onset) { got = append(got, o) })
	const ms = int64(time.Millisecond)
	lat := func(f int64) int64 {
		switch f {
		case 30: // frame 29 was held an extra refresh
			return 18 * ms
		}
		return 8*ms + (f%3-1)*300_000
	}
	for f := int64(0); f < 60; f++ {
		m.addFlip(uint64(f), f*10*ms, float64(f%2), true)
		// the edge of frame f-1 arrives after flip f
		if g := f - 1; g >= 0 && g != 20 && g != 31 && g != 45 && g != 46 {
			m.edge(g*10*ms+lat(g), g%2 == 1, false)
		}
	}
	m.watermark(59*10*ms + 40*ms) // frame 59 may still come: left waiting
	m.untimeAll()
	want := map[int64]Status{20: Dropped, 31: Dropped, 45: Dropped, 46: Dropped, 59: Untimed}
	if len(got) != 60 {
		t.Fatalf("%d onsets, want 60", len(got))
	}
	for i, o := range got {
		w, ok := want[int64(i)]
		if !ok {
			w = Timed
		}
		if o.Frame != uint64(i) || o.Status != w {
			t.Errorf("onset %d: frame %d %v, want frame %d %v", i, o.Frame, o.Status, i, w)
		}
		if w == Timed && o.LatencyNs != lat(int64(i)) {
			t.Errorf("frame %d: latency %d, want %d", i, o.LatencyNs, lat(int64(i)))
		}
	}
	if got[21].DroppedBefore != 1 || got[47].DroppedBefore != 2 {
		t.Errorf("DroppedBefore: frame 21 %d, frame 47 %d; want 1 and 2", got[21].DroppedBefore, got[47].DroppedBefore)
	}
	if got[30].LateRefreshes != 1 || st.Doubled.Load() != 1 {
		t.Errorf("frame 30 LateRefreshes %d, Doubled %d; want 1, 1", got[30].LateRefreshes, st.Doubled.Load())
	}
	// An edge with no flip to match is spurious, not invented onto a frame.
	m.edge(1e15, true, false)
	if st.Spurious.Load() != 1 {
		t.Errorf("Spurious %d, want 1", st.Spurious.Load())
	}
}

// After a sequence gap, the waiting flips whose edges the lost messages may have held are
// LinkLost, not Dropped: before the edge that reveals the gap, or up to the time of a pong or
// levels message that does. Flips after that time still wait and match.
func TestMatcherGap(t *testing.T) {
	var st Stats
	var got []Onset
	m := newMatcher(50*time.Millisecond, 10*time.Millisecond, 8*time.Millisecond, &st, func(o Onset) { got = append(got, o) })
	const ms = int64(time.Millisecond)
	for f := int64(0); f < 10; f++ {
		m.addFlip(uint64(f), f*10*ms, float64(f%2), true)
	}
	m.edge(0*10*ms+8*ms, false, false) // frame 0 (level 0 after none: falling)
	// The edges of frames 1-3 are lost; frame 4's edge reveals the gap.
	m.edge(4*10*ms+8*ms, false, true)
	// A pong at 78 ms after another gap: frames 5-7 (flipped at or before it) may have lost
	// their edges; 8 and 9 wait and match.
	m.loseUntil(78 * ms)
	m.edge(8*10*ms+8*ms, false, false)
	m.edge(9*10*ms+8*ms, true, false)
	want := []Status{Timed, Untimed, Untimed, Untimed, Timed, Untimed, Untimed, Untimed, Timed, Timed}
	if len(got) != len(want) {
		t.Fatalf("%d onsets, want %d: %+v", len(got), len(want), got)
	}
	for i, o := range got {
		lost := o.Status == Untimed
		if o.Frame != uint64(i) || o.Status != want[i] || o.LinkLost != lost {
			t.Errorf("frame %d: %v link-lost %v, want frame %d %v link-lost %v", o.Frame, o.Status, o.LinkLost, i, want[i], lost)
		}
	}
	if st.Dropped.Load() != 0 || st.LinkLost.Load() != 6 || st.Untimed.Load() != 6 || st.Timed.Load() != 4 {
		t.Errorf("dropped %d link-lost %d untimed %d timed %d; want 0, 6, 6, 4", st.Dropped.Load(), st.LinkLost.Load(), st.Untimed.Load(), st.Timed.Load())
	}
	// Without a gap the same missing edges are the monitor's drops.
	var st2 Stats
	got = nil
	m = newMatcher(50*time.Millisecond, 10*time.Millisecond, 8*time.Millisecond, &st2, func(o Onset) { got = append(got, o) })
	for f := int64(0); f < 5; f++ {
		m.addFlip(uint64(f), f*10*ms, float64(f%2), true)
	}
	m.edge(8*ms, false, false)
	m.edge(4*10*ms+8*ms, false, false)
	if st2.Dropped.Load() != 3 || st2.LinkLost.Load() != 0 || got[4].DroppedBefore != 3 {
		t.Errorf("without a gap: dropped %d link-lost %d, frame 4 dropped-before %d; want 3, 0, 3", st2.Dropped.Load(), st2.LinkLost.Load(), got[4].DroppedBefore)
	}
}
