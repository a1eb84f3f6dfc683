package stimulus

import (
	"fmt"

	"retinad/configs"
	"retinad/infer/dataset"
)

// movie plays frames read from a file.
type movie struct {
	grid
	frames []float32 // T*h*w
	t      int
	loop   bool
}

func newMovie(g grid, c configs.Movie) (*movie, error) {
	frames, shape, err := readMovie(c)
	if err != nil {
		return nil, err
	}
	if len(shape) != 3 || shape[0] < 1 {
		return nil, fmt.Errorf("stimulus: movie %s: shape %v: want [T,H,W] with T >= 1", c.File, shape)
	}
	if shape[1] != g.h || shape[2] != g.w {
		return nil, fmt.Errorf("stimulus: movie %s: frames are %dx%d, the stimulus grid is %dx%d (stimulus.height x stimulus.width)", c.File, shape[1], shape[2], g.h, g.w)
	}
	for k, v := range frames {
		if v != v || v > 1e30 || v < -1e30 {
			return nil, fmt.Errorf("stimulus: movie %s: frame %d pixel %d is %v: want a finite contrast", c.File, k/(g.h*g.w), k%(g.h*g.w), v)
		}
		frames[k] = clip(float64(v))
	}
	sum, err := hashFiles("", []string{c.File}, true)
	if err != nil {
		return nil, err
	}
	g.desc.File, g.desc.FileSHA256 = c.File, sum
	g.desc.Params = map[string]float64{"frames": float64(shape[0]), "loop": b2f(c.Loop)}
	if c.Scale != 0 {
		g.desc.Params["offset"], g.desc.Params["scale"] = c.Offset, c.Scale
	}
	return &movie{grid: g, frames: frames, t: shape[0], loop: c.Loop}, nil
}

// readMovie reads a .npy movie or the `stimulus` array of a dataset file through the one
// strict reader (dataset.ReadStimulus: sizes, CRC, finite values, T >= 1), scaled as the
// config says.
func readMovie(c configs.Movie) ([]float32, []int, error) {
	var o dataset.Options
	if c.Scale != 0 {
		o.Scaling = &dataset.Scaling{Offset: c.Offset, Scale: c.Scale}
	}
	data, t, h, w, err := dataset.ReadStimulusWith(c.File, o)
	if err != nil {
		return nil, nil, fmt.Errorf("stimulus: movie: %w", err)
	}
	return data, []int{t, h, w}, nil
}

func (m *movie) Len() int {
	if m.loop {
		return 0
	}
	return m.t
}

func (m *movie) Frame(i int, dst []float32) {
	m.check(i, dst, m.Len())
	p := m.h * m.w
	i %= m.t
	copy(dst, m.frames[i*p:(i+1)*p])
}
