package stimulus

import (
	"path/filepath"
	"testing"

	"retinad/configs"
	"retinad/infer/npy"
)

// A uint8 movie is luminance around mid-gray by default, and what movie.offset/scale say when
// they are set; the description carries the scaling so that a rebuild shows the same frames.
func TestMovieScale(t *testing.T) {
	path := filepath.Join(t.TempDir(), "u8.npy")
	if err := npy.WriteFile(path, []int{2, 1, 3}, []uint8{0, 100, 255, 50, 150, 200}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		offset, scale float64
		want          []float32
	}{
		{0, 0, []float32{-1, float32((100 - 127.5) / 127.5), 1, float32((50 - 127.5) / 127.5), float32((150 - 127.5) / 127.5), float32((200 - 127.5) / 127.5)}},
		{100, 100, []float32{-1, 0, 1, -0.5, 0.5, 1}}, // 255 -> 1.55, clipped to 1
	} {
		cf := cfg("movie", 1, 3)
		cf.Movie = configs.Movie{File: path, Offset: c.offset, Scale: c.scale}
		s := mustNew(t, cf)
		for i := range 2 {
			got := frame(s, i)
			for k, v := range got {
				if w := clip(float64(c.want[3*i+k])); v != w {
					t.Errorf("offset %v scale %v: frame %d pixel %d = %v, want %v", c.offset, c.scale, i, k, v, w)
				}
			}
		}
		d := s.Describe()
		if c.scale != 0 && (d.Params["offset"] != c.offset || d.Params["scale"] != c.scale) {
			t.Errorf("description params %v lack the scaling", d.Params)
		}
	}
}
