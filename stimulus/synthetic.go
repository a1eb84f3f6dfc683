package stimulus

import (
	"math"

	"retinad/configs"
)

// gray is the blank screen at the mean luminance.
type gray struct{ grid }

func (g *gray) Frame(i int, dst []float32) {
	g.check(i, dst, 0)
	clear(dst)
}

// whiteNoise is the checkerboard of independent checkers.
type whiteNoise struct {
	grid
	seed     uint64
	checker  int
	contrast float64
	gaussian bool
	row      []float32 // one row of checkers, reused
}

func newWhiteNoise(g grid, seed uint64, checker int, contrast float64, gaussian bool) *whiteNoise {
	return &whiteNoise{grid: g, seed: seed, checker: checker, contrast: contrast, gaussian: gaussian,
		row: make([]float32, (g.w+checker-1)/checker)}
}

func (n *whiteNoise) Frame(i int, dst []float32) {
	n.check(i, dst, 0)
	s := stream(n.seed, tagWhiteNoise, uint64(i))
	w := n.w
	for y := 0; y < n.h; y++ {
		out := dst[y*w : (y+1)*w]
		if y%n.checker != 0 {
			copy(out, dst[(y-1)*w:y*w])
			continue
		}
		for j := range n.row {
			if n.gaussian {
				n.row[j] = clip(n.contrast * s.normal())
			} else {
				n.row[j] = clip(n.contrast * s.sign())
			}
		}
		for x := range out {
			out[x] = n.row[x/n.checker]
		}
	}
}

// flicker is full-field white noise.
type flicker struct {
	grid
	seed     uint64
	contrast float64
	gaussian bool
}

func (f *flicker) Frame(i int, dst []float32) {
	f.check(i, dst, 0)
	s := stream(f.seed, tagFlicker, uint64(i))
	var v float32
	if f.gaussian {
		v = clip(f.contrast * s.normal())
	} else {
		v = clip(f.contrast * s.sign())
	}
	for k := range dst {
		dst[k] = v
	}
}

// flash is a full-field step: on frames at +contrast, then off frames at 0.
type flash struct {
	grid
	on, off  int
	contrast float32
}

func (f *flash) Frame(i int, dst []float32) {
	f.check(i, dst, 0)
	var v float32
	if i%(f.on+f.off) < f.on {
		v = clip(float64(f.contrast))
	}
	for k := range dst {
		dst[k] = v
	}
}

// grating is a drifting sinusoidal grating.
type grating struct {
	grid
	contrast float64
	cycles   float64   // temporal cycles per frame: speed / frame rate
	space    []float64 // spatial phase of each pixel, in cycles
}

func newGrating(g grid, c configs.Grating, frameRate float64) *grating {
	a := c.Orientation * math.Pi / 180
	cos, sin := math.Cos(a), math.Sin(a)
	space := make([]float64, g.h*g.w)
	for y := 0; y < g.h; y++ {
		for x := 0; x < g.w; x++ {
			space[y*g.w+x] = (float64(x)*cos - float64(y)*sin) / c.Period
		}
	}
	return &grating{grid: g, contrast: c.Contrast, cycles: float64(c.Speed) / frameRate, space: space}
}

func (g *grating) Frame(i int, dst []float32) {
	g.check(i, dst, 0)
	t := g.cycles * float64(i)
	for k, s := range g.space {
		dst[k] = clip(g.contrast * math.Sin(2*math.Pi*(s-t)))
	}
}
