package avrboard_test

import (
	"testing"
	"time"

	"retinad/calib"
	"retinad/calib/avrboard"
	"retinad/calib/wire"
	"retinad/calib/wire/wiretest"
)

// conn is the host's side of the board's serial line, read through calib's serial port.
type conn struct {
	t     *testing.T
	l     calib.Link
	dec   wire.Decoder
	q     []wire.Message
	seq   uint8 // host's
	last  int   // device seq of the last message, -1 before the first
	wraps int   // times the device's seq went from 255 to 0
}

// start builds the firmware and emulator and starts a board. With no simavr or AVR toolchain
// it fails: scripts/setup installs them.
func start(t *testing.T) *avrboard.Board {
	t.Helper()
	if err := avrboard.Build(); err != nil {
		t.Fatal(err)
	}
	b, err := avrboard.Start(avrboard.Paths())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	return b
}

// boot starts a board and opens its pty at 115200 baud, holding the port (calib.OpenSerial's
// lock) for the test.
func boot(t *testing.T) (*avrboard.Board, *conn) {
	t.Helper()
	b := start(t)
	l, err := calib.OpenSerial(b.PTY, 115200, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return b, &conn{t: t, l: l, last: -1}
}

// next returns the device's next message, failing after timeout. It checks that sequence
// numbers count up by one with no gap.
func (c *conn) next(timeout time.Duration) wire.Message {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 256)
	for len(c.q) == 0 {
		if time.Now().After(deadline) {
			c.t.Fatalf("no message from the firmware in %v (decoder: %+v)", timeout, c.dec.Stats())
		}
		n, err := c.l.Read(buf)
		if err != nil {
			c.t.Fatal(err)
		}
		c.q = c.dec.Decode(c.q, buf[:n])
	}
	m := c.q[0]
	c.q = c.q[1:]
	if c.last >= 0 && m.Seq != uint8(c.last+1) {
		c.t.Errorf("%v seq %d after %d: want %d", m.Type, m.Seq, c.last, uint8(c.last+1))
	}
	if c.last == 255 && m.Seq == 0 {
		c.wraps++
	}
	c.last = int(m.Seq)
	return m
}

// expect returns the next message, failing unless it is of type want.
func (c *conn) expect(want wire.Type, timeout time.Duration) wire.Message {
	c.t.Helper()
	m := c.next(timeout)
	if m.Type != want {
		c.t.Fatalf("got %v %+v, want %v", m.Type, m, want)
	}
	return m
}

func (c *conn) write(f []byte) {
	c.t.Helper()
	if _, err := c.l.Write(f); err != nil {
		c.t.Fatal(err)
	}
}

func (c *conn) send(m wire.Message) {
	c.t.Helper()
	m.Seq = c.seq
	c.seq++
	c.write(wire.AppendFrame(nil, &m))
}

// ping sends a ping with id and returns its pong, which must be the next message.
func (c *conn) ping(id uint32) wire.Message {
	c.t.Helper()
	c.send(wire.Message{Type: wire.TypePing, ID: id})
	p := c.expect(wire.TypePong, 2*time.Second)
	if p.ID != id {
		c.t.Fatalf("pong id %#x, want %#x", p.ID, id)
	}
	return p
}

const full = float64(avrboard.FullScaleMV)

// TestFirmwareProtocol boots the real firmware and checks every message type against
// calib/wire and the shared vectors: the boot hello, each host vector (ok ones acted on, drop
// ones ignored), ping/pong, level streaming at the requested period, threshold and hysteresis,
// and edges with their polarity, level and sequence numbers.
func TestFirmwareProtocol(t *testing.T) {
	b, c := boot(t)
	if _, err := b.SetLevel(0.2 * full); err != nil {
		t.Fatal(err)
	}
	h := c.expect(wire.TypeHello, 5*time.Second)
	if h.Seq != 0 || h.Proto != wire.Version {
		t.Fatalf("boot hello %+v: want seq 0, proto %d", h, wire.Version)
	}
	t.Logf("firmware %d.%d.%d", h.FwMajor, h.FwMinor, h.FwPatch)

	// Ping/pong: the device clock moves forward, about as fast as ours.
	p1 := c.ping(1)
	start := time.Now()
	time.Sleep(200 * time.Millisecond)
	p2 := c.ping(2)
	dev, host := float64(p2.TimeUS-p1.TimeUS), float64(time.Since(start).Microseconds())
	if dev < 0.8*host || dev > 1.2*host {
		t.Errorf("device clock advanced %.0f us while the host's advanced %.0f us: the board is not paced to real time", dev, host)
	}

	vs, err := wiretest.Read(wiretest.Path())
	if err != nil {
		t.Fatal(err)
	}
	id := uint32(100)
	for _, v := range vs {
		if v.OK && v.Msg.Type < 0x80 {
			continue // device -> host: checked on calib/wire's side, and live below
		}
		c.write(v.Frame)
		switch {
		case !v.OK:
			// Nothing may answer or change: the next message is the pong of a fresh ping.
			id++
			c.ping(id)
		case v.Msg.Type == wire.TypePing:
			if p := c.expect(wire.TypePong, 2*time.Second); p.ID != v.Msg.ID {
				t.Errorf("%s: pong id %#x, want %#x", v.Name, p.ID, v.Msg.ID)
			}
		case v.Msg.Type == wire.TypeMode:
			c.expect(wire.TypeHello, 2*time.Second)
			if v.Msg.Mode == wire.ModeLevels {
				checkLevels(t, c, v.Msg.PeriodUS, 0.2*full)
			}
		case v.Msg.Type == wire.TypeThreshold:
			id++
			c.ping(id) // no answer of its own; the edges below check what it sets
		}
	}
	// The last mode vector turned levels off: a ping's pong comes next, no levels.
	id++
	c.ping(id)

	checkEdges(t, b, c)

	// Sequence numbers wrap at 256 with no gap (next checks every step).
	for i := 0; i < 260; i++ {
		c.ping(uint32(5000 + i))
	}
	if c.wraps == 0 {
		t.Fatalf("260 more messages and the device's seq (now %d) never went from 255 to 0", c.last)
	}
}

// checkLevels reads level blocks until two full ones have come, checking their period, grid and
// samples against the level on A0 (mv), and turns streaming off.
func checkLevels(t *testing.T, c *conn, period uint16, mv float64) {
	t.Helper()
	want := mv / full * 65535
	var prev wire.Message
	for i := 0; i < 3; i++ {
		m := c.expect(wire.TypeLevels, 2*time.Second)
		if m.PeriodUS != period || m.N != wire.MaxSamples {
			t.Fatalf("levels period %d us, %d samples: want %d us, %d", m.PeriodUS, m.N, period, wire.MaxSamples)
		}
		for _, s := range m.Samples[:m.N] {
			if d := float64(s) - want; d < -128 || d > 128 {
				t.Fatalf("level sample %d, want %.0f (A0 at %.0f mV) within 2 ADC steps", s, want, mv)
			}
		}
		if i > 0 && m.TimeUS != prev.TimeUS+uint64(wire.MaxSamples)*uint64(period) {
			t.Errorf("levels block at %d us after one at %d us: want them %d us apart", m.TimeUS, prev.TimeUS, wire.MaxSamples*int(period))
		}
		prev = m
	}
	// Back to edges only; blocks already queued may still arrive before the hello.
	c.send(wire.Message{Type: wire.TypeMode, Mode: wire.ModeEdges, PeriodUS: 1000})
	for m := c.next(2 * time.Second); m.Type != wire.TypeHello; m = c.next(2 * time.Second) {
		if m.Type != wire.TypeLevels {
			t.Fatalf("got %v while turning levels off", m.Type)
		}
	}
}

// checkEdges drives A0 across the threshold and checks each edge's polarity, level and the
// delay from the light step (the emulator's ground truth) to the edge's device time.
func checkEdges(t *testing.T, b *avrboard.Board, c *conn) {
	t.Helper()
	// Threshold at 0.7 of full scale, hysteresis 0.1: rising above 0.75, falling below 0.65.
	c.send(wire.Message{Type: wire.TypeThreshold, Threshold: 45875, Hysteresis: 6554})
	c.ping(900)
	steps := []struct {
		frac   float64
		edge   bool
		rising bool
	}{
		{0.72, false, false}, // above threshold, within the hysteresis: nothing
		{0.80, true, true},
		{0.68, false, false},
		{0.60, true, false},
		{0.90, true, true},
		{0.10, true, false},
	}
	var worst float64
	for i, s := range steps {
		at, err := b.SetLevel(s.frac * full)
		if err != nil {
			t.Fatal(err)
		}
		if !s.edge {
			c.ping(uint32(1000 + i)) // an edge would come before this pong
			continue
		}
		e := c.expect(wire.TypeEdge, 2*time.Second)
		if e.Rising != s.rising {
			t.Errorf("step to %.2f: edge rising=%v, want %v", s.frac, e.Rising, s.rising)
		}
		if d := float64(e.Level) - s.frac*65535; d < -128 || d > 128 {
			t.Errorf("step to %.2f: edge level %d, want %.0f", s.frac, e.Level, s.frac*65535)
		}
		delay := float64(e.TimeUS) - at
		// The edge is stamped midway between the conversion starts before and after the step,
		// so within half a loop period (the loop takes about 154 us) either way; less 12 us,
		// as the sample-and-hold closes 1.5 ADC clocks after a conversion starts; and micros()
		// starts when Arduino's init() starts timer 0, some 20 us after reset, and ticks by
		// 4 us: device times read up to about 30 us early against emulated ones.
		if delay < -130 || delay > 90 {
			t.Errorf("step to %.2f at %.1f us: edge at %d us, %.1f us later: want -130..90 us (half a loop period either way)", s.frac, at, e.TimeUS, delay)
		}
		worst = max(worst, abs(delay))
	}
	t.Logf("light step to edge device time: worst %.1f us either way", worst)
	if st := c.dec.Stats(); st.SeqGaps != 0 || st.BadCRC != 0 || st.BadFrame != 0 {
		t.Errorf("decoder %+v: want no gaps or bad frames from the firmware", st)
	}
}
