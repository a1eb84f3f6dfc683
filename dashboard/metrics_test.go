package dashboard

import (
	"context"
	"io"
	"math"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"retinad/acquisition"
	"retinad/configs"
	"retinad/daemon"
	"retinad/internal/testwait"
	pb "retinad/proto/retinadpb"
)

// TestMetrics serves fixed figures on a real listener and a real embedded NATS server, publishes
// a prediction and a confirmed frame onset, and reads /metrics over HTTP: the counters and
// gauges say the figures in base units, a model without a live r has no retinad_live_r sample,
// and the histograms counted the messages.
func TestMetrics(t *testing.T) {
	nc := configs.Default().NATS
	nc.Listen = ""
	bus, err := acquisition.Start(nc, acquisition.BusOptions{Name: "dashboard test", Rig: "t"})
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Stop()
	subj, err := acquisition.SubjectsFor("t")
	if err != nil {
		t.Fatal(err)
	}
	fig := daemon.Figures{Frames: 1234, Missed: 2, Dropped: 3, Untimed: 4, PublishQueued: 7, AcqDriftPPM: 20,
		FlipToPublish: histogramOf([]int64{10e6, 20e6}, 9e6, 12e6),
		DiodeDriftPPM: -3, OnsetsQueued: 5, FlipsQueued: 6,
		OnsetToPublish: histogramOf([]int64{10e3, 100e3}, 20e3, 30e3, 200e3),
		OnsetError:     histogramOf([]int64{-5e3, 0, 5e3}, -7e3, 2e3),
		PublishSend:    histogramOf([]int64{1e3}, 500),
		Models: []daemon.ModelFigures{
			{Name: "cnn", Steps: 100, Published: 99, Skipped: 1, Deadline: 5 * time.Millisecond, LiveR: 0.5, InQueued: 3, OutQueued: 1},
			{Name: "ln", Steps: 10, Published: 10, LiveR: math.NaN()},
		}}
	m := NewMetrics(func() daemon.Figures { return fig })
	stop, err := m.Subscribe(bus.Conn(), subj)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	srv, err := Listen("127.0.0.1:0", Options{Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	publish(t, bus, subj.Prediction("cnn"), &pb.Prediction{Model: "cnn", ComputeNs: 2_000_000})
	publish(t, bus, subj.Frame, &pb.FrameOnset{Confirmed: true, LatencyNs: 12_000_000})
	publish(t, bus, subj.Frame, &pb.FrameOnset{Confirmed: false, LatencyNs: 0}) // untimed: not a latency
	if err := bus.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"retinad_frames_total 1234",
		"retinad_refreshes_missed_total 2",
		"retinad_frames_dropped_total 3",
		"retinad_frames_untimed_total 4",
		`retinad_predictions_total{model="cnn"} 99`,
		`retinad_bins_skipped_total{model="cnn"} 1`,
		`retinad_model_deadline_seconds{model="cnn"} 0.005`,
		`retinad_live_r{model="cnn"} 0.5`,
		"retinad_publish_queue_messages 7",
		"retinad_acquisition_clock_drift_ratio 2e-05",
		`retinad_flip_to_publish_seconds_bucket{le="0.01"} 1`,
		`retinad_flip_to_publish_seconds_bucket{le="0.02"} 2`,
		"retinad_flip_to_publish_seconds_sum 0.021",
		`retinad_model_step_seconds_count{model="cnn"} 1`,
		`retinad_model_step_seconds_sum{model="cnn"} 0.002`,
		"retinad_flip_to_light_seconds_count 1",
		"retinad_flip_to_light_seconds_sum 0.012",
		"retinad_photodiode_clock_drift_ratio -3e-06",
		`retinad_stamper_queue_frames{queue="onsets"} 5`,
		`retinad_stamper_queue_frames{queue="flips"} 6`,
		`retinad_model_queue_frames{model="cnn",queue="in"} 3`,
		`retinad_model_queue_frames{model="cnn",queue="out"} 1`,
		`retinad_onset_to_publish_seconds_bucket{le="1e-05"} 0`,
		`retinad_onset_to_publish_seconds_bucket{le="0.0001"} 2`,
		`retinad_onset_to_publish_seconds_bucket{le="+Inf"} 3`,
		"retinad_onset_to_publish_seconds_sum 0.00025",
		`retinad_onset_error_seconds_bucket{le="-5e-06"} 1`,
		`retinad_onset_error_seconds_bucket{le="0"} 1`,
		`retinad_onset_error_seconds_bucket{le="5e-06"} 2`,
		"retinad_onset_error_seconds_count 2",
		`retinad_nats_publish_latency_seconds_bucket{le="1e-06"} 1`,
		"retinad_nats_publish_latency_seconds_count 1",
	}
	var body string
	// The subscriptions deliver on their own goroutine: wait for the histograms to count.
	testwait.Until(5*time.Second, func() bool { // what is still missing then is named below
		body = get(t, "http://"+srv.Addr()+"/metrics")
		return strings.Contains(body, "retinad_flip_to_light_seconds_count 1") && strings.Contains(body, `retinad_model_step_seconds_count{model="cnn"} 1`)
	})
	for _, w := range want {
		if !strings.Contains(body, w+"\n") {
			t.Errorf("/metrics has no line %q", w)
		}
	}
	if strings.Contains(body, `retinad_live_r{model="ln"}`) {
		t.Errorf("/metrics says a live r for ln, which has none yet (NaN)")
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}

// histogramOf is a histogram of xs (ns) with the given bounds, as the daemon's Figures carry.
func histogramOf(upper []int64, xs ...int64) acquisition.HistogramSnapshot {
	h := acquisition.NewHistogram(upper...)
	for _, x := range xs {
		h.Observe(x)
	}
	return h.Snapshot()
}

// TestListenBusy: a held address is refused with the field to change.
func TestListenBusy(t *testing.T) {
	a, err := Listen("127.0.0.1:0", Options{Metrics: NewMetrics(func() daemon.Figures { return daemon.Figures{} })})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	_, err = Listen(a.Addr(), Options{})
	if err == nil || !strings.Contains(err.Error(), "dashboard: dashboard.listen "+a.Addr()) || !strings.Contains(err.Error(), "set dashboard.listen to a free address") {
		t.Errorf("second listener on %s: %v", a.Addr(), err)
	}
}

func publish(t *testing.T, bus *acquisition.Bus, subject string, m proto.Message) {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Conn().Publish(subject, b); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}

// TestMetricsLint runs Debian's promtool (from the prometheus package) over /metrics with every
// metric present: names, units and help by Prometheus's conventions.
func TestMetricsLint(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("Debian's promtool is not installed (the prometheus package; scripts/setup installs it): %v", err)
	}
	fig := daemon.Figures{Frames: 1, OnsetToPublish: histogramOf([]int64{1e3}, 5), OnsetError: histogramOf([]int64{0}, -5),
		PublishSend: histogramOf([]int64{1e3}, 5), Models: []daemon.ModelFigures{{Name: "cnn", LiveR: 0.5}}}
	m := NewMetrics(func() daemon.Figures { return fig })
	m.step.WithLabelValues("cnn").Observe(0.001)
	m.flip.Observe(0.008)
	srv, err := Listen("127.0.0.1:0", Options{Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()
	body := get(t, "http://"+srv.Addr()+"/metrics")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
