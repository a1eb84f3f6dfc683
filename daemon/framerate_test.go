package daemon

import (
	"strings"
	"testing"
)

// TestFlipSpanRate: the measured frame rate is the flips over their span, so a display that
// drifts or misses refreshes shows a rate below the configured one, and the status line puts the
// two side by side.
func TestFlipSpanRate(t *testing.T) {
	var s flipSpan
	if r := s.rate(); r != 0 {
		t.Errorf("rate with no flips = %v, want 0", r)
	}
	s.add(7_000_000)
	if r := s.rate(); r != 0 {
		t.Errorf("rate with one flip = %v, want 0", r)
	}
	for i := int64(1); i <= 100; i++ { // 101 flips 10 ms apart: 1 s, 100 Hz
		s.add(7_000_000 + i*10_000_000)
	}
	if r := s.rate(); r != 100 {
		t.Errorf("rate of 101 flips over 1 s = %v, want 100", r)
	}
	for i := int64(1); i <= 100; i++ { // then 100 flips 10.2 ms apart (the drift of issue #23)
		s.add(1_007_000_000 + i*10_200_000)
	}
	if r, want := s.rate(), 200/2.02; r != want {
		t.Errorf("rate of 201 flips over 2.02 s = %v, want %v", r, want)
	}
	s.reset() // a session starts: its own flips only
	s.add(5_000_000_000)
	s.add(5_010_000_000)
	if r := s.rate(); r != 100 {
		t.Errorf("rate of 2 flips 10 ms apart after a reset = %v, want 100", r)
	}
	line := Figures{Frames: 201, FrameRate: 200 / 2.02, FrameRateSet: 100}.String()
	if want := "frames 201 at 99.01 Hz (configured 100 Hz) missed 0 "; !strings.HasPrefix(line, want) {
		t.Errorf("status line %q, want it to start %q", line, want)
	}
	if a := testing.AllocsPerRun(100, func() { s.add(3_000_000_000) }); a != 0 {
		t.Errorf("flipSpan.add: %v allocations, want 0 (it is on the frame path)", a)
	}
}
