package sim

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"retinad/acquisition"
	"retinad/clock"
	"retinad/clock/clocktest"
	"retinad/configs"
	"retinad/internal/testwait"
	"retinad/proto/contract"
	pb "retinad/proto/retinadpb"
)

// collector keeps copies of what arrives on the spikes and sync subjects.
type collector struct {
	mu     sync.Mutex
	spikes []*pb.Spikes
	syncs  []*pb.Sync
}

func (c *collector) Spikes(m *pb.Spikes) acquisition.Reason {
	c.mu.Lock()
	c.spikes = append(c.spikes, proto.Clone(m).(*pb.Spikes))
	c.mu.Unlock()
	return acquisition.ReasonNone
}

func (c *collector) Sync(m *pb.Sync) acquisition.Reason {
	c.mu.Lock()
	c.syncs = append(c.syncs, proto.Clone(m).(*pb.Sync))
	c.mu.Unlock()
	return acquisition.ReasonNone
}

// The virtual retina, as the acquisition system on a real (embedded) NATS server, publishes
// one sync event per frame on its own clock and spike batches that tile its clock, and its
// spikes are exactly those of the offline simulation of what was on screen, dropped frame
// included.
func TestAcquisitionOverNATS(t *testing.T) {
	bus, err := acquisition.Start(configs.NATS{Embedded: true}, acquisition.BusOptions{Name: "sim-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Stop()
	subj, err := contract.SubjectsFor("simtest")
	if err != nil {
		t.Fatal(err)
	}
	got := &collector{}
	in, err := acquisition.Subscribe(bus.Conn(), subj, got, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Unsubscribe()
	pub := acquisition.NewPublisher(bus.Conn(), 8192, nil)
	ctx, cancel := context.WithCancel(context.Background())
	pubDone := make(chan error)
	go func() { pubDone <- pub.Run(ctx) }()

	const T, dropped = 1000, 500
	const latency = int64(8 * time.Millisecond)
	bin := int64(10 * time.Millisecond)
	clk := clocktest.NewVirtualClock(0) // moved by hand; nothing waits on it here
	r := newRetina(t, 16)
	a, err := NewAcquisition(r, pub, AcquisitionOptions{
		Spikes: subj.Spikes, Sync: subj.Sync, Session: "s1", BatchInterval: 20 * time.Millisecond,
		ClockOffset: 3 * time.Second, ClockDriftPPM: 40, Holdback: 50 * time.Millisecond,
		Seed: 77, Clock: clk,
	})
	if err != nil {
		t.Fatal(err)
	}
	frames := WhiteNoise(50, 50, 2, 1, 5)
	pix := make([]float32, 2500)
	for k := 0; k < T; k++ {
		onset := latency + int64(k)*bin
		clk.AdvanceTo(onset + int64(2*time.Millisecond)) // the photodiode confirms it 2 ms later
		if k != dropped {
			frames(k, pix)
			if !a.Show(uint64(k), pix, onset) {
				t.Fatalf("frame %d refused", k)
			}
		}
		if k%2 == 1 {
			a.Batch()
		}
	}
	clk.Advance(time.Second) // the last frame stays on screen
	a.Batch()
	cancel()
	if err := <-pubDone; err != nil {
		t.Fatal(err)
	}
	st := a.Stats()
	var n, m int
	if !testwait.Until(10*time.Second, func() bool {
		got.mu.Lock()
		defer got.mu.Unlock()
		n, m = len(got.syncs), len(got.spikes)
		return n == int(st.Syncs) && m == int(st.Batches)
	}) {
		t.Fatalf("received %d syncs and %d batches, published %d and %d", n, m, st.Syncs, st.Batches)
	}
	t.Logf("stats: %+v", st)
	if st.Syncs != T-1 || st.Late != 0 || st.Unsent != 0 {
		t.Fatalf("stats %+v: want %d syncs, no late or unsent", st, T-1)
	}
	for i, s := range got.syncs {
		k := int64(i)
		if i >= dropped {
			k++
		}
		if s.Seq != uint64(i) || s.Frame != uint64(k) || !s.HasFrame || s.Session != "s1" || s.Source != pb.Sync_PHOTODIODE {
			t.Fatalf("sync %d: %v", i, s)
		}
		onset := latency + k*bin
		if want := onset + int64(3*time.Second) + onset*40/1e6; s.TimeAcqNs != want {
			t.Fatalf("sync %d: acquisition time %d, want %d", i, s.TimeAcqNs, want)
		}
	}
	// Batches tile the acquisition clock; their spikes rebuild the offline simulation's counts.
	offline := func(i int, dst []float32) {
		if i == dropped {
			i-- // frame 499 stayed on screen
		}
		frames(i, dst)
	}
	s, err := Simulate(context.Background(), newRetina(t, 16), offline, T, 0, 77, nil)
	if err != nil {
		t.Fatal(err)
	}
	counts := make([]float32, T*16)
	var total int
	for i, b := range got.spikes {
		if b.Seq != uint64(i) || (i > 0 && b.StartAcqNs != got.spikes[i-1].EndAcqNs) || b.EndAcqNs <= b.StartAcqNs {
			t.Fatalf("batch %d: seq %d, [%d, %d) after [.., %d)", i, b.Seq, b.StartAcqNs, b.EndAcqNs, got.spikes[max(i-1, 0)].EndAcqNs)
		}
		for j, ta := range b.TimesAcqNs {
			if ta < b.StartAcqNs || ta >= b.EndAcqNs {
				t.Fatalf("batch %d: spike at %d outside [%d, %d)", i, ta, b.StartAcqNs, b.EndAcqNs)
			}
			k := -1
			for f := 0; f < T; f++ { // the bin whose acquisition-clock span holds ta
				if lo := a.AcqTime(latency + int64(f)*bin); ta >= lo && ta < a.AcqTime(latency+int64(f+1)*bin) {
					k = f
					break
				}
			}
			if k >= 0 {
				counts[k*16+int(b.CellIds[j])]++
				total++
			}
		}
	}
	var want float64
	for i := range counts {
		want += float64(s.Counts[i])
		if counts[i] != s.Counts[i] {
			t.Fatalf("bin %d cell %d: %g spikes over NATS, %g offline", i/16, i%16, counts[i], s.Counts[i])
		}
	}
	t.Logf("%d spikes in %d batches match the offline simulation bin for bin (%g)", total, len(got.spikes), want)
}

// nopPublisher marshals like acquisition.Publisher does, into one reused buffer.
type nopPublisher struct{ buf []byte }

func (p *nopPublisher) Publish(subject string, m proto.Message) bool {
	var err error
	p.buf, err = proto.MarshalOptions{}.MarshalAppend(p.buf[:0], m)
	return err == nil
}

func TestAcquisitionAllocatesNothing(t *testing.T) {
	clk := clocktest.NewVirtualClock(0) // moved by hand; nothing waits on it here
	a, err := NewAcquisition(newRetina(t, 16), &nopPublisher{}, AcquisitionOptions{Spikes: "s", Sync: "y",
		BatchInterval: 20 * time.Millisecond, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	pix := make([]float32, 2500)
	nat, _ := Natural(50, 50, 100, 0.5, 2, 3)
	k := 0
	step := func() {
		for j := 0; j < 2; j++ {
			nat(k, pix)
			clk.AdvanceTo(int64(k) * int64(10*time.Millisecond))
			a.Show(uint64(k), pix, clk.Now())
			k++
		}
		a.Batch()
	}
	for range 500 { // grow the buffers to their working size
		step()
	}
	if n := testing.AllocsPerRun(200, step); n != 0 {
		t.Fatalf("Show + Batch: %v allocations per batch, want 0", n)
	}
}

func TestAcquisitionRunStopsOnCancel(t *testing.T) {
	a, err := NewAcquisition(newRetina(t, 4), &nopPublisher{}, AcquisitionOptions{Spikes: "s", Sync: "y", BatchInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	pix := make([]float32, 2500)
	a.Show(0, pix, clock.System{}.Now()-int64(200*time.Millisecond)) // before the holdback (100 ms)
	if err := a.Run(ctx); err != nil {
		t.Fatalf("Run returned %v on cancellation, want nil", err)
	}
	if st := a.Stats(); st.Batches == 0 || st.Syncs != 1 {
		t.Fatalf("after 50 ms of 1 ms ticks: %+v", st)
	}
	if _, err := NewAcquisition(newRetina(t, 4), &nopPublisher{}, AcquisitionOptions{Spikes: "s", Sync: "y"}); err == nil {
		t.Fatal("zero batch interval accepted")
	}
}
