package stimulus

import (
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // photographs may be JPEG
	_ "image/png"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"retinad/configs"
)

// DefaultPhotoDir is where Debian's python3-skimage keeps its sample images, the default
// natural-scene library.
const DefaultPhotoDir = "/usr/lib/python3/dist-packages/skimage/data"

// DefaultPhotographs are the real photographs among the images of DefaultPhotoDir (the others
// are synthetic, text, microscopy or astronomy images, and one is a truncated file), used when
// natural.dir is empty or DefaultPhotoDir.
var DefaultPhotographs = []string{
	"astronaut.png", "brick.png", "camera.png", "chelsea.png", "coffee.png", "coins.png",
	"grass.png", "gravel.png", "moon.png", "motorcycle_left.png", "rocket.jpg",
}

// photo is one photograph, gray, scaled and normalised to contrast.
type photo struct {
	name string
	h, w int
	pix  []float32
}

// natural is the natural-scene stimulus: photographs held for a block of frames each, jittered by
// a random walk. It remembers where the walk is, so that consecutive frames cost one step.
type natural struct {
	grid
	seed   uint64
	photos []photo
	hold   int     // frames per photograph
	jitter float64 // walk step standard deviation, stimulus pixels

	// The walk after frame step of block (valid when block >= 0).
	block, step int
	cur         *photo
	dx, dy      float64
	walk        splitmix
}

func newNatural(g grid, cfg configs.Stimulus) (*natural, error) {
	c := cfg.Natural
	hold := int(math.Round(time.Duration(c.Hold).Seconds() * float64(cfg.FrameRate)))
	if hold < 1 {
		return nil, fmt.Errorf("stimulus: natural.hold %v at %v: want at least one frame", c.Hold, cfg.FrameRate)
	}
	if c.Contrast <= 0 {
		return nil, fmt.Errorf("stimulus: natural.contrast %g: want a positive RMS contrast", c.Contrast)
	}
	if c.Jitter < 0 {
		return nil, fmt.Errorf("stimulus: natural.jitter %g: want 0 or more stimulus pixels", c.Jitter)
	}
	dir, names := c.Dir, DefaultPhotographs
	if dir == "" || filepath.Clean(dir) == DefaultPhotoDir {
		dir = DefaultPhotoDir
	} else {
		var err error
		if names, err = listPhotographs(dir); err != nil {
			return nil, err
		}
	}
	side := 2 * max(g.h, g.w)
	photos := make([]photo, 0, len(names))
	for _, name := range names {
		p, err := loadPhoto(filepath.Join(dir, name), side, c.Contrast)
		if err != nil {
			return nil, err
		}
		photos = append(photos, p)
	}
	sum, err := hashFiles(dir, names, false)
	if err != nil {
		return nil, err
	}
	g.desc.File, g.desc.FileSHA256 = dir, sum
	g.desc.Params = map[string]float64{"hold_frames": float64(hold), "jitter": c.Jitter, "contrast": c.Contrast, "photographs": float64(len(photos))}
	return &natural{grid: g, seed: cfg.Seed, photos: photos, hold: hold, jitter: c.Jitter, block: -1}, nil
}

// listPhotographs lists the PNG and JPEG files of dir, sorted by name.
func listPhotographs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("stimulus: natural.dir: %w", err)
	}
	var names []string
	for _, e := range entries {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".png", ".jpg", ".jpeg":
			if !e.IsDir() {
				names = append(names, e.Name())
			}
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("stimulus: natural.dir %s: no .png, .jpg or .jpeg photographs", dir)
	}
	return names, nil
}

// loadPhoto reads a photograph, turns it gray, scales its shorter side to side pixels by area
// averaging and normalises it to RMS contrast rms.
func loadPhoto(path string, side int, rms float64) (photo, error) {
	lum, h0, w0, err := readGray(path)
	if err != nil {
		return photo{}, err
	}
	var hs, ws int
	if h0 <= w0 {
		hs, ws = side, max(side, int(math.Round(float64(w0)*float64(side)/float64(h0))))
	} else {
		ws, hs = side, max(side, int(math.Round(float64(h0)*float64(side)/float64(w0))))
	}
	scaled := resize(lum, h0, w0, hs, ws)
	var mean, sq float64
	for _, v := range scaled {
		mean += v
	}
	mean /= float64(len(scaled))
	for _, v := range scaled {
		sq += (v - mean) * (v - mean)
	}
	std := math.Sqrt(sq / float64(len(scaled)))
	if std == 0 {
		return photo{}, fmt.Errorf("stimulus: natural photograph %s: uniform image, no contrast to normalise", path)
	}
	pix := make([]float32, len(scaled))
	for k, v := range scaled {
		pix[k] = clip(rms * (v - mean) / std)
	}
	return photo{name: filepath.Base(path), h: hs, w: ws, pix: pix}, nil
}

// grayCache keeps decoded photographs (read-only once stored), keyed by path, size and
// modification time, so that making many natural sources decodes each file once.
var grayCache sync.Map // grayKey -> grayImage

type grayKey struct {
	path string
	size int64
	mod  time.Time
}

type grayImage struct {
	lum    []float64
	h0, w0 int
}

// readGray decodes a photograph to luminance in [0, 1], h0 x w0, row-major.
func readGray(path string) ([]float64, int, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("stimulus: natural photograph: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, 0, 0, fmt.Errorf("stimulus: natural photograph: %w", err)
	}
	key := grayKey{path, st.Size(), st.ModTime()}
	if g, ok := grayCache.Load(key); ok {
		g := g.(grayImage)
		return g.lum, g.h0, g.w0, nil
	}
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("stimulus: natural photograph %s: %w", path, err)
	}
	b := img.Bounds()
	h0, w0 := b.Dy(), b.Dx()
	if h0 < 1 || w0 < 1 {
		return nil, 0, 0, fmt.Errorf("stimulus: natural photograph %s: empty image", path)
	}
	lum := make([]float64, h0*w0)
	for y := 0; y < h0; y++ {
		for x := 0; x < w0; x++ {
			lum[y*w0+x] = float64(color.Gray16Model.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.Gray16).Y) / 0xffff
		}
	}
	grayCache.Store(key, grayImage{lum, h0, w0})
	return lum, h0, w0, nil
}

// resize scales an h0 x w0 image to h x w by area averaging (each target pixel is the mean of
// the source area it covers, partial pixels weighted by their overlap).
func resize(src []float64, h0, w0, h, w int) []float64 {
	wx, wy := boxWeights(w0, w), boxWeights(h0, h)
	tmp := make([]float64, h0*w)
	for y := 0; y < h0; y++ {
		for x, ws := range wx {
			var s float64
			for _, t := range ws {
				s += t.w * src[y*w0+t.i]
			}
			tmp[y*w+x] = s
		}
	}
	dst := make([]float64, h*w)
	for y, ws := range wy {
		for x := 0; x < w; x++ {
			var s float64
			for _, t := range ws {
				s += t.w * tmp[t.i*w+x]
			}
			dst[y*w+x] = s
		}
	}
	return dst
}

type tap struct {
	i int
	w float64
}

// boxWeights gives, for each of n target pixels along an axis of n0 source pixels, the source
// pixels it covers and their weights (overlap over the target pixel's extent, summing to 1).
func boxWeights(n0, n int) [][]tap {
	scale := float64(n0) / float64(n)
	out := make([][]tap, n)
	for t := range out {
		lo, hi := float64(t)*scale, float64(t+1)*scale
		for i := int(lo); i < n0 && float64(i) < hi; i++ {
			ov := math.Min(hi, float64(i+1)) - math.Max(lo, float64(i))
			if ov > 0 {
				out[t] = append(out[t], tap{i, ov / scale})
			}
		}
	}
	return out
}

func (n *natural) Frame(i int, dst []float32) {
	n.check(i, dst, 0)
	b, j := i/n.hold, i%n.hold
	if b != n.block || j < n.step {
		s := stream(n.seed, tagPhoto, uint64(b))
		n.cur = &n.photos[int(s.uniform()*float64(len(n.photos)))]
		n.block, n.step, n.dx, n.dy = b, 0, 0, 0
		n.walk = stream(n.seed, tagWalk, uint64(b))
	}
	p := n.cur
	mx, my := (p.w-n.w)/2, (p.h-n.h)/2
	for n.step < j {
		n.step++
		n.dx = math.Max(-float64(mx), math.Min(float64(p.w-n.w-mx), n.dx+n.jitter*n.walk.normal()))
		n.dy = math.Max(-float64(my), math.Min(float64(p.h-n.h-my), n.dy+n.jitter*n.walk.normal()))
	}
	x0 := mx + int(math.Round(n.dx))
	y0 := my + int(math.Round(n.dy))
	for y := 0; y < n.h; y++ {
		copy(dst[y*n.w:(y+1)*n.w], p.pix[(y0+y)*p.w+x0:])
	}
}
