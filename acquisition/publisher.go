package acquisition

import (
	"context"
	"fmt"
	"log/slog"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"
)

// Publisher publishes protobuf messages without ever blocking its caller: Publish marshals the
// message into a buffer of a bounded ring and returns; Run sends the ring's messages on the
// connection. When the ring is full the oldest waiting message is dropped and counted
// (drop-oldest: the newest frame onsets and predictions are worth more than stale ones).
//
// Publish may be called from any goroutine (the frame loop is the intended caller) and, once the
// ring's buffers have grown to the message sizes in use, does not allocate. Subjects are kept by
// reference: pass strings made once (e.g. from Subjects), not built per call.
type Publisher struct {
	conn *nats.Conn
	log  *slog.Logger
	mo   proto.MarshalOptions

	mu    sync.Mutex
	slots []slot
	head  int // oldest waiting
	n     int // waiting
	wake  chan struct{}
	// accepted counts messages queued, handled those handed to the connection or dropped; a
	// Flush waits for handled to reach accepted as it was at its call.
	accepted, handled uint64
	progress          chan struct{} // closed when handled grows while a Flush waits; nil: none waits

	published, dropped, failed, marshalErr atomic.Uint64
	sendLat                                *Histogram // queued to handed to the connection
}

type slot struct {
	subject string
	data    []byte
	queued  time.Time // when Publish queued it (monotonic)
}

// sendLatencyBounds are the buckets of Publisher.SendLatency: 1 us to about 1 s by doubling.
var sendLatencyBounds = ExponentialNs(1000, 2, 21)

// PublisherStats are a publisher's counters since it was made.
type PublisherStats struct {
	Queued    int    // waiting in the ring now
	Published uint64 // handed to the connection
	Dropped   uint64 // dropped by the overflow policy (oldest first)
	Failed    uint64 // rejected by the connection (closed, payload too large)
	Invalid   uint64 // could not be marshalled
}

// NewPublisher makes a publisher on conn with a ring of capacity messages (configs.NATS
// PublishQueue; at least 1).
func NewPublisher(conn *nats.Conn, capacity int, log *slog.Logger) *Publisher {
	if capacity < 1 {
		capacity = 1
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Publisher{conn: conn, log: log, slots: make([]slot, capacity), wake: make(chan struct{}, 1),
		sendLat: NewHistogram(sendLatencyBounds...)}
	for i := range p.slots {
		// 512 bytes: a frame onset with its source's description (300 to 450 bytes with the
		// example configs) fits at once, so the per-frame path does not wait for every slot
		// to have met one (with 4096 slots, minutes) to stop allocating.
		p.slots[i].data = make([]byte, 0, 512)
	}
	return p
}

// Publish queues m for subject and returns at once. It reports false when m could not be
// marshalled (counted as Invalid) and true otherwise, even if queuing it dropped an older message.
func (p *Publisher) Publish(subject string, m proto.Message) bool {
	p.mu.Lock()
	s := p.reserve()
	data, err := p.mo.MarshalAppend(s.data[:0], m)
	if err != nil {
		p.mu.Unlock()
		p.marshalErr.Add(1)
		return false
	}
	p.commit(s, subject, data)
	return true
}

// PublishBytes is Publish for a message already marshalled: data is copied into the ring, so
// the caller may reuse it at once. It never blocks and, once the slot has grown to len(data),
// allocates nothing.
func (p *Publisher) PublishBytes(subject string, data []byte) {
	p.mu.Lock()
	s := p.reserve()
	if cap(s.data) < len(data) {
		// To the next power of two: a message a few bytes longer than the last in this slot (a
		// varint that crossed a byte, an untimed frame's onset then a timed one) finds room.
		s.data = make([]byte, 0, 1<<bits.Len(uint(len(data)-1)))
	}
	p.commit(s, subject, append(s.data[:0], data...))
}

// reserve returns the slot after the newest waiting message, dropping the oldest when the ring
// is full. Called with mu held.
func (p *Publisher) reserve() *slot {
	if p.n == len(p.slots) { // full: drop the oldest
		p.head = (p.head + 1) % len(p.slots)
		p.n--
		p.dropped.Add(1)
		p.advance()
	}
	return &p.slots[(p.head+p.n)%len(p.slots)]
}

// commit makes the reserved slot s the newest waiting message, releases mu and wakes Run.
func (p *Publisher) commit(s *slot, subject string, data []byte) {
	s.subject, s.data, s.queued = subject, data, time.Now()
	p.n++
	p.accepted++
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Flush waits until every message queued before the call has been handed to the connection
// (or dropped by the overflow policy), then until the server has received them all: a session's
// recording, which the server captures on receipt, then holds them. It needs Run running.
func (p *Publisher) Flush(ctx context.Context) error {
	p.mu.Lock()
	target := p.accepted
	p.mu.Unlock()
	for {
		p.mu.Lock()
		if p.handled >= target {
			p.mu.Unlock()
			break
		}
		if p.progress == nil {
			p.progress = make(chan struct{})
		}
		ch := p.progress
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("acquisition: flush: %d messages still queued: %w", p.Stats().Queued, ctx.Err())
		}
	}
	if err := p.conn.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("acquisition: flush: %w", err)
	}
	return nil
}

// Stats returns the counters; safe from any goroutine.
func (p *Publisher) Stats() PublisherStats {
	p.mu.Lock()
	q := p.n
	p.mu.Unlock()
	return PublisherStats{Queued: q, Published: p.published.Load(), Dropped: p.dropped.Load(),
		Failed: p.failed.Load(), Invalid: p.marshalErr.Load()}
}

// Run sends queued messages until ctx ends, then sends what is still queued and flushes the
// connection. It returns nil on cancellation. Run it once, in its own goroutine.
func (p *Publisher) Run(ctx context.Context) error {
	var buf []byte
	for {
		for {
			var subject string
			var queued time.Time
			var ok bool
			subject, buf, queued, ok = p.pop(buf)
			if !ok {
				break
			}
			err := p.conn.Publish(subject, buf)
			p.sendLat.Observe(int64(time.Since(queued)))
			if err != nil {
				if p.failed.Add(1) == 1 || p.failed.Load()%1000 == 0 {
					p.log.Warn("acquisition: publish failed", "subject", subject, "failed", p.failed.Load(), "err", err)
				}
			} else {
				p.published.Add(1)
			}
			p.mu.Lock()
			p.advance()
			p.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			if _, _, ok := p.peek(); ok {
				continue // drain what arrived meanwhile, then stop
			}
			// Connected: wait (briefly) for the server to have it all. Reconnecting: the
			// connection's reconnect buffer holds it; the bus's Stop decides its fate.
			if p.conn.IsConnected() {
				if err := p.conn.FlushTimeout(2 * time.Second); err != nil {
					p.log.Warn("acquisition: final flush", "err", err)
				}
			}
			return nil
		case <-p.wake:
		}
	}
}

// pop copies the oldest waiting message into buf (grown as needed) and frees its slot.
func (p *Publisher) pop(buf []byte) (string, []byte, time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n == 0 {
		return "", buf, time.Time{}, false
	}
	s := &p.slots[p.head]
	buf = append(buf[:0], s.data...)
	subject, queued := s.subject, s.queued
	p.head = (p.head + 1) % len(p.slots)
	p.n--
	return subject, buf, queued, true
}

// SendLatency is the histogram of each message's time from Publish to its hand-over to the
// connection (the wait in the queue plus nats.Conn.Publish, which writes to the connection's
// buffer): the NATS publish latency of /metrics. Safe from any goroutine.
func (p *Publisher) SendLatency() *Histogram { return p.sendLat }

// advance counts one message handled (sent, failed or dropped) and wakes a waiting Flush.
// Called with mu held.
func (p *Publisher) advance() {
	p.handled++
	if p.progress != nil {
		close(p.progress)
		p.progress = nil
	}
}

func (p *Publisher) peek() (string, int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return "", p.n, p.n > 0
}

// String is for logs.
func (s PublisherStats) String() string {
	return fmt.Sprintf("queued=%d published=%d dropped=%d failed=%d invalid=%d", s.Queued, s.Published, s.Dropped, s.Failed, s.Invalid)
}
