package infer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"

	"retinad/internal/cpus"
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
	if err := checkHelperCPUs(opt); err != nil {
		return nil, err
	}
	p, err := startPool(opt.Threads, opt.HelperCPUs)
	if err != nil {
		return nil, err
	}
	s := &Stream{m: m, opt: opt, pool: p, frame: make([]float32, in.Height*in.Width), rates: make([]float64, len(m.Cells)), counts: make([]float32, len(m.Cells))}
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

// checkHelperCPUs refuses helper cores that do not match the helpers (one each, Threads-1) or
// that are not cores of their own on this machine.
func checkHelperCPUs(opt Options) error {
	if len(opt.HelperCPUs) == 0 {
		return nil
	}
	if helpers := max(opt.Threads, 1) - 1; len(opt.HelperCPUs) != helpers {
		return fmt.Errorf("infer: helper cpus %s: %d cores for %d helpers (threads %d): want one per helper", cpus.FormatList(opt.HelperCPUs), len(opt.HelperCPUs), helpers, opt.Threads)
	}
	if err := cpus.Check("helper cpus", opt.HelperCPUs); err != nil {
		return fmt.Errorf("infer: %w", err)
	}
	return nil
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
	s.pool.prewake() // the helpers spin while this core normalises and transforms the frame
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
//
// Its weight spectra (co x History x the spectrum) are the largest thing a step reads at big
// grids: 8.4 MB at 80x80, 13 MB at 100x100. So they are read once per m steps, not every step
// (temporal blocking): the spectrum's blocks are split in m classes, and at step t the class
// t mod m sums every frame of the window for output t and, with the same weights still in
// cache, the partial sums of outputs t+1 .. t+m-1 over the frames already seen (the frames
// to come read as zeros); at the steps between, a class adds to its stored partial only the
// products of the frames that came since. Each output is the same sum as before, added in
// another order; a step reads 1/m of the weights plus a few frames' worth, for as many
// multiply-adds (m sums of a class every m steps) and the partials' traffic.
type convRing struct {
	sp       *spectral
	sps      []*spectral // one per core of the pool (sps[0] is sp): their scratch is their own
	pool     *pool
	macPart  func(part, parts int) // the spectral sums' share of one core, bound once
	invPart  func(part, parts int) // the inverse transforms' share, bound once
	dst      []float32             // output's destination, for invPart
	hist, co int
	mac      *specMAC      // conj(FFT(w_{c,k})) / (h*w), window position k as input k
	ring     []float32     // [nb][hist+1][16]: the frames' spectra, planar, their blocks interleaved; slot hist stays zero
	head     int           // slot of the newest frame
	t        int           // frames pushed since reset
	m        int           // temporal blocking: the classes of blocks
	class    []int         // class c is blocks class[c] to class[c+1]-1
	chunk    int           // blocks whose weights fit the second-level cache: a full class runs in these
	partial  [][]complex64 // partial[j] (1 <= j < m): the sums for output t+j, as acc, of each class's blocks
	xfull    [][]int       // xfull[j]: where the frame of each window position of output t+j is in ring (the zero slot for those to come)
	xnew     [][]int       // xnew[d]: the d newest frames, oldest first, for a class last run in full d steps ago
	bias     []float32
	oh, ow   int
}

// convBlocking is the first layer's temporal blocking factor m (at most History): each step
// reads about 1/m of the weight spectra. Four keeps the partials small (3 arrays of the
// output's spectra) and the extra products few (m-1 frames' worth a step, on average half);
// at 80x80 and 100x100 it did better than 2 and 8 (bench, load 12-16: the stepping thread's
// CPU p50 over unswitched steps 1074 / 876 us against 1092 / 1029 and 1121 / 888 us).
// Weight spectra of convBlockingMin bytes or less (the paper's 50x50: 3.3 MB) are read whole
// every step: they stay in the last-level cache, and blocking only added its overhead there
// (82 against 80 us).
const (
	convBlocking    = 4
	convBlockingMin = 4 << 20
)

// convChunkBytes is the weights of one group a full class reads at a time: it fits the
// second-level cache with room, so that the m sums of a chunk read the weights from memory once.
const convChunkBytes = 256 << 10

func newConvRing(l *Layer, in []int, p *pool) *convRing {
	hist, h, w := in[0], in[1], in[2]
	co, kh, kw := l.Weight.Shape[0], l.Weight.Shape[2], l.Weight.Shape[3]
	sp := newPaddedSpectral(h, w)
	n := sp.h * sp.hf
	r := &convRing{sp: sp, sps: []*spectral{sp}, pool: p, hist: hist, co: co, oh: h - kh + 1, ow: w - kw + 1}
	for len(r.sps) < p.parts() {
		r.sps = append(r.sps, newPaddedSpectral(h, w))
	}
	r.macPart, r.invPart = r.sumsPart, r.inversePart
	r.mac = newSpecMAC(kernelSpectra(sp, l.Weight), co, hist, n)
	r.ring = make([]float32, r.mac.nb*(hist+1)*16)
	r.chunk = max(1, convChunkBytes/(hist*4*64))
	m := 1
	if 4*len(r.mac.w) > convBlockingMin {
		m = convBlocking
	}
	r.setBlocking(m)
	r.bias = make([]float32, co)
	if l.Bias != nil {
		copy(r.bias, l.Bias.Data)
	}
	return r
}

// setBlocking sizes the temporal blocking for m classes (at most History) and resets.
func (r *convRing) setBlocking(m int) {
	r.m = min(m, r.hist)
	r.class = r.class[:0]
	for c := 0; c <= r.m; c++ {
		r.class = append(r.class, r.mac.nb*c/r.m)
	}
	r.partial = make([][]complex64, r.m)
	r.xfull, r.xnew = make([][]int, r.m), make([][]int, r.m)
	for j := 0; j < r.m; j++ {
		r.xfull[j], r.xnew[j] = make([]int, r.hist), make([]int, j)
		if j > 0 {
			r.partial[j] = make([]complex64, len(r.mac.acc))
		}
	}
	r.reset()
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
	for _, p := range r.partial {
		clear(p)
	}
	r.head, r.t = 0, 0
}

// push writes the frame's spectrum into its slot and runs this step's spectral sums. The
// slots' blocks are interleaved (block b of every slot, then block b+1), so that the sums
// read the ring as one stream instead of one per frame of the window: memory prefetching
// follows one stream, not forty. Blocked, the sums run at every step, the first History-1
// included: the partials of the outputs to come are made then.
func (r *convRing) push(frame []float32) {
	r.head = (r.head + 1) % r.hist
	toPlanar(r.sp.spectrum(frame), r.ring[r.head*16:], (r.hist+1)*16)
	slot := func(lag int) int { // where the frame lag steps back is; the zero slot for one to come
		if lag < 0 {
			return r.hist * 16
		}
		return (r.head - lag + r.hist) % r.hist * 16
	}
	for j, xo := range r.xfull { // window position k of output t+j holds the frame hist-1-k-j back
		for k := range xo {
			xo[k] = slot(r.hist - 1 - k - j)
		}
	}
	for d, xo := range r.xnew { // the last d positions of the window: frames d-1 .. 0 back
		for i := range xo {
			xo[i] = slot(d - 1 - i)
		}
	}
	if r.m > 1 || r.t >= r.hist-1 { // unblocked, the sums serve this step's output alone
		r.pool.run(r.macPart)
	}
	r.t++
}

// sumsPart is one core's share of a step's spectral sums: its groups of four channels. The
// class t mod m sums its blocks in full, for this output and the partials of the next m-1,
// chunk by chunk; every other class, last run in full d steps ago, adds its d newest frames'
// products to partial[d].
func (r *convRing) sumsPart(part, parts int) {
	g0, g1 := span(r.mac.ng, part, parts)
	cs, xs, full := r.mac.nb*8, (r.hist+1)*16, r.t%r.m
	for g := g0; g < g1; g++ {
		for c := 0; c < r.m; c++ {
			b0, b1 := r.class[c], r.class[c+1]
			if c == full {
				for cb := b0; cb < b1; cb += r.chunk {
					ce := min(cb+r.chunk, b1)
					for j := 0; j < r.m; j += 2 {
						if j+1 < r.m {
							r.mac.runBlocks2(r.sumsOf(j), r.partial[j+1], cs, r.ring, r.xfull[j], r.xfull[j+1], xs, g, cb, ce, 0)
						} else {
							r.mac.runBlocks(r.sumsOf(j), cs, r.ring, r.xfull[j], xs, g, cb, ce, 0)
						}
					}
				}
				continue
			}
			d := (full - c + r.m) % r.m
			r.mac.runBlocks(r.mac.acc, cs, r.ring, r.xnew[d], xs, g, b0, b1, r.hist-d)
			for ch := 4 * g; ch < 4*g+4; ch++ {
				addComplex(r.mac.acc[ch*cs+8*b0:ch*cs+8*b1], r.partial[d][ch*cs+8*b0:ch*cs+8*b1])
			}
		}
	}
}

// sumsOf is where the sums for output t+j go: acc for this step's, partial[j] for those to come.
func (r *convRing) sumsOf(j int) []complex64 {
	if j == 0 {
		return r.mac.acc
	}
	return r.partial[j]
}

// sumFLOPs is the arithmetic of a step's spectral sums, on average over the m steps of a
// cycle: every block's full sum (a class's m sums every m steps, the frames to come
// included as zeros), its (m-1)/2 newest frames' products, and the partials' adds.
func (r *convRing) sumFLOPs() int64 {
	n, m := int64(r.co*r.mac.n), int64(r.m)
	return 8*n*int64(r.hist) + 8*n*(m-1)/2 + 2*n*(m-1)/m
}

// bytesPerStep is what a step's spectral sums read, on average: a class's weights and ring
// blocks once per cycle (its m sums read them from the second-level cache) and the newest
// frames' for the other classes, the ring once per group of four channels, and the partials
// read and written.
func (r *convRing) bytesPerStep() int64 {
	m, hist := float64(r.m), float64(r.hist)
	share := (1 + m*(m-1)/2/hist) / m // of the weights and ring a step reads
	partials := 2 * (m - 1) / m * float64(8*len(r.mac.acc))
	return int64(share*float64(4*len(r.mac.w)+4*r.mac.ng*len(r.ring)) + partials)
}

// addComplex adds src to dst, element by element (AVX2 where the CPU has it: the blocked
// first layer adds three quarters of its output's spectra to partials every step).
var addComplex = addComplexGo

func addComplexGo(dst, src []complex64) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] += src[i]
	}
}

func (r *convRing) output(dst []float32) {
	r.dst = dst[:r.co*r.oh*r.ow]
	r.pool.run(r.invPart)
}

// inversePart is one core's share of output: the inverse transforms of the channels of its
// groups of four.
func (r *convRing) inversePart(part, parts int) {
	g0, g1 := span(r.mac.ng, part, parts)
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
