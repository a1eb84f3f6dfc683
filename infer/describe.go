package infer

import (
	"fmt"
	"strings"
)

// Describe returns a few lines on m: kind, input, cells, layers with their output shapes,
// parameter count.
func Describe(m *Model) string {
	var b strings.Builder
	in := m.Input
	fmt.Fprintf(&b, "kind: %s", m.Kind)
	if m.Name != "" {
		fmt.Fprintf(&b, " (%s)", m.Name)
	}
	fmt.Fprintf(&b, "\ninput: %d frames x %d x %d at %g Hz (%.4g s of history), normalised (frame - %g) / %g\n",
		in.History, in.Height, in.Width, in.FrameRate, float64(in.History)/in.FrameRate, in.Mean, in.Std)
	fmt.Fprintf(&b, "cells: %d %v\n", len(m.Cells), m.Cells)
	fmt.Fprintf(&b, "output: last layer x %g = spikes/s\n", m.OutputScale)
	shapes, _ := m.shapes()
	for i, l := range m.Layers {
		fmt.Fprintf(&b, "  %2d %-9s", i, l.Type)
		switch l.Type {
		case Conv2D, Dense:
			fmt.Fprintf(&b, " weight %v bias %v", l.Weight.Shape, l.Bias != nil)
		case ConvGRU:
			fmt.Fprintf(&b, " input kernels %v, state kernels %v (recurrent: state carried across steps)", l.Weight.Shape, l.WeightHH.Shape)
		case BatchNorm:
			per := "unit"
			if l.PerChannel {
				per = "channel"
			}
			fmt.Fprintf(&b, " per %s, %d values, eps %g", per, len(l.RunningMean.Data), l.Eps)
		case Noise:
			fmt.Fprintf(&b, " std %g (stochastic mode only)", l.Std)
		case Softplus, Exp, Sigmoid:
			if l.Gain != nil || l.Slope != nil || l.Offset != nil {
				b.WriteString(" gain*f(slope*x+offset)")
			}
		}
		fmt.Fprintf(&b, " -> %v\n", shapes[i])
	}
	if g := m.GLM; g != nil {
		fmt.Fprintf(&b, "  glm: stimulus filter %v, bias, exp", g.StimulusFilter.Shape)
		if g.HistoryFilter != nil {
			fmt.Fprintf(&b, ", spike history %v", g.HistoryFilter.Shape)
		}
		if g.CouplingFilter != nil {
			fmt.Fprintf(&b, ", coupling %v", g.CouplingFilter.Shape)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "parameters: %d\n", m.NumParams())
	return b.String()
}

// FLOPs is the floating-point operations (a multiply-add counts 2) of one output computed
// directly from the whole window, as a general runtime does it.
func (m *Model) FLOPs() int64 {
	shapes, err := m.shapes()
	if err != nil {
		return 0
	}
	in := m.Input
	if m.Kind == GLM {
		nc, d := int64(len(m.Cells)), int64(in.History*in.Height*in.Width)
		f := 2*nc*d + 2*nc
		if h := m.GLM.HistoryFilter; h != nil {
			f += 2 * int64(len(h.Data))
		}
		if c := m.GLM.CouplingFilter; c != nil {
			f += 2 * int64(len(c.Data))
		}
		return f
	}
	var f int64
	for i, l := range m.Layers {
		out := int64(numel(shapes[i]))
		switch l.Type {
		case Conv2D:
			w := l.Weight.Shape
			f += 2 * out * int64(w[1]*w[2]*w[3])
		case Dense:
			f += 2 * int64(len(l.Weight.Data))
		case ConvGRU:
			f += 2*int64(len(l.Weight.Data)+len(l.WeightHH.Data))*int64(shapes[i][1]*shapes[i][2]) + 12*out
		case BatchNorm:
			f += 2 * out
		default:
			f += out
		}
	}
	return f
}

// FLOPs is the floating-point operations of one Step of this engine (FFTs counted by their
// butterflies, a complex multiply-add as 8).
func (s *Stream) FLOPs() int64 {
	var f int64
	in := s.m.Input
	switch r := s.first.(type) {
	case *convRing:
		f += r.sp.flops(r.sp.h, r.oh)*int64(r.co) + r.sp.forwardFlops()
		f += r.sumFLOPs()
	case *denseRing:
		f += 2 * int64(r.out*r.hist*r.hw)
	}
	f += int64(2 * in.Height * in.Width) // normalisation
	for _, o := range s.tail {
		f += s.opFLOPs(o)
	}
	if s.glm != nil {
		f += 2 * int64(s.glm.L*s.glm.nc*(s.glm.nc+1))
	}
	return f
}

// opFLOPs is the arithmetic of one apply of a layer after the first.
func (s *Stream) opFLOPs(o op) int64 {
	switch o := o.(type) {
	case *convOp:
		return int64(o.ci)*o.sps[0].forwardFlops() + int64(o.co)*o.sps[0].flops(o.h, o.oh) + 8*int64(o.co*o.ci*o.mac.n)
	case *directConvOp:
		return 2 * int64(o.co*o.ci*o.oh*o.ow*o.kh*o.kw)
	case *denseOp:
		return 2 * int64(o.in*len(o.out))
	case *affineOp:
		if o.relu {
			return 3 * int64(len(o.scale))
		}
		return 2 * int64(len(o.scale))
	case *nonlinOp:
		return 4 * int64(len(o.gain))
	case *gruOp:
		if d := o.direct; d != nil { // the sums of the valid outputs, not the garbage columns
			return 2*int64(3*o.hc*(len(d.conv[0].offs)+len(d.conv[1].offs))*o.h*o.w) + 12*int64(len(o.out))
		}
		return s.opFLOPs(o.ih) + s.opFLOPs(o.hh) + 12*int64(len(o.state))
	}
	return int64(len(s.x0))
}

// opBytes is the weights and state one apply of a layer after the first reads.
func opBytes(o op) int64 {
	switch o := o.(type) {
	case *convOp:
		return 4 * int64(len(o.mac.w))
	case *directConvOp:
		return 4 * int64(len(o.wt))
	case *denseOp:
		return 4 * int64(len(o.w))
	case *affineOp:
		return 8 * int64(len(o.scale))
	case *nonlinOp:
		return 12 * int64(len(o.gain))
	case *gruOp:
		if d := o.direct; d != nil {
			return 4 * int64(len(d.conv[0].w)+len(d.conv[1].w)+len(o.state))
		}
		return opBytes(o.ih) + opBytes(o.hh) + 4*int64(len(o.state))
	}
	return 0
}

// flops of one 1-D transform of the plan.
func (pl *fftPlan) flops() int64 {
	var f int64
	for _, st := range pl.stages {
		switch st.p {
		case 2:
			f += 5 * int64(pl.n) // per pair: one complex multiply (6) and two adds (4)
		case 4:
			f += 34 * int64(pl.n) / 4 // 3 complex multiplies and 8 adds per 4
		case 3:
			f += 28 * int64(pl.n) / 3
		case 5:
			f += 72 * int64(pl.n) / 5
		default:
			f += int64(pl.n) * int64(8*st.p+6)
		}
	}
	return f
}

func (sp *spectral) forwardFlops() int64 {
	return int64((sp.h+1)/2)*sp.row.flops() + int64(sp.hf)*sp.col.flops()
}

// flops of an inverse giving oh rows.
func (sp *spectral) flops(h, oh int) int64 {
	return int64(sp.hf)*sp.col.flops() + int64((oh+1)/2)*sp.row.flops()
}

// BytesPerStep is the bytes of weights and state one Step reads at most: what has to come
// from cache, or from memory when it does not fit, every step (inputs and outputs of a layer
// that stay in the first-level cache are not counted). A dense layer after a ReLU reads only
// the weights of its nonzero inputs, about half of its count.
func (s *Stream) BytesPerStep() int64 {
	var b int64
	switch r := s.first.(type) {
	case *convRing:
		b += r.bytesPerStep()
	case *denseRing:
		b += 4 * int64(len(r.w)+r.out*r.hist)
	}
	for _, o := range s.tail {
		b += opBytes(o)
	}
	if s.glm != nil {
		b += 4 * int64(len(s.glm.coupling)+len(s.glm.own)+len(s.glm.hist))
	}
	return b
}
