package validate

import "testing"

// TestValidatorSyncBeforeOnset: a sync edge that comes before its frame's onset (the
// acquisition system was quicker than the photodiode) joins the clock fit when the onset
// comes, as one that comes after; an edge of a frame never shown joins nothing.
func TestValidatorSyncBeforeOnset(t *testing.T) {
	v, err := New(Config{CellIDs: []int32{1}, BinNs: 10e6, Window: 4})
	if err != nil {
		t.Fatal(err)
	}
	const off = int64(3e9)
	for f := int64(0); f < 40; f++ {
		on := 1e12 + f*10e6
		if f%2 == 0 { // the edge first
			v.Sync(f, on+off)
			v.Frame(f, on)
		} else {
			v.Frame(f, on)
			v.Sync(f, on+off)
		}
	}
	v.Sync(100, 5) // a frame never shown
	if n := v.Clock().Pairs(); n != 40 {
		t.Errorf("%d pairs in the fit, want all 40", n)
	}
	if h, ok := v.Clock().ToHost(1e12 + 39*10e6 + off); !ok || h != 1e12+39*10e6 {
		t.Errorf("ToHost = %d, %v; want the onset of frame 39", h, ok)
	}
}

// TestValidatorSpikesBeforeOnset: a spike batch that reaches the validator before the onset of
// the frame its spikes fall in (the acquisition system was quicker than the photodiode) is
// counted in that frame's bin once the onset comes, not lost as unplaced.
func TestValidatorSpikesBeforeOnset(t *testing.T) {
	v, err := New(Config{CellIDs: []int32{1, 2}, BinNs: 10e6, Window: 4})
	if err != nil {
		t.Fatal(err)
	}
	closed := map[int64][]float64{}
	v.OnClose = func(f int64, counts []float64, scored bool) {
		if scored {
			closed[f] = append([]float64(nil), counts...)
		}
	}
	const off = int64(3e9)
	on := func(f int64) int64 { return 1e12 + f*10e6 }
	for f := int64(0); f < 10; f++ {
		v.Frame(f, on(f))
		v.Sync(f, on(f)+off)
	}
	// Frame 10's onset has not come: cell 2's spike 3 ms into it waits for it.
	v.Spikes([]int32{1, 2}, []int64{on(9) + 1e6 + off, on(10) + 3e6 + off}, on(10)+10e6+off)
	if c := closed[9]; len(c) != 2 || c[0] != 1 || c[1] != 0 {
		t.Errorf("bin 9 closed with %v, want [1 0]", c)
	}
	v.Frame(10, on(10))
	v.Spikes(nil, nil, on(11)+off)
	if c := closed[10]; len(c) != 2 || c[0] != 0 || c[1] != 1 {
		t.Errorf("bin 10 closed with %v, want [0 1]: the spike that came before its onset", c)
	}
	if v.Unplaced != 0 {
		t.Errorf("%d spikes unplaced, want none", v.Unplaced)
	}
}
