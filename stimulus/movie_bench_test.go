package stimulus

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"retinad/configs"
	"retinad/infer/npy"
)

// BenchmarkMovieLoad is the movie stimulus's whole load (read, scale, check, clip, SHA-256 of
// the file for the frame descriptions) of a 60,000-frame 50x50 movie, float32 and uint8,
// beside reading the same file's bytes and doing nothing with them.
//
//	go test -run XXX -bench MovieLoad -benchtime 1x ./stimulus/
func BenchmarkMovieLoad(b *testing.B) {
	const T, h, w = 60000, 50, 50
	dir := b.TempDir()
	u8 := make([]uint8, T*h*w)
	f32 := make([]float32, len(u8))
	for i := range u8 {
		u8[i] = uint8(i * 7919 >> 3)
		f32[i] = float32((float64(u8[i]) - 127.5) / 127.5)
	}
	files := map[string]string{"f4": filepath.Join(dir, "f4.npy"), "u1": filepath.Join(dir, "u1.npy")}
	if err := npy.WriteFile(files["f4"], []int{T, h, w}, f32); err != nil {
		b.Fatal(err)
	}
	if err := npy.WriteFile(files["u1"], []int{T, h, w}, u8); err != nil {
		b.Fatal(err)
	}
	u8, f32 = nil, nil
	for b.Loop() {
		for _, kind := range []string{"f4", "u1"} {
			start := time.Now()
			f, err := os.Open(files[kind])
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, f)
			f.Close()
			raw := time.Since(start)
			c := cfg("movie", h, w)
			c.Movie = configs.Movie{File: files[kind]}
			start = time.Now()
			s := mustNew(b, c)
			load := time.Since(start)
			if s.Len() != T {
				b.Fatalf("%d frames", s.Len())
			}
			b.ReportMetric(raw.Seconds(), "raw-"+kind+"-s")
			b.ReportMetric(load.Seconds(), "load-"+kind+"-s")
		}
	}
}
