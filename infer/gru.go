package infer

// gruOp is the streaming form of a convgru layer (see Reference.convGRU for the update): its
// state h lives in the op, sized when the engine is built, carried from one Step to the next
// and cleared by Stream.Reset. Its two convolutions (of the input and of the state, all three
// gates at once) are the valid convolutions of the other layers (newConv: direct or through
// the frequency domain, split across the pool's cores) run on copies of x and h zero-padded
// by kh/2 and kw/2, which is the same-padded convolution on the unpadded planes.
type gruOp struct {
	ci, hc, h, w int
	py, px       int       // padding: kh/2, kw/2
	xp, hp       []float32 // x and h padded: [ci or hc][h+2py][w+2px], borders zero
	ih, hh       op        // the gates' convolutions of xp and hp: [3*hc][h][w]
	state        []float32 // h: [hc][h][w]
	out          []float32 // a copy of the new state, which later layers may change in place
}

func newGRUOp(l *Layer, in []int, p *pool) *gruOp {
	hc, kh, kw := l.Weight.Shape[0]/3, l.Weight.Shape[2], l.Weight.Shape[3]
	o := &gruOp{ci: in[0], hc: hc, h: in[1], w: in[2], py: kh / 2, px: kw / 2}
	ph, pw := o.h+kh-1, o.w+kw-1
	o.xp, o.hp = make([]float32, o.ci*ph*pw), make([]float32, hc*ph*pw)
	o.ih = newConv(&Layer{Type: Conv2D, Weight: l.Weight, Bias: l.Bias}, []int{o.ci, ph, pw}, p)
	o.hh = newConv(&Layer{Type: Conv2D, Weight: l.WeightHH, Bias: l.BiasHH}, []int{hc, ph, pw}, p)
	o.state, o.out = make([]float32, hc*o.h*o.w), make([]float32, hc*o.h*o.w)
	return o
}

// reset sets the state to zero: a session starts with no memory of the last.
func (o *gruOp) reset() { clear(o.state) }

func (o *gruOp) apply(x []float32) []float32 {
	o.pad(o.xp, x, o.ci)
	o.pad(o.hp, o.state, o.hc)
	gi := o.ih.apply(o.xp)
	gh := o.hh.apply(o.hp)
	gruGates(o.state, gi, gh, len(o.state))
	copy(o.out, o.state)
	return o.out
}

// pad copies src [c][h][w] into the interior of dst [c][h+2py][w+2px]; the borders stay zero.
func (o *gruOp) pad(dst, src []float32, c int) {
	pw := o.w + 2*o.px
	ph := o.h + 2*o.py
	for i := 0; i < c; i++ {
		for y := 0; y < o.h; y++ {
			copy(dst[(i*ph+y+o.py)*pw+o.px:], src[(i*o.h+y)*o.w:(i*o.h+y+1)*o.w])
		}
	}
}
