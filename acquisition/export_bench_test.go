package acquisition

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"retinad/configs"
	"retinad/infer/dataset"
	"retinad/proto/contract"
	pb "retinad/proto/retinadpb"
	"retinad/stimulus"
)

// BenchmarkExportSession exports a recorded session of RETINAD_BENCH_SESSION (default 1m;
// "1h" for the README's figure) at 100 Hz, with the messages a daemon running configs/sim.yaml
// records: every frame's onset with its natural-scene source described as the daemon
// describes it (stimulus YAML and photographs' SHA-256), two models' predictions of 16 cells
// per bin, a sync edge per frame, a spike batch every 20 ms (500 spikes/s), status at 4 Hz and
// validation at 1 Hz per model. The record is built by publishing those messages through
// JetStream into the recording stream (not replicated from a real run), and its size per hour
// of session is reported beside the export time. One iteration rebuilds every frame from the
// record and writes the .npz (write-s is the write alone, through infer/npy).
func BenchmarkExportSession(b *testing.B) {
	length := time.Minute
	if s := os.Getenv("RETINAD_BENCH_SESSION"); s != "" {
		var err error
		if length, err = time.ParseDuration(s); err != nil {
			b.Fatalf("RETINAD_BENCH_SESSION=%q: %v", s, err)
		}
	}
	bus := startBus(b, false, true)
	subj := mustSubjects(b, "sim")
	ctx := context.Background()
	if err := Record(ctx, bus.Conn(), subj, RecordOptions{}); err != nil {
		b.Fatal(err)
	}
	cfg := configs.Default().Stimulus
	cfg.Kind, cfg.Height, cfg.Width, cfg.FrameRate, cfg.Seed = "natural", 50, 50, 100, 1
	src, err := stimulus.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	frames := publishBenchSession(b, bus, subj, src.Describe().Proto(), length)
	info, err := streamInfo(ctx, bus.Conn(), subj)
	if err != nil {
		b.Fatal(err)
	}
	hours := length.Hours()
	b.Logf("record: %d frames, %d messages, %.1f MB (%.0f MB per hour of session), built in %v",
		frames, info.State.Msgs, float64(info.State.Bytes)/1e6, float64(info.State.Bytes)/1e6/hours, time.Since(t0).Round(time.Second))
	out := filepath.Join(b.TempDir(), "s.npz")
	var write time.Duration
	b.ResetTimer()
	for range b.N {
		d, sum, err := Export(ctx, bus.Conn(), subj, "bench", ExportOptions{Frames: stimulus.NewRebuilder().Frame})
		if err != nil {
			b.Fatal(err)
		}
		if d.T != frames || len(sum.Skipped) != 0 {
			b.Fatalf("%d bins for %d frames; skipped %v", d.T, frames, sum.Skipped)
		}
		start := time.Now()
		if err := dataset.Write(out, d); err != nil {
			b.Fatal(err)
		}
		write += time.Since(start)
	}
	b.StopTimer()
	if st, err := os.Stat(out); err == nil {
		b.ReportMetric(float64(st.Size())/1e6, "npzMB")
	}
	b.ReportMetric(write.Seconds()/float64(b.N), "write-s")
	b.ReportMetric(float64(info.State.Bytes)/1e6/hours, "recordMB/h")
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)/hours, "s/session-hour")
}

// publishBenchSession records a session of length at 100 Hz and returns its frames.
func publishBenchSession(b *testing.B, bus *Bus, subj contract.Subjects, src *pb.StimulusSource, length time.Duration) int {
	js, err := jetstream.New(bus.Conn(), jetstream.WithPublishAsyncMaxPending(4096),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) {
			b.Errorf("record %s: %v", m.Subject, err)
		}))
	if err != nil {
		b.Fatal(err)
	}
	pub := func(subject string, m proto.Message) {
		data, err := proto.Marshal(m)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := js.PublishAsync(subject, data); err != nil {
			b.Fatal(err)
		}
	}
	const period, cells = int64(10e6), 16
	frames := int(length / time.Duration(period))
	ids := make([]int32, cells)
	rates := make([]float32, cells)
	for c := range ids {
		ids[c], rates[c] = int32(c), float32(c)
	}
	pub(subj.Session, &pb.SessionEvent{Session: "bench", Kind: pb.SessionEvent_START, BinRateHz: 100, Rig: "sim"})
	status := &pb.Status{Session: "bench", Models: []*pb.ModelStatus{{Name: "cnn", CellIds: ids}, {Name: "ln", CellIds: ids}}}
	val := &pb.ValidationReport{Session: "bench", CellIds: ids, PearsonR: make([]float64, cells), PredictedRate: make([]float64, cells), ObservedRate: make([]float64, cells)}
	seed := uint64(1)
	next := func() uint64 { seed = seed*6364136223846793005 + 1442695040888963407; return seed >> 33 }
	var batch uint64
	sp := &pb.Spikes{}
	for f := range frames {
		onset := int64(1e12) + int64(f)*period
		acq := onset + 3e9
		pub(subj.Frame, &pb.FrameOnset{Session: "bench", Frame: uint64(f), DisplayFrame: uint64(f + 1000), Source: src, Index: uint64(f),
			FlipHostNs: onset - 8e6, FlipUnixNs: onset + 1.7e18, OnsetHostNs: onset, OnsetUnixNs: onset + 1.7e18, LatencyNs: 8e6, Confirmed: true})
		for _, m := range []string{"cnn", "ln"} {
			p := &pb.Prediction{Session: "bench", Model: m, Bin: uint64(f), Frame: uint64(f), BinStartHostNs: onset, BinWidthNs: period, Rates: rates, Confirmed: true}
			if f == 0 {
				p.CellIds = ids
			}
			pub(subj.Prediction(m), p)
		}
		pub(subj.Sync, &pb.Sync{Seq: uint64(f), TimeAcqNs: acq, Source: pb.Sync_PHOTODIODE, Frame: uint64(f + 1000), HasFrame: true, Rising: f%2 == 1})
		for range next() % 11 { // 5 spikes a frame on average: 500/s
			sp.CellIds = append(sp.CellIds, int32(next()%cells))
			sp.TimesAcqNs = append(sp.TimesAcqNs, acq+int64(next()%uint64(period)))
		}
		if f%2 == 1 { // a batch every 20 ms
			sp.Seq, sp.StartAcqNs, sp.EndAcqNs = batch, acq-period, acq+period
			pub(subj.Spikes, sp)
			batch++
			sp = &pb.Spikes{}
		}
		if f%25 == 0 {
			status.Frames, status.HostNs = uint64(f), onset
			pub(subj.Status, status)
		}
		if f%100 == 0 {
			for _, m := range []string{"cnn", "ln"} {
				val.Model, val.HostNs, val.MeanPearsonR = m, onset, math.Sqrt(0.2)
				pub(subj.Validation, val)
			}
		}
	}
	pub(subj.Session, &pb.SessionEvent{Session: "bench", Kind: pb.SessionEvent_STOP})
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(10 * time.Minute):
		b.Fatal("the record was not stored within 10 minutes")
	}
	return frames
}
