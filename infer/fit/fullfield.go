package fit

import "retinad/infer/dataset"

// fullField returns d viewed as a 1x1 stimulus (each frame's single value) if every frame of
// d is uniform (full-field flicker shown on a grid), and ok; otherwise d and false. A model
// fitted to the view is spread back over the grid by spread.
func fullField(d *dataset.Dataset) (*dataset.Dataset, bool) {
	p := d.Pixels()
	if p == 1 {
		return d, false
	}
	for t := 0; t < d.T; t++ {
		f := d.Frame(t)
		for _, v := range f[1:] {
			if v != f[0] {
				return d, false
			}
		}
	}
	v := *d
	v.H, v.W = 1, 1
	v.Stimulus = make([]float32, d.T)
	for t := range v.Stimulus {
		v.Stimulus[t] = d.Stimulus[t*p]
	}
	return &v, true
}

// spread turns a full-field filter [N] into one on a p-pixel grid [N*p] that gives the same
// drive on uniform frames: each pixel weighs f[k]/p.
func spread(f []float64, p int) []float64 {
	out := make([]float64, len(f)*p)
	for k, v := range f {
		for i := 0; i < p; i++ {
			out[k*p+i] = v / float64(p)
		}
	}
	return out
}

// spreadTo turns a model fitted to the 1x1 view of a full-field dataset into one on the
// h x w grid it was shown on.
func (m *LN) spreadTo(h, w int) {
	m.H, m.W, m.FullField = h, w, true
	for i := range m.Cells {
		c := &m.Cells[i]
		c.Filter, c.STA = spread(c.Filter, h*w), spread(c.STA, h*w)
		for r := range c.Spatial {
			c.Spatial[r] = spread(c.Spatial[r], h*w)
		}
	}
}

func (m *GLM) spreadTo(h, w int) {
	m.H, m.W, m.FullField = h, w, true
	for i := range m.Cells {
		c := &m.Cells[i]
		c.Filter = spread(c.Filter, h*w)
		for r := range c.Spatial {
			c.Spatial[r] = spread(c.Spatial[r], h*w)
		}
	}
}
