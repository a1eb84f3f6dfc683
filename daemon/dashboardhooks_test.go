package daemon

import (
	"math"
	"slices"
	"testing"

	"retinad/clock/clocktest"
	pb "retinad/proto/retinadpb"
)

// TestOnsetError: once the acquisition clock fit has two pairs, each sync edge that names its
// frame is compared with the photodiode's onset of that frame on the fit as it stood before
// the edge joined it; the error (onset minus edge) is counted in Figures.OnsetError. Edges of
// frames the validator never saw, and those before the fit, are not.
func TestOnsetError(t *testing.T) {
	clk := clocktest.NewVirtualClock(0) // the presenter moves it to each flip
	d, err := New(Parts{
		Rig: "a", Session: "s", Source: &constSource{}, Presenter: &clockPresenter{clk: clk}, Bus: &nopBus{},
		FrameRate: 100, Height: 50, Width: 50, Clock: clk,
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

// TestRecentBins: the bins validation closed come back once each, after the frame asked, as
// rates in spikes/s per cell (recorded and each model's predicted), the newest maxBins of them.
func TestRecentBins(t *testing.T) {
	d, err := New(Parts{
		Rig: "a", Session: "s", Source: &constSource{}, Presenter: &clockPresenter{}, Bus: &nopBus{},
		FrameRate: 100, Height: 50, Width: 50, Clock: clocktest.NewVirtualClock(1e12), // time stands still
		Models: []Model{{Name: "m", Engine: sumEngine{}, CellIDs: []int32{4, 9}, BinRate: 100}},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := d.models.Load().runners[0]
	for f := int64(0); f < 10; f++ {
		onset := int64(1e9) + f*10e6
		d.val.frame(f, onset)
		d.val.Sync(&pb.Sync{Frame: uint64(f), HasFrame: true, TimeAcqNs: onset})
		d.val.prediction(r, f, []float32{float32(10 * f), 5})
	}
	// Cell 9 fires twice in bin 6; the batch covers bins up to 7.
	d.val.Spikes(&pb.Spikes{CellIds: []int32{9, 9}, TimesAcqNs: []int64{1.061e9, 1.062e9}, EndAcqNs: 1.08e9})
	b := d.RecentBins(-1, 3, 5)
	if !slices.Equal(b.CellIDs, []int32{4, 9}) || !slices.Equal(b.Models, []string{"m"}) || !slices.Equal(b.Frames, []int64{5, 6, 7}) {
		t.Fatalf("bins %+v: want cells 4 and 9, model m, the newest 3 closed bins 5-7", b)
	}
	if !slices.Equal(b.Observed[1], []float64{0, 200}) || !near(b.Predicted[0][2], 60) || !near(b.Predicted[0][3], 5) {
		t.Errorf("bin 6: recorded %v, predicted %v; want 0 and 200 spikes/s, 60 and 5", b.Observed[1], b.Predicted[0][2:4])
	}
	if again := d.RecentBins(7, 3, 5); len(again.Frames) != 0 {
		t.Errorf("bins after 7: %v, want none (8 and 9 are open)", again.Frames)
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6*math.Max(1, math.Abs(b)) }
