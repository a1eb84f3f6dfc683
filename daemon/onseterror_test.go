package daemon

import (
	"testing"

	pb "retinad/proto/retinadpb"
)

// TestOnsetError: once the acquisition clock fit has two pairs, each sync edge that names its
// frame is compared with the photodiode's onset of that frame on the fit as it stood before
// the edge joined it; the error (onset minus edge) is counted in Figures.OnsetError. Edges of
// frames the validator never saw, and those before the fit, are not.
func TestOnsetError(t *testing.T) {
	var now int64
	d, err := New(Parts{
		Rig: "a", Session: "s", Source: &constSource{}, Presenter: &clockPresenter{}, Bus: &nopBus{},
		FrameRate: 100, Height: 50, Width: 50, Now: func() int64 { now += 1000; return now },
		Models: []Model{{Name: "m", Engine: sumEngine{}, CellIDs: []int32{1}, BinRate: 100}},
	})
	if err != nil {
		t.Fatal(err)
	}
	const offset = int64(3e9) // the acquisition clock is 3 s ahead
	for f := int64(0); f < 10; f++ {
		onset := int64(1e9) + f*10e6
		d.val.frame(f, onset)
		acq := onset + offset
		if f == 9 {
			acq -= 3000 // the acquisition saw frame 9's edge 3 us before the photodiode did
		}
		if r := d.val.Sync(&pb.Sync{Frame: uint64(f), HasFrame: true, TimeAcqNs: acq}); r != 0 {
			t.Fatalf("frame %d's edge refused: %v", f, r)
		}
	}
	d.val.Sync(&pb.Sync{Frame: 50, HasFrame: true, TimeAcqNs: 2e9 + offset}) // a frame never shown
	h := d.Figures().OnsetError
	at := func(ns int64) uint64 { // observations <= ns
		for i, u := range h.UpperNs {
			if u == ns {
				return h.Cumulative[i]
			}
		}
		t.Fatalf("no bound %d ns", ns)
		return 0
	}
	if h.Count != 8 || at(-1000) != 0 || at(1000) != 7 || at(2000) != 7 || at(5000) != 8 {
		t.Errorf("onset errors: %d counted, cumulative %v at bounds %v; want 8 (frames 2-9): 7 within 1 us, frame 9's +3 us", h.Count, h.Cumulative, h.UpperNs)
	}
}
