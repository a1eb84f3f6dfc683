package rig_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"retinad/configs"
	"retinad/daemon/rig"
)

// BenchmarkDashboardClients runs the simulated rig for phases without browsers and with ten
// dashboard event streams connected (each reading every snapshot) plus one that never reads,
// all in the same run, and reports per phase the frames, the refreshes missed, the process's
// CPU (user+system, % of one core) and the allocations per frame made on the per-frame path
// (the frame loop, the model goroutines and the stamper: every allocation whose stack holds
// one of them, from the runtime's allocation profile at a rate of 1). CPU is measured first,
// at the default profile rate, then the allocations, so that profiling every allocation does
// not weigh on the CPU figures. Run it with -benchtime=1x: each iteration is all four phases.
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
		frames, missed, allocs uint64
		cpu                    time.Duration
	}
	measure := func(ctx context.Context, allocs bool) span {
		var a0 uint64
		if allocs {
			a0 = framePathAllocs()
		}
		f0, c0 := r.Daemon().Figures(), cpuTime()
		select {
		case <-ctx.Done():
		case <-time.After(phase):
		}
		f1, c1 := r.Daemon().Figures(), cpuTime()
		s := span{frames: f1.Frames - f0.Frames, missed: f1.Missed - f0.Missed, cpu: c1 - c0}
		if allocs {
			s.allocs = framePathAllocs() - a0
		}
		return s
	}
	// withClients measures a phase with ten reading streams and one stalled connection.
	var events atomic.Int64
	withClients := func(ctx context.Context, allocs bool) span {
		cctx, ccancel := context.WithCancel(ctx)
		defer ccancel()
		for range 10 {
			go stream(cctx, r.DashboardURL()+"/events", &events)
		}
		if c, err := stall(strings.TrimPrefix(r.DashboardURL(), "http://")); err == nil {
			defer c.Close()
		} else {
			b.Error(err)
		}
		return measure(cctx, allocs)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var cpuWithout, cpuWith, allocWithout, allocWith span
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cancel()
		time.Sleep(5 * time.Second) // the session starts, the models warm up
		for i := 0; i < b.N; i++ {
			cpuWithout = measure(ctx, false)
			cpuWith = withClients(ctx, false)
			runtime.MemProfileRate = 1
			time.Sleep(time.Second) // every P's next sample is now at the new rate
			allocWithout = measure(ctx, true)
			allocWith = withClients(ctx, true)
			runtime.MemProfileRate = 512 * 1024
		}
	}()
	var runErr error
	onMain(func() { runErr = r.Run(ctx) })
	<-done
	if runErr != nil {
		b.Fatal(runErr)
	}
	pct := func(s span) float64 { return 100 * s.cpu.Seconds() / phase.Seconds() }
	perFrame := func(s span) float64 { return float64(s.allocs) / float64(max(s.frames, 1)) }
	// The missed refreshes that compare are the CPU phases': in the allocation phases every
	// allocation is profiled, the dashboard's many more with clients, which costs the loop time.
	b.ReportMetric(float64(cpuWithout.missed), "missed-without")
	b.ReportMetric(float64(cpuWith.missed), "missed-with-10")
	b.ReportMetric(float64(allocWithout.missed), "missed-without-profiled")
	b.ReportMetric(float64(allocWith.missed), "missed-with-10-profiled")
	b.ReportMetric(pct(cpuWithout), "cpu%-without")
	b.ReportMetric(pct(cpuWith), "cpu%-with-10")
	b.ReportMetric(perFrame(allocWithout), "allocs/frame-without")
	b.ReportMetric(perFrame(allocWith), "allocs/frame-with-10")
	b.ReportMetric(float64(events.Load()), "events-read")
	b.Logf("without clients: %d+%d frames, %d+%d missed, CPU %.1f%%, %d allocations on the frame path; with 10 (and one stalled): %d+%d frames, %d+%d missed, CPU %.1f%%, %d allocations on the frame path; %d snapshots read",
		cpuWithout.frames, allocWithout.frames, cpuWithout.missed, allocWithout.missed, pct(cpuWithout), allocWithout.allocs,
		cpuWith.frames, allocWith.frames, cpuWith.missed, allocWith.missed, pct(cpuWith), allocWith.allocs, events.Load())
	for site, n := range allocSites {
		b.Logf("%d allocations (cumulative) at %s", n, site)
	}
	if events.Load() == 0 {
		b.Error("no client read a snapshot")
	}
}

// framePathFuncs are the functions whose goroutines make up the per-frame path.
var framePathFuncs = []string{"retinad/daemon.(*Daemon).frameLoop", "retinad/daemon.(*runner).run", "retinad/daemon.(*stamper).run"}

// framePathAllocs is how many objects have been allocated, since the profile rate was 1, with
// a per-frame path function on the stack. The allocation profile is as of the last completed
// garbage collection, so two are run first.
func framePathAllocs() uint64 {
	runtime.GC()
	runtime.GC()
	var recs []runtime.MemProfileRecord
	n, _ := runtime.MemProfile(nil, true)
	for {
		recs = make([]runtime.MemProfileRecord, n+64)
		var ok bool
		if n, ok = runtime.MemProfile(recs, true); ok {
			recs = recs[:n]
			break
		}
	}
	var total uint64
	for _, rec := range recs {
		frames := runtime.CallersFrames(rec.Stack())
		var site []string
		for {
			f, more := frames.Next()
			site = append(site, fmt.Sprintf("%s:%d", f.Function, f.Line))
			if onFramePath(f.Function) {
				total += uint64(rec.AllocObjects)
				if rec.AllocObjects > 0 {
					allocSites[strings.Join(site, " <- ")] += uint64(rec.AllocObjects)
				}
				break
			}
			if !more {
				break
			}
		}
	}
	return total
}

// allocSites are the stacks of the per-frame path's allocations (cumulative, since the rate was 1).
var allocSites = map[string]uint64{}

func onFramePath(fn string) bool {
	for _, p := range framePathFuncs {
		if fn == p {
			return true
		}
	}
	return false
}

// stall opens an event stream and never reads it: a browser that has stopped reading.
func stall(addr string) (net.Conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	if _, err := c.Write([]byte("GET /events HTTP/1.1\r\nHost: " + addr + "\r\n\r\n")); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
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
