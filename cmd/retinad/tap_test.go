package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"retinad/acquisition"
	"retinad/configs"
	"retinad/infer/dataset"
	"retinad/internal/testwait"
	pb "retinad/proto/retinadpb"
)

func startTestBus(t *testing.T, store string) (*acquisition.Bus, acquisition.Subjects) {
	t.Helper()
	b, err := acquisition.Start(configs.NATS{Embedded: true, Listen: "127.0.0.1:0"}, acquisition.BusOptions{StoreDir: store})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Stop() })
	subj, err := acquisition.SubjectsFor("sim")
	if err != nil {
		t.Fatal(err)
	}
	return b, subj
}

func pub(t *testing.T, b *acquisition.Bus, subject string, m proto.Message) {
	t.Helper()
	data, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Conn().Publish(subject, data); err != nil {
		t.Fatal(err)
	}
}

// TestTapJSON runs `retinad tap --json --count 3` against a real server and checks each line.
func TestTapJSON(t *testing.T) {
	b, subj := startTestBus(t, "")
	var out, errb bytes.Buffer
	done := make(chan int)
	go func() {
		done <- runMain(context.Background(), []string{"tap", "--json", "--count", "3", "--server", b.ClientURL()}, &out, &errb)
	}()
	// Publish until tap has subscribed and taken three.
	deadline := time.After(10 * time.Second)
	for i := 0; ; i++ {
		select {
		case code := <-done:
			if code != 0 {
				t.Fatalf("tap exit %d: %s", code, errb.String())
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(lines) != 3 {
				t.Fatalf("%d lines, want 3:\n%s", len(lines), out.String())
			}
			for _, l := range lines[:2] {
				var obj struct {
					Subject string
					Message map[string]any
				}
				if err := json.Unmarshal([]byte(l), &obj); err != nil {
					t.Fatalf("%q: %v", l, err)
				}
				switch obj.Subject {
				case subj.Prediction("cnn"):
					if obj.Message["model"] != "cnn" || obj.Message["binStartHostNs"] != "5" {
						t.Errorf("prediction line %s", l)
					}
				case subj.Spikes:
					if obj.Message["seq"] != "2" {
						t.Errorf("spikes line %s", l)
					}
				case "retinad.sim.bogus":
					if !strings.Contains(l, `"error"`) {
						t.Errorf("undecodable line %s", l)
					}
				default:
					t.Errorf("unexpected line %s", l)
				}
			}
			return
		case <-deadline:
			t.Fatal("tap did not finish")
		case <-time.After(20 * time.Millisecond):
			switch i % 3 {
			case 0:
				pub(t, b, subj.Prediction("cnn"), &pb.Prediction{Model: "cnn", BinStartHostNs: 5, Rates: []float32{1}})
			case 1:
				pub(t, b, subj.Spikes, &pb.Spikes{Seq: 2})
			case 2:
				_ = b.Conn().Publish("retinad.sim.bogus", []byte{1, 2})
			}
		}
	}
}

func TestTapLineHuman(t *testing.T) {
	data, _ := proto.Marshal(&pb.Status{Rig: "sim", Frames: 7})
	line, err := tapLine("retinad.sim.status", data, false, time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	if err != nil || !strings.HasPrefix(string(line), "12:00:00.000 retinad.sim.status Status: ") || !strings.Contains(string(line), "frames:7") {
		t.Fatalf("%q %v", line, err)
	}
	line, _ = tapLine("retinad.sim.spikes", []byte{0xff}, false, time.Now())
	if !strings.Contains(string(line), "undecoded") {
		t.Fatalf("%q", line)
	}
}

// TestExportCommand records a short session in a real server and exports it with the command.
func TestExportCommand(t *testing.T) {
	b, subj := startTestBus(t, t.TempDir())
	ctx := context.Background()
	if err := acquisition.Record(ctx, b.Conn(), subj, acquisition.RecordOptions{}); err != nil {
		t.Fatal(err)
	}
	src := &pb.StimulusSource{Kind: "movie", Height: 1, Width: 1, FrameRateHz: 100}
	pub(t, b, subj.Session, &pb.SessionEvent{Session: "x", Kind: pb.SessionEvent_START, BinRateHz: 100})
	for f := range int64(10) {
		on := 1e9 + f*1e7
		pub(t, b, subj.Frame, &pb.FrameOnset{Session: "x", Frame: uint64(f), Source: src, Pixels: []float32{float32(f)}, FlipHostNs: on - 8e6, OnsetHostNs: on, Confirmed: true})
		pub(t, b, subj.Sync, &pb.Sync{Seq: uint64(f), TimeAcqNs: on + 5e8, Source: pb.Sync_TTL, Frame: uint64(f), HasFrame: true})
		pub(t, b, subj.Spikes, &pb.Spikes{Seq: uint64(f), CellIds: []int32{4}, TimesAcqNs: []int64{on + 5e8 + 3e6}})
	}
	pub(t, b, subj.Session, &pb.SessionEvent{Session: "x", Kind: pb.SessionEvent_STOP})
	if err := b.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(b.Conn())
	if err != nil {
		t.Fatal(err)
	}
	testwait.Must(t, 10*time.Second, "the session's 32 messages stored", func() bool { // the stream stores asynchronously
		s, err := js.Stream(ctx, acquisition.StreamName("sim"))
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx)
		return err == nil && info.State.Msgs == 32
	})
	out := filepath.Join(t.TempDir(), "x.npz")
	code, stdout, stderr := run(t, "export", "--session", "x", "--out", out, "--server", b.ClientURL())
	if code != 0 {
		t.Fatalf("export exit %d: %s%s", code, stdout, stderr)
	}
	d, err := dataset.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	if d.T != 10 || d.C != 1 || d.CellIDs[0] != 4 || d.Stimulus[7] != 7 || d.Counts[7] != 1 {
		t.Fatalf("exported T=%d C=%d ids=%v stim=%v counts=%v", d.T, d.C, d.CellIDs, d.Stimulus, d.Counts)
	}
	if code, _, stderr := run(t, "export", "--session", "nope", "--out", out, "--server", b.ClientURL()); code != 1 || !strings.Contains(stderr, "no such session") {
		t.Fatalf("missing session: exit %d %s", code, stderr)
	}
}
