package dashboard

import (
	"context"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"retinad/acquisition"
	"retinad/configs"
	"retinad/daemon"
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
		FlipToPublishP50: 9 * time.Millisecond, FlipToPublishP99: 12 * time.Millisecond,
		Models: []daemon.ModelFigures{
			{Name: "cnn", Steps: 100, Published: 99, Skipped: 1, Deadline: 5 * time.Millisecond, LiveR: 0.5},
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
		`retinad_flip_to_publish_seconds{quantile="0.5"} 0.009`,
		`retinad_flip_to_publish_seconds{quantile="0.99"} 0.012`,
		`retinad_model_step_seconds_count{model="cnn"} 1`,
		`retinad_model_step_seconds_sum{model="cnn"} 0.002`,
		"retinad_flip_to_light_seconds_count 1",
		"retinad_flip_to_light_seconds_sum 0.012",
	}
	var body string
	// The subscriptions deliver on their own goroutine: wait for the histograms to count.
	for deadline := time.Now().Add(5 * time.Second); ; {
		body = get(t, "http://"+srv.Addr()+"/metrics")
		if strings.Contains(body, "retinad_flip_to_light_seconds_count 1") && strings.Contains(body, `retinad_model_step_seconds_count{model="cnn"} 1`) {
			break
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
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
