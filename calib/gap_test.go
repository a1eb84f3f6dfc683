package calib_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"retinad/calib"
	"retinad/calib/calibtest"
	"retinad/calib/wire"
	"retinad/clock/clocktest"
	"retinad/internal/testwait"
)

// TestSequenceGapScripted replays exact bytes with two sequence gaps through Run on a virtual
// clock: a boot hello, four pongs that sync the clocks, then the edges of 15 frames of which
// the messages of frames 3-5 and 12-13 never arrive (their sequence numbers are skipped, as
// when a second reader steals them) and frame 9 has no edge (the monitor dropped it). The
// first gap shows at frame 6's edge, the second at a pong. Lost messages are counted, the
// frames whose edges they held are LinkLost, and only frame 9 is Dropped.
func TestSequenceGapScripted(t *testing.T) {
	const (
		t0 = int64(1000 * time.Second) // host ns at the start
		d0 = uint64(5_000_000)         // device us at t0
		ms = int64(time.Millisecond)
	)
	f0 := t0 + 100*ms // frame 0's flip
	flipNs := func(f int) int64 { return f0 + int64(f)*10*ms }
	devUS := func(host int64) uint64 { return d0 + uint64(host-t0)/1000 }
	seq := uint8(0)
	msg := func(m wire.Message) []byte { m.Seq = seq; seq++; return wire.AppendFrame(nil, &m) }
	chunks := []calibtest.Chunk{{Data: append([]byte{0}, msg(wire.Message{Type: wire.TypeHello, Proto: wire.Version})...)}}
	// Pong i answers ping i (write 2+i, after the threshold and the mode), sent at t0+(i-1)*10ms.
	for i := 1; i <= 4; i++ {
		chunks = append(chunks, calibtest.Chunk{AfterWrites: 2 + i,
			Data: msg(wire.Message{Type: wire.TypePong, ID: uint32(i), TimeUS: devUS(t0 + int64(i-1)*10*ms)})})
	}
	// The edges flow once ping 5 is written, after every flip was reported.
	lost := map[int]bool{3: true, 4: true, 5: true, 12: true, 13: true}
	for f := range 15 {
		if f == 9 {
			continue // dropped by the monitor: no light, no edge, no message
		}
		b := msg(wire.Message{Type: wire.TypeEdge, TimeUS: devUS(flipNs(f) + 8*ms), Rising: f%2 == 1, Level: 40000})
		if !lost[f] {
			chunks = append(chunks, calibtest.Chunk{AfterWrites: 7, Data: b})
		}
		if f == 13 { // an unsolicited pong between frames 13 and 14 shows the second gap
			chunks = append(chunks, calibtest.Chunk{AfterWrites: 7, Data: msg(wire.Message{Type: wire.TypePong, ID: 999, TimeUS: devUS(flipNs(13) + 9*ms)})})
		}
	}
	chunks = append(chunks, calibtest.Chunk{AfterWrites: 7, Data: msg(wire.Message{Type: wire.TypePong, ID: 1000, TimeUS: devUS(flipNs(14) + 200*ms)})})
	script := &calibtest.Script{Chunks: chunks}

	clk := clocktest.NewVirtualClock(t0)
	var mu sync.Mutex
	var onsets []calib.Onset
	dialed := false
	p := calib.New(calib.Options{
		Dial: func() (calib.Link, error) {
			if dialed {
				return nil, errors.New("dialled twice")
			}
			dialed = true
			return script, nil
		},
		Clock:   clk,
		OnOnset: func(o calib.Onset) { mu.Lock(); onsets = append(onsets, o); mu.Unlock() },
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	testwait.Must(t, 10*time.Second, "Run's timers", func() bool { return clk.Timers() >= 2 })
	clk.SetSettle(func() { testwait.Must(t, 10*time.Second, "the clock's ticks handled", clk.Quiet) })
	st := p.Stats()
	for i := 1; i <= 4; i++ {
		if i == 1 {
			clk.Advance(0) // dial, configure, ping 1
		} else {
			clk.Advance(10 * time.Millisecond)
		}
		testwait.Must(t, 10*time.Second, "pong", func() bool { return st.Pongs.Load() == uint64(i) })
	}
	for f := range 15 {
		p.Flip(uint64(f), flipNs(f), float64(f%2))
	}
	testwait.Must(t, 10*time.Second, "the flips taken", func() bool { return !p.Busy() })
	clk.Advance(10 * time.Millisecond) // ping 5: the edges flow
	testwait.Must(t, 10*time.Second, "every frame resolved", func() bool { mu.Lock(); defer mu.Unlock(); return len(onsets) == 15 })

	mu.Lock()
	defer mu.Unlock()
	for f, o := range onsets {
		want := calib.Timed
		switch {
		case lost[f]:
			want = calib.Untimed
		case f == 9:
			want = calib.Dropped
		}
		if o.Frame != uint64(f) || o.Status != want || o.LinkLost != lost[f] {
			t.Errorf("frame %d: %v link-lost %v; want frame %d %v link-lost %v", o.Frame, o.Status, o.LinkLost, f, want, lost[f])
		}
		if want == calib.Timed && (o.OnsetNs < flipNs(f)+8*ms-1000 || o.OnsetNs > flipNs(f)+8*ms+1000) {
			t.Errorf("frame %d: onset %d, want %d", f, o.OnsetNs, flipNs(f)+8*ms)
		}
	}
	if st.Lost.Load() != 5 || st.LinkLost.Load() != 5 || st.Dropped.Load() != 1 || st.Timed.Load() != 9 || st.BadFrames.Load() != 0 {
		t.Errorf("lost %d, link-lost %d, dropped %d, timed %d, bad frames %d; want 5, 5, 1, 9, 0",
			st.Lost.Load(), st.LinkLost.Load(), st.Dropped.Load(), st.Timed.Load(), st.BadFrames.Load())
	}
}

// TestSecondReaderStealsBytes runs the fake device over a real pty on a virtual clock (the rig
// of TestSimulatedRig) and, for frames 200-400 of 600, opens the port three more times and
// reads from it, as a stray `cat /dev/ttyACM0` or a second program would: the readers share
// the bytes (one stray reader rarely wins any from the host's). What the host loses shows in
// the device's sequence numbers: the lost messages are counted, the frames around them are
// LinkLost, and no frame the monitor showed is reported Dropped, while frames the monitor
// really dropped, away from the theft, still are. The virtual clock keeps the machine's load
// out of the timing: only which reader gets which bytes is left to the kernel.
func TestSecondReaderStealsBytes(t *testing.T) {
	const frames, theftFrom, theftTo = 600, 200, 400
	r := newRig(t, simCfg(), frames)
	st := r.p.Stats()
	var stolen atomic.Uint64
	// Time moves on once every byte the device wrote has been read, by the host or a thief
	// (once the host has opened the port: the boot hello waits for it), and the host has acted
	// on what it read (the rig's own barrier waits for every pong to
	// reach the host, which a stolen one never does).
	r.clk.SetSettle(func() {
		defer func() {
			if t.Failed() {
				t.Logf("quiet %v host->dev %d/%d dev busy %v dev wrote %d host read %d stolen %d host busy %v", r.clk.Quiet(), st.BytesWritten.Load(), r.dev.BytesRead(), r.dev.Busy(), r.dev.BytesWritten(), st.BytesRead.Load(), stolen.Load(), r.p.Busy())
			}
		}()
		testwait.Must(t, 10*time.Second, "the pipeline drained", func() bool {
			return r.clk.Quiet() && st.BytesWritten.Load() == r.dev.BytesRead() && !r.dev.Busy() &&
				(st.Connects.Load() == 0 || r.dev.BytesWritten() == st.BytesRead.Load()+stolen.Load()) && !r.p.Busy()
		})
	})
	drops := map[uint64]bool{100: true, 500: true} // the monitor's own, away from the theft
	for f := range drops {
		r.dev.Drop(f)
	}
	r.warmUp(t)
	r.run(0, theftFrom)
	// The thieves read as the host's serial reader does, blocked in read(2) (not through Go's
	// poller, which would wake them after the host had taken the bytes), so that the kernel
	// hands each write to whichever reader it wakes first.
	var stop atomic.Bool
	var wg sync.WaitGroup
	var fds []int
	for range 3 {
		fd, err := syscall.Open(r.dev.Path(), syscall.O_RDONLY|syscall.O_NOCTTY, 0)
		if err != nil {
			t.Fatal(err)
		}
		fds = append(fds, fd)
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 64)
			for !stop.Load() {
				n, err := syscall.Read(fd, buf)
				if n > 0 {
					stolen.Add(uint64(n))
				}
				if err != nil && err != syscall.EINTR && err != syscall.EAGAIN {
					return
				}
			}
		}()
	}
	r.run(theftFrom, theftTo)
	// Each thief leaves at its next read's return (a read blocked in the kernel is not
	// interrupted by close: it takes the next bytes, counted, and then sees stop or EBADF).
	stop.Store(true)
	for _, fd := range fds {
		syscall.Close(fd)
	}
	r.run(theftTo, frames)
	r.clk.Advance(200 * time.Millisecond) // let the last edges in
	r.stop()
	r.dev.Close() // a thief still blocked in read returns
	wg.Wait()

	var falseDrops, linkLost, timed, wrongTimes int
	found := map[uint64]bool{}
	for i, o := range r.onsets {
		if o.Frame != uint64(i) {
			t.Fatalf("onset %d is frame %d: want every frame once, in order", i, o.Frame)
		}
		tr := r.truth[o.Frame]
		switch o.Status {
		case calib.Dropped:
			found[o.Frame] = true
			if !tr.Dropped {
				falseDrops++
				t.Logf("frame %d dropped: %+v; truth %+v", o.Frame, o, tr)
			}
		case calib.Timed:
			timed++
			if d := o.OnsetNs - tr.LightNs; d > 1e6 || d < -1e6 {
				wrongTimes++
			}
		}
		if o.LinkLost {
			linkLost++
			if o.Status != calib.Untimed || o.Frame < theftFrom || o.Frame > theftTo+20 {
				t.Errorf("frame %d: %v link-lost outside the theft (frames %d-%d)", o.Frame, o.Status, theftFrom, theftTo)
			}
		}
	}
	if len(r.onsets) != frames {
		t.Fatalf("%d onsets for %d frames", len(r.onsets), frames)
	}
	t.Logf("stole %d bytes; lost messages %d, bad frames %d; frames: timed %d, link-lost %d, dropped %d (false %d), untimed %d",
		stolen.Load(), st.Lost.Load(), st.BadFrames.Load(), timed, linkLost, st.Dropped.Load(), falseDrops, st.Untimed.Load())
	if stolen.Load() == 0 || st.Lost.Load() == 0 {
		t.Fatalf("the second reader stole %d bytes and the host lost %d messages: the test proves nothing", stolen.Load(), st.Lost.Load())
	}
	if linkLost == 0 || uint64(linkLost) != st.LinkLost.Load() {
		t.Errorf("%d frames link-lost (stats %d): want some, the same", linkLost, st.LinkLost.Load())
	}
	if falseDrops != 0 {
		t.Errorf("%d frames reported dropped that the monitor showed: the link's losses blamed on the monitor", falseDrops)
	}
	for f := range drops {
		if !found[f] {
			t.Errorf("frame %d, dropped by the monitor away from the theft, not reported dropped", f)
		}
	}
	if wrongTimes != 0 {
		t.Errorf("%d timed frames more than 1 ms from the truth: edges matched to the wrong frames", wrongTimes)
	}
}
