package acquisition

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"retinad/internal/testwait"
	pb "retinad/proto/retinadpb"
)

func publishProto(t testing.TB, b *Bus, subject string, m proto.Message) {
	t.Helper()
	data, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Conn().Publish(subject, data); err != nil {
		t.Fatal(err)
	}
}

// waitStored waits until the rig's stream holds n messages.
func waitStored(t testing.TB, b *Bus, subj Subjects, n uint64) {
	t.Helper()
	ctx := context.Background()
	var held uint64
	if !testwait.Until(60*time.Second, func() bool {
		info, err := streamInfo(ctx, b.Conn(), subj)
		if err != nil {
			t.Fatal(err)
		}
		held = info.State.Msgs
		return held >= n
	}) {
		t.Fatalf("stream holds %d messages after 60s, want %d", held, n)
	}
}

// TestRecordHourAt120Hz replays one hour of frame onsets at 120 Hz (432,000 messages, published
// as fast as the connection takes them) into the recording and reads every one back, in order.
func TestRecordHourAt120Hz(t *testing.T) {
	b := startBus(t, false, true)
	subj := mustSubjects(t, "rig1")
	ctx := context.Background()
	if err := Record(ctx, b.Conn(), subj, RecordOptions{}); err != nil {
		t.Fatal(err)
	}
	const frames = 3600 * 120
	if testing.Short() {
		t.Skip("1 h replay skipped in -short")
	}
	start := time.Now()
	publishProto(t, b, subj.Session, &pb.SessionEvent{Session: "hour", Kind: pb.SessionEvent_START})
	m := &pb.FrameOnset{Session: "hour", Source: &pb.StimulusSource{Kind: "whitenoise", Seed: 1, Height: 50, Width: 50, FrameRateHz: 120, Reproducible: true}, Confirmed: true}
	buf := make([]byte, 0, 256)
	for i := range uint64(frames) {
		m.Frame, m.Index = i, i
		m.FlipHostNs = int64(i) * 8_333_333
		m.OnsetHostNs = m.FlipHostNs + 8_000_000
		buf, _ = proto.MarshalOptions{}.MarshalAppend(buf[:0], m)
		if err := b.Conn().Publish(subj.Frame, buf); err != nil {
			t.Fatal(err)
		}
	}
	publishProto(t, b, subj.Session, &pb.SessionEvent{Session: "hour", Kind: pb.SessionEvent_STOP})
	waitStored(t, b, subj, frames+2)
	stored := time.Since(start)

	r, err := FindSession(ctx, b.Conn(), subj, "hour")
	if err != nil {
		t.Fatal(err)
	}
	if r.Stop == nil || r.Last-r.First != frames+1 {
		t.Fatalf("session range %+v, want %d messages between START and STOP", r, frames)
	}
	next := uint64(0)
	var got pb.FrameOnset
	err = ReadSession(ctx, b.Conn(), subj, r, func(subject string, seq uint64, data []byte) error {
		if subject != subj.Frame {
			return nil
		}
		if err := proto.Unmarshal(data, &got); err != nil {
			t.Fatalf("sequence %d: %v", seq, err)
		}
		if got.Frame != next || got.Session != "hour" {
			t.Fatalf("sequence %d: frame %d of %q, want frame %d of \"hour\"", seq, got.Frame, got.Session, next)
		}
		next++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if next != frames {
		t.Fatalf("read back %d frames, want %d", next, frames)
	}
	t.Logf("1 h at 120 Hz: stored in %v, read back in %v", stored, time.Since(start)-stored)
}

func TestFindSessionMissing(t *testing.T) {
	b := startBus(t, false, true)
	subj := mustSubjects(t, "rig1")
	ctx := context.Background()
	if err := Record(ctx, b.Conn(), subj, RecordOptions{}); err != nil {
		t.Fatal(err)
	}
	publishProto(t, b, subj.Session, &pb.SessionEvent{Session: "a", Kind: pb.SessionEvent_START})
	waitStored(t, b, subj, 1)
	if _, err := FindSession(ctx, b.Conn(), subj, "b"); err == nil || !errorsIs(err, ErrNoSession) {
		t.Fatalf("got %v, want ErrNoSession", err)
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
