package acquisition

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"retinad/configs"
	"retinad/infer/dataset"
	"retinad/proto/contract"
	pb "retinad/proto/retinadpb"
	"retinad/stimulus"
)

// session publishes a synthetic recorded session: 200 frames at 100 Hz (the first 100 from a
// movie that carries its pixels, the rest from a reproducible source), an acquisition clock
// 3 s behind the host's and running 50 ppm fast, a sync edge per frame and spikes at known host
// times. hasFrame picks whether sync events name their frame.
func publishSession(t *testing.T, b *Bus, subj contract.Subjects, id string, hasFrame bool) {
	publishSessionWith(t, b, subj, id, hasFrame, true, nil)
}

// publishSessionWith is publishSession with inject called after each frame's messages, and
// the STOP left out unless stop.
func publishSessionWith(t *testing.T, b *Bus, subj contract.Subjects, id string, hasFrame, stop bool, inject func(frame int64)) {
	const (
		frames  = 200
		t0      = int64(10e9)
		period  = int64(10e6)
		latency = int64(8e6)
	)
	toAcq := func(host int64) int64 { return int64(float64(host-3e9) * (1 + 50e-6)) }
	movie := &pb.StimulusSource{Kind: "movie", Height: 2, Width: 3, FrameRateHz: 100}
	noise := &pb.StimulusSource{Kind: "test", Height: 2, Width: 3, FrameRateHz: 100, Seed: 9, Reproducible: true}
	publishProto(t, b, subj.Frame, &pb.FrameOnset{Session: "other", Frame: 0, Source: movie, Pixels: make([]float32, 6)})
	publishProto(t, b, subj.Session, &pb.SessionEvent{Session: id, Kind: pb.SessionEvent_START, BinRateHz: 100})
	publishProto(t, b, subj.Prediction("cnn"), &pb.Prediction{Session: id, Model: "cnn", CellIds: []int32{3, 7, 11}, Rates: []float32{1, 2, 3}})
	for f := range int64(frames) {
		onset := t0 + f*period
		m := &pb.FrameOnset{Session: id, Frame: uint64(f), Index: uint64(f), FlipHostNs: onset - latency, OnsetHostNs: onset, Confirmed: f != 50}
		if f == 50 {
			m.OnsetHostNs = 0 // untimed: export puts it at flip + median latency
		}
		if f < 100 {
			m.Source = movie
			for p := range 6 {
				m.Pixels = append(m.Pixels, float32(f)+float32(p)/10)
			}
		} else {
			m.Source, m.Index = noise, uint64(f-100)
		}
		publishProto(t, b, subj.Frame, m)
		if f != 50 {
			y := &pb.Sync{Seq: uint64(f), TimeAcqNs: toAcq(onset), Source: pb.Sync_PHOTODIODE, Rising: f%2 == 0}
			if hasFrame {
				y.Frame, y.HasFrame = uint64(f), true
			}
			publishProto(t, b, subj.Sync, y)
		}
		// cell 7 fires 5 ms into every even bin, cell 3 twice into every tenth.
		sp := &pb.Spikes{Seq: uint64(f), StartAcqNs: toAcq(onset), EndAcqNs: toAcq(onset + period)}
		if f%2 == 0 {
			sp.CellIds, sp.TimesAcqNs = append(sp.CellIds, 7), append(sp.TimesAcqNs, toAcq(onset+5e6))
		}
		if f%10 == 0 {
			sp.CellIds = append(sp.CellIds, 3, 3)
			sp.TimesAcqNs = append(sp.TimesAcqNs, toAcq(onset+1e6), toAcq(onset+9e6))
		}
		publishProto(t, b, subj.Spikes, sp)
		if inject != nil {
			inject(f)
		}
	}
	if stop {
		publishProto(t, b, subj.Session, &pb.SessionEvent{Session: id, Kind: pb.SessionEvent_STOP})
	}
	publishProto(t, b, subj.Frame, &pb.FrameOnset{Session: "later", Frame: 0, Source: movie, Pixels: make([]float32, 6)})
}

func testMaker(src *pb.StimulusSource, index uint64, dst []float32) error {
	if src.Kind != "test" || src.Seed != 9 {
		return fmt.Errorf("unknown source %v", src)
	}
	for i := range dst {
		dst[i] = -float32(index) - float32(i)/10
	}
	return nil
}

func TestExport(t *testing.T) {
	for _, hasFrame := range []bool{true, false} {
		t.Run(fmt.Sprintf("sync_has_frame=%v", hasFrame), func(t *testing.T) {
			b := startBus(t, false, true)
			subj := mustSubjects(t, "rig1")
			ctx := context.Background()
			if err := Record(ctx, b.Conn(), subj, RecordOptions{}); err != nil {
				t.Fatal(err)
			}
			publishSession(t, b, subj, "s1", hasFrame)
			if err := b.Conn().Flush(); err != nil {
				t.Fatal(err)
			}
			waitStored(t, b, subj, 1+1+1+200+199+200+1+1)
			d, sum, err := Export(ctx, b.Conn(), subj, "s1", ExportOptions{Frames: testMaker})
			if err != nil {
				t.Fatal(err)
			}
			if d.T != 200 || d.H != 2 || d.W != 3 || d.C != 3 || d.FrameRate != 100 {
				t.Fatalf("T=%d H=%d W=%d C=%d rate=%v, want 200 2 3 3 100", d.T, d.H, d.W, d.C, d.FrameRate)
			}
			if fmt.Sprint(d.CellIDs) != "[3 7 11]" {
				t.Fatalf("cell ids %v", d.CellIDs)
			}
			for tt := range 200 {
				for p := range 6 {
					want := float32(tt) + float32(p)/10
					if tt >= 100 {
						want = -float32(tt-100) - float32(p)/10
					}
					if got := d.Frame(tt)[p]; got != want {
						t.Fatalf("stimulus bin %d pixel %d = %v, want %v", tt, p, got, want)
					}
				}
				want := []float32{0, 0, 0}
				if tt%2 == 0 {
					want[1] = 1
				}
				if tt%10 == 0 {
					want[0] = 2
				}
				if got := d.Counts[tt*3 : tt*3+3]; fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("counts bin %d = %v, want %v", tt, got, want)
				}
			}
			if sum.Frames != 200 || sum.FramesUntimed != 1 || sum.Bins != 200 || sum.BinsUntimed != 3 || sum.Spikes != 140 ||
				sum.SpikesOutside != 0 || sum.Predictions["cnn"] != 1 || len(sum.Skipped) != 0 || sum.Interrupted() {
				t.Errorf("summary %+v", sum)
			}
			extra := map[string]dataset.Array{}
			for _, a := range d.Extra {
				extra[a.Name] = a
			}
			if covered := extra["bin_spikes_covered"].Data.([]uint8); slices.Contains(covered, 0) || sum.BinsUncovered != 0 {
				t.Errorf("bins not covered by the spike batches: %v", covered)
			}
			timed := extra["bin_timed"].Data.([]uint8)
			if timed[48] != 1 || timed[49] != 0 || timed[50] != 0 || timed[51] != 1 || timed[199] != 0 {
				t.Errorf("bin_timed around the untimed frame 50: %v, of the last bin (its end is no onset): %v", timed[48:52], timed[199])
			}
			if on := extra["frame_onset_host_ns"].Data.([]int64); on[50] != 0 || on[51] != 10e9+51*10e6 {
				t.Errorf("frame onsets 50, 51: %v, want 0 (untimed, not invented) and the recorded one", on[50:52])
			}
			rates := extra["pred_cnn"].Data.([]float32)
			if fmt.Sprint(rates[:3]) != "[1 2 3]" || rates[3] == rates[3] || fmt.Sprint(extra["pred_cnn_cell_ids"].Data) != "[3 7 11]" {
				t.Errorf("pred_cnn %v..., cell ids %v: want bin 0 as published, NaN after", rates[:6], extra["pred_cnn_cell_ids"].Data)
			}
			// And the file round-trips through the dataset format.
			path := filepath.Join(t.TempDir(), "s1.npz")
			if err := dataset.Write(path, d); err != nil {
				t.Fatal(err)
			}
			back, err := dataset.Read(path)
			if err != nil || back.T != 200 || back.C != 3 {
				t.Fatalf("read back: %v %v", back, err)
			}
		})
	}
}

func TestExportErrors(t *testing.T) {
	b := startBus(t, false, true)
	subj := mustSubjects(t, "rig1")
	ctx := context.Background()
	if err := Record(ctx, b.Conn(), subj, RecordOptions{}); err != nil {
		t.Fatal(err)
	}
	publishSession(t, b, subj, "s1", true)
	waitStored(t, b, subj, 604)
	if _, _, err := Export(ctx, b.Conn(), subj, "s1", ExportOptions{}); err == nil || !strings.Contains(err.Error(), `stimulus "test" carries no pixels`) {
		t.Errorf("without a frame maker: %v", err)
	}
	if _, _, err := Export(ctx, b.Conn(), subj, "nope", ExportOptions{}); !errors.Is(err, ErrNoSession) {
		t.Errorf("missing session: %v", err)
	}
}

// TestExportSkipsMalformed injects malformed messages into a recorded session (spikes that do
// not decode, whose arrays disagree or whose times fall outside their batch, a frame onset with
// no source, a prediction with the wrong number of rates) and leaves out its STOP: the export
// succeeds with exactly the dataset of the clean session, and its summary counts each skipped
// message under its subject and says the session was interrupted.
func TestExportSkipsMalformed(t *testing.T) {
	b := startBus(t, false, true)
	subj := mustSubjects(t, "rig1")
	ctx := context.Background()
	if err := Record(ctx, b.Conn(), subj, RecordOptions{}); err != nil {
		t.Fatal(err)
	}
	raw := func(subject string, data []byte) {
		if err := b.Conn().Publish(subject, data); err != nil {
			t.Fatal(err)
		}
	}
	injected := 0
	publishSessionWith(t, b, subj, "s1", true, false, func(f int64) {
		switch f {
		case 20:
			raw(subj.Spikes, []byte{0xff, 0xff, 0xff}) // not protobuf
		case 40:
			publishProto(t, b, subj.Spikes, &pb.Spikes{Seq: 999, CellIds: []int32{7, 7}, TimesAcqNs: []int64{1}})
		case 60:
			publishProto(t, b, subj.Spikes, &pb.Spikes{Seq: 998, StartAcqNs: 10, EndAcqNs: 20, CellIds: []int32{7}, TimesAcqNs: []int64{30}})
		case 80:
			publishProto(t, b, subj.Frame, &pb.FrameOnset{Session: "s1", Frame: 5})
		case 90:
			publishProto(t, b, subj.Prediction("cnn"), &pb.Prediction{Session: "s1", Model: "cnn", Bin: 90, Rates: []float32{1}})
		default:
			return
		}
		injected++
	})
	waitStored(t, b, subj, uint64(1+1+1+200+199+200+injected))
	d, sum, err := Export(ctx, b.Conn(), subj, "s1", ExportOptions{Frames: testMaker})
	if err != nil {
		t.Fatalf("export with malformed messages: %v", err)
	}
	want := map[string]int{subj.Spikes: 3, subj.Frame: 1, subj.Prediction("cnn"): 1}
	if fmt.Sprint(sum.Skipped) != fmt.Sprint(want) {
		t.Errorf("skipped %v, want %v", sum.Skipped, want)
	}
	for subject, e := range sum.SkipErrors {
		if !strings.Contains(e, "malformed") || !strings.Contains(e, "sequence ") {
			t.Errorf("%s: first error %q: want the sequence and what is malformed", subject, e)
		}
	}
	if !sum.Interrupted() || d.T != 200 || sum.Spikes != 140 || fmt.Sprint(d.CellIDs) != "[3 7 11]" {
		t.Errorf("interrupted %v, %d bins, %d spikes, cells %v: want true, 200, 140, [3 7 11]", sum.Interrupted(), d.T, sum.Spikes, d.CellIDs)
	}
	var report strings.Builder
	sum.Report(&report)
	for _, s := range []string{"skipped 3 malformed messages on " + subj.Spikes, "skipped 1 malformed messages on " + subj.Frame} {
		if !strings.Contains(report.String(), s) {
			t.Errorf("report does not say %q:\n%s", s, report.String())
		}
	}
	t.Logf("report:\n%s", report.String())
}

// FuzzRecordAdd: no recorded message, whatever its bytes and subject, makes the export's
// reader panic; each is used or refused as malformed.
func FuzzRecordAdd(f *testing.F) {
	subj, _ := contract.SubjectsFor("rig1")
	for _, m := range examples() {
		b, _ := proto.Marshal(m)
		f.Add(uint8(0), b)
	}
	f.Add(uint8(1), []byte{0xff})
	subjects := []string{subj.Frame, subj.Spikes, subj.Sync, subj.Event, subj.Prediction("cnn"), subj.Status}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		r := newRecord("s1", subj)
		for _, s := range subjects {
			_ = r.add(s, data)
		}
		_ = r.add(subjects[int(which)%len(subjects)], data)
	})
}

// TestExportBinsOfSeveralFrames: at a bin rate of the frame rate / 2, a bin holds two frames
// (the stimulus their mean, the counts their sum), and bins begin at even display frames, as a
// model binning two frames does, so bin 0 begins at session frame 1 when the session began at
// an odd display frame.
func TestExportBinsOfSeveralFrames(t *testing.T) {
	subj := mustSubjects(t, "rig1")
	r := newRecord("s", subj)
	add := func(subject string, m proto.Message) {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.add(subject, b); err != nil {
			t.Fatal(err)
		}
	}
	src := &pb.StimulusSource{Kind: "test", Height: 1, Width: 1, FrameRateHz: 100}
	for f := range int64(10) {
		onset := int64(1e9) + f*10e6
		add(subj.Frame, &pb.FrameOnset{Session: "s", Frame: uint64(f), DisplayFrame: uint64(f + 5), Source: src, Pixels: []float32{float32(f)},
			FlipHostNs: onset - 8e6, OnsetHostNs: onset, Confirmed: true})
		add(subj.Sync, &pb.Sync{Seq: uint64(f), Frame: uint64(f + 5), HasFrame: true, TimeAcqNs: onset + 3e9, Source: pb.Sync_PHOTODIODE})
		add(subj.Spikes, &pb.Spikes{Seq: uint64(f), StartAcqNs: onset + 3e9, EndAcqNs: onset + 3e9 + 10e6, CellIds: []int32{1}, TimesAcqNs: []int64{onset + 3e9 + 5e6}})
	}
	sum := &ExportSummary{Predictions: map[string]int{}}
	lay, _, err := r.plan(50, sum)
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.dataset(lay, 50, nil, sum)
	if err != nil {
		t.Fatal(err)
	}
	if d.T != 4 || fmt.Sprint(d.Stimulus) != "[1.5 3.5 5.5 7.5]" || fmt.Sprint(d.Counts) != "[2 2 2 2]" || sum.SpikesOutside != 2 {
		t.Errorf("T %d, stimulus %v, counts %v, %d spikes outside; want 4, [1.5 3.5 5.5 7.5], [2 2 2 2], 2", d.T, d.Stimulus, d.Counts, sum.SpikesOutside)
	}
	for _, a := range d.Extra {
		if a.Name == "bin_first_frame" && fmt.Sprint(a.Data) != "[1 3 5 7]" {
			t.Errorf("bin_first_frame %v, want [1 3 5 7]", a.Data)
		}
	}
}

// TestExportRefusesAChangedMovie records frames of a movie described as the daemon describes
// them, changes the movie file, and exports: the export refuses, naming the file, rather than
// rebuild frames that were never shown.
func TestExportRefusesAChangedMovie(t *testing.T) {
	dir := t.TempDir()
	movie := filepath.Join(dir, "movie.npz")
	write := func(v float32) {
		d := &dataset.Dataset{T: 3, H: 2, W: 2, C: 1, FrameRate: 100, CellIDs: []int64{0},
			Stimulus: []float32{v, 0, 0, 0, 0, v, 0, 0, 0, 0, v, 0}, Counts: make([]float32, 3)}
		if err := dataset.Write(movie, d); err != nil {
			t.Fatal(err)
		}
	}
	write(0.5)
	cfg := configs.Default().Stimulus
	cfg.Kind, cfg.Height, cfg.Width, cfg.Movie = "movie", 2, 2, configs.Movie{File: movie, Loop: true}
	src, err := stimulus.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	desc := src.Describe().Proto()
	b := startBus(t, false, true)
	subj := mustSubjects(t, "rig1")
	ctx := context.Background()
	if err := Record(ctx, b.Conn(), subj, RecordOptions{}); err != nil {
		t.Fatal(err)
	}
	publishProto(t, b, subj.Session, &pb.SessionEvent{Session: "m", Kind: pb.SessionEvent_START, BinRateHz: 100})
	for f := range int64(6) {
		onset := int64(1e9) + f*10e6
		publishProto(t, b, subj.Frame, &pb.FrameOnset{Session: "m", Frame: uint64(f), Index: uint64(f % 3), Source: desc,
			FlipHostNs: onset - 8e6, OnsetHostNs: onset, Confirmed: true})
	}
	publishProto(t, b, subj.Prediction("ln"), &pb.Prediction{Session: "m", Model: "ln", CellIds: []int32{1}, Rates: []float32{1}})
	publishProto(t, b, subj.Session, &pb.SessionEvent{Session: "m", Kind: pb.SessionEvent_STOP})
	waitStored(t, b, subj, 9)
	if _, _, err := Export(ctx, b.Conn(), subj, "m", ExportOptions{Frames: stimulus.NewRebuilder().Frame}); err != nil {
		t.Fatalf("the movie as shown: %v", err)
	}
	write(0.25)
	_, _, err = Export(ctx, b.Conn(), subj, "m", ExportOptions{Frames: stimulus.NewRebuilder().Frame})
	if err == nil || !strings.Contains(err.Error(), movie) || !strings.Contains(err.Error(), "SHA-256") {
		t.Errorf("the movie changed after the session: error %v, want one naming %s and its SHA-256", err, movie)
	}
}

// TestExportTail: spikes the acquisition system publishes after the session's STOP count when
// their batch continues the session's (seq + 1); a batch of another acquisition run (its seq
// restarts, as after a daemon restart) ends the reading, whatever its times.
func TestExportTail(t *testing.T) {
	b := startBus(t, false, true)
	subj := mustSubjects(t, "rig1")
	ctx := context.Background()
	if err := Record(ctx, b.Conn(), subj, RecordOptions{}); err != nil {
		t.Fatal(err)
	}
	src := &pb.StimulusSource{Kind: "movie", Height: 1, Width: 1, FrameRateHz: 100}
	onset := func(f int64) int64 { return int64(1e9) + f*10e6 }
	batch := func(seq uint64, f int64) *pb.Spikes { // frame f's interval, a spike of cell 1 in its middle
		return &pb.Spikes{Seq: seq, StartAcqNs: onset(f) + 3e9, EndAcqNs: onset(f+1) + 3e9, CellIds: []int32{1}, TimesAcqNs: []int64{onset(f) + 3e9 + 5e6}}
	}
	publishProto(t, b, subj.Session, &pb.SessionEvent{Session: "s1", Kind: pb.SessionEvent_START, BinRateHz: 100})
	for f := range int64(10) {
		publishProto(t, b, subj.Frame, &pb.FrameOnset{Session: "s1", Frame: uint64(f), Source: src, Pixels: []float32{0},
			FlipHostNs: onset(f) - 8e6, OnsetHostNs: onset(f), Confirmed: true})
		publishProto(t, b, subj.Sync, &pb.Sync{Seq: uint64(f), Frame: uint64(f), HasFrame: true, TimeAcqNs: onset(f) + 3e9, Source: pb.Sync_PHOTODIODE})
		if f < 8 { // the acquisition is two frames behind at the STOP
			publishProto(t, b, subj.Spikes, batch(uint64(f), f))
		}
	}
	publishProto(t, b, subj.Session, &pb.SessionEvent{Session: "s1", Kind: pb.SessionEvent_STOP})
	publishProto(t, b, subj.Session, &pb.SessionEvent{Session: "s2", Kind: pb.SessionEvent_START})
	publishProto(t, b, subj.Spikes, batch(8, 8)) // continues: counted
	publishProto(t, b, subj.Spikes, batch(0, 9)) // another run: not this session's
	publishProto(t, b, subj.Spikes, batch(9, 9)) // after the end of reading
	waitStored(t, b, subj, 1+10+10+8+2+3)
	d, sum, err := Export(ctx, b.Conn(), subj, "s1", ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(d.Counts) != "[1 1 1 1 1 1 1 1 1 0]" || sum.Spikes != 9 || sum.BinsUncovered != 1 {
		t.Errorf("counts %v, %d spikes, %d bins uncovered; want frames 0-8 with their spike, 9, 1 (bin 9, past the batches read)", d.Counts, sum.Spikes, sum.BinsUncovered)
	}
}
