//go:build cgo

package dataset

import (
	"path/filepath"
	"testing"

	"retinad/hdf5"
)

// BenchmarkReadHDF5 reads a 10-minute dataset at 100 Hz (60,000 frames of a 50x50 uint8 movie,
// 16 cells of int64 counts) from an HDF5 file as `retinad fit` does: what Read costs per
// frame, scaling to contrast and checking included.
func BenchmarkReadHDF5(b *testing.B) {
	const T, H, W, C = 60000, 50, 50, 16
	path := filepath.Join(b.TempDir(), "d.h5")
	f, err := hdf5.Create(path, hdf5.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	movie := make([]uint8, T*H*W)
	for i := range movie {
		movie[i] = uint8(i * 31 % 251)
	}
	counts := make([]int64, T*C)
	for i := range counts {
		counts[i] = int64(i % 3)
	}
	root := f.Root()
	for _, err := range []error{
		write(root, "stimulus", movie, T, H, W),
		write(root, "counts", counts, T, C),
		write(root, "frame_rate", []float64{100}),
		f.Close(),
	} {
		if err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(T * H * W)
	for b.Loop() {
		if _, err := Read(path); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/T, "µs/frame")
}

func write(g *hdf5.Group, name string, data any, shape ...int) error {
	_, err := g.Write(name, data, shape...)
	return err
}
