package rig_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"retinad/configs"
	"retinad/daemon/rig"
)

// TestPrometheus runs the simulated rig with its dashboard listener on a free port and starts
// Debian's prometheus scraping /metrics every 250 ms; through Prometheus's HTTP API the frame
// counter rises at the stimulus rate (with the refreshes missed, which a loaded machine makes)
// and every model's step-time histogram is there.
func TestPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("Debian's prometheus is not installed (scripts/setup installs it): %v", err)
	}
	cfg := configs.Default()
	cfg.Display.Mode = "auto"
	cfg.Stimulus.Kind = "whitenoise"
	cfg.Stimulus.WhiteNoise.Checker = 5
	cfg.NATS.Listen = ""
	cfg.Recording.Enabled = false
	cfg.Dashboard.Listen = "127.0.0.1:0"
	cfg.Models, _ = modelFiles(t)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var r *rig.Rig
	onMain(func() { r, err = rig.Open(&cfg, rig.Options{Session: "prometheus"}) })
	if err != nil {
		t.Fatal(err)
	}
	defer onMain(func() { r.Close() })
	target := strings.TrimPrefix(r.DashboardURL(), "http://")
	api := startPrometheus(t, bin, target)

	ctx, cancel := context.WithCancel(context.Background())
	var rate, missedRate float64
	var steps map[string]float64
	var queryErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cancel()
		// Wait for a 3 s rate window of scrapes, then read the rate and the histograms.
		deadline := time.Now().Add(60 * time.Second)
		var first time.Time // the first successful scrape
		for ; time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
			up, err := query(api, "up")
			if err != nil || up[""] != 1 {
				continue
			}
			if first.IsZero() {
				first = time.Now()
			}
			if time.Since(first) < 4*time.Second {
				continue
			}
			var rates map[string]float64
			if rates, queryErr = query(api, "rate(retinad_frames_total[3s])"); queryErr != nil {
				return
			}
			rate = rates[""]
			if rates, queryErr = query(api, "rate(retinad_refreshes_missed_total[3s])"); queryErr != nil {
				return
			}
			missedRate = rates[""]
			steps, queryErr = query(api, "retinad_model_step_seconds_count")
			return
		}
		queryErr = fmt.Errorf("prometheus never scraped %s (query up)", target)
	}()
	var runErr error
	onMain(func() { runErr = r.Run(ctx) })
	<-done
	if runErr != nil {
		t.Fatalf("Run: %v", runErr)
	}
	if queryErr != nil {
		t.Fatal(queryErr)
	}
	// Each refresh the presenter missed is a frame shown late (on a loaded machine, many): the
	// frames and the missed refreshes together rise at the stimulus rate.
	want := float64(cfg.Stimulus.FrameRate)
	t.Logf("through Prometheus: frames %.2f/s, missed refreshes %.2f/s (stimulus %g Hz); step counts %v", rate, missedRate, want, steps)
	if sum := rate + missedRate; sum < 0.85*want || sum > 1.15*want || rate <= 0 {
		t.Errorf("frame counter rises at %.2f/s and missed refreshes at %.2f/s through Prometheus, want together the stimulus rate %g Hz", rate, missedRate, want)
	}
	for _, m := range cfg.Models {
		if steps[m.Name] < 1 {
			t.Errorf("retinad_model_step_seconds_count{model=%q} = %v in Prometheus, want steps counted", m.Name, steps[m.Name])
		}
	}
}

// startPrometheus runs prometheus scraping target every 250 ms with its storage in a temporary
// folder, and returns its HTTP API's base URL. Its port is one the kernel just handed out free
// (prometheus does not report a port 0 listener's real port).
func startPrometheus(t *testing.T, bin, target string) string {
	dir := t.TempDir()
	conf := filepath.Join(dir, "prometheus.yml")
	yml := fmt.Sprintf("global: {scrape_interval: 250ms, scrape_timeout: 200ms}\nscrape_configs:\n  - job_name: retinad\n    static_configs: [{targets: [%q]}]\n", target)
	if err := os.WriteFile(conf, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "--config.file="+conf, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus:\n%s", logs.String())
		}
	})
	return "http://" + addr
}

// query runs an instant query and returns each series' value by its model label ("" without).
func query(api, q string) (map[string]float64, error) {
	resp, err := http.Get(api + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string
		Error  string
		Data   struct {
			Result []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("prometheus query %s: %w", q, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("prometheus query %s: %s", q, body.Error)
	}
	out := map[string]float64{}
	for _, s := range body.Data.Result {
		str, _ := s.Value[1].(string)
		v, err := strconv.ParseFloat(str, 64)
		if err != nil {
			return nil, fmt.Errorf("prometheus query %s: value %v: %w", q, s.Value[1], err)
		}
		out[s.Metric["model"]] = v
	}
	return out, nil
}
