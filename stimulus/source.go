package stimulus

import (
	"fmt"
	"math"
	"slices"
	"time"

	"retinad/configs"
)

// Source makes the frames of one stimulus. A Source is used by one goroutine at a time.
type Source interface {
	// Size is the stimulus grid: frames are h*w values, row-major.
	Size() (h, w int)
	// Len is the number of frames, or 0 when the source never ends.
	Len() int
	// Frame writes frame i (contrast, clipped to [-1, 1]) into dst, which must hold exactly h*w
	// values; i must be 0 or more and below Len when Len is not 0. It allocates nothing.
	// A wrong dst or i is a programming error and panics.
	Frame(i int, dst []float32)
	// Describe says what the source is, for frame-onset and status messages.
	Describe() Description
}

// Description is what regenerates a source's frames: kind, seed and parameters (the fields of
// proto StimulusSource, without importing it).
type Description struct {
	Kind         string
	Seed         uint64
	Height       int
	Width        int
	FrameRate    float64 // new frames per second
	Mean         float64 // mean luminance, 0..1
	Params       map[string]float64
	File         string // movie file or photograph folder, when the kind reads one
	FileSHA256   []byte // of the movie's bytes, or of each photograph used (see hashFiles)
	Reproducible bool   // (kind, seed, params, file, index) regenerate the frame exactly
	// Config is the stimulus block that makes the source (its kind's sub-block only): what a
	// record carries as YAML to make the frames again with no config at hand.
	Config configs.Stimulus
}

// New makes the source that cfg.Kind names, from the block of that kind. It reads any file the
// source needs (photographs, movie) now, and reports a bad file with its path.
func New(cfg configs.Stimulus) (Source, error) {
	h, w := cfg.Height, cfg.Width
	if h < 1 || w < 1 {
		return nil, fmt.Errorf("stimulus: grid %dx%d: want at least 1x1", h, w)
	}
	if cfg.FrameRate <= 0 && (cfg.Kind == "flash" || cfg.Kind == "grating" || cfg.Kind == "natural") {
		return nil, fmt.Errorf("stimulus: frame_rate %v: want a positive rate", cfg.FrameRate)
	}
	base := grid{h: h, w: w, desc: Description{
		Kind: cfg.Kind, Seed: cfg.Seed, Height: h, Width: w, FrameRate: float64(cfg.FrameRate),
		Mean: cfg.Mean, Reproducible: true, Config: block(cfg),
	}}
	switch cfg.Kind {
	case "gray":
		base.desc.Params = map[string]float64{}
		return &gray{base}, nil
	case "whitenoise":
		c := cfg.WhiteNoise
		g, err := gaussian("stimulus.whitenoise.distribution", c.Distribution)
		if err != nil {
			return nil, err
		}
		if c.Checker < 1 {
			return nil, fmt.Errorf("stimulus: whitenoise.checker %d: want the checker side in stimulus pixels", c.Checker)
		}
		base.desc.Params = map[string]float64{"checker": float64(c.Checker), "contrast": c.Contrast, "gaussian": b2f(g)}
		return newWhiteNoise(base, cfg.Seed, c.Checker, c.Contrast, g), nil
	case "flicker":
		c := cfg.Flicker
		g, err := gaussian("stimulus.flicker.distribution", c.Distribution)
		if err != nil {
			return nil, err
		}
		base.desc.Params = map[string]float64{"contrast": c.Contrast, "gaussian": b2f(g)}
		return &flicker{grid: base, seed: cfg.Seed, contrast: c.Contrast, gaussian: g}, nil
	case "flash":
		c := cfg.Flash
		on := int(math.Round(time.Duration(c.On).Seconds() * float64(cfg.FrameRate)))
		off := int(math.Round(time.Duration(c.Off).Seconds() * float64(cfg.FrameRate)))
		if on < 1 || off < 0 {
			return nil, fmt.Errorf("stimulus: flash on %v off %v at %v: want on at least one frame and off 0 or more", c.On, c.Off, cfg.FrameRate)
		}
		base.desc.Params = map[string]float64{"on_frames": float64(on), "off_frames": float64(off), "contrast": c.Contrast}
		return &flash{grid: base, on: on, off: off, contrast: float32(c.Contrast)}, nil
	case "grating":
		c := cfg.Grating
		if c.Period <= 0 {
			return nil, fmt.Errorf("stimulus: grating.period %g: want a positive period in stimulus pixels", c.Period)
		}
		base.desc.Params = map[string]float64{"period": c.Period, "speed_hz": float64(c.Speed), "orientation_deg": c.Orientation, "contrast": c.Contrast}
		return newGrating(base, c, float64(cfg.FrameRate)), nil
	case "natural":
		return newNatural(base, cfg)
	case "movie":
		return newMovie(base, cfg.Movie)
	}
	return nil, fmt.Errorf("stimulus: kind %q: want gray, whitenoise, flicker, flash, grating, natural or movie", cfg.Kind)
}

func gaussian(field, dist string) (bool, error) {
	switch dist {
	case "binary":
		return false, nil
	case "gaussian":
		return true, nil
	}
	return false, fmt.Errorf("stimulus: %s %q: want binary or gaussian", field, dist)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// grid is what every source shares: its size and description.
type grid struct {
	h, w int
	desc Description
}

func (g *grid) Size() (int, int) { return g.h, g.w }
func (g *grid) Len() int         { return 0 }
func (g *grid) Describe() Description {
	d := g.desc
	d.FileSHA256 = slices.Clone(g.desc.FileSHA256)
	d.Params = make(map[string]float64, len(g.desc.Params))
	for k, v := range g.desc.Params {
		d.Params[k] = v
	}
	return d
}

// check panics on a programming error in a Frame call.
func (g *grid) check(i int, dst []float32, n int) {
	if len(dst) != g.h*g.w {
		panic("stimulus: Frame: dst length is not the grid's height*width")
	}
	if i < 0 || (n > 0 && i >= n) {
		panic("stimulus: Frame: frame index out of range")
	}
}
