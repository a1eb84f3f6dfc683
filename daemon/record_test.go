package daemon_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"retinad/acquisition"
	"retinad/configs"
	"retinad/daemon"
	"retinad/daemon/daemontest"
	pb "retinad/proto/retinadpb"
)

// TestSessionsAreRecordedWhole records a running daemon in JetStream (the embedded server with
// a file store, as a rig runs it), stops its session and starts another over the control
// service, and reads both back from the recording: each lies between its START and STOP, holds
// every frame and prediction of its session and nothing of another, and frames and bins count
// from 0 in each session, contiguous, while display frames go on across sessions.
func TestSessionsAreRecordedWhole(t *testing.T) {
	b, err := acquisition.Start(configs.NATS{Embedded: true}, acquisition.BusOptions{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop()
	subj, _ := acquisition.SubjectsFor("rec")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := acquisition.Record(ctx, b.Conn(), subj, acquisition.RecordOptions{}); err != nil {
		t.Fatal(err)
	}
	clock := daemontest.NewClock()
	d, err := daemon.New(daemon.Parts{
		Rig: "rec", Session: "first", Source: &daemontest.Source{}, Presenter: &daemontest.Presenter{Clock: clock, Period: 10 * time.Millisecond},
		Bus: daemon.NATSBus(b.Conn()), FrameRate: 100, Height: 8, Width: 8, Now: clock.Now,
		Models: []daemon.Model{{Name: "m", Engine: &daemontest.Engine{Cells: 2, Gain: 3}, CellIDs: []int32{1, 2}, BinRate: 100}},
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	time.Sleep(500 * time.Millisecond)
	stopped, err := d.StopSession(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := d.StartSession(ctx, "second"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer rcancel()
	var lastDisplay uint64 // the first session's last display frame
	for _, name := range []string{"first", "second"} {
		sr, err := acquisition.FindSession(rctx, b.Conn(), subj, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if sr.Stop == nil {
			t.Fatalf("%s: no STOP in the recording", name)
		}
		var frames, display, bins []uint64
		preds, foreign := 0, 0
		err = acquisition.ReadSession(rctx, b.Conn(), subj, sr, func(subject string, _ uint64, data []byte) error {
			switch subject {
			case subj.Frame:
				var o pb.FrameOnset
				if err := proto.Unmarshal(data, &o); err != nil {
					return err
				}
				if o.Session != name {
					foreign++
				}
				frames, display = append(frames, o.Frame), append(display, o.DisplayFrame)
			case subj.Prediction("m"):
				var p pb.Prediction
				if err := proto.Unmarshal(data, &p); err != nil {
					return err
				}
				if p.Session != name {
					foreign++
				}
				if p.Bin != p.Frame {
					t.Errorf("%s: prediction of bin %d for frame %d", name, p.Bin, p.Frame)
				}
				bins = append(bins, p.Bin)
				preds++
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(frames) < 30 || foreign != 0 || preds != len(frames) {
			t.Errorf("%s: %d frames, %d predictions, %d messages of another session", name, len(frames), preds, foreign)
		}
		// Each session counts its frames and bins from 0; display frames go on across them.
		for i := range frames {
			if frames[i] != uint64(i) || display[i]-frames[i] != display[0] {
				t.Fatalf("%s: onset %d is frame %d (display frame %d, the session's first %d); want frames from 0, contiguous", name, i, frames[i], display[i], display[0])
			}
		}
		for i, b := range bins {
			if b != uint64(i) {
				t.Fatalf("%s: prediction %d is of bin %d; want bins from 0, contiguous", name, i, b)
			}
		}
		if name == "second" && display[0] <= lastDisplay {
			t.Errorf("second: its frame 0 is display frame %d, the first session ended at %d", display[0], lastDisplay)
		}
		lastDisplay = display[len(display)-1]
		if name == "first" && uint64(len(frames)) > stopped.Frames {
			t.Errorf("first: %d frames recorded, %d shown", len(frames), stopped.Frames)
		}
		t.Logf("%s: frames %d..%d recorded whole (%d predictions)", name, frames[0], frames[len(frames)-1], preds)
	}
}
