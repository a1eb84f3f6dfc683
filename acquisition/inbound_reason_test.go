package acquisition

import (
	"errors"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"retinad/proto/contract"
	pb "retinad/proto/retinadpb"
)

func marshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	d, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDecodeReasons: every check proto/README.md documents rejects with its own reason, and
// the error wraps ErrMalformed and names the field.
func TestDecodeReasons(t *testing.T) {
	sp := func(m *pb.Spikes) []byte { return marshal(t, m) }
	sy := func(m *pb.Sync) []byte { return marshal(t, m) }
	many := make([]int32, MaxBatchSpikes+1)
	for _, c := range []struct {
		name   string
		sync   bool
		data   []byte
		reason Reason
		field  string
	}{
		{"garbage", false, []byte("hello"), ReasonNotProtobuf, "spikes"},
		{"garbage sync", true, []byte{0x0f}, ReasonNotProtobuf, "sync"},
		{"lengths differ", false, sp(&pb.Spikes{CellIds: []int32{1, 2}, TimesAcqNs: []int64{5}}), ReasonLengthMismatch, "times_acq_ns"},
		{"end before start", false, sp(&pb.Spikes{StartAcqNs: 10, EndAcqNs: 5}), ReasonEndBeforeStart, "end_acq_ns"},
		{"batch of MaxInt64", false, sp(&pb.Spikes{StartAcqNs: 0, EndAcqNs: math.MaxInt64}), ReasonBatchTooLong, "end_acq_ns"},
		{"batch across the int64 range", false, sp(&pb.Spikes{StartAcqNs: math.MinInt64, EndAcqNs: math.MaxInt64}), ReasonBatchTooLong, "end_acq_ns"},
		{"time at end", false, sp(&pb.Spikes{StartAcqNs: 10, EndAcqNs: 20, CellIds: []int32{1}, TimesAcqNs: []int64{20}}), ReasonTimeOutside, "times_acq_ns[0]"},
		{"time before start", false, sp(&pb.Spikes{StartAcqNs: 10, EndAcqNs: 20, CellIds: []int32{1, 1}, TimesAcqNs: []int64{15, 9}}), ReasonTimeOutside, "times_acq_ns[1]"},
		{"negative cell", false, sp(&pb.Spikes{CellIds: []int32{-1}, TimesAcqNs: []int64{0}}), ReasonCellID, "cell_ids[0]"},
		{"absurd cell", false, sp(&pb.Spikes{StartAcqNs: 0, EndAcqNs: 9, CellIds: []int32{MaxCellID + 1}, TimesAcqNs: []int64{1}}), ReasonCellID, "cell_ids[0]"},
		{"too many spikes", false, sp(&pb.Spikes{CellIds: many, TimesAcqNs: make([]int64, len(many))}), ReasonTooManySpikes, "spikes in one batch"},
		{"unknown source", true, sy(&pb.Sync{Source: 7}), ReasonUnknownSource, "source"},
		{"frame without has_frame", true, sy(&pb.Sync{Frame: 3}), ReasonFrameNoHasFrame, "has_frame"},
	} {
		var err error
		if c.sync {
			err = DecodeSync(c.data, &pb.Sync{})
		} else {
			err = DecodeSpikes(c.data, &pb.Spikes{})
		}
		if got := ReasonOf(err); got != c.reason {
			t.Errorf("%s: reason %v (%v), want %v", c.name, got, err, c.reason)
			continue
		}
		if !errors.Is(err, ErrMalformed) || !containsAll(err.Error(), "acquisition: ", c.field) {
			t.Errorf("%s: error %q: want ErrMalformed naming %q", c.name, err, c.field)
		}
	}
	for _, ok := range [][]byte{
		sp(&pb.Spikes{Seq: 3, StartAcqNs: 10, EndAcqNs: 20, CellIds: []int32{0, MaxCellID}, TimesAcqNs: []int64{10, 19}}),
		sp(&pb.Spikes{CellIds: []int32{4}, TimesAcqNs: []int64{-5}}), // no interval: unbounded
		sp(&pb.Spikes{StartAcqNs: -MaxBatchNs / 2, EndAcqNs: MaxBatchNs / 2}),
	} {
		if err := DecodeSpikes(ok, &pb.Spikes{}); err != nil {
			t.Errorf("valid spikes rejected: %v", err)
		}
	}
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// refuser is a handler that refuses what its function says.
type refuser struct {
	spikes, syncs []uint64
	offClock      func(seq uint64) bool
}

func (r *refuser) Spikes(m *pb.Spikes) Reason {
	if r.offClock != nil && r.offClock(m.Seq) {
		return ReasonOffClock
	}
	r.spikes = append(r.spikes, m.Seq)
	return ReasonNone
}

func (r *refuser) Sync(m *pb.Sync) Reason {
	r.syncs = append(r.syncs, m.Seq)
	return ReasonNone
}

// TestInboundSequence: duplicates and going-back seq are rejected by reason, gaps counted,
// an absurd jump rejected; a restarted count is believed after SeqRestartAfter messages in
// order and not before; what the handler refuses is counted under its reason.
func TestInboundSequence(t *testing.T) {
	subj, _ := contract.SubjectsFor("seq")
	h := &refuser{offClock: func(seq uint64) bool { return seq == 13 }}
	in := NewInbound(subj, h, nil)
	send := func(seq uint64) { in.HandleSpikes(marshal(t, &pb.Spikes{Seq: seq})) }
	for _, s := range []uint64{10, 11, 11, 12, 9, 15, 15 + MaxSeqJump + 1, 13} {
		send(s)
	}
	c := in.Counts()
	want := map[Reason]uint64{ReasonSeqDuplicate: 1, ReasonSeqBack: 2, ReasonSeqJump: 1, ReasonOffClock: 0}
	// 13 after 15 is going back: it never reaches the handler, so it is not off the clock.
	for r, n := range want {
		if c.Rejects[0][r] != n {
			t.Errorf("%v: %d rejected, want %d (%+v)", r, c.Rejects[0][r], n, c.Rejects[0])
		}
	}
	if c.Gaps[0] != 2 { // 13 and 14 missing between 12 and 15
		t.Errorf("gaps %d, want 2", c.Gaps[0])
	}
	if got := h.spikes; len(got) != 4 || got[3] != 15 {
		t.Errorf("delivered %v, want 10 11 12 15", got)
	}
	// The acquisition system restarts from 0: SeqRestartAfter-1 are refused, then believed.
	for s := uint64(0); s < SeqRestartAfter+2; s++ {
		send(s)
	}
	if got := h.spikes[len(h.spikes)-3:]; got[0] != SeqRestartAfter-1 || got[2] != SeqRestartAfter+1 {
		t.Errorf("after a restart delivered ...%v, want from %d on", got, SeqRestartAfter-1)
	}
	if c := in.Counts(); c.Rejects[0][ReasonSeqBack] != 2+SeqRestartAfter-1 || c.Gaps[0] != 2 {
		t.Errorf("after a restart: %d going back, %d gaps; want %d and 2", c.Rejects[0][ReasonSeqBack], c.Gaps[0], 2+SeqRestartAfter-1)
	}
	send(SeqRestartAfter + 2)
	h.offClock = func(uint64) bool { return true }
	send(SeqRestartAfter + 3)
	if c := in.Counts(); c.Rejects[0][ReasonOffClock] != 1 || c.Rejected() != c.Rejects[0][ReasonSeqBack]+c.Rejects[0][ReasonSeqDuplicate]+c.Rejects[0][ReasonSeqJump]+1 {
		t.Errorf("off the clock %d, total %d: %+v", c.Rejects[0][ReasonOffClock], c.Rejected(), c.Rejects[0])
	}
	// The subjects keep their own sequence.
	in.HandleSync(marshal(t, &pb.Sync{Seq: 0}))
	in.HandleSync(marshal(t, &pb.Sync{Seq: 0}))
	if c := in.Counts(); c.Rejects[1][ReasonSeqDuplicate] != 1 || len(h.syncs) != 1 {
		t.Errorf("sync: %d duplicates, %d delivered; want 1 and 1", c.Rejects[1][ReasonSeqDuplicate], len(h.syncs))
	}
}

// FuzzInboundSequence feeds a stream of messages (garbage, valid with arbitrary seq) to one
// Inbound: every message is either delivered or counted under exactly one reason.
func FuzzInboundSequence(f *testing.F) {
	f.Add([]byte{0, 1, 2, 2, 1, 9, 3, 0xff})
	f.Add([]byte{5, 4, 3, 2, 1, 0})
	subj, _ := contract.SubjectsFor("fuzz")
	f.Fuzz(func(t *testing.T, ops []byte) {
		h := &refuser{offClock: func(seq uint64) bool { return seq%7 == 6 }}
		in := NewInbound(subj, h, nil)
		for i, op := range ops {
			switch {
			case op == 0xff:
				in.HandleSpikes(ops[i:])
			case op >= 0xf0:
				in.HandleSpikes(marshal(t, &pb.Spikes{Seq: uint64(op) << 20, StartAcqNs: 1, EndAcqNs: 0}))
			default:
				in.HandleSpikes(marshal(t, &pb.Spikes{Seq: uint64(op)}))
			}
		}
		c := in.Counts()
		if c.Accepted[0] != uint64(len(h.spikes)) {
			t.Fatalf("%d accepted, %d delivered", c.Accepted[0], len(h.spikes))
		}
		if got := c.Rejected() + uint64(len(h.spikes)); got != uint64(len(ops)) {
			t.Fatalf("%d messages, %d rejected + %d delivered", len(ops), c.Rejected(), len(h.spikes))
		}
		if c.Rejects[0][ReasonNone] != 0 {
			t.Fatal("a rejection counted under ReasonNone")
		}
	})
}

// BenchmarkInboundSpikes: decoding, checking and sequencing one batch of 50 spikes (what the
// daemon does per batch, 10-100 times a second; a flood is bounded by it).
func BenchmarkInboundSpikes(b *testing.B) {
	subj, _ := contract.SubjectsFor("bench")
	in := NewInbound(subj, &countHandler{}, nil)
	m := &pb.Spikes{StartAcqNs: 1e9, EndAcqNs: 1e9 + 20e6}
	for i := 0; i < 50; i++ {
		m.CellIds, m.TimesAcqNs = append(m.CellIds, int32(i%16)), append(m.TimesAcqNs, 1e9+int64(i)*400e3)
	}
	data := make([][]byte, 1024)
	for i := range data {
		m.Seq = uint64(i)
		data[i] = marshal(b, m)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		in.HandleSpikes(data[i%len(data)]) // seq wraps: every 1024th goes back, rejected
	}
}
