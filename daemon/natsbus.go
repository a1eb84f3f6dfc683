package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"retinad/acquisition"
	"retinad/clock"
)

// natsBus adapts a NATS connection to Bus. Everything the daemon publishes goes through one
// acquisition.Publisher: its ring of nats.publish_queue messages is the only queue between the
// daemon and the connection, so a stalled connection costs the oldest waiting messages
// (counted, Status.publish_dropped) and never blocks the stamper or the frame loop.
type natsBus struct {
	nc  *nats.Conn
	pub *acquisition.Publisher
	log *slog.Logger

	mu         sync.Mutex
	clk        clock.Clock // outages are timed on it: the daemon's (useClock), else clock.System
	down       bool        // the connection is lost
	downSince  int64       // when it was lost, host ns on clk
	failedDown uint64      // the publisher's Failed count when the connection was lost
}

var (
	_ Bus           = (*natsBus)(nil)
	_ Flusher       = (*natsBus)(nil)
	_ busRunner     = (*natsBus)(nil)
	_ queueCounts   = (*natsBus)(nil)
	_ busHealth     = (*natsBus)(nil)
	_ sendLatencies = (*natsBus)(nil)
	_ clockUser     = (*natsBus)(nil)
)

// NATSBus returns a Bus over nc that publishes through a Publisher of queue messages
// (configs.NATS.PublishQueue). Publish copies the data into the queue and returns at once; the
// daemon's Run sends the queue (the bus's Run) for as long as it runs, and a session's stop
// flushes it.
//
// It watches nc's connection (its disconnect and reconnect handlers are the bus's): an external
// server's outage is shown while it lasts (Status.bus_disconnected_ns) and logged when it
// starts and ends, with the messages it cost (lost when nats.reconnect_buffer was full).
func NATSBus(nc *nats.Conn, queue int, log *slog.Logger) Bus {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &natsBus{nc: nc, pub: acquisition.NewPublisher(nc, queue, log), log: log, clk: clock.System{}}
	nc.SetDisconnectErrHandler(b.disconnected)
	nc.SetReconnectHandler(b.reconnected)
	if !nc.IsConnected() { // an external server not there yet (the first connect retries)
		b.disconnected(nc, nil)
	}
	return b
}

// useClock times the bus's outages on the daemon's clock (New calls it with Parts.Clock).
func (b *natsBus) useClock(c clock.Clock) { b.mu.Lock(); b.clk = c; b.mu.Unlock() }

func (b *natsBus) disconnected(nc *nats.Conn, err error) {
	if nc.IsClosed() {
		return // the daemon's own Stop, not an outage
	}
	b.mu.Lock()
	b.down, b.downSince, b.failedDown = true, b.clk.Now(), b.pub.Stats().Failed // once per outage
	b.mu.Unlock()
	b.log.Warn("daemon: NATS DISCONNECTED; reconnecting, what is published meanwhile waits in nats.reconnect_buffer (beyond it, lost and counted)",
		"server", nc.ConnectedUrlRedacted(), "err", err)
}

func (b *natsBus) reconnected(nc *nats.Conn) {
	b.mu.Lock()
	down, since, failed0, now := b.down, b.downSince, b.failedDown, b.clk.Now()
	b.down = false
	b.mu.Unlock()
	if !down {
		return
	}
	out, lost := time.Duration(now-since).Round(time.Millisecond), b.pub.Stats().Failed-failed0
	if lost > 0 {
		b.log.Error("daemon: NATS reconnected; messages were LOST while it was away (the reconnect buffer was full)",
			"server", nc.ConnectedUrlRedacted(), "outage", out, "lost", lost, "reconnect_buffer", nc.Opts.ReconnectBufSize)
		return
	}
	b.log.Info("daemon: NATS reconnected; nothing lost, the reconnect buffer is sent", "server", nc.ConnectedUrlRedacted(), "outage", out)
}

// health says how long the connection has been lost (0: connected). The connection's state
// decides: a first connect that had to be retried calls no reconnect handler.
func (b *natsBus) health() time.Duration {
	if b.nc.IsConnected() || b.nc.IsClosed() || b.nc.IsDraining() { // closed or closing: the daemon's own stop
		return 0
	}
	b.mu.Lock()
	down, since, now := b.down, b.downSince, b.clk.Now()
	b.mu.Unlock()
	if !down { // lost just now: the handler has not run yet
		return 1
	}
	return max(time.Duration(now-since), 1) // never 0 while down
}

func (b *natsBus) Publish(subject string, data []byte) error {
	b.pub.PublishBytes(subject, data)
	return nil
}

// Subscribe delivers subject's messages to handle on the subscription's goroutine, with
// acquisition's inbound pending limits (PendingMsgs, PendingBytes).
func (b *natsBus) Subscribe(subject string, handle func([]byte)) (func() error, error) {
	sub, err := b.nc.Subscribe(subject, func(m *nats.Msg) { handle(m.Data) })
	if err != nil {
		return nil, err
	}
	if err := sub.SetPendingLimits(acquisition.PendingMsgs, acquisition.PendingBytes); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("daemon: subscribe %s: %w", subject, err)
	}
	return sub.Unsubscribe, nil
}

// Run sends the queue until ctx ends, then what is left (acquisition.Publisher.Run).
func (b *natsBus) Run(ctx context.Context) error { return b.pub.Run(ctx) }

// Flush waits until the server has everything published so far (and so has the recording's
// stream, which captures on receipt).
func (b *natsBus) Flush(ctx context.Context) error { return b.pub.Flush(ctx) }

func (b *natsBus) queue() (queued int, dropped, failed uint64) {
	s := b.pub.Stats()
	return s.Queued, s.Dropped, s.Failed
}

func (b *natsBus) sendLatency() *acquisition.Histogram { return b.pub.SendLatency() }
