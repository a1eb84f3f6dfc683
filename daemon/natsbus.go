package daemon

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go"

	"retinad/acquisition"
)

// natsBus adapts a NATS connection to Bus. Everything the daemon publishes goes through one
// acquisition.Publisher: its ring of nats.publish_queue messages is the only queue between the
// daemon and the connection, so a stalled connection costs the oldest waiting messages
// (counted, Status.publish_dropped) and never blocks the stamper or the frame loop.
type natsBus struct {
	nc  *nats.Conn
	pub *acquisition.Publisher
}

var (
	_ Bus         = (*natsBus)(nil)
	_ Flusher     = (*natsBus)(nil)
	_ busRunner   = (*natsBus)(nil)
	_ queueCounts = (*natsBus)(nil)
)

// NATSBus returns a Bus over nc that publishes through a Publisher of queue messages
// (configs.NATS.PublishQueue). Publish copies the data into the queue and returns at once; the
// daemon's Run sends the queue (the bus's Run) for as long as it runs, and a session's stop
// flushes it.
func NATSBus(nc *nats.Conn, queue int, log *slog.Logger) Bus {
	return &natsBus{nc: nc, pub: acquisition.NewPublisher(nc, queue, log)}
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
