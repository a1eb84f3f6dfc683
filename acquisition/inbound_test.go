package acquisition

import (
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"retinad/proto/contract"
	pb "retinad/proto/retinadpb"
)

// recorder is an AcquisitionHandler that keeps copies.
type recorder struct {
	mu     sync.Mutex
	spikes []*pb.Spikes
	syncs  []*pb.Sync
	got    chan struct{}
}

func newRecorder() *recorder { return &recorder{got: make(chan struct{}, 100)} }

func (r *recorder) Spikes(m *pb.Spikes) Reason {
	r.mu.Lock()
	r.spikes = append(r.spikes, proto.Clone(m).(*pb.Spikes))
	r.mu.Unlock()
	r.got <- struct{}{}
	return ReasonNone
}

func (r *recorder) Sync(m *pb.Sync) Reason {
	r.mu.Lock()
	r.syncs = append(r.syncs, proto.Clone(m).(*pb.Sync))
	r.mu.Unlock()
	r.got <- struct{}{}
	return ReasonNone
}

// malformed are payloads every inbound subject must reject.
var malformed = map[string][]byte{
	"truncated varint":   {0x10, 0xff},
	"bad wire type":      {0x0f},
	"truncated length":   {0x0a, 0x05, 'a'},
	"invalid utf-8":      {0x0a, 0x02, 0xff, 0xfe},
	"field number 0":     {0x00, 0x01},
	"group never closed": {0x0b},
	"text, not protobuf": []byte("hello"),
	"json, not protobuf": []byte(`{"seq": 1}`),
}

// TestInboundRejectsMalformed publishes garbage on both inbound subjects of a real server, then
// a valid message: every piece of garbage is counted, the valid message still arrives.
func TestInboundRejectsMalformed(t *testing.T) {
	b := startBus(t, false, false)
	subj := mustSubjects(t, "rig-1")
	h := newRecorder()
	in, err := Subscribe(b.Conn(), subj, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Unsubscribe()
	nc := b.Conn()
	bad := map[string][][]byte{subj.Spikes: nil, subj.Sync: nil}
	for _, data := range malformed {
		bad[subj.Spikes] = append(bad[subj.Spikes], data)
		bad[subj.Sync] = append(bad[subj.Sync], data)
	}
	// Well-formed protobuf, inconsistent fields.
	inconsistent := func(m proto.Message) []byte { d, _ := proto.Marshal(m); return d }
	bad[subj.Spikes] = append(bad[subj.Spikes],
		inconsistent(&pb.Spikes{CellIds: []int32{1, 2}, TimesAcqNs: []int64{5}}),
		inconsistent(&pb.Spikes{StartAcqNs: 10, EndAcqNs: 5}),
		inconsistent(&pb.Spikes{StartAcqNs: 10, EndAcqNs: 20, CellIds: []int32{1}, TimesAcqNs: []int64{20}}),
		inconsistent(&pb.Spikes{CellIds: []int32{-1}, TimesAcqNs: []int64{0}}))
	bad[subj.Sync] = append(bad[subj.Sync],
		inconsistent(&pb.Sync{Source: 7}),
		inconsistent(&pb.Sync{Frame: 3}))
	for subject, list := range bad {
		for _, data := range list {
			if err := nc.Publish(subject, data); err != nil {
				t.Fatal(err)
			}
		}
	}
	good := &pb.Spikes{Seq: 1, StartAcqNs: 0, EndAcqNs: 100, CellIds: []int32{3}, TimesAcqNs: []int64{50}}
	goodSync := &pb.Sync{Seq: 1, TimeAcqNs: 7, Source: pb.Sync_PHOTODIODE}
	d1, _ := proto.Marshal(good)
	d2, _ := proto.Marshal(goodSync)
	_ = nc.Publish(subj.Spikes, d1)
	_ = nc.Publish(subj.Sync, d2)
	for range 2 {
		select {
		case <-h.got:
		case <-time.After(5 * time.Second):
			t.Fatal("valid messages not delivered after garbage")
		}
	}
	rs, ry := in.Rejected()
	if rs != uint64(len(bad[subj.Spikes])) || ry != uint64(len(bad[subj.Sync])) {
		t.Errorf("rejected %d spikes, %d sync; want %d, %d", rs, ry, len(bad[subj.Spikes]), len(bad[subj.Sync]))
	}
	if !proto.Equal(h.spikes[0], good) || !proto.Equal(h.syncs[0], goodSync) {
		t.Errorf("delivered %v %v, want %v %v", h.spikes[0], h.syncs[0], good, goodSync)
	}
}

// FuzzInbound feeds arbitrary bytes to both handlers: each either delivers a message that
// passes the checks or counts a rejection, and never panics.
func FuzzInbound(f *testing.F) {
	for _, d := range malformed {
		f.Add(d)
	}
	for _, m := range examples() {
		d, _ := proto.Marshal(m)
		f.Add(d)
	}
	subj, _ := contract.SubjectsFor("fuzz")
	f.Fuzz(func(t *testing.T, data []byte) {
		h := &countHandler{}
		in := &Inbound{subj: subj, h: h, log: discard}
		in.HandleSpikes(data)
		in.HandleSync(data)
		rs, ry := in.Rejected()
		if rs+uint64(h.spikes) != 1 || ry+uint64(h.syncs) != 1 {
			t.Fatalf("spikes: %d rejected + %d delivered, sync: %d + %d; want 1 each", rs, h.spikes, ry, h.syncs)
		}
	})
}

type countHandler struct{ spikes, syncs int }

func (c *countHandler) Spikes(m *pb.Spikes) Reason {
	if len(m.CellIds) != len(m.TimesAcqNs) {
		panic("inconsistent spikes delivered")
	}
	c.spikes++
	return ReasonNone
}
func (c *countHandler) Sync(*pb.Sync) Reason { c.syncs++; return ReasonNone }
