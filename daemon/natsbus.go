package daemon

import (
	"context"

	"github.com/nats-io/nats.go"
)

// natsBus adapts a NATS connection to Bus.
type natsBus struct{ nc *nats.Conn }

var (
	_ Bus     = natsBus{}
	_ Flusher = natsBus{}
)

// NATSBus returns a Bus over nc. Publish copies the data into the connection's buffer, so the
// caller may reuse it; it blocks only if that buffer is full (the server is unreachable and the
// reconnect buffer is exhausted, when it returns an error instead).
func NATSBus(nc *nats.Conn) Bus { return natsBus{nc} }

func (b natsBus) Publish(subject string, data []byte) error { return b.nc.Publish(subject, data) }

func (b natsBus) Subscribe(subject string, handle func([]byte)) (func() error, error) {
	sub, err := b.nc.Subscribe(subject, func(m *nats.Msg) { handle(m.Data) })
	if err != nil {
		return nil, err
	}
	return sub.Unsubscribe, nil
}

// Flush waits until the server has everything published so far (and so has the recording's
// stream, which captures on receipt).
func (b natsBus) Flush(ctx context.Context) error { return b.nc.FlushWithContext(ctx) }
