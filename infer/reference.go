package infer

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Options choose how an engine runs a model.
type Options struct {
	// Stochastic adds the model's latent noise (its noise layers) and samples spike counts
	// per bin; otherwise rates are the mean field and noise layers do nothing.
	Stochastic bool
	Seed       uint64 // seeds the noise and the samples in stochastic mode
	// Threads is the number of cores one Step of the streaming engine may use: NewStream
	// starts Threads-1 helper goroutines, once, that take a share of the convolutions'
	// channels and the dense layer's cells every step (Stream.Close ends them). 0 or 1 runs
	// Step on the caller's goroutine alone. For a model too big for one core's frame budget;
	// the reference and batch engines ignore it (Predict already uses every core).
	Threads int
	// HelperCPUs, when set, are the cores of the Threads-1 helpers, one each: each helper runs
	// pinned to its core, locked to its OS thread, for its life (internal/cpus), so that no
	// other thread takes its core in the middle of a step. The caller pins the stepping
	// goroutine itself. Empty: the helpers run wherever the runtime puts them.
	HelperCPUs []int
}

// MaxThreads is the most Options.Threads a model may ask for (configs and the control service
// refuse more): a bound on the goroutines one model starts, far above any rig's cores.
const MaxThreads = 64

// Reference is the plain engine: each step it runs every layer on the whole window, in
// float64, directly from the formulas of the package documentation. It is slow and obviously
// correct; the tests hold the other engines to it. One goroutine at a time.
type Reference struct {
	m      *Model
	opt    Options
	rng    *rand.Rand
	frames [][]float64 // the last History normalised frames, oldest first
	n      int         // frames seen since Reset
	counts []float32   // this step's counts (sampled, mean or observed)
	hist   [][]float64 // GLM: counts of previous bins, most recent first
	state  [][]float64 // convgru: each layer's state h (by layer index), nil until its first step
}

// NewReference returns a reference engine for m.
func NewReference(m *Model, opt Options) (*Reference, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	r := &Reference{m: m, opt: opt, counts: make([]float32, len(m.Cells))}
	r.Reset()
	return r, nil
}

// Reset forgets every frame and spike: the next History-1 steps give no rates.
func (r *Reference) Reset() {
	r.frames, r.n, r.hist = nil, 0, nil
	r.state = make([][]float64, len(r.m.Layers)) // recurrent state starts at zero
	r.rng = newRNG(r.opt.Seed)
	clear(r.counts)
}

func newRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, rngStream)) }

// rngStream is the second word of every engine's PCG seed ("retina!").
const rngStream = 0x7265_7469_6e61_6421

// Step takes the next frame (Height*Width values, row-major) and writes the rates of every
// cell (spikes/s) to rates; it returns false, leaving rates untouched, until it has a full
// history of frames.
func (r *Reference) Step(frame, rates []float32) bool {
	in := r.m.Input
	if len(frame) != in.Height*in.Width || len(rates) != len(r.m.Cells) {
		panic(fmt.Sprintf("infer: Step: frame of %d values and rates of %d, want %d and %d", len(frame), len(rates), in.Height*in.Width, len(r.m.Cells)))
	}
	f := make([]float64, len(frame))
	for i, v := range frame {
		f[i] = (float64(v) - in.Mean) / in.Std
	}
	r.frames = append(r.frames, f)
	if len(r.frames) > in.History {
		r.frames = r.frames[1:]
	}
	r.n++
	if len(r.frames) < in.History {
		return false
	}
	var window []float64
	for _, f := range r.frames {
		window = append(window, f...)
	}
	var out []float64
	if r.m.Kind == GLM {
		out = r.glm(window)
	} else {
		x, shape := window, []int{in.History, in.Height, in.Width}
		for i := range r.m.Layers {
			x, shape = r.layer(i, x, shape)
		}
		out = x
	}
	for c, v := range out {
		rate := v * r.m.OutputScale
		rates[c] = float32(rate)
		if r.opt.Stochastic {
			r.counts[c] = float32(poisson(r.rng, rate/in.FrameRate))
		} else {
			r.counts[c] = float32(rate / in.FrameRate)
		}
	}
	if r.m.Kind == GLM {
		r.hist = append([][]float64{f32to64(r.counts)}, r.hist...)
	}
	return true
}

// Counts returns this step's spike counts per bin: sampled in stochastic mode, the mean
// (rate / frame rate) otherwise, or those given to Observe. Valid until the next Step.
func (r *Reference) Counts() []float32 { return r.counts }

// Observe replaces the spike counts of the last step (one per cell) by observed ones: a GLM's
// history then follows the recording (validation mode) instead of its own samples.
func (r *Reference) Observe(counts []float32) {
	copy(r.counts, counts)
	if len(r.hist) > 0 {
		r.hist[0] = f32to64(counts)
	}
}

func f32to64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

func (r *Reference) glm(window []float64) []float64 {
	g := r.m.GLM
	nc := len(r.m.Cells)
	out := make([]float64, nc)
	d := len(window)
	for c := range out {
		eta := float64(g.Bias.Data[c])
		for i, x := range window {
			eta += float64(g.StimulusFilter.Data[c*d+i]) * x
		}
		for j, n := range r.hist {
			if h := g.HistoryFilter; h != nil && j < h.Shape[1] {
				eta += float64(h.Data[c*h.Shape[1]+j]) * n[c]
			}
			if k := g.CouplingFilter; k != nil && j < k.Shape[2] {
				L := k.Shape[2]
				for i := 0; i < nc; i++ {
					eta += float64(k.Data[(c*nc+i)*L+j]) * n[i]
				}
			}
		}
		out[c] = math.Exp(eta)
	}
	return out
}

func (r *Reference) layer(li int, x []float64, shape []int) ([]float64, []int) {
	l := &r.m.Layers[li]
	at := (*Tensor).at
	switch l.Type {
	case ConvGRU:
		return r.convGRU(li, x, shape)
	case Conv2D:
		w := l.Weight.Shape
		co, ci, kh, kw := w[0], w[1], w[2], w[3]
		h, wd := shape[1]-kh+1, shape[2]-kw+1
		y := make([]float64, co*h*wd)
		for o := 0; o < co; o++ {
			for py := 0; py < h; py++ {
				for px := 0; px < wd; px++ {
					s := at(l.Bias, o, 0)
					for i := 0; i < ci; i++ {
						for ky := 0; ky < kh; ky++ {
							for kx := 0; kx < kw; kx++ {
								s += float64(l.Weight.Data[((o*ci+i)*kh+ky)*kw+kx]) * x[(i*shape[1]+py+ky)*shape[2]+px+kx]
							}
						}
					}
					y[(o*h+py)*wd+px] = s
				}
			}
		}
		return y, []int{co, h, wd}
	case Dense:
		out, in := l.Weight.Shape[0], l.Weight.Shape[1]
		y := make([]float64, out)
		for o := range y {
			s := at(l.Bias, o, 0)
			for i := 0; i < in; i++ {
				s += float64(l.Weight.Data[o*in+i]) * x[i]
			}
			y[o] = s
		}
		return y, []int{out}
	case BatchNorm:
		per := 1 // elements sharing one set of statistics
		if l.PerChannel && len(shape) == 3 {
			per = shape[1] * shape[2]
		}
		y := make([]float64, len(x))
		for i, v := range x {
			u := i / per
			y[i] = (v-at(l.RunningMean, u, 0))/math.Sqrt(at(l.RunningVar, u, 1)+l.Eps)*at(l.Weight, u, 1) + at(l.Bias, u, 0)
		}
		return y, shape
	case ReLU:
		y := make([]float64, len(x))
		for i, v := range x {
			y[i] = max(v, 0)
		}
		return y, shape
	case Noise:
		y := append([]float64{}, x...)
		if r.opt.Stochastic {
			for i := range y {
				y[i] += l.Std * float64(float32(r.rng.NormFloat64()))
			}
		}
		return y, shape
	case Softplus, Exp, Sigmoid:
		y := make([]float64, len(x))
		for i, v := range x {
			z := at(l.Slope, i, 1)*v + at(l.Offset, i, 0)
			y[i] = at(l.Gain, i, 1) * activation(l.Type, z)
		}
		return y, shape
	}
	panic("infer: unknown layer " + string(l.Type)) // Validate refused it
}

// convGRU is torch.nn.GRUCell's update with each matrix product a same-padded convolution:
//
//	r  = sigmoid(W_ir*x + b_ir + W_hr*h + b_hr)
//	z  = sigmoid(W_iz*x + b_iz + W_hz*h + b_hz)
//	n  = tanh(W_in*x + b_in + r (W_hn*h + b_hn))
//	h' = (1 - z) n + z h
//
// the gates in that order (r, z, n) along the kernels' first dimension. The state h is zero
// at Reset and is the layer's output.
func (r *Reference) convGRU(li int, x []float64, shape []int) ([]float64, []int) {
	l := &r.m.Layers[li]
	hc := l.Weight.Shape[0] / 3
	H, W := shape[1], shape[2]
	plane := H * W
	if r.state[li] == nil {
		r.state[li] = make([]float64, hc*plane)
	}
	h := r.state[li]
	gi := sameConv(x, shape[0], H, W, l.Weight, l.Bias)
	gh := sameConv(h, hc, H, W, l.WeightHH, l.BiasHH)
	next := make([]float64, len(h))
	sig := func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }
	for c := 0; c < hc; c++ {
		for p := 0; p < plane; p++ {
			ir, iz, in := gi[c*plane+p], gi[(hc+c)*plane+p], gi[(2*hc+c)*plane+p]
			hr, hz, hn := gh[c*plane+p], gh[(hc+c)*plane+p], gh[(2*hc+c)*plane+p]
			rg, zg := sig(ir+hr), sig(iz+hz)
			n := math.Tanh(in + rg*hn)
			next[c*plane+p] = (1-zg)*n + zg*h[c*plane+p]
		}
	}
	r.state[li] = next
	return append([]float64{}, next...), []int{hc, H, W}
}

// sameConv is the cross-correlation of x [ci, H, W] with w [co, ci, kh, kw] (odd kernels),
// zero-padded by kh/2 and kw/2 so the output is [co, H, W], plus bias (optional).
func sameConv(x []float64, ci, H, W int, w, bias *Tensor) []float64 {
	co, kh, kw := w.Shape[0], w.Shape[2], w.Shape[3]
	py, px := kh/2, kw/2
	y := make([]float64, co*H*W)
	for o := 0; o < co; o++ {
		for oy := 0; oy < H; oy++ {
			for ox := 0; ox < W; ox++ {
				s := bias.at(o, 0)
				for i := 0; i < ci; i++ {
					for ky := 0; ky < kh; ky++ {
						yy := oy + ky - py
						if yy < 0 || yy >= H {
							continue
						}
						for kx := 0; kx < kw; kx++ {
							xx := ox + kx - px
							if xx < 0 || xx >= W {
								continue
							}
							s += float64(w.Data[((o*ci+i)*kh+ky)*kw+kx]) * x[(i*H+yy)*W+xx]
						}
					}
				}
				y[(o*H+oy)*W+ox] = s
			}
		}
	}
	return y
}

// poisson samples a Poisson count of mean mu exactly: a sum of Knuth draws of mean at most
// 30 each (a sum of independent Poisson counts is Poisson). Rates are per 10 ms bin, so mu is
// small and this is cheap; it allocates nothing.
func poisson(r *rand.Rand, mu float64) int {
	n := 0
	for mu > 30 {
		n += poissonSmall(r, 30)
		mu -= 30
	}
	return n + poissonSmall(r, mu)
}

// poissonSmall is Knuth's multiplication method; it draws k+1 uniforms for a count of k.
func poissonSmall(r *rand.Rand, mu float64) int {
	if mu <= 0 {
		return 0
	}
	l := math.Exp(-mu)
	k, p := 0, r.Float64()
	for p > l {
		k++
		p *= r.Float64()
	}
	return k
}
