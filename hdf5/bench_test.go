//go:build cgo

package hdf5

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkWriteMovie writes a 60 s, 100 Hz, 50x50 float32 movie of natural-scene-like
// contrast (smooth, with noise): what an export's stimulus costs, compressed.
func BenchmarkWriteMovie(b *testing.B) {
	const T, H, W = 6000, 50, 50
	movie := make([]float32, T*H*W)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range movie {
		movie[i] = float32(int(r.NormFloat64()*40)) / 128 // 8-bit luminance levels as contrast
	}
	b.SetBytes(int64(4 * len(movie)))
	b.ReportAllocs()
	for b.Loop() {
		f, err := Create(filepath.Join(b.TempDir(), "m.h5"), CreateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Root().Write("stimulus", movie, T, H, W); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
		st, err := os.Stat(f.Path())
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(st.Size())/float64(4*len(movie)), "size/raw")
	}
}
