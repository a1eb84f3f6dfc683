package simdevice

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"retinad/calib/wire"
	"retinad/clock"
)

// DeviceConfig sets the fake device. Zero USB delays take the defaults.
type DeviceConfig struct {
	Latency  time.Duration // mean flip-to-light latency of the simulated display
	Jitter   time.Duration // its standard deviation (normal)
	DriftPPM float64       // device clock rate error against the host (device fast > 0)
	Offset   time.Duration // device clock reading at the host time the device is made
	Seed     uint64
	// One-way USB transfer delay, uniform in [USBMin, USBMax]; default 50 us .. 500 us. It is
	// simulated on a VirtualClock only: in real time the pty's own delays are the transfer's.
	USBMin, USBMax time.Duration
	// Baud, if set, simulates a serial line at that rate (8N1) on a VirtualClock: a ping arrives
	// its 11 bytes' wire time after the host wrote it, and a pong reaches the host its 19
	// bytes' time after the device stamped the ping, as on a real board's line.
	Baud int
	// Gamma is the simulated display's exponent: the patch at drive level d (0..1) gives the
	// diode d^Gamma of full scale in level streaming; default 2.2. LevelNoise is the standard
	// deviation of each level sample, a fraction of full scale (default 0: none).
	Gamma, LevelNoise float64
}

// Firmware is the version the fake device reports in its hello.
var Firmware = [3]uint8{0, 9, 0}

// Device is the fake photodiode device. The host side opens Path() as a serial port (it is a
// symlink to the pseudo-terminal's slave, like /dev/serial/by-id/...); the device writes and
// reads the master side. Light stands in for the light on the diode.
type Device struct {
	cfg     DeviceConfig
	clk     clock.Clock
	virtual bool // clk is a stepped clock: transfers are simulated and pongs go through the queue

	dir, path string

	mu      sync.Mutex
	master  *os.File
	slave   *os.File
	plugged bool
	bootNs  int64 // host time the device clock read 0
	rng     *rand.Rand
	last    float64
	haveL   bool
	seq     uint8
	queue   []out // pending output, by due time
	drops   map[uint64]bool
	delays  map[uint64]time.Duration
	truth   [truthCap]Truth
	loss    float64
	corrupt float64
	buf     []byte
	mode    wire.Mode
	period  int64      // level sample period, ns of host time
	nextLv  int64      // host time of the next level sample
	shown   []lumPoint // the patch's luminance from each time on, oldest first

	wake  chan struct{}
	pings chan pingIn
	wg    sync.WaitGroup

	bytesRead, bytesWritten                atomic.Uint64
	pingsRead, pingsAnswered, pongsWritten atomic.Uint64
	posted, done                           atomic.Uint64 // work handed to Run, and taken up by it
}

// lumPoint: from host time at onwards, the diode sees lum (0..1 of full scale).
type lumPoint struct {
	at  int64
	lum float64
}

// Truth is what really happened to one frame on the fake display.
type Truth struct {
	Frame   uint64
	LightNs int64 // host time the patch changed (flip + latency + jitter [+ delay])
	Dropped bool  // the scenario dropped it: no light, no edge
	Valid   bool  // the device saw this frame's flip (plugged in, patch changed)
}

const truthCap = 1 << 16

type out struct {
	due int64
	m   wire.Message
}

type pingIn struct {
	m    wire.Message
	recv int64
}

// stepped is a clock that a test moves by hand (clocktest.VirtualClock, whose timers are clock.Ackers):
// on one no real time passes between two of its steps, so the device simulates the USB
// transfer and answers pings through its own queue. Asked by method, so that the device does
// not import the test package that defines the clock.
type stepped interface{ AdvanceTo(t int64) }

// NewDevice makes a fake device, plugged in, on a new pseudo-terminal.
func NewDevice(cfg DeviceConfig, clk clock.Clock) (*Device, error) {
	if cfg.USBMin <= 0 {
		cfg.USBMin = 50 * time.Microsecond
	}
	if cfg.USBMax < cfg.USBMin {
		cfg.USBMax = max(cfg.USBMin, 500*time.Microsecond)
	}
	if cfg.Gamma <= 0 {
		cfg.Gamma = 2.2
	}
	_, virtual := clk.(stepped)
	dir, err := os.MkdirTemp("", "retinad-photodiode-")
	if err != nil {
		return nil, fmt.Errorf("simdevice: %w", err)
	}
	d := &Device{
		cfg: cfg, clk: clk, virtual: virtual, dir: dir, path: filepath.Join(dir, "photodiode"),
		rng:    rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15)),
		queue:  make([]out, 0, 4096),
		drops:  map[uint64]bool{},
		delays: map[uint64]time.Duration{},
		buf:    make([]byte, 0, 4096),
		wake:   make(chan struct{}, 1),
		pings:  make(chan pingIn, 64),
		shown:  make([]lumPoint, 0, 64),
	}
	d.bootNs = clk.Now() - int64(cfg.Offset)
	if err := d.plug(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return d, nil
}

// Path is the device path the host opens.
func (d *Device) Path() string { return d.path }

// BytesWritten and BytesRead count the bytes that went over the pty, noise excluded.
func (d *Device) BytesWritten() uint64 { return d.bytesWritten.Load() }
func (d *Device) BytesRead() uint64    { return d.bytesRead.Load() }

// Pings returns how many pings the device has read and answered, and how many pongs it has
// written.
func (d *Device) Pings() (read, answered, pongs uint64) {
	return d.pingsRead.Load(), d.pingsAnswered.Load(), d.pongsWritten.Load()
}

// Busy reports whether work handed to the device's Run (messages it read, flips it was told
// of) has yet to be acted on. A simulation on a VirtualClock moves time only when Busy is
// false, the clock is Quiet and every byte written has been read.
func (d *Device) Busy() bool { return d.posted.Load() != d.done.Load() }

// Drop makes the display drop these frames: they never light the patch.
func (d *Device) Drop(frames ...uint64) {
	d.mu.Lock()
	for _, f := range frames {
		d.drops[f] = true
	}
	d.mu.Unlock()
}

// Delay makes a frame light late by dt (e.g. one refresh: the frame before it was doubled).
func (d *Device) Delay(frame uint64, dt time.Duration) {
	d.mu.Lock()
	d.delays[frame] = dt
	d.mu.Unlock()
}

// SetNoise makes each byte the device sends lost with probability loss and corrupted (one
// bit flipped) with probability corrupt.
func (d *Device) SetNoise(loss, corrupt float64) {
	d.mu.Lock()
	d.loss, d.corrupt = loss, corrupt
	d.mu.Unlock()
}

// Truth returns what happened to frame, if it is among the last 65536 frames.
func (d *Device) Truth(frame uint64) Truth {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.truth[frame%truthCap]
	if t.Frame != frame {
		return Truth{Frame: frame}
	}
	return t
}

// DeviceUS is the device clock's reading at host time ns.
func (d *Device) DeviceUS(ns int64) uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.devUS(ns)
}

func (d *Device) devUS(ns int64) uint64 {
	return uint64(math.Floor(float64(ns-d.bootNs) * (1 + d.cfg.DriftPPM*1e-6) / 1000))
}

// Light tells the device that frame was flipped at host time ns with the patch at level; it is
// calib.LightSink. If the level crossed, the device queues an edge at the light time. Unplugged,
// the device sees nothing.
func (d *Device) Light(frame uint64, ns int64, level float64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	rising := level > d.last
	changed := !d.haveL || level != d.last
	if !d.haveL {
		rising = level >= 0.5
	}
	d.last, d.haveL = level, true
	tr := &d.truth[frame%truthCap]
	*tr = Truth{Frame: frame}
	if !d.plugged || !changed {
		return
	}
	tr.Valid = true
	if d.drops[frame] {
		tr.Dropped = true
		return
	}
	light := ns + int64(d.cfg.Latency) + int64(math.Round(d.rng.NormFloat64()*float64(d.cfg.Jitter))) + int64(d.delays[frame])
	tr.LightNs = light
	lum := d.lum(level)
	if len(d.shown) == cap(d.shown) { // nobody streams levels: keep the latest only
		d.shown = d.shown[:copy(d.shown, d.shown[len(d.shown)-1:])]
	}
	d.shown = append(d.shown, lumPoint{light, lum})
	d.push(out{due: light + d.usb(), m: wire.Message{Type: wire.TypeEdge, TimeUS: d.devUS(light), Rising: rising, Level: sample(lum)}})
	// Busy until Run has armed its timer for the edge. Only work from outside Run wakes it: a
	// pass of Run woken by itself would be one the barrier does not see.
	d.posted.Add(1)
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// lum is the light the simulated display gives the diode at drive level (0..1).
func (d *Device) lum(level float64) float64 {
	return math.Pow(min(max(level, 0), 1), d.cfg.Gamma)
}

// sample is the device's reading of luminance lum (0..1), full scale 65535.
func sample(lum float64) uint16 { return uint16(min(max(lum, 0), 1)*65535 + 0.5) }

// lumAt is the luminance on the diode at host time t. Called with d.mu held.
func (d *Device) lumAt(t int64) float64 {
	l := 0.0
	for _, p := range d.shown {
		if p.at > t {
			break
		}
		l = p.lum
	}
	return l
}

// levels queues every block of level samples completed by host time now (ModeLevels): one
// Levels message per MaxSamples samples, leaving when its last sample is taken. Called with
// d.mu held.
func (d *Device) levels(now int64) {
	block := d.period * wire.MaxSamples
	for d.nextLv+block <= now {
		m := wire.Message{Type: wire.TypeLevels, TimeUS: d.devUS(d.nextLv), PeriodUS: uint16(d.period / 1000), N: wire.MaxSamples}
		for i := range wire.MaxSamples {
			t := d.nextLv + int64(i)*d.period
			m.Samples[i] = sample(d.lumAt(t) + d.cfg.LevelNoise*d.rng.NormFloat64())
		}
		d.nextLv += block
		d.push(out{due: d.nextLv + d.usb(), m: m})
		// Forget what the samples have gone past, but the luminance they stand in.
		k := 0
		for k+1 < len(d.shown) && d.shown[k+1].at <= d.nextLv {
			k++
		}
		d.shown = d.shown[:copy(d.shown, d.shown[k:])]
	}
}

func (d *Device) usb() int64 {
	if !d.virtual {
		return 0
	}
	lo, hi := int64(d.cfg.USBMin), int64(d.cfg.USBMax)
	return lo + d.rng.Int64N(hi-lo+1)
}

// push queues o in due order. Called with d.mu held; Run arms its timer for it at the end of
// its pass, or, when push is called from outside Run, after the caller's wake.
func (d *Device) push(o out) {
	if len(d.queue) < cap(d.queue) { // else the device's buffer is full: like firmware, it drops
		d.queue = append(d.queue, o)
		for i := len(d.queue) - 1; i > 0 && d.queue[i].due < d.queue[i-1].due; i-- {
			d.queue[i], d.queue[i-1] = d.queue[i-1], d.queue[i]
		}
	}
}

// Run writes queued output when it falls due (and, on a VirtualClock, answers pings) until
// ctx ends; it returns nil then, with its reader goroutines stopped and the pty closed. On a
// VirtualClock it acknowledges each tick of its timer once the output is written and the
// timer re-armed (clock.Acker).
func (d *Device) Run(ctx context.Context) error {
	timer := d.clk.NewTimer(time.Hour)
	defer timer.Stop()
	defer d.Close()
	for {
		tick := false
		select {
		case <-ctx.Done():
			return nil
		case <-d.wake:
		case <-timer.C():
			tick = true
		case p := <-d.pings:
			d.mu.Lock()
			d.command(p)
			d.mu.Unlock()
		}
		// Everything posted so far is taken up by this pass; later posts come with a wake.
		posted := d.posted.Load()
		now := d.clk.Now()
		d.mu.Lock()
		d.writeDue(now)
		next := int64(math.MaxInt64)
		if len(d.queue) > 0 {
			next = d.queue[0].due
		}
		if d.mode == wire.ModeLevels {
			next = min(next, d.nextLv+d.period*wire.MaxSamples)
		}
		if next != math.MaxInt64 {
			timer.Reset(time.Duration(next - now))
		}
		d.mu.Unlock()
		d.done.Store(posted)
		if tick {
			if a, ok := timer.(clock.Acker); ok {
				a.Ack()
			}
		}
	}
}

// writeDue writes the output due by host time now (level blocks completed by then included),
// in due order. Called with d.mu held.
func (d *Device) writeDue(now int64) {
	if d.mode == wire.ModeLevels {
		d.levels(now)
	}
	d.buf = d.buf[:0]
	i := 0
	for ; i < len(d.queue) && d.queue[i].due <= now; i++ {
		m := d.queue[i].m
		if m.Type == wire.TypePong && d.plugged {
			d.pongsWritten.Add(1)
		}
		m.Seq = d.seq
		d.seq++
		d.buf = wire.AppendFrame(d.buf, &m)
	}
	d.queue = d.queue[:copy(d.queue, d.queue[i:])]
	if len(d.buf) > 0 && d.plugged {
		d.send(d.buf)
	}
}

// command acts on a message from the host that Run took up. Called with d.mu held.
func (d *Device) command(p pingIn) {
	switch p.m.Type {
	case wire.TypePing:
		arrive := p.recv + d.usb() + d.wire(wire.TypePing)
		d.push(out{due: arrive + d.usb() + d.wire(wire.TypePong), m: wire.Message{Type: wire.TypePong, ID: p.m.ID, TimeUS: d.devUS(arrive)}})
		d.pingsAnswered.Add(1)
	case wire.TypeMode:
		d.mode = p.m.Mode
		if d.mode == wire.ModeLevels {
			d.period = int64(max(p.m.PeriodUS, 100)) * 1000
			d.nextLv = p.recv
		}
		d.push(out{due: p.recv, m: d.hello()})
	}
}

// wire is a message's time on the simulated serial line (DeviceConfig.Baud; 0 without one).
func (d *Device) wire(t wire.Type) int64 {
	if !d.virtual || d.cfg.Baud <= 0 {
		return 0
	}
	return int64(wire.FrameLen(t)) * 10 * int64(time.Second) / int64(d.cfg.Baud)
}

func (d *Device) hello() wire.Message {
	return wire.Message{Type: wire.TypeHello, Proto: wire.Version, FwMajor: Firmware[0], FwMinor: Firmware[1], FwPatch: Firmware[2]}
}

// send writes b to the master with the configured noise. Called with d.mu held.
func (d *Device) send(b []byte) {
	if d.loss > 0 || d.corrupt > 0 {
		n := 0
		for _, c := range b {
			if d.rng.Float64() < d.loss {
				continue
			}
			if d.rng.Float64() < d.corrupt {
				c ^= 1 << d.rng.IntN(8)
			}
			b[n] = c
			n++
		}
		b = b[:n]
	}
	// A host that does not read fills the pty; like a device whose USB host is away, drop.
	_ = d.master.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	n, _ := d.master.Write(b)
	d.bytesWritten.Add(uint64(n))
}

// Unplug pulls the cable: the pty closes (the host's reads fail) and the device path goes.
func (d *Device) Unplug() {
	d.mu.Lock()
	if !d.plugged {
		d.mu.Unlock()
		return
	}
	d.plugged = false
	os.Remove(d.path)
	d.master.Close()
	d.slave.Close()
	d.queue = d.queue[:0]
	d.mu.Unlock()
	d.wg.Wait()
}

// Replug plugs the device back in on a new pty: it reboots (its clock restarts at 0) and the
// device path points at the new pty.
func (d *Device) Replug() error {
	d.mu.Lock()
	d.bootNs = d.clk.Now()
	d.seq, d.haveL = 0, false
	d.mu.Unlock()
	return d.plug()
}

func (d *Device) plug() error {
	master, slave, err := pty.Open()
	if err != nil {
		return fmt.Errorf("simdevice: open pty: %w", err)
	}
	if err := makeRaw(slave); err != nil {
		master.Close()
		slave.Close()
		return fmt.Errorf("simdevice: raw mode on %s: %w", slave.Name(), err)
	}
	os.Remove(d.path)
	if err := os.Symlink(slave.Name(), d.path); err != nil {
		master.Close()
		slave.Close()
		return fmt.Errorf("simdevice: %w", err)
	}
	d.mu.Lock()
	d.master, d.slave, d.plugged = master, slave, true
	// The boot message: a delimiter to end any line noise, then hello.
	d.buf = append(d.buf[:0], 0)
	h := d.hello()
	h.Seq = d.seq
	d.seq++
	d.buf = wire.AppendFrame(d.buf, &h)
	d.send(d.buf)
	d.mu.Unlock()
	d.wg.Add(1)
	go d.read(master)
	return nil
}

// read decodes what the host sends until the pty closes.
func (d *Device) read(master *os.File) {
	defer d.wg.Done()
	var dec wire.Decoder
	buf := make([]byte, 256)
	var msgs []wire.Message
	rc, err := master.SyscallConn()
	if err != nil {
		return
	}
	for {
		n, err := readPoll(rc, buf)
		recv := d.clk.Now()
		if err != nil {
			return
		}
		if n == 0 {
			continue
		}
		msgs = dec.Decode(msgs[:0], buf[:n])
		for _, m := range msgs {
			if m.Type == wire.TypePing {
				d.pingsRead.Add(1)
				if !d.virtual {
					d.pong(m.ID, recv)
					continue
				}
			}
			d.posted.Add(1)
			select {
			case d.pings <- pingIn{m, recv}:
			default: // the device is overrun: like firmware, it drops
				d.posted.Add(^uint64(0))
			}
		}
		d.bytesRead.Add(uint64(n))
	}
}

// readPoll reads what the host wrote, waiting for it in poll(2) on this goroutine's thread (at
// most 20 ms, so that a Close is seen): the thread wakes as soon as bytes arrive, as the
// host's blocking serial read does. Go's own poller would wake this reader later than the host
// wakes its own, and the ping's way out would look longer than the pong's way back.
func readPoll(rc syscall.RawConn, buf []byte) (int, error) {
	var n int
	var rerr error
	err := rc.Control(func(fd uintptr) {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		k, err := unix.Poll(pfd, 20)
		if err != nil || k == 0 {
			return // EINTR or nothing yet
		}
		n, rerr = unix.Read(int(fd), buf)
		if rerr == unix.EAGAIN || rerr == unix.EINTR {
			n, rerr = 0, nil
		} else if rerr == nil && n == 0 {
			rerr = io.EOF
		}
	})
	if err != nil {
		return 0, err // closed
	}
	return max(n, 0), rerr
}

// pong answers a ping at once, stamped with the host time recv its bytes were read, as
// firmware answers from its receive interrupt: in real time, a round trip through Run's
// timer would make the way back longer than the way out and bias the host's clock sync.
// Output already due by recv (an edge whose light came before the ping) goes first: the
// device's messages leave in the order of their times, as firmware sends an edge when it sees
// it, and the host takes a pong as the stream having reached its time (every flip older than
// its window is dropped). Run, starved on a loaded host, would otherwise send such an edge
// after a pong stamped tens of milliseconds later: its frame dropped, the edge spurious.
func (d *Device) pong(id uint32, recv int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.plugged {
		return
	}
	d.writeDue(recv)
	d.pingsAnswered.Add(1)
	m := wire.Message{Type: wire.TypePong, Seq: d.seq, ID: id, TimeUS: d.devUS(recv)}
	d.seq++
	var b [wire.MaxFrame]byte
	d.send(wire.AppendFrame(b[:0], &m))
	d.pongsWritten.Add(1)
}

// Close unplugs the device for good and removes its folder.
func (d *Device) Close() {
	d.Unplug()
	os.RemoveAll(d.dir)
}

// makeRaw puts a tty in raw mode (no echo, no line editing, no output processing), as the
// host's serial library does when it opens it; until then the pty would echo.
func makeRaw(f *os.File) error {
	t, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		return err
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	return unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, t)
}
