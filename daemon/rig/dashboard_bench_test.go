package rig_test

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"retinad/configs"
	"retinad/daemon/rig"
)

// BenchmarkDashboardClients runs the simulated rig for a phase without browsers and a phase with
// ten dashboard event streams connected (reading every snapshot), in the same run, and reports
// per phase the frames, the refreshes missed and the process's CPU (user+system, % of one core).
// The frame loop's own allocations are daemon/alloc_test.go's (the dashboard adds nothing to it).
// Run it with -benchtime=1x: each iteration is both phases.
func BenchmarkDashboardClients(b *testing.B) {
	const phase = 5 * time.Second
	cfg := configs.Default()
	cfg.Display.Mode = "auto"
	cfg.Stimulus.Kind = "whitenoise"
	cfg.Stimulus.WhiteNoise.Checker = 5
	cfg.NATS.Listen = ""
	cfg.Recording.Enabled = false
	cfg.Dashboard.Listen = "127.0.0.1:0"
	models, _ := modelFiles(b)
	cfg.Models = models
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	var r *rig.Rig
	var err error
	onMain(func() { r, err = rig.Open(&cfg, rig.Options{Session: "bench"}) })
	if err != nil {
		b.Fatal(err)
	}
	defer onMain(func() { r.Close() })
	type span struct {
		frames, missed uint64
		cpu            time.Duration
	}
	measure := func(ctx context.Context) span {
		f0, c0 := r.Daemon().Figures(), cpuTime()
		select {
		case <-ctx.Done():
		case <-time.After(phase):
		}
		f1, c1 := r.Daemon().Figures(), cpuTime()
		return span{f1.Frames - f0.Frames, f1.Missed - f0.Missed, c1 - c0}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var without, with span
	var events atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cancel()
		time.Sleep(2 * time.Second) // the session starts, the models warm up
		for i := 0; i < b.N; i++ {
			without = measure(ctx)
			cctx, ccancel := context.WithCancel(ctx)
			for range 10 {
				go stream(cctx, r.DashboardURL()+"/events", &events)
			}
			with = measure(cctx)
			ccancel()
		}
	}()
	var runErr error
	onMain(func() { runErr = r.Run(ctx) })
	<-done
	if runErr != nil {
		b.Fatal(runErr)
	}
	pct := func(s span) float64 { return 100 * s.cpu.Seconds() / phase.Seconds() }
	b.ReportMetric(float64(without.missed), "missed-without")
	b.ReportMetric(float64(with.missed), "missed-with-10")
	b.ReportMetric(pct(without), "cpu%-without")
	b.ReportMetric(pct(with), "cpu%-with-10")
	b.ReportMetric(float64(events.Load()), "events-read")
	b.Logf("without clients: %d frames, %d missed, CPU %.1f%%; with 10: %d frames, %d missed, CPU %.1f%%, %d snapshots read",
		without.frames, without.missed, pct(without), with.frames, with.missed, pct(with), events.Load())
}

// stream reads the event stream at url until ctx ends, counting its snapshots.
func stream(ctx context.Context, url string, n *atomic.Int64) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") {
			n.Add(1)
		}
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
