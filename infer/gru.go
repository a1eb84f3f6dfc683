package infer

import "math"

// gruOp is the streaming form of a convgru layer (see Reference.convGRU for the update): its
// state h lives in the op, sized when the engine is built, carried from one Step to the next
// and cleared by Stream.Reset. Step runs it on the caller's goroutine (it is small next to
// the first convolution: a few channels at the second layer's size).
type gruOp struct {
	ci, hc, h, w int
	kh, kw       int
	wi, wh       []float32 // [3*hc][ci][kh][kw], [3*hc][hc][kh][kw]
	bi, bh       []float32 // [3*hc], zero when the file has none
	state        []float32 // h: [hc][h][w]
	gi, gh       []float32 // the gates' convolutions of x and of h: [3*hc][h][w]
	out          []float32 // a copy of the new state, which later layers may change in place
}

func newGRUOp(l *Layer, in []int) *gruOp {
	hc := l.Weight.Shape[0] / 3
	n := hc * in[1] * in[2]
	o := &gruOp{
		ci: in[0], hc: hc, h: in[1], w: in[2], kh: l.Weight.Shape[2], kw: l.Weight.Shape[3],
		wi: l.Weight.Data, wh: l.WeightHH.Data, bi: make([]float32, 3*hc), bh: make([]float32, 3*hc),
		state: make([]float32, n), gi: make([]float32, 3*n), gh: make([]float32, 3*n), out: make([]float32, n),
	}
	if l.Bias != nil {
		copy(o.bi, l.Bias.Data)
	}
	if l.BiasHH != nil {
		copy(o.bh, l.BiasHH.Data)
	}
	return o
}

// reset sets the state to zero: a session starts with no memory of the last.
func (o *gruOp) reset() { clear(o.state) }

func (o *gruOp) apply(x []float32) []float32 {
	o.conv(o.gi, x, o.ci, o.wi, o.bi)
	o.conv(o.gh, o.state, o.hc, o.wh, o.bh)
	n := len(o.state)
	for p, h := range o.state {
		r := sigmoid32(o.gi[p] + o.gh[p])
		z := sigmoid32(o.gi[n+p] + o.gh[n+p])
		c := float32(math.Tanh(float64(o.gi[2*n+p] + r*o.gh[2*n+p])))
		o.state[p] = (1-z)*c + z*h
	}
	copy(o.out, o.state)
	return o.out
}

func sigmoid32(v float32) float32 { return float32(1 / (1 + math.Exp(-float64(v)))) }

// conv writes the same-padded cross-correlation of x [ci][h][w] with w [co][ci][kh][kw] plus
// bias to dst [co][h][w]. The loops run over kernel taps outside and output rows inside, so
// the innermost loop is a contiguous scaled add over the part of a row the tap reaches.
func (o *gruOp) conv(dst, x []float32, ci int, w, bias []float32) {
	H, W, kh, kw := o.h, o.w, o.kh, o.kw
	py, px := kh/2, kw/2
	plane := H * W
	for c, b := range bias {
		d := dst[c*plane : (c+1)*plane]
		for i := range d {
			d[i] = b
		}
		for i := 0; i < ci; i++ {
			src := x[i*plane : (i+1)*plane]
			for ky := 0; ky < kh; ky++ {
				dy := ky - py
				y0, y1 := max(0, -dy), min(H, H-dy)
				for kx := 0; kx < kw; kx++ {
					wt := w[((c*ci+i)*kh+ky)*kw+kx]
					dx := kx - px
					x0, x1 := max(0, -dx), min(W, W-dx)
					for y := y0; y < y1; y++ {
						drow := d[y*W+x0 : y*W+x1]
						srow := src[(y+dy)*W+x0+dx : (y+dy)*W+x1+dx]
						for j := range drow {
							drow[j] += wt * srow[j]
						}
					}
				}
			}
		}
	}
}
