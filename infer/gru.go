package infer

import "fmt"

// gruOp is the streaming form of a convgru layer (see Reference.convGRU for the update): its
// state h lives in the op, sized when the engine is built, carried from one Step to the next
// and cleared by Stream.Reset. Its two same-padded convolutions (of the input and of the
// state, all three gates at once) run on copies of x and h zero-padded by kh/2 and kw/2, which
// is the same-padded convolution on the unpadded planes, in one of two forms:
//   - direct, where the CPU has the kernel (gruConvKernel: AVX-512): eight output channels and
//     48 outputs at a time in registers, each input vector loaded once for the eight (see
//     gruDirect). At paper size (8 channels of 3x3 on 26x26) the whole op takes 30 us p50
//     against 62 us with the convolutions in the frequency domain, whose transforms of 16
//     planes in and 48 out cost more than the sums at this size (BenchmarkGRUOp, load 5.6);
//     the kernel is 23 us of it, 7.2 G 16-wide FMAs a second of the 8.2 this core peaks at;
//   - otherwise the valid convolutions of the other layers (newConv: direct or through the
//     frequency domain, split across the pool's cores).
type gruOp struct {
	ci, hc, h, w int
	py, px       int       // padding: kh/2, kw/2
	xp, hp       []float32 // x and h padded: [ci or hc][h+2py][w+2px], borders zero
	ih, hh       op        // the gates' convolutions of xp and hp: [3*hc][h][w]
	direct       *gruDirect
	state        []float32 // h: [hc][h][w], or as gruDirect holds it
	out          []float32 // a copy of the new state, which later layers may change in place
}

func newGRUOp(l *Layer, in []int, p *pool) *gruOp {
	hc, kh, kw := l.Weight.Shape[0]/3, l.Weight.Shape[2], l.Weight.Shape[3]
	o := &gruOp{ci: in[0], hc: hc, h: in[1], w: in[2], py: kh / 2, px: kw / 2}
	o.out = make([]float32, hc*o.h*o.w)
	if gruConvKernel != nil {
		o.direct = newGRUDirect(l, in, p)
		o.state = make([]float32, hc*o.direct.oplane)
		return o
	}
	ph, pw := o.h+kh-1, o.w+kw-1
	o.xp, o.hp = make([]float32, o.ci*ph*pw), make([]float32, hc*ph*pw)
	o.ih = newConv(&Layer{Type: Conv2D, Weight: l.Weight, Bias: l.Bias}, []int{o.ci, ph, pw}, p)
	o.hh = newConv(&Layer{Type: Conv2D, Weight: l.WeightHH, Bias: l.BiasHH}, []int{hc, ph, pw}, p)
	o.state = make([]float32, hc*o.h*o.w)
	return o
}

// reset sets the state to zero: a session starts with no memory of the last.
func (o *gruOp) reset() { clear(o.state) }

func (o *gruOp) apply(x []float32) []float32 {
	if d := o.direct; d != nil {
		gi, gh := d.convolve(x, o.state)
		gruGates(o.state, gi, gh, len(o.state))
		d.unwiden(o.out, o.state)
		return o.out
	}
	pw, plane := o.w+2*o.px, (o.h+2*o.py)*(o.w+2*o.px)
	padPlanes(o.xp, x, o.ci, o.h, o.w, o.h*o.w, o.w, plane, pw, o.py, o.px)
	padPlanes(o.hp, o.state, o.hc, o.h, o.w, o.h*o.w, o.w, plane, pw, o.py, o.px)
	gi := o.ih.apply(o.xp)
	gh := o.hh.apply(o.hp)
	gruGates(o.state, gi, gh, len(o.state))
	copy(o.out, o.state)
	return o.out
}

// padPlanes copies c planes of h rows of w values from src (planes sstride apart, rows srow
// apart) into the interior of dst's (planes dstride apart, rows dw apart, py rows and px
// columns in); the borders stay as they are (zero).
func padPlanes(dst, src []float32, c, h, w, sstride, srow, dstride, dw, py, px int) {
	for i := 0; i < c; i++ {
		for y := 0; y < h; y++ {
			copy(dst[i*dstride+(y+py)*dw+px:][:w], src[i*sstride+y*srow:][:w])
		}
	}
}

// gruConvBlock is the outputs of a channel one pass of the direct kernel computes (three
// 16-wide registers), gruConvGroup the channels it computes at once.
const (
	gruConvBlock = 48
	gruConvGroup = 8
)

// gruDirect is a conv-GRU's two convolutions computed directly, on "wide" planes: the input
// and the state are padded into one buffer of planes pw = w+2px wide, and output (y, x) is
// computed at y*pw+x of its plane, so that every plane is one run of outputs, oh*pw long
// (the 2px columns at each row's end are garbage, computed and never read back), and every
// tap of the kernel is the same run of inputs shifted by a fixed offset. The state is held
// the same way ([hc][oplane]: gruGates runs on the wide planes, garbage included), and is
// padded back into the buffer, its valid columns only, each step.
type gruDirect struct {
	ci, hc, h, w int
	py, px, pw   int
	plane        int       // a padded plane: (h+2py)*pw
	nblk, oplane int       // blocks of 48 a plane; an output plane's length, nblk*48
	xh           []float32 // [ci+hc][plane], then slack the last blocks read
	conv         [2]gruConv
	part         func(part, parts int) // one core's share of the groups, bound once
	pool         *pool
}

// gruConv is one of the two convolutions: its weights packed for the kernel, the taps' offsets
// in the padded buffer and where its output goes.
type gruConv struct {
	src, groups int       // its first input plane in xh; output channel groups of 8
	w           []float32 // [groups][taps][8], zero for channels past 3*hc
	bias        []float32 // [groups][8]
	offs        []int32   // [taps]: tap (i, ky, kx) reads plane i, ky rows and kx columns on
	out         []float32 // [groups*8][oplane]: the gates' planes, reset, update, new
}

func newGRUDirect(l *Layer, in []int, p *pool) *gruDirect {
	hc, kh, kw := l.Weight.Shape[0]/3, l.Weight.Shape[2], l.Weight.Shape[3]
	d := &gruDirect{ci: in[0], hc: hc, h: in[1], w: in[2], py: kh / 2, px: kw / 2, pool: p}
	d.pw = d.w + kw - 1
	d.plane = (d.h + kh - 1) * d.pw
	d.nblk = (d.h*d.pw + gruConvBlock - 1) / gruConvBlock
	d.oplane = d.nblk * gruConvBlock
	// The last block of the last plane reads up to (kh-1) rows and kw-1 columns past the
	// plane's outputs, rounded up to the block.
	d.xh = make([]float32, (d.ci+hc)*d.plane+d.oplane-d.h*d.pw+(kh-1)*d.pw+kw)
	d.conv[0] = newGRUConvOf(l.Weight, l.Bias, 0, d)
	d.conv[1] = newGRUConvOf(l.WeightHH, l.BiasHH, d.ci, d)
	d.part = d.groupsPart
	return d
}

func newGRUConvOf(wt, bias *Tensor, src int, d *gruDirect) gruConv {
	co, ci, kh, kw := wt.Shape[0], wt.Shape[1], wt.Shape[2], wt.Shape[3]
	taps := ci * kh * kw
	c := gruConv{src: src, groups: (co + gruConvGroup - 1) / gruConvGroup, offs: make([]int32, taps)}
	c.w = make([]float32, c.groups*taps*gruConvGroup)
	c.bias = make([]float32, c.groups*gruConvGroup)
	c.out = make([]float32, c.groups*gruConvGroup*d.oplane)
	for i := 0; i < ci; i++ {
		for ky := 0; ky < kh; ky++ {
			for kx := 0; kx < kw; kx++ {
				k := (i*kh+ky)*kw + kx
				c.offs[k] = int32((src+i)*d.plane + ky*d.pw + kx)
				for o := 0; o < co; o++ {
					c.w[((o/gruConvGroup)*taps+k)*gruConvGroup+o%gruConvGroup] = wt.Data[k+o*taps]
				}
			}
		}
	}
	if bias != nil {
		copy(c.bias, bias.Data)
	}
	return c
}

// convolve pads x ([ci][h][w]) and the state (wide) into the buffer and runs both
// convolutions; it returns their outputs, wide.
func (d *gruDirect) convolve(x, state []float32) (gi, gh []float32) {
	padPlanes(d.xh, x, d.ci, d.h, d.w, d.h*d.w, d.w, d.plane, d.pw, d.py, d.px)
	padPlanes(d.xh[d.ci*d.plane:], state, d.hc, d.h, d.w, d.oplane, d.pw, d.plane, d.pw, d.py, d.px)
	d.pool.run(d.part)
	return d.conv[0].out, d.conv[1].out
}

// groupsPart computes one core's share of the two convolutions' channel groups.
func (d *gruDirect) groupsPart(part, parts int) {
	n := d.conv[0].groups + d.conv[1].groups
	g0, g1 := span(n, part, parts)
	for j := g0; j < g1; j++ {
		c, g := &d.conv[0], j
		if g >= c.groups {
			c, g = &d.conv[1], g-c.groups
		}
		taps := len(c.offs)
		gruConvKernel(c.out[g*gruConvGroup*d.oplane:], d.xh, c.w[g*taps*gruConvGroup:(g+1)*taps*gruConvGroup],
			c.bias[g*gruConvGroup:], c.offs, d.nblk, d.oplane)
	}
}

// unwiden copies the wide state's valid columns to dst ([hc][h][w]).
func (d *gruDirect) unwiden(dst, state []float32) {
	for c := 0; c < d.hc; c++ {
		for y := 0; y < d.h; y++ {
			copy(dst[(c*d.h+y)*d.w:][:d.w], state[c*d.oplane+y*d.pw:][:d.w])
		}
	}
}

// gruConvKernel computes eight output channels of a gruDirect convolution: for each of nblk
// blocks b of 48 outputs j and each channel c, dst[c*oplane + 48b + j] = bias[c] + sum over
// taps k of w[k*8+c] * src[offs[k] + 48b + j]. nil where the CPU has no kernel (the gruOp
// then takes the other layers' convolutions); gruConvGo is the arithmetic, for the tests.
var gruConvKernel func(dst, src, w, bias []float32, offs []int32, nblk, oplane int)

func gruConvGo(dst, src, w, bias []float32, offs []int32, nblk, oplane int) {
	gruConvCheck(dst, src, w, bias, offs, nblk, oplane)
	var acc [gruConvGroup][gruConvBlock]float32
	for b := 0; b < nblk; b++ {
		for c := range acc {
			for j := range acc[c] {
				acc[c][j] = bias[c]
			}
		}
		for k, off := range offs {
			in := src[int(off)+b*gruConvBlock:][:gruConvBlock]
			for c := range acc {
				wk := w[k*gruConvGroup+c]
				for j, v := range in {
					acc[c][j] += wk * v
				}
			}
		}
		for c := range acc {
			copy(dst[c*oplane+b*gruConvBlock:], acc[c][:])
		}
	}
}

// gruConvCheck panics unless every read and write of the kernel is inside the slices.
func gruConvCheck(dst, src, w, bias []float32, offs []int32, nblk, oplane int) {
	reach := 0
	for _, o := range offs {
		if o < 0 {
			reach = len(src) + 1
			break
		}
		reach = max(reach, int(o)+nblk*gruConvBlock)
	}
	if nblk < 1 || len(offs) < 1 || oplane < nblk*gruConvBlock || len(dst) < (gruConvGroup-1)*oplane+nblk*gruConvBlock ||
		len(w) < len(offs)*gruConvGroup || len(bias) < gruConvGroup || reach > len(src) {
		panic(fmt.Sprintf("infer: gruConv: %d blocks, planes %d apart into %d values, %d taps reaching %d of %d inputs, %d weights, %d biases",
			nblk, oplane, len(dst), len(offs), reach, len(src), len(w), len(bias)))
	}
}
