package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"

	"golang.org/x/sys/unix"
	"time"

	"retinad/infer"
	"retinad/infer/onnx"
	"retinad/infer/onnx/ortpeer"
	"retinad/internal/cpus"
)

// benchCommand is `retinad bench`, in the command table (main.go).
func benchCommand() command {
	return command{
		name:    "bench",
		args:    "--model M | --sweep DIR [--steps N] [--peer-steps N] [--threads N] [--cpu N [--helper-cpus LIST]] [--frame-rate HZ] [--roofline-mb N] [--json]",
		summary: "time the streaming engine per step, and ONNX Runtime on the full window (batch 1, one thread) when present; --sweep: every model in DIR, one table",
		run:     runBench,
	}
}

type peerInfo struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

type benchResult struct {
	Model   string `json:"model"`
	Size    string `json:"size"` // history x height x width, cells
	Steps   int    `json:"steps"`
	Threads int    `json:"threads"` // cores of the streaming engine
	// CPU is the core the stepping thread (and ONNX Runtime's) was pinned to, HelperCPUs the
	// pool helpers' (--cpu, --helper-cpus), with every other thread of the process off them;
	// absent: not pinned.
	CPU        *int  `json:"cpu,omitempty"`
	HelperCPUs []int `json:"helper_cpus,omitempty"`
	// ThreadCPUs is the cores the stepping thread was allowed (sched_getaffinity) as the
	// timing began, OtherCPUs those of every other thread of the process then, all together:
	// where the threads really were, pinned or not (Linux; "" elsewhere).
	ThreadCPUs string  `json:"thread_cpus"`
	OtherCPUs  string  `json:"other_threads_cpus"`
	StepP50us  float64 `json:"step_p50_us"`
	StepP99us  float64 `json:"step_p99_us"`
	StepMaxus  float64 `json:"step_max_us"`
	StepsPerS  float64 `json:"steps_per_s"`
	// CPUPerStepus is the process's CPU time over the engine's steps, per step, every core:
	// below the p50 when the machine's load took the core away, above it with --threads.
	CPUPerStepus float64 `json:"cpu_per_step_us"`
	// ThreadCPUP50us and ThreadCPUP99us are quantiles of the stepping thread's own CPU time per
	// step (with --threads, the helpers' share is not in them).
	ThreadCPUP50us float64 `json:"thread_cpu_p50_us"`
	ThreadCPUP99us float64 `json:"thread_cpu_p99_us"`
	// The same over the steps in which the stepping thread was not switched out (no context
	// switch, voluntary or not, from the start of the step before to the end of this one), and
	// the share of steps that were: a step the load interrupts comes back to caches the load
	// has refilled, so its own CPU time grows too. These quantiles are the tail a quiet core
	// would show; the share says how loud this one was.
	UnswitchedCPUP50us float64 `json:"unswitched_thread_cpu_p50_us"`
	UnswitchedCPUP99us float64 `json:"unswitched_thread_cpu_p99_us"`
	SwitchedShare      float64 `json:"switched_share"`
	// AllocsPerStep counts the allocations made under Stream.Step (every one is recorded, with
	// its stack); ProcessAllocsPerStep every allocation of the process meanwhile, other
	// goroutines' included (nats-server's pse sampler, linked into this binary, reads /proc
	// every second from its package init: two allocations a second).
	AllocsPerStep        float64 `json:"allocs_per_step"`
	ProcessAllocsPerStep float64 `json:"process_allocs_per_step"`
	FLOPsPerStep         int64   `json:"flops_per_step"`
	BytesPerStep         int64   `json:"bytes_per_step"`      // weights and state one step reads at most
	BytesReadPerStep     int64   `json:"bytes_read_per_step"` // the mean a step read (a dense layer skips its zero inputs' weights)
	StepGBs              float64 `json:"step_gbytes_per_s"`   // bytes_read_per_step at p50
	StepGFLOPs           float64 `json:"step_gflops"`         // achieved at p50
	// The roofline of this core (infer.MeasureRoofline, before the first model) and the step's
	// floors under it: the larger of its bytes read over a bandwidth and its FLOPs over the
	// peak, with the last-level cache's bandwidth (no step can beat it) and with memory's (the
	// floor if nothing stayed cached between steps). Absent with --roofline-mb 0.
	ReadGBs        float64   `json:"read_gbytes_per_s,omitempty"`
	CacheReadGBs   float64   `json:"cache_read_gbytes_per_s,omitempty"`
	PeakGFLOPs     float64   `json:"peak_gflops,omitempty"`
	FloorUs        float64   `json:"floor_us,omitempty"`
	MemFloorUs     float64   `json:"memory_floor_us,omitempty"`
	P50PerFloor    float64   `json:"p50_per_floor,omitempty"`
	FLOPsWindow    int64     `json:"flops_full_window"`
	Peer           *peerInfo `json:"peer"`
	PeerMissing    string    `json:"peer_missing,omitempty"`
	PeerP50us      *float64  `json:"peer_p50_us"`
	PeerP99us      *float64  `json:"peer_p99_us,omitempty"`
	Ratio          *float64  `json:"ratio"` // peer p50 / step p50
	PeerMaxAbsDiff *float64  `json:"peer_max_abs_diff,omitempty"`
	// Recurrent: the model carries a state (convgru); its peer runs one step of the ONNX
	// export per run, fed the last run's next state, and the rate difference is over its
	// first ten windows.
	Recurrent bool `json:"recurrent,omitempty"`
}

func runBench(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	modelPath := fs.String("model", "", "model file (native, or .onnx)")
	sweep := fs.String("sweep", "", "folder: time every *.retinad and *.onnx model in it and print one table (make bench-models writes issue #24's sizes to bin/benchmodels)")
	steps := fs.Int("steps", 3000, "streaming steps to time")
	peerSteps := fs.Int("peer-steps", 200, "ONNX Runtime runs to time")
	asJSON := fs.Bool("json", false, "print one JSON object (--sweep: an array)")
	threads := fs.Int("threads", 1, "cores one step of the streaming engine may use (models[].threads); ONNX Runtime keeps one")
	frameRate := fs.Float64("frame-rate", 0, "bins per second, for an .onnx model that does not say its own (timing does not depend on it: 1 when absent)")
	cpu := fs.Int("cpu", -1, "pin the stepping thread (and ONNX Runtime's, which runs on it) to this core, and move every other thread of the process off it and off --helper-cpus; -1: wherever the kernel puts them")
	helperCPUs := fs.String("helper-cpus", "", "with --threads N and --cpu: the N-1 pool helpers' cores, one each (a list, e.g. 2,3)")
	rooflineMB := fs.Int("roofline-mb", 256, "first measure this core's read bandwidth over a buffer of N MB (several times the last-level cache) and its peak FLOP/s, and hold every step to them; 0: do not")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if (*modelPath == "") == (*sweep == "") || fs.NArg() != 0 || *steps < 1 || *peerSteps < 1 || *threads < 1 || *rooflineMB < 0 {
		fs.Usage()
		return fmt.Errorf("%w: bench needs --model or --sweep (one of them, and positive --steps, --peer-steps)", errUsage)
	}
	// The engine's timing does not depend on the bin rate, so an ONNX file that does not say
	// its own needs none here: it is read as 1 bin per second unless --frame-rate says.
	rate := *frameRate
	if rate == 0 {
		rate = 1
	}
	pin, err := benchCores(*cpu, *helperCPUs, *threads)
	if err != nil {
		return err
	}
	if pin.cpu >= 0 {
		// ONNX Runtime starts a thread of its own when it initialises, from the calling
		// thread, with its cores: initialised now, that thread is moved off the pinned cores
		// with the rest. (Its sessions start none: ortpeer TestSessionRunsOnCallersThread.)
		// A runtime that is missing is reported with the first model.
		_, _ = ortpeer.Version()
		stop, err := pin.start()
		if err != nil {
			return err
		}
		defer stop()
	}
	// Every allocation is recorded with its stack while the bench runs, so that a step's own
	// are told from other goroutines' (allocsUnder).
	defer func(rate int) { runtime.MemProfileRate = rate }(runtime.MemProfileRate)
	runtime.MemProfileRate = 1
	roof := measureRoofline(*rooflineMB)
	if *sweep != "" {
		return runSweep(e, *sweep, rate, *steps, *peerSteps, *threads, pin, roof, *asJSON)
	}
	res, err := benchModel(*modelPath, rate, *steps, *peerSteps, *threads, pin, roof)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	if pin.cpu >= 0 {
		fmt.Fprintln(e.stdout, pin)
	}
	fmt.Fprintf(e.stdout, "%s: streaming step p50 %.1f us, p99 %.1f us, max %.1f us; %.0f steps/s; %.1f us CPU per step (the thread's own: p50 %.1f us, p99 %.1f us; in the %.1f%% of steps not switched out: p50 %.1f us, p99 %.1f us); %.2f allocs/step in Step (%.2f in the process)\n",
		*modelPath, res.StepP50us, res.StepP99us, res.StepMaxus, res.StepsPerS, res.CPUPerStepus, res.ThreadCPUP50us, res.ThreadCPUP99us,
		100*(1-res.SwitchedShare), res.UnswitchedCPUP50us, res.UnswitchedCPUP99us, res.AllocsPerStep, res.ProcessAllocsPerStep)
	fmt.Fprintf(e.stdout, "FLOPs per step: %d streaming (%.1f GFLOP/s at p50), %d full window; %d bytes read per step, at most %d (%.1f GB/s at p50)\n",
		res.FLOPsPerStep, res.StepGFLOPs, res.FLOPsWindow, res.BytesReadPerStep, res.BytesPerStep, res.StepGBs)
	if roof != nil {
		fmt.Fprintf(e.stdout, "floor: %.1f us from the last-level cache, %.1f us from memory (%s); p50 is %.2fx the first\n", res.FloorUs, res.MemFloorUs, roofline(roof), res.P50PerFloor)
	}
	if res.Peer == nil {
		fmt.Fprintf(e.stdout, "peer: MISSING (%s)\n", res.PeerMissing)
	} else {
		input := "full window"
		if res.Recurrent {
			input = "full window and its state, each run's next state fed to the next run"
		}
		fmt.Fprintf(e.stdout, "peer: %s %s, %s, batch 1, one thread: p50 %.1f us, p99 %.1f us; ratio %.1fx (peer p50 / step p50); max |rate diff| %.3g spikes/s\n",
			res.Peer.Name, res.Peer.Version, input, *res.PeerP50us, *res.PeerP99us, *res.Ratio, *res.PeerMaxAbsDiff)
	}
	return nil
}

// runSweep benches every model in dir, in name order, each against ONNX Runtime in the same
// run, and prints the table of issue #24 (or a JSON array).
func runSweep(e *env, dir string, rate float64, steps, peerSteps, threads int, pin benchPin, roof *infer.Roofline, asJSON bool) error {
	var paths []string
	for _, pat := range []string{"*.retinad", "*.rtm", "*.onnx"} {
		m, _ := filepath.Glob(filepath.Join(dir, pat))
		paths = append(paths, m...)
	}
	slices.Sort(paths)
	if len(paths) == 0 {
		return fmt.Errorf("bench: --sweep %s: no *.retinad, *.rtm or *.onnx model in it (make bench-models writes bin/benchmodels)", dir)
	}
	var all []benchResult
	if !asJSON && pin.cpu >= 0 {
		fmt.Fprintf(e.stdout, "%s\n\n", pin)
	}
	if !asJSON {
		fmt.Fprintln(e.stdout, "| model | history x grid, cells | MFLOP/step | MB read/step | step p50 | floor L3 / memory | p50/floor | step p99 | p99/p50 | CPU/step | thread CPU p50 / p99 | unswitched p50 / p99 (switched) | ORT p50 | ratio | GFLOP/s | GB/s | allocs/step (process) |")
		fmt.Fprintln(e.stdout, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	}
	for _, p := range paths {
		res, err := benchModel(p, rate, steps, peerSteps, threads, pin, roof)
		if err != nil {
			return err
		}
		all = append(all, res)
		if asJSON {
			continue
		}
		peer, ratio := "missing", "-"
		if res.Peer != nil {
			peer, ratio = fmtUs(*res.PeerP50us), fmt.Sprintf("%.1fx", *res.Ratio)
		}
		floor, perFloor := "-", "-"
		if roof != nil {
			floor, perFloor = fmtUs(res.FloorUs)+" / "+fmtUs(res.MemFloorUs), fmt.Sprintf("%.2f", res.P50PerFloor)
		}
		fmt.Fprintf(e.stdout, "| %s | %s | %.1f | %.2f | %s | %s | %s | %s | %.2f | %s | %s / %s | %s / %s (%.1f%%) | %s | %s | %.1f | %.1f | %.2f (%.2f) |\n",
			filepath.Base(p), res.Size, float64(res.FLOPsPerStep)/1e6, float64(res.BytesReadPerStep)/1e6,
			fmtUs(res.StepP50us), floor, perFloor, fmtUs(res.StepP99us), res.StepP99us/res.StepP50us, fmtUs(res.CPUPerStepus),
			fmtUs(res.ThreadCPUP50us), fmtUs(res.ThreadCPUP99us),
			fmtUs(res.UnswitchedCPUP50us), fmtUs(res.UnswitchedCPUP99us), 100*res.SwitchedShare, peer, ratio,
			res.StepGFLOPs, res.StepGBs, res.AllocsPerStep, res.ProcessAllocsPerStep)
	}
	if !asJSON && roof != nil {
		fmt.Fprintf(e.stdout, "\nfloor: the larger of a step's bytes read over a bandwidth (the last-level cache's; memory's) and its FLOPs over the peak; %s\n", roofline(roof))
	}
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(all)
	}
	return nil
}

// fmtUs writes a duration in microseconds as the table does: us below a millisecond, ms above.
func fmtUs(us float64) string {
	if us < 1000 {
		return fmt.Sprintf("%.0f us", us)
	}
	return fmt.Sprintf("%.2f ms", us/1000)
}

// benchModel times steps of the streaming engine on the model at path, interleaved with
// peerSteps runs of ONNX Runtime on the full window when it is present.
func benchModel(path string, rate float64, steps, peerSteps, threads int, pin benchPin, roof *infer.Roofline) (benchResult, error) {
	m, err := loadModel(path, rate)
	if err != nil {
		return benchResult{}, err
	}
	s, err := infer.NewStream(m, infer.Options{Threads: threads, HelperCPUs: pin.helpers})
	if err != nil {
		return benchResult{}, err
	}
	defer s.Close()
	in := m.Input
	r := rand.New(rand.NewPCG(1, 2))
	frames := make([][]float32, 64)
	for i := range frames {
		frames[i] = make([]float32, in.Height*in.Width)
		for j := range frames[i] {
			frames[i][j] = float32(in.Mean + in.Std*r.NormFloat64())
		}
	}
	rates := make([]float32, len(m.Cells))
	for i := 0; i < in.History+20; i++ {
		s.Step(frames[i%len(frames)], rates)
	}
	res := benchResult{Model: path, Steps: steps, Threads: threads, HelperCPUs: pin.helpers, FLOPsPerStep: s.FLOPs(), BytesPerStep: s.BytesPerStep(), FLOPsWindow: m.FLOPs(),
		Size: fmt.Sprintf("%d x %dx%d, %d", in.History, in.Height, in.Width, len(m.Cells)), Recurrent: m.Recurrent()}
	peer, err := newPeer(m, frames)
	if err != nil {
		res.PeerMissing = err.Error()
	} else {
		defer peer.close()
	}
	// Rounds interleave the engine and the peer, so that both see the same load on a shared
	// machine; allocations are counted over the engine's steps only. The peer's run evicts the
	// engine's weights from every cache (the daemon has no such neighbour between frames), and
	// the engine takes a few steps to be warm again: on the paper's model the steps after a peer
	// round took 2.4, 1.9, 1.5 and 1.2 times the round's last ones. So warmSteps of each round
	// after the first run untimed; otherwise those cold steps alone would be the p99.
	const rounds, warmSteps = 20, 8
	lat, tcpu, unswitched := make([]time.Duration, 0, steps), make([]time.Duration, 0, steps), make([]time.Duration, 0, steps)
	ru := new(unix.Rusage)
	// The thread's own CPU clock per step leaves out the time the machine's load took the core
	// away: its quantiles are the step's tail as a quiet core would see it (caches shared with
	// the load still count). The goroutine stays on one thread for it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var plat []time.Duration
	var mallocs uint64
	var total, cpu time.Duration
	var ms0, ms1 runtime.MemStats
	var bytesRead int64
	res.ThreadCPUs, res.OtherCPUs = threadCores()
	stepAllocs0 := allocsUnder(stepFunc)
	for r := 0; r < rounds; r++ {
		n := steps*(r+1)/rounds - steps*r/rounds
		for i := 0; r > 0 && peer != nil && i < warmSteps; i++ {
			s.Step(frames[len(lat)%len(frames)], rates)
		}
		runtime.ReadMemStats(&ms0)
		cpu0 := processCPU()
		start := time.Now()
		prev, okPrev := threadSwitches(ru) // at the start of the step before (none: this one)
		for i := 0; i < n; i++ {
			sw0, ok0 := threadSwitches(ru)
			t0, c0 := time.Now(), threadCPU()
			s.Step(frames[len(lat)%len(frames)], rates)
			c := threadCPU() - c0
			lat = append(lat, time.Since(t0))
			tcpu = append(tcpu, c)
			// Unswitched: no switch from the start of the step before to the end of this one,
			// so that this step did not start on caches a switch had left to the load either.
			if sw1, ok1 := threadSwitches(ru); okPrev && ok1 && sw1 == prev {
				unswitched = append(unswitched, c)
			}
			prev, okPrev = sw0, ok0
			bytesRead += s.BytesRead()
		}
		total += time.Since(start)
		cpu += processCPU() - cpu0
		runtime.ReadMemStats(&ms1)
		mallocs += ms1.Mallocs - ms0.Mallocs
		if peer != nil {
			for i := peerSteps * r / rounds; i < peerSteps*(r+1)/rounds; i++ {
				t0 := time.Now()
				if err := peer.step(); err != nil {
					return res, fmt.Errorf("bench: %w", err)
				}
				plat = append(plat, time.Since(t0))
			}
		}
	}
	if pin.cpu >= 0 {
		res.CPU = &pin.cpu
	}
	res.AllocsPerStep = float64(allocsUnder(stepFunc)-stepAllocs0) / float64(steps)
	res.StepsPerS = float64(steps) / total.Seconds()
	res.CPUPerStepus = float64(cpu) / float64(steps) / 1e3
	res.ProcessAllocsPerStep = float64(mallocs) / float64(steps)
	res.StepP50us, res.StepP99us, res.StepMaxus = quantiles(lat)
	res.ThreadCPUP50us, res.ThreadCPUP99us, _ = quantiles(tcpu)
	res.SwitchedShare = 1 - float64(len(unswitched))/float64(steps)
	if len(unswitched) > 0 {
		res.UnswitchedCPUP50us, res.UnswitchedCPUP99us, _ = quantiles(unswitched)
	}
	res.BytesReadPerStep = bytesRead / int64(steps)
	res.StepGFLOPs = float64(res.FLOPsPerStep) / res.StepP50us / 1e3
	res.StepGBs = float64(res.BytesReadPerStep) / res.StepP50us / 1e3
	if roof != nil {
		res.ReadGBs, res.CacheReadGBs, res.PeakGFLOPs = roof.ReadBytesPerSec/1e9, roof.CacheReadBytesPerSec/1e9, roof.FLOPsPerSec/1e9
		flops := float64(res.FLOPsPerStep) / roof.FLOPsPerSec
		res.FloorUs = max(float64(res.BytesReadPerStep)/roof.CacheReadBytesPerSec, flops) * 1e6
		res.MemFloorUs = max(float64(res.BytesReadPerStep)/roof.ReadBytesPerSec, flops) * 1e6
		res.P50PerFloor = res.StepP50us / res.FloorUs
	}
	if peer != nil {
		p50, p99, _ := quantiles(plat)
		ratio := p50 / res.StepP50us
		diff := peer.diff
		version, _ := ortpeer.Version() // the session ran: the runtime is initialised
		res.Peer = &peerInfo{Name: "onnxruntime", Version: version}
		res.PeerP50us, res.PeerP99us, res.Ratio, res.PeerMaxAbsDiff = &p50, &p99, &ratio, &diff
	}
	return res, nil
}

// benchPin is where bench runs: the stepping thread on core cpu (-1: not pinned), the pool's
// helpers on helpers, one each.
type benchPin struct {
	cpu     int
	helpers []int
}

// String says where the threads run.
func (p benchPin) String() string {
	rest, _ := cpus.Others("", append([]int{p.cpu}, p.helpers...))
	s := fmt.Sprintf("pinned: the stepping thread (and ONNX Runtime's runs) on core %d", p.cpu)
	if len(p.helpers) > 0 {
		s += ", the pool's helpers on " + cpus.FormatList(p.helpers)
	}
	return s + ", every other thread of the process on " + cpus.FormatList(rest)
}

// benchCores checks --cpu and --helper-cpus against the process's cores and --threads.
func benchCores(cpu int, helperList string, threads int) (benchPin, error) {
	pin := benchPin{cpu: cpu}
	if cpu < 0 {
		if helperList != "" {
			return pin, fmt.Errorf("%w: bench: --helper-cpus needs --cpu (the stepping thread's core)", errUsage)
		}
		return pin, nil
	}
	helpers, err := cpus.ParseList(helperList)
	if err != nil {
		return pin, fmt.Errorf("bench: --helper-cpus: %w", err)
	}
	if len(helpers) != threads-1 {
		return pin, fmt.Errorf("%w: bench: --helper-cpus %q: %d cores for --threads %d: want one per helper (%d)", errUsage, helperList, len(helpers), threads, threads-1)
	}
	pin.helpers = helpers
	if err := cpus.Check("--cpu and --helper-cpus", append([]int{cpu}, helpers...)); err != nil {
		return pin, fmt.Errorf("bench: %w", err)
	}
	return pin, nil
}

// start moves every thread of the process off the pinned cores and pins the calling goroutine
// (which runs every step and ONNX Runtime's runs) to cpu; stop undoes both.
func (p benchPin) start() (stop func(), err error) {
	undo, err := cpus.Hold("--cpu and --helper-cpus", append([]int{p.cpu}, p.helpers...), p.cpu)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	return func() { _ = undo() }, nil
}

// threadCores lists the cores the calling thread may run on, and those of the process's other
// threads together ("" where threads cannot be listed).
func threadCores() (self, others string) {
	tids, err := cpus.Threads()
	if err != nil {
		return "", ""
	}
	var rest []int
	me := cpus.CurrentThread()
	for _, tid := range tids {
		c, err := cpus.Allowed(tid)
		switch {
		case err != nil: // the thread has ended
		case tid == me:
			self = cpus.FormatList(c)
		default:
			rest = append(rest, c...)
		}
	}
	return self, cpus.FormatList(rest)
}

// threadCPU is the CPU time the calling OS thread has used so far (0 if the clock fails).
func threadCPU() time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// threadSwitches is how many times the calling OS thread has been switched out so far,
// voluntarily (the runtime parked it) or not (the kernel gave its core to another process);
// false if the count cannot be read. ru is the caller's, so that nothing is allocated.
func threadSwitches(ru *unix.Rusage) (int64, bool) {
	if unix.Getrusage(unix.RUSAGE_THREAD, ru) != nil {
		return 0, false
	}
	return ru.Nvcsw + ru.Nivcsw, true
}

// processCPU is the CPU time (user and system) this process has used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func quantiles(d []time.Duration) (p50, p99, mx float64) {
	s := slices.Clone(d)
	slices.Sort(s)
	us := func(x time.Duration) float64 { return float64(x) / 1e3 }
	return us(s[len(s)/2]), us(s[min(len(s)-1, len(s)*99/100)]), us(s[len(s)-1])
}

// peer is ONNX Runtime (infer/onnx/ortpeer) running the model exported by infer/onnx on the
// full window, batch 1, one thread.
type peer struct {
	sess *ortpeer.Session
	// window is the stimulus input's storage; state a recurrent model's state input (infer/onnx
	// gru.go), which step feeds each run's next state, as the engine carries its own.
	window, state []float32
	diff          float64 // max |rate difference| against the streaming engine on the same window
}

// step runs the model once; a recurrent model's next state becomes its state, as part of the
// step's cost.
func (p *peer) step() error {
	if err := p.sess.Run(); err != nil {
		return err
	}
	if p.state != nil {
		copy(p.state, p.sess.Output(1))
	}
	return nil
}

func (p *peer) close() { p.sess.Close() }

func newPeer(m *infer.Model, frames [][]float32) (*peer, error) {
	g, err := onnx.ExportGraph(m)
	if err != nil {
		return nil, err
	}
	in := m.Input
	hw := in.Height * in.Width
	p := &peer{window: make([]float32, in.History*hw)}
	for k := 0; k < in.History; k++ {
		for j, v := range frames[k%len(frames)] {
			p.window[k*hw+j] = float32((float64(v) - in.Mean) / in.Std)
		}
	}
	inputs := []ortpeer.Input{{Name: "stimulus", Data: p.window, Shape: []int64{1, int64(in.History), int64(in.Height), int64(in.Width)}}}
	outputs := []ortpeer.Output{{Name: "rates", Shape: []int64{1, int64(len(m.Cells))}}}
	if L := onnx.SpikeBins(m); L > 0 { // a GLM's spike history: zeros, as the engine's first window has
		c := len(m.Cells)
		inputs = append(inputs, ortpeer.Input{Name: "spikes", Data: make([]float32, c*L), Shape: []int64{1, int64(c), int64(L)}})
	}
	if m.Recurrent() { // the state starts at zero, as the engine's does at its first window
		shape := append([]int64{1}, g.Inputs[len(g.Inputs)-1].Dims[1:]...)
		n := int64(1)
		for _, d := range shape {
			n *= d
		}
		p.state = make([]float32, n)
		inputs = append(inputs, ortpeer.Input{Name: onnx.StateInput, Data: p.state, Shape: shape})
		outputs = append(outputs, ortpeer.Output{Name: onnx.StateOutput, Shape: shape})
	}
	if p.sess, err = ortpeer.NewSession(onnx.Marshal(g), inputs, outputs); err != nil {
		return nil, err
	}
	for i := 0; i < 5; i++ {
		if err := p.sess.Run(); err != nil { // warm-up runs leave a recurrent state at zero, for the comparison below
			p.close()
			return nil, err
		}
	}
	// The same window through the streaming engine, to show both compute the same rates; a
	// recurrent model's next windows too, each run fed the last one's state, to show that the
	// state is carried as the engine carries it.
	s, err := infer.NewStream(m, infer.Options{})
	if err != nil {
		p.close()
		return nil, err
	}
	rates := make([]float32, len(m.Cells))
	for k := 0; k < in.History; k++ {
		s.Step(frames[k%len(frames)], rates)
	}
	compared := 1
	if p.state != nil {
		compared = 10
	}
	for j := 0; j < compared; j++ {
		if j > 0 {
			s.Step(frames[(in.History-1+j)%len(frames)], rates)
			for k := 0; k < in.History; k++ {
				for i, v := range frames[(j+k)%len(frames)] {
					p.window[k*hw+i] = float32((float64(v) - in.Mean) / in.Std)
				}
			}
		}
		if err := p.step(); err != nil {
			p.close()
			return nil, err
		}
		for c, v := range p.sess.Output(0) {
			p.diff = max(p.diff, abs64(float64(v)-float64(rates[c])))
		}
	}
	return p, nil
}

func abs64(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// measureRoofline measures this core's roofline over a buffer of mb megabytes, on a thread
// of its own for the duration (nil for mb 0).
func measureRoofline(mb int) *infer.Roofline {
	if mb == 0 {
		return nil
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r := infer.MeasureRoofline(mb << 20)
	return &r
}

// roofline says what the floor was measured against.
func roofline(r *infer.Roofline) string {
	return fmt.Sprintf("this core reads %.1f GB/s from the last-level cache (%d MB), %.1f GB/s from memory (best of 8 passes over each) and peaks at %.1f GFLOP/s (%s FMAs)",
		r.CacheReadBytesPerSec/1e9, infer.CacheProbeBytes>>20, r.ReadBytesPerSec/1e9, r.FLOPsPerSec/1e9, r.Kernel)
}

// stepFunc is the full name of the function whose allocations are a step's.
const stepFunc = "retinad/infer.(*Stream).Step"

// allocsUnder is how many heap allocations the process has made so far under calls of the
// function named fn (its full name), as of the garbage collections it runs: exact when
// runtime.MemProfileRate is 1, which records every allocation with its stack. The process's
// malloc count is not a step's: other goroutines allocate meanwhile (see AllocsPerStep).
func allocsUnder(fn string) int64 {
	// The profile holds what the last completed cycle published; two cycles publish them all.
	runtime.GC()
	runtime.GC()
	var recs []runtime.MemProfileRecord
	for {
		n, ok := runtime.MemProfile(recs, true)
		if ok {
			recs = recs[:n]
			break
		}
		recs = make([]runtime.MemProfileRecord, n+n/4+16)
	}
	var count int64
	for i := range recs {
		frames := runtime.CallersFrames(recs[i].Stack())
		for {
			f, more := frames.Next()
			if f.Function == fn {
				count += recs[i].AllocObjects
				break
			}
			if !more {
				break
			}
		}
	}
	return count
}
