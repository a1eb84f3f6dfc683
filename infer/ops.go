package infer

import (
	"math"
)

// newOp builds the float32 form of layer l, which takes input of shape in.
func newOp(l *Layer, in []int, s *Stream) op {
	n := numel(in)
	at := (*Tensor).at
	switch l.Type {
	case BatchNorm:
		o := &affineOp{scale: make([]float32, n), shift: make([]float32, n)}
		per := 1
		if l.PerChannel && len(in) == 3 {
			per = in[1] * in[2]
		}
		for i := 0; i < n; i++ {
			u := i / per
			a := at(l.Weight, u, 1) / math.Sqrt(at(l.RunningVar, u, 1)+l.Eps)
			o.scale[i] = float32(a)
			o.shift[i] = float32(at(l.Bias, u, 0) - at(l.RunningMean, u, 0)*a)
		}
		return o
	case ReLU:
		return reluOp{}
	case Noise:
		return &noiseOp{std: float32(l.Std), s: s}
	case Dense:
		var bias []float32
		if l.Bias != nil {
			bias = l.Bias.Data
		}
		return newDenseOp(l.Weight.Data, bias, l.Weight.Shape[0], l.Weight.Shape[1], s.pool)
	case Conv2D:
		return newConv(l, in, s.pool)
	case ConvGRU:
		return newGRUOp(l, in, s.pool)
	case Softplus, Exp, Sigmoid:
		o := &nonlinOp{f: l.Type, gain: make([]float32, n), slope: make([]float32, n), offset: make([]float32, n)}
		for i := 0; i < n; i++ {
			o.gain[i], o.slope[i], o.offset[i] = float32(at(l.Gain, i, 1)), float32(at(l.Slope, i, 1)), float32(at(l.Offset, i, 0))
		}
		return o
	}
	panic("infer: unknown layer " + string(l.Type)) // Validate refused it
}

// newConv is a (valid) convolution after the first layer in its cheaper form (convCost).
func newConv(l *Layer, in []int, p *pool) op {
	ws := l.Weight.Shape
	if direct, freq := convCost(in[0], ws[0], in[1], in[2], ws[2], ws[3]); direct <= freq {
		return newDirectConvOp(l, in, p)
	}
	return newConvOp(l, in, p)
}

// affineOp is a batch norm, and the ReLU after it when there is one (fused: one pass).
type affineOp struct {
	scale, shift []float32
	relu         bool
}

func (o *affineOp) apply(x []float32) []float32 {
	affine(x, o.scale[:len(x)], o.shift[:len(x)], o.relu)
	return x
}

// affine sets x[i] = x[i]*scale[i] + shift[i], then max(x[i], 0) when relu (AVX2 where the CPU
// has it). scale and shift are at least as long as x.
var affine = affineGo

func affineGo(x, scale, shift []float32, relu bool) {
	scale, shift = scale[:len(x)], shift[:len(x)]
	for i, v := range x {
		v = v*scale[i] + shift[i]
		if relu && v < 0 { // NaN stays NaN, as the assembly's VMAXPS(0, v) keeps it
			v = 0
		}
		x[i] = v
	}
}

type reluOp struct{}

func (reluOp) apply(x []float32) []float32 {
	for i, v := range x {
		x[i] = max(v, 0)
	}
	return x
}

// noiseOp adds the latent noise in stochastic mode, drawing from the engine's generator in
// the order the reference draws.
type noiseOp struct {
	std float32
	s   *Stream
}

func (o *noiseOp) apply(x []float32) []float32 {
	if !o.s.opt.Stochastic {
		return x
	}
	for i := range x {
		x[i] += o.std * float32(o.s.rng.NormFloat64())
	}
	return x
}

type nonlinOp struct {
	f                   LayerType
	gain, slope, offset []float32
}

func (o *nonlinOp) apply(x []float32) []float32 {
	for i, v := range x {
		z := float64(o.slope[i]*v + o.offset[i])
		x[i] = o.gain[i] * float32(activation(o.f, z))
	}
	return x
}

// convOp is a convolution after the first layer, through the frequency domain: FFT of each
// input channel, sum conj(W) * X per output channel, inverse. With a pool, the input channels'
// transforms are split across its cores, then the output channels.
type convOp struct {
	sps    []*spectral // one per core of the pool: their scratch is their own
	pool   *pool
	ci, co int
	h, w   int
	oh, ow int
	mac    *specMAC
	xspec  []float32 // [nb][ci][16]: the inputs' spectra, planar, their blocks interleaved
	xoff   []int     // i*16: where input i's first block is
	bias   []float32
	x, out []float32
	fwd    func(part, parts int) // the two phases of apply, bound once
	inv    func(part, parts int)
}

func newConvOp(l *Layer, in []int, p *pool) *convOp {
	ci, h, w := in[0], in[1], in[2]
	co, kh, kw := l.Weight.Shape[0], l.Weight.Shape[2], l.Weight.Shape[3]
	o := &convOp{pool: p, ci: ci, co: co, h: h, w: w, oh: h - kh + 1, ow: w - kw + 1}
	for len(o.sps) < p.parts() {
		o.sps = append(o.sps, newPaddedSpectral(h, w))
	}
	sp := o.sps[0]
	o.mac = newSpecMAC(kernelSpectra(sp, l.Weight), co, ci, sp.h*sp.hf)
	o.xspec = make([]float32, ci*o.mac.planarLen())
	o.xoff = make([]int, ci)
	for i := range o.xoff {
		o.xoff[i] = i * 16
	}
	o.bias = make([]float32, co)
	if l.Bias != nil {
		copy(o.bias, l.Bias.Data)
	}
	o.out = make([]float32, co*o.oh*o.ow)
	o.fwd, o.inv = o.forwardPart, o.inversePart
	return o
}

func (o *convOp) apply(x []float32) []float32 {
	o.x = x
	o.pool.run(o.fwd)
	o.pool.run(o.inv)
	o.x = nil
	return o.out
}

// forwardPart transforms one core's share of the input channels.
func (o *convOp) forwardPart(part, parts int) {
	plane := o.h * o.w
	i0, i1 := span(o.ci, part, parts)
	for i := i0; i < i1; i++ {
		toPlanar(o.sps[part].spectrum(o.x[i*plane:(i+1)*plane]), o.xspec[i*16:], o.ci*16)
	}
}

// inversePart sums and transforms back one core's share of the output channels (whole
// groups of four).
func (o *convOp) inversePart(part, parts int) {
	g0, g1 := span(o.mac.ng, part, parts)
	o.mac.runGroups(o.xspec, o.xoff, o.ci*16, g0, g1)
	oplane := o.oh * o.ow
	for c := 4 * g0; c < min(4*g1, o.co); c++ {
		o.sps[part].inverse(o.mac.out(c), o.out[c*oplane:(c+1)*oplane], o.oh, o.ow, o.bias[c])
	}
}
