package calib

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"retinad/calib/wire"
	"retinad/clock"
)

// LightSink is told of every flip as it is reported; in simulation the fake device is one,
// standing in for the light reaching the photodiode.
type LightSink interface {
	Light(frame uint64, hostNs int64, level float64)
}

// Options configures a Photodiode. OnOnset is required.
type Options struct {
	// Dial opens the device; it is called again, with backoff, after every failure. Nil means
	// there is no device: every frame is Untimed. Name is the device's name for messages.
	Dial func() (Link, error)
	Name string

	Clock clock.Clock  // default clock.System
	Log   *slog.Logger // default: discard

	// OnOnset receives every flipped frame's fate, in frame order, on Run's goroutine.
	OnOnset func(Onset)
	// Light, if set, is told of every flip from Flip (simulation).
	Light LightSink
	// OnLevels, if set, receives every block of level samples while StreamLevels is on, on
	// Run's goroutine; the Levels is Run's and is reused after the call returns.
	OnLevels func(*Levels)

	Threshold, Hysteresis float64       // sent to the device on connect, fractions of full scale
	Refresh               time.Duration // display refresh period, to count doubled frames; 0 = don't
	Latency               time.Duration // prior flip-to-light latency (calibration file); 0 = learn it
	Window                time.Duration // latest an edge may follow its flip; default 50 ms
	// Baud is the device's serial line rate, bits per second (8N1: 10 bits a byte), or 0 when
	// the link has no wire (a pseudo-terminal to a fake device). The clock sync assumes that a
	// ping and its pong take equally long; on a wire a pong (19 bytes) takes longer than a ping
	// (11), 0.7 ms at 115200 baud, which would make every onset 0.35 ms late. Each message's
	// wire time is therefore taken out of the round trip before the fit.
	Baud       int
	PingEvery  time.Duration // clock-sync period; default 100 ms
	BackoffMin time.Duration // first reconnect delay; default 100 ms
	BackoffMax time.Duration // longest reconnect delay; default 5 s
}

// Stats are the link's counters, safe to read from any goroutine.
type Stats struct {
	Timed, Dropped, Untimed atomic.Uint64 // frames, by fate
	Doubled                 atomic.Uint64 // extra refreshes frames were held for
	Spurious                atomic.Uint64 // edges that matched no flip
	LastSpuriousFrame       atomic.Uint64 // the last Timed frame before the last spurious edge
	FlipOverflow            atomic.Uint64 // flips lost because Run fell more than flipCap behind
	Connects, Disconnects   atomic.Uint64
	Dialing                 atomic.Bool   // Run is opening the device
	Pings, Pongs            atomic.Uint64 // clock-sync probes sent, answers used
	BytesRead, BytesWritten atomic.Uint64
	BadFrames               atomic.Uint64 // frames the decoder rejected (CRC, framing)
	SyncResidualNs          atomic.Int64  // RMS of the clock-sync fit
	SyncDriftPPB            atomic.Int64  // fitted device drift, parts per billion

	// Lost counts device messages lost on the link, from the gaps in their sequence numbers
	// (a second reader on the port, a full buffer, line noise); LinkLost the frames resolved
	// Untimed because such a gap may have held their edges (Onset.LinkLost).
	Lost, LinkLost atomic.Uint64
}

// Levels is one block of level samples from the device (level streaming, for gamma
// calibration): Samples[:N], fractions of full scale, Period apart, the first at HostNs.
type Levels struct {
	HostNs  int64 // host ns of Samples[0]; 0 when the clock sync is not ready
	Period  time.Duration
	N       int
	Samples [wire.MaxSamples]float64
}

// flipCap bounds the flips reported but not yet taken by Run.
const flipCap = 4096

// Photodiode times frames with the photodiode device. Create it with New, call Run once, and
// call Flip from the frame loop.
type Photodiode struct {
	o     Options
	stats Stats

	mu    sync.Mutex // guards the flip ring, shared by Flip and Run
	ring  [flipCap]flipRec
	rhead int
	rn    int
	wake  chan struct{}

	// Run's own state.
	match       *matcher
	sync        ClockSync
	pings       [16]pingRec
	pingID      uint32
	seq         uint8
	out         []byte
	batch       [flipCap]flipRec
	levelPeriod atomic.Int64 // ns; 0 = edges only (StreamLevels)
	sentPeriod  int64        // what Run last told the device; -1 = nothing on this link
	levels      Levels

	queued  atomic.Uint64 // messages the reader has handed to Run
	handled atomic.Uint64 // messages Run has acted on
	up      bool          // a link is open
	// downSince is the clock's ns when the device went away (or Run first dialled it); 0 while
	// a link is open or when there is no device. Read by Down from any goroutine.
	downSince atomic.Int64
	hello     bool  // the device has said hello on this link
	lastSeq   uint8 // the device's last sequence number on this link
	haveSeq   bool  // lastSeq is set
	lastGap   int64 // host time of the last gap logged
	lastLog   int64

	ready     chan struct{} // closed by Run the first time a flip could be timed (Ready)
	wasTiming bool          // ready is closed
}

type flipRec struct {
	frame uint64
	ns    int64
	level float64
}

type pingRec struct {
	id   uint32
	sent int64 // host ns when the ping's last byte was on the device's side of the wire
}

// New returns a Photodiode; it panics if OnOnset is nil (a programmer error).
func New(o Options) *Photodiode {
	if o.OnOnset == nil {
		panic("calib: New needs Options.OnOnset")
	}
	if o.Clock == nil {
		o.Clock = clock.System{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Window, 50*time.Millisecond)
	def(&o.PingEvery, 100*time.Millisecond)
	def(&o.BackoffMin, 100*time.Millisecond)
	def(&o.BackoffMax, 5*time.Second)
	p := &Photodiode{o: o, wake: make(chan struct{}, 1), out: make([]byte, 0, 4*wire.MaxFrame), ready: make(chan struct{})}
	p.match = newMatcher(o.Window, o.Refresh, o.Latency, &p.stats, o.OnOnset)
	return p
}

// Stats returns the live counters.
func (p *Photodiode) Stats() *Stats { return &p.stats }

// Down reports how long the device has been away: from Run's first dial until it connects, and
// from a disconnect until it is back (frames are untimed meanwhile). It is 0 while a link is
// open, before and after Run, and when there is no device. Safe from any goroutine.
func (p *Photodiode) Down() time.Duration {
	since := p.downSince.Load()
	if since == 0 {
		return 0
	}
	return time.Duration(max(p.o.Clock.Now()-since, 1)) // 1 ns at least: down is never 0
}

// Flip reports that frame was flipped onto the screen at host time ns with the photodiode
// patch at level (0 black .. 1 white). Call it from the frame loop for every flip, in frame
// order; it neither blocks nor allocates.
func (p *Photodiode) Flip(frame uint64, ns int64, level float64) {
	if p.o.Light != nil {
		p.o.Light.Light(frame, ns, level)
	}
	p.mu.Lock()
	if p.rn == flipCap {
		p.rhead = (p.rhead + 1) % flipCap
		p.rn--
		p.stats.FlipOverflow.Add(1)
	}
	p.ring[(p.rhead+p.rn)%flipCap] = flipRec{frame, ns, level}
	p.rn++
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// StreamLevels asks the device to stream its raw level every period (100 us .. 65 ms; it keeps
// sending edges too), or, with period 0, to go back to edges only. Samples reach
// Options.OnLevels. The mode is sent at once if the device is connected, and again on every
// reconnect. Safe from any goroutine.
func (p *Photodiode) StreamLevels(period time.Duration) {
	if period != 0 {
		period = min(max(period, 100*time.Microsecond), 65*time.Millisecond)
	}
	p.levelPeriod.Store(int64(period))
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Busy reports whether messages read from the device, or reported flips, still wait for Run.
// A simulation on a virtual clock moves time only when it is false (with the link's bytes all
// read), so that nothing is stamped late because a goroutine was slow to run.
func (p *Photodiode) Busy() bool {
	if p.queued.Load() != p.handled.Load() {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rn > 0
}

// Ready is closed the first time the link can time a flip: the device is connected, has said
// hello and its clock is synced. A flip reported before then is Untimed (its edge's device time
// cannot be placed on the host's clock), so a frame loop that waits for Ready before its first
// frame has that frame timed. It is never closed without a device. Safe from any goroutine.
func (p *Photodiode) Ready() <-chan struct{} { return p.ready }

// timing says whether a flip taken now can be timed, and closes Ready the first time it can.
func (p *Photodiode) timing() bool {
	ok := p.up && p.hello && p.sync.Ready()
	if ok && !p.wasTiming {
		p.wasTiming = true
		p.o.Log.Info("calib: photodiode clock synced; frames are timed from now", "device", p.o.Name, "pongs", p.stats.Pongs.Load())
		close(p.ready)
	}
	return ok
}

// takeFlips hands every reported flip to the matcher.
func (p *Photodiode) takeFlips() {
	p.mu.Lock()
	n := p.rn
	for i := 0; i < n; i++ {
		p.batch[i] = p.ring[(p.rhead+i)%flipCap]
	}
	p.rhead, p.rn = (p.rhead+n)%flipCap, 0
	p.mu.Unlock()
	timed := p.timing()
	for _, f := range p.batch[:n] {
		p.match.addFlip(f.frame, f.ns, f.level, timed)
	}
}

// event is one decoded message with the host time its bytes were read.
type event struct {
	m    wire.Message
	recv int64
}

// Run connects to the device, keeps it connected (reconnecting with backoff when it goes
// away), syncs clocks and resolves every flip until ctx ends; it then returns nil, with its
// reader stopped and the link closed. Frames pending at a disconnect, and all frames flipped
// while disconnected, are resolved Untimed.
func (p *Photodiode) Run(ctx context.Context) error {
	clk := p.o.Clock
	backoff := p.o.BackoffMin
	retry := clk.NewTimer(0)
	defer retry.Stop()
	if p.o.Dial == nil {
		retry.Stop() // no device: every flip is Untimed
	} else {
		p.downSince.Store(clk.Now())
	}
	ping := clk.NewTimer(time.Hour)
	ping.Stop()
	defer ping.Stop()

	var (
		link    Link
		events  chan event
		readErr chan error
		stop    context.CancelFunc
		done    chan struct{}
	)
	hangUp := func() {
		stop()
		<-done                           // the reader has returned: Close cannot block
		p.handled.Store(p.queued.Load()) // what it left in events is dropped with the link
		if err := link.Close(); err != nil {
			p.o.Log.Warn("calib: close", "device", p.o.Name, "err", err)
		}
		link, p.up, p.hello, p.haveSeq = nil, false, false, false
		// The reader's error, if it sent one, is the old link's: a write failure (ping) and a
		// read failure (unplugged) come together, and the second must not hang up again.
		events, readErr = nil, nil
		p.downSince.Store(clk.Now())
		ping.Stop()
		p.takeFlips()
		p.match.untimeAll()
	}
	for {
		select {
		case <-ctx.Done():
			if link != nil {
				hangUp()
			}
			p.downSince.Store(0) // nobody dials any more
			p.takeFlips()
			return nil

		case <-p.wake:
			p.takeFlips()
			if link != nil {
				p.sendMode(link)
			}

		case <-retry.C():
			p.stats.Dialing.Store(true)
			l, err := p.o.Dial()
			p.stats.Dialing.Store(false)
			if err != nil {
				p.logThrottled("calib: photodiode not available; retrying", "device", p.o.Name, "in", backoff, "err", err)
				retry.Reset(backoff)
				backoff = min(2*backoff, p.o.BackoffMax)
				clock.Ack(retry)
				continue
			}
			backoff = p.o.BackoffMin
			link, p.up = l, true
			p.downSince.Store(0)
			p.stats.Connects.Add(1)
			p.o.Log.Info("calib: photodiode connected", "device", p.o.Name)
			p.sync.Reset()
			rctx, cancel := context.WithCancel(ctx)
			stop = cancel
			events, readErr, done = make(chan event, 256), make(chan error, 1), make(chan struct{})
			go p.read(rctx, l, events, readErr, done)
			p.configure(l)
			ping.Reset(0)
			clock.Ack(retry)

		case ev := <-events:
			p.takeFlips()
			p.handle(ev)
			p.handled.Add(1)
			p.timing() // a pong may have made the sync ready: Ready closes now, not at the next flip

		case err := <-readErr:
			// The reader queued every message it read before its error: act on them first, so
			// that a link's last words (a levels block, an edge) are not dropped with it.
			for len(events) > 0 {
				p.takeFlips()
				p.handle(<-events)
				p.handled.Add(1)
			}
			p.stats.Disconnects.Add(1)
			p.o.Log.Warn(lostMsg, "device", p.o.Name, "err", err)
			hangUp()
			retry.Reset(backoff)

		case <-ping.C():
			if link == nil { // a tick that fired before a hang-up stopped the timer
				clock.Ack(ping)
				continue
			}
			if err := p.sendPing(link); err != nil {
				p.stats.Disconnects.Add(1)
				p.o.Log.Warn(lostMsg, "device", p.o.Name, "err", err)
				hangUp()
				retry.Reset(backoff)
				clock.Ack(ping)
				continue
			}
			every := p.o.PingEvery
			if !p.sync.Ready() || p.sync.used < 16 {
				every = min(every, 10*time.Millisecond) // a quick start
			}
			ping.Reset(every)
			clock.Ack(ping)
		}
	}
}

// read is the link's reader goroutine: it reads with the link's timeout in a loop until ctx
// ends or the link fails, decodes, and hands messages to Run.
func (p *Photodiode) read(ctx context.Context, l Link, events chan<- event, errc chan<- error, done chan<- struct{}) {
	defer close(done)
	var dec wire.Decoder
	buf := make([]byte, 512)
	msgs := make([]wire.Message, 0, len(buf)/5)
	var bad uint64
	for ctx.Err() == nil {
		n, err := l.Read(buf)
		recv := p.o.Clock.Now()
		if err != nil {
			errc <- err
			return
		}
		if n == 0 {
			continue
		}
		msgs = dec.Decode(msgs[:0], buf[:n])
		for _, m := range msgs {
			p.queued.Add(1) // before the send, so that Busy never misses a message in flight
			select {
			case events <- event{m, recv}:
			case <-ctx.Done():
				return
			}
		}
		p.stats.BytesRead.Add(uint64(n))
		if s := dec.Stats(); s.BadCRC+s.BadFrame+s.Overflow != bad {
			p.stats.BadFrames.Add(s.BadCRC + s.BadFrame + s.Overflow - bad)
			bad = s.BadCRC + s.BadFrame + s.Overflow
		}
	}
}

// seqGap returns how many device messages were lost just before m, from its sequence number
// (mod 256: a gap of 256 or more messages is undercounted), and counts them.
func (p *Photodiode) seqGap(m *wire.Message) int {
	if m.Type == wire.TypeHello && m.Seq == 0 {
		p.haveSeq = false // a boot: the device's count starts over
	}
	lost := 0
	if p.haveSeq && m.Seq != p.lastSeq {
		lost = int(m.Seq-p.lastSeq) - 1 // uint8: wraps at 256
	}
	p.lastSeq, p.haveSeq = m.Seq, true
	if lost > 0 {
		p.stats.Lost.Add(uint64(lost))
	}
	return lost
}

// logGap says, at most every 10 s, that the link lost messages.
func (p *Photodiode) logGap(lost int) {
	if now := p.o.Clock.Now(); p.lastGap == 0 || now-p.lastGap >= int64(10*time.Second) {
		p.lastGap = now
		p.o.Log.Warn("calib: the photodiode link lost device messages (sequence gap); frames whose edges they may have held are untimed by the link, not dropped",
			"device", p.o.Name, "lost", lost, "lost_total", p.stats.Lost.Load(), "frames_link_lost_total", p.stats.LinkLost.Load())
	}
}

// handle acts on one message from the device. A gap in the device's sequence numbers before
// it means lost messages, sent before this one: waiting flips whose edges they may have held
// are resolved LinkLost (an edge's own flip, and later ones, still wait or match).
func (p *Photodiode) handle(ev event) {
	m := &ev.m
	lost := p.seqGap(m)
	gap := lost > 0
	if gap {
		defer p.logGap(lost) // once the frames are resolved, so that it counts them
	}
	if gap && m.Type != wire.TypeEdge {
		until := int64(math.MaxInt64) // a hello has no time: every waiting flip
		if m.Type != wire.TypeHello {
			if h, ok := p.sync.ToHost(m.TimeUS); ok {
				until = h
			}
		}
		p.match.loseUntil(until)
	}
	switch m.Type {
	case wire.TypeHello:
		if m.Proto != wire.Version {
			p.o.Log.Error("calib: photodiode speaks another protocol version; its messages are ignored",
				"device", p.o.Name, "device_version", m.Proto, "want", wire.Version)
			return
		}
		if p.hello && m.Seq == 0 { // a boot hello (seq 0), not the answer to our SetMode
			p.o.Log.Warn("calib: photodiode restarted; clock sync starts over", "device", p.o.Name)
			p.sync.Reset()
			p.match.untimeAll()
		}
		p.hello = true
		p.o.Log.Info("calib: photodiode hello", "device", p.o.Name, "firmware", fmt.Sprintf("%d.%d.%d", m.FwMajor, m.FwMinor, m.FwPatch))
	case wire.TypePong:
		for i := range p.pings {
			if pr := p.pings[i]; pr.id == m.ID && pr.sent != 0 {
				// The pong left the device a pong's wire time before its last byte was read.
				p.sync.Add(pr.sent, ev.recv-p.wireNs(wire.FrameLen(wire.TypePong)), m.TimeUS)
				p.stats.Pongs.Add(1)
				p.pings[i].sent = 0
				p.stats.SyncResidualNs.Store(int64(p.sync.Residual()))
				p.stats.SyncDriftPPB.Store(int64(p.sync.DriftPPM() * 1000))
				break
			}
		}
		if h, ok := p.sync.ToHost(m.TimeUS); ok && p.hello {
			p.match.watermark(h)
		}
	case wire.TypeEdge:
		h, ok := p.sync.ToHost(m.TimeUS)
		if !ok || !p.hello {
			return // no flip can be waiting: they were all made Untimed
		}
		p.match.edge(h, m.Rising, gap)
		p.match.watermark(h)
	case wire.TypeLevels:
		if p.o.OnLevels == nil || m.N == 0 {
			return
		}
		l := &p.levels
		l.HostNs, _ = p.sync.ToHost(m.TimeUS)
		l.Period, l.N = time.Duration(m.PeriodUS)*time.Microsecond, int(m.N)
		for i := range l.N {
			l.Samples[i] = float64(m.Samples[i]) / 65535
		}
		p.o.OnLevels(l)
	default:
		p.o.Log.Warn("calib: unexpected message from the photodiode", "device", p.o.Name, "type", m.Type)
	}
}

// configure sends the threshold and the mode after connecting.
func (p *Photodiode) configure(l Link) {
	p.out = p.out[:0]
	p.out = append(p.out, 0) // a delimiter: whatever noise came before ends here
	p.out = wire.AppendFrame(p.out, &wire.Message{Type: wire.TypeThreshold, Seq: p.nextSeq(),
		Threshold: frac16(p.o.Threshold), Hysteresis: frac16(p.o.Hysteresis)})
	// A failed write shows up as a read error too; the reader reports it.
	n, _ := l.Write(p.out)
	p.stats.BytesWritten.Add(uint64(n))
	p.sentPeriod = -1
	p.sendMode(l)
}

// sendMode tells the device the mode StreamLevels asked for, if it has not been told yet.
func (p *Photodiode) sendMode(l Link) {
	period := p.levelPeriod.Load()
	if period == p.sentPeriod {
		return
	}
	m := wire.Message{Type: wire.TypeMode, Seq: p.nextSeq(), Mode: wire.ModeEdges}
	if period > 0 {
		m.Mode, m.PeriodUS = wire.ModeLevels, uint16(period/1000)
	}
	p.out = wire.AppendFrame(p.out[:0], &m)
	n, _ := l.Write(p.out)
	p.stats.BytesWritten.Add(uint64(n))
	p.sentPeriod = period
}

func (p *Photodiode) sendPing(l Link) error {
	p.stats.Pings.Add(1)
	p.pingID++
	p.out = wire.AppendFrame(p.out[:0], &wire.Message{Type: wire.TypePing, Seq: p.nextSeq(), ID: p.pingID})
	sent := p.o.Clock.Now() + p.wireNs(len(p.out))
	p.pings[p.pingID%uint32(len(p.pings))] = pingRec{p.pingID, sent}
	n, err := l.Write(p.out)
	p.stats.BytesWritten.Add(uint64(n))
	return err
}

// wireNs is how long n bytes take on the device's serial line (Options.Baud; 0 with no wire).
func (p *Photodiode) wireNs(n int) int64 {
	if p.o.Baud <= 0 {
		return 0
	}
	return int64(n) * 10 * int64(time.Second) / int64(p.o.Baud)
}

func (p *Photodiode) nextSeq() uint8 { p.seq++; return p.seq - 1 }

func (p *Photodiode) logThrottled(msg string, args ...any) {
	now := p.o.Clock.Now()
	if p.lastLog != 0 && now-p.lastLog < int64(30*time.Second) {
		return
	}
	p.lastLog = now
	p.o.Log.Warn(msg, args...)
}

func frac16(f float64) uint16 { return uint16(min(max(f, 0), 1)*65535 + 0.5) }

// lostMsg is logged whichever way the link is found gone (a read error, or a ping that cannot be
// written), so the rig's log says the same thing for the same fault.
const lostMsg = "calib: photodiode lost; frames are untimed until it returns"
