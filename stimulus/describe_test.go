package stimulus

import (
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"retinad/configs"
	pb "retinad/proto/retinadpb"
)

// TestDescriptionProto checks that a source's description becomes the StimulusSource message
// with every field, and parameters sorted by name (one description, one encoding).
func TestDescriptionProto(t *testing.T) {
	c := cfg("whitenoise", 6, 5)
	c.Seed, c.FrameRate, c.Mean = 9, 60, 0.5
	c.WhiteNoise = configs.WhiteNoise{Distribution: "gaussian", Checker: 2, Contrast: 0.4}
	c.Natural.Jitter = 3 // another kind's block: not part of this source's YAML
	m := mustNew(t, c).Describe().Proto()
	if m.Kind != "whitenoise" || m.Seed != 9 || m.Height != 6 || m.Width != 5 || m.FrameRateHz != 60 || m.Mean != 0.5 || !m.Reproducible {
		t.Fatalf("message %v", m)
	}
	want := []struct {
		name  string
		value float64
	}{{"checker", 2}, {"contrast", 0.4}, {"gaussian", 1}}
	if len(m.Params) != len(want) {
		t.Fatalf("params %v, want %v", m.Params, want)
	}
	for i, w := range want {
		if m.Params[i].Name != w.name || m.Params[i].Value != w.value {
			t.Errorf("param %d: %v, want %s=%v", i, m.Params[i], w.name, w.value)
		}
	}
	back, err := DecodeYAML(m.StimulusYaml)
	if err != nil {
		t.Fatal(err)
	}
	if back != block(c) || back.Natural.Jitter != 0 {
		t.Errorf("stimulus_yaml decodes to %+v, want the whitenoise block %+v", back, block(c))
	}
}

// recorded is src's description as a subscriber receives it (encoded and decoded).
func recorded(t *testing.T, src Source) *pb.StimulusSource {
	t.Helper()
	b, err := proto.Marshal(src.Describe().Proto())
	if err != nil {
		t.Fatal(err)
	}
	m := &pb.StimulusSource{}
	if err := proto.Unmarshal(b, m); err != nil {
		t.Fatal(err)
	}
	return m
}

// sameFrames checks that the Rebuilder makes frames of rec identical, bit for bit, to src's.
func sameFrames(t *testing.T, name string, src Source, rec *pb.StimulusSource, indices ...int) {
	t.Helper()
	r := NewRebuilder()
	h, w := src.Size()
	got := make([]float32, h*w)
	for _, i := range indices {
		want := frame(src, i)
		if err := r.Frame(rec, uint64(i), got); err != nil {
			t.Fatalf("%s frame %d: %v", name, i, err)
		}
		for p := range want {
			if got[p] != want[p] {
				t.Fatalf("%s frame %d pixel %d: rebuilt %v, shown %v", name, i, p, got[p], want[p])
			}
		}
	}
}

// TestRebuild: a source's recorded description makes the same frames again, for every kind,
// from its stimulus_yaml, and (records older than stimulus_yaml) from its params alone.
func TestRebuild(t *testing.T) {
	dir := t.TempDir()
	movie := filepath.Join(dir, "movie.npy")
	data := make([]float32, 5*6*8)
	for k := range data {
		data[k] = float32(k%17)/8 - 1
	}
	writeMovie(t, movie, data, []int{5, 6, 8})
	for _, kind := range []string{"gray", "whitenoise", "flicker", "flash", "grating", "natural", "movie"} {
		c := cfg(kind, 6, 8)
		c.Seed = 42
		c.Movie = configs.Movie{File: movie, Loop: true}
		src := mustNew(t, c)
		rec := recorded(t, src)
		if rec.StimulusYaml == "" || (kind == "natural" || kind == "movie") != (len(rec.FileSha256) == 32) {
			t.Fatalf("%s: record %v: want stimulus_yaml, and a SHA-256 when a file is read", kind, rec)
		}
		sameFrames(t, kind+" (yaml)", src, rec, 0, 1, 57, 1000)
		rec.StimulusYaml = ""
		sameFrames(t, kind+" (params)", src, rec, 0, 3, 999)
	}
}

func writePNG(t *testing.T, path string, shade uint8) {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 16, 12))
	for i := range img.Pix {
		img.Pix[i] = shade + uint8(i%7)*9
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

// TestRebuildRefusesChangedFiles: a movie or a photograph folder that is not what the session
// showed (its SHA-256 differs) is refused with an error naming it, never rebuilt into other
// frames.
func TestRebuildRefusesChangedFiles(t *testing.T) {
	dir := t.TempDir()
	movie := filepath.Join(dir, "movie.npy")
	data := make([]float32, 2*4*4)
	writeMovie(t, movie, data, []int{2, 4, 4})
	c := cfg("movie", 4, 4)
	c.Movie = configs.Movie{File: movie}
	rec := recorded(t, mustNew(t, c))
	data[3] = 0.5
	writeMovie(t, movie, data, []int{2, 4, 4})
	err := NewRebuilder().Frame(rec, 0, make([]float32, 16))
	if err == nil || !strings.Contains(err.Error(), movie) || !strings.Contains(err.Error(), "SHA-256") {
		t.Errorf("changed movie: error %v, want one naming %s and its SHA-256", err, movie)
	}

	photos := filepath.Join(dir, "photos")
	os.Mkdir(photos, 0o755)
	writePNG(t, filepath.Join(photos, "a.png"), 10)
	writePNG(t, filepath.Join(photos, "b.png"), 90)
	n := cfg("natural", 4, 4)
	n.Natural.Dir = photos
	src := mustNew(t, n)
	rec = recorded(t, src)
	sameFrames(t, "photographs", src, rec, 0, 250)
	writePNG(t, filepath.Join(photos, "c.png"), 50) // a photograph added to the folder
	err = NewRebuilder().Frame(rec, 0, make([]float32, 16))
	if err == nil || !strings.Contains(err.Error(), photos) || !strings.Contains(err.Error(), "SHA-256") {
		t.Errorf("folder with a new photograph: error %v, want one naming %s and its SHA-256", err, photos)
	}
}

// FuzzDecodeYAML: a recorded stimulus block, whatever its bytes, is refused with an error or
// decoded into a block that encodes and decodes to itself; never a panic.
func FuzzDecodeYAML(f *testing.F) {
	for _, kind := range []string{"gray", "whitenoise", "flicker", "flash", "grating", "natural", "movie"} {
		y, _ := EncodeYAML(block(cfg(kind, 4, 4)))
		f.Add(y)
	}
	f.Add("kind: gray\ncolour: red\n")
	f.Add("mean: .nan\n")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := DecodeYAML(s)
		if err != nil {
			return
		}
		y, err := EncodeYAML(c)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeYAML(y)
		if err != nil || back != c {
			t.Fatalf("%q decodes to %+v, which encodes to %q, which decodes to %+v (%v)", s, c, y, back, err)
		}
	})
}
