package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Frames writes frame i (h*w contrast values, row-major) to dst. Frames built here are pure
// functions of i: any frame can be drawn in any order, and drawing allocates nothing.
//
// The functions here are the virtual retina's own test stimuli (its tests and benchmarks do not
// depend on package stimulus); a stimulus.Source's Frame method is a Frames too, and is what
// `retinad simulate` uses.
type Frames func(i int, dst []float32)

// WhiteNoise is binary checkerboard noise: each checker (side checker pixels) independently
// ±contrast on every frame.
func WhiteNoise(h, w, checker int, contrast float64, seed uint64) Frames {
	cw := (w + checker - 1) / checker
	return func(i int, dst []float32) {
		var pcg rand.PCG
		pcg.Seed(seed, uint64(i))
		var bits uint64
		for y := 0; y < h; y++ {
			if y%checker == 0 {
				for j := 0; j < cw; j++ {
					if j%64 == 0 {
						bits = pcg.Uint64()
					}
					v := float32(contrast)
					if bits&(1<<(j%64)) == 0 {
						v = -v
					}
					for x := j * checker; x < min((j+1)*checker, w); x++ {
						dst[y*w+x] = v
					}
				}
			} else {
				copy(dst[y*w:(y+1)*w], dst[(y-1)*w:y*w])
			}
		}
	}
}

// Flicker is full-field Gaussian noise of standard deviation contrast, clipped to ±1.
func Flicker(h, w int, contrast float64, seed uint64) Frames {
	return func(i int, dst []float32) {
		var pcg rand.PCG
		pcg.Seed(seed, uint64(i))
		v := float32(max(-1, min(1, contrast*normal(&pcg))))
		for k := range dst[:h*w] {
			dst[k] = v
		}
	}
}

// ContrastSteps is full-field Gaussian flicker whose contrast alternates between low and
// high every period frames, starting low: the classic contrast-adaptation stimulus.
func ContrastSteps(h, w int, low, high float64, period int, seed uint64) Frames {
	return func(i int, dst []float32) {
		c := low
		if (i/period)%2 == 1 {
			c = high
		}
		Flicker(h, w, c, seed)(i, dst)
	}
}

// normal is a standard normal deviate (Box-Muller) from pcg.
func normal(pcg *rand.PCG) float64 {
	u1 := (float64(pcg.Uint64()>>11) + 0.5) / (1 << 53)
	u2 := float64(pcg.Uint64()>>11) / (1 << 53)
	return math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
}

// Natural is a natural-scene stand-in after the paper's stimulus: images held for hold frames
// each, seen through an h x w window that follows a random walk (fixational eye movements,
// step s.d. jitter pixels per frame). The images are synthetic "dead leaves" scenes
// (occluding disks with power-law sizes: the 1/f spectrum, sharp edges and large uniform
// regions of natural images), images of them drawn from seed, contrast within ±1.
func Natural(h, w, hold int, jitter float64, images int, seed uint64) (Frames, error) {
	if hold < 1 || images < 1 || jitter < 0 {
		return nil, fmt.Errorf("sim: natural: hold %d frames, %d images, jitter %g: want hold >= 1, images >= 1, jitter >= 0", hold, images, jitter)
	}
	side := 2 * max(h, w)
	imgs := make([][]float32, images)
	for k := range imgs {
		imgs[k] = deadLeaves(side, seed+uint64(k)*7919)
	}
	return func(i int, dst []float32) {
		block := i / hold
		var pcg rand.PCG
		pcg.Seed(seed^0x6e6174, uint64(block))
		img := imgs[pcg.Uint64()%uint64(images)]
		// Start of the walk: anywhere the window fits, then the walk up to frame i,
		// reflected at the image's border.
		span := float64(side - max(h, w))
		x := float64(pcg.Uint64()>>11) / (1 << 53) * span
		y := float64(pcg.Uint64()>>11) / (1 << 53) * span
		for s := block * hold; s < i; s++ {
			x = reflect(x+jitter*normal(&pcg), span)
			y = reflect(y+jitter*normal(&pcg), span)
		}
		x0, y0 := int(math.Round(x)), int(math.Round(y))
		for r := 0; r < h; r++ {
			copy(dst[r*w:(r+1)*w], img[(y0+r)*side+x0:(y0+r)*side+x0+w])
		}
	}, nil
}

func reflect(v, span float64) float64 {
	for v < 0 || v > span {
		if v < 0 {
			v = -v
		}
		if v > span {
			v = 2*span - v
		}
	}
	return v
}

// deadLeaves draws a side x side dead-leaves image: disks of uniform random luminance with
// radii distributed as 1/r³ between 1 and side/2 pixels, painted back to front until covered.
// Values are contrast in [-1, 1].
func deadLeaves(side int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 0x6c6561766573))
	img := make([]float32, side*side)
	set := make([]bool, side*side)
	left := side * side
	rmin, rmax := 1.0, float64(side)/2
	for n := 0; left > 0 && n < 100000; n++ {
		// Front to back: a pixel keeps the first disk that covers it.
		u := rng.Float64()
		rad := rmin / math.Sqrt(1-u*(1-(rmin*rmin)/(rmax*rmax)))
		cx, cy := rng.Float64()*float64(side), rng.Float64()*float64(side)
		v := float32(2*rng.Float64() - 1)
		for y := max(0, int(cy-rad)); y < min(side, int(cy+rad)+1); y++ {
			for x := max(0, int(cx-rad)); x < min(side, int(cx+rad)+1); x++ {
				dx, dy := float64(x)-cx, float64(y)-cy
				if dx*dx+dy*dy <= rad*rad && !set[y*side+x] {
					set[y*side+x] = true
					img[y*side+x] = v
					left--
				}
			}
		}
	}
	return img
}

// GaussianNoise is checkerboard noise with each checker an independent Gaussian of standard
// deviation contrast on every frame, clipped to ±1.
func GaussianNoise(h, w, checker int, contrast float64, seed uint64) Frames {
	return func(i int, dst []float32) {
		var pcg rand.PCG
		pcg.Seed(seed, uint64(i))
		for y := 0; y < h; y += checker {
			for x := 0; x < w; x += checker {
				v := float32(max(-1, min(1, contrast*normal(&pcg))))
				for yy := y; yy < min(y+checker, h); yy++ {
					for xx := x; xx < min(x+checker, w); xx++ {
						dst[yy*w+xx] = v
					}
				}
			}
		}
	}
}
