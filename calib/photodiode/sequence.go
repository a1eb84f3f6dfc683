package photodiode

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"retinad/calib"
	"retinad/configs"
)

// ShowFunc puts drive level (0 black .. 1 full) on the photodiode's patch as the display's next
// frame, at the display's frame rate, and returns the flip's host ns; an error ends the
// measurement. It does not tell the link: FlipSequence does (Photodiode.Flip), which for
// device sim and avr also lights their simulated display. `retinad calibrate` passes a ticker's
// time for those, and the stimulus presenter's PresentLevel (its Flip.HostNS) for a serial
// device: nothing else differs.
type ShowFunc func(level float64) (int64, error)

// OpenSynced opens the link from cfg (see Open; refresh as there), runs it, and waits until
// its clock sync has 16 pongs, at most 5 s. stop ends it and returns Run's error.
func OpenSynced(ctx context.Context, cfg configs.Photodiode, refresh time.Duration, o calib.Options) (p *Photodiode, stop func() error, err error) {
	p, err = Open(cfg, refresh, o)
	if err != nil {
		return nil, nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	runErr := make(chan error, 1)
	go func() { runErr <- p.Run(runCtx) }()
	stop = func() error { cancel(); return <-runErr }
	st := p.Stats()
	for start := time.Now(); st.Pongs.Load() < 16; time.Sleep(10 * time.Millisecond) {
		if err := ctx.Err(); err != nil {
			stop()
			return nil, nil, fmt.Errorf("photodiode: %s: waiting for the clock sync: %w", cfg.Device, err)
		}
		if time.Since(start) > 5*time.Second {
			stop()
			return nil, nil, fmt.Errorf("photodiode: %s did not answer within 5 s", cfg.Device)
		}
	}
	return p, stop, nil
}

// FlipSequence shows n frames with the patch black and white in turn, frame f at level
// (f+first)%2, and reports each flip to p.
func FlipSequence(ctx context.Context, p *calib.Photodiode, n, first int, show ShowFunc) error {
	for f := range n {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("photodiode: %w", err)
		}
		level := float64((f + first) % 2)
		ns, err := show(level)
		if err != nil {
			return err
		}
		p.Flip(uint64(f), ns, level)
	}
	return nil
}

// onsetCounter collects a flip sequence's onsets: the timed latencies, the frames resolved
// otherwise, and done once n are resolved.
type onsetCounter struct {
	mu       sync.Mutex
	n        int
	lat      []float64 // ms
	dropped  int
	other    int // resolved otherwise than timed, dropped included
	resolved int
	done     chan struct{}
}

func newOnsetCounter(n int) *onsetCounter { return &onsetCounter{n: n, done: make(chan struct{})} }

func (c *onsetCounter) onset(o calib.Onset) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch o.Status {
	case calib.Timed:
		c.lat = append(c.lat, float64(o.LatencyNs)/1e6)
	case calib.Dropped:
		c.dropped++
		c.other++
	default:
		c.other++
	}
	if c.resolved++; c.resolved == c.n {
		close(c.done)
	}
}

// runSequence opens the link with cfg, flips n frames through show (frame 0 at level first)
// and waits up to grace for them all to resolve; c has what the link made of them.
func runSequence(ctx context.Context, cfg configs.Photodiode, refresh time.Duration, n, first int, grace time.Duration, show ShowFunc, o calib.Options) (c *onsetCounter, spurious uint64, err error) {
	c = newOnsetCounter(n)
	o.OnOnset = c.onset
	p, stop, err := OpenSynced(ctx, cfg, refresh, o)
	if err != nil {
		return nil, 0, err
	}
	flipErr := FlipSequence(ctx, p.Photodiode, n, first, show)
	if flipErr == nil {
		select {
		case <-c.done:
		case <-time.After(grace):
		case <-ctx.Done():
		}
	}
	spurious = p.Stats().Spurious.Load()
	err = errors.Join(flipErr, stop())
	return c, spurious, err
}

// MeasureLatency flips the patch black and white frames times through show (the patch starts
// dark: frame 0 lights it, and every frame changes it) on a link opened from cfg, and returns
// the flip-to-light latency of the timed frames; at least half must be timed. refresh is the
// display's frame period (as Open's); o may carry Log.
func MeasureLatency(ctx context.Context, cfg configs.Photodiode, refresh time.Duration, frames int, show ShowFunc, o calib.Options) (Latency, error) {
	c, _, err := runSequence(ctx, cfg, refresh, frames, 1, time.Second, show, o)
	if err != nil {
		return Latency{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.lat) < frames/2 || len(c.lat) < 2 {
		return Latency{}, fmt.Errorf("photodiode: latency: only %d of %d frames were timed", len(c.lat), frames)
	}
	return summarize(c.lat, c.dropped), nil
}

// VerifyEdges opens the link with cfg (the threshold to check in it) and flips the patch n
// times through show, starting dark: every flip must be timed, none dropped, no edge spurious.
func VerifyEdges(ctx context.Context, cfg configs.Photodiode, n int, show ShowFunc, o calib.Options) error {
	c, spurious, err := runSequence(ctx, cfg, 0, n, 1, 2*time.Second, show, o)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if timed := len(c.lat); timed != n || spurious != 0 {
		return fmt.Errorf("photodiode: threshold: with the new threshold %d of %d test flips were timed (%d resolved otherwise, %d spurious edges)", timed, n, c.other, spurious)
	}
	return nil
}

// summarize is the latency block of the timed latencies ms (at least two).
func summarize(ms []float64, dropped int) Latency {
	var s, ss float64
	for _, v := range ms {
		s += v
	}
	m := s / float64(len(ms))
	for _, v := range ms {
		ss += (v - m) * (v - m)
	}
	sorted := slices.Clone(ms)
	slices.Sort(sorted)
	return Latency{MeanMs: m, SdMs: math.Sqrt(ss / float64(len(ms)-1)),
		P99Ms: sorted[min(len(sorted)-1, len(sorted)*99/100)], Frames: len(ms), Dropped: dropped}
}
