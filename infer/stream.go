package infer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
)

// Stream is the streaming engine: Step takes one new frame and does only the work that frame
// adds. A CNN's first convolution keeps the 2-D spectrum of each of the last History frames
// in a ring and sums conj(W_k) * F_{t-k} in the frequency domain (exact: a circular
// correlation of the frame's own size equals the valid correlation on the valid region),
// later convolutions go through the frequency domain too; an LN or GLM model keeps a ring of
// partial dot products, each frame's contribution to the next History outputs added once.
// Every buffer is sized by NewStream: Step allocates nothing. One goroutine at a time.
type Stream struct {
	m      *Model
	opt    Options
	rng    *rand.Rand
	pcg    *rand.PCG // rng's source, reseeded by Reset (which allocates nothing)
	frame  []float32 // the normalised frame
	n      int       // frames since Reset
	first  firstStage
	x0     []float32 // the first stage's output
	tail   []op
	rates  []float64
	counts []float32
	glm    *glmState
	pool   *pool // helpers for Options.Threads > 1, or nil
}

// firstStage is a model's first layer run one frame at a time.
type firstStage interface {
	push(frame []float32) // adds the frame (normalised) to the state
	output(dst []float32) // writes the layer's output for the window ending at the last frame
	reset()
}

// op is a layer after the first, run on a full output of the layer before. newOp picks each
// layer's form; one that splits its work across cores takes the Stream's pool (nil: the
// caller's goroutine alone) and binds its per-core function once, when built, so that apply
// allocates nothing (convOp, directConvOp, denseOp show the pattern).
type op interface {
	apply(x []float32) []float32 // may work in place; returns the output
}

// NewStream returns a streaming engine for m.
func NewStream(m *Model, opt Options) (*Stream, error) {
	shapes, err := m.shapes()
	if err != nil {
		return nil, err
	}
	in := m.Input
	if opt.Threads < 0 || opt.Threads > MaxThreads {
		return nil, fmt.Errorf("infer: %d threads: want 0 to %d", opt.Threads, MaxThreads)
	}
	s := &Stream{m: m, opt: opt, pool: newPool(opt.Threads), frame: make([]float32, in.Height*in.Width), rates: make([]float64, len(m.Cells)), counts: make([]float32, len(m.Cells))}
	window := []int{in.History, in.Height, in.Width}
	switch {
	case m.Kind == GLM:
		g := m.GLM
		s.first = newDenseRing(g.StimulusFilter.Data, g.Bias.Data, len(m.Cells), in.History, in.Height*in.Width)
		s.x0 = make([]float32, len(m.Cells))
		s.glm = newGLMState(g, len(m.Cells))
	case m.Layers[0].Type == Conv2D:
		s.first = newConvRing(&m.Layers[0], window, s.pool)
		s.x0 = make([]float32, numel(shapes[0]))
	default: // Dense, as Validate checked
		l := &m.Layers[0]
		var bias []float32
		if l.Bias != nil {
			bias = l.Bias.Data
		}
		s.first = newDenseRing(l.Weight.Data, bias, l.Weight.Shape[0], in.History, in.Height*in.Width)
		s.x0 = make([]float32, l.Weight.Shape[0])
	}
	for i := 1; i < len(m.Layers); i++ {
		if m.Layers[i].Type == Noise && !opt.Stochastic {
			continue // deterministic mode: the mean field, no noise
		}
		o := newOp(&m.Layers[i], shapes[i-1], s)
		if a, ok := o.(*affineOp); ok {
			j := i + 1
			for j < len(m.Layers) && m.Layers[j].Type == Noise && !opt.Stochastic {
				j++
			}
			if j < len(m.Layers) && m.Layers[j].Type == ReLU {
				a.relu = true // the ReLU runs in the batch norm's pass
				i = j
			}
		}
		s.tail = append(s.tail, o)
	}
	s.Reset()
	if s.pool != nil {
		// An engine dropped without Close still ends its helpers (they hold only channels).
		runtime.AddCleanup(s, func(p *pool) { p.close() }, s.pool)
	}
	return s, nil
}

// Close ends the helper goroutines of Options.Threads > 1; the engine must not Step again.
// It may be called more than once; without it, the helpers end once the engine is garbage.
func (s *Stream) Close() {
	s.pool.close()
}

// Model returns the engine's model.
func (s *Stream) Model() *Model { return s.m }

// Reset forgets every frame and spike, sets recurrent layers' state to zero, and reseeds the
// generator: the next History-1 steps give no rates. Call it where a session starts (the
// daemon does, before a session's first frame); it allocates nothing.
func (s *Stream) Reset() {
	s.n = 0
	s.first.reset()
	for _, o := range s.tail {
		if r, ok := o.(interface{ reset() }); ok {
			r.reset()
		}
	}
	if s.pcg == nil {
		s.pcg = rand.NewPCG(0, 0)
		s.rng = rand.New(s.pcg)
	}
	s.pcg.Seed(s.opt.Seed, rngStream) // as newRNG: the same seed, the same samples
	clear(s.counts)
	if s.glm != nil {
		s.glm.reset()
	}
}

// Step takes the next frame (Height*Width values, row-major, as shown) and writes every
// cell's rate (spikes/s) to rates; it returns false, leaving rates untouched, until it has
// seen History frames. It panics if the slices have the wrong lengths.
func (s *Stream) Step(frame, rates []float32) bool {
	in := s.m.Input
	if len(frame) != len(s.frame) || len(rates) != len(s.m.Cells) {
		panic(fmt.Sprintf("infer: Step: frame of %d values and rates of %d, want %d and %d", len(frame), len(rates), len(s.frame), len(s.m.Cells)))
	}
	mean, inv := float32(in.Mean), float32(1/in.Std)
	for i, v := range frame {
		s.frame[i] = (v - mean) * inv
	}
	s.first.push(s.frame)
	s.n++
	if s.n < in.History {
		return false
	}
	s.first.output(s.x0)
	x := s.x0
	for _, o := range s.tail {
		x = o.apply(x)
	}
	if s.glm != nil {
		s.glm.rates(x, s.rates)
	} else {
		for c, v := range x {
			s.rates[c] = float64(v)
		}
	}
	for c, v := range s.rates {
		rate := v * s.m.OutputScale
		rates[c] = float32(rate)
		if s.opt.Stochastic {
			s.counts[c] = float32(poisson(s.rng, rate/in.FrameRate))
		} else {
			s.counts[c] = float32(rate / in.FrameRate)
		}
	}
	if s.glm != nil {
		s.glm.push(s.counts)
	}
	return true
}

// Counts returns this step's spike counts per bin: sampled in stochastic mode, the mean
// (rate / frame rate) otherwise, or those given to Observe. Valid until the next Step.
func (s *Stream) Counts() []float32 { return s.counts }

// Observe replaces the spike counts of the last step (one per cell) by observed ones: a GLM's
// history then follows the recording (validation mode) instead of its own samples. Call it
// after Step and before the next.
func (s *Stream) Observe(counts []float32) {
	if len(counts) != len(s.counts) {
		panic(fmt.Sprintf("infer: Observe: %d counts, want %d", len(counts), len(s.counts)))
	}
	copy(s.counts, counts)
	if s.glm != nil && s.n >= s.m.Input.History {
		s.glm.replace(counts)
	}
}

// convRing is a CNN's first convolution, streamed in the frequency domain.
type convRing struct {
	sp       *spectral
	sps      []*spectral // one per core of the pool (sps[0] is sp): their scratch is their own
	pool     *pool
	part     func(part, parts int) // output's share of one core, bound once
	dst      []float32             // output's destination, for part
	hist, co int
	mac      *specMAC  // conj(FFT(w_{c,k})) / (h*w), window position k as input k
	ring     []float32 // [nb][hist][16]: the frames' spectra, planar, their blocks interleaved
	head     int       // slot of the newest frame
	xoff     []int     // where window position k's first block is in ring, set by output
	bias     []float32
	oh, ow   int
}

func newConvRing(l *Layer, in []int, p *pool) *convRing {
	hist, h, w := in[0], in[1], in[2]
	co, kh, kw := l.Weight.Shape[0], l.Weight.Shape[2], l.Weight.Shape[3]
	sp := newPaddedSpectral(h, w)
	n := sp.h * sp.hf
	r := &convRing{sp: sp, sps: []*spectral{sp}, pool: p, hist: hist, co: co, oh: h - kh + 1, ow: w - kw + 1}
	for len(r.sps) < p.parts() {
		r.sps = append(r.sps, newPaddedSpectral(h, w))
	}
	r.part = r.outputPart
	r.mac = newSpecMAC(kernelSpectra(sp, l.Weight), co, hist, n)
	r.ring = make([]float32, hist*r.mac.planarLen())
	r.xoff = make([]int, hist)
	r.bias = make([]float32, co)
	if l.Bias != nil {
		copy(r.bias, l.Bias.Data)
	}
	return r
}

// kernelSpectra returns conj(FFT(w)) / (h*w) of every [out][in] kernel zero-padded to the
// spectral size, so that an inverse of sum conj(W) * X is the valid correlation.
func kernelSpectra(sp *spectral, wt *Tensor) []complex64 {
	co, ci, kh, kw := wt.Shape[0], wt.Shape[1], wt.Shape[2], wt.Shape[3]
	n := sp.h * sp.hf
	out := make([]complex64, co*ci*n)
	img := make([]float32, sp.ih*sp.iw) // the kernel fits the image; spectrum pads both
	scale := float32(1 / float64(sp.h*sp.w))
	for o := 0; o < co; o++ {
		for i := 0; i < ci; i++ {
			clear(img)
			for y := 0; y < kh; y++ {
				for x := 0; x < kw; x++ {
					img[y*sp.iw+x] = wt.Data[((o*ci+i)*kh+y)*kw+x]
				}
			}
			dst := out[(o*ci+i)*n : (o*ci+i+1)*n]
			sp.forward(img, dst)
			for j, v := range dst {
				dst[j] = complex(real(v)*scale, -imag(v)*scale)
			}
		}
	}
	return out
}

func (r *convRing) reset() {
	clear(r.ring)
	r.head = 0
}

// push writes the frame's spectrum into its slot. The slots' blocks are interleaved (block b
// of every slot, then block b+1), so that the spectral sums read the ring as one stream
// instead of one per frame of the window: memory prefetching follows one stream, not forty.
func (r *convRing) push(frame []float32) {
	r.head = (r.head + 1) % r.hist
	toPlanar(r.sp.spectrum(frame), r.ring[r.head*16:], r.hist*16)
}

func (r *convRing) output(dst []float32) {
	plane := r.oh * r.ow
	for k := range r.xoff { // window position k holds the frame hist-1-k steps back
		r.xoff[k] = (r.head - (r.hist - 1 - k) + r.hist) % r.hist * 16
	}
	r.dst = dst[:r.co*plane]
	r.pool.run(r.part)
}

// outputPart is one core's share of output: the groups of four channels in its span, their
// spectral sums and inverse transforms.
func (r *convRing) outputPart(part, parts int) {
	g0, g1 := span(r.mac.ng, part, parts)
	r.mac.runGroups(r.ring, r.xoff, r.hist*16, g0, g1)
	plane := r.oh * r.ow
	for c := 4 * g0; c < min(4*g1, r.co); c++ {
		r.sps[part].inverse(r.mac.out(c), r.dst[c*plane:(c+1)*plane], r.oh, r.ow, r.bias[c])
	}
}

// denseRing is a dense layer on the whole window, streamed: partial[t mod hist] collects the
// contributions of the frames seen so far to the output at bin t.
type denseRing struct {
	w        []float32 // [out][hist][hw]
	bias     []float32
	out      int
	hist, hw int
	partial  [][]float32
	t        int // index of the last frame pushed
}

func newDenseRing(w, bias []float32, out, hist, hw int) *denseRing {
	r := &denseRing{w: w, bias: bias, out: out, hist: hist, hw: hw, partial: make([][]float32, hist)}
	for i := range r.partial {
		r.partial[i] = make([]float32, out)
	}
	return r
}

func (r *denseRing) reset() {
	for _, p := range r.partial {
		clear(p)
	}
	r.t = -1
}

func (r *denseRing) push(frame []float32) {
	r.t++
	clear(r.partial[(r.t+r.hist-1)%r.hist]) // the slot of bin t+hist-1, whose window starts now
	for k := 0; k < r.hist; k++ {
		// this frame sits at window position k of the output at bin t + hist-1-k
		p := r.partial[(r.t+r.hist-1-k)%r.hist]
		for c := 0; c < r.out; c++ {
			p[c] += dot(r.w[(c*r.hist+k)*r.hw:(c*r.hist+k+1)*r.hw], frame)
		}
	}
}

func (r *denseRing) output(dst []float32) {
	copy(dst, r.partial[r.t%r.hist])
	for c := range r.bias {
		dst[c] += r.bias[c]
	}
}

// dot is the sum of a[i]*b[i]: dense layers' hot loop (AVX2 where the CPU has it).
var dot = dotGeneric

func dotGeneric(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// glmState is a GLM's spike history: a ring of the last L bins' counts.
type glmState struct {
	nc, L    int
	hist     []float32 // ring [L][nc]
	head     int       // slot of the most recent bin
	own      []float32 // [nc][L] history filter or nil
	coupling []float32 // [nc][nc][L] or nil
}

func newGLMState(g *GLMParams, nc int) *glmState {
	st := &glmState{nc: nc}
	if g.HistoryFilter != nil {
		st.L, st.own = g.HistoryFilter.Shape[1], g.HistoryFilter.Data
	}
	if g.CouplingFilter != nil {
		st.L, st.coupling = g.CouplingFilter.Shape[2], g.CouplingFilter.Data
	}
	st.hist = make([]float32, max(st.L, 1)*nc)
	return st
}

func (g *glmState) reset() { clear(g.hist); g.head = 0 }

// rates writes exp(drive + history terms) (spikes per bin) for the stimulus drive x.
func (g *glmState) rates(x []float32, dst []float64) {
	nc, L := g.nc, g.L
	for c := 0; c < nc; c++ {
		eta := x[c]
		for j := 0; j < L; j++ {
			n := g.hist[((g.head-j+L)%L)*nc:]
			if g.own != nil {
				eta += g.own[c*L+j] * n[c]
			}
			if g.coupling != nil {
				for i := 0; i < nc; i++ {
					eta += g.coupling[(c*nc+i)*L+j] * n[i]
				}
			}
		}
		dst[c] = math.Exp(float64(eta))
	}
}

func (g *glmState) push(counts []float32) {
	if g.L == 0 {
		return
	}
	g.head = (g.head + 1) % g.L
	copy(g.hist[g.head*g.nc:(g.head+1)*g.nc], counts)
}

func (g *glmState) replace(counts []float32) {
	if g.L > 0 {
		copy(g.hist[g.head*g.nc:(g.head+1)*g.nc], counts)
	}
}
