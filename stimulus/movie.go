package stimulus

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sbinet/npyio"
	"github.com/sbinet/npyio/npz"

	"retinad/configs"
)

// movie plays frames read from a file.
type movie struct {
	grid
	frames []float32 // T*h*w
	t      int
	loop   bool
}

func newMovie(g grid, c configs.Movie) (*movie, error) {
	frames, shape, err := readMovie(c.File)
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
	return &movie{grid: g, frames: frames, t: shape[0], loop: c.Loop}, nil
}

// readMovie reads a .npy float32 array, or the `stimulus` array of an .npz dataset.
func readMovie(path string) ([]float32, []int, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".npy":
		f, err := os.Open(path)
		if err != nil {
			return nil, nil, fmt.Errorf("stimulus: movie: %w", err)
		}
		defer f.Close()
		r, err := npyio.NewReader(f)
		if err != nil {
			return nil, nil, fmt.Errorf("stimulus: movie %s: not a .npy file: %w", path, err)
		}
		return readArray(path, "", r.Header, func(p *[]float32) error { return r.Read(p) })
	case ".npz":
		z, err := npz.Open(path)
		if err != nil {
			return nil, nil, fmt.Errorf("stimulus: movie %s: not an .npz file: %w", path, err)
		}
		defer z.Close()
		name, h := NPZEntry(z, "stimulus")
		if h == nil {
			return nil, nil, fmt.Errorf("stimulus: movie %s: no `stimulus` array (has %v): want a dataset .npz", path, z.Keys())
		}
		return readArray(path, " array stimulus", *h, func(p *[]float32) error { return z.Read(name, p) })
	}
	return nil, nil, fmt.Errorf("stimulus: movie %s: want a .npy or .npz file", path)
}

// NPZEntry finds array name in an .npz and returns its entry and header, or nil: numpy.savez
// (and `retinad simulate`) store it as name.npy, other writers without the suffix.
func NPZEntry(z *npz.Reader, name string) (string, *npyio.Header) {
	for _, entry := range []string{name + ".npy", name} {
		if h := z.Header(entry); h != nil {
			return entry, h
		}
	}
	return "", nil
}

func readArray(path, what string, h npyio.Header, read func(*[]float32) error) ([]float32, []int, error) {
	if h.Descr.Type != "<f4" {
		return nil, nil, fmt.Errorf("stimulus: movie %s%s: dtype %s: want float32 (<f4)", path, what, h.Descr.Type)
	}
	if h.Descr.Fortran {
		return nil, nil, fmt.Errorf("stimulus: movie %s%s: Fortran order: want C order", path, what)
	}
	var data []float32
	if err := read(&data); err != nil {
		return nil, nil, fmt.Errorf("stimulus: movie %s%s: %w", path, what, err)
	}
	n := 1
	for _, d := range h.Descr.Shape {
		n *= d
	}
	if n != len(data) {
		return nil, nil, fmt.Errorf("stimulus: movie %s%s: shape %v but %d values", path, what, h.Descr.Shape, len(data))
	}
	return data, h.Descr.Shape, nil
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
