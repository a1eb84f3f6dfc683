package acquisition

import (
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	pb "retinad/proto/retinadpb"
)

// AcquisitionHandler receives what the acquisition system publishes. The message is reused
// after the call returns: copy what must be kept. Spikes is called serially, Sync is called
// serially, but the two may run at the same time (each subject has its own delivery goroutine).
type AcquisitionHandler interface {
	Spikes(m *pb.Spikes)
	Sync(m *pb.Sync)
}

// Inbound decodes and checks the spikes and sync subjects and hands valid messages to a
// handler. A malformed message (not protobuf, or inconsistent fields) is dropped, counted and
// logged (the first one and then every thousandth per subject); nothing else happens.
type Inbound struct {
	subj  Subjects
	h     AcquisitionHandler
	log   *slog.Logger
	subs  []*nats.Subscription
	spike pb.Spikes
	sync  pb.Sync

	rejectedSpikes, rejectedSync atomic.Uint64
}

// Subscribe subscribes to subj.Spikes and subj.Sync on conn. Unsubscribe (or the bus's Stop,
// which drains) ends the deliveries.
func Subscribe(conn *nats.Conn, subj Subjects, h AcquisitionHandler, log *slog.Logger) (*Inbound, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	in := &Inbound{subj: subj, h: h, log: log}
	for _, s := range []struct {
		subject string
		cb      nats.MsgHandler
	}{{subj.Spikes, func(m *nats.Msg) { in.HandleSpikes(m.Data) }}, {subj.Sync, func(m *nats.Msg) { in.HandleSync(m.Data) }}} {
		sub, err := conn.Subscribe(s.subject, s.cb)
		if err != nil {
			in.Unsubscribe()
			return nil, fmt.Errorf("acquisition: subscribe %s: %w", s.subject, err)
		}
		// Spike batches must never be dropped for a slow consumer: allow a large backlog.
		if err := sub.SetPendingLimits(1<<20, 256<<20); err != nil {
			in.Unsubscribe()
			return nil, fmt.Errorf("acquisition: subscribe %s: %w", s.subject, err)
		}
		in.subs = append(in.subs, sub)
	}
	return in, nil
}

// Unsubscribe stops the deliveries.
func (in *Inbound) Unsubscribe() {
	for _, s := range in.subs {
		_ = s.Unsubscribe()
	}
}

// Rejected returns the malformed messages dropped so far on the spikes and sync subjects.
func (in *Inbound) Rejected() (spikes, sync uint64) {
	return in.rejectedSpikes.Load(), in.rejectedSync.Load()
}

// HandleSpikes decodes one message of the spikes subject and hands it to the handler, or
// rejects it. It is what the subscription calls; tests and fuzzers call it directly.
func (in *Inbound) HandleSpikes(data []byte) {
	if err := DecodeSpikes(data, &in.spike); err != nil {
		in.reject(in.subj.Spikes, &in.rejectedSpikes, err)
		return
	}
	in.h.Spikes(&in.spike)
}

// HandleSync is HandleSpikes for the sync subject.
func (in *Inbound) HandleSync(data []byte) {
	if err := DecodeSync(data, &in.sync); err != nil {
		in.reject(in.subj.Sync, &in.rejectedSync, err)
		return
	}
	in.h.Sync(&in.sync)
}

func (in *Inbound) reject(subject string, n *atomic.Uint64, err error) {
	if c := n.Add(1); c == 1 || c%1000 == 0 {
		in.log.Warn("acquisition: rejected malformed message", "subject", subject, "rejected", c, "err", err)
	}
}

// ErrMalformed wraps every decoding or consistency error of an inbound message.
var ErrMalformed = errors.New("malformed message")

var unmarshal = proto.UnmarshalOptions{DiscardUnknown: true}

// DecodeSpikes decodes data into m (reset first) and checks it: cell_ids and times_acq_ns of
// equal length, end_acq_ns >= start_acq_ns, every time inside [start, end) when the interval is
// set, cell ids non-negative.
func DecodeSpikes(data []byte, m *pb.Spikes) error {
	if err := unmarshal.Unmarshal(data, m); err != nil {
		return fmt.Errorf("acquisition: spikes: %w: %w", ErrMalformed, err)
	}
	if len(m.CellIds) != len(m.TimesAcqNs) {
		return fmt.Errorf("acquisition: spikes: %w: %d cell_ids but %d times_acq_ns; want one of each per spike", ErrMalformed, len(m.CellIds), len(m.TimesAcqNs))
	}
	if m.EndAcqNs < m.StartAcqNs {
		return fmt.Errorf("acquisition: spikes: %w: end_acq_ns %d before start_acq_ns %d", ErrMalformed, m.EndAcqNs, m.StartAcqNs)
	}
	bounded := m.EndAcqNs > m.StartAcqNs
	for i, t := range m.TimesAcqNs {
		if m.CellIds[i] < 0 {
			return fmt.Errorf("acquisition: spikes: %w: cell_ids[%d] = %d is negative", ErrMalformed, i, m.CellIds[i])
		}
		if bounded && (t < m.StartAcqNs || t >= m.EndAcqNs) {
			return fmt.Errorf("acquisition: spikes: %w: times_acq_ns[%d] = %d outside the batch [%d, %d)", ErrMalformed, i, t, m.StartAcqNs, m.EndAcqNs)
		}
	}
	return nil
}

// DecodeSync decodes data into m (reset first) and checks it: a known source, frame only with has_frame.
func DecodeSync(data []byte, m *pb.Sync) error {
	if err := unmarshal.Unmarshal(data, m); err != nil {
		return fmt.Errorf("acquisition: sync: %w: %w", ErrMalformed, err)
	}
	if _, ok := pb.Sync_Source_name[int32(m.Source)]; !ok {
		return fmt.Errorf("acquisition: sync: %w: source %d is not PHOTODIODE (1) or TTL (2)", ErrMalformed, m.Source)
	}
	if m.Frame != 0 && !m.HasFrame {
		return fmt.Errorf("acquisition: sync: %w: frame %d set but has_frame false", ErrMalformed, m.Frame)
	}
	return nil
}
