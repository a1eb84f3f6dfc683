package acquisition

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"retinad/proto/contract"
	pb "retinad/proto/retinadpb"
)

// StreamName is the JetStream stream that records rig's sessions: RETINAD_<rig>.
func StreamName(rig string) string { return "RETINAD_" + rig }

// RecordOptions set up the recording stream.
type RecordOptions struct {
	// MaxAge deletes recorded messages older than this (old sessions go); 0 keeps them until
	// removed.
	MaxAge time.Duration
	// MaxBytes bounds the stream; once it is full, new messages are refused (DiscardNew), so
	// the recording fails loudly instead of deleting old sessions. 0: no limit (the server's
	// JetStream limits, and the disk, still apply).
	MaxBytes int64
}

// Record makes sure the rig's file-backed JetStream stream captures every subject of
// subj.Recorded(): from then on, everything published there is stored, by the server, without
// the daemon's help. Sessions are delimited by the SessionEvent START/STOP messages the daemon
// publishes on subj.Session; every daemon message also carries its session id.
//
// An existing stream is never deleted or recreated: when its config differs from what o asks,
// the safe changes (limits, description, new subjects) are made in place, and any other
// difference is refused with an error naming it (see streamUpdate).
func Record(ctx context.Context, conn *nats.Conn, subj contract.Subjects, o RecordOptions) error {
	js, err := jetstream.New(conn)
	if err != nil {
		return fmt.Errorf("acquisition: recording: %w", err)
	}
	want := streamConfig(subj, o)
	s, err := js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if _, err := js.CreateStream(ctx, want); err != nil {
			return fmt.Errorf("acquisition: create recording stream %s: %w", want.Name, storageHint(err, o.MaxBytes))
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("acquisition: recording stream %s: %w", want.Name, err)
	}
	info := s.CachedInfo()
	upd, err := streamUpdate(info.Config, want, info.State.Bytes)
	if err != nil || upd == nil {
		return err
	}
	if _, err := js.UpdateStream(ctx, *upd); err != nil {
		return fmt.Errorf("acquisition: update recording stream %s: %w", want.Name, storageHint(err, o.MaxBytes))
	}
	return nil
}

// errStorageResources is the server's "insufficient storage resources available".
const errStorageResources jetstream.ErrorCode = 10047

// storageHint says what to do when the server refuses a max_bytes larger than it may store.
func storageHint(err error, maxBytes int64) error {
	var api *jetstream.APIError
	if maxBytes <= 0 || !errors.As(err, &api) || api.ErrorCode != errStorageResources {
		return err
	}
	return fmt.Errorf("recording.max_bytes %d is more than the NATS server may store (by default 3/4 of the disk's free space when it starts); lower it or free space: %w", maxBytes, err)
}

// streamConfig is the recording stream Record asks for.
func streamConfig(subj contract.Subjects, o RecordOptions) jetstream.StreamConfig {
	cfg := jetstream.StreamConfig{
		Name:        StreamName(subj.Rig),
		Description: "retinad sessions of rig " + subj.Rig,
		Subjects:    subj.Recorded(),
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardNew,
		MaxAge:      o.MaxAge,
		MaxBytes:    o.MaxBytes,
		MaxMsgSize:  8 << 20,
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = -1
	}
	return cfg
}

// streamUpdate compares the existing stream's config have (holding recorded bytes) with want.
// It returns nil when nothing differs, the updated config when every difference is safe (it
// deletes nothing recorded, except what max_age is documented to delete), or an error naming
// the first difference that is not: another storage or retention, subjects no longer recorded,
// or a max_bytes below what is already stored (the server would delete old sessions to fit).
func streamUpdate(have, want jetstream.StreamConfig, recorded uint64) (*jetstream.StreamConfig, error) {
	refuse := func(f string, a ...any) (*jetstream.StreamConfig, error) {
		return nil, fmt.Errorf("acquisition: recording stream %s exists with another config: %s; it is never deleted or recreated: move the recording folder aside (recording.dir) or use the config it was made with",
			have.Name, fmt.Sprintf(f, a...))
	}
	if have.Storage != want.Storage {
		return refuse("storage %v, want %v", have.Storage, want.Storage)
	}
	if have.Retention != want.Retention {
		return refuse("retention %v, want %v", have.Retention, want.Retention)
	}
	for _, s := range have.Subjects {
		if !slices.Contains(want.Subjects, s) {
			return refuse("it records subject %q, which this daemon does not (want %v)", s, want.Subjects)
		}
	}
	if want.MaxBytes > 0 && uint64(want.MaxBytes) < recorded {
		return refuse("recording.max_bytes %d is below the %d bytes already recorded (the server would delete old sessions to fit); raise it", want.MaxBytes, recorded)
	}
	upd := have
	upd.Description, upd.Discard, upd.MaxAge, upd.MaxBytes, upd.MaxMsgSize = want.Description, want.Discard, want.MaxAge, want.MaxBytes, want.MaxMsgSize
	upd.Subjects = want.Subjects
	if upd.Description == have.Description && upd.Discard == have.Discard && upd.MaxAge == have.MaxAge &&
		upd.MaxBytes == have.MaxBytes && upd.MaxMsgSize == have.MaxMsgSize && slices.Equal(upd.Subjects, have.Subjects) {
		return nil, nil
	}
	return &upd, nil
}

// ErrNoSession means the recording has no session of that id.
var ErrNoSession = errors.New("no such session")

// SessionRange is where a session lies in the rig's stream: sequences [First, Last].
type SessionRange struct {
	Session     string
	First, Last uint64
	Start, Stop *pb.SessionEvent // Stop is nil when the session never stopped (a crash)
}

// FindSession locates session in the rig's recording: from its START event to its STOP event,
// or to the next session's START, or to the end of the stream.
func FindSession(ctx context.Context, conn *nats.Conn, subj contract.Subjects, session string) (SessionRange, error) {
	r := SessionRange{Session: session}
	info, err := streamInfo(ctx, conn, subj)
	if err != nil {
		return r, err
	}
	var ev pb.SessionEvent
	found := false
	err = scan(ctx, conn, subj, []string{subj.Session}, 1, info.State.LastSeq, func(m jetstream.Msg, seq uint64) (bool, error) {
		if err := proto.Unmarshal(m.Data(), &ev); err != nil {
			return false, fmt.Errorf("acquisition: %s sequence %d: %w", m.Subject(), seq, err)
		}
		switch {
		case !found && ev.Session == session && ev.Kind == pb.SessionEvent_START:
			found, r.First, r.Start = true, seq, proto.Clone(&ev).(*pb.SessionEvent)
		case found && (ev.Session == session && ev.Kind == pb.SessionEvent_STOP || ev.Kind == pb.SessionEvent_START):
			r.Last = seq
			if ev.Kind == pb.SessionEvent_STOP {
				r.Stop = proto.Clone(&ev).(*pb.SessionEvent)
			} else {
				r.Last = seq - 1
			}
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return r, err
	}
	if !found {
		return r, fmt.Errorf("acquisition: session %q in stream %s: %w", session, recordOf(subj), ErrNoSession)
	}
	if r.Last == 0 {
		r.Last = info.State.LastSeq
	}
	return r, nil
}

// recordOf is the stream that holds subj's recording: the rig's own, or the lab archive.
func recordOf(subj contract.Subjects) string {
	if subj.Stream != "" {
		return subj.Stream
	}
	return StreamName(subj.Rig)
}

// ReadSession calls f for every recorded message of the session's range, in order. The data
// slice is valid only during the call.
func ReadSession(ctx context.Context, conn *nats.Conn, subj contract.Subjects, r SessionRange, f func(subject string, seq uint64, data []byte) error) error {
	var filters []string // all of the rig's stream
	if subj.Stream != "" {
		filters = []string{subj.All} // the archive holds every rig's
	}
	return scan(ctx, conn, subj, filters, r.First, r.Last, func(m jetstream.Msg, seq uint64) (bool, error) {
		return true, f(m.Subject(), seq, m.Data())
	})
}

func streamInfo(ctx context.Context, conn *nats.Conn, subj contract.Subjects) (*jetstream.StreamInfo, error) {
	js, err := jetstream.New(conn)
	if err != nil {
		return nil, fmt.Errorf("acquisition: recording: %w", err)
	}
	s, err := js.Stream(ctx, recordOf(subj))
	if err != nil {
		return nil, fmt.Errorf("acquisition: recording stream %s: %w", recordOf(subj), err)
	}
	return s.Info(ctx)
}

// scan reads the stream's messages matching filters (nil: all) with sequences in [first, last]
// through one ephemeral pull consumer of its own, until f says stop or the range ends.
func scan(ctx context.Context, conn *nats.Conn, subj contract.Subjects, filters []string, first, last uint64, f func(jetstream.Msg, uint64) (bool, error)) error {
	if last < first || last == 0 {
		return nil
	}
	js, err := jetstream.New(conn)
	if err != nil {
		return fmt.Errorf("acquisition: recording: %w", err)
	}
	name := recordOf(subj)
	cfg := jetstream.ConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   first,
		AckPolicy:     jetstream.AckNonePolicy,
		MemoryStorage: true,
		Replicas:      1,
		// Removed by the server if this process dies before deleting it.
		InactiveThreshold: time.Minute,
	}
	if len(filters) == 1 { // servers before 2.10 take one filter subject only
		cfg.FilterSubject = filters[0]
	} else {
		cfg.FilterSubjects = filters
	}
	cons, err := js.CreateConsumer(ctx, name, cfg)
	if err != nil {
		return fmt.Errorf("acquisition: read stream %s: %w", name, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = js.DeleteConsumer(dctx, name, cons.CachedInfo().Name) // else it expires
	}()
	// On a replicated stream the consumer may live on a replica that has not yet stored the
	// newest messages, and it says none are pending until it has: an end short of last is
	// taken only once the consumer has stayed empty for replicaSettle.
	replicated := false
	if st, err := js.Stream(ctx, name); err == nil {
		replicated = st.CachedInfo().Config.Replicas > 1
	}
	var delivered uint64 // the consumer's sequence of the last message read
	var quiet time.Duration
	for {
		n, done, err := scanBatch(ctx, cons, name, last, &delivered, f)
		if err != nil || done {
			return err
		}
		if n > 0 {
			quiet = 0
		} else if !replicated || quiet >= replicaSettle {
			return nil
		} else {
			select {
			case <-ctx.Done():
			case <-time.After(replicaPoll):
			}
			quiet += replicaPoll
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// replicaSettle is how long scan waits on a replicated stream for messages a lagging replica
// has yet to store, polling every replicaPoll, before it takes an end short of the range as
// the end (TestScanOnCluster: one read in three hundred ended 22 messages short without it).
const (
	replicaSettle = 500 * time.Millisecond
	replicaPoll   = 25 * time.Millisecond
)

// pullReachable bounds how long scan waits for its consumer's pull subject to reach conn's
// server (see scanBatch).
const pullReachable = 5 * time.Second

// scanBatch fetches the next batch of cons and calls f for each message up to last. It returns
// how many it read and whether the scan is done (last reached, or f said stop); a batch that
// ends with nothing pending short of last is not done: scan decides.
//
// On a JetStream cluster the consumer may live on another server than conn's, and the server
// answers the consumer's creation through the system account, on another route connection
// than the one that tells conn's server about the consumer's pull subject: the first pull can
// find no responder there for a few milliseconds (about one scan in a hundred on a three-node
// hub; TestLabHub's "no responders" on export). scanBatch then pulls again until the pull
// subject is known, for at most pullReachable.
func scanBatch(ctx context.Context, cons jetstream.Consumer, name string, last uint64, delivered *uint64, f func(jetstream.Msg, uint64) (bool, error)) (n int, done bool, err error) {
	for wait, start := time.Millisecond, time.Now(); ; wait = min(2*wait, 100*time.Millisecond) {
		batch, err := cons.FetchNoWait(4096)
		if err != nil {
			return 0, true, fmt.Errorf("acquisition: read stream %s: %w", name, err)
		}
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				return n, true, fmt.Errorf("acquisition: read stream %s: %w", name, err)
			}
			// A pull consumer delivers each message once, in order: a gap in its sequence is
			// a message lost on the way, which a reader must not pass over.
			if md.Sequence.Consumer != *delivered+1 {
				return n, true, fmt.Errorf("acquisition: read stream %s: delivery %d after %d: messages lost in transit; read again", name, md.Sequence.Consumer, *delivered)
			}
			*delivered = md.Sequence.Consumer
			seq := md.Sequence.Stream
			if seq > last {
				return n, true, nil
			}
			more, err := f(m, seq)
			if err != nil || !more {
				return n, true, err
			}
			if seq == last || md.NumPending == 0 {
				for range batch.Messages() { // let the batch finish before returning
				}
				// Nothing pending short of last is the end only if nothing more comes (scan).
				return n, seq == last, nil
			}
		}
		err = batch.Error()
		if n == 0 && errors.Is(err, nats.ErrNoResponders) && time.Since(start) < pullReachable {
			select {
			case <-ctx.Done():
				return 0, true, ctx.Err()
			case <-time.After(wait):
			}
			continue
		}
		if err != nil && !errors.Is(err, nats.ErrTimeout) {
			return n, true, fmt.Errorf("acquisition: read stream %s: %w", name, err)
		}
		return n, false, nil
	}
}

// Interrupted says what an interrupted session's record lacks, or "" when the session has its
// STOP event: the record ends with its last stored message, at end, because the daemon did not
// end the session (it was killed, or the host lost power), the store refused more (full), or
// the session is still being recorded.
func (r SessionRange) Interrupted(end time.Time) string {
	if r.Stop != nil {
		return ""
	}
	since := ""
	if r.Start != nil && r.Start.UnixNs != 0 {
		since = fmt.Sprintf(", %.1f s after its START", end.Sub(time.Unix(0, r.Start.UnixNs)).Seconds())
	}
	return fmt.Sprintf("session %s has no STOP event: the daemon did not end it (killed?), its recording failed, or it is still being recorded; recorded up to %s%s",
		r.Session, end.UTC().Format("2006-01-02T15:04:05.000Z"), since)
}

// LastStored is when the server stored the session's last recorded message (its record ends
// there). In the lab archive it is when the hub stored the rig's last message of the range
// (the range there interleaves other rigs'), which is later than the rig did after an outage.
func LastStored(ctx context.Context, conn *nats.Conn, subj contract.Subjects, r SessionRange) (time.Time, error) {
	if subj.Stream != "" {
		var last time.Time
		err := scan(ctx, conn, subj, []string{subj.All}, r.First, r.Last, func(m jetstream.Msg, _ uint64) (bool, error) {
			md, err := m.Metadata()
			if err != nil {
				return false, fmt.Errorf("acquisition: read stream %s: %w", recordOf(subj), err)
			}
			last = md.Timestamp
			return true, nil
		})
		return last, err
	}
	js, err := jetstream.New(conn)
	if err != nil {
		return time.Time{}, fmt.Errorf("acquisition: recording: %w", err)
	}
	s, err := js.Stream(ctx, recordOf(subj))
	if err != nil {
		return time.Time{}, fmt.Errorf("acquisition: recording stream %s: %w", recordOf(subj), err)
	}
	m, err := s.GetMsg(ctx, r.Last)
	if err != nil {
		return time.Time{}, fmt.Errorf("acquisition: recording stream %s sequence %d: %w", recordOf(subj), r.Last, err)
	}
	return m.Time, nil
}
