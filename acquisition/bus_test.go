package acquisition

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"retinad/configs"
	"retinad/proto/contract"
	pb "retinad/proto/retinadpb"
)

// startBus starts an embedded bus for a test, with a loopback listener on a free port when
// listen, and JetStream in a temporary folder when store.
func startBus(t testing.TB, listen, store bool) *Bus {
	t.Helper()
	cfg := configs.NATS{Embedded: true, PublishQueue: 1024}
	if listen {
		cfg.Listen = "127.0.0.1:0"
	}
	o := BusOptions{}
	if store {
		o.StoreDir = t.TempDir()
	}
	b, err := Start(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Stop(); err != nil {
			t.Error(err)
		}
	})
	return b
}

func mustSubjects(t testing.TB, rig string) contract.Subjects {
	t.Helper()
	s, err := contract.SubjectsFor(rig)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// examples returns one fully populated value of every message type in proto/retinad.proto.
func examples() []proto.Message {
	src := &pb.StimulusSource{Kind: "whitenoise", Seed: 7, Height: 2, Width: 3, FrameRateHz: 100, Mean: 0.5,
		Params: []*pb.Param{{Name: "contrast", Value: 1}, {Name: "checker", Value: 1}}, File: "x.npy", Reproducible: true,
		FileSha256: make([]byte, 32), StimulusYaml: "kind: whitenoise\n"}
	clip := &pb.AdaptiveClip{StimulusYaml: "kind: natural\n", Start: 11, Frames: 100}
	status := &pb.Status{Rig: "r1", Session: "s1", State: pb.Status_RECORDING, HostNs: 1, UnixNs: 2, UptimeNs: 3,
		Version: "v", Frames: 4, FramesDropped: 5, FramesUntimed: 6, Stimulus: src,
		Models: []*pb.ModelStatus{{Name: "cnn", File: "m.bin", Cells: 3, BinRateHz: 100, Bins: 9, Skipped: 1, LastComputeNs: 10, MaxComputeNs: 20,
			CellIds: []int32{1, 2, 3}, DeadlineNs: 5e6, History: 40}},
		PublishQueued: 7, PublishDropped: 8, InboundRejected: 9, Spikes: 10, Syncs: 11, Recording: true,
		RecordState: pb.Status_RECORD_NEAR_LIMIT, RecordingError: "e", RecordedBytes: 12, RecordingMaxBytes: 13, DiskFreeBytes: 14,
		InboundRejects: []*pb.Count{{Name: "length mismatch", Value: 2}}, InboundGaps: 15, PhotodiodeLost: 16, FramesLinkLost: 17,
		RefreshesMissed: 18, WorkersExcluded: []string{"w1"},
		BusDisconnectedNs: 19, PublishFailed: 20, PhotodiodeDisconnectedNs: 21}
	ev := &pb.Event{Session: "s1", Label: "drug", Note: "10 uM", HostNs: 5, UnixNs: 6}
	score := &pb.ScoreRequest{Models: []*pb.ScoreModel{{Name: "cnn", Sha256: make([]byte, 32)}},
		Clips: []*pb.ScoreClip{{StimulusYaml: "kind: whitenoise\n", Start: 3, Frames: 2}}}
	rates := &pb.ScoreRates{Model: "cnn", Cells: 2, Rates: []float32{1, 2, 3, 4}}
	return []proto.Message{
		src,
		src.Params[0],
		&pb.FrameOnset{Session: "s1", Frame: 12, Source: src, Index: 11, Pixels: []float32{0.1, -0.2, 0.3, 0, 1, -1},
			FlipHostNs: 100, FlipUnixNs: 200, OnsetHostNs: 108, OnsetUnixNs: 208, LatencyNs: 8, Confirmed: true, DroppedBefore: 1, LinkLost: true,
			DisplayFrame: 1012},
		&pb.Prediction{Session: "s1", Model: "cnn", Bin: 3, BinStartHostNs: 1e9, BinStartUnixNs: 2e9, BinWidthNs: 1e7,
			Rates: []float32{1.5, 2.5}, Counts: []uint32{0, 1}, CellIds: []int32{4, 9}, ComputeNs: 300, Frame: 3, Confirmed: true},
		&pb.Spikes{Session: "s1", Seq: 2, StartAcqNs: 10, EndAcqNs: 20, CellIds: []int32{1, 2}, TimesAcqNs: []int64{11, 19}},
		&pb.Sync{Session: "s1", Seq: 4, TimeAcqNs: 77, Source: pb.Sync_TTL, Rising: true, Frame: 3, HasFrame: true},
		&pb.ValidationReport{Session: "s1", Model: "cnn", HostNs: 1, UnixNs: 2, WindowNs: 3, Bins: 4, CellIds: []int32{1},
			PearsonR: []float64{0.7}, Fev: []float64{0.5}, PredictedRate: []float64{3}, ObservedRate: []float64{4}, MeanPearsonR: 0.7, CountVarianceExplained: []float64{0.3}},
		status.Models[0],
		status.InboundRejects[0],
		status,
		ev,
		&pb.SessionEvent{Session: "s1", Kind: pb.SessionEvent_STOP, HostNs: 1, UnixNs: 2, Rig: "r1", Note: "n", ConfigYaml: "rig: r1\n", BinRateHz: 100, Version: "v"},
		&pb.StatusRequest{},
		&pb.StatusReply{Status: status},
		&pb.StartSessionRequest{Session: "s1", Note: "n", Record: true},
		&pb.StartSessionReply{Session: "s1", HostNs: 1, UnixNs: 2, RecordState: pb.Status_RECORD_OK, RecordingError: "e"},
		&pb.StopSessionRequest{Session: "s1"},
		&pb.StopSessionReply{Session: "s1", HostNs: 1, UnixNs: 2, Frames: 3, RecordState: pb.Status_RECORD_FAILED, RecordingError: "full"},
		&pb.LoadModelRequest{Name: "cnn", File: "m.bin", Stochastic: true, Seed: 3, DeadlineNs: 4, Observed: true, FrameRateHz: 100, Threads: 2},
		&pb.LoadModelReply{Model: status.Models[0], CellIds: []int32{1, 2}},
		&pb.UnloadModelRequest{Name: "cnn"},
		&pb.UnloadModelReply{Name: "cnn"},
		&pb.ChooseStimulusRequest{Source: src, Strategy: "discriminate"},
		&pb.ChooseStimulusReply{Source: src, FromFrame: 9, Strategy: "discriminate"},
		clip,
		&pb.AdaptiveChoice{Session: "s1", Seq: 2, Strategy: "discriminate", Candidates: []*pb.AdaptiveClip{clip, clip}, Scores: []float64{1, 2},
			Pick: 1, Clip: clip, Why: "w", Fallback: true, ScoreNs: 3, Lead: 11, FromFrame: 40, HostNs: 1, UnixNs: 2, Report: "r"},
		&pb.MarkEventRequest{Label: "drug", Note: "n"},
		&pb.MarkEventReply{Event: ev},
		score.Models[0],
		score.Clips[0],
		score,
		rates,
		&pb.ScoreResult{Models: []*pb.ScoreRates{rates}},
		&pb.ScoreReply{Clips: []*pb.ScoreResult{{Models: []*pb.ScoreRates{rates}}}, Worker: "host/1", ComputeNs: 5},
	}
}

// TestExamplesCoverSchema keeps examples() complete: every message of the file, every field set.
func TestExamplesCoverSchema(t *testing.T) {
	seen := map[protoreflect.FullName]bool{}
	for _, m := range examples() {
		r := m.ProtoReflect()
		seen[r.Descriptor().FullName()] = true
		fields := r.Descriptor().Fields()
		for i := 0; i < fields.Len(); i++ {
			if !r.Has(fields.Get(i)) {
				t.Errorf("example %s leaves field %s unset", r.Descriptor().FullName(), fields.Get(i).Name())
			}
		}
	}
	msgs := pb.File_retinad_proto.Messages()
	for i := 0; i < msgs.Len(); i++ {
		if n := msgs.Get(i).FullName(); !seen[n] {
			t.Errorf("no example of %s", n)
		}
	}
}

// TestRoundTrip sends every message type through a real embedded server, over the in-process
// connection and over loopback TCP, and decodes it equal.
func TestRoundTrip(t *testing.T) {
	b := startBus(t, true, false)
	tcp, err := nats.Connect(b.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	for _, via := range []struct {
		name string
		nc   *nats.Conn
	}{{"in-process", b.Conn()}, {"tcp", tcp}} {
		sub, err := via.nc.SubscribeSync("rt.>")
		if err != nil {
			t.Fatal(err)
		}
		if err := via.nc.Flush(); err != nil { // the server has the subscription
			t.Fatal(err)
		}
		p := NewPublisher(b.Conn(), 64, nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- p.Run(ctx) }()
		ex := examples()
		for _, m := range ex {
			p.Publish("rt."+string(m.ProtoReflect().Descriptor().Name()), m)
		}
		for _, want := range ex {
			msg, err := sub.NextMsg(5 * time.Second)
			if err != nil {
				t.Fatalf("%s: %s: %v", via.name, want.ProtoReflect().Descriptor().Name(), err)
			}
			if msg.Subject != "rt."+string(want.ProtoReflect().Descriptor().Name()) {
				t.Fatalf("%s: got subject %s, want %s", via.name, msg.Subject, want.ProtoReflect().Descriptor().Name())
			}
			got := want.ProtoReflect().New().Interface()
			if err := proto.Unmarshal(msg.Data, got); err != nil {
				t.Fatalf("%s: %s: %v", via.name, msg.Subject, err)
			}
			if !proto.Equal(got, want) {
				t.Errorf("%s: %s: got %v, want %v", via.name, msg.Subject, got, want)
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		_ = sub.Unsubscribe()
	}
}

func TestListenOnlyLoopback(t *testing.T) {
	for _, c := range []struct {
		listen string
		remote bool
		ok     bool
	}{
		{"127.0.0.1:0", false, true}, {"localhost:0", false, true}, {"[::1]:0", false, true},
		{"0.0.0.0:0", false, false}, {":4222", false, false}, {"10.1.2.3:4222", false, false},
		{"0.0.0.0:0", true, true}, {"127.0.0.1", false, false}, {"127.0.0.1:99999", false, false},
	} {
		_, _, err := splitListen(c.listen, c.remote)
		if (err == nil) != c.ok {
			t.Errorf("splitListen(%q, %v): err %v, want ok=%v", c.listen, c.remote, err, c.ok)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "acquisition: nats.listen") {
			t.Errorf("error %q does not name the field", err)
		}
	}
	b := startBus(t, true, false)
	if u := b.ClientURL(); !strings.HasPrefix(u, "nats://127.0.0.1:") {
		t.Errorf("listener %q, want loopback", u)
	}
}

func TestStopIdempotentAndWaits(t *testing.T) {
	b, err := Start(configs.NATS{Embedded: true}, BusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := b.Stop(); err != nil {
				t.Error(err)
			}
			if !b.Conn().IsClosed() {
				t.Error("Stop returned before the connection closed")
			}
		}()
	}
	wg.Wait()
	if err := b.Stop(); err != nil {
		t.Error(err)
	}
}

func TestExternalNeedsURL(t *testing.T) {
	_, err := Start(configs.NATS{}, BusOptions{})
	if err == nil || !strings.Contains(err.Error(), "nats.url") {
		t.Fatalf("got %v, want an error naming nats.url", err)
	}
}
