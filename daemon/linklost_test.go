package daemon

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"retinad/calib"
	"retinad/clock/clocktest"
	pb "retinad/proto/retinadpb"
)

// recBus keeps copies of the frame onsets published while keep is set (allocating; off while
// allocations are counted).
type recBus struct {
	nopBus
	keep   bool
	frames [][]byte
}

func (b *recBus) Publish(subject string, data []byte) error {
	b.n++
	if b.keep && strings.HasSuffix(subject, ".frame") {
		b.frames = append(b.frames, append([]byte(nil), data...))
	}
	return nil
}

// linkSink stands in for the photodiode: it resolves each flip at once, every third frame
// untimed by the link (a sequence gap), the others timed.
type linkSink struct{ d *Daemon }

func (s *linkSink) Flip(frame uint64, ns int64, _ float64) {
	o := calib.Onset{Frame: frame, FlipNs: ns, OnsetNs: ns + 8e6, LatencyNs: 8e6, Status: calib.Timed}
	if frame%3 == 0 {
		o = calib.Onset{Frame: frame, FlipNs: ns, Status: calib.Untimed, LinkLost: true}
	}
	s.d.Onset(o)
}

// Frames the photodiode link lost are published with link_lost, counted apart from the
// monitor's drops (Figures, Status, the status line), and the frame path still allocates
// nothing.
func TestLinkLostFramesAreCarriedAndAllocateNothing(t *testing.T) {
	bus := &recBus{}
	sink := &linkSink{}
	clk := clocktest.NewVirtualClock(0) // the presenter moves it to each flip
	var lost uint64 = 7
	d, err := New(Parts{
		Rig: "a", Session: "s", Source: &constSource{}, Presenter: &clockPresenter{clk: clk}, Bus: bus, Flips: sink,
		FrameRate: 100, Height: 50, Width: 50, Clock: clk,
		PhotodiodeLost: func() uint64 { return lost },
	})
	if err != nil {
		t.Fatal(err)
	}
	sink.d = d
	d.sess.Store(&session{id: "s"})
	for k := uint64(0); k < uint64(len(d.stage)); k++ {
		if err := d.generate(k); err != nil {
			t.Fatal(err)
		}
	}
	k := uint64(0)
	step := func() {
		if err := d.showFrame(k); err != nil {
			t.Fatal(err)
		}
		d.stamp.process()
		k++
	}
	for range 100 {
		step()
	}
	if a := testing.AllocsPerRun(999, step); a != 0 {
		t.Errorf("%v allocations per frame with link-lost frames, want 0", a)
	}
	bus.keep = true
	for range 6 {
		step()
	}
	if len(bus.frames) != 6 {
		t.Fatalf("%d frame onsets published, want 6", len(bus.frames))
	}
	for _, b := range bus.frames {
		var o pb.FrameOnset
		if err := proto.Unmarshal(b, &o); err != nil {
			t.Fatal(err)
		}
		if want := o.Frame%3 == 0; o.LinkLost != want || o.Confirmed == want {
			t.Errorf("frame %d: link_lost %v confirmed %v, want link_lost %v", o.Frame, o.LinkLost, o.Confirmed, want)
		}
	}
	f := d.Figures()
	third := (k + 2) / 3 // frames 0, 3, 6, ... below k
	if f.Frames != k || f.LinkLost != third || f.Untimed != third || f.Dropped != 0 || f.PhotodiodeLost != 7 {
		t.Errorf("figures: frames %d link-lost %d untimed %d dropped %d photodiode lost %d; want %d, %d, %d, 0, 7",
			f.Frames, f.LinkLost, f.Untimed, f.Dropped, f.PhotodiodeLost, k, third, third)
	}
	if line := f.String(); !strings.Contains(line, fmt.Sprintf("photodiode link lost 7 messages: %d frames untimed by the link, not dropped", third)) {
		t.Errorf("status line %q does not say the link lost messages and frames", line)
	}
	st := d.statusMsg(f)
	if st.PhotodiodeLost != 7 || st.FramesLinkLost != third || st.FramesDropped != 0 {
		t.Errorf("Status: photodiode_lost %d frames_link_lost %d frames_dropped %d", st.PhotodiodeLost, st.FramesLinkLost, st.FramesDropped)
	}
}
