package dashboard

import (
	"fmt"
	"math"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"retinad/acquisition"
	"retinad/daemon"
	"retinad/proto/contract"
	pb "retinad/proto/retinadpb"
)

// Metrics is the daemon's figures as a prometheus.Collector, plus the histograms that the
// NATS messages feed (Subscribe).
type Metrics struct {
	figures func() daemon.Figures
	step    *prometheus.HistogramVec // retinad_model_step_seconds{model}
	flip    prometheus.Histogram     // retinad_flip_to_light_seconds
}

// NewMetrics returns the collector of figures (daemon.Daemon.Figures).
func NewMetrics(figures func() daemon.Figures) *Metrics {
	return &Metrics{
		figures: figures,
		step: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "retinad_model_step_seconds",
			Help: "Compute time of one model step (one bin), from the predictions published on NATS.",
			// 50 us to ~100 ms: an LN steps in tens of microseconds, the paper's CNN in milliseconds.
			Buckets: prometheus.ExponentialBuckets(50e-6, 2, 12),
		}, []string{"model"}),
		flip: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "retinad_flip_to_light_seconds",
			Help: "Photodiode-confirmed onset minus buffer-swap time of each confirmed frame.",
			// 1 ms to ~130 ms: a monitor's input lag plus up to a few refreshes.
			Buckets: prometheus.ExponentialBuckets(1e-3, 1.5, 13),
		}),
	}
}

// Subscribe feeds the histograms from the rig's frame and prediction subjects on nc. The
// returned function unsubscribes.
func (m *Metrics) Subscribe(nc *nats.Conn, subj contract.Subjects) (func(), error) {
	preds, err := nc.Subscribe(subj.AllPredictions, m.onPrediction)
	if err != nil {
		return nil, fmt.Errorf("dashboard: subscribe %s: %w", subj.AllPredictions, err)
	}
	frames, err := nc.Subscribe(subj.Frame, m.onFrame)
	if err != nil {
		preds.Unsubscribe()
		return nil, fmt.Errorf("dashboard: subscribe %s: %w", subj.Frame, err)
	}
	return func() { preds.Unsubscribe(); frames.Unsubscribe() }, nil
}

func (m *Metrics) onPrediction(msg *nats.Msg) {
	var p pb.Prediction
	if proto.Unmarshal(msg.Data, &p) != nil || p.Model == "" {
		return // not ours to judge: the daemon's own messages decode
	}
	m.step.WithLabelValues(p.Model).Observe(time.Duration(p.ComputeNs).Seconds())
}

func (m *Metrics) onFrame(msg *nats.Msg) {
	var f pb.FrameOnset
	if proto.Unmarshal(msg.Data, &f) != nil || !f.Confirmed {
		return
	}
	m.flip.Observe(time.Duration(f.LatencyNs).Seconds())
}

var (
	descFrames      = desc("retinad_frames_total", "Stimulus frames presented in the session (resets when a session starts).")
	descMissed      = desc("retinad_refreshes_missed_total", "Monitor refreshes the presenter missed in the session.")
	descDropped     = desc("retinad_frames_dropped_total", "Frames the photodiode found dropped by the monitor in the session.")
	descUntimed     = desc("retinad_frames_untimed_total", "Frames without a photodiode-confirmed onset in the session.")
	descSpikes      = desc("retinad_spikes_total", "Recorded spikes accepted in the session.")
	descRejected    = desc("retinad_inbound_rejected_total", "Inbound spike and sync messages rejected in the session.")
	descPublished   = desc("retinad_published_total", "Messages the daemon published since it started.")
	descPubDropped  = desc("retinad_publish_dropped_total", "Messages the full publish queue dropped since the daemon started.")
	descPubErrors   = desc("retinad_publish_errors_total", "Publishes that failed since the daemon started.")
	descSteps       = prometheus.NewDesc("retinad_model_steps_total", "Model steps (bins) computed.", []string{"model"}, nil)
	descPredictions = prometheus.NewDesc("retinad_predictions_total", "Predictions published.", []string{"model"}, nil)
	descSkipped     = prometheus.NewDesc("retinad_bins_skipped_total", "Bins skipped: the step was ready after its deadline.", []string{"model"}, nil)
	descLiveR       = prometheus.NewDesc("retinad_live_r", "Mean Pearson r of predicted against recorded rates over the validation window.", []string{"model"}, nil)
	descDeadline    = prometheus.NewDesc("retinad_model_deadline_seconds", "A step ready later than this after its frame's flip is skipped.", []string{"model"}, nil)
	descQueue       = desc("retinad_publish_queue_messages", "Messages waiting in the bus's publish queue.")
	descDrift       = desc("retinad_acquisition_clock_drift_ratio", "Drift of the acquisition system's clock against the host's (1e-6 is 1 ppm).")
	descFrameRate   = desc("retinad_frame_rate_hertz", "Frames per second the display ran at in the session.")
	descOnsetLat    = desc("retinad_onset_latency_seconds", "The photodiode's current flip-to-light latency estimate.")
	descBusDown     = desc("retinad_nats_disconnected_seconds", "How long the NATS connection has been lost (0: connected).")
	descDiodeDown   = desc("retinad_photodiode_disconnected_seconds", "How long the photodiode has been away (0: connected or none).")
	descDiodeDrift  = desc("retinad_photodiode_clock_drift_ratio", "Fitted drift of the photodiode device's clock against the host's (1e-6 is 1 ppm; 0 without a device).")
	descStampQueue  = prometheus.NewDesc("retinad_stamper_queue_frames", "Frames waiting for the stamper: their onsets from the photodiode, or their flips from the frame loop.", []string{"queue"}, nil)
	descModelQueue  = prometheus.NewDesc("retinad_model_queue_frames", "Frames waiting for a model's step (in), or its steps waiting for their frame's onset (out).", []string{"model", "queue"}, nil)
	descOnsetToPub  = desc("retinad_onset_to_publish_seconds", "A photodiode onset's arrival in the daemon to each of its frame's predictions handed to the publish queue.")
	descOnsetErr    = desc("retinad_onset_error_seconds", "Photodiode onset minus the acquisition system's record of the same frame's edge, on the fitted clock (only where sync edges carry frame numbers); signed, so its _sum is no counter.")
	descPubLatency  = desc("retinad_nats_publish_latency_seconds", "A message's time from the daemon's publish queue to its hand-over to the NATS connection.")
	descFlipToPub   = desc("retinad_flip_to_publish_seconds", "A frame's flip to each of its predictions handed to the publish queue (models not observed).")
)

// histogram is one of the daemon's histograms in seconds.
func histogram(d *prometheus.Desc, s acquisition.HistogramSnapshot) prometheus.Metric {
	buckets := make(map[float64]uint64, len(s.UpperNs))
	for i, ns := range s.UpperNs {
		buckets[float64(ns)/1e9] = s.Cumulative[i]
	}
	return prometheus.MustNewConstHistogram(d, s.Count, float64(s.SumNs)/1e9, buckets)
}

// desc describes a metric without labels.
func desc(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }

// Describe sends every metric's description.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descFrames, descMissed, descDropped, descUntimed, descSpikes, descRejected,
		descPublished, descPubDropped, descPubErrors, descSteps, descPredictions, descSkipped, descLiveR, descDeadline,
		descQueue, descDrift, descFrameRate, descOnsetLat, descBusDown, descDiodeDown, descFlipToPub,
		descDiodeDrift, descStampQueue, descModelQueue, descOnsetToPub, descOnsetErr, descPubLatency} {
		ch <- d
	}
	m.step.Describe(ch)
	m.flip.Describe(ch)
}

// Collect reads the figures once and sends them, then the histograms.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	f := m.figures()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter(descFrames, f.Frames)
	counter(descMissed, f.Missed)
	counter(descDropped, f.Dropped)
	counter(descUntimed, f.Untimed)
	counter(descSpikes, f.Spikes)
	counter(descRejected, f.Rejected)
	counter(descPublished, f.Published)
	counter(descPubDropped, f.PublishDropped)
	counter(descPubErrors, f.PublishErrors)
	for _, mf := range f.Models {
		counter(descSteps, mf.Steps, mf.Name)
		counter(descPredictions, mf.Published, mf.Name)
		counter(descSkipped, mf.Skipped, mf.Name)
		gauge(descDeadline, mf.Deadline.Seconds(), mf.Name)
		gauge(descModelQueue, float64(mf.InQueued), mf.Name, "in")
		gauge(descModelQueue, float64(mf.OutQueued), mf.Name, "out")
		if !math.IsNaN(mf.LiveR) { // no r yet: no sample, rather than a NaN on a graph
			gauge(descLiveR, mf.LiveR, mf.Name)
		}
	}
	gauge(descQueue, float64(f.PublishQueued))
	gauge(descDrift, f.AcqDriftPPM/1e6)
	gauge(descFrameRate, f.FrameRate)
	gauge(descOnsetLat, f.OnsetLatency.Seconds())
	gauge(descBusDown, f.BusDown.Seconds())
	gauge(descDiodeDown, f.PhotodiodeDown.Seconds())
	gauge(descDiodeDrift, f.DiodeDriftPPM/1e6)
	gauge(descStampQueue, float64(f.OnsetsQueued), "onsets")
	gauge(descStampQueue, float64(f.FlipsQueued), "flips")
	ch <- histogram(descFlipToPub, f.FlipToPublish)
	ch <- histogram(descOnsetToPub, f.OnsetToPublish)
	ch <- histogram(descOnsetErr, f.OnsetError)
	if f.PublishSend.UpperNs != nil { // no NATS bus: no such latency
		ch <- histogram(descPubLatency, f.PublishSend)
	}
	m.step.Collect(ch)
	m.flip.Collect(ch)
}
