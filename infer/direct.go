package infer

// directConvOp is a convolution after the first layer computed directly: each output row is
// the sum, over input channels and kernel taps, of a weight times a row of the input (a 2-D
// multiply-add the kernel does eight values at a time). For small kernels this costs fewer
// operations than the frequency domain's transforms, and its weights are the kernel's own
// (ci*kh*kw per output channel, not ci*h*(w/2+1) complex values); newOp picks the cheaper form
// per layer and size (convCost). With a pool, output channels are split across its cores.
type directConvOp struct {
	ci, co, h, w, kh, kw, oh, ow int
	wt                           []float32 // [co][ci][kh][kw], torch's layout
	bias                         []float32 // [co]
	x, out                       []float32
	pool                         *pool
	part                         func(part, parts int) // bound once
}

func newDirectConvOp(l *Layer, in []int, p *pool) *directConvOp {
	ci, h, w := in[0], in[1], in[2]
	co, kh, kw := l.Weight.Shape[0], l.Weight.Shape[2], l.Weight.Shape[3]
	o := &directConvOp{ci: ci, co: co, h: h, w: w, kh: kh, kw: kw, oh: h - kh + 1, ow: w - kw + 1,
		wt: l.Weight.Data, bias: make([]float32, co), pool: p}
	if l.Bias != nil {
		copy(o.bias, l.Bias.Data)
	}
	o.out = make([]float32, co*o.oh*o.ow)
	o.part = o.channels
	return o
}

func (o *directConvOp) apply(x []float32) []float32 {
	o.x = x[:o.ci*o.h*o.w]
	o.pool.run(o.part)
	o.x = nil
	return o.out
}

// channels computes one core's share of the output channels.
func (o *directConvOp) channels(part, parts int) {
	c0, c1 := span(o.co, part, parts)
	plane, oplane, taps := o.h*o.w, o.oh*o.ow, o.kh*o.kw
	// The last tap's rows end (ow-1) past the start of row oh-1: that much of the input.
	span := (o.oh-1)*o.w + o.ow
	for c := c0; c < c1; c++ {
		dst := o.out[c*oplane : (c+1)*oplane]
		for j := range dst {
			dst[j] = o.bias[c]
		}
		for i := 0; i < o.ci; i++ {
			wk := o.wt[(c*o.ci+i)*taps : (c*o.ci+i+1)*taps]
			src := o.x[i*plane : (i+1)*plane]
			for ky := 0; ky < o.kh; ky++ {
				for kx := 0; kx < o.kw; kx++ {
					off := ky*o.w + kx
					rowsFMA(dst, src[off:off+span], wk[ky*o.kw+kx], o.oh, o.ow, o.w)
				}
			}
		}
	}
}

// rowsFMA adds a*src[y*stride+x] to dst[y*n+x] for y < rows, x < n: one kernel tap of a
// direct convolution (AVX2 where the CPU has it). src holds (rows-1)*stride+n values.
var rowsFMA = rowsFMAGo

func rowsFMAGo(dst, src []float32, a float32, rows, n, stride int) {
	for y := 0; y < rows; y++ {
		d, s := dst[y*n:y*n+n], src[y*stride:y*stride+n]
		for x, v := range s {
			d[x] += a * v
		}
	}
}

// directSlowdown is how many times fewer operations per second the direct form's kernel does
// than the frequency domain's (measured with BenchmarkConvForms: 14-15 against 36-39 GFLOP/s
// for 8 channels of 3x3 on 36x36 and 86x86; the row kernel loads and stores its sums for every
// tap, where the spectral sums stay in registers).
const directSlowdown = 3

// convCost is the cost of a convolution after the first layer in each form, for newOp's
// choice (the direct form when direct <= freq): direct, one multiply-add per output, input
// channel and tap, times directSlowdown; frequency, the forward transforms of the inputs, the
// complex sums and the inverse transforms. Because the transforms are shared by every pair of
// channels, the frequency domain wins for all but the smallest kernels and channel counts
// (1x1 kernels, or a channel or two of 3x3).
func convCost(ci, co, h, w, kh, kw int) (direct, freq int64) {
	oh, ow := h-kh+1, w-kw+1
	direct = directSlowdown * 2 * int64(co*ci*oh*ow*kh*kw)
	sp := newPaddedSpectral(h, w)
	freq = int64(ci)*sp.forwardFlops() + int64(co)*sp.flops(sp.h, oh) + 8*int64(co*ci*sp.h*sp.hf)
	return direct, freq
}
