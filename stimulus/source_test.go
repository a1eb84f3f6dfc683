package stimulus

import (
	"archive/zip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"retinad/configs"
	"retinad/infer/npy"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.json from the current sources")

// cfg returns the default stimulus config for kind on an h x w grid.
func cfg(kind string, h, w int) configs.Stimulus {
	c := configs.Default().Stimulus
	c.Kind, c.Height, c.Width = kind, h, w
	return c
}

func mustNew(t testing.TB, c configs.Stimulus) Source {
	t.Helper()
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func frame(s Source, i int) []float32 {
	h, w := s.Size()
	dst := make([]float32, h*w)
	s.Frame(i, dst)
	return dst
}

// TestReference compares the sources with testdata/reference.py, an independent Python
// implementation of the package doc: the same seed gives the same frames in another language.
func TestReference(t *testing.T) {
	raw, err := os.ReadFile("testdata/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		SplitMix           []string             `json:"splitmix64_seed_1234567"`
		WhiteNoiseBinary   map[string][]float32 `json:"whitenoise_binary"`
		WhiteNoiseGaussian map[string][]float32 `json:"whitenoise_gaussian"`
		FlickerGaussian    map[string]float32   `json:"flicker_gaussian"`
		FlickerBinary      map[string]float32   `json:"flicker_binary"`
		Grating            map[string][]float32 `json:"grating"`
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	sm := splitmix{state: 1234567}
	for k, want := range ref.SplitMix {
		if got := strconv.FormatUint(sm.next(), 10); got != want {
			t.Errorf("splitmix64 draw %d = %s, want %s", k, got, want)
		}
	}
	wn := func(checker int, contrast float64, dist string) configs.Stimulus {
		c := cfg("whitenoise", 5, 7)
		c.Seed, c.WhiteNoise = 42, configs.WhiteNoise{Distribution: dist, Checker: checker, Contrast: contrast}
		return c
	}
	fl := func(contrast float64, dist string) configs.Stimulus {
		c := cfg("flicker", 1, 1)
		c.Seed, c.Flicker = 7, configs.Flicker{Distribution: dist, Contrast: contrast}
		return c
	}
	gr := cfg("grating", 4, 6)
	gr.FrameRate, gr.Grating = 100, configs.Grating{Period: 5, Speed: 2, Orientation: 30, Contrast: 0.8}
	cases := []struct {
		name string
		src  configs.Stimulus
		want map[string][]float32
	}{
		{"whitenoise binary", wn(2, 1, "binary"), ref.WhiteNoiseBinary},
		{"whitenoise gaussian", wn(3, 0.35, "gaussian"), ref.WhiteNoiseGaussian},
		{"flicker gaussian", fl(0.35, "gaussian"), scalars(ref.FlickerGaussian)},
		{"flicker binary", fl(0.5, "binary"), scalars(ref.FlickerBinary)},
		{"grating", gr, ref.Grating},
	}
	for _, c := range cases {
		if len(c.want) == 0 {
			t.Fatalf("%s: no reference values", c.name)
		}
		s := mustNew(t, c.src)
		for is, want := range c.want {
			i, _ := strconv.Atoi(is)
			got := frame(s, i)
			if len(got) != len(want) {
				t.Fatalf("%s frame %d: %d values, reference has %d", c.name, i, len(got), len(want))
			}
			for k := range got {
				// float64 libm results may differ in the last bit between languages; after
				// rounding to float32 they agree except in the rarest ties.
				if math.Abs(float64(got[k]-want[k])) > 1e-7 {
					t.Errorf("%s frame %d pixel %d = %v, reference %v", c.name, i, k, got[k], want[k])
				}
			}
		}
	}
}

func scalars(m map[string]float32) map[string][]float32 {
	out := map[string][]float32{}
	for k, v := range m {
		out[k] = []float32{v}
	}
	return out
}

// goldenSources are the sources whose frames testdata/golden.json pins.
func goldenSources(t testing.TB) map[string]Source {
	out := map[string]Source{}
	add := func(name string, c configs.Stimulus) { out[name] = mustNew(t, c) }
	add("gray", cfg("gray", 3, 4))
	c := cfg("whitenoise", 6, 8)
	c.WhiteNoise = configs.WhiteNoise{Distribution: "binary", Checker: 3, Contrast: 0.8}
	add("whitenoise_binary", c)
	c.WhiteNoise = configs.WhiteNoise{Distribution: "gaussian", Checker: 1, Contrast: 0.35}
	add("whitenoise_gaussian", c)
	c = cfg("flicker", 1, 1)
	add("flicker", c)
	c = cfg("flash", 2, 2)
	c.Flash = configs.Flash{On: configs.Duration(30 * time.Millisecond), Off: configs.Duration(20 * time.Millisecond), Contrast: 0.7}
	add("flash", c)
	c = cfg("grating", 4, 6)
	add("grating", c)
	c = cfg("natural", 6, 8)
	c.Natural.Hold = configs.Duration(50 * time.Millisecond)
	c.Natural.Jitter = 1
	add("natural", c)
	return out
}

var goldenFrames = []int{0, 1, 2, 4, 5, 17, 123}

// TestGolden pins a few frames of every source (testdata/golden.json; go test -update rewrites it).
func TestGolden(t *testing.T) {
	if _, err := os.Stat(DefaultPhotoDir); err != nil {
		t.Fatalf("the natural-scene default library is missing (scripts/setup installs python3-skimage): %v", err)
	}
	got := map[string]map[string][]float32{}
	for name, s := range goldenSources(t) {
		got[name] = map[string][]float32{}
		for _, i := range goldenFrames {
			got[name][strconv.Itoa(i)] = frame(s, i)
		}
	}
	path := filepath.Join("testdata", "golden.json")
	if *update {
		raw, err := json.MarshalIndent(got, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]map[string][]float32
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if len(want) != len(got) {
		t.Errorf("golden has %d sources, want %d", len(want), len(got))
	}
	for name, frames := range got {
		for i, g := range frames {
			w := want[name][i]
			if fmt.Sprint(g) != fmt.Sprint(w) {
				t.Errorf("%s frame %s:\n got %v\nwant %v", name, i, g, w)
			}
		}
	}
}

// TestAnyOrder checks that frames are pure functions of their index, in any drawing order, and
// that two sources from one config agree.
func TestAnyOrder(t *testing.T) {
	for name, s := range goldenSources(t) {
		again := goldenSources(t)[name]
		seq := map[int]string{}
		for i := 0; i < 130; i++ {
			seq[i] = fmt.Sprint(frame(s, i))
		}
		for _, i := range []int{129, 3, 77, 2, 2, 64, 0, 128, 5} {
			if got := fmt.Sprint(frame(again, i)); got != seq[i] {
				t.Errorf("%s frame %d drawn out of order differs from the sequential one", name, i)
			}
		}
	}
}

func TestNatural(t *testing.T) {
	c := cfg("natural", 50, 50)
	c.Natural.Hold = configs.Duration(100 * time.Millisecond) // 10 frames at 100 Hz
	c.Natural.Jitter = 0
	s := mustNew(t, c)
	d := s.Describe()
	if d.Params["photographs"] != float64(len(DefaultPhotographs)) || d.Params["hold_frames"] != 10 || d.File != DefaultPhotoDir {
		t.Errorf("description %+v", d)
	}
	// Without jitter a block holds one still image; blocks show different photographs.
	f0 := fmt.Sprint(frame(s, 0))
	if fmt.Sprint(frame(s, 9)) != f0 {
		t.Error("jitter 0: frames within one block differ")
	}
	changes := 0
	for b := 1; b < 10; b++ {
		if fmt.Sprint(frame(s, 10*b)) != fmt.Sprint(frame(s, 10*b-10)) {
			changes++
		}
	}
	if changes < 5 {
		t.Errorf("only %d of 9 block boundaries change the photograph", changes)
	}
	// Frames are contrast with about the configured RMS (the crop is the central quarter).
	var sum, sq float64
	for b := 0; b < 40; b++ {
		for _, v := range frame(s, 10*b) {
			if v < -1 || v > 1 {
				t.Fatalf("frame %d value %v outside [-1, 1]", 10*b, v)
			}
			sum += float64(v)
			sq += float64(v) * float64(v)
		}
	}
	n := 40.0 * 2500
	if rms := math.Sqrt(sq/n - (sum/n)*(sum/n)); rms < 0.15 || rms > 0.6 {
		t.Errorf("RMS contrast %.3f, configured %.2f", rms, c.Natural.Contrast)
	}
	// With jitter, the image moves within a block by whole pixels.
	c.Natural.Jitter = 2
	s = mustNew(t, c)
	if fmt.Sprint(frame(s, 9)) == fmt.Sprint(frame(s, 0)) {
		t.Error("jitter 2: the last frame of a block equals its first")
	}
}

func TestNaturalFolder(t *testing.T) {
	dir := t.TempDir()
	c := cfg("natural", 8, 8)
	c.Natural.Dir = dir
	if _, err := New(c); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("empty folder: error %v, want one naming %s", err, dir)
	}
	os.WriteFile(filepath.Join(dir, "broken.png"), []byte("not a png"), 0o644)
	if _, err := New(c); err == nil || !strings.Contains(err.Error(), "broken.png") {
		t.Errorf("broken photograph: error %v, want one naming broken.png", err)
	}
}

func TestMovie(t *testing.T) {
	dir := t.TempDir()
	T, h, w := 3, 2, 4
	data := make([]float32, T*h*w)
	for k := range data {
		data[k] = float32(k)/10 - 1
	}
	data[5] = 7 // clipped to 1
	path := filepath.Join(dir, "movie.npy")
	writeMovie(t, path, data, []int{T, h, w})
	c := cfg("movie", h, w)
	c.Movie = configs.Movie{File: path}
	s := mustNew(t, c)
	if s.Len() != T {
		t.Fatalf("Len %d, want %d", s.Len(), T)
	}
	for i := 0; i < T; i++ {
		got := frame(s, i)
		for k, v := range got {
			want := clip(float64(data[i*h*w+k]))
			if v != want {
				t.Errorf("frame %d pixel %d = %v, want %v", i, k, v, want)
			}
		}
	}
	c.Movie.Loop = true
	s = mustNew(t, c)
	if s.Len() != 0 || fmt.Sprint(frame(s, T+1)) != fmt.Sprint(frame(s, 1)) {
		t.Error("looping movie: frame T+1 is not frame 1")
	}

	// A dataset .npz plays its stimulus array.
	zpath := filepath.Join(dir, "set.npz")
	zf0, err := os.Create(zpath)
	if err != nil {
		t.Fatal(err)
	}
	zw := npy.NewArchiveWriter(zf0)
	if err := npy.Add(zw, "counts", []int{2}, []float32{1, 2}); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(zw.Close(), zf0.Close()); err != nil {
		t.Fatal(err)
	}
	c.Movie.File = zpath
	if _, err := New(c); err == nil || !strings.Contains(err.Error(), "no `stimulus` array") {
		t.Errorf("npz without stimulus: error %v", err)
	}
	// ... with the array named as numpy.savez and `retinad simulate` name it: stimulus.npy.
	zpath = filepath.Join(dir, "savez.npz")
	npyBytes, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	zf, err := os.Create(zpath)
	if err != nil {
		t.Fatal(err)
	}
	zz := zip.NewWriter(zf)
	if e, err := zz.Create("stimulus.npy"); err != nil {
		t.Fatal(err)
	} else if _, err := e.Write(npyBytes); err != nil {
		t.Fatal(err)
	}
	if err := zz.Close(); err != nil {
		t.Fatal(err)
	}
	zf.Close()
	c.Movie.File = path
	want := fmt.Sprint(frame(mustNew(t, c), 2))
	c.Movie.File = zpath
	if got := fmt.Sprint(frame(mustNew(t, c), 2)); got != want {
		t.Errorf("dataset .npz with stimulus.npy: frame 2 is %s, the .npy's %s", got, want)
	}

	// Wrong grid, wrong dtype, wrong rank, garbage.
	c.Movie.File = path
	c.Height = 3
	if _, err := New(c); err == nil || !strings.Contains(err.Error(), "2x4") {
		t.Errorf("wrong grid: error %v", err)
	}
	c.Height = h
	// Truncated: the frames the header promises are not all there (they were zero-filled).
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(dir, "short.npy")
	os.WriteFile(short, b[:len(b)-4], 0o644)
	c.Movie.File = short
	if _, err := New(c); err == nil || !strings.Contains(err.Error(), "truncated") || !strings.Contains(err.Error(), short) {
		t.Errorf("truncated movie: error %v", err)
	}
	empty := filepath.Join(dir, "empty.npy")
	writeMovie(t, empty, nil, []int{0, h, w})
	c.Movie.File = empty
	if _, err := New(c); err == nil || !strings.Contains(err.Error(), "every size at least 1") {
		t.Errorf("empty movie: error %v", err)
	}
	flat := filepath.Join(dir, "flat.npy")
	writeMovie(t, flat, []float32{1, 2}, []int{2})
	c.Movie.File = flat
	if _, err := New(c); err == nil || !strings.Contains(err.Error(), "[T,H,W]") {
		t.Errorf("1-D movie: error %v", err)
	}
	junk := filepath.Join(dir, "junk.npy")
	os.WriteFile(junk, []byte("junk"), 0o644)
	c.Movie.File = junk
	if _, err := New(c); err == nil || !strings.Contains(err.Error(), junk) {
		t.Errorf("junk movie: error %v", err)
	}
}

// writeMovie writes a C-order float32 .npy of the given shape.
func writeMovie(t *testing.T, path string, data []float32, shape []int) {
	t.Helper()
	if err := npy.WriteFile(path, shape, data); err != nil {
		t.Fatal(err)
	}
}

func TestNewErrors(t *testing.T) {
	bad := []struct {
		edit func(*configs.Stimulus)
		want string
	}{
		{func(c *configs.Stimulus) { c.Kind = "plaid" }, `kind "plaid"`},
		{func(c *configs.Stimulus) { c.Height = 0 }, "grid"},
		{func(c *configs.Stimulus) { c.Kind = "whitenoise"; c.WhiteNoise.Distribution = "pink" }, "whitenoise.distribution"},
		{func(c *configs.Stimulus) { c.Kind = "whitenoise"; c.WhiteNoise.Checker = 0 }, "whitenoise.checker"},
		{func(c *configs.Stimulus) { c.Kind = "grating"; c.Grating.Period = 0 }, "grating.period"},
		{func(c *configs.Stimulus) { c.Kind = "flash"; c.Flash.On = 0 }, "flash"},
		{func(c *configs.Stimulus) { c.Natural.Contrast = 0 }, "natural.contrast"},
		{func(c *configs.Stimulus) { c.Kind = "movie"; c.Movie.File = "/nonexistent.npy" }, "/nonexistent.npy"},
	}
	for _, b := range bad {
		c := cfg("natural", 10, 10)
		b.edit(&c)
		_, err := New(c)
		if err == nil || !strings.HasPrefix(err.Error(), "stimulus: ") || !strings.Contains(err.Error(), b.want) {
			t.Errorf("error %v, want one starting stimulus: and naming %q", err, b.want)
		}
	}
}

// TestFrameAllocs proves the per-frame path allocates nothing, for every source.
func TestFrameAllocs(t *testing.T) {
	for name, s := range goldenSources(t) {
		h, w := s.Size()
		dst := make([]float32, h*w)
		i := 0
		if a := testing.AllocsPerRun(200, func() { s.Frame(i, dst); i += 3 }); a != 0 {
			t.Errorf("%s: %v allocations per frame, want 0", name, a)
		}
	}
}

func BenchmarkFrame(b *testing.B) {
	for _, kind := range []string{"whitenoise", "flicker", "grating", "natural"} {
		b.Run(kind, func(b *testing.B) {
			s := mustNew(b, cfg(kind, 50, 50))
			dst := make([]float32, 2500)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				s.Frame(i, dst)
			}
		})
	}
}
