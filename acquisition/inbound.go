package acquisition

import (
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"retinad/proto/contract"
	pb "retinad/proto/retinadpb"
)

// AcquisitionHandler receives what the acquisition system publishes, once the message has
// passed every check of the decoder and of the sequence. The message is reused after the call
// returns: copy what must be kept. The handler may still refuse the message for what only it
// can judge (ReasonOffClock: its times are far from the fitted acquisition clock), by returning
// that reason; ReasonNone accepts it. Spikes is called serially, Sync is called serially, but
// the two may run at the same time (each subject has its own delivery goroutine).
type AcquisitionHandler interface {
	Spikes(m *pb.Spikes) Reason
	Sync(m *pb.Sync) Reason
}

// Reason is why an inbound message was rejected (ReasonNone: it was not).
type Reason uint8

// The reasons, each counted on its own (Inbound.Rejects, Status.inbound_rejects).
const (
	ReasonNone            Reason = iota
	ReasonNotProtobuf            // the payload does not decode as the subject's message
	ReasonLengthMismatch         // spikes: cell_ids and times_acq_ns of different lengths
	ReasonEndBeforeStart         // spikes: end_acq_ns < start_acq_ns
	ReasonBatchTooLong           // spikes: end_acq_ns - start_acq_ns > MaxBatchNs
	ReasonTimeOutside            // spikes: a time outside [start_acq_ns, end_acq_ns)
	ReasonCellID                 // spikes: a cell id negative or above MaxCellID
	ReasonTooManySpikes          // spikes: more than MaxBatchSpikes in one batch
	ReasonUnknownSource          // sync: source is not one of the enum's values
	ReasonFrameNoHasFrame        // sync: frame set but has_frame false
	ReasonSeqDuplicate           // seq equal to the last accepted one
	ReasonSeqBack                // seq below the last accepted one
	ReasonSeqJump                // seq more than MaxSeqJump past the last accepted one
	ReasonOffClock               // times far from the fitted acquisition clock (the handler's judgement)
	NumReasons
)

var reasonNames = [NumReasons]string{
	"", "not_protobuf", "length_mismatch", "end_before_start", "batch_too_long", "time_outside_batch",
	"cell_id_out_of_range", "too_many_spikes", "unknown_source", "frame_without_has_frame",
	"seq_duplicate", "seq_back", "seq_jump", "off_clock_fit",
}

// String is the reason's name as Status.inbound_rejects carries it (after "spikes." or "sync.").
func (r Reason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// Bounds of an inbound message, beyond which it is absurd rather than merely unusual.
const (
	// MaxCellID is the largest cell id accepted: far beyond any spike sorter's cluster count,
	// small enough that an id is never a time or a garbage word.
	MaxCellID = 1<<24 - 1
	// MaxBatchNs is the longest interval one spike batch may cover (batches are 10-100 ms).
	MaxBatchNs = 10_000_000_000
	// MaxBatchSpikes is the most spikes one batch may carry (1 s of 10,000 cells at 100 Hz).
	MaxBatchSpikes = 1_000_000
	// MaxSeqJump is the largest forward jump of seq taken as a gap rather than as garbage
	// (at 100 batches a second, about 3 hours lost).
	MaxSeqJump = 1 << 20
	// SeqRestartAfter is how many messages in a row, each seq one more than the last, below
	// the accepted sequence it takes to believe the acquisition system restarted its count;
	// until then they are rejected as going back.
	SeqRestartAfter = 16
)

// PendingMsgs and PendingBytes bound what an inbound subscription holds for its handler: spike
// batches must not be dropped for a slow consumer (a backlog of minutes fits), but a flood must
// not take the host's memory.
const (
	PendingMsgs  = 1 << 20
	PendingBytes = 256 << 20
)

// InboundCounts are an Inbound's counters since it was made, per subject.
type InboundCounts struct {
	Rejects  [2][NumReasons]uint64 // [0] spikes, [1] sync; index ReasonNone is unused
	Gaps     [2]uint64             // messages missing by their seq
	Accepted [2]uint64             // messages the handler took
}

// Rejected is the total of Rejects.
func (c InboundCounts) Rejected() uint64 {
	var n uint64
	for s := range c.Rejects {
		for _, v := range c.Rejects[s][1:] {
			n += v
		}
	}
	return n
}

// Sub subtracts base (counters at a session's start) from c.
func (c InboundCounts) Sub(base InboundCounts) InboundCounts {
	for s := range c.Rejects {
		for r := range c.Rejects[s] {
			c.Rejects[s][r] -= base.Rejects[s][r]
		}
		c.Gaps[s] -= base.Gaps[s]
		c.Accepted[s] -= base.Accepted[s]
	}
	return c
}

// Inbound decodes and checks the spikes and sync subjects and hands valid messages to a
// handler. A rejected message is dropped, counted by subject and reason, and logged (the first
// one of each subject and then every thousandth); nothing else happens. Sequence gaps are
// counted. HandleSpikes and HandleSync may each be called from one goroutine at a time.
type Inbound struct {
	subj  contract.Subjects
	h     AcquisitionHandler
	log   *slog.Logger
	subs  []*nats.Subscription
	spike pb.Spikes
	sync  pb.Sync
	seq   [2]seqTrack

	rejects  [2][NumReasons]atomic.Uint64
	total    [2]atomic.Uint64
	gaps     [2]atomic.Uint64
	accepted [2]atomic.Uint64
}

// NewInbound returns an Inbound handing subj's valid messages to h, for a caller that
// subscribes itself (the daemon's bus) and calls HandleSpikes and HandleSync.
func NewInbound(subj contract.Subjects, h AcquisitionHandler, log *slog.Logger) *Inbound {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Inbound{subj: subj, h: h, log: log}
}

// Subscribe subscribes to subj.Spikes and subj.Sync on conn. Unsubscribe (or the bus's Stop,
// which drains) ends the deliveries.
func Subscribe(conn *nats.Conn, subj contract.Subjects, h AcquisitionHandler, log *slog.Logger) (*Inbound, error) {
	in := NewInbound(subj, h, log)
	for _, s := range []struct {
		subject string
		cb      nats.MsgHandler
	}{{subj.Spikes, func(m *nats.Msg) { in.HandleSpikes(m.Data) }}, {subj.Sync, func(m *nats.Msg) { in.HandleSync(m.Data) }}} {
		sub, err := conn.Subscribe(s.subject, s.cb)
		if err != nil {
			in.Unsubscribe()
			return nil, fmt.Errorf("acquisition: subscribe %s: %w", s.subject, err)
		}
		if err := sub.SetPendingLimits(PendingMsgs, PendingBytes); err != nil {
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

// Rejected returns the messages dropped so far on the spikes and sync subjects, all reasons.
func (in *Inbound) Rejected() (spikes, sync uint64) {
	return in.total[0].Load(), in.total[1].Load()
}

// Counts returns every counter; safe from any goroutine, allocates nothing.
func (in *Inbound) Counts() InboundCounts {
	var c InboundCounts
	for s := range in.rejects {
		for r := range in.rejects[s] {
			c.Rejects[s][r] = in.rejects[s][r].Load()
		}
		c.Gaps[s] = in.gaps[s].Load()
		c.Accepted[s] = in.accepted[s].Load()
	}
	return c
}

const (
	subSpikes = 0
	subSync   = 1
)

// HandleSpikes decodes one message of the spikes subject and hands it to the handler, or
// rejects it. It is what the subscription calls; tests and fuzzers call it directly.
func (in *Inbound) HandleSpikes(data []byte) {
	if err := DecodeSpikes(data, &in.spike); err != nil {
		in.reject(subSpikes, ReasonOf(err), err)
		return
	}
	if r := in.sequence(subSpikes, in.spike.Seq); r != ReasonNone {
		in.reject(subSpikes, r, fmt.Errorf("acquisition: spikes: %w: seq %d after %d", ErrMalformed, in.spike.Seq, in.seq[subSpikes].last))
		return
	}
	if r := in.h.Spikes(&in.spike); r != ReasonNone {
		in.reject(subSpikes, r, fmt.Errorf("acquisition: spikes: seq %d: interval [%d, %d) refused: %v", in.spike.Seq, in.spike.StartAcqNs, in.spike.EndAcqNs, r))
		return
	}
	in.accepted[subSpikes].Add(1)
}

// HandleSync is HandleSpikes for the sync subject.
func (in *Inbound) HandleSync(data []byte) {
	if err := DecodeSync(data, &in.sync); err != nil {
		in.reject(subSync, ReasonOf(err), err)
		return
	}
	if r := in.sequence(subSync, in.sync.Seq); r != ReasonNone {
		in.reject(subSync, r, fmt.Errorf("acquisition: sync: %w: seq %d after %d", ErrMalformed, in.sync.Seq, in.seq[subSync].last))
		return
	}
	if r := in.h.Sync(&in.sync); r != ReasonNone {
		in.reject(subSync, r, fmt.Errorf("acquisition: sync: seq %d: time_acq_ns %d refused: %v", in.sync.Seq, in.sync.TimeAcqNs, r))
		return
	}
	in.accepted[subSync].Add(1)
}

func (in *Inbound) reject(sub int, r Reason, err error) {
	in.rejects[sub][r].Add(1)
	if c := in.total[sub].Add(1); c == 1 || c%1000 == 0 {
		in.log.Warn("acquisition: rejected inbound message", "subject", in.subject(sub), "reason", r.String(), "rejected", c, "err", err)
	}
}

func (in *Inbound) subject(sub int) string {
	if sub == subSync {
		return in.subj.Sync
	}
	return in.subj.Spikes
}

// seqTrack follows one subject's seq: the last accepted, and a run of messages below it that
// may be a restarted count.
type seqTrack struct {
	started  bool
	last     uint64
	restart  uint64 // seq of the newest message of the run below last
	restartN int    // messages in that run, each one more than the one before
}

// sequence checks seq against the subject's last accepted one, counts a gap, and accepts it
// (ReasonNone) or says why not.
func (in *Inbound) sequence(sub int, seq uint64) Reason {
	t := &in.seq[sub]
	switch {
	case !t.started:
		t.started = true
	case seq == t.last:
		return ReasonSeqDuplicate
	case seq < t.last:
		if t.restartN > 0 && seq == t.restart+1 {
			t.restartN++
		} else {
			t.restartN = 1
		}
		t.restart = seq
		if t.restartN < SeqRestartAfter {
			return ReasonSeqBack
		}
		in.log.Warn("acquisition: the acquisition system restarted its sequence", "subject", in.subject(sub), "from", t.last, "to", seq)
	case seq-t.last > MaxSeqJump:
		return ReasonSeqJump
	default:
		in.gaps[sub].Add(seq - t.last - 1)
	}
	t.last, t.restartN = seq, 0
	return ReasonNone
}

// ErrMalformed wraps every decoding or consistency error of an inbound message.
var ErrMalformed = errors.New("malformed message")

// DecodeError is a rejected inbound message: why (its Reason) and the details.
type DecodeError struct {
	Reason Reason
	Err    error
}

func (e *DecodeError) Error() string { return e.Err.Error() }
func (e *DecodeError) Unwrap() error { return e.Err }

// ReasonOf returns the Reason of a DecodeSpikes or DecodeSync error (ReasonNone for nil, and
// ReasonNotProtobuf for any other error).
func ReasonOf(err error) Reason {
	var de *DecodeError
	switch {
	case err == nil:
		return ReasonNone
	case errors.As(err, &de):
		return de.Reason
	}
	return ReasonNotProtobuf
}

func rejectErr(r Reason, format string, args ...any) error {
	return &DecodeError{Reason: r, Err: fmt.Errorf(format, args...)}
}

var unmarshal = proto.UnmarshalOptions{DiscardUnknown: true}

// DecodeSpikes decodes data into m (reset first) and checks it: cell_ids and times_acq_ns of
// equal length, at most MaxBatchSpikes, end_acq_ns >= start_acq_ns and no more than MaxBatchNs
// after it, every time inside [start, end) when the interval is set (end > start: a batch
// without one, as some recorders write, bounds nothing), cell ids in [0, MaxCellID]. Errors
// are *DecodeError wrapping ErrMalformed.
func DecodeSpikes(data []byte, m *pb.Spikes) error {
	if err := unmarshal.Unmarshal(data, m); err != nil {
		return rejectErr(ReasonNotProtobuf, "acquisition: spikes: %w: %w", ErrMalformed, err)
	}
	if len(m.CellIds) != len(m.TimesAcqNs) {
		return rejectErr(ReasonLengthMismatch, "acquisition: spikes: %w: %d cell_ids but %d times_acq_ns; want one of each per spike", ErrMalformed, len(m.CellIds), len(m.TimesAcqNs))
	}
	if len(m.CellIds) > MaxBatchSpikes {
		return rejectErr(ReasonTooManySpikes, "acquisition: spikes: %w: %d spikes in one batch; want at most %d", ErrMalformed, len(m.CellIds), MaxBatchSpikes)
	}
	if m.EndAcqNs < m.StartAcqNs {
		return rejectErr(ReasonEndBeforeStart, "acquisition: spikes: %w: end_acq_ns %d before start_acq_ns %d", ErrMalformed, m.EndAcqNs, m.StartAcqNs)
	}
	if uint64(m.EndAcqNs)-uint64(m.StartAcqNs) > MaxBatchNs {
		return rejectErr(ReasonBatchTooLong, "acquisition: spikes: %w: [start_acq_ns, end_acq_ns) = [%d, %d) is longer than %d ns", ErrMalformed, m.StartAcqNs, m.EndAcqNs, int64(MaxBatchNs))
	}
	bounded := m.EndAcqNs > m.StartAcqNs
	for i, t := range m.TimesAcqNs {
		if id := m.CellIds[i]; id < 0 || id > MaxCellID {
			return rejectErr(ReasonCellID, "acquisition: spikes: %w: cell_ids[%d] = %d; want 0..%d", ErrMalformed, i, id, MaxCellID)
		}
		if bounded && (t < m.StartAcqNs || t >= m.EndAcqNs) {
			return rejectErr(ReasonTimeOutside, "acquisition: spikes: %w: times_acq_ns[%d] = %d outside the batch [%d, %d)", ErrMalformed, i, t, m.StartAcqNs, m.EndAcqNs)
		}
	}
	return nil
}

// DecodeSync decodes data into m (reset first) and checks it: a known source, frame only with
// has_frame. Errors are *DecodeError wrapping ErrMalformed.
func DecodeSync(data []byte, m *pb.Sync) error {
	if err := unmarshal.Unmarshal(data, m); err != nil {
		return rejectErr(ReasonNotProtobuf, "acquisition: sync: %w: %w", ErrMalformed, err)
	}
	if _, ok := pb.Sync_Source_name[int32(m.Source)]; !ok {
		return rejectErr(ReasonUnknownSource, "acquisition: sync: %w: source %d is not PHOTODIODE (1) or TTL (2)", ErrMalformed, m.Source)
	}
	if m.Frame != 0 && !m.HasFrame {
		return rejectErr(ReasonFrameNoHasFrame, "acquisition: sync: %w: frame %d set but has_frame false", ErrMalformed, m.Frame)
	}
	return nil
}
