package acquisition

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	pb "retinad/proto/retinadpb"
)

// StreamName is the JetStream stream that records rig's sessions: RETINAD_<rig>.
func StreamName(rig string) string { return "RETINAD_" + rig }

// RecordOptions set up the recording stream.
type RecordOptions struct {
	MaxAge   time.Duration // keep recordings this long; 0 keeps them until removed
	MaxBytes int64         // 0: no limit (the server's JetStream limits still apply)
}

// Record creates (or updates) the rig's file-backed JetStream stream capturing every subject of
// subj.Recorded(): from then on, everything published there is stored, by the server, without
// the daemon's help. Sessions are delimited by the SessionEvent START/STOP messages the daemon
// publishes on subj.Session; every daemon message also carries its session id.
func Record(ctx context.Context, conn *nats.Conn, subj Subjects, o RecordOptions) error {
	js, err := jetstream.New(conn)
	if err != nil {
		return fmt.Errorf("acquisition: recording: %w", err)
	}
	cfg := jetstream.StreamConfig{
		Name:        StreamName(subj.Rig),
		Description: "retinad sessions of rig " + subj.Rig,
		Subjects:    subj.Recorded(),
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      o.MaxAge,
		MaxBytes:    o.MaxBytes,
		MaxMsgSize:  8 << 20,
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = -1
	}
	if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("acquisition: recording stream %s: %w", cfg.Name, err)
	}
	return nil
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
func FindSession(ctx context.Context, conn *nats.Conn, subj Subjects, session string) (SessionRange, error) {
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
		return r, fmt.Errorf("acquisition: session %q in stream %s: %w", session, StreamName(subj.Rig), ErrNoSession)
	}
	if r.Last == 0 {
		r.Last = info.State.LastSeq
	}
	return r, nil
}

// ReadSession calls f for every recorded message of the session's range, in order. The data
// slice is valid only during the call.
func ReadSession(ctx context.Context, conn *nats.Conn, subj Subjects, r SessionRange, f func(subject string, seq uint64, data []byte) error) error {
	return scan(ctx, conn, subj, nil, r.First, r.Last, func(m jetstream.Msg, seq uint64) (bool, error) {
		return true, f(m.Subject(), seq, m.Data())
	})
}

func streamInfo(ctx context.Context, conn *nats.Conn, subj Subjects) (*jetstream.StreamInfo, error) {
	js, err := jetstream.New(conn)
	if err != nil {
		return nil, fmt.Errorf("acquisition: recording: %w", err)
	}
	s, err := js.Stream(ctx, StreamName(subj.Rig))
	if err != nil {
		return nil, fmt.Errorf("acquisition: recording stream %s: %w", StreamName(subj.Rig), err)
	}
	return s.Info(ctx)
}

// scan reads the stream's messages matching filters (nil: all) with sequences in [first, last]
// through an ordered consumer, until f says stop or the range ends.
func scan(ctx context.Context, conn *nats.Conn, subj Subjects, filters []string, first, last uint64, f func(jetstream.Msg, uint64) (bool, error)) error {
	if last < first || last == 0 {
		return nil
	}
	js, err := jetstream.New(conn)
	if err != nil {
		return fmt.Errorf("acquisition: recording: %w", err)
	}
	name := StreamName(subj.Rig)
	cons, err := js.OrderedConsumer(ctx, name, jetstream.OrderedConsumerConfig{
		FilterSubjects: filters,
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    first,
	})
	if err != nil {
		return fmt.Errorf("acquisition: read stream %s: %w", name, err)
	}
	for {
		batch, err := cons.FetchNoWait(4096)
		if err != nil {
			return fmt.Errorf("acquisition: read stream %s: %w", name, err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("acquisition: read stream %s: %w", name, err)
			}
			seq := md.Sequence.Stream
			if seq > last {
				return nil
			}
			more, err := f(m, seq)
			if err != nil || !more {
				return err
			}
			if seq == last || md.NumPending == 0 {
				for range batch.Messages() { // let the batch finish before returning
				}
				return nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("acquisition: read stream %s: %w", name, err)
		}
		if n == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}
