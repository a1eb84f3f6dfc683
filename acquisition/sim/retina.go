package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Cell is one model ganglion cell.
type Cell struct {
	ID   int64
	X, Y float64 // centre of the receptive field, stimulus pixels from the top-left corner
	On   bool    // ON cell (excited by light increments) or OFF cell
}

// Polarity is "ON" or "OFF".
func (c Cell) Polarity() string {
	if c.On {
		return "ON"
	}
	return "OFF"
}

// tap is one weight of a ganglion or amacrine pool on one subunit.
type tap struct {
	i int32
	w float32
}

// Retina is the noise-free part of the virtual retina: frames in, firing rates out.
// Build it with New; call Step once per frame from one goroutine.
type Retina struct {
	p     Params
	h, w  int
	cells []Cell

	// Subunit mosaic (sh x sw) and the spatial filter: separable centre and surround kernels.
	sh, sw     int
	subX, subY []int // pixel coordinates of the subunit columns and rows
	kc, ks     []float32
	hc, hs     []float32 // horizontal pass, [h*sw]

	// Temporal state per subunit: two cascades of first-order stages, [Stages*ns] each.
	fast, slow []float32
	aFast      float32
	aSlow      float32
	energy     []float32 // running mean of the squared filtered signal, per subunit
	aGain      float32
	x          []float32 // normalised subunit signal of the current frame, [ns]

	// Per cell: excitatory and amacrine pools, amacrine delay state.
	exc, ama []([]tap)
	am1, am2 []float64
	aAma     float64
	// Per cell: running mean and variance of the drive (the ganglion cell's own adaptation).
	dMean, dVar []float64
	aCell       float64
}

// New builds a retina of the given number of cells on an h x w stimulus grid. The cell mosaic
// (positions, ON/OFF types) is drawn from seed; the same seed gives the same retina.
func New(p Params, h, w, cells int, seed uint64) (*Retina, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	if h < 1 || w < 1 {
		return nil, fmt.Errorf("sim: stimulus grid %dx%d, want at least 1x1", h, w)
	}
	if cells < 1 {
		return nil, fmt.Errorf("sim: %d cells, want at least 1", cells)
	}
	r := &Retina{p: p, h: h, w: w}
	r.cells = mosaic(h, w, cells, p.Jitter, seed)

	sp := p.SubunitSpacing
	r.sh, r.sw = (h+sp-1)/sp, (w+sp-1)/sp
	for j := 0; j < r.sw; j++ {
		r.subX = append(r.subX, min(j*sp+sp/2, w-1))
	}
	for i := 0; i < r.sh; i++ {
		r.subY = append(r.subY, min(i*sp+sp/2, h-1))
	}
	r.kc = gaussKernel(p.CenterSigma)
	r.ks = gaussKernel(p.SurroundSigma)
	r.hc = make([]float32, h*r.sw)
	r.hs = make([]float32, h*r.sw)

	ns := r.sh * r.sw
	dt := 1 / p.FrameRate
	r.fast = make([]float32, p.Stages*ns)
	r.slow = make([]float32, p.Stages*ns)
	r.aFast = float32(1 - math.Exp(-dt/p.TauFast))
	r.aSlow = float32(1 - math.Exp(-dt/p.TauSlow))
	r.energy = make([]float32, ns)
	r.aGain = float32(1 - math.Exp(-dt/p.GainTau))
	r.x = make([]float32, ns)
	r.aAma = 1 - math.Exp(-dt/p.AmacrineTau)

	for _, c := range r.cells {
		r.exc = append(r.exc, r.pool(c, p.RFSigma))
		r.ama = append(r.ama, r.pool(c, p.AmacrineSigma))
	}
	r.am1 = make([]float64, cells)
	r.am2 = make([]float64, cells)
	r.dMean = make([]float64, cells)
	r.dVar = make([]float64, cells)
	r.aCell = 1 - math.Exp(-dt/p.CellGainTau)
	r.Reset()
	return r, nil
}

// mosaic places cells on a jittered lattice covering the grid, ON and OFF in a checkerboard
// so that each type tiles the whole grid.
func mosaic(h, w, n int, jitter float64, seed uint64) []Cell {
	rng := rand.New(rand.NewPCG(seed, 0x7265_7469_6e61))
	cols := int(math.Ceil(math.Sqrt(float64(n) * float64(w) / float64(h))))
	rows := (n + cols - 1) / cols
	sx, sy := float64(w)/float64(cols), float64(h)/float64(rows)
	cells := make([]Cell, 0, n)
	for k := 0; k < n; k++ {
		i, j := k/cols, k%cols
		x := (float64(j)+0.5)*sx + (2*rng.Float64()-1)*jitter*sx
		y := (float64(i)+0.5)*sy + (2*rng.Float64()-1)*jitter*sy
		cells = append(cells, Cell{ID: int64(k), X: x, Y: y, On: (i+j)%2 == 0})
	}
	return cells
}

// gaussKernel is a sampled, normalised Gaussian of s.d. sigma pixels, radius 3 sigma.
func gaussKernel(sigma float64) []float32 {
	rad := int(math.Ceil(3 * sigma))
	k := make([]float32, 2*rad+1)
	var sum float64
	for i := range k {
		d := float64(i - rad)
		sum += math.Exp(-d * d / (2 * sigma * sigma))
	}
	for i := range k {
		d := float64(i - rad)
		k[i] = float32(math.Exp(-d*d/(2*sigma*sigma)) / sum)
	}
	return k
}

// pool is the normalised Gaussian weighting (s.d. sigma pixels) of the subunits around cell c.
func (r *Retina) pool(c Cell, sigma float64) []tap {
	var taps []tap
	var sum float64
	for i, y := range r.subY {
		for j, x := range r.subX {
			dx, dy := float64(x)-c.X, float64(y)-c.Y
			d2 := dx*dx + dy*dy
			if d2 > 9*sigma*sigma {
				continue
			}
			wt := math.Exp(-d2 / (2 * sigma * sigma))
			sum += wt
			taps = append(taps, tap{int32(i*r.sw + j), float32(wt)})
		}
	}
	if len(taps) == 0 { // a field narrower than the subunit spacing: the nearest subunit
		i := min(max(int(c.Y)/r.p.SubunitSpacing, 0), r.sh-1)
		j := min(max(int(c.X)/r.p.SubunitSpacing, 0), r.sw-1)
		return []tap{{int32(i*r.sw + j), 1}}
	}
	for k := range taps {
		taps[k].w = float32(float64(taps[k].w) / sum)
	}
	return taps
}

// Cells returns the cells in the order of every rate and count slice (the caller must not
// modify it).
func (r *Retina) Cells() []Cell { return r.cells }

// Size is the stimulus grid, pixels.
func (r *Retina) Size() (h, w int) { return r.h, r.w }

// Params returns the parameters the retina was built with.
func (r *Retina) Params() Params { return r.p }

// Reset returns the retina to its state before the first frame (dark-adapted to the mean
// luminance, with the contrast gain set for GainSemi), so that a stimulus can be repeated.
func (r *Retina) Reset() {
	clear(r.fast)
	clear(r.slow)
	for i := range r.energy {
		r.energy[i] = float32(r.p.GainSemi * r.p.GainSemi)
	}
	clear(r.am1)
	clear(r.am2)
	clear(r.dMean)
	for c := range r.dVar {
		r.dVar[c] = r.p.CellGainSemi * r.p.CellGainSemi
	}
}

// Step advances the retina by one frame and writes each cell's noise-free firing rate
// (spikes/s) for that bin to rate. frame is h*w contrast values, row-major; rate has one entry
// per cell. It allocates nothing; it panics if a slice has the wrong length.
func (r *Retina) Step(frame []float32, rate []float64) {
	if len(frame) != r.h*r.w || len(rate) != len(r.cells) {
		panic("sim: Step: frame or rate of the wrong length")
	}
	r.spatial(frame)
	r.temporal()
	p := &r.p
	th := float32(p.Threshold)
	for c := range r.cells {
		var e, a float32
		if r.cells[c].On {
			for _, t := range r.exc[c] {
				e += t.w * max(r.x[t.i]-th, 0)
			}
			for _, t := range r.ama[c] {
				a += t.w * max(-r.x[t.i]-th, 0)
			}
		} else {
			for _, t := range r.exc[c] {
				e += t.w * max(-r.x[t.i]-th, 0)
			}
			for _, t := range r.ama[c] {
				a += t.w * max(r.x[t.i]-th, 0)
			}
		}
		// Delayed inhibition: the amacrine signal of this frame reaches the cell through a
		// two-stage low-pass, so it is the earlier frames' that act now.
		drive := float64(e) - p.AmacrineWeight*r.am2[c]
		r.am1[c] += r.aAma * (float64(a) - r.am1[c])
		r.am2[c] += r.aAma * (r.am1[c] - r.am2[c])
		// The ganglion cell's own contrast adaptation: the drive relative to its running mean,
		// in units of its running standard deviation.
		dev := drive - r.dMean[c]
		r.dMean[c] += r.aCell * dev
		r.dVar[c] += r.aCell * (dev*dev - r.dVar[c])
		g := dev / (p.CellGainSemi + math.Sqrt(r.dVar[c]))
		rate[c] = min(p.RateScale*softplus(p.Slope*(g-p.Offset))/p.Slope, p.MaxRate)
	}
}

func softplus(x float64) float64 {
	if x > 30 {
		return x
	}
	return math.Log1p(math.Exp(x))
}

// spatial filters the frame with the subunits' centre and surround, leaving the result
// (centre - SurroundWeight*surround, at each subunit) in r.x.
func (r *Retina) spatial(frame []float32) {
	h, w, sw := r.h, r.w, r.sw
	hpass := func(k []float32, out []float32) {
		rad := len(k) / 2
		for y := 0; y < h; y++ {
			row := frame[y*w : (y+1)*w]
			o := out[y*sw : (y+1)*sw]
			for j, x := range r.subX {
				lo, hi := max(x-rad, 0), min(x+rad+1, w)
				kk := k[lo-(x-rad) : hi-(x-rad)]
				var s float32
				for i, v := range row[lo:hi] {
					s += kk[i] * v
				}
				o[j] = s
			}
		}
	}
	hpass(r.kc, r.hc)
	hpass(r.ks, r.hs)
	radC, radS := len(r.kc)/2, len(r.ks)/2
	sWeight := float32(r.p.SurroundWeight)
	for i, y := range r.subY {
		o := r.x[i*sw : (i+1)*sw]
		clear(o)
		lo, hi := max(y-radC, 0), min(y+radC+1, h)
		for yy := lo; yy < hi; yy++ {
			kv := r.kc[yy-(y-radC)]
			src := r.hc[yy*sw : (yy+1)*sw]
			for j := range o {
				o[j] += kv * src[j]
			}
		}
		lo, hi = max(y-radS, 0), min(y+radS+1, h)
		for yy := lo; yy < hi; yy++ {
			kv := sWeight * r.ks[yy-(y-radS)]
			src := r.hs[yy*sw : (yy+1)*sw]
			for j := range o {
				o[j] -= kv * src[j]
			}
		}
	}
}

// temporal runs each subunit's spatial signal in r.x through the biphasic filter and the
// contrast gain control, leaving the normalised signal in r.x.
func (r *Retina) temporal() {
	st := r.p.Stages
	af, as, ag := r.aFast, r.aSlow, r.aGain
	bi, semi := float32(r.p.Biphasic), float32(r.p.GainSemi)
	for i, in := range r.x {
		f := r.fast[i*st : (i+1)*st]
		sl := r.slow[i*st : (i+1)*st]
		fin, sin := in, in
		for k := range f {
			f[k] += af * (fin - f[k])
			fin = f[k]
			sl[k] += as * (sin - sl[k])
			sin = sl[k]
		}
		y := fin - bi*sin
		e := r.energy[i] + ag*(y*y-r.energy[i])
		r.energy[i] = e
		r.x[i] = y / (semi + float32(math.Sqrt(float64(e))))
	}
}
