package calib_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/creack/pty"

	"retinad/calib"
	"retinad/calib/calibtest"
	"retinad/calib/wire"
	"retinad/internal/testwait"
)

func frame(m wire.Message) []byte { return wire.AppendFrame(nil, &m) }

// TestLinkReaderScripted drives Run's link reader with exact bytes: a boot hello split over
// three short reads after line noise, a read timeout, a corrupted frame, a pong and a block of
// level samples, then the device failing. The reader must decode what is whole, count what is
// bad, answer to the levels, hang up on the failure and dial again, and have written the
// threshold, the mode and the pings.
func TestLinkReaderScripted(t *testing.T) {
	hello := frame(wire.Message{Type: wire.TypeHello, Proto: wire.Version, FwMajor: 1, FwMinor: 2, FwPatch: 3})
	bad := frame(wire.Message{Type: wire.TypeEdge, Seq: 1, TimeUS: 5, Rising: true})
	bad[3] ^= 0x40 // one bit flipped: the CRC fails
	levels := wire.Message{Type: wire.TypeLevels, Seq: 3, TimeUS: 1000, PeriodUS: 500, N: 4}
	copy(levels.Samples[:], []uint16{0, 65535, 32768, 100})
	unplugged := errors.New("read /dev/fake: input/output error: " + calib.ErrUnplugged.Error())
	first := &calibtest.Script{Chunks: []calibtest.Chunk{
		{Data: []byte{0x13, 0x37, 0xff}}, // line noise before the device's first delimiter
		{Data: []byte{0}},
		{Data: hello[:2]}, {Data: hello[2:5]}, {Data: hello[5:]},
		{}, // a read timeout
		{Data: bad},
		{Data: frame(wire.Message{Type: wire.TypePong, Seq: 2, ID: 1, TimeUS: 2000}), AfterWrites: 3}, // after configure, mode, ping 1
		{Data: frame(levels)},
		{Err: unplugged},
	}}
	second := &calibtest.Script{}
	scripts := []*calibtest.Script{first, second}
	var dials int
	var mu sync.Mutex
	var got []calib.Levels
	p := calib.New(calib.Options{
		Dial: func() (calib.Link, error) {
			if dials == len(scripts) {
				return nil, errors.New("no more scripts")
			}
			dials++
			return scripts[dials-1], nil
		},
		OnOnset:    func(calib.Onset) {},
		OnLevels:   func(l *calib.Levels) { mu.Lock(); got = append(got, *l); mu.Unlock() },
		Threshold:  0.5,
		Hysteresis: 0.05,
		BackoffMin: time.Millisecond,
	})
	p.StreamLevels(500 * time.Microsecond)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	st := p.Stats()
	testwait.Until(5*time.Second, func() bool { return st.Connects.Load() >= 2 }) // checked below
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if read, closed := first.Done(); !read || !closed {
		t.Errorf("first script: all read %v, closed %v; want both", read, closed)
	}
	if st.Connects.Load() != 2 || st.Disconnects.Load() != 1 {
		t.Errorf("connects %d, disconnects %d; want 2 and 1", st.Connects.Load(), st.Disconnects.Load())
	}
	if st.BadFrames.Load() != 2 {
		t.Errorf("bad frames %d, want 2 (the line noise, the corrupted edge)", st.BadFrames.Load())
	}
	if st.Lost.Load() != 1 {
		t.Errorf("lost messages %d, want 1 (the corrupted edge: seq 1 missing between the hello and the pong)", st.Lost.Load())
	}
	if st.Pongs.Load() != 1 {
		t.Errorf("pongs used %d, want 1", st.Pongs.Load())
	}
	mu.Lock()
	if len(got) != 1 || got[0].N != 4 || got[0].Period != 500*time.Microsecond || got[0].Samples[1] != 1 || got[0].Samples[2] != 32768.0/65535 {
		t.Errorf("levels delivered %+v, want one block of 4 samples 500us apart", got)
	}
	mu.Unlock()

	// What the host wrote to the first device: threshold, level mode, then pings.
	var dec wire.Decoder
	msgs := dec.Decode(nil, first.Written())
	if len(msgs) < 3 {
		t.Fatalf("host wrote %d messages, want threshold, mode and pings", len(msgs))
	}
	if m := msgs[0]; m.Type != wire.TypeThreshold || m.Threshold != 32768 || m.Hysteresis != 3277 {
		t.Errorf("first message %+v, want threshold 0.5 (32768) hysteresis 0.05 (3277)", m)
	}
	if m := msgs[1]; m.Type != wire.TypeMode || m.Mode != wire.ModeLevels || m.PeriodUS != 500 {
		t.Errorf("second message %+v, want mode levels every 500 us", m)
	}
	for i, m := range msgs[2:] {
		if m.Type != wire.TypePing || m.ID != uint32(i+1) {
			t.Errorf("message %d: %v id %d, want ping %d", i+2, m.Type, m.ID, i+1)
		}
	}
	if s := dec.Stats(); s.BadCRC+s.BadFrame+s.Overflow != 0 {
		t.Errorf("the host's own frames decode with errors: %+v", s)
	}
}

// TestUnpluggedWriteAndReadFail: an unplugged device fails the ping's write and the reader's
// read together. Run hangs up once per link and redials; the second failure, the old link's,
// must not hang up again (it once closed a nil link: a panic found by the fault suite).
func TestUnpluggedWriteAndReadFail(t *testing.T) {
	var dials atomic.Int64
	p := calib.New(calib.Options{
		Dial: func() (calib.Link, error) {
			dials.Add(1)
			return &calibtest.Script{WriteErr: calib.ErrUnplugged, End: calib.ErrUnplugged}, nil
		},
		OnOnset:    func(calib.Onset) {},
		BackoffMin: time.Millisecond, BackoffMax: time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	testwait.Must(t, 10*time.Second, "200 dials", func() bool { return dials.Load() >= 200 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	if c, d := st.Connects.Load(), st.Disconnects.Load(); d < c-1 || d > c {
		t.Errorf("connects %d, disconnects %d: want one hang-up per link", c, d)
	}
}

// TestSerialLock opens a real pseudo-terminal as the serial port: while one link holds it, a
// second OpenSerial (another retinad: a calibration while the daemon runs) is refused with
// ErrBusy, and SerialFree says so; once the first is closed, the port opens again.
func TestSerialLock(t *testing.T) {
	master, slave, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	defer slave.Close()
	path := slave.Name()
	a, err := calib.OpenSerial(path, 115200, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := calib.OpenSerial(path, 115200, 100*time.Millisecond); !errors.Is(err, calib.ErrBusy) {
		t.Fatalf("second open while the first holds %s: %v, want ErrBusy", path, err)
	} else {
		t.Log(err)
	}
	if err := calib.SerialFree(path); !errors.Is(err, calib.ErrBusy) {
		t.Fatalf("SerialFree(%s) while held: %v, want ErrBusy", path, err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := calib.SerialFree(path); err != nil {
		t.Fatalf("SerialFree(%s) after Close: %v, want nil", path, err)
	}
	b, err := calib.OpenSerial(path, 115200, 100*time.Millisecond)
	if err != nil {
		t.Fatalf("open after the first link closed: %v", err)
	}
	b.Close()
}
