package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"retinad/infer"
	"retinad/infer/onnx"
	"retinad/infer/onnx/onnxtest"
)

func init() {
	register(command{
		name:    "bench",
		args:    "--model M [--steps N] [--frame-rate HZ] [--json]",
		summary: "time the streaming engine per step, and ONNX Runtime on the full window (batch 1, one thread) when present",
		run:     runBench,
	})
}

type peerInfo struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

type benchResult struct {
	Model          string    `json:"model"`
	Steps          int       `json:"steps"`
	StepP50us      float64   `json:"step_p50_us"`
	StepP99us      float64   `json:"step_p99_us"`
	StepMaxus      float64   `json:"step_max_us"`
	StepsPerS      float64   `json:"steps_per_s"`
	AllocsPerStep  float64   `json:"allocs_per_step"`
	FLOPsPerStep   int64     `json:"flops_per_step"`
	StepGFLOPs     float64   `json:"step_gflops"` // achieved at p50
	FLOPsWindow    int64     `json:"flops_full_window"`
	Peer           *peerInfo `json:"peer"`
	PeerMissing    string    `json:"peer_missing,omitempty"`
	PeerP50us      *float64  `json:"peer_p50_us"`
	PeerP99us      *float64  `json:"peer_p99_us,omitempty"`
	Ratio          *float64  `json:"ratio"` // peer p50 / step p50
	PeerMaxAbsDiff *float64  `json:"peer_max_abs_diff,omitempty"`
}

func runBench(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	modelPath := fs.String("model", "", "model file (native, or .onnx)")
	steps := fs.Int("steps", 3000, "streaming steps to time")
	peerSteps := fs.Int("peer-steps", 200, "ONNX Runtime runs to time")
	asJSON := fs.Bool("json", false, "print one JSON object")
	frameRate := fs.Float64("frame-rate", 0, "bins per second, for an .onnx model that does not say its own (timing does not depend on it: 1 when absent)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *modelPath == "" || fs.NArg() != 0 || *steps < 1 || *peerSteps < 1 {
		fs.Usage()
		return fmt.Errorf("%w: bench needs --model (and positive --steps, --peer-steps)", errUsage)
	}
	// The engine's timing does not depend on the bin rate, so an ONNX file that does not say
	// its own needs none here: it is read as 1 bin per second unless --frame-rate says.
	rate := *frameRate
	if rate == 0 {
		rate = 1
	}
	m, err := loadModel(*modelPath, rate)
	if err != nil {
		return err
	}
	s, err := infer.NewStream(m, infer.Options{})
	if err != nil {
		return err
	}
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
	res := benchResult{Model: *modelPath, Steps: *steps, FLOPsPerStep: s.FLOPs(), FLOPsWindow: m.FLOPs()}
	peer, err := newPeer(m, frames)
	if err != nil {
		res.PeerMissing = err.Error()
	} else {
		defer peer.close()
	}
	// Rounds interleave the engine and the peer, so that both see the same load on a shared
	// machine; allocations are counted over the engine's steps only.
	const rounds = 20
	lat := make([]time.Duration, 0, *steps)
	var plat []time.Duration
	var mallocs uint64
	var total time.Duration
	var ms0, ms1 runtime.MemStats
	for r := 0; r < rounds; r++ {
		n := (*steps)*(r+1)/rounds - (*steps)*r/rounds
		runtime.ReadMemStats(&ms0)
		start := time.Now()
		for i := 0; i < n; i++ {
			t0 := time.Now()
			s.Step(frames[len(lat)%len(frames)], rates)
			lat = append(lat, time.Since(t0))
		}
		total += time.Since(start)
		runtime.ReadMemStats(&ms1)
		mallocs += ms1.Mallocs - ms0.Mallocs
		if peer != nil {
			for i := (*peerSteps) * r / rounds; i < (*peerSteps)*(r+1)/rounds; i++ {
				t0 := time.Now()
				if err := peer.sess.Run(); err != nil {
					return fmt.Errorf("bench: ONNX Runtime run: %w", err)
				}
				plat = append(plat, time.Since(t0))
			}
		}
	}
	res.StepsPerS = float64(*steps) / total.Seconds()
	res.AllocsPerStep = float64(mallocs) / float64(*steps)
	res.StepP50us, res.StepP99us, res.StepMaxus = quantiles(lat)
	res.StepGFLOPs = float64(res.FLOPsPerStep) / res.StepP50us / 1e3
	if peer != nil {
		p50, p99, _ := quantiles(plat)
		ratio := p50 / res.StepP50us
		diff := peer.diff
		res.Peer = &peerInfo{Name: "onnxruntime", Version: ort.GetVersion()}
		res.PeerP50us, res.PeerP99us, res.Ratio, res.PeerMaxAbsDiff = &p50, &p99, &ratio, &diff
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	fmt.Fprintf(e.stdout, "%s: streaming step p50 %.1f us, p99 %.1f us, max %.1f us; %.0f steps/s; %.2f allocs/step\n",
		*modelPath, res.StepP50us, res.StepP99us, res.StepMaxus, res.StepsPerS, res.AllocsPerStep)
	fmt.Fprintf(e.stdout, "FLOPs per step: %d streaming (%.1f GFLOP/s at p50), %d full window\n", res.FLOPsPerStep, res.StepGFLOPs, res.FLOPsWindow)
	if res.Peer == nil {
		fmt.Fprintf(e.stdout, "peer: MISSING (%s)\n", res.PeerMissing)
	} else {
		fmt.Fprintf(e.stdout, "peer: %s %s, full window, batch 1, one thread: p50 %.1f us, p99 %.1f us; ratio %.1fx (peer p50 / step p50); max |rate diff| %.3g spikes/s\n",
			res.Peer.Name, res.Peer.Version, *res.PeerP50us, *res.PeerP99us, *res.Ratio, *res.PeerMaxAbsDiff)
	}
	return nil
}

func quantiles(d []time.Duration) (p50, p99, mx float64) {
	s := slices.Clone(d)
	slices.Sort(s)
	us := func(x time.Duration) float64 { return float64(x) / 1e3 }
	return us(s[len(s)/2]), us(s[min(len(s)-1, len(s)*99/100)]), us(s[len(s)-1])
}

// peer is ONNX Runtime (library from onnxtest.Library) running the model exported by
// infer/onnx on the full window, batch 1, one thread.
type peer struct {
	sess *ort.AdvancedSession
	x    *ort.Tensor[float32]
	s    *ort.Tensor[float32] // a GLM's spike history: zeros, as the engine's first window has
	y    *ort.Tensor[float32]
	diff float64 // max |rate difference| against the streaming engine on the same window
}

func (p *peer) close() {
	p.sess.Destroy()
	p.destroyTensors()
}

func (p *peer) destroyTensors() {
	for _, t := range []*ort.Tensor[float32]{p.x, p.s, p.y} {
		if t != nil {
			t.Destroy()
		}
	}
}

func newPeer(m *infer.Model, frames [][]float32) (*peer, error) {
	lib, err := onnxtest.Library()
	if err != nil {
		return nil, err
	}
	model, err := onnx.Export(m)
	if err != nil {
		return nil, err
	}
	if !ort.IsInitialized() {
		ort.SetSharedLibraryPath(lib)
		if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
			return nil, fmt.Errorf("ONNX Runtime: %w", err)
		}
	}
	in := m.Input
	hw := in.Height * in.Width
	window := make([]float32, in.History*hw)
	for k := 0; k < in.History; k++ {
		for j, v := range frames[k%len(frames)] {
			window[k*hw+j] = float32((float64(v) - in.Mean) / in.Std)
		}
	}
	p := &peer{}
	if p.x, err = ort.NewTensor(ort.NewShape(1, int64(in.History), int64(in.Height), int64(in.Width)), window); err != nil {
		return nil, err
	}
	names, values := []string{"stimulus"}, []ort.Value{p.x}
	if L := onnx.SpikeBins(m); L > 0 {
		c := len(m.Cells)
		if p.s, err = ort.NewTensor(ort.NewShape(1, int64(c), int64(L)), make([]float32, c*L)); err != nil {
			p.destroyTensors()
			return nil, err
		}
		names, values = append(names, "spikes"), append(values, p.s)
	}
	if p.y, err = ort.NewEmptyTensor[float32](ort.NewShape(1, int64(len(m.Cells)))); err != nil {
		p.destroyTensors()
		return nil, err
	}
	opts, err := ort.NewSessionOptions()
	if err == nil {
		defer opts.Destroy()
		err = opts.SetIntraOpNumThreads(1)
	}
	if err == nil {
		err = opts.SetInterOpNumThreads(1)
	}
	if err == nil {
		p.sess, err = ort.NewAdvancedSessionWithONNXData(model, names, []string{"rates"}, values, []ort.Value{p.y}, opts)
	}
	for i := 0; err == nil && i < 5; i++ {
		err = p.sess.Run()
	}
	if err != nil {
		if p.sess != nil {
			p.sess.Destroy()
		}
		p.destroyTensors()
		return nil, fmt.Errorf("ONNX Runtime: %w", err)
	}
	// The same window through the streaming engine, to show both compute the same rates.
	s, err := infer.NewStream(m, infer.Options{})
	if err != nil {
		p.close()
		return nil, err
	}
	rates := make([]float32, len(m.Cells))
	for k := 0; k < in.History; k++ {
		s.Step(frames[k%len(frames)], rates)
	}
	for c, v := range p.y.GetData() {
		p.diff = max(p.diff, abs64(float64(v)-float64(rates[c])))
	}
	return p, nil
}

func abs64(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
